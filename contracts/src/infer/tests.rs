use super::rules::{self, End, Spread};
use super::*;
use crate::model::LogicalType;
use crate::Severity;
use serde_json::json;

#[test]
fn rounding_outward_to_two_significant_digits() {
    // (x, up, integer, want)
    let cases = [
        (4218.0, true, true, 4300.0),
        (12361.0, true, true, 13000.0),
        (-452.0, false, true, -460.0),
        (-452.0, true, true, -450.0),
        (0.372, true, false, 0.38),
        (0.372, false, false, 0.37),
        (5.05, true, false, 5.1),
        (1.898, true, false, 1.9),
        (0.0998, true, false, 0.1),
        (7.2, true, true, 8.0),
        (7.2, false, true, 7.0),
        (0.0, true, true, 0.0),
        (5e-324, true, false, 5e-324),
        (0.38, true, false, 0.38),
        (4300.0, true, true, 4300.0),
    ];
    for (x, up, integer, want) in cases {
        assert_eq!(rules::round_outward(x, up, integer), want, "round_outward({x}, up {up}, integer {integer})");
    }
    // Outward whatever the magnitude.
    for x in [1e300, -3.7e-12, 123_456_789.0, -0.000_5, 9.99] {
        assert!(rules::round_outward(x, true, false) >= x && rules::round_outward(x, false, false) <= x, "{x}");
    }
}

fn spread(values: &[f64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Spread::of(&v).expect("values")
}

#[test]
fn range_ends_table() {
    let months: Vec<f64> = (0..1200).map(|i| f64::from(i % 12 + 1)).collect();
    // A bulk from 0 to 49 and one far value: a thin upper tail.
    let tailed: Vec<f64> = (0..1000).map(|i| f64::from(i % 50)).chain([900.0]).collect();
    // Spread evenly, extremes held once: widened by the span, clamped at zero below.
    let even: Vec<f64> = (0..150).map(|i| f64::from(i) * 10.0 + 500.0).collect();
    let negative: Vec<f64> = (0..150).map(|i| f64::from(i) - 200.0).collect();
    let small = [3.0, 5.0, 9.0];
    let cases: Vec<(&str, Vec<f64>, bool, End, End)> = vec![
        ("edges held by many values are kept", months, true, End::Edge(1.0), End::Edge(12.0)),
        ("a thin tail gets no bound", tailed, true, End::Edge(0.0), End::Tail),
        ("spread values widen by the span", even, true, End::Widened(0.0), End::Widened(3500.0)),
        ("negative values widen below zero, not above it", negative, true, End::Widened(-350.0), End::Widened(0.0)),
        ("few values: no tails, extremes held once widen", small.to_vec(), true, End::Widened(0.0), End::Widened(15.0)),
        ("a constant is its own range", vec![2013.0; 50], true, End::Edge(2013.0), End::Edge(2013.0)),
    ];
    for (what, values, integer, lo, hi) in cases {
        assert_eq!(rules::range_ends(&spread(&values), integer), (lo, hi), "{what}");
    }
}

#[test]
fn rate_limits_table() {
    for (observed, want) in [(2.53, Some(5.1)), (0.9, Some(1.9)), (0.01, Some(1.1)), (30.0, Some(60.0)), (50.0, None), (70.0, None)] {
        assert_eq!(rules::null_limit(observed), want, "null_limit({observed})");
    }
    for (n, want) in [(3007, 0.1), (200, 1.5), (100, 3.0), (1, 100.0), (0, 100.0)] {
        assert_eq!(rules::unseen_limit(n), want, "unseen_limit({n})");
    }
}

#[test]
fn enumeration_table() {
    let counts = |pairs: &[(&str, u64)]| pairs.iter().map(|(s, c)| ((*s).to_string(), *c)).collect::<Vec<_>>();
    let many: Vec<(String, u64)> = (0..21).map(|i| (format!("v{i}"), 20)).collect();
    type Case<'a> = (&'a str, Vec<(String, u64)>, u64, bool, Option<Vec<&'a str>>);
    let cases: Vec<Case<'_>> = vec![
        ("few values, enough records, each twice", counts(&[("LGA", 100), ("EWR", 98), ("JFK", 2)]), 200, false, Some(vec!["EWR", "JFK", "LGA"])),
        ("a value seen once", counts(&[("LGA", 150), ("EWR", 99), ("JFK", 1)]), 250, false, None),
        ("too few records", counts(&[("a", 100), ("b", 99)]), 199, false, None),
        ("more than 20 values", many, 420, false, None),
        ("more values than were kept", counts(&[("a", 300)]), 300, true, None),
    ];
    for (what, c, n, too_many, want) in cases {
        let want = want.map(|w| w.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(rules::enumeration(&c, n, too_many), want, "{what}");
    }
}

fn first_property(records: &[Value]) -> Value {
    let mut inf = Inferrer::default();
    records.iter().for_each(|r| inf.add(r));
    let draft = inf.draft(&Options { id: "t".into(), source: "test".into(), ..Options::default() }).expect("draft");
    let v = serde_json::to_value(&draft.doc).expect("json");
    v["schema"][0]["properties"][0].clone()
}

#[test]
fn type_and_format_inference_table() {
    // (values of field `f`, logicalType, format, required)
    type Case<'a> = (Vec<Value>, Option<&'a str>, Option<&'a str>, bool);
    let cases: Vec<Case<'_>> = vec![
        (vec![json!(1), json!(-2), json!(3)], Some("integer"), None, true),
        (vec![json!(1), json!(2.5)], Some("number"), None, true),
        (vec![json!(true), json!(false), Value::Null], Some("boolean"), None, false),
        (vec![json!("2024-01-31"), json!("2023-02-28")], Some("date"), None, true),
        (vec![json!("2024-01-31"), json!("2024-02-30")], Some("string"), None, true),
        (vec![json!("2013-01-01T10:00:00Z"), json!("2013-01-01T10:00:00.5+02:00")], Some("timestamp"), None, true),
        (vec![json!("2013-01-01T10:00:00Z"), json!("2013-01-01 10:00")], Some("string"), None, true),
        (vec![json!("10:00:00"), json!("23:59")], Some("time"), None, true),
        (vec![json!("ada@example.com"), json!("bo@example.org")], Some("string"), Some("email"), true),
        (vec![json!("0d1c2f0e-7f5a-4c53-9a51-0c4a3f1d2e7b"), json!("6f1c3d4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")], Some("string"), Some("uuid"), true),
        (vec![json!("a"), json!(1)], None, None, true),
        (vec![json!({"x": 1}), json!({"x": 2, "y": "z"})], Some("object"), None, true),
        (vec![json!([1, 2]), json!([])], Some("array"), None, true),
        (vec![Value::Null, Value::Null], None, None, false),
    ];
    for (values, ty, format, required) in cases {
        let records: Vec<Value> = values.iter().map(|v| json!({ "f": v })).collect();
        let p = first_property(&records);
        assert_eq!(p["logicalType"].as_str(), ty, "{values:?}: {p}");
        assert_eq!(p["logicalTypeOptions"]["format"].as_str(), format, "{values:?}: {p}");
        assert_eq!(p["required"].as_bool().unwrap_or(false), required, "{values:?}: {p}");
        assert_eq!(p["customProperties"][0]["property"], "gateInferred", "{values:?}: {p}");
    }
}

#[test]
fn nested_objects_and_array_items_are_profiled() {
    let records: Vec<Value> = (0..10).map(|i| json!({ "o": { "a": i, "b": if i == 0 { Value::Null } else { json!("x") } }, "l": [{ "k": i }, { "k": i + 1 }] })).collect();
    let mut inf = Inferrer::default();
    records.iter().for_each(|r| inf.add(r));
    let v = serde_json::to_value(&inf.draft(&Options { id: "n".into(), ..Options::default() }).expect("draft").doc).expect("json");
    // Properties come in key order (records are JSON maps with sorted keys): `l`, then `o`.
    let o = &v["schema"][0]["properties"][1];
    assert_eq!((o["name"].as_str(), o["logicalType"].as_str()), (Some("o"), Some("object")));
    assert_eq!(o["properties"][0]["required"], true);
    assert_eq!(o["properties"][1]["required"], Value::Null, "b is null in one object");
    assert_eq!(o["properties"][1]["quality"][0]["id"], "o.b.nullValues");
    let l = &v["schema"][0]["properties"][0];
    assert_eq!(l["items"]["logicalType"], "object");
    assert_eq!(l["items"]["properties"][0]["logicalType"], "integer");
    assert_eq!(l["items"]["properties"][0]["quality"], Value::Null, "no window rules inside arrays");
    let yaml = inf.draft(&Options { id: "n".into(), ..Options::default() }).and_then(|d| d.to_yaml()).expect("yaml");
    let compiled = crate::compile(&crate::parse(&yaml).expect("parses"), None).expect("compiles");
    let mut batch = crate::batch::Batch::new(&compiled, 0);
    for (i, r) in (1u64..).zip(&records) {
        batch.record(i, r);
    }
    let report = batch.finish(0);
    assert!(report.passed, "{report:#?}\n{yaml}");
}

#[test]
fn csv_columns_are_typed_from_their_cells() {
    let cases: Vec<(&[&str], Option<LogicalType>)> = vec![
        (&["1", "-2", "30"], Some(LogicalType::Integer)),
        (&["1", "2.5", "1e3"], Some(LogicalType::Number)),
        (&["true", "False", "TRUE"], Some(LogicalType::Boolean)),
        (&["1", "x"], None),
        (&["inf"], None),
        (&[], None),
    ];
    for (cells, want) in cases {
        let mut c = rules::CsvColumn::default();
        cells.iter().for_each(|x| c.add(x));
        assert_eq!(c.logical_type(), want, "{cells:?}");
    }
}

/// A synthetic feed with every kind of rule: the draft lints without errors and the records
/// it came from pass `check` against it.
#[test]
fn a_draft_lints_and_passes_on_its_own_sample() {
    let records: Vec<Value> = (0..400)
        .map(|i: i64| {
            let status = ["NEW", "PAID", "SHIPPED"][usize::try_from(i % 3).unwrap_or(0)];
            json!({
                "order_id": format!("o-{i}"),
                "status": status,
                "amount": (i * 37 % 1000) as f64 / 10.0,
                "note": if i % 10 == 0 { Value::Null } else { json!(format!("note {i}")) },
                "placed": format!("2024-03-{:02}T10:00:00Z", i % 28 + 1),
                "customer": { "email": format!("c{}@example.com", i % 50), "vip": i % 7 == 0 },
                "lines": [{ "sku": format!("S{}", i % 9), "qty": i % 4 + 1 }],
            })
        })
        .collect();
    let mut inf = Inferrer::default();
    records.iter().for_each(|r| inf.add(r));
    inf.add_undecodable();
    let draft = inf.draft(&Options { id: "orders".into(), source: "synthetic\norders".into(), physical_type: Some("topic".into()), ..Options::default() }).expect("draft");
    assert_eq!((draft.summary.records, draft.summary.undecodable), (401, 1));
    let yaml = draft.to_yaml().expect("yaml");
    assert!(yaml.starts_with("# DRAFT data contract") && yaml.contains("synthetic?orders"), "{yaml}");
    let errors: Vec<_> = crate::compile::lint_source(&yaml).into_iter().filter(|p| p.severity == Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:?}\n{yaml}");
    for want in ["order_id.duplicateValues", "status.invalidValues", "note.nullValues", "format: email", "logicalType: timestamp", "gateDistribution"] {
        assert!(yaml.contains(want), "no {want}:\n{yaml}");
    }
    let compiled = crate::compile(&crate::parse(&yaml).expect("parses"), None).expect("compiles");
    let mut batch = crate::batch::Batch::new(&compiled, 0);
    for (i, r) in (1u64..).zip(&records) {
        batch.record(i, r);
    }
    let report = batch.finish(0);
    assert!(report.passed, "{report:#?}");
}

#[test]
fn fields_no_property_can_name_allow_extra_fields() {
    let records = [json!({ "": 1, "a": 2 }), json!({ "a": 3, "o": { "": "x" } })];
    let mut inf = Inferrer::default();
    records.iter().for_each(|r| inf.add(r));
    let yaml = inf.draft(&Options { id: "e".into(), ..Options::default() }).and_then(|d| d.to_yaml()).expect("yaml");
    assert!(yaml.contains("gateAllowExtraFields") && yaml.contains("2 fields have an empty name"), "{yaml}");
    let compiled = crate::compile(&crate::parse(&yaml).expect("parses"), None).expect("compiles");
    let mut batch = crate::batch::Batch::new(&compiled, 0);
    for (i, r) in (1u64..).zip(&records) {
        batch.record(i, r);
    }
    let report = batch.finish(0);
    assert!(report.passed, "{report:#?}\n{yaml}");
}

#[test]
fn no_objects_no_draft() {
    let mut inf = Inferrer::default();
    inf.add(&json!([1, 2]));
    inf.add_undecodable();
    let err = inf.draft(&Options::default()).expect_err("nothing to infer from");
    assert!(err.to_string().contains("2 read, none a JSON object (1 did not decode)"), "{err}");
}

mod any_sample {
    use super::{json, Inferrer, Options, Severity, Value};
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1_000_000i64..1_000_000).prop_map(|i| json!(i)),
            (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
            "[a-z0-9 ]{0,12}".prop_map(Value::String),
            prop::sample::select(vec!["2024-01-31", "1999-12-01"]).prop_map(|s| json!(s)),
            (0i64..5).prop_map(|i| json!({ "n": i })),
            prop::collection::vec(0i64..3, 0..3).prop_map(|v| json!(v)),
        ]
    }

    fn record() -> impl Strategy<Value = Value> {
        // Four fields, each sometimes absent: kinds mix freely between records.
        prop::collection::vec(prop::option::of(value()), 4).prop_map(|vs| {
            let mut m = serde_json::Map::new();
            for (i, v) in vs.into_iter().enumerate() {
                if let Some(v) = v {
                    m.insert(format!("f{i}"), v);
                }
            }
            Value::Object(m)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the records, the draft lints without errors and they pass `check` on it.
        #[test]
        fn any_sample_passes_its_own_draft(records in prop::collection::vec(record(), 1..300)) {
            let mut inf = Inferrer::default();
            records.iter().for_each(|r| inf.add(r));
            let yaml = inf.draft(&Options { id: "p".into(), ..Options::default() }).and_then(|d| d.to_yaml()).expect("yaml");
            let errors: Vec<_> = crate::compile::lint_source(&yaml).into_iter().filter(|p| p.severity == Severity::Error).collect();
            prop_assert!(errors.is_empty(), "{errors:?}\n{yaml}");
            let compiled = crate::compile(&crate::parse(&yaml).expect("parses"), None).expect("compiles");
            let mut batch = crate::batch::Batch::new(&compiled, 0);
            for (i, r) in (1u64..).zip(&records) {
                batch.record(i, r);
            }
            let report = batch.finish(0);
            prop_assert!(report.passed, "{report:#?}\n{yaml}");
        }
    }
}
