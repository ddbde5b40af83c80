//! `GET /schemas/ids/{id}` as a Confluent registry answers it (what the gate's decoders ask),
//! so the end-to-end tests of the wire formats can serve any writer schema under any id,
//! including ones a real registry would refuse.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::routing::get;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Schemas = Arc<Mutex<HashMap<u32, (String, Option<&'static str>)>>>;

/// A registry stub on a free loopback port; stops when dropped.
#[derive(Debug)]
pub struct SchemaStub {
    /// Base URL.
    pub url: String,
    schemas: Schemas,
    server: tokio::task::JoinHandle<()>,
}

impl SchemaStub {
    /// Starts an empty stub.
    ///
    /// # Errors
    /// No loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let schemas: Schemas = Arc::default();
        let app = axum::Router::new()
            .route(
                "/schemas/ids/{id}",
                get(|State(s): State<Schemas>, Path(id): Path<u32>| async move {
                    let found = s.lock().map(|m| m.get(&id).cloned()).unwrap_or_default();
                    let ct = [(header::CONTENT_TYPE, "application/vnd.schemaregistry.v1+json")];
                    match found {
                        // Confluent leaves the type out for Avro.
                        Some((schema, None)) => (StatusCode::OK, ct, json!({ "schema": schema }).to_string()),
                        Some((schema, Some(ty))) => (StatusCode::OK, ct, json!({ "schema": schema, "schemaType": ty }).to_string()),
                        None => (StatusCode::NOT_FOUND, ct, json!({"error_code": 40403, "message": format!("Schema {id} not found")}).to_string()),
                    }
                }),
            )
            .with_state(Arc::clone(&schemas));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, schemas, server })
    }

    /// Serves an Avro `schema` under `id`.
    pub fn put(&self, id: u32, schema: &str) {
        self.put_typed(id, schema, None);
    }

    /// Serves `schema` under `id` with `schemaType` `ty` (`JSON`, `PROTOBUF`; `None`: Avro).
    pub fn put_typed(&self, id: u32, schema: &str, ty: Option<&'static str>) {
        if let Ok(mut m) = self.schemas.lock() {
            m.insert(id, (schema.to_string(), ty));
        }
    }
}

impl Drop for SchemaStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}
