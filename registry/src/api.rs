//! HTTP API of the registry, under `/v1/contracts` (documented in `docs/openapi.yaml`).
//!
//! Reads are open; writes (register, deprecate, activate) need the [`Authorizer`]'s consent
//! (the gate's: its admin token, compared in constant time and never logged). It is asked
//! before the body is read, the body size checked before it is parsed: 401, then 413, then 400.

use crate::auth::Authorizer;
use crate::catalog::{Entry, Refusal};
use crate::record::Status;
use crate::replica::{PushOutcome, Registry, RegistryError};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::decode::{decode_json, DecodeLimits};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Most sample records one validate call checks.
pub const MAX_SAMPLE_RECORDS: usize = 10_000;

/// One binding of the gate that serves the registry, and the contract version it runs: with
/// version ranges (`^1`), the newest active version is not what every binding runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindingUse {
    /// Binding name.
    pub binding: String,
    /// Contract id.
    pub contract: String,
    /// The version it runs now.
    pub version: String,
    /// The version range it is pinned to (`^1`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// What the gate's bindings run, asked on each list (they change on hot reloads).
pub type BindingsView = Arc<dyn Fn() -> Vec<BindingUse> + Send + Sync>;

#[derive(Clone)]
struct ApiState {
    registry: Arc<Registry>,
    auth: Authorizer,
    max_body: usize,
    /// `None` in a process without bindings (registry-only): lists say nothing of bindings.
    bindings: Option<BindingsView>,
}

/// The registry routes, with the Schema Registry subset ([`crate::sr_api`]) merged in.
/// `auth` decides who may write ([`Authorizer::deny_all`] refuses every write); `max_body` is
/// the largest request body accepted.
pub fn router(registry: Arc<Registry>, auth: Authorizer, max_body: usize) -> Router {
    routes(ApiState { registry, auth, max_body, bindings: None })
}

/// [`router`] in a gate with bindings: the contract list also says which binding runs which
/// version (`bindings` on each contract).
pub fn router_with_bindings(registry: Arc<Registry>, auth: Authorizer, max_body: usize, bindings: BindingsView) -> Router {
    routes(ApiState { registry, auth, max_body, bindings: Some(bindings) })
}

fn routes(state: ApiState) -> Router {
    let sr = crate::sr_api::router(Arc::clone(&state.registry), state.auth.clone(), state.max_body);
    Router::new()
        .route("/v1/contracts", get(list).post(register))
        .route("/v1/contracts/{id}/versions", get(versions))
        .route("/v1/contracts/{id}/versions/{version}", get(one_version))
        .route("/v1/contracts/{id}/versions/{version}/deprecate", post(deprecate))
        .route("/v1/contracts/{id}/versions/{version}/activate", post(activate))
        .route("/v1/contracts/{id}/diff", get(diff))
        .route("/v1/contracts/{id}/validate", post(validate))
        .with_state(state)
        .merge(sr)
}

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(json!({ "error": msg.into() }))).into_response()
}

fn unauthorized(s: &ApiState) -> Response {
    let msg = if s.auth.is_enabled() { "a valid bearer token is required for registry writes" } else { "registry writes are disabled: no admin token is configured" };
    error(StatusCode::UNAUTHORIZED, msg)
}

/// Reads the body within the size limit: 413 when larger (by Content-Length or by reading).
async fn read_body(s: &ApiState, headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Response> {
    let too_large = || error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than {} bytes", s.max_body));
    if headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > s.max_body) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, s.max_body).await.map_err(|e| {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(x) = src {
            if x.to_string().contains("length limit") {
                return too_large();
            }
            src = x.source();
        }
        error(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}"))
    })
}

fn registry_error(e: RegistryError) -> Response {
    match e {
        RegistryError::Refused(r) => refusal(&r),
        RegistryError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        RegistryError::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

fn refusal(r: &Refusal) -> Response {
    let (code, body) = match r {
        Refusal::Invalid { problems } => (StatusCode::BAD_REQUEST, json!({ "error": "invalid contract", "reason": "invalid", "problems": problems })),
        Refusal::VersionExists { id, version } => (StatusCode::CONFLICT, json!({ "error": r.to_string(), "reason": "versionExists", "id": id, "version": version })),
        Refusal::Breaking { id, version, against, changes } => (
            StatusCode::CONFLICT,
            json!({ "error": format!("breaking changes against {against} need a major version bump"), "reason": "breaking", "id": id, "version": version, "against": against, "changes": changes }),
        ),
    };
    (code, Json(body)).into_response()
}

fn summary(e: &Entry) -> Value {
    json!({
        "version": e.version.to_string(), "status": e.status.as_str(), "registeredAt": e.registered_at,
        "statusReason": e.status_reason, "statusChangedAt": e.status_at, "digest": e.digest, "shadow": e.shadow,
    })
}

async fn list(State(s): State<ApiState>) -> Json<Value> {
    let uses = s.bindings.as_ref().map(|view| view());
    let cat = s.registry.catalog();
    let out: Vec<Value> = cat
        .contracts()
        .map(|(id, vs)| {
            let latest = cat.get(id, "latest");
            let active = vs.values().rev().find(|e| e.is_live() && e.status == Status::Active);
            let shadows: Vec<String> = vs.values().filter(|e| e.is_evaluated_shadow()).map(|e| e.version.to_string()).collect();
            let mut c = json!({
                "id": id, "name": latest.and_then(|e| e.contract.name.clone()),
                "latest": latest.map(|e| e.version.to_string()), "latestActive": active.map(|e| e.version.to_string()),
                "versions": vs.len(), "shadows": shadows,
            });
            if let Some(uses) = &uses {
                c["bindings"] = json!(uses.iter().filter(|u| u.contract == *id).collect::<Vec<_>>());
            }
            c
        })
        .collect();
    Json(json!({ "contracts": out }))
}

async fn register(State(s): State<ApiState>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Body) -> Response {
    if !s.auth.allows(&headers) {
        return unauthorized(&s);
    }
    let bytes = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return refusal(&Refusal::Invalid { problems: vec![contracts::Problem::error("", "the body is not UTF-8 text")] });
    };
    if text.trim().is_empty() {
        return refusal(&Refusal::Invalid { problems: vec![contracts::Problem::error("", "the body is empty; send an ODCS contract as YAML or JSON")] });
    }
    let flag = |name: &str| q.get(name).is_some_and(|v| v == "true" || v == "1");
    let (dry_run, shadow) = (flag("dryRun"), flag("shadow"));
    let result = s.registry.push_as(text, dry_run, shadow).await;
    let outcome = match &result {
        Ok(o) if o.promoted => "promoted",
        Ok(o) if o.created && o.shadow => "shadow_created",
        Ok(o) if o.created => "created",
        Ok(_) if dry_run => "dry_run",
        Ok(_) => "unchanged",
        Err(RegistryError::Refused(Refusal::Invalid { .. })) => "invalid",
        Err(RegistryError::Refused(Refusal::Breaking { .. })) => "breaking",
        Err(RegistryError::Refused(Refusal::VersionExists { .. })) => "version_exists",
        Err(_) => "unavailable",
    };
    crate::events::ContractPushed { outcome }.emit();
    match result {
        Ok(o) => pushed(&o, dry_run),
        Err(e) => registry_error(e),
    }
}

fn pushed(o: &PushOutcome, dry_run: bool) -> Response {
    let code = if o.created { StatusCode::CREATED } else { StatusCode::OK };
    let (against, changes) = o.previous.as_ref().map_or((None, Vec::new()), |(v, c)| (Some(v.clone()), c.clone()));
    let body = json!({
        "id": o.id, "version": o.version, "created": o.created, "dryRun": dry_run,
        "shadow": o.shadow, "promoted": o.promoted, "comparedWith": against, "changes": changes, "notices": o.notices,
    });
    (code, Json(body)).into_response()
}

async fn versions(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    let cat = s.registry.catalog();
    match cat.versions(&id) {
        Some(vs) => Json(json!({ "id": id, "versions": vs.values().map(summary).collect::<Vec<_>>() })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no contract {id:?}")),
    }
}

async fn one_version(State(s): State<ApiState>, Path((id, version)): Path<(String, String)>) -> Response {
    let cat = s.registry.catalog();
    match cat.get(&id, &version) {
        Some(e) => {
            let mut v = summary(e);
            v["id"] = json!(e.id);
            v["document"] = json!(&*e.document);
            v["contract"] = serde_json::to_value(&*e.contract).unwrap_or(Value::Null);
            Json(v).into_response()
        }
        None => error(StatusCode::NOT_FOUND, format!("no version {version} of contract {id:?}")),
    }
}

async fn deprecate(state: State<ApiState>, path: Path<(String, String)>, headers: HeaderMap, body: Body) -> Response {
    set_status(state, path, headers, body, Status::Deprecated).await
}

async fn activate(state: State<ApiState>, path: Path<(String, String)>, headers: HeaderMap, body: Body) -> Response {
    set_status(state, path, headers, body, Status::Active).await
}

async fn set_status(State(s): State<ApiState>, Path((id, version)): Path<(String, String)>, headers: HeaderMap, body: Body, status: Status) -> Response {
    if !s.auth.allows(&headers) {
        return unauthorized(&s);
    }
    let bytes = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let reason = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => v.get("reason").and_then(Value::as_str).map(str::to_string),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("expected JSON like {{\"reason\": \"…\"}}: {e}")),
        }
    };
    match s.registry.set_status(&id, &version, status, reason).await {
        Ok(e) => {
            let mut v = summary(&e);
            v["id"] = json!(e.id);
            Json(v).into_response()
        }
        Err(e) => registry_error(e),
    }
}

async fn diff(State(s): State<ApiState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let cat = s.registry.catalog();
    let Some(vs) = cat.versions(&id) else { return error(StatusCode::NOT_FOUND, format!("no contract {id:?}")) };
    let to = q.get("to").map_or("latest", String::as_str);
    let Some(new) = cat.get(&id, to) else { return error(StatusCode::NOT_FOUND, format!("no version {to} of contract {id:?}")) };
    let old = match q.get("from") {
        Some(f) => cat.get(&id, f),
        None => crate::catalog::live_before(vs, &new.version),
    };
    let Some(old) = old else {
        return error(StatusCode::NOT_FOUND, q.get("from").map_or_else(|| format!("{id} {} is the first version; give ?from=", new.version), |f| format!("no version {f} of contract {id:?}")));
    };
    // The same verdict the push check gives (and the offline `contracts diff`).
    Json(contracts::diff::compare(&old.contract, &new.contract)).into_response()
}

/// Sample records: a JSON array, `{"records": [...]}`, one JSON object, or JSON Lines.
fn sample(bytes: &[u8]) -> Result<Vec<Result<Value, String>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the body is not UTF-8 text".to_string())?;
    let limits = DecodeLimits::default();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let items = match v {
            Value::Array(a) => a,
            Value::Object(mut m) if m.contains_key("records") => match m.remove("records") {
                Some(Value::Array(a)) => a,
                _ => return Err("\"records\" must be an array".into()),
            },
            other @ Value::Object(_) => vec![other],
            _ => return Err("expected an array of records, {\"records\": [...]}, or JSON Lines".into()),
        };
        return Ok(items.into_iter().map(Ok).collect());
    }
    if text.trim_start().starts_with('[') {
        return Err(format!("not valid JSON: {}", serde_json::from_str::<Value>(text).err().map(|e| e.to_string()).unwrap_or_default()));
    }
    Ok(text.lines().filter(|l| !l.trim().is_empty()).map(|l| decode_json(l.as_bytes(), limits).map_err(|e| e.to_string())).collect())
}

async fn validate(State(s): State<ApiState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&s, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let records = match sample(&bytes) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    if records.len() > MAX_SAMPLE_RECORDS {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("{} records; at most {MAX_SAMPLE_RECORDS} per call", records.len()));
    }
    let version = q.get("version").map_or("latest", String::as_str);
    let entry = s.registry.catalog().get(&id, version).cloned();
    let Some(entry) = entry else { return error(StatusCode::NOT_FOUND, format!("no version {version} of contract {id:?}")) };
    let compiled = match contracts::compile(&entry.contract, q.get("object").map(String::as_str)) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut obs = compiled.observer();
    let mut verdicts = Vec::with_capacity(records.len());
    let mut valid = 0usize;
    for (i, r) in records.iter().enumerate() {
        match r {
            Ok(v) => {
                let verdict = compiled.check(v, &mut obs);
                let ok = verdict.is_valid();
                valid += usize::from(ok);
                verdicts.push(json!({ "index": i, "valid": ok, "violations": verdict.violations }));
            }
            Err(e) => {
                compiled.decode_error(&mut obs);
                verdicts.push(json!({ "index": i, "valid": false, "error": e }));
            }
        }
    }
    let rules = contracts::window::evaluate(&compiled.rules, &obs.window, chrono::Utc::now().timestamp_millis());
    Json(json!({
        "id": id, "version": entry.version.to_string(), "object": &*compiled.object,
        "records": records.len(), "valid": valid, "invalid": records.len() - valid,
        "verdicts": verdicts, "rules": rules,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt as _;

    const V1: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: integer\n        required: true\n";

    async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app.clone().oneshot(req.body(Body::from(body.to_string())).expect("request")).await.expect("response");
        let code = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn status_codes() {
        let app = router(Arc::new(Registry::memory()), crate::auth::bearer("s3cret"), 4096);
        assert_eq!(call(&app, "POST", "/v1/contracts", None, V1).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("wrong"), V1).await.0, StatusCode::UNAUTHORIZED);
        let (code, v) = call(&app, "POST", "/v1/contracts", Some("s3cret"), "apiVersion: [").await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["problems"][0]["message"].as_str().is_some_and(|m| m.contains("not valid YAML")), "{v}");
        let (code, _) = call(&app, "POST", "/v1/contracts", Some("s3cret"), &"x".repeat(5000)).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("s3cret"), V1).await.0, StatusCode::CREATED);
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("s3cret"), V1).await.0, StatusCode::OK);
        let narrowed = V1.replace("version: 1.0.0", "version: 1.1.0").replace("integer", "string");
        let (code, v) = call(&app, "POST", "/v1/contracts", Some("s3cret"), &narrowed).await;
        assert_eq!(code, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["changes"][0]["path"], "t.a.logicalType");
        let (code, v) = call(&app, "POST", "/v1/contracts/t/validate", None, "{\"a\": 1}\n{\"a\": \"x\"}\nnot json\n").await;
        assert_eq!(code, StatusCode::OK, "{v}");
        assert_eq!((v["valid"].as_u64(), v["invalid"].as_u64()), (Some(1), Some(2)), "{v}");
        let (code, v) = call(&app, "POST", "/v1/contracts/t/validate?version=1.0.0", None, "{\n  \"records\": [\n    {\"a\": 1},\n    {\"a\": 2}\n  ]\n}\n").await;
        assert_eq!((code, v["valid"].as_u64()), (StatusCode::OK, Some(2)), "pretty-printed JSON: {v}");
        let (code, v) = call(&app, "POST", "/v1/contracts/t/versions/1.0.0/deprecate", Some("s3cret"), "{\"reason\": \"test\"}").await;
        assert_eq!((code, v["status"].as_str()), (StatusCode::OK, Some("deprecated")), "{v}");
        assert_eq!(call(&app, "GET", "/v1/contracts/nope/versions", None, "").await.0, StatusCode::NOT_FOUND);
        let (code, v) = call(&app, "GET", "/v1/contracts/t/versions/latest", None, "").await;
        assert_eq!((code, v["document"].as_str()), (StatusCode::OK, Some(V1)));
    }

    #[tokio::test]
    async fn the_list_says_which_binding_runs_which_version() {
        let uses = vec![
            BindingUse { binding: "flights".into(), contract: "t".into(), version: "1.0.0".into(), range: Some("^1".into()) },
            BindingUse { binding: "other".into(), contract: "elsewhere".into(), version: "3.0.0".into(), range: None },
        ];
        let view: BindingsView = Arc::new(move || uses.clone());
        let registry = Arc::new(Registry::memory());
        let app = router_with_bindings(Arc::clone(&registry), crate::auth::bearer("s3cret"), 4096, view);
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("s3cret"), V1).await.0, StatusCode::CREATED);
        let v2 = V1.replace("version: 1.0.0", "version: 2.0.0").replace("integer", "string");
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("s3cret"), &v2).await.0, StatusCode::CREATED);
        let (_, v) = call(&app, "GET", "/v1/contracts", None, "").await;
        assert_eq!(v["contracts"][0]["latestActive"], "2.0.0");
        assert_eq!(v["contracts"][0]["bindings"], json!([{"binding": "flights", "contract": "t", "version": "1.0.0", "range": "^1"}]), "{v}");
        // A registry-only process has no bindings to speak of.
        let (_, v) = call(&router(registry, Authorizer::deny_all(), 4096), "GET", "/v1/contracts", None, "").await;
        assert!(v["contracts"][0].get("bindings").is_none(), "{v}");
    }

    #[tokio::test]
    async fn a_shadow_version_is_pushed_listed_and_promoted_over_http() {
        let app = router(Arc::new(Registry::memory()), crate::auth::bearer("s3cret"), 4096);
        assert_eq!(call(&app, "POST", "/v1/contracts", Some("s3cret"), V1).await.0, StatusCode::CREATED);
        let v11 = V1.replace("version: 1.0.0", "version: 1.1.0").replace("required: true\n", "required: true\n      - name: b\n        logicalType: string\n");
        let (code, v) = call(&app, "POST", "/v1/contracts?shadow=true", Some("s3cret"), &v11).await;
        assert_eq!((code, v["shadow"].as_bool(), v["comparedWith"].as_str()), (StatusCode::CREATED, Some(true), Some("1.0.0")), "{v}");
        let (_, v) = call(&app, "GET", "/v1/contracts", None, "").await;
        assert_eq!((v["contracts"][0]["latest"].as_str(), v["contracts"][0]["shadows"].clone()), (Some("1.0.0"), json!(["1.1.0"])), "{v}");
        let (_, v) = call(&app, "GET", "/v1/contracts/t/versions", None, "").await;
        assert_eq!(v["versions"][1]["status"], "shadow", "{v}");
        // Activating a shadow promotes it: live, active, the new latest.
        let (code, v) = call(&app, "POST", "/v1/contracts/t/versions/1.1.0/activate", Some("s3cret"), "").await;
        assert_eq!((code, v["status"].as_str(), v["shadow"].as_bool()), (StatusCode::OK, Some("active"), Some(false)), "{v}");
        let (_, v) = call(&app, "GET", "/v1/contracts", None, "").await;
        assert_eq!((v["contracts"][0]["latest"].as_str(), v["contracts"][0]["shadows"].clone()), (Some("1.1.0"), json!([])), "{v}");
    }

    #[tokio::test]
    async fn no_credential_configured_refuses_every_write() {
        let app = router(Arc::new(Registry::memory()), Authorizer::deny_all(), 4096);
        for token in [None, Some("s3cret"), Some("")] {
            let (code, v) = call(&app, "POST", "/v1/contracts", token, V1).await;
            assert_eq!((code, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("registry writes are disabled: no admin token is configured")), "{token:?}");
            assert_eq!(call(&app, "POST", "/v1/contracts/t/versions/1.0.0/deprecate", token, "").await.0, StatusCode::UNAUTHORIZED);
            let (code, v) = call(&app, "POST", "/subjects/s/versions", token, r#"{"schema": "\"string\""}"#).await;
            assert_eq!((code, v["error_code"].as_u64()), (StatusCode::UNAUTHORIZED, Some(40101)), "{v}");
            assert_eq!(call(&app, "PUT", "/config", token, r#"{"compatibility": "NONE"}"#).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(call(&app, "GET", "/v1/contracts", None, "").await.0, StatusCode::OK, "reads stay open");
    }
}
