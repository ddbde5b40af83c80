//! `docs/openapi.yaml` against the implementation: every route the routers register is
//! documented and every documented operation is routed; answers to a set of calls carry status
//! codes the document lists for that operation, and JSON error answers have `error` (or, on
//! the Schema Registry subset, Confluent's `error_code` and `message`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use registry::{api, Registry};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt as _;

const TOKEN: &str = "openapi-test-token";
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    let text = std::fs::read_to_string(repo("docs/openapi.yaml")).expect("docs/openapi.yaml");
    serde_saphyr::from_str(&text).expect("openapi.yaml parses")
}

/// (METHOD, path) of every `.route("path", get(..).post(..))` in the router sources.
fn routed() -> BTreeSet<(String, String)> {
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)"\s*,\s*(.+)$"#).expect("regex");
    let method = regex::Regex::new(r"\b(get|post|put|delete|patch)\(").expect("regex");
    let mut out = BTreeSet::new();
    // Every source file of the gate's HTTP module (a folder, so routes may move between its
    // files) and the registry's two routers.
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(repo("gate/src/http"))
        .expect("gate/src/http")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.extend(["registry/src/api.rs", "registry/src/sr_api.rs"].map(|f| repo(f).into()));
    for file in files {
        let text = std::fs::read_to_string(&file).expect("router source");
        // Unit tests below `#[cfg(test)]` build routers of their own.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in text.lines() {
            if let Some(c) = route.captures(line) {
                for m in method.captures_iter(&c[2]) {
                    out.insert((m[1].to_uppercase(), c[1].to_string()));
                }
            }
        }
    }
    out
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let (code, doc) = (routed(), documented(&document()));
    assert!(code.len() >= 14, "the route scan found too little: {code:?}");
    let undocumented: Vec<_> = code.difference(&doc).collect();
    let unrouted: Vec<_> = doc.difference(&code).collect();
    assert!(undocumented.is_empty(), "routes missing from docs/openapi.yaml: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
}

/// The documented operation a concrete URI and method hit.
fn operation<'a>(doc: &'a Value, method: &str, uri: &str) -> &'a Value {
    let path = uri.split('?').next().unwrap_or(uri);
    let segs: Vec<&str> = path.split('/').collect();
    let (_, item) = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(tpl, _)| {
            let t: Vec<&str> = tpl.split('/').collect();
            t.len() == segs.len() && t.iter().zip(&segs).all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
        })
        // A literal segment beats a template one (`/versions/latest` vs `/{action}`).
        .max_by_key(|(tpl, _)| tpl.split('/').filter(|s| !s.starts_with('{')).count())
        .unwrap_or_else(|| panic!("{uri} matches no documented path"));
    item.get(method.to_lowercase()).unwrap_or_else(|| panic!("{method} {uri} is not documented"))
}

fn app() -> Router {
    let mut kafka = rdkafka::ClientConfig::new();
    kafka.set("bootstrap.servers", "127.0.0.1:1").set("socket.timeout.ms", "1000");
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    let producer: rdkafka::producer::FutureProducer = kafka.create().expect("producer");
    let events = gate::serve::events::TransitionSink::new(producer, "events".into(), "test".into());
    let ready = Arc::new(gate::serve::ready::Readiness::new(kafka, gate::serve::topology::BindingSet::default()));
    gate::http::router(ready, gate::serve::topology::BindingSet::default(), metrics, Some(TOKEN.into()), events).merge(api::router(Arc::new(Registry::memory()), gate::http::registry_authorizer(Some(TOKEN.into())), 8 * 1024))
}

const V1: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n        required: true\n      - name: amount\n        logicalType: number\n";

/// An Avro record schema, and one that adds a field without a default (not BACKWARD).
const SR_A: &str = r#"{"schema": "{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"}"#;
const SR_B: &str = r#"{"schema": "{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}"}"#;

#[tokio::test]
async fn answers_carry_documented_status_codes() {
    let doc = document();
    let app = app();
    let breaking = V1.replace("version: 1.0.0", "version: 1.1.0").replace("logicalType: number", "logicalType: integer");
    let calls: Vec<(&str, String, Option<&str>, String, u16)> = vec![
        ("GET", "/health".into(), None, String::new(), 200),
        ("GET", "/metrics".into(), None, String::new(), 200),
        ("GET", "/v1/breakers".into(), None, String::new(), 200),
        ("GET", "/v1/breakers/none".into(), None, String::new(), 404),
        ("POST", "/v1/breakers/none/open".into(), None, String::new(), 401),
        ("POST", "/v1/breakers/none/open".into(), Some(TOKEN), String::new(), 404),
        ("POST", "/v1/contracts".into(), None, V1.into(), 401),
        ("POST", "/v1/contracts".into(), Some(TOKEN), "kind: [".into(), 400),
        ("POST", "/v1/contracts".into(), Some(TOKEN), "x".repeat(9000), 413),
        ("POST", "/v1/contracts?dryRun=true".into(), Some(TOKEN), V1.into(), 200),
        ("POST", "/v1/contracts".into(), Some(TOKEN), V1.into(), 201),
        ("POST", "/v1/contracts".into(), Some(TOKEN), V1.into(), 200),
        ("POST", "/v1/contracts".into(), Some(TOKEN), breaking.clone(), 409),
        ("POST", "/v1/contracts".into(), Some(TOKEN), breaking.replace("version: 1.1.0", "version: 2.0.0"), 201),
        ("GET", "/v1/contracts".into(), None, String::new(), 200),
        ("GET", "/v1/contracts/orders/versions".into(), None, String::new(), 200),
        ("GET", "/v1/contracts/nope/versions".into(), None, String::new(), 404),
        ("GET", "/v1/contracts/orders/versions/latest".into(), None, String::new(), 200),
        ("GET", "/v1/contracts/orders/versions/9.9.9".into(), None, String::new(), 404),
        ("GET", "/v1/contracts/orders/diff?from=1.0.0&to=2.0.0".into(), None, String::new(), 200),
        ("GET", "/v1/contracts/orders/diff?from=0.0.1".into(), None, String::new(), 404),
        ("POST", "/v1/contracts/orders/validate".into(), None, "[{\"id\": \"a\", \"amount\": 1}, {\"amount\": 2}]".into(), 200),
        ("POST", "/v1/contracts/orders/validate".into(), None, "[not json".into(), 400),
        ("POST", "/v1/contracts/orders/versions/1.0.0/deprecate".into(), None, String::new(), 401),
        ("POST", "/v1/contracts/orders/versions/1.0.0/deprecate".into(), Some(TOKEN), "{\"reason\": \"old\"}".into(), 200),
        ("POST", "/v1/contracts/orders/versions/1.0.0/activate".into(), Some(TOKEN), String::new(), 200),
        ("POST", "/v1/contracts/orders/versions/7.0.0/deprecate".into(), Some(TOKEN), String::new(), 404),
        ("GET", "/ready".into(), None, String::new(), 503),
        ("GET", "/v1/contracts/orders/schemas".into(), None, String::new(), 200),
        ("GET", "/v1/contracts/nope/schemas".into(), None, String::new(), 404),
        ("POST", "/subjects/s/versions".into(), None, SR_A.into(), 401),
        ("POST", "/subjects/s/versions".into(), Some(TOKEN), "{}".into(), 422),
        ("POST", "/subjects/s/versions".into(), Some(TOKEN), "x".repeat(9000), 413),
        ("POST", "/subjects/s/versions?normalize=false".into(), Some(TOKEN), SR_A.into(), 200),
        ("POST", "/subjects/s/versions".into(), Some(TOKEN), SR_B.into(), 409),
        ("GET", "/subjects?deleted=false".into(), None, String::new(), 200),
        ("GET", "/subjects/s/versions".into(), None, String::new(), 200),
        ("GET", "/subjects/nope/versions".into(), None, String::new(), 404),
        ("GET", "/subjects/s/versions/latest".into(), None, String::new(), 200),
        ("GET", "/subjects/s/versions/x".into(), None, String::new(), 422),
        ("GET", "/subjects/s/versions/1/schema".into(), None, String::new(), 200),
        ("GET", "/subjects/s/versions/2/schema".into(), None, String::new(), 404),
        ("POST", "/subjects/s?normalize=False&deleted=False".into(), None, SR_A.into(), 200),
        ("POST", "/subjects/s".into(), None, SR_B.into(), 404),
        ("GET", "/schemas/ids/1".into(), None, String::new(), 200),
        ("GET", "/schemas/ids/2".into(), None, String::new(), 404),
        ("GET", "/schemas/ids/1/versions".into(), None, String::new(), 200),
        ("GET", "/schemas/types".into(), None, String::new(), 200),
        ("POST", "/compatibility/subjects/s/versions/latest?verbose=true".into(), None, SR_B.into(), 200),
        ("POST", "/compatibility/subjects/s/versions/3".into(), None, SR_B.into(), 404),
        ("POST", "/compatibility/subjects/s/versions".into(), None, SR_B.into(), 200),
        ("GET", "/config".into(), None, String::new(), 200),
        ("PUT", "/config".into(), None, "{\"compatibility\": \"FULL\"}".into(), 401),
        ("PUT", "/config".into(), Some(TOKEN), "{\"compatibility\": \"FULL\"}".into(), 200),
        ("GET", "/config/s".into(), None, String::new(), 404),
        ("PUT", "/config/s".into(), Some(TOKEN), "{\"compatibility\": \"bad\"}".into(), 422),
        ("PUT", "/config/s".into(), Some(TOKEN), "{\"compatibility\": \"NONE\"}".into(), 200),
        ("GET", "/config/s".into(), None, String::new(), 200),
        ("DELETE", "/config/s".into(), Some(TOKEN), String::new(), 200),
        ("DELETE", "/config/s".into(), Some(TOKEN), String::new(), 404),
    ];
    for (method, uri, token, body, want) in calls {
        let mut req = Request::builder().method(method).uri(&uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app.clone().oneshot(req.body(Body::from(body)).expect("request")).await.expect("response");
        let code = resp.status();
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        assert_eq!(code.as_u16(), want, "{method} {uri}: {}", String::from_utf8_lossy(&bytes));
        let op = operation(&doc, method, &uri);
        assert!(op["responses"].get(code.as_str()).is_some(), "{method} {uri} answered {code}, which the document does not list for it");
        let confluent = !uri.starts_with("/v1") && !matches!(uri.as_str(), "/health" | "/ready" | "/metrics");
        if confluent {
            assert_eq!(ctype, "application/vnd.schemaregistry.v1+json", "{method} {uri}");
            if code.is_client_error() || code.is_server_error() {
                let v: Value = serde_json::from_slice(&bytes).expect("json error");
                assert!(v["error_code"].is_u64() && v["message"].is_string(), "{method} {uri}: {v}");
            }
            continue;
        }
        // Errors are JSON with `error`; /ready's 503 is its readiness report instead.
        if (code.is_client_error() || code.is_server_error()) && uri != "/ready" {
            assert!(ctype.starts_with("application/json"), "{method} {uri}: error answers are JSON, got {ctype}");
            let v: Value = serde_json::from_slice(&bytes).expect("json error");
            assert!(v["error"].is_string(), "{method} {uri}: {v}");
        }
        if code == StatusCode::CONFLICT {
            let v: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(v["changes"][0]["path"], "orders.amount.logicalType", "{v}");
        }
    }
}
