//! HTTP: `/health`, `/ready`, `/metrics`, the breaker admin under `/v1/breakers`, and the
//! shadow versions' reports at `/v1/shadows`.

pub mod listener;
pub mod tls;

use crate::serve::binding::BindingRuntime;
use crate::serve::ready::Readiness;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breaker::Command;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use std::sync::Arc;
use subtle::ConstantTimeEq;

#[derive(Clone)]
struct AppState {
    ready: Arc<Readiness>,
    bindings: crate::serve::topology::BindingSet,
    metrics: PrometheusHandle,
    token: Option<Arc<str>>,
    events: crate::serve::events::TransitionSink,
}

/// The HTTP router. `token` is the bearer token for admin writes; `None` refuses all writes.
pub fn router(ready: Arc<Readiness>, bindings: crate::serve::topology::BindingSet, metrics: PrometheusHandle, token: Option<String>, events: crate::serve::events::TransitionSink) -> Router {
    let state = AppState { ready, bindings, metrics, token: token.map(Arc::from), events };
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .route("/v1/breakers", get(list_breakers))
        .route("/v1/breakers/{binding}", get(one_breaker))
        .route("/v1/breakers/{binding}/{action}", post(command))
        .route("/v1/shadows", get(list_shadows))
        .with_state(state)
}

/// What [`bounded`] hands `axum::serve`: the app, told which connection each request came on
/// (a health-only slot serves `/health` only).
pub type Served = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, listener::Peer>;

/// Serves `app` on `listener` within `cfg`'s limits (connections, idle and request timeouts,
/// the health-only reserve), over TLS when `cfg.tls` is set. Must run inside a Tokio runtime.
///
/// # Errors
/// Unusable TLS files, naming the field; the listener's address cannot be read.
pub fn bounded(listener: tokio::net::TcpListener, app: Router, cfg: &crate::config::HttpConfig) -> Result<(tls::Listening, Served), crate::config::ConfigError> {
    let limit = cfg.request_timeout;
    let app = app
        .layer(axum::middleware::from_fn(move |req, next| listener::request_timeout(limit, req, next)))
        .layer(axum::middleware::from_fn(listener::health_only))
        .into_make_service_with_connect_info::<listener::Peer>();
    let inner = listener::Bounded::new(listener, cfg.max_connections, cfg.idle_timeout);
    let listening = match &cfg.tls {
        None => tls::Listening::plain(inner),
        Some(t) => tls::Listening::tls(inner, t.acceptor()?, cfg.idle_timeout).map_err(|e| crate::config::ConfigError::Invalid { field: "http.listen".into(), message: e.to_string() })?,
    };
    Ok((listening, app))
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
    let paused: serde_json::Map<String, Value> = b.paused_at().into_iter().map(|(p, o)| (p.to_string(), json!(o))).collect();
    // The latency SLAs' p95 record age at the last flush (empty without a latency SLA).
    let ages = b.record_ages();
    json!({ "binding": b.cfg.name, "contract": &*contract.id, "version": &*contract.version, "fallback": b.cfg.fallback.as_str(), "store": st.store, "store_fallback_active": st.degraded, "state": st.state, "paused_partitions": paused, "record_age": ages })
}

async fn list_breakers(State(s): State<AppState>) -> Json<Value> {
    let mut out = Vec::new();
    for b in &s.bindings.list() {
        out.push(status_of(b).await);
    }
    Json(Value::Array(out))
}

/// What each binding's shadow version would have done so far (this replica), and which
/// bindings have none.
async fn list_shadows(State(s): State<AppState>) -> Json<Value> {
    let mut shadows = Vec::new();
    let mut without = Vec::new();
    for b in &s.bindings.list() {
        let active = b.contract();
        match b.shadow.report(&active.version).await {
            Some(r) => shadows.push(serde_json::to_value(r).unwrap_or(Value::Null)),
            None => without.push(json!({ "binding": b.cfg.name, "contract": b.cfg.contract, "activeVersion": &*active.version })),
        }
    }
    Json(json!({ "shadows": shadows, "withoutShadow": without }))
}

fn find(s: &AppState, name: &str) -> Option<Arc<BindingRuntime>> {
    s.bindings.find(name)
}

fn error(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

async fn one_breaker(State(s): State<AppState>, Path(binding): Path<String>) -> Response {
    match find(&s, &binding) {
        Some(b) => Json(status_of(&b).await).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such binding"),
    }
}

/// Whether a request carries the admin token: `Authorization: Bearer <token>`, or HTTP Basic
/// with the token as the password and any user name (what Confluent serializers send with
/// `basic.auth.user.info`). Compared in constant time; never logged. `None` (no token
/// configured) refuses every request. Shared by every write route (breakers, contracts,
/// Schema Registry).
#[must_use]
pub fn authorized(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else { return false };
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else { return false };
    let given: Vec<u8> = if let Some(b) = value.strip_prefix("Bearer ") {
        b.trim().as_bytes().to_vec()
    } else if let Some(b) = value.strip_prefix("Basic ") {
        let Some(creds) = base64_decode(b.trim()) else { return false };
        match creds.iter().position(|c| *c == b':') {
            Some(i) => creds[i + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    given.ct_eq(token.as_bytes()).into()
}

/// The registry routers' write rule: [`authorized`] with `token`, or every write refused when
/// no token is configured (the answers then say writes are disabled).
#[must_use]
pub fn registry_authorizer(token: Option<String>) -> registry::Authorizer {
    match token {
        Some(t) => registry::Authorizer::new(move |h| authorized(Some(&t), h)),
        None => registry::Authorizer::deny_all(),
    }
}

/// What each binding runs, for the registry's contract list (`bindings` on each contract):
/// read at each request, so a hot reload to a new version shows at once.
#[must_use]
pub fn bindings_view(bindings: crate::serve::topology::BindingSet) -> registry::api::BindingsView {
    Arc::new(move || {
        bindings
            .list()
            .iter()
            .map(|b| {
                let c = b.contract();
                registry::api::BindingUse { binding: b.cfg.name.clone(), contract: c.id.to_string(), version: c.version.to_string(), range: b.cfg.version.clone() }
            })
            .collect()
    })
}

/// Standard base64 with or without padding (clients differ; RFC 7617 pads, some do not), for
/// HTTP Basic credentials; `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));
    LENIENT.decode(s).ok()
}

async fn command(State(s): State<AppState>, Path((binding, action)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if !authorized(s.token.as_deref(), &headers) {
        return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required for admin writes");
    }
    let Some(b) = find(&s, &binding) else { return error(StatusCode::NOT_FOUND, "no such binding") };
    if let Some(release) = crate::serve::pending::PendingAction::parse(&action) {
        let paused = b.request(release);
        if paused.is_empty() {
            return error(StatusCode::CONFLICT, "no partition of this binding is paused; nothing is pending");
        }
        let partitions: serde_json::Map<String, Value> = paused.into_iter().map(|(p, o)| (p.to_string(), json!(o))).collect();
        return (StatusCode::ACCEPTED, Json(json!({ "binding": binding, "action": release.as_str(), "paused_partitions": partitions }))).into_response();
    }
    let cmd = match action.as_str() {
        "open" => Command::ForceOpen,
        "close" => Command::ForceClose,
        "metrics-only" => Command::MetricsOnly,
        "reset" => Command::Reset,
        _ => return error(StatusCode::NOT_FOUND, "unknown action; use open, close, metrics-only, reset, skip-pending or quarantine-pending"),
    };
    let now = chrono::Utc::now().timestamp_millis();
    match b.breaker.command(cmd, Some("http admin"), now).await {
        Ok(out) => {
            if let Some(t) = &out.transition {
                s.events.emit(&b, t).await;
            }
            Json(json!({ "binding": binding, "state": out.state, "shared": out.source == breaker::Source::Shared })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_or_basic_with_the_token_as_password() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("authorization", v.parse().expect("header"));
            m
        };
        // "user:s3cret" and "user:nope" in base64.
        let cases = [("Bearer s3cret", true), ("Bearer nope", false), ("Basic dXNlcjpzM2NyZXQ=", true), ("Basic dXNlcjpub3Bl", false), ("Basic !!", false), ("s3cret", false)];
        for (value, ok) in cases {
            assert_eq!(authorized(Some("s3cret"), &h(value)), ok, "{value}");
        }
        assert!(!authorized(None, &h("Bearer s3cret")), "no token configured: no writes");
        assert!(!authorized(Some("s3cret"), &HeaderMap::new()));
        for (text, want) in [("YWI", Some(&b"ab"[..])), ("YWI=", Some(&b"ab"[..])), ("", Some(&b""[..])), ("YW=I", None), ("Y", None), ("!!", None)] {
            assert_eq!(base64_decode(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn the_registry_authorizer_follows_the_same_rule() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("authorization", v.parse().expect("header"));
            m
        };
        let some = registry_authorizer(Some("s3cret".into()));
        assert!(some.is_enabled() && some.allows(&h("Bearer s3cret")) && some.allows(&h("Basic dXNlcjpzM2NyZXQ=")));
        assert!(!some.allows(&h("Bearer nope")) && !some.allows(&HeaderMap::new()));
        let none = registry_authorizer(None);
        assert!(!none.is_enabled() && !none.allows(&h("Bearer s3cret")), "no token configured: no registry writes");
    }
}
