//! Protobuf drills, offline: JSON records as messages and back as the gate reads them, the
//! drifted descriptor each fault needs and how the drill contract's gate judges it, and torn
//! payloads that never decode.

use super::*;
use crate::drill::faults::{Applied, Ctx, Out};
use crate::drill::wire::{drift, malformed, Base, Doc, Format, Writer, Writers, UNKNOWN_ID};
use contracts::protobuf::{decode_body, split_indexes, ProtoSchema};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn examples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(rel)
}

fn proto() -> String {
    std::fs::read_to_string(examples("flights/flights.proto")).expect("proto")
}

fn contract() -> Arc<contracts::CompiledContract> {
    let raw = contracts::parse(&std::fs::read_to_string(examples("drills/flights.odcs.yaml")).expect("contract")).expect("parse");
    Arc::new(contracts::compile(&raw, None).expect("compile"))
}

fn base() -> Base {
    Base::new(Format::Protobuf, 1, &proto(), contract(), None).expect("flights.proto carries the drill contract")
}

fn flight() -> Value {
    let text = std::fs::read_to_string(examples("flights/sample.jsonl")).expect("sample");
    serde_json::from_str(text.lines().next().expect("a line")).expect("json")
}

fn message_of(w: &Writer) -> MessageDescriptor {
    match &w.codec {
        crate::drill::wire::Codec::Protobuf(m) => m.clone(),
        other => panic!("not Protobuf: {other:?}"),
    }
}

/// A payload as the gate reads it: header, indexes, then the message as the contract's JSON.
fn read(w: &Writer, payload: &[u8], contract: &contracts::CompiledContract) -> Value {
    assert_eq!((payload[0], &payload[1..5]), (0, &w.id.to_be_bytes()[..]), "Confluent header");
    let (indexes, body) = split_indexes(&payload[5..]).expect("indexes");
    assert_eq!(indexes, vec![0]);
    let msg = decode_body(&message_of(w), w.id, body).expect("decodes");
    contracts::protobuf::Projection::for_contract(contract).to_json(&msg)
}

#[test]
fn json_values_become_the_fields_the_gate_reads_back() {
    const KINDS: &str = r#"syntax = "proto3";
        import "google/protobuf/timestamp.proto";
        import "google/protobuf/wrappers.proto";
        message Row {
          enum Color { RED = 0; BLUE = 1; }
          message Leg { string code = 1; int64 miles = 2; }
          int32 i = 1; int64 l = 2; uint32 u = 3; sint64 s = 4; double d = 5; float f = 6;
          bool b = 7; string t = 8; bytes raw = 9; Color c = 10; google.protobuf.Timestamp at = 11;
          Leg leg = 12; repeated int32 nums = 13; repeated Leg legs = 14; map<string, int32> counts = 15;
          google.protobuf.StringValue note = 16; optional int32 maybe = 17;
        }"#;
    let s = ProtoSchema::parse(KINDS).expect("compiles");
    let m = s.first_message().expect("message");
    let rec = json!({
        "i": -3, "l": 9_000_000_000_i64, "u": 7, "s": -5, "d": 2.5, "f": 1.5, "b": true, "t": "x", "raw": "00ff",
        "c": "BLUE", "at": "2026-01-02T03:04:05.123456Z", "leg": {"code": "JFK", "miles": 5.0},
        "nums": [1, 2], "legs": [{"code": "A", "miles": 1}], "counts": {"a": 1}, "note": "hi", "maybe": null
    });
    let msg = message(&m, &rec, "").expect("fits");
    let back = contracts::protobuf::to_json(&msg);
    // (field, what the gate reads)
    let cases = [
        ("i", json!(-3)),
        ("l", json!(9_000_000_000_i64)),
        ("u", json!(7)),
        ("s", json!(-5)),
        ("d", json!(2.5)),
        ("f", json!(1.5)),
        ("b", json!(true)),
        ("t", json!("x")),
        ("raw", json!("00ff")),
        ("c", json!("BLUE")),
        ("leg", json!({"code": "JFK", "miles": 5})),
        ("nums", json!([1, 2])),
        ("legs", json!([{"code": "A", "miles": 1}])),
        ("counts", json!({"a": 1})),
        ("note", json!("hi")),
    ];
    for (field, want) in cases {
        assert_eq!(back.get(field), Some(&want), "{field}: {back}");
    }
    assert_eq!(back.get("maybe"), None, "null leaves an optional field unset");
    let at = back["at"].as_str().unwrap_or_default();
    assert!(at.starts_with("2026-01-02T03:04:05.123456"), "{at}");

    // (change, words of the refusal)
    let refused = [
        (json!({"i": "3"}), "i: \"3\" is not an integer"),
        (json!({"i": 2.5}), "i: 2.5 is not an integer"),
        (json!({"i": 3_000_000_000_i64}), "not a 32-bit integer"),
        (json!({"c": "GREEN"}), "\"GREEN\" is no symbol of enum Row.Color"),
        (json!({"i": null}), "i: null or absent, but a plain proto3 field always has a value"),
        (json!({"leg": {"code": 1}}), "leg.code: 1 is not a string"),
        (json!({"nope": 1}), "nope: message Row has no such field"),
        (json!({"raw": "0g"}), "raw: \"0g\" is not hex text"),
    ];
    for (change, words) in refused {
        let mut r = rec.clone();
        for (k, v) in change.as_object().expect("object") {
            r[k] = v.clone();
        }
        let got = message(&m, &r, "");
        assert!(got.as_ref().is_err_and(|e| e.contains(words)), "{change}: {:?}", got.err());
    }
}

/// The field `name` of the drifted schema's message: (kind, has presence), `None` when gone.
fn field_of(d: &FileDescriptorProto, name: &str) -> Option<(String, bool)> {
    let w = Doc::Protobuf(Box::new(d.clone())).writer(9).unwrap_or_else(|e| panic!("drifted schema does not compile: {e}"));
    let kind = |k: Kind| match k {
        Kind::Enum(_) => "Enum".to_string(),
        Kind::Message(m) => m.full_name().to_string(),
        other => format!("{other:?}").to_uppercase(),
    };
    message_of(&w).get_field_by_name(name).map(|f| (kind(f.kind()), f.supports_presence()))
}

#[test]
fn each_fault_gets_the_descriptor_its_producer_would_register() {
    let b = base();
    let Doc::Protobuf(d) = &b.doc else { panic!("a descriptor") };
    let f = |s: &str| s.to_string();
    // (fault, field, (kind, presence) in the drifted schema; None: no schema of its own,
    // Some(None): the field is gone)
    type Want<'a> = Option<Option<(&'a str, bool)>>;
    let cases: Vec<(Fault, &str, Want)> = vec![
        (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", Some(Some(("STRING", true)))),
        (Fault::NumberAsString { field: f("distance") }, "distance", Some(Some(("STRING", false)))),
        (Fault::CategoryAsNumber { field: f("origin") }, "origin", Some(Some(("INT32", false)))),
        (Fault::EpochMillis { field: f("time_hour") }, "time_hour", Some(Some(("INT64", false)))),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", Some(Some(("STRING", false)))),
        (Fault::Rename { from: f("tailnum"), to: f("tail") }, "tail", Some(Some(("STRING", true)))),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier", Some(None)),
        (Fault::Drop { field: f("dest") }, "dest", Some(None)),
        (Fault::Drop { field: f("dep_time") }, "dep_time", Some(None)),
        (Fault::Add { field: f("drill_extra"), value: json!(true) }, "drill_extra", Some(Some(("BOOL", false)))),
        (Fault::Null { field: f("carrier") }, "carrier", Some(Some(("STRING", true)))),
        (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, "origin", Some(Some(("Enum", false)))),
        // The base schema carries these.
        (Fault::NewCategory { field: f("carrier"), value: f("ZZ") }, "", None),
        (Fault::NewCategory { field: f("origin"), value: f("JFK") }, "", None),
        (Fault::Null { field: f("dep_time") }, "", None),
        (Fault::Null { field: f("time_hour") }, "", None),
        (Fault::Stale { field: f("time_hour"), by_ms: 1 }, "", None),
        (Fault::Duplicate, "", None),
        (Fault::Malformed, "", None),
    ];
    for (fault, field, want) in cases {
        let got = super::drift(d, &fault).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        match (&got, want) {
            (None, None) => {}
            (Some(s), Some(w)) => assert_eq!(field_of(s, field), w.map(|(k, p)| (k.to_string(), p)), "{fault:?}"),
            _ => panic!("{fault:?}: {got:?}"),
        }
    }
    // The new symbol is one the drifted enum names.
    let zzz = super::drift(d, &Fault::NewCategory { field: f("origin"), value: f("ZZZ") }).expect("drift").expect("schema");
    let m = message_of(&Doc::Protobuf(Box::new(zzz)).writer(9).expect("compiles"));
    let origin = m.get_field_by_name("origin").expect("origin");
    assert!(origin.kind().as_enum().is_some_and(|e| e.get_value_by_name("ZZZ").is_some_and(|v| v.number() == 3)));
    assert!(super::drift(d, &Fault::Drop { field: f("nope") }).is_err_and(|e| e.contains("\"nope\"")));
}

#[test]
fn the_gate_refuses_retyped_and_reshaped_messages_and_reads_the_others() {
    crate::drill::wire::tests::assert_drift_verdicts(&base(), ["", "", ""]);
}

fn ctx(index: u64) -> Ctx<'static> {
    Ctx { index, seed: 7, now_ms: 1_700_000_000_000, previous: None }
}

#[test]
fn injected_records_are_messages_of_their_writer_schema() {
    let b = base();
    let c = contract();
    let f = |s: &str| s.to_string();
    let rec = flight();
    // (fault, field, the value the gate reads; None: absent)
    let cases = [
        (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", Some(json!("2"))),
        (Fault::CategoryAsNumber { field: f("origin") }, "origin", Some(json!(1 + crate::drill::faults::mix(7, 0) % 100))),
        (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, "origin", Some(json!("ZZZ"))),
        (Fault::Null { field: f("carrier") }, "carrier", None),
        (Fault::Null { field: f("dep_time") }, "dep_time", None),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", Some(json!("UA"))),
        (Fault::EpochMillis { field: f("time_hour") }, "time_hour", Some(json!(1_357_034_400_000_i64))),
    ];
    for (fault, field, want) in cases {
        let fw = drift(&b.doc, &fault).expect("drift").map(|s| s.writer(9).expect("compiles"));
        let w = Writers { base: b.writer.clone(), fault: fw };
        let Ok(Out::Send(bytes)) = w.inject(&fault, &rec, &ctx(0)) else { panic!("{fault:?}: nothing sent") };
        let got = read(w.fault.as_ref().unwrap_or(&w.base), &bytes, &c);
        assert_eq!(got.get(field), want.as_ref(), "{fault:?}: {got}");
    }
    // A good record reads back as the contract's record.
    let good = Writers { base: b.writer.clone(), fault: None };
    let back = read(&good.base, &good.baseline(&rec).expect("fits"), &c);
    for k in ["carrier", "origin", "flight", "tailnum", "time_hour"] {
        assert_eq!(back.get(k), rec.get(k), "{k}: {back}");
    }
    // The baseline schema cannot leave a plain field unset: the fault needs its own schema.
    assert!(matches!(Fault::Null { field: f("carrier") }.apply(&rec, &ctx(0)), Applied::Record(_)));
    assert!(good.inject(&Fault::Null { field: f("carrier") }, &rec, &ctx(0)).is_err_and(|e| e.contains("carrier: null or absent")));
}

#[test]
fn malformed_protobuf_payloads_never_decode() {
    let b = base();
    let m = message_of(&b.writer);
    let full = b.writer.encode(&flight()).expect("fits");
    for index in 0..60 {
        let bytes = malformed(&b.writer, &full, &ctx(index));
        match index % 3 {
            0 => {
                assert!(bytes.len() < full.len() && bytes[..5] == full[..5], "{index}: a torn body under the same header");
                let decoded = split_indexes(&bytes[5..]).ok().map(|(_, body)| decode_body(&m, 1, body).is_ok());
                assert_ne!(decoded, Some(true), "{index}: a torn message must not read as a shorter one");
            }
            1 => assert_eq!(bytes[0], 0xFF, "{index}: wrong magic byte"),
            _ => assert_eq!((&bytes[1..5], &bytes[5..]), (&UNKNOWN_ID.to_be_bytes()[..], &full[5..]), "{index}: unknown id"),
        }
    }
}

#[test]
fn a_fault_the_format_cannot_carry_is_refused_before_the_drill() {
    let b = base();
    let f = |s: &str| s.to_string();
    // With its drifted schema the null-burst fits; without, a plain field cannot be unset.
    let fault = Fault::Null { field: f("carrier") };
    let drifted = drift(&b.doc, &fault).expect("drift");
    assert_eq!(crate::drill::wire::check_fault(&b.writer, drifted.as_ref(), &fault, &flight()), Ok(()));
    let e = crate::drill::wire::check_fault(&b.writer, None, &fault, &flight()).expect_err("no presence");
    assert!(e.contains("cannot be written in the binding's format") && e.contains("carrier: null or absent"), "{e}");
}
