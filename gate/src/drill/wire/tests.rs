//! The Avro side of drills, offline: the drifted schema each fault needs, how the drill
//! contract's gate judges it, and the bytes sent (the wrong magic byte and the unknown id
//! are the same bytes in every format).

use super::avro::drift as avro_drift;
use super::*;
use contracts::avro::{decode_body, parse_wire, GenericDatumReader, WireError};
use serde_json::json;
use std::path::{Path, PathBuf};

fn examples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(rel)
}

fn avsc() -> Value {
    serde_json::from_str(&std::fs::read_to_string(examples("flights/flights.avsc")).expect("avsc")).expect("json")
}

fn base(allowed: Option<Vec<u32>>) -> Base {
    let raw = contracts::parse(&std::fs::read_to_string(examples("drills/flights.odcs.yaml")).expect("contract")).expect("parse");
    let compiled = contracts::compile(&raw, None).expect("compile");
    Base::new(Format::Avro, 1, &avsc().to_string(), Arc::new(compiled), allowed).expect("the flights schema carries the drill contract")
}

fn flight() -> Value {
    let text = std::fs::read_to_string(examples("flights/sample.jsonl")).expect("sample");
    serde_json::from_str(text.lines().next().expect("a line")).expect("json")
}

fn field_type<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema["fields"].as_array()?.iter().find(|f| f["name"] == name).map(|f| &f["type"])
}

fn ctx(index: u64) -> Ctx<'static> {
    Ctx { index, seed: 7, now_ms: 1_700_000_000_000, previous: Some(b"\0\0\0\0\x01prev") }
}

#[test]
fn each_fault_gets_the_writer_schema_its_producer_would_register() {
    let f = |s: &str| s.to_string();
    // (fault, field to look at, its type in the drifted schema; None: no schema of its own,
    // absent: the field is gone)
    let cases: Vec<(Fault, &str, Option<Option<Value>>)> = vec![
        (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", Some(Some(json!(["null", "string"])))),
        (Fault::NumberAsString { field: f("distance") }, "distance", Some(Some(json!("string")))),
        (Fault::CategoryAsNumber { field: f("origin") }, "origin", Some(Some(json!("int")))),
        (Fault::EpochMillis { field: f("time_hour") }, "time_hour", Some(Some(json!("long")))),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", Some(Some(json!("string")))),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier", Some(None)),
        (Fault::Drop { field: f("dest") }, "dest", Some(None)),
        (Fault::Add { field: f("drill_extra"), value: json!(true) }, "drill_extra", Some(Some(json!(["null", "boolean"])))),
        (Fault::Null { field: f("carrier") }, "carrier", Some(Some(json!(["null", "string"])))),
        (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, "origin", Some(Some(json!({"type": "enum", "name": "Origin", "symbols": ["EWR", "JFK", "LGA", "ZZZ"]})))),
        // The base schema carries these.
        (Fault::NewCategory { field: f("carrier"), value: f("ZZ") }, "carrier", None),
        (Fault::NewCategory { field: f("origin"), value: f("JFK") }, "origin", None),
        (Fault::Null { field: f("dep_time") }, "dep_time", None),
        (Fault::Stale { field: f("time_hour"), by_ms: 60_000 }, "time_hour", None),
        (Fault::Duplicate, "", None),
        (Fault::Malformed, "", None),
        (Fault::Silence, "", None),
    ];
    for (fault, field, want) in cases {
        let got = avro_drift(&avsc(), &fault).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        match (&got, want) {
            (None, None) => {}
            (Some(s), Some(ty)) => {
                assert_eq!(field_type(s, field), ty.as_ref(), "{fault:?}");
                Schema::parse(s).unwrap_or_else(|e| panic!("{fault:?}: drifted schema does not parse: {e}"));
            }
            _ => panic!("{fault:?}: {got:?}"),
        }
    }
    let e = avro_drift(&avsc(), &Fault::Drop { field: f("nope") }).expect_err("no such field");
    assert!(e.contains("\"nope\""), "{e}");
    assert!(avro_drift(&json!("string"), &Fault::Drop { field: f("x") }).is_err_and(|e| e.contains("not a record")));
}

/// The gate's verdict on the drifted schema of each fault, for every wire format: retyped and
/// reshaped schemas are refused as drift with these words, a new category or a null is read.
/// `writer`: how each format names the writer's type of a retyped `dep_delay`, `origin` and
/// `time_hour`.
pub(in crate::drill::wire) fn assert_drift_verdicts(b: &Base, writer: [&str; 3]) {
    let f = |s: &str| s.to_string();
    let [delay, origin, time] = writer.map(|w| w.to_string());
    // (fault, refused as drift, words of the reason)
    let cases = [
        (Fault::NumberAsString { field: f("dep_delay") }, true, format!("dep_delay: contract number, writer{delay}")),
        (Fault::CategoryAsNumber { field: f("origin") }, true, format!("origin: contract string, writer{origin}")),
        (Fault::EpochMillis { field: f("time_hour") }, true, format!("time_hour: contract timestamp, writer{time}")),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, true, f("carrier: missing")),
        (Fault::Drop { field: f("tailnum") }, true, f("tailnum: missing")),
        (Fault::Add { field: f("drill_extra"), value: json!(true) }, true, f("drill_extra: not in the contract")),
        (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, false, String::new()),
        (Fault::Null { field: f("carrier") }, false, String::new()),
    ];
    for (fault, refused, words) in cases {
        let s = drift(&b.doc, &fault).expect("drift").expect("a schema of its own");
        let why = b.refuses(&s).expect("compiles");
        assert_eq!(why.is_some(), refused, "{fault:?}: {why:?}");
        assert!(why.unwrap_or_default().contains(&words), "{fault:?}");
    }
}

#[test]
fn the_gate_refuses_retyped_and_reshaped_schemas_and_reads_the_others() {
    let b = base(None);
    let f = |s: &str| s.to_string();
    assert_drift_verdicts(&b, [" union [null, string]", " int", " long"]);
    // Pinned ids: every new schema is drift.
    let pinned = base(Some(vec![1]));
    let s = drift(&pinned.doc, &Fault::Null { field: f("carrier") }).expect("drift").expect("schema");
    assert!(pinned.refuses(&s).expect("parses").is_some_and(|w| w.contains("allowed_schema_ids")));
    // A base the gate would refuse is no base.
    let raw = contracts::parse(&std::fs::read_to_string(examples("drills/flights.odcs.yaml")).expect("contract")).expect("parse");
    let compiled = Arc::new(contracts::compile(&raw, None).expect("compile"));
    let dropped = avro_drift(&avsc(), &Fault::Drop { field: f("dest") }).expect("drift").expect("schema");
    assert!(Base::new(Format::Avro, 4, &dropped.to_string(), Arc::clone(&compiled), None).is_err_and(|e| e.contains("dest: missing")));
    assert!(Base::new(Format::Avro, 1, &avsc().to_string(), compiled, Some(vec![2])).is_err_and(|e| e.contains("allowed_schema_ids")));
}

fn schema(w: &Writer) -> &Schema {
    match &w.codec {
        Codec::Avro(s) => s,
        other => panic!("not Avro: {other:?}"),
    }
}

/// Decodes a wire-format payload with `w`'s schema, as plain JSON (enums as their symbol).
fn read(w: &Writer, payload: &[u8]) -> Value {
    let (id, body) = parse_wire(payload).expect("wire format");
    assert_eq!(id, w.id);
    let reader = GenericDatumReader::builder(schema(w)).build().expect("reader");
    Value::try_from(decode_body(&reader, id, body).expect("decodes")).expect("json")
}

#[test]
fn injected_records_are_framed_with_their_writer_schema() {
    let b = base(None);
    let f = |s: &str| s.to_string();
    let rec = flight();
    // (fault, field, the value the gate reads; the fault's schema gets id 9)
    let cases = [
        (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", json!("2")),
        (Fault::CategoryAsNumber { field: f("origin") }, "origin", json!(1 + mix(7, 0) % 100)),
        (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, "origin", json!("ZZZ")),
        (Fault::Null { field: f("dep_time") }, "dep_time", Value::Null),
        (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", json!("UA")),
    ];
    for (fault, field, want) in cases {
        let drifted = drift(&b.doc, &fault).expect("drift").map(|s| s.writer(9).expect("parses"));
        let w = Writers { base: b.writer.clone(), fault: drifted };
        let Ok(Out::Send(bytes)) = w.inject(&fault, &rec, &ctx(0)) else { panic!("{fault:?}: nothing sent") };
        let got = read(w.fault.as_ref().unwrap_or(&w.base), &bytes);
        assert_eq!(got.get(field), Some(&want), "{fault:?}: {got}");
    }
    // A good record with the base schema reads back as the contract's record.
    let good = Writers { base: b.writer.clone(), fault: None };
    let bytes = good.baseline(&rec).expect("fits");
    let back = read(&good.base, &bytes);
    assert_eq!((back["carrier"].clone(), back["time_hour"].clone(), back["origin"].clone()), (json!("UA"), json!(1_357_034_400_000_i64), json!("EWR")));
    // A duplicate is the previous payload, byte for byte.
    assert_eq!(good.inject(&Fault::Duplicate, &rec, &ctx(0)), Ok(Out::Send(b"\0\0\0\0\x01prev".to_vec())));
    assert_eq!(good.inject(&Fault::Silence, &rec, &ctx(0)), Ok(Out::Skip));
}

#[test]
fn malformed_records_are_not_readable_wire_format() {
    let b = base(None);
    let w = Writers { base: b.writer.clone(), fault: None };
    let full = w.baseline(&flight()).expect("fits");
    let reader = GenericDatumReader::builder(schema(&b.writer)).build().expect("reader");
    for index in 0..30 {
        let Ok(Out::Send(bytes)) = w.inject(&Fault::Malformed, &flight(), &ctx(index)) else { panic!("nothing sent") };
        match index % 3 {
            0 => {
                let (id, body) = parse_wire(&bytes).expect("the header is intact");
                assert!(bytes.len() < full.len() && id == 1, "{index}: a torn body");
                assert!(decode_body(&reader, id, body).is_err(), "{index}: a prefix of a body never decodes");
            }
            1 => assert_eq!(parse_wire(&bytes), Err(WireError::Magic { found: 0xFF }), "{index}"),
            _ => assert_eq!(parse_wire(&bytes).map(|(id, body)| (id, body.len())), Ok((UNKNOWN_ID, full.len() - HEADER_LEN)), "{index}"),
        }
    }
}

#[test]
fn the_baseline_must_fit_the_writer_schema() {
    let b = base(None);
    let mut recs = vec![flight(), flight()];
    assert_eq!(check_baseline(&recs, Some("time_hour"), &b.writer), Ok(()));
    recs[1]["origin"] = json!("BOS");
    let e = check_baseline(&recs, Some("time_hour"), &b.writer).expect_err("BOS is no Origin symbol");
    assert!(e.starts_with("baseline record 2 does not fit the writer schema id 1") && e.contains("origin"), "{e}");
}
