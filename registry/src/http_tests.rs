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
        ("POST", format!("{s}/versions"), Some(T), json!({"schema": "{}", "schemaType": "XML"}).to_string(), 422, json!({"error_code": 42201})),
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
        ("GET", "/schemas/types".into(), None, String::new(), 200, json!(["AVRO", "JSON", "PROTOBUF"])),
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
    // JSON Schema and Protobuf schemas are held to the contract the same way.
    let json_schema = json!({"schemaType": "JSON", "schema": json!({"title": "flights", "type": "object", "properties": {"dep_delay": {"type": "integer"}}}).to_string()}).to_string();
    let (code, v) = call(&app, "POST", "/subjects/nyc.flights-value/versions", Some(T), &json_schema).await;
    assert!(code == StatusCode::CONFLICT && v["message"].as_str().is_some_and(|m| m.contains("contract flights 1.0.0") && m.contains("carrier")), "{v}");
    let proto = json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message Flight { int64 dep_delay = 2; }"}).to_string();
    let (code, v) = call(&app, "POST", "/subjects/nyc.flights-value/versions", Some(T), &proto).await;
    assert!(code == StatusCode::CONFLICT && v["message"].as_str().is_some_and(|m| m.contains("carrier")), "{v}");
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

fn typed(t: &str, schema: &str) -> String {
    json!({ "schemaType": t, "schema": schema }).to_string()
}

#[tokio::test]
async fn json_schema_and_protobuf_subjects() {
    let app = api::router(Arc::new(Registry::memory()), crate::auth::bearer(T), 1 << 16);
    let j1 = r#"{"title":"flights","type":"object","properties":{"carrier":{"type":"string"}},"required":["carrier"]}"#;
    let j1_reformatted = "{\n  \"type\": \"object\", \"title\": \"flights\",\n  \"required\": [\"carrier\"], \"properties\": {\"carrier\": {\"type\": \"string\"}}\n}";
    let j2 = r#"{"title":"flights","type":"object","properties":{"carrier":{"type":"string"},"dep_delay":{"type":"integer"}},"required":["carrier"]}"#;
    // A newly required property: old documents lack it.
    let j3 = r#"{"title":"flights","type":"object","properties":{"carrier":{"type":"string"},"origin":{"type":"string"}},"required":["carrier","origin"]}"#;
    let p1 = "syntax = \"proto3\";\npackage nyc;\nmessage Flight { string carrier = 1; int32 delay = 2; }\n";
    let p1_serialized = contracts::protobuf::ProtoSchema::parse(p1).expect("proto").serialized();
    let p2 = "syntax = \"proto3\";\npackage nyc;\nmessage Flight { string carrier = 1; int32 delay = 2; string origin = 3; }\n";
    let p_retyped = "syntax = \"proto3\";\npackage nyc;\nmessage Flight { string carrier = 1; double delay = 2; }\n";
    let same_text = r#"{"type":"string"}"#;
    /// Method, URI, body, expected status, expected fields (or whole body).
    type Case<'a> = (&'a str, &'a str, String, u16, Value);
    let cases: Vec<Case<'_>> = vec![
        ("POST", "/subjects/j-value/versions", typed("JSON", j1), 200, json!({"id": 1})),
        ("POST", "/subjects/j-value/versions", typed("JSON", j1_reformatted), 200, json!({"id": 1})),
        ("POST", "/subjects/j-value/versions", typed("JSON", j2), 200, json!({"id": 2})),
        ("POST", "/subjects/j-value/versions", typed("JSON", j3), 409, json!({"error_code": 409})),
        ("POST", "/subjects/j-value/versions", json!({"schema": r#"{"type":"record","name":"flights","fields":[]}"#}).to_string(), 409, json!({"error_code": 409})),
        ("POST", "/subjects/j-value/versions", typed("JSON", "[1]"), 422, json!({"error_code": 42201})),
        ("POST", "/subjects/j-value/versions", typed("JSON", r#"{"$ref":"other.json"}"#), 422, json!({"error_code": 42201})),
        ("GET", "/subjects/j-value/versions/latest", String::new(), 200, json!({"version": 2, "id": 2, "schemaType": "JSON", "schema": j2})),
        ("GET", "/schemas/ids/1", String::new(), 200, json!({"schemaType": "JSON", "schema": j1})),
        ("POST", "/subjects/j-value", typed("JSON", j1_reformatted), 200, json!({"version": 1, "id": 1, "schemaType": "JSON"})),
        ("POST", "/compatibility/subjects/j-value/versions/latest", typed("JSON", j3), 200, json!({"is_compatible": false})),
        ("POST", "/compatibility/subjects/j-value/versions/latest", typed("JSON", j2), 200, json!({"is_compatible": true})),
        // One text, two types: two schemas, two ids; Avro answers leave the type out.
        ("POST", "/subjects/js-value/versions", typed("JSON", same_text), 200, json!({"id": 3})),
        ("POST", "/subjects/av-value/versions", json!({"schema": same_text}).to_string(), 200, json!({"id": 4})),
        ("GET", "/schemas/ids/4", String::new(), 200, json!({"schema": same_text, "schemaType": null})),
        ("POST", "/subjects/av-value", typed("JSON", same_text), 404, json!({"error_code": 40403})),
        // Protobuf: text and Python's base64 descriptor are one schema.
        ("POST", "/subjects/p-value/versions", typed("PROTOBUF", p1), 200, json!({"id": 5})),
        ("POST", "/subjects/p-value/versions", typed("PROTOBUF", &p1_serialized), 200, json!({"id": 5})),
        ("POST", "/subjects/p-value", typed("PROTOBUF", &p1_serialized), 200, json!({"version": 1, "id": 5, "schemaType": "PROTOBUF", "schema": p1})),
        ("GET", "/schemas/ids/5", String::new(), 200, json!({"schemaType": "PROTOBUF", "schema": p1})),
        ("GET", "/schemas/ids/5?format=serialized", String::new(), 200, json!({"schemaType": "PROTOBUF", "schema": p1_serialized})),
        ("GET", "/subjects/p-value/versions/1?format=serialized", String::new(), 200, json!({"schema": p1_serialized})),
        ("GET", "/schemas/ids/1?format=serialized", String::new(), 200, json!({"schema": j1})),
        ("POST", "/subjects/p-value/versions", typed("PROTOBUF", p_retyped), 409, json!({"error_code": 409})),
        ("POST", "/subjects/p-value/versions", typed("JSON", j1), 409, json!({"error_code": 409})),
        ("POST", "/subjects/p-value/versions", typed("PROTOBUF", "syntax = \"proto3\"; message {"), 422, json!({"error_code": 42201})),
        ("POST", "/subjects/p-value/versions", typed("PROTOBUF", p2), 200, json!({"id": 6})),
        ("GET", "/schemas/ids/5/versions", String::new(), 200, json!([{"subject": "p-value", "version": 1}])),
    ];
    for (i, (method, uri, b, code, want)) in cases.into_iter().enumerate() {
        let (got, v) = call(&app, method, uri, Some(T), &b).await;
        assert_eq!(got.as_u16(), code, "case {i}: {method} {uri}: {v}");
        match &want {
            Value::Object(m) => {
                for (k, x) in m {
                    assert_eq!(&v[k], x, "case {i}: {method} {uri}: {k} in {v}");
                }
            }
            other => assert_eq!(&v, other, "case {i}: {method} {uri}"),
        }
    }
    // The refusals say why, naming the field or the type.
    let (_, v) = call(&app, "POST", "/subjects/j-value/versions", Some(T), &typed("JSON", j3)).await;
    assert!(v["message"].as_str().is_some_and(|m| m.contains("field \"origin\": the reader requires it")), "{v}");
    let (_, v) = call(&app, "POST", "/subjects/p-value/versions", Some(T), &typed("AVRO", r#""string""#)).await;
    assert!(v["message"].as_str().is_some_and(|m| m.contains("has schema type PROTOBUF, this schema has type AVRO")), "{v}");
    let (_, v) = call(&app, "POST", "/subjects/p-value/versions", Some(T), &typed("PROTOBUF", p_retyped)).await;
    assert!(v["message"].as_str().is_some_and(|m| m.contains("field delay (number 2): type changed from int32 to double")), "{v}");
}
