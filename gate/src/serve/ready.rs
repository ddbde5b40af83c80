//! What `/ready` answers: Kafka reachable, and the state of every binding's breaker store.

use super::binding::BindingRuntime;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// What `/ready` checks.
#[derive(Debug)]
pub struct Readiness {
    kafka: ClientConfig,
    bindings: Vec<Arc<BindingRuntime>>,
}

impl Readiness {
    /// A readiness probe over these clients and bindings.
    #[must_use]
    pub fn new(kafka: ClientConfig, bindings: Vec<Arc<BindingRuntime>>) -> Self {
        Self { kafka, bindings }
    }

    /// Checks that Kafka answers a metadata request and reports every breaker store. A store
    /// on its local fallback is still ready (records keep flowing and failing ones keep
    /// reaching quarantine); the detail says so.
    pub async fn check(&self) -> (bool, Value) {
        let cfg = self.kafka.clone();
        let kafka = tokio::task::spawn_blocking(move || -> Result<usize, String> {
            let c: BaseConsumer = cfg.create().map_err(|e| e.to_string())?;
            let md = c.fetch_metadata(None, Duration::from_secs(3)).map_err(|e| e.to_string())?;
            Ok(md.brokers().len())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let mut bindings = Vec::new();
        for b in &self.bindings {
            let st = b.breaker.status().await;
            let contract = b.contract();
            bindings.push(json!({
                "binding": b.cfg.name, "contract": &*contract.id, "version": &*contract.version,
                "store": st.store, "store_fallback_active": st.degraded, "store_error": st.last_error,
                "breaker": st.state.mode.as_str(),
            }));
        }
        let ok = kafka.is_ok();
        (ok, json!({ "ready": ok, "kafka": match kafka { Ok(n) => json!({"ok": true, "brokers": n}), Err(e) => json!({"ok": false, "error": e}) }, "contracts": "compiled", "bindings": bindings }))
    }
}
