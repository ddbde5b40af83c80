//! The Confluent Schema Registry REST subset that serializers and `SchemaRegistryClient`s use,
//! served from the contract registry (documented in `docs/openapi.yaml`): Confluent's paths,
//! JSON shapes, content type `application/vnd.schemaregistry.v1+json` and error bodies
//! `{"error_code": …, "message": …}`. Avro, JSON Schema and Protobuf (`schemaType`, Avro when
//! absent); a response that carries a schema names its type unless it is Avro, as Confluent's
//! do, and `?format=serialized` answers a Protobuf schema as a base64 `FileDescriptorProto`
//! (what Confluent's Python deserializer asks for).
//!
//! Reads (including lookup and the compatibility test, which store nothing) are open; writes
//! (register, set or delete a level) need the admin token, as a bearer token or as the
//! password of HTTP Basic (the gate's rule, asked through the [`Authorizer`]). Clients send query parameters such as
//! `normalize`, `deleted`, `verbose`, `offset` and `limit`: `verbose`, `offset`, `limit` and
//! the subject prefix act as in Confluent's registry; nothing is ever soft-deleted, so
//! `deleted` changes nothing; `normalize` changes nothing either, because schemas are always
//! compared by their identity ([`crate::schema_type::parse`]: key-sorted, whitespace-free JSON,
//! or the compiled Protobuf descriptor).

use crate::events::{SchemaRegistered, SchemaRequested};
use crate::auth::Authorizer;
use crate::avro_rules::{InvalidSchema, Level};
use crate::replica::{Registry, RegistryError};
use crate::schema_store::{self, Candidate, StoredSchema};
use crate::schema_type::SchemaType;
use crate::schema_writes::SchemaError;
use crate::schemas::{self, SchemaRefusal};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

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
        .route("/schemas/types", get(|| async { reply("schema_types", StatusCode::OK, &json!(SchemaType::ALL.map(|t| t.as_str()))) }))
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
    SchemaRequested { operation: op, outcome }.emit();
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

/// Reads and parses a schema request (`{"schema": "...", "schemaType"?: "AVRO" | "JSON" |
/// "PROTOBUF", "references"?: []}`; a null type is Avro, as clients that leave it unset send).
async fn candidate(s: &SrState, headers: &HeaderMap, body: Body) -> Result<Candidate, Fail> {
    let bytes = read_body(s, headers, body).await?;
    let req: Value = serde_json::from_slice(&bytes).map_err(|e| Fail(StatusCode::UNPROCESSABLE_ENTITY, 42201, format!("Invalid schema: the request is not JSON: {e}")))?;
    let unsupported = |m: String| invalid(&InvalidSchema::Unsupported(m));
    let t = match req.get("schemaType") {
        None | Some(Value::Null) => SchemaType::Avro,
        Some(v) => match v.as_str().and_then(SchemaType::parse) {
            Some(t) => t,
            None => return Err(unsupported(format!("schemaType {v} is not supported: send AVRO, JSON or PROTOBUF"))),
        },
    };
    if req.get("references").and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
        return Err(unsupported("schema references are not supported: inline the referenced types".into()));
    }
    let Some(text) = req.get("schema").and_then(Value::as_str) else {
        return Err(unsupported(format!("the request needs a \"schema\" string holding the {} schema", t.as_str())));
    };
    Candidate::of(t, text).map_err(|e| invalid(&e))
}

/// The schema's text as `?format=` asks: `serialized` answers a Protobuf schema as a base64
/// `FileDescriptorProto`; any other format, or type, the text as registered.
fn schema_text(x: &StoredSchema, q: &HashMap<String, String>) -> Result<String, Fail> {
    if x.schema_type != SchemaType::Protobuf || q.get("format").is_none_or(|f| f != "serialized") {
        return Ok(x.text.to_string());
    }
    contracts::protobuf::ProtoSchema::parse(&x.text)
        .map(|p| p.serialized())
        .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, 50001, format!("schema {} no longer compiles: {e}", x.id)))
}

/// `body` with `schemaType` added unless the type is Avro (Confluent leaves it out then).
fn typed(mut body: Value, t: SchemaType) -> Value {
    if !t.is_avro() {
        body["schemaType"] = json!(t.as_str());
    }
    body
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

/// Version, id and the schema, or the Confluent error.
fn find_version(s: &SrState, subject: &str, version: &str) -> Result<(u32, u32, StoredSchema), Fail> {
    let v = parse_version(version)?;
    let cat = s.registry.catalog();
    let store = cat.schemas();
    if store.versions(subject).is_none() {
        return Err(no_subject(subject));
    }
    let Some(found) = store.version(subject, v) else { return Err(Fail(StatusCode::NOT_FOUND, 40402, format!("Version {version} not found."))) };
    let x = store.schema(found.id).cloned().ok_or_else(|| Fail(StatusCode::NOT_FOUND, 40403, format!("Schema {} not found", found.id)))?;
    Ok((found.version, found.id, x))
}

async fn get_version(State(s): State<SrState>, Path((subject, version)): Path<(String, String)>, Query(q): Q) -> Response {
    let found = find_version(&s, &subject, &version).and_then(|(v, id, x)| Ok((v, id, schema_text(&x, &q)?, x.schema_type)));
    match found {
        Ok((v, id, text, t)) => reply("get_version", StatusCode::OK, &typed(json!({ "subject": subject, "version": v, "id": id, "schema": text }), t)),
        Err(f) => f.reply("get_version"),
    }
}

async fn get_version_schema(State(s): State<SrState>, Path((subject, version)): Path<(String, String)>, Query(q): Q) -> Response {
    match find_version(&s, &subject, &version).and_then(|(_, _, x)| schema_text(&x, &q)) {
        Ok(text) => {
            SchemaRequested { operation: "get_version_schema", outcome: "ok" }.emit();
            (StatusCode::OK, [("content-type", CONTENT_TYPE)], text).into_response()
        }
        Err(f) => f.reply("get_version_schema"),
    }
}

fn parse_id(id: &str) -> Result<u32, Fail> {
    id.parse::<u32>().map_err(|_| Fail(StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found")))
}

async fn get_schema(State(s): State<SrState>, Path(id): Path<String>, Query(q): Q) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(f) => return f.reply("get_schema"),
    };
    let cat = s.registry.catalog();
    let Some(x) = cat.schemas().schema(id) else { return err("get_schema", StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found")) };
    match schema_text(x, &q) {
        Ok(text) => reply("get_schema", StatusCode::OK, &typed(json!({ "schema": text }), x.schema_type)),
        Err(f) => f.reply("get_schema"),
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
            SchemaRegistered { subject: &subject, outcome: "invalid", detail: None }.emit();
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
    let detail: Option<&dyn std::fmt::Display> = match &result {
        Err(SchemaError::Refused(r @ (SchemaRefusal::Incompatible { .. } | SchemaRefusal::Contract { .. }))) => Some(r),
        Err(SchemaError::Registry(e)) => Some(e),
        _ => None,
    };
    SchemaRegistered { subject: &subject, outcome, detail }.emit();
    match result {
        Ok(r) => reply(OP, StatusCode::OK, &json!({ "id": r.id })),
        Err(SchemaError::Refused(r @ (SchemaRefusal::Incompatible { .. } | SchemaRefusal::Contract { .. }))) => err(OP, StatusCode::CONFLICT, 409, r.to_string()),
        Err(SchemaError::Refused(SchemaRefusal::Invalid(e))) => invalid(&e).reply(OP),
        Err(SchemaError::Registry(e)) => unavailable(&e).reply(OP),
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
        Some((v, x)) => reply(OP, StatusCode::OK, &typed(json!({ "subject": subject, "version": v.version, "id": v.id, "schema": &*x.text }), x.schema_type)),
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
    let mut messages = schema_store::check_compatibility(store, subject, &c, level, one);
    // Registering would also need to carry the bound contracts' records: say so here too.
    for contract in schemas::bound_contracts(&cat, subject) {
        if let Some(e) = cat.resolve(&contract, None) {
            messages.extend(crate::schema_type::contract_gaps(&e.contract, &c.parsed).into_iter().map(|g| format!("contract {contract} {}: {g}", e.version)));
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
