use super::*;
use crate::{compile, parse};
use prost_reflect::{DynamicMessage, Value as Pv};
use serde_json::json;

const FLIGHTS_PROTO: &str = include_str!("../../../examples/flights/flights.proto");
const FLIGHTS_ODCS: &str = include_str!("../../../examples/flights/flights.odcs.yaml");

fn contract_with(props: &str, extra: bool) -> crate::CompiledContract {
    let custom = if extra { "    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n" } else { "" };
    let yaml = format!("apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n{custom}    properties:\n{props}");
    compile(&parse(&yaml).expect("contract parses"), None).expect("contract compiles")
}

fn flights() -> crate::CompiledContract {
    compile(&parse(FLIGHTS_ODCS).expect("parses"), None).expect("compiles")
}

#[test]
fn text_and_serialized_forms_are_one_schema() {
    let text = ProtoSchema::parse(FLIGHTS_PROTO).expect("compiles");
    assert_eq!(text.first_message().map(|m| m.full_name().to_string()).as_deref(), Some("nyc.flights.Flight"));
    let again = ProtoSchema::parse(&text.serialized()).expect("the serialized form compiles");
    assert_eq!(again.canonical(), text.canonical(), "the form it was registered in does not change identity");
    let spaced = ProtoSchema::parse(&FLIGHTS_PROTO.replace("  ", "    ").replace("// A flight", "// Another comment\n// A flight")).expect("compiles");
    assert_eq!(spaced.canonical(), text.canonical(), "whitespace and comments do not change identity");
    for bad in ["syntax = \"proto3\"; message {", "syntax = \"proto3\"; import \"other.proto\"; message A { other.B b = 1; }", "syntax = \"proto3\"; message A { Missing m = 1; }"] {
        assert!(matches!(ProtoSchema::parse(bad), Err(ProtoError::Schema(_))), "{bad}");
    }
}

#[test]
fn message_indexes_round_trip_and_name_nested_types() {
    let s = ProtoSchema::parse("syntax = \"proto3\"; message A { message B { message C { int32 x = 1; } } } message D { int32 y = 1; }").expect("compiles");
    for (idx, name) in [(vec![0], "A"), (vec![1], "D"), (vec![0, 0], "A.B"), (vec![0, 0, 0], "A.B.C")] {
        let wire = encode_indexes(&idx);
        let mut buf = wire.clone();
        buf.extend_from_slice(b"body");
        let (read, body) = split_indexes(&buf).expect("reads");
        assert_eq!((read.as_slice(), body), (idx.as_slice(), &b"body"[..]), "{wire:?}");
        assert_eq!(s.message_at(&read).expect("names a message").full_name(), name);
    }
    assert_eq!(encode_indexes(&[0]), [0], "[0] is the single byte 0");
    assert_eq!(encode_indexes(&[1]), [2, 2], "zigzag: count 1, index 1");
    assert!(s.message_at(&[2]).is_err());
    assert!(s.message_at(&[1, 0]).is_err());
    for bad in [&[0x80u8][..], &[0x02][..], &[0x01, 0x02][..], &[0x7e][..]] {
        assert!(matches!(split_indexes(bad), Err(ProtoError::Indexes(_))), "{bad:?}");
    }
}

#[test]
fn flights_proto_carries_the_flights_contract() {
    let s = ProtoSchema::parse(FLIGHTS_PROTO).expect("compiles");
    let m = s.first_message().expect("a message");
    assert_eq!(conforms(&flights(), &m), Vec::new());
}

#[test]
fn conformance_table() {
    let m = |body: &str| ProtoSchema::parse(&format!("syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; message M {{ {body} }} message N {{ string s = 1; }}")).expect("compiles").first_message().expect("M");
    let p = |name: &str, ty: &str| format!("      - name: {name}\n        logicalType: {ty}\n");
    let cases: &[(&str, String, &str, &[&str])] = &[
        ("int fits integer", p("a", "integer"), "int64 a = 1;", &[]),
        ("double is no integer", p("a", "integer"), "double a = 1;", &["a: contract integer, writer double"]),
        ("int fits number", p("a", "number"), "sint32 a = 1;", &[]),
        ("enum is a string", p("a", "string"), "enum E { X = 0; } E a = 1;", &[]),
        ("bytes are no string", p("a", "string"), "bytes a = 1;", &["a: contract string, writer bytes"]),
        ("timestamp message", p("a", "timestamp"), "google.protobuf.Timestamp a = 1;", &[]),
        ("missing", p("a", "string"), "string b = 1;", &["a: missing from the writer schema", "b: not in the contract (extra fields not allowed)"]),
        ("repeated is an array", p("a", "array"), "repeated int32 a = 1;", &[]),
        ("repeated is no integer", p("a", "integer"), "repeated int32 a = 1;", &["a: contract integer, writer repeated int32"]),
        ("message is an object", format!("{}        properties:\n          - name: s\n            logicalType: string\n", p("a", "object")), "N a = 1;", &[]),
        ("nested mismatch", format!("{}        properties:\n          - name: s\n            logicalType: integer\n", p("a", "object")), "N a = 1;", &["a.s: contract integer, writer string"]),
        ("map is a free object", p("a", "object"), "map<string, int32> a = 1;", &[]),
    ];
    for (name, props, body, want) in cases {
        let got: Vec<String> = conforms(&contract_with(props, false), &m(body)).iter().map(ToString::to_string).collect();
        assert_eq!(got, *want, "{name}");
    }
    assert!(conforms(&contract_with(&p("a", "string"), true), &m("string a = 1; int32 b = 2;")).is_empty(), "extra fields allowed");
}

#[test]
fn records_read_as_the_json_the_contract_checks() {
    let s = ProtoSchema::parse(FLIGHTS_PROTO).expect("compiles");
    let m = s.first_message().expect("Flight");
    let mut msg = DynamicMessage::new(m.clone());
    msg.set_field_by_name("year", Pv::I32(2013));
    msg.set_field_by_name("carrier", Pv::String("UA".into()));
    msg.set_field_by_name("dep_delay", Pv::F64(-3.5));
    msg.set_field_by_name("origin", Pv::EnumNumber(1));
    let mut ts = DynamicMessage::new(m.parent_pool().get_message_by_name("google.protobuf.Timestamp").expect("wkt"));
    ts.set_field_by_name("seconds", Pv::I64(1_357_034_400));
    msg.set_field_by_name("time_hour", Pv::Message(ts));
    let bytes = prost_reflect::prost::Message::encode_to_vec(&msg);
    let decoded = decode_body(&m, 7, &bytes).expect("decodes");
    let v = value::Projection::for_contract(&flights()).to_json(&decoded);
    assert_eq!(v["year"], json!(2013));
    assert_eq!(v["carrier"], json!("UA"));
    assert_eq!(v["dep_delay"], json!(-3.5));
    assert_eq!(v["origin"], json!("JFK"));
    assert_eq!(v["time_hour"], json!("2013-01-01T10:00:00Z"));
    assert_eq!(v["month"], json!(0), "a plain proto3 scalar always has a value");
    assert!(v.get("dep_time").is_none() && v.get("tailnum").is_none(), "optional fields not set are missing: {v}");
    // A number the enum does not name stays a number, which a string rule refuses.
    let mut odd = DynamicMessage::new(m.clone());
    odd.set_field_by_name("origin", Pv::EnumNumber(9));
    assert_eq!(to_json(&decode_body(&m, 7, &prost_reflect::prost::Message::encode_to_vec(&odd)).expect("decodes"))["origin"], json!(9));
    assert!(matches!(decode_body(&m, 7, &[0xff, 0xff, 0xff]), Err(ProtoError::Body { schema_id: 7, .. })));
}
