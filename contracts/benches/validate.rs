//! Per-record costs: parsing a flights record, checking it, and updating window metrics.
//! Run: `cargo bench -p contracts --bench validate`

use contracts::{compile, parse};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::Value;
use std::hint::black_box;

const RECORD: &str = r#"{"year":2013,"month":1,"day":1,"dep_time":517,"sched_dep_time":515,"dep_delay":2,"arr_time":830,"sched_arr_time":819,"arr_delay":11,"carrier":"UA","flight":1545,"tailnum":"N14228","origin":"EWR","dest":"IAH","air_time":227,"distance":1400,"hour":5,"minute":15,"time_hour":"2013-01-01T10:00:00Z"}"#;

const FIELDS: [&str; 19] = [
    "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "arr_delay", "carrier",
    "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour", "minute", "time_hour",
];

/// A contract naming every field with no type, with or without one nullValues rule per field:
/// the difference between the two is the window-metric update cost.
fn untyped(with_rules: bool) -> String {
    let mut s = String::from("apiVersion: v3.1.0\nkind: DataContract\nid: b\nversion: 1.0.0\nstatus: active\nschema:\n  - name: f\n    properties:\n");
    for f in FIELDS {
        s.push_str(&format!("      - name: {f}\n"));
        if with_rules {
            s.push_str("        quality:\n          - metric: nullValues\n            mustBeLessThan: 5\n            unit: percent\n");
        }
    }
    s
}

fn benches(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/flights.odcs.yaml")).expect("example contract");
    let flights = compile(&parse(&text).expect("parse"), None).expect("compile");
    let rec: Value = serde_json::from_str(RECORD).expect("record");
    let mut bad = rec.clone();
    bad["dep_delay"] = Value::String("2".into());

    let mut g = c.benchmark_group("record");
    g.bench_function("parse_json", |b| b.iter(|| serde_json::from_str::<Value>(black_box(RECORD)).expect("parse")));
    let mut obs = flights.observer();
    g.bench_function("check_valid", |b| {
        b.iter(|| {
            // Duplicate detection would flag every repeat of the same record; clear it so the
            // benchmark measures the valid path.
            obs.clear_duplicates();
            black_box(flights.check(black_box(&rec), &mut obs))
        })
    });
    g.bench_function("check_invalid", |b| {
        b.iter(|| {
            obs.clear_duplicates();
            black_box(flights.check(black_box(&bad), &mut obs))
        })
    });
    let bare = compile(&parse(&untyped(false)).expect("parse"), None).expect("compile");
    let nulls = compile(&parse(&untyped(true)).expect("parse"), None).expect("compile");
    let mut o1 = bare.observer();
    let mut o2 = nulls.observer();
    g.bench_function("window_bare_19_fields", |b| b.iter(|| black_box(bare.check(black_box(&rec), &mut o1))));
    g.bench_function("window_nulls_19_fields", |b| b.iter(|| black_box(nulls.check(black_box(&rec), &mut o2))));
    g.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
