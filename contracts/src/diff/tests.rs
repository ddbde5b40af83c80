use super::*;

const BASE: &str = r"apiVersion: v3.1.0
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
        logicalTypeOptions: { maxLength: 20, pattern: '^[A-Z0-9]+$' }
      - name: amount
        logicalType: number
        logicalTypeOptions: { minimum: 0, maximum: 1000 }
        quality:
          - metric: nullValues
            mustBeLessThan: 5
            unit: percent
      - name: status
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: { validValues: [new, paid, shipped] }
            mustBe: 0
      - name: placed
        logicalType: date
";

fn contract(text: &str) -> Contract {
    crate::parse(text).expect("parses")
}

/// One row: a replacement on the base text, and the (kind, path, breaking) expected.
#[test]
fn changes_table() {
    let cases: &[(&str, &str, ChangeKind, &str, bool)] = &[
        ("      - name: placed\n        logicalType: date\n", "", ChangeKind::FieldRemoved, "orders.placed", true),
        ("      - name: placed\n        logicalType: date\n", "      - name: placed\n        logicalType: date\n      - name: note\n        logicalType: string\n", ChangeKind::FieldAdded, "orders.note", false),
        ("      - name: placed\n        logicalType: date\n", "      - name: placed\n        logicalType: date\n      - name: note\n        logicalType: string\n        required: true\n", ChangeKind::FieldAdded, "orders.note", true),
        ("      - name: status\n        logicalType: string\n", "      - name: status\n        logicalType: string\n        required: true\n", ChangeKind::Required, "orders.status.required", true),
        ("        required: true\n        logicalTypeOptions: { maxLength", "        logicalTypeOptions: { maxLength", ChangeKind::Required, "orders.id.required", false),
        ("name: amount\n        logicalType: number", "name: amount\n        logicalType: integer", ChangeKind::LogicalType, "orders.amount.logicalType", true),
        ("name: placed\n        logicalType: date", "name: placed\n        logicalType: string", ChangeKind::LogicalType, "orders.placed.logicalType", false),
        ("name: status\n        logicalType: string", "name: status\n        logicalType: date", ChangeKind::LogicalType, "orders.status.logicalType", true),
        ("name: status\n        logicalType: string", "name: status\n        logicalType: integer", ChangeKind::LogicalType, "orders.status.logicalType", true),
        ("[new, paid, shipped]", "[new, paid]", ChangeKind::ValidValues, "orders.status.quality[status.invalidValues].arguments.validValues", true),
        ("[new, paid, shipped]", "[new, paid, shipped, returned]", ChangeKind::ValidValues, "orders.status.quality[status.invalidValues].arguments.validValues", false),
        ("{ minimum: 0, maximum: 1000 }", "{ minimum: 1, maximum: 1000 }", ChangeKind::Range, "orders.amount.logicalTypeOptions.minimum", true),
        ("{ minimum: 0, maximum: 1000 }", "{ minimum: 0, maximum: 999 }", ChangeKind::Range, "orders.amount.logicalTypeOptions.maximum", true),
        ("{ minimum: 0, maximum: 1000 }", "{ minimum: 0, maximum: 5000 }", ChangeKind::Range, "orders.amount.logicalTypeOptions.maximum", false),
        ("{ minimum: 0, maximum: 1000 }", "{ exclusiveMinimum: 0, maximum: 1000 }", ChangeKind::Range, "orders.amount.logicalTypeOptions.minimum", true),
        ("{ minimum: 0, maximum: 1000 }", "{ maximum: 1000 }", ChangeKind::Range, "orders.amount.logicalTypeOptions.minimum", false),
        ("maxLength: 20", "maxLength: 10", ChangeKind::Length, "orders.id.logicalTypeOptions.maxLength", true),
        ("maxLength: 20", "maxLength: 30", ChangeKind::Length, "orders.id.logicalTypeOptions.maxLength", false),
        ("maxLength: 20", "maxLength: 20, minLength: 3", ChangeKind::Length, "orders.id.logicalTypeOptions.minLength", true),
        ("'^[A-Z0-9]+$'", "'^[A-Z]+$'", ChangeKind::Pattern, "orders.id.logicalTypeOptions.pattern", true),
        (", pattern: '^[A-Z0-9]+$'", "", ChangeKind::Pattern, "orders.id.logicalTypeOptions.pattern", false),
        ("mustBeLessThan: 5", "mustBeLessThan: 2", ChangeKind::Threshold, "orders.amount.quality[amount.nullValues].threshold", true),
        ("mustBeLessThan: 5", "mustBeLessThan: 10", ChangeKind::Threshold, "orders.amount.quality[amount.nullValues].threshold", false),
        ("            mustBeLessThan: 5\n            unit: percent\n", "            mustBeLessThan: 5\n", ChangeKind::Unit, "orders.amount.quality[amount.nullValues].unit", true),
        (
            "          - metric: nullValues\n            mustBeLessThan: 5\n            unit: percent\n",
            "          - metric: nullValues\n            mustBeLessThan: 5\n            unit: percent\n          - metric: invalidValues\n            arguments: { pattern: '^[0-9]' }\n            mustBeLessThan: 1\n            unit: percent\n",
            ChangeKind::RuleAdded,
            "orders.amount.quality[amount.invalidValues]",
            true,
        ),
        ("        quality:\n          - metric: nullValues\n            mustBeLessThan: 5\n            unit: percent\n", "", ChangeKind::RuleRemoved, "orders.amount.quality[amount.nullValues]", false),
        ("status: active\n", "status: active\ncustomProperties:\n  - property: gateMaxRecordFailurePercent\n    value: 1\n", ChangeKind::Threshold, "orders.quality[$.recordFailures].threshold", true),
        ("status: active\n", "status: active\ncustomProperties:\n  - property: gateAllowExtraFields\n    value: true\n", ChangeKind::ExtraFields, "orders.customProperties[gateAllowExtraFields]", false),
        ("name: amount\n        logicalType: number\n", "name: amount\n        logicalType: number\n        unique: true\n", ChangeKind::Unique, "orders.amount.unique", true),
        ("  - name: orders\n", "  - name: orders2\n", ChangeKind::ObjectRemoved, "orders", true),
    ];
    let old = contract(BASE);
    for (from, to, kind, path, breaking) in cases {
        assert!(BASE.contains(from), "case {from:?} does not apply to the base");
        let new = contract(&BASE.replacen(from, to, 1));
        let d = diff(&old, &new);
        let hit = d.changes.iter().find(|c| c.kind == *kind && c.path == *path);
        let Some(hit) = hit else { panic!("{from:?} → {to:?}: no {kind:?} at {path}; got {:#?}", d.changes) };
        assert_eq!(hit.breaking, *breaking, "{from:?} → {to:?}: {}", hit.message);
    }
}

#[test]
fn identical_and_reordered_versions_have_no_changes() {
    let old = contract(BASE);
    assert!(diff(&old, &old).changes.is_empty());
    let mut new = old.clone();
    new.version = "1.0.1".into();
    new.schema[0].properties.reverse();
    let d = diff(&old, &new);
    assert!(d.changes.is_empty(), "{:#?}", d.changes);
    assert!(!requires_major(&d));
}

#[test]
fn extra_fields_disallowed_is_breaking() {
    let allow = BASE.replace("status: active\n", "status: active\ncustomProperties:\n  - property: gateAllowExtraFields\n    value: true\n");
    let d = diff(&contract(&allow), &contract(BASE));
    let c = d.changes.iter().find(|c| c.kind == ChangeKind::ExtraFields).expect("extra fields change");
    assert!(c.breaking);
}

#[test]
fn date_bounds_compare_as_dates() {
    let with = |min: &str| contract(&BASE.replace("name: placed\n        logicalType: date\n", &format!("name: placed\n        logicalType: date\n        logicalTypeOptions: {{ minimum: '{min}' }}\n")));
    let d = diff(&with("2013-01-01"), &with("2013-06-01"));
    assert!(d.changes.iter().any(|c| c.kind == ChangeKind::Range && c.breaking), "{:#?}", d.changes);
    let d = diff(&with("2013-06-01"), &with("2012-12-31"));
    assert!(d.changes.iter().any(|c| c.kind == ChangeKind::Range && !c.breaking), "{:#?}", d.changes);
}

#[test]
fn major_bumps() {
    for (old, new, want) in [("1.0.0", "2.0.0", Some(true)), ("1.0.0", "1.1.0", Some(false)), ("1.2.3", "1.2.4", Some(false)), ("0.1.0", "0.2.0", Some(true)), ("0.1.0", "0.1.1", Some(false)), ("1.0.0", "one", None)] {
        assert_eq!(is_major_bump(old, new), want, "{old} → {new}");
    }
}

#[test]
fn changes_serialize_with_kind_and_breaking() {
    let new = contract(&BASE.replace("[new, paid, shipped]", "[new, paid]"));
    let d = diff(&contract(BASE), &new);
    let v = serde_json::to_value(&d).expect("json");
    assert_eq!(v["changes"][0]["kind"], "validValues");
    assert_eq!(v["changes"][0]["breaking"], true);
    assert_eq!(v["changes"][0]["from"], json!(["shipped"]));
}
