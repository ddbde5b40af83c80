//! Load-independent cost comparison: run one operation N times, to be counted with
//! `valgrind --tool=callgrind` (instructions do not depend on what else the machine runs).
//! Usage: `costs parse|decode|into|scan|check|bare|nulls N` (and `_sorted`) (see
//! BENCHMARKS.md); `parse` is `serde_json::from_str`, `decode` the gate's own decoding of a JSON
//! payload, `_sorted` the same record with its keys sorted (as the flights JSONL has them),
//! `scan` the parser reading the record without building anything (the floor of any decode
//! that reads every byte), `into` the record loop's decoding into the previous record.

use contracts::{compile, parse};
use serde_json::Value;
use std::hint::black_box;

const RECORD: &str = r#"{"year":2013,"month":1,"day":1,"dep_time":517,"sched_dep_time":515,"dep_delay":2,"arr_time":830,"sched_arr_time":819,"arr_delay":11,"carrier":"UA","flight":1545,"tailnum":"N14228","origin":"EWR","dest":"IAH","air_time":227,"distance":1400,"hour":5,"minute":15,"time_hour":"2013-01-01T10:00:00Z"}"#;

/// The same record with its keys sorted, as `serde_json` (and the flights JSONL) write them.
const SORTED: &str = r#"{"air_time":227,"arr_delay":11,"arr_time":830,"carrier":"UA","day":1,"dep_delay":2,"dep_time":517,"dest":"IAH","distance":1400,"flight":1545,"hour":5,"minute":15,"month":1,"origin":"EWR","sched_arr_time":819,"sched_dep_time":515,"tailnum":"N14228","time_hour":"2013-01-01T10:00:00Z","year":2013}"#;

fn untyped(with_rules: bool) -> String {
    let rec: serde_json::Map<String, Value> = serde_json::from_str(RECORD).unwrap_or_default();
    let mut s = String::from("apiVersion: v3.1.0\nkind: DataContract\nid: b\nversion: 1.0.0\nstatus: active\nschema:\n  - name: f\n    properties:\n");
    for f in rec.keys() {
        s.push_str(&format!("      - name: {f}\n"));
        if with_rules {
            s.push_str("        quality:\n          - metric: nullValues\n            mustBeLessThan: 5\n            unit: percent\n");
        }
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("check", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let text = match mode {
        "bare" => untyped(false),
        "nulls" => untyped(true),
        _ => std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/flights.odcs.yaml")).unwrap_or_default(),
    };
    let Ok(c) = parse(&text).and_then(|c| compile(&c, None)) else {
        eprintln!("contract does not compile");
        std::process::exit(2);
    };
    let Ok(rec) = serde_json::from_str::<Value>(RECORD) else { std::process::exit(2) };
    let mut obs = c.observer();
    let mut place = Value::Null;
    for _ in 0..n {
        let text = if mode.ends_with("_sorted") { SORTED } else { RECORD };
        if mode == "scan" {
            black_box(serde_json::from_str::<serde::de::IgnoredAny>(black_box(text)).ok());
        } else if mode.starts_with("parse") {
            black_box(serde_json::from_str::<Value>(black_box(text)).ok());
        } else if mode.starts_with("into") {
            black_box(contracts::decode::decode_json_into(black_box(text.as_bytes()), contracts::decode::DecodeLimits::default(), &mut place).ok());
        } else if mode.starts_with("decode") {
            black_box(contracts::decode::decode_json(black_box(text.as_bytes()), contracts::decode::DecodeLimits::default()).ok());
        } else {
            obs.clear_duplicates();
            black_box(c.check(black_box(&rec), &mut obs));
        }
    }
}
