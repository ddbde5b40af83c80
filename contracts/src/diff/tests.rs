use super::*;

/// The breaking-change fixtures, shared with the offline `contracts diff` test of the binary.
const FIXTURES: &str = include_str!("../../tests/fixtures/diff_cases.yaml");

#[derive(serde::Deserialize)]
struct Fixtures {
    base: String,
    cases: Vec<Case>,
}

/// One row: a replacement on the base text, and the change (kind, path, breaking) expected.
#[derive(serde::Deserialize)]
struct Case {
    replace: String,
    with: String,
    kind: String,
    path: String,
    breaking: bool,
}

fn fixtures() -> Fixtures {
    serde_saphyr::from_str(FIXTURES).expect("diff_cases.yaml parses")
}

fn base() -> String {
    fixtures().base
}

fn contract(text: &str) -> Contract {
    crate::parse(text).expect("parses")
}

#[test]
fn changes_table() {
    let f = fixtures();
    assert!(f.cases.len() >= 30, "the fixture lost cases");
    let old = contract(&f.base);
    for c in &f.cases {
        assert!(f.base.contains(&c.replace), "case {:?} does not apply to the base", c.replace);
        let new = contract(&f.base.replacen(&c.replace, &c.with, 1));
        let d = diff(&old, &new);
        let hit = d.changes.iter().find(|x| serde_json::to_value(x.kind).ok() == Some(json!(c.kind)) && x.path == c.path);
        let Some(hit) = hit else { panic!("{:?} → {:?}: no {} at {}; got {:#?}", c.replace, c.with, c.kind, c.path, d.changes) };
        assert_eq!(hit.breaking, c.breaking, "{:?} → {:?}: {}", c.replace, c.with, hit.message);
    }
}

#[test]
fn identical_and_reordered_versions_have_no_changes() {
    let old = contract(&base());
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
    let allow = base().replace("status: active\n", "status: active\ncustomProperties:\n  - property: gateAllowExtraFields\n    value: true\n");
    let d = diff(&contract(&allow), &contract(&base()));
    let c = d.changes.iter().find(|c| c.kind == ChangeKind::ExtraFields).expect("extra fields change");
    assert!(c.breaking);
}

#[test]
fn date_bounds_compare_as_dates() {
    let with = |min: &str| contract(&base().replace("name: placed\n        logicalType: date\n", &format!("name: placed\n        logicalType: date\n        logicalTypeOptions: {{ minimum: '{min}' }}\n")));
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
    let new = contract(&base().replace("[new, paid, shipped]", "[new, paid]"));
    let d = diff(&contract(&base()), &new);
    let v = serde_json::to_value(&d).expect("json");
    assert_eq!(v["changes"][0]["kind"], "validValues");
    assert_eq!(v["changes"][0]["breaking"], true);
    assert_eq!(v["changes"][0]["from"], json!(["shipped"]));
}
