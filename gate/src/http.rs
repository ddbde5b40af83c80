//! HTTP: `/health`, `/ready`, `/metrics`, and the breaker admin under `/v1/breakers`.

use crate::serve::binding::BindingRuntime;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breaker::Command;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

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

#[derive(Clone)]
struct AppState {
    ready: Arc<Readiness>,
    bindings: Vec<Arc<BindingRuntime>>,
    metrics: PrometheusHandle,
    token: Option<Arc<str>>,
    events: crate::serve::events::TransitionSink,
}

/// The HTTP router. `token` is the bearer token for admin writes; `None` refuses all writes.
pub fn router(ready: Arc<Readiness>, bindings: Vec<Arc<BindingRuntime>>, metrics: PrometheusHandle, token: Option<String>, events: crate::serve::events::TransitionSink) -> Router {
    let state = AppState { ready, bindings, metrics, token: token.map(Arc::from), events };
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .route("/v1/breakers", get(list_breakers))
        .route("/v1/breakers/{binding}", get(one_breaker))
        .route("/v1/breakers/{binding}/{action}", post(command))
        .with_state(state)
}

async fn ready_handler(State(s): State<AppState>) -> Response {
    let (ok, detail) = s.ready.check().await;
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(detail)).into_response()
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], s.metrics.render()).into_response()
}

async fn status_of(b: &BindingRuntime) -> Value {
    let st = b.breaker.status().await;
    let contract = b.contract();
    json!({ "binding": b.cfg.name, "contract": &*contract.id, "version": &*contract.version, "fallback": b.cfg.fallback.as_str(), "store": st.store, "store_fallback_active": st.degraded, "state": st.state })
}

async fn list_breakers(State(s): State<AppState>) -> Json<Value> {
    let mut out = Vec::new();
    for b in &s.bindings {
        out.push(status_of(b).await);
    }
    Json(Value::Array(out))
}

fn find<'a>(s: &'a AppState, name: &str) -> Option<&'a Arc<BindingRuntime>> {
    s.bindings.iter().find(|b| b.cfg.name == name)
}

fn error(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

async fn one_breaker(State(s): State<AppState>, Path(binding): Path<String>) -> Response {
    match find(&s, &binding) {
        Some(b) => Json(status_of(b).await).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such binding"),
    }
}

/// Whether the request carries the admin token. Compared in constant time; never logged.
fn authorized(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &s.token else { return false };
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

async fn command(State(s): State<AppState>, Path((binding, action)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required for admin writes");
    }
    let Some(b) = find(&s, &binding) else { return error(StatusCode::NOT_FOUND, "no such binding") };
    let cmd = match action.as_str() {
        "open" => Command::ForceOpen,
        "close" => Command::ForceClose,
        "metrics-only" => Command::MetricsOnly,
        "reset" => Command::Reset,
        _ => return error(StatusCode::NOT_FOUND, "unknown action; use open, close, metrics-only or reset"),
    };
    let now = chrono::Utc::now().timestamp_millis();
    match b.breaker.command(cmd, Some("http admin"), now).await {
        Ok(out) => {
            if let Some(t) = &out.transition {
                s.events.emit(b, t).await;
            }
            Json(json!({ "binding": binding, "state": out.state, "shared": out.source == breaker::Source::Shared })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
