//! The Schema Registry subset through the registry's whole router ([`crate::api::router`],
//! which merges [`crate::sr_api`]'s routes with the contract routes): Confluent's paths, shapes
//! and error codes, contract-bound subjects (a contract pushed over HTTP, then schemas), and
//! the request counters. Apart from both routers' modules so that neither imports the other's.

use crate::api;
use crate::replica::Registry;
use crate::sr_api::CONTENT_TYPE;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
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
    let app = api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 4096);
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
    let app = api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 1 << 16);
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
    let app = api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 4096);
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
