//! Constructs whose meaning the standard fixes and the gate once read differently: each test
//! here is written from the ODCS text and failed before the fix it names.

use contracts::batch::Batch;
use contracts::{compile, lint, parse, CompiledContract, Severity};
use serde_json::{json, Value};

fn contract(props: &str, quality: &str) -> String {
    format!("apiVersion: v3.1.0\nkind: DataContract\nid: meaning\nversion: 1.0.0\nstatus: active\nschema:\n  - name: r\n    properties:\n{props}{quality}")
}

fn compiled(text: &str) -> CompiledContract {
    compile(&parse(text).expect("parse"), None).expect("compile")
}

/// Rule ids a record fails, sorted.
fn fails(c: &CompiledContract, rec: &Value) -> Vec<String> {
    let mut obs = c.observer();
    let mut ids: Vec<String> = c.check(rec, &mut obs).rule_ids().into_iter().map(String::from).collect();
    ids.sort();
    ids
}

#[test]
fn object_required_option_is_enforced_beside_properties() {
    let text = contract("      - name: o\n        logicalType: object\n        logicalTypeOptions: { required: [a], maxProperties: 2 }\n        properties:\n          - { name: a, logicalType: string }\n          - { name: b, logicalType: string }\n", "");
    let c = compiled(&text);
    let cases: &[(Value, &[&str])] = &[
        (json!({"o": {"a": "x"}}), &[]),
        (json!({"o": {"a": "x", "b": "y"}}), &[]),
        (json!({"o": {}}), &["o.a.required"]),
        (json!({"o": {"b": "y"}}), &["o.a.required"]),
    ];
    for (rec, want) in cases {
        assert_eq!(fails(&c, rec), *want, "{rec}");
    }
    assert!(lint(&parse(&text).expect("parse")).iter().all(|p| p.severity != Severity::Error));
}

#[test]
fn object_required_naming_no_property_is_a_lint_error() {
    let text = contract("      - name: o\n        logicalType: object\n        logicalTypeOptions: { required: [zz] }\n        properties:\n          - { name: a, logicalType: string }\n", "");
    let problems = lint(&parse(&text).expect("parse"));
    assert!(problems.iter().any(|p| p.severity == Severity::Error && p.to_string().contains("required") && p.to_string().contains("zz")), "{problems:?}");
}

/// (operator YAML, nulls in the batch, records quarantined, rule passes)
#[test]
fn only_zero_tolerance_rules_fail_single_records() {
    let cases: &[(&str, usize, u64, bool)] = &[
        ("mustNotBe: 1", 2, 0, true),
        ("mustNotBe: 1", 1, 0, false),
        ("mustNotBeBetween: [1, 5]", 6, 0, true),
        ("mustNotBeBetween: [1, 5]", 3, 0, false),
        ("mustBeGreaterOrEqualTo: 0", 3, 0, true),
        ("mustBe: 2", 2, 0, true),
        ("mustBe: 0", 1, 1, false),
        ("mustBeLessThan: 1", 2, 2, false),
        ("mustBeLessOrEqualTo: 0", 1, 1, false),
        ("mustBeBetween: [0, 0]", 1, 1, false),
        ("mustBeLessThan: 3", 2, 0, true),
    ];
    for (op, nulls, quarantined, passes) in cases {
        let text = contract("      - name: c\n        logicalType: string\n", &format!("        quality:\n          - {{ id: c_nulls, metric: nullValues, {op} }}\n"));
        let c = compiled(&text);
        let mut batch = Batch::new(&c, 0);
        for i in 0..*nulls {
            batch.record(i as u64 + 1, &json!({"c": null}));
        }
        batch.record(99, &json!({"c": "x"}));
        let report = batch.finish(0);
        let rule = report.rules.iter().find(|r| r.id == "c_nulls").expect("rule reported");
        assert_eq!((report.failed_records, rule.passed, report.passed), (*quarantined, *passes, *passes), "{op} with {nulls} nulls");
    }
}
