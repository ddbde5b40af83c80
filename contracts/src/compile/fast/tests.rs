//! The fast walk against the full validator: same verdicts, windows and drift on generated
//! records, and the walk's own decisions table by table.

use super::*;
use crate::{compile, parse, CompiledContract};
use proptest::prelude::*;
use serde_json::json;
use std::sync::LazyLock;

const FLIGHTS: &str = include_str!("../../../../examples/flights/flights.odcs.yaml");

const FLIGHT: &str = r#"{"year":2013,"month":1,"day":1,"dep_time":517,"sched_dep_time":515,"dep_delay":2,"arr_time":830,"sched_arr_time":819,"arr_delay":11,"carrier":"UA","flight":1545,"tailnum":"N14228","origin":"EWR","dest":"IAH","air_time":227,"distance":1400,"hour":5,"minute":15,"time_hour":"2013-01-01T10:00:00Z"}"#;

/// Every construct the schema builder emits: float and exclusive bounds, multipleOf, bounds
/// past 2^53, lengths in code points, patterns, formats, date ranges, arrays, nested objects,
/// untyped fields, and probes reading keys the schema does not have.
const MIXED: &str = r#"
apiVersion: v3.1.0
kind: DataContract
id: mixed
version: 1.0.0
status: active
schema:
  - name: m
    properties:
      - name: n
        logicalType: integer
        logicalTypeOptions: { minimum: 1.5, exclusiveMaximum: 10 }
      - name: x
        logicalType: number
        required: true
        logicalTypeOptions: { exclusiveMinimum: -1, maximum: 1000, multipleOf: 0.5 }
      - name: big
        logicalType: integer
        logicalTypeOptions: { format: u64, maximum: 9007199254740993 }
      - name: f
        logicalType: number
        logicalTypeOptions: { maximum: 9007199254740992.5 }
      - name: s
        logicalType: string
        logicalTypeOptions: { minLength: 2, maxLength: 4, pattern: "^[a-zé]+$" }
        quality:
          - metric: nullValues
            mustBeLessThan: 50
            unit: percent
      - name: d
        logicalType: date
      - name: ts
        logicalType: timestamp
        logicalTypeOptions: { minimum: "2013-01-01T00:00:00Z", maximum: "2014-01-01T00:00:00Z" }
      - name: flag
        logicalType: boolean
        required: true
      - name: tags
        logicalType: array
        logicalTypeOptions: { maxItems: 2, uniqueItems: true }
        items: { name: tag, logicalType: string }
      - name: obj
        logicalType: object
        properties:
          - name: a
            logicalType: integer
            required: true
          - name: b
            logicalType: string
      - name: any
      - name: e
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: { validValues: [UA, AA] }
            mustBe: 0
          - metric: missingValues
            arguments: { missingValues: [null, "", "N/A"] }
            mustBeLessThan: 10
            unit: percent
    quality:
      - metric: duplicateValues
        arguments: { properties: [s, obj.a] }
        mustBeLessOrEqualTo: 50
        unit: percent
"#;

const MIXED_RECORD: &str = r#"{"n":3,"x":2.5,"big":5,"f":1,"s":"abé","d":"2020-02-29","ts":"2013-06-01T00:00:00Z","flag":true,"tags":["a"],"obj":{"a":1,"b":"x"},"any":[1],"e":"UA"}"#;

/// The contract compiled twice: with the fast walk, and without it (the full validator only).
fn pair(text: &str) -> (CompiledContract, CompiledContract) {
    let c = parse(text).expect("parses");
    let fast = compile(&c, None).expect("compiles");
    let mut full = compile(&c, None).expect("compiles");
    full.fast = None;
    assert!(fast.fast.is_some(), "the fast walk applies to this contract");
    (fast, full)
}

/// `text` allowing extra fields, its duplicate rule also reading `zz`, a field outside the
/// schema (only an object that allows extra fields may name one: elsewhere it is a lint error).
fn extra_allowed(text: &str) -> String {
    text.replacen("    properties:\n", "    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n    properties:\n", 1).replacen("properties: [s, obj.a] }", "properties: [s, obj.a, zz] }", 1)
}

fn walk_valid(c: &CompiledContract, rec: &Value) -> bool {
    let mut vals = vec![None; c.lookups.len()];
    c.fast.as_ref().is_some_and(|f| f.walk(rec, &mut vals).valid)
}

/// Checks `recs` in order on both paths; everything observable must be identical.
fn same_everywhere(fast: &CompiledContract, full: &CompiledContract, recs: &[Value]) {
    let (mut of, mut os) = (fast.observer(), full.observer());
    for rec in recs {
        let (a, b) = (fast.check(rec, &mut of), full.check(rec, &mut os));
        assert_eq!(a, b, "verdicts differ on {rec}");
    }
    assert_eq!(of.window, os.window);
    assert_eq!(of.drift, os.drift);
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![-3i64..20, Just(0), Just(2013), Just(2400), Just(-121), Just(1441), Just(i64::MIN), Just(i64::MAX), Just(9_007_199_254_740_993)].prop_map(Value::from),
        Just(json!(u64::MAX)),
        prop_oneof![Just(1.0f64), Just(2.0), Just(2.5), Just(-0.5), Just(-1.0), Just(1440.5), Just(1e300), Just(9_007_199_254_740_992.0)].prop_map(Value::from),
        prop::sample::select(vec!["", "UA", "ua", "AA", "N/A", "N14228", "D942DN", "EWR", "LGA", "XXX", "IAH", "é", "ab", "abé", "abcdé", "éééé", "2013-01-01T10:00:00Z", "2013-13-01T10:00:00Z", "2012-06-01T00:00:00Z", "2020-02-29", "2021-02-29"]).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from), inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid record with up to four fields set to a random value, removed, or added.
fn records(base: &'static str, keys: Vec<&'static str>) -> impl Strategy<Value = Vec<Value>> {
    let edit = (prop::sample::select(keys), prop::option::weighted(0.8, value()));
    let rec = (prop::collection::vec(edit, 0..4), prop::bool::weighted(0.03), value()).prop_map(move |(edits, whole, other)| {
        if whole {
            return other; // not an object at all, now and then
        }
        let mut rec: Value = serde_json::from_str(base).unwrap_or_default();
        if let Value::Object(m) = &mut rec {
            for (k, v) in edits {
                match v {
                    Some(v) => m.insert(k.to_string(), v),
                    None => m.remove(k),
                };
            }
        }
        rec
    });
    prop::collection::vec(rec, 1..6)
}

const FLIGHT_KEYS: &[&str] = &["year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "arr_delay", "carrier", "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour", "minute", "time_hour", "aaa", "extra"];
const MIXED_KEYS: &[&str] = &["n", "x", "big", "f", "s", "d", "ts", "flag", "tags", "obj", "any", "e", "zz", "aaa", "zzz"];

// Compiled once: the properties below run hundreds of cases.
static FLIGHTS_PAIR: LazyLock<(CompiledContract, CompiledContract)> = LazyLock::new(|| pair(FLIGHTS));
static MIXED_PAIR: LazyLock<(CompiledContract, CompiledContract)> = LazyLock::new(|| pair(MIXED));
static OPEN_PAIR: LazyLock<(CompiledContract, CompiledContract)> = LazyLock::new(|| pair(&extra_allowed(MIXED)));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn flights_fast_equals_full(recs in records(FLIGHT, FLIGHT_KEYS.to_vec())) {
        same_everywhere(&FLIGHTS_PAIR.0, &FLIGHTS_PAIR.1, &recs);
    }

    #[test]
    fn mixed_fast_equals_full(recs in records(MIXED_RECORD, MIXED_KEYS.to_vec())) {
        same_everywhere(&MIXED_PAIR.0, &MIXED_PAIR.1, &recs);
    }

    #[test]
    fn extra_fields_allowed_fast_equals_full(recs in records(MIXED_RECORD, MIXED_KEYS.to_vec())) {
        same_everywhere(&OPEN_PAIR.0, &OPEN_PAIR.1, &recs);
    }
}

#[test]
fn walk_decisions_table() {
    let (flights, mixed, open) = (&FLIGHTS_PAIR.0, &MIXED_PAIR.0, &OPEN_PAIR.0);
    let flight: Value = serde_json::from_str(FLIGHT).expect("record");
    let base: Value = serde_json::from_str(MIXED_RECORD).expect("record");
    let with = |rec: &Value, k: &str, v: Value| {
        let mut r = rec.clone();
        r[k] = v;
        r
    };
    let without = |rec: &Value, k: &str| {
        let mut r = rec.clone();
        r.as_object_mut().map(|m| m.remove(k));
        r
    };
    // (contract, record, whether the walk alone decides it passes)
    let cases: Vec<(&CompiledContract, Value, bool)> = vec![
        (flights, flight.clone(), true),
        (flights, with(&flight, "dep_time", Value::Null), true),
        (flights, with(&flight, "tailnum", Value::Null), true),
        (flights, with(&flight, "dep_delay", json!(-2.5)), true),
        (flights, with(&flight, "year", json!(2014)), false),
        (flights, with(&flight, "year", Value::Null), false),
        (flights, with(&flight, "flight", json!(1545.0)), false), // integral float: the full validator decides
        (flights, with(&flight, "distance", json!(0)), false),   // exclusiveMinimum 0
        (flights, with(&flight, "tailnum", json!("N1422800")), false),
        (flights, with(&flight, "carrier", json!("ua")), false), // pattern, delegated
        (flights, with(&flight, "time_hour", json!("2013-01-01")), false), // format, delegated
        (flights, with(&flight, "extra", json!(1)), false),
        (flights, without(&flight, "dest"), false),
        (flights, without(&flight, "dep_time"), true),
        (flights, json!([1]), false),
        (mixed, base.clone(), true),
        (mixed, with(&base, "n", json!(2)), true),
        (mixed, with(&base, "n", json!(1)), false), // below the float bound 1.5
        (mixed, with(&base, "n", json!(10)), false), // exclusiveMaximum
        (mixed, with(&base, "big", json!(9_007_199_254_740_993_u64)), true),
        (mixed, with(&base, "big", json!(9_007_199_254_740_994_u64)), false),
        (mixed, with(&base, "f", json!(9_007_199_254_740_993_u64)), false), // huge integer vs float bound: undecided
        (mixed, with(&base, "s", json!("éééé")), true), // four code points, eight bytes
        (mixed, with(&base, "s", json!("ééééé")), false),
        (mixed, with(&base, "x", json!(0.3)), false), // multipleOf, delegated
        (mixed, with(&base, "obj", json!({"b": "x"})), false), // nested required, delegated
        (mixed, with(&base, "any", json!({"deep": [null]})), true),
        (mixed, with(&base, "zz", json!(1)), false), // outside the schema
        (open, with(&base, "zz", json!(1)), true),   // read by a probe, yet outside the schema
        (open, with(&base, "zzz", json!(1)), true),
    ];
    for (i, (c, rec, want)) in cases.iter().enumerate() {
        assert_eq!(walk_valid(c, rec), *want, "case {i}: {rec}");
    }
}

#[test]
fn walk_finds_keys_in_any_order() {
    // serde_json's `preserve_order` feature keeps insertion order; the walk must not depend on
    // sorted keys for correctness, only for speed.
    let schema = FLIGHTS_PAIR.0.fast.as_ref().expect("fast walk");
    let names: Vec<&str> = schema.fields.iter().rev().map(|f| f.name.as_str()).collect();
    let mut cursor = 0;
    for n in &names {
        assert!(schema.find(n, &mut cursor).is_some_and(|f| f.name == *n), "{n}");
    }
    assert!(schema.find("nope", &mut 0).is_none());
}

#[test]
fn numbers_compare_exactly() {
    let n = |v: Value| match v {
        Value::Number(n) => n,
        _ => unreachable!("a number"),
    };
    let cases = [
        (json!(1), json!(1.5), Some(Ordering::Less)),
        (json!(2), json!(1.5), Some(Ordering::Greater)),
        (json!(u64::MAX), json!(-1), Some(Ordering::Greater)),
        (json!(i64::MIN), json!(u64::MAX), Some(Ordering::Less)),
        (json!(9_007_199_254_740_992_i64), json!(9_007_199_254_740_992.0), Some(Ordering::Equal)),
        (json!(9_007_199_254_740_993_i64), json!(9_007_199_254_740_992.0), None),
        (json!(-0.5), json!(0), Some(Ordering::Less)),
    ];
    for (a, b, want) in cases {
        assert_eq!(cmp_num(&n(a.clone()), &n(b.clone())), want, "{a} vs {b}");
    }
}

#[test]
fn lengths_are_code_points_whatever_the_byte_length_suggests() {
    let check = |min: Option<u64>, max: Option<u64>| FieldCheck { types: ANY, bounds: Vec::new(), ints: None, min_len: min, max_len: max, rest: None };
    // 1-, 2-, 3- and 4-byte characters, at and around bounds the byte length alone would get wrong.
    let strings = ["", "a", "ab", "abcd", "é", "éé", "ééé", "€€", "€€€", "𝄞", "𝄞𝄞", "a𝄞", "𝄞𝄞𝄞𝄞", "aaaaaaaa"];
    let bounds = [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), Some(8)];
    for s in strings {
        let n = s.chars().count() as u64;
        for min in bounds {
            for max in bounds {
                let want = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                assert_eq!(check(min, max).lengths_ok(s), want, "{s:?} min {min:?} max {max:?}");
            }
        }
    }
}
