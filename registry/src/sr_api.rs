//! The Confluent Schema Registry REST subset that serializers and `SchemaRegistryClient`s use,
//! served from the contract registry (documented in `docs/openapi.yaml`): Confluent's paths,
//! JSON shapes, content type `application/vnd.schemaregistry.v1+json` and error bodies
//! `{"error_code": …, "message": …}`. Avro only.
//!
//! Reads (including lookup and the compatibility test, which store nothing) are open; writes
//! (register, set or delete a level) need the admin token, as a bearer token or as the
//! password of HTTP Basic (the gate's rule, asked through the [`Authorizer`]). Clients send query parameters such as
//! `normalize`, `deleted`, `verbose`, `offset` and `limit`: `verbose`, `offset`, `limit` and
//! the subject prefix act as in Confluent's registry; nothing is ever soft-deleted, so
//! `deleted` changes nothing; `normalize` changes nothing either, because schemas are always
//! compared by their key-sorted, whitespace-free JSON ([`super::avro_rules::canonical`]).

use super::avro_rules::{InvalidSchema, Level};
use super::schemas::{self, Candidate, SchemaError, SchemaRefusal};
use super::{Authorizer, Registry, RegistryError};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{info, warn};

/// The media type of every answer.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Clone)]
struct SrState {
    registry: Arc<Registry>,
    auth: Authorizer,
    max_body: usize,
}

type Q = Query<HashMap<String, String>>;

/// The Schema Registry routes, and the contract's view of its subjects
/// (`/v1/contracts/{id}/schemas`).
pub fn router(registry: Arc<Registry>, auth: Authorizer, max_body: usize) -> Router {
    let state = SrState { registry, auth, max_body };
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(get_version_schema))
        .route("/schemas/ids/{id}", get(get_schema))
        .route("/schemas/ids/{id}/versions", get(schema_versions))
        .route("/schemas/types", get(|| async { reply("schema_types", StatusCode::OK, &json!(["AVRO"])) }))
        .route("/compatibility/subjects/{subject}/versions", post(compat_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(compat_one))
        .route("/config", get(get_global).put(put_global))
        .route("/config/{subject}", get(get_subject_config).put(put_subject_config).delete(delete_subject_config))
        .route("/v1/contracts/{id}/schemas", get(contract_schemas))
        .with_state(state)
}

/// Counts a request by operation and outcome (closed sets) and answers `body`.
fn reply(op: &'static str, code: StatusCode, body: &Value) -> Response {
    let outcome = match code.as_u16() {
        200..=299 => "ok",
        401 => "unauthorized",
        404 => "not_found",
        409 => "conflict",
        400..=499 => "client_error",
        _ => "unavailable",
    };
    metrics::counter!("contract_gate_registry_schema_requests_total", "operation" => op, "outcome" => outcome).increment(1);
    (code, [("content-type", CONTENT_TYPE)], body.to_string()).into_response()
}

fn err(op: &'static str, code: StatusCode, error_code: u32, message: impl Into<String>) -> Response {
    Fail(code, error_code, message.into()).reply(op)
}

/// A Confluent error: HTTP status, `error_code`, message.
#[derive(Debug)]
struct Fail(StatusCode, u32, String);

impl Fail {
    fn reply(self, op: &'static str) -> Response {
        reply(op, self.0, &json!({ "error_code": self.1, "message": self.2 }))
    }
}

fn no_subject(subject: &str) -> Fail {
    Fail(StatusCode::NOT_FOUND, 40401, format!("Subject '{subject}' not found."))
}

fn invalid(e: &InvalidSchema) -> Fail {
    Fail(StatusCode::UNPROCESSABLE_ENTITY, 42201, format!("Invalid schema: {e}"))
}

fn unavailable(e: &RegistryError) -> Fail {
    Fail(StatusCode::SERVICE_UNAVAILABLE, 50003, e.to_string())
}

fn unauthorized(s: &SrState) -> Fail {
    let msg = if s.auth.is_enabled() { "a valid token is required for registry writes (Authorization: Bearer <token>, or Basic with the token as password)" } else { "registry writes are disabled: no admin token is configured" };
    Fail(StatusCode::UNAUTHORIZED, 40101, msg.into())
}

fn too_large(s: &SrState) -> Fail {
    Fail(StatusCode::PAYLOAD_TOO_LARGE, 41301, format!("request body larger than {} bytes", s.max_body))
}

fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `latest`, `-1`, or a version from 1 to 2^31-1 (Confluent's rule); `Ok(None)` = latest.
fn parse_version(v: &str) -> Result<Option<u32>, Fail> {
    if v == "latest" || v == "-1" {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(n) if (1..=i32::MAX.unsigned_abs()).contains(&n) => Ok(Some(n)),
        _ => Err(Fail(StatusCode::UNPROCESSABLE_ENTITY, 42202, format!("The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""))),
    }
}

fn check_subject(s: &str) -> Result<(), Fail> {
    if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
        return Err(Fail(StatusCode::UNPROCESSABLE_ENTITY, 42208, "a subject name must be 1–255 characters without control characters".into()));
    }
    Ok(())
}

/// Reads the body within the size limit.
async fn read_body(s: &SrState, headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Fail> {
    if headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > s.max_body) {
        return Err(too_large(s));
    }
    axum::body::to_bytes(body, s.max_body).await.map_err(|_| too_large(s))
}

/// Reads and parses a schema request (`{"schema": "...", "schemaType"?: "AVRO",
/// "references"?: []}`).
async fn candidate(s: &SrState, headers: &HeaderMap, body: Body) -> Result<Candidate, Fail> {
    let bytes = read_body(s, headers, body).await?;
    let req: Value = serde_json::from_slice(&bytes).map_err(|e| Fail(StatusCode::UNPROCESSABLE_ENTITY, 42201, format!("Invalid schema: the request is not JSON: {e}")))?;
    let unsupported = |m: String| invalid(&InvalidSchema::Unsupported(m));
    match req.get("schemaType").and_then(Value::as_str) {
        None | Some("AVRO") => {}
        Some(t) => return Err(unsupported(format!("schemaType {t} is not supported: this registry serves Avro schemas only"))),
    }
    if req.get("references").and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
        return Err(unsupported("schema references are not supported: inline the referenced types".into()));
    }
    let Some(text) = req.get("schema").and_then(Value::as_str) else {
        return Err(unsupported("the request needs a \"schema\" string holding the Avro schema".into()));
    };
    Candidate::new(text).map_err(|e| invalid(&e))
}

async fn list_subjects(State(s): State<SrState>, Query(q): Q) -> Response {
    let prefix = q.get("subject").or_else(|| q.get("subjectPrefix")).map_or("", String::as_str);
    let offset = q.get("offset").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let limit = q.get("limit").and_then(|v| v.parse::<i64>().ok()).and_then(|l| usize::try_from(l).ok()).unwrap_or(usize::MAX);
    let cat = s.registry.catalog();
    let names: Vec<&String> = cat.schemas().subjects().map(|(k, _)| k).filter(|k| k.starts_with(prefix)).skip(offset).take(limit).collect();
    reply("list_subjects", StatusCode::OK, &json!(names))
}

async fn list_versions(State(s): State<SrState>, Path(subject): Path<String>) -> Response {
    let cat = s.registry.catalog();
    match cat.schemas().versions(&subject) {
        Some(vs) => reply("list_versions", StatusCode::OK, &json!(vs.iter().map(|v| v.version).collect::<Vec<_>>())),
        None => no_subject(&subject).reply("list_versions"),
    }
}

/// Subject, version and schema text, or the Confluent error.
fn find_version(s: &SrState, subject: &str, version: &str) -> Result<(u32, u32, Arc<str>), Fail> {
    let v = parse_version(version)?;
    let cat = s.registry.catalog();
    let store = cat.schemas();
    if store.versions(subject).is_none() {
        return Err(no_subject(subject));
    }
    let Some(found) = store.version(subject, v) else { return Err(Fail(StatusCode::NOT_FOUND, 40402, format!("Version {version} not found."))) };
    let text = store.schema(found.id).map(|x| Arc::clone(&x.text)).ok_or_else(|| Fail(StatusCode::NOT_FOUND, 40403, format!("Schema {} not found", found.id)))?;
    Ok((found.version, found.id, text))
}

async fn get_version(State(s): State<SrState>, Path((subject, version)): Path<(String, String)>) -> Response {
    match find_version(&s, &subject, &version) {
        Ok((v, id, text)) => reply("get_version", StatusCode::OK, &json!({ "subject": subject, "version": v, "id": id, "schema": &*text })),
        Err(f) => f.reply("get_version"),
    }
}

async fn get_version_schema(State(s): State<SrState>, Path((subject, version)): Path<(String, String)>) -> Response {
    match find_version(&s, &subject, &version) {
        Ok((_, _, text)) => {
            metrics::counter!("contract_gate_registry_schema_requests_total", "operation" => "get_version_schema", "outcome" => "ok").increment(1);
            (StatusCode::OK, [("content-type", CONTENT_TYPE)], text.to_string()).into_response()
        }
        Err(f) => f.reply("get_version_schema"),
    }
}

fn parse_id(id: &str) -> Result<u32, Fail> {
    id.parse::<u32>().map_err(|_| Fail(StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found")))
}

async fn get_schema(State(s): State<SrState>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(f) => return f.reply("get_schema"),
    };
    let cat = s.registry.catalog();
    match cat.schemas().schema(id) {
        Some(x) => reply("get_schema", StatusCode::OK, &json!({ "schema": &*x.text })),
        None => err("get_schema", StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found")),
    }
}

async fn schema_versions(State(s): State<SrState>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(f) => return f.reply("schema_versions"),
    };
    let cat = s.registry.catalog();
    let uses = cat.schemas().uses(id);
    if uses.is_empty() {
        return err("schema_versions", StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found"));
    }
    reply("schema_versions", StatusCode::OK, &json!(uses.iter().map(|(s, v)| json!({ "subject": s, "version": v })).collect::<Vec<_>>()))
}

async fn register(State(s): State<SrState>, Path(subject): Path<String>, headers: HeaderMap, body: Body) -> Response {
    const OP: &str = "register";
    if !s.auth.allows(&headers) {
        return unauthorized(&s).reply(OP);
    }
    if let Err(f) = check_subject(&subject) {
        return f.reply(OP);
    }
    let c = match candidate(&s, &headers, body).await {
        Ok(c) => c,
        Err(f) => {
            metrics::counter!("contract_gate_registry_schema_registrations_total", "outcome" => "invalid").increment(1);
            return f.reply(OP);
        }
    };
    let result = s.registry.register_schema(&subject, &c).await;
    let outcome = match &result {
        Ok(r) if r.created => "created",
        Ok(_) => "existing",
        Err(SchemaError::Refused(SchemaRefusal::Incompatible { .. })) => "incompatible",
        Err(SchemaError::Refused(SchemaRefusal::Contract { .. })) => "contract_refused",
        Err(SchemaError::Refused(SchemaRefusal::Invalid(_))) => "invalid",
        Err(SchemaError::Registry(_)) => "unavailable",
    };
    metrics::counter!("contract_gate_registry_schema_registrations_total", "outcome" => outcome).increment(1);
    match result {
        Ok(r) => reply(OP, StatusCode::OK, &json!({ "id": r.id })),
        Err(SchemaError::Refused(r @ (SchemaRefusal::Incompatible { .. } | SchemaRefusal::Contract { .. }))) => {
            info!(subject = %subject, outcome, reason = %r, "registry: schema refused");
            err(OP, StatusCode::CONFLICT, 409, r.to_string())
        }
        Err(SchemaError::Refused(SchemaRefusal::Invalid(e))) => invalid(&e).reply(OP),
        Err(SchemaError::Registry(e)) => {
            warn!(subject = %subject, error = %e, "registry: schema registration failed");
            unavailable(&e).reply(OP)
        }
    }
}

async fn lookup(State(s): State<SrState>, Path(subject): Path<String>, headers: HeaderMap, body: Body) -> Response {
    const OP: &str = "lookup";
    let c = match candidate(&s, &headers, body).await {
        Ok(c) => c,
        Err(f) => return f.reply(OP),
    };
    let cat = s.registry.catalog();
    let store = cat.schemas();
    let Some(vs) = store.versions(&subject) else { return no_subject(&subject).reply(OP) };
    let found = store.id_of(&c.canonical).and_then(|id| vs.iter().find(|v| v.id == id));
    match found.and_then(|v| Some((v, store.schema(v.id)?))) {
        Some((v, x)) => reply(OP, StatusCode::OK, &json!({ "subject": subject, "version": v.version, "id": v.id, "schema": &*x.text })),
        None => err(OP, StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

/// The compatibility test: against one version (`Some`) or all that the level covers.
async fn compat(s: &SrState, subject: &str, version: Option<&str>, q: &HashMap<String, String>, headers: &HeaderMap, body: Body) -> Response {
    const OP: &str = "compatibility";
    let v = match version.map(parse_version).transpose() {
        Ok(v) => v,
        Err(f) => return f.reply(OP),
    };
    let c = match candidate(s, headers, body).await {
        Ok(c) => c,
        Err(f) => return f.reply(OP),
    };
    let cat = s.registry.catalog();
    let store = cat.schemas();
    // As Confluent's registry does since 7.x, a subject without versions makes any schema
    // compatible with "latest" and with all versions (there is nothing to be incompatible
    // with); a numbered version of it is still 40401.
    let exists = store.versions(subject).is_some();
    if !exists && matches!(v, Some(Some(_))) {
        return no_subject(subject).reply(OP);
    }
    // `latest` and numbers name one version; the all-versions form follows the level.
    let one = match version {
        Some(_) if exists => match store.version(subject, v.flatten()) {
            Some(x) => Some(x.version),
            None => return err(OP, StatusCode::NOT_FOUND, 40402, format!("Version {} not found.", version.unwrap_or_default())),
        },
        _ => None,
    };
    let level = store.level(subject);
    let mut messages = schemas::check_compatibility(store, subject, &c, level, one);
    // Registering would also need to carry the bound contracts' records: say so here too.
    for contract in schemas::bound_contracts(&cat, subject) {
        if let Some(e) = cat.resolve(&contract, None) {
            messages.extend(super::avro_rules::contract_gaps(&e.contract, &c.parsed).into_iter().map(|g| format!("contract {contract} {}: {g}", e.version)));
        }
    }
    let mut out = json!({ "is_compatible": messages.is_empty() });
    if flag(q, "verbose") {
        out["messages"] = json!(messages);
    }
    reply(OP, StatusCode::OK, &out)
}

async fn compat_one(State(s): State<SrState>, Path((subject, version)): Path<(String, String)>, Query(q): Q, headers: HeaderMap, body: Body) -> Response {
    compat(&s, &subject, Some(&version), &q, &headers, body).await
}

async fn compat_all(State(s): State<SrState>, Path(subject): Path<String>, Query(q): Q, headers: HeaderMap, body: Body) -> Response {
    compat(&s, &subject, None, &q, &headers, body).await
}

async fn get_global(State(s): State<SrState>) -> Response {
    let level = s.registry.catalog().schemas().global_level();
    reply("get_config", StatusCode::OK, &json!({ "compatibilityLevel": level.as_str() }))
}

async fn get_subject_config(State(s): State<SrState>, Path(subject): Path<String>, Query(q): Q) -> Response {
    let cat = s.registry.catalog();
    let store = cat.schemas();
    match store.subject_level(&subject) {
        Some(l) => reply("get_config", StatusCode::OK, &json!({ "compatibilityLevel": l.as_str() })),
        None if flag(&q, "defaultToGlobal") => reply("get_config", StatusCode::OK, &json!({ "compatibilityLevel": store.global_level().as_str() })),
        None => err("get_config", StatusCode::NOT_FOUND, 40408, format!("Subject '{subject}' does not have subject-level compatibility configured")),
    }
}

/// Reads `{"compatibility": L}` (or `compatibilityLevel`) after the token and size checks.
async fn level_body(s: &SrState, headers: &HeaderMap, body: Body) -> Result<Level, Fail> {
    if !s.auth.allows(headers) {
        return Err(unauthorized(s));
    }
    let bytes = read_body(s, headers, body).await?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let given = v.get("compatibility").or_else(|| v.get("compatibilityLevel")).and_then(Value::as_str).unwrap_or_default();
    Level::parse(given).ok_or_else(|| {
        let all: Vec<&str> = Level::ALL.iter().map(Level::as_str).collect();
        Fail(StatusCode::UNPROCESSABLE_ENTITY, 42203, format!("Invalid compatibility level {given:?}: send {{\"compatibility\": L}} with L one of {}", all.join(", ")))
    })
}

async fn put_global(State(s): State<SrState>, headers: HeaderMap, body: Body) -> Response {
    put_config(&s, None, &headers, body).await
}

async fn put_subject_config(State(s): State<SrState>, Path(subject): Path<String>, headers: HeaderMap, body: Body) -> Response {
    put_config(&s, Some(&subject), &headers, body).await
}

async fn put_config(s: &SrState, subject: Option<&str>, headers: &HeaderMap, body: Body) -> Response {
    const OP: &str = "set_config";
    if let Some(Err(f)) = subject.map(check_subject) {
        return f.reply(OP);
    }
    let level = match level_body(s, headers, body).await {
        Ok(l) => l,
        Err(f) => return f.reply(OP),
    };
    match s.registry.set_compatibility(subject, Some(level)).await {
        Ok(()) => reply(OP, StatusCode::OK, &json!({ "compatibility": level.as_str() })),
        Err(e) => unavailable(&e).reply(OP),
    }
}

async fn delete_subject_config(State(s): State<SrState>, Path(subject): Path<String>, headers: HeaderMap) -> Response {
    const OP: &str = "delete_config";
    if !s.auth.allows(&headers) {
        return unauthorized(&s).reply(OP);
    }
    let Some(old) = s.registry.catalog().schemas().subject_level(&subject) else {
        return err(OP, StatusCode::NOT_FOUND, 40408, format!("Subject '{subject}' does not have subject-level compatibility configured"));
    };
    match s.registry.set_compatibility(Some(&subject), None).await {
        Ok(()) => reply(OP, StatusCode::OK, &json!({ "compatibilityLevel": old.as_str() })),
        Err(e) => unavailable(&e).reply(OP),
    }
}

/// A contract's subjects (bound as [`schemas::bound_contracts`] says) with their versions.
async fn contract_schemas(State(s): State<SrState>, Path(id): Path<String>) -> Response {
    let cat = s.registry.catalog();
    let Some((names, binding)) = schemas::contract_subjects(&cat, &id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "error": format!("no contract {id:?}") }))).into_response();
    };
    let store = cat.schemas();
    let subjects: Vec<Value> = names
        .iter()
        .map(|n| {
            let versions: Vec<Value> = store.versions(n).unwrap_or_default().iter().map(|v| json!({ "version": v.version, "id": v.id, "registeredAt": v.registered_at })).collect();
            json!({ "subject": n, "compatibility": store.level(n).as_str(), "versions": versions })
        })
        .collect();
    axum::Json(json!({ "id": id, "binding": binding.as_str(), "subjects": subjects })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt as _;

    const T: &str = "s3cret";

    fn body(fields: &str) -> String {
        let schema = format!(r#"{{"type":"record","name":"flights","fields":[{fields}]}}"#);
        json!({ "schema": schema }).to_string()
    }

    async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri).header("content-type", CONTENT_TYPE);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app.clone().oneshot(req.body(Body::from(body.to_string())).expect("request")).await.expect("response");
        let code = resp.status();
        assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some(CONTENT_TYPE), "{method} {uri}");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    const A: &str = r#"{"name":"carrier","type":"string"}"#;
    const AB: &str = r#"{"name":"carrier","type":"string"},{"name":"dep_delay","type":["null","int"],"default":null}"#;
    /// A new field without a default: not BACKWARD compatible.
    const AC: &str = r#"{"name":"carrier","type":"string"},{"name":"origin","type":"string"}"#;

    #[tokio::test]
    async fn confluent_paths_shapes_and_error_codes() {
        let app = super::super::api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 4096);
        let s = "/subjects/nyc%2Fflights-value";
        /// Method, URI, token, body, expected status, expected fields (or whole body).
        type Case<'a> = (&'a str, String, Option<&'a str>, String, u16, Value);
        let cases: Vec<Case<'_>> = vec![
            ("POST", format!("{s}/versions?normalize=false"), None, body(A), 401, json!({"error_code": 40101})),
            ("POST", format!("{s}/versions"), Some("wrong"), body(A), 401, json!({"error_code": 40101})),
            ("POST", format!("{s}/versions"), Some(T), "{not json".into(), 422, json!({"error_code": 42201})),
            ("POST", format!("{s}/versions"), Some(T), json!({"schema": "{\"type\":\"record\"}"}).to_string(), 422, json!({"error_code": 42201})),
            ("POST", format!("{s}/versions"), Some(T), json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}).to_string(), 422, json!({"error_code": 42201})),
            ("POST", format!("{s}/versions"), Some(T), json!({"schema": "\"string\"", "references": [{"name": "x", "subject": "y", "version": 1}]}).to_string(), 422, json!({"error_code": 42201})),
            ("POST", format!("{s}/versions"), Some(T), "x".repeat(5000), 413, json!({"error_code": 41301})),
            ("GET", format!("{s}/versions"), None, String::new(), 404, json!({"error_code": 40401})),
            ("POST", format!("{s}/versions?normalize=false"), Some(T), body(A), 200, json!({"id": 1})),
            ("POST", format!("{s}/versions"), Some(T), body(A), 200, json!({"id": 1})),
            ("POST", format!("{s}/versions"), Some(T), body(AB), 200, json!({"id": 2})),
            ("POST", format!("{s}/versions"), Some(T), body(AC), 409, json!({"error_code": 409})),
            ("POST", "/subjects/other-value/versions".into(), Some(T), body(AB), 200, json!({"id": 2})),
            ("GET", format!("{s}/versions"), None, String::new(), 200, json!([1, 2])),
            ("GET", format!("{s}/versions/latest"), None, String::new(), 200, json!({"subject": "nyc/flights-value", "version": 2, "id": 2})),
            ("GET", format!("{s}/versions/-1"), None, String::new(), 200, json!({"version": 2})),
            ("GET", format!("{s}/versions/1"), None, String::new(), 200, json!({"version": 1, "id": 1})),
            ("GET", format!("{s}/versions/3"), None, String::new(), 404, json!({"error_code": 40402})),
            ("GET", format!("{s}/versions/0"), None, String::new(), 422, json!({"error_code": 42202})),
            ("GET", format!("{s}/versions/one"), None, String::new(), 422, json!({"error_code": 42202})),
            ("GET", "/subjects/nope/versions/1".into(), None, String::new(), 404, json!({"error_code": 40401})),
            ("GET", format!("{s}/versions/1/schema"), None, String::new(), 200, json!({"type": "record", "name": "flights"})),
            ("GET", "/schemas/ids/2".into(), None, String::new(), 200, json!({})),
            ("GET", "/schemas/ids/2/versions".into(), None, String::new(), 200, json!([{"subject": "nyc/flights-value", "version": 2}, {"subject": "other-value", "version": 1}])),
            ("GET", "/schemas/ids/9".into(), None, String::new(), 404, json!({"error_code": 40403})),
            ("GET", "/schemas/ids/x".into(), None, String::new(), 404, json!({"error_code": 40403})),
            ("GET", "/schemas/types".into(), None, String::new(), 200, json!(["AVRO"])),
            ("GET", "/subjects?deleted=false&offset=0&limit=-1".into(), None, String::new(), 200, json!(["nyc/flights-value", "other-value"])),
            ("GET", "/subjects?subject=oth".into(), None, String::new(), 200, json!(["other-value"])),
            ("GET", "/subjects?offset=1&limit=1".into(), None, String::new(), 200, json!(["other-value"])),
            ("POST", format!("{s}?normalize=False&deleted=False"), None, body(A), 200, json!({"subject": "nyc/flights-value", "version": 1, "id": 1})),
            ("POST", format!("{s}?normalize=False&deleted=False"), None, body(AC), 404, json!({"error_code": 40403})),
            ("POST", "/subjects/nope".into(), None, body(A), 404, json!({"error_code": 40401})),
            ("POST", format!("/compatibility{s}/versions/latest?normalize=False&verbose=False"), None, body(AB), 200, json!({"is_compatible": true})),
            ("POST", format!("/compatibility{s}/versions/latest?verbose=true"), None, body(AC), 200, json!({"is_compatible": false})),
            ("POST", format!("/compatibility{s}/versions/7"), None, body(AC), 404, json!({"error_code": 40402})),
            ("POST", "/compatibility/subjects/nope/versions/1".into(), None, body(AC), 404, json!({"error_code": 40401})),
            ("POST", "/compatibility/subjects/nope/versions/latest".into(), None, body(AC), 200, json!({"is_compatible": true})),
            ("POST", format!("/compatibility{s}/versions"), None, body(A), 200, json!({"is_compatible": true})),
            ("GET", "/config".into(), None, String::new(), 200, json!({"compatibilityLevel": "BACKWARD"})),
            ("PUT", "/config".into(), None, json!({"compatibility": "FULL"}).to_string(), 401, json!({"error_code": 40101})),
            ("PUT", "/config".into(), Some(T), json!({"compatibility": "SIDEWAYS"}).to_string(), 422, json!({"error_code": 42203})),
            ("PUT", "/config".into(), Some(T), json!({"compatibility": "FORWARD"}).to_string(), 200, json!({"compatibility": "FORWARD"})),
            ("GET", "/config".into(), None, String::new(), 200, json!({"compatibilityLevel": "FORWARD"})),
            ("GET", format!("/config/{}", &s[10..]), None, String::new(), 404, json!({"error_code": 40408})),
            ("GET", format!("/config/{}?defaultToGlobal=true", &s[10..]), None, String::new(), 200, json!({"compatibilityLevel": "FORWARD"})),
            ("PUT", format!("/config/{}", &s[10..]), Some(T), json!({"compatibility": "NONE"}).to_string(), 200, json!({"compatibility": "NONE"})),
            ("GET", format!("/config/{}", &s[10..]), None, String::new(), 200, json!({"compatibilityLevel": "NONE"})),
            // Under NONE the incompatible schema registers as version 3.
            ("POST", format!("{s}/versions"), Some(T), body(AC), 200, json!({"id": 3})),
            ("DELETE", format!("/config/{}", &s[10..]), Some(T), String::new(), 200, json!({"compatibilityLevel": "NONE"})),
            ("DELETE", format!("/config/{}", &s[10..]), Some(T), String::new(), 404, json!({"error_code": 40408})),
        ];
        for (i, (method, uri, token, b, code, want)) in cases.into_iter().enumerate() {
            let (got, v) = call(&app, method, &uri, token, &b).await;
            assert_eq!(got.as_u16(), code, "case {i}: {method} {uri}: {v}");
            match &want {
                Value::Object(m) => {
                    for (k, x) in m {
                        assert_eq!(&v[k], x, "case {i}: {method} {uri}: {k} in {v}");
                    }
                    if code >= 400 {
                        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "case {i}: {v}");
                    }
                }
                other => assert_eq!(&v, other, "case {i}: {method} {uri}"),
            }
        }
        // The subject follows the global FORWARD again: version 1 cannot read data without carrier.
        let (_, v) = call(&app, "POST", &format!("/compatibility{s}/versions/1?verbose=true"), None, &body(r#"{"name":"origin","type":"string"}"#)).await;
        assert!(v["messages"][0].as_str().is_some_and(|m| m.contains("FORWARD check against version 1")), "{v}");
        let (_, v) = call(&app, "GET", "/schemas/ids/1", None, "").await;
        assert_eq!(v["schema"].as_str().map(|t| t.contains("carrier")), Some(true), "{v}");
    }

    #[tokio::test]
    async fn a_bound_subject_refuses_schemas_that_cannot_carry_the_contract() {
        let app = super::super::api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 1 << 16);
        let contract = "apiVersion: v3.1.0\nkind: DataContract\nid: flights\nversion: 1.0.0\nstatus: active\ncustomProperties:\n  - property: schemaRegistrySubjects\n    value: [nyc.flights-value]\nschema:\n  - name: flights\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n      - name: dep_delay\n        logicalType: integer\n";
        let req = Request::builder().method("POST").uri("/v1/contracts").header("authorization", format!("Bearer {T}")).body(Body::from(contract)).expect("request");
        assert_eq!(app.clone().oneshot(req).await.expect("response").status(), StatusCode::CREATED);
        let (code, v) = call(&app, "POST", "/subjects/nyc.flights-value/versions", Some(T), &body(r#"{"name":"dep_delay","type":"int"}"#)).await;
        assert_eq!((code, v["error_code"].as_u64()), (StatusCode::CONFLICT, Some(409)), "{v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains("contract flights 1.0.0") && msg.contains("carrier: missing from the writer schema"), "{msg}");
        let (code, v) = call(&app, "POST", "/subjects/nyc.flights-value/versions", Some(T), &body(r#"{"name":"carrier","type":"string"},{"name":"dep_delay","type":"string"}"#)).await;
        assert!(code == StatusCode::CONFLICT && v["message"].as_str().is_some_and(|m| m.contains("dep_delay: contract integer, writer string")), "{v}");
        let (_, v) = call(&app, "POST", "/compatibility/subjects/nyc.flights-value/versions?verbose=true", None, &body(r#"{"name":"dep_delay","type":"int"}"#)).await;
        assert_eq!(v["is_compatible"], false, "the test endpoint reports contract gaps too: {v}");
        assert_eq!(call(&app, "POST", "/subjects/nyc.flights-value/versions", Some(T), &body(AB.replace("[\"null\",\"int\"]", "\"int\"").replace(",\"default\":null", "").as_str().trim_matches(' '))).await.0, StatusCode::OK);
        let resp = app.clone().oneshot(Request::builder().uri("/v1/contracts/flights/schemas").body(Body::empty()).expect("request")).await.expect("response");
        let v: Value = serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body")).expect("json");
        assert_eq!(v["binding"], "customProperty");
        assert_eq!(v["subjects"][0]["subject"], "nyc.flights-value");
        assert_eq!(v["subjects"][0]["versions"][0]["id"], 1, "{v}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_and_registrations_are_counted_by_closed_labels() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Thread-local, and a current-thread runtime keeps every handler on this thread.
        let _guard = metrics::set_default_local_recorder(&recorder);
        let app = super::super::api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 4096);
        call(&app, "POST", "/subjects/s/versions", Some(T), &body(A)).await;
        call(&app, "POST", "/subjects/s/versions", Some(T), &body(A)).await;
        call(&app, "POST", "/subjects/s/versions", Some(T), &body(AC)).await;
        call(&app, "GET", "/schemas/ids/7", None, "").await;
        let text = handle.render();
        for line in [
            r#"contract_gate_registry_schema_registrations_total{outcome="created"} 1"#,
            r#"contract_gate_registry_schema_registrations_total{outcome="existing"} 1"#,
            r#"contract_gate_registry_schema_registrations_total{outcome="incompatible"} 1"#,
            r#"contract_gate_registry_schema_requests_total{operation="register",outcome="ok"} 2"#,
            r#"contract_gate_registry_schema_requests_total{operation="register",outcome="conflict"} 1"#,
            r#"contract_gate_registry_schema_requests_total{operation="get_schema",outcome="not_found"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
