//! Record checks and window rules, table-driven, on a small contract that uses every kind.

use contracts::batch::Batch;
use contracts::{compile, parse, CompiledContract};
use serde_json::{json, Value};

const CONTRACT: &str = r#"
apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - name: id
        logicalType: string
        required: true
        unique: true
        logicalTypeOptions: { format: uuid }
      - name: qty
        logicalType: integer
        required: true
        logicalTypeOptions: { minimum: 1, maximum: 100 }
      - name: price
        logicalType: number
        logicalTypeOptions: { exclusiveMinimum: 0 }
      - name: email
        logicalType: string
        logicalTypeOptions: { format: email, maxLength: 40 }
      - name: status
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: { validValues: [new, paid, shipped] }
            mustBe: 0
          - metric: nullValues
            mustBeLessThan: 50
            unit: percent
      - name: code
        logicalType: string
        logicalTypeOptions: { pattern: "^[A-Z]{3}$" }
        quality:
          - metric: missingValues
            arguments: { missingValues: [null, "", "N/A"] }
            mustBeLessOrEqualTo: 1
      - name: day
        logicalType: date
        logicalTypeOptions: { minimum: "2020-01-01" }
      - name: at
        logicalType: timestamp
      - name: local
        logicalType: timestamp
        logicalTypeOptions: { format: "yyyy-MM-dd HH:mm:ss" }
      - name: ship
        logicalType: object
        properties:
          - name: city
            logicalType: string
            required: true
      - name: tags
        logicalType: array
        items:
          logicalType: string
          logicalTypeOptions: { maxLength: 3 }
    quality:
      - id: rows
        metric: rowCount
        mustBeGreaterOrEqualTo: 2
"#;

fn compiled() -> CompiledContract {
    compile(&parse(CONTRACT).expect("parse"), None).expect("compile")
}

fn good() -> Value {
    json!({"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "qty": 2, "price": 9.5, "email": "a@b.io", "status": "paid",
           "code": "ABC", "day": "2024-02-29", "at": "2024-02-29T10:00:00Z", "local": "2024-02-29 10:00:00",
           "ship": {"city": "Oslo"}, "tags": ["a", "bc"]})
}

fn with(k: &str, v: Value) -> Value {
    let mut r = good();
    r[k] = v;
    r
}

fn without(k: &str) -> Value {
    let mut r = good();
    r.as_object_mut().expect("object").remove(k);
    r
}

#[test]
fn record_checks_table() {
    let c = compiled();
    let cases: Vec<(&str, Value, Vec<&str>, bool)> = vec![
        ("valid", good(), vec![], true),
        ("float as string", with("price", json!("9.5")), vec!["price.logicalType"], false),
        ("integer as float", with("qty", json!(2.5)), vec!["qty.logicalType"], false),
        ("out of range", with("qty", json!(101)), vec!["qty.maximum"], false),
        ("exclusive min", with("price", json!(0)), vec!["price.exclusiveMinimum"], false),
        ("required null", with("qty", Value::Null), vec!["qty.required"], false),
        ("required absent", without("qty"), vec!["qty.required"], false),
        ("optional null", with("price", Value::Null), vec![], true),
        ("bad uuid", with("id", json!("nope")), vec!["id.format"], false),
        ("bad email", with("email", json!("not-an-email")), vec!["email.format"], false),
        ("too long", with("email", json!(format!("{}@b.io", "a".repeat(50)))), vec!["email.maxLength"], false),
        ("pattern", with("code", json!("abc")), vec!["code.pattern"], false),
        ("new enum value", with("status", json!("lost")), vec!["status.invalidValues"], false),
        ("enum null counts as null", with("status", Value::Null), vec!["status.nullValues"], true),
        ("missing token", with("code", json!("N/A")), vec!["code.pattern", "code.missingValues"], false),
        ("date before minimum", with("day", json!("2019-12-31")), vec!["day.range"], false),
        ("bad date", with("day", json!("2024-02-30")), vec!["day.format"], false),
        ("epoch millis timestamp", with("at", json!(1_709_200_800_000_i64)), vec!["at.logicalType"], false),
        ("custom pattern", with("local", json!("2024-02-29T10:00:00Z")), vec!["local.format"], false),
        ("nested required", with("ship", json!({})), vec!["ship.city.required"], false),
        ("array item", with("tags", json!(["a", "long"])), vec!["tags[].maxLength"], false),
        ("extra field", with("surprise", json!(1)), vec!["$.extraFields"], false),
    ];
    for (name, rec, want, valid) in cases {
        let mut obs = c.observer();
        let v = c.check(&rec, &mut obs);
        let got: Vec<&str> = v.rule_ids();
        assert_eq!(got, want, "{name}: {:?}", v.violations);
        assert_eq!(v.is_valid(), valid, "{name}");
        for viol in &v.violations {
            assert!(!viol.expected.is_empty(), "{name}: {viol:?}");
        }
    }
}

#[test]
fn duplicates_and_window_rules() {
    let c = compiled();
    let mut batch = Batch::new(&c, 0);
    assert!(batch.record(1, &good()).is_valid());
    let dup = batch.record(2, &good());
    assert_eq!(dup.rule_ids(), vec!["id.unique"]);
    assert!(!dup.is_valid());
    let mut other = with("status", Value::Null);
    other["id"] = json!("0b6a3e1e-2f0f-4d55-9d2a-6d0c2f1f9e01");
    assert!(batch.record(3, &other).is_valid());
    batch.decode_error(4, "invalid JSON");
    let r = batch.finish(0);
    assert_eq!((r.records, r.valid_records, r.failed_records, r.decode_errors), (4, 2, 2, 1));
    let rule = |id: &str| r.rules.iter().find(|x| x.id == id).unwrap_or_else(|| panic!("{id} in {:?}", r.rules));
    assert_eq!(rule("status.nullValues").value, Some(25.0));
    assert!(rule("status.nullValues").passed);
    assert_eq!(rule("rows").value, Some(4.0));
    assert_eq!(rule("$.decodeErrors").value, Some(25.0));
    assert!(!rule("$.decodeErrors").passed);
    assert!(!r.passed);
    let f = r.failures.iter().find(|f| f.rule == "id.unique").expect("dup failures");
    assert_eq!(f.first_lines, vec![2]);
}

#[test]
fn invalid_contracts_name_path_and_rule() {
    let cases = [
        ("logicalTypeOptions: { minimum: 1, maximum: 100 }", "logicalTypeOptions: { minLength: 1 }", "schema[0].properties[1].logicalTypeOptions.minLength", "not an option of logicalType integer"),
        ("arguments: { validValues: [new, paid, shipped] }", "arguments: { pattern: \"[\" }", "schema[0].properties[4].quality[0].arguments.pattern", "invalid regular expression"),
        ("            mustBe: 0\n", "            mustBe: 0\n            mustBeLessThan: 3\n", "schema[0].properties[4].quality[0]", "exactly one operator"),
        ("metric: rowCount", "metric: rowCounts", "schema[0].quality[0].metric", "unknown metric"),
        ("mustBeGreaterOrEqualTo: 2", "mustBeGreaterOrEqualTo: 2\n        mustBeLesThan: 5", "schema[0].quality[0].mustBeLesThan", "unknown key"),
    ];
    for (from, to, path, msg) in cases {
        let text = CONTRACT.replacen(from, to, 1);
        assert_ne!(text, CONTRACT, "{from}");
        let err = parse(&text).and_then(|c| compile(&c, None)).expect_err(path);
        let p = err.problems();
        assert!(p.iter().any(|p| p.path == path && p.message.contains(msg)), "{path}: {p:?}");
    }
}

#[test]
fn extra_fields_allowed_are_still_counted() {
    let text = CONTRACT.replace("    quality:\n      - id: rows", "    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n    quality:\n      - id: rows");
    let c = compile(&parse(&text).expect("parse"), None).expect("compile");
    let mut obs = c.observer();
    assert!(c.check(&with("surprise", json!(1)), &mut obs).is_valid());
    assert_eq!(obs.drift.get("surprise"), Some(&1));
}

/// Which rules act per record, on the window, or both (`gateTripOnAny`).
#[test]
fn enforcement_follows_the_threshold_and_the_opt_in() {
    use contracts::Enforcement::{Record, RecordAndWindow, Window};
    let opted = CONTRACT.replace(
        "          - metric: invalidValues\n            arguments: { validValues: [new, paid, shipped] }\n            mustBe: 0\n",
        "          - metric: invalidValues\n            arguments: { validValues: [new, paid, shipped] }\n            mustBe: 0\n            customProperties:\n              - { property: gateTripOnAny, value: true }\n",
    );
    assert_ne!(opted, CONTRACT);
    let by_id = |c: &CompiledContract| c.rules.iter().map(|r| (r.id.clone(), r.enforcement)).collect::<std::collections::HashMap<_, _>>();
    let plain = by_id(&compiled());
    let with = by_id(&compile(&parse(&opted).expect("parse"), None).expect("compile"));
    // (rule id, enforcement without the opt-in, with it)
    let cases = [
        ("status.invalidValues", Record, RecordAndWindow),
        ("status.nullValues", Window, Window),
        ("id.unique", Record, Record),
        ("code.missingValues", Window, Window),
        ("rows", Window, Window),
        ("$.recordFailures", Window, Window),
    ];
    for (id, want, want_opted) in cases {
        assert_eq!(plain.get(id), Some(&want), "{id} in {plain:?}");
        assert_eq!(with.get(id), Some(&want_opted), "{id} opted in");
    }
    // A wrong value is an error naming the property.
    let bad = opted.replace("value: true", "value: \"yes\"");
    let err = compile(&parse(&bad).expect("parse"), None).expect_err("refused");
    assert!(err.to_string().contains("gateTripOnAny"), "{err}");
}

/// A latency SLA judges every record's age at the observer's clock: the window counts the
/// stale share (rule `<sla>.staleRecords`, default limit 5 %), and the verdict says which
/// record was stale, without failing it.
#[test]
fn a_latency_sla_counts_stale_records() {
    let sla = format!("{CONTRACT}slaProperties:\n  - property: latency\n    value: 10\n    unit: s\n    element: orders.at\n");
    let c = compile(&parse(&sla).expect("parse"), None).expect("compile");
    let rule = c.rules.iter().position(|r| r.metric == contracts::MetricKind::StaleRecords).expect("a staleRecords rule");
    assert_eq!(c.rules[rule].id, "at.latency.staleRecords");
    assert_eq!(c.rules[rule].operator, contracts::Operator::MustBeLessOrEqualTo(5.0));
    let now = chrono_ms("2024-02-29T10:00:30Z");
    // (event time, stale at `now` with a 10 s SLA)
    let cases = [("2024-02-29T10:00:25Z", false), ("2024-02-29T10:00:20Z", false), ("2024-02-29T10:00:19Z", true), ("2024-02-29T09:00:30Z", true)];
    let mut obs = c.observer();
    obs.set_clock(now);
    for (i, (at, stale)) in cases.iter().enumerate() {
        let mut rec = with("at", json!(at));
        rec["id"] = json!(format!("7c9e6679-7425-40de-944b-e07fc1f90a{i:02}"));
        let v = c.check(&rec, &mut obs);
        assert_eq!(v.stale, *stale, "{at}: {:?}", v.violations);
        assert!(v.is_valid(), "staleness alone does not fail a record: {:?}", v.violations);
    }
    let results = contracts::window::evaluate(&c.rules, &obs.window, now);
    let r = &results[rule];
    assert_eq!((r.value, r.passed), (Some(50.0), false), "{r:?}");
    // Without a clock nothing is judged stale (and nothing counted).
    let mut plain = c.observer();
    assert!(!c.check(&with("at", json!("2000-01-01T00:00:00Z")), &mut plain).stale);
    // The limit is a gate setting.
    let tuned = sla.replace("slaProperties:", "customProperties:\n  - { property: gateMaxStalePercent, value: 60 }\nslaProperties:");
    let c = compile(&parse(&tuned).expect("parse"), None).expect("compile");
    assert!(c.rules.iter().any(|r| r.metric == contracts::MetricKind::StaleRecords && r.operator == contracts::Operator::MustBeLessOrEqualTo(60.0)));
}

fn chrono_ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339").timestamp_millis()
}

#[test]
fn sibling_observers_share_duplicates_not_windows() {
    let c = compiled();
    let mut a = c.observer();
    let mut b = a.sibling();
    assert!(c.check(&good(), &mut a).is_valid());
    // The same id read by another worker is a duplicate there too.
    assert_eq!(c.check(&good(), &mut b).rule_ids(), vec!["id.unique"]);
    assert_eq!((a.window.records, b.window.records), (1, 1), "each keeps its own window delta");
    b.clear_duplicates();
    assert!(c.check(&good(), &mut a).is_valid(), "a cleared scope is cleared for every sibling");
}
