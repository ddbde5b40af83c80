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

/// The date/time cases through a whole contract: (type, format, value, rules failed).
#[test]
fn formats_follow_the_jdk_pattern_language() {
    let cases: &[(&str, Option<&str>, &str, &[&str])] = &[
        // `format` on `time` is the pattern, not RFC 3339.
        ("time", Some("HH:mm:ss"), "08:30:00", &[]),
        ("time", Some("HH:mm:ss"), "08:30:00Z", &["f.format"]),
        ("time", Some("HH:mm:ss"), "8:30:00", &["f.format"]),
        // Without a format, a time is ISO: HH:mm[:ss[.fraction]][offset].
        ("time", None, "08:30", &[]),
        ("time", None, "08:30:00.250+01:00", &[]),
        ("time", None, "8:30", &["f.format"]),
        ("time", None, "25:00", &["f.format"]),
        // Two letters mean two digits.
        ("date", Some("dd/MM/yyyy"), "03/07/2024", &[]),
        ("date", Some("dd/MM/yyyy"), "3/7/2024", &["f.format"]),
        ("date", Some("d/M/yyyy"), "3/7/2024", &[]),
        ("date", Some("dd/MM/yyyy"), "31/04/2024", &["f.format"]),
        // XXX takes Z for a zero offset; xxx does not.
        ("timestamp", Some("yyyy-MM-dd'T'HH:mm:ssXXX"), "2024-12-31T23:59:59Z", &[]),
        ("timestamp", Some("yyyy-MM-dd'T'HH:mm:ssXXX"), "2024-12-31T23:59:59+01:00", &[]),
        ("timestamp", Some("yyyy-MM-dd'T'HH:mm:ssxxx"), "2024-12-31T23:59:59Z", &["f.format"]),
        // MMM is the English short month name.
        ("date", Some("dd-MMM-yyyy"), "01-Jan-2013", &[]),
        ("date", Some("dd-MMM-yyyy"), "01-01-2013", &["f.format"]),
        ("date", Some("dd-MMM-yyyy"), "01-JAN-2013", &["f.format"]),
        ("timestamp", Some("EEE, dd MMM yyyy HH:mm:ss"), "Wed, 03 Jul 2024 08:30:00", &[]),
        ("timestamp", Some("EEE, dd MMM yyyy HH:mm:ss"), "Thu, 03 Jul 2024 08:30:00", &["f.format"]),
    ];
    for (ty, format, value, want) in cases {
        let opts = format.map_or(String::new(), |f| format!("\n        logicalTypeOptions: {{ format: \"{f}\" }}"));
        let text = contract(&format!("      - name: f\n        logicalType: {ty}{opts}\n"), "");
        let c = compiled(&text);
        assert_eq!(fails(&c, &json!({ "f": value })), *want, "{ty} {format:?} on {value:?}");
    }
}

/// Ranges on times compare the time of day; on patterns, the instant the value names.
#[test]
fn ranges_use_the_pattern() {
    let text = contract("      - name: t\n        logicalType: time\n        logicalTypeOptions: { format: \"HH:mm\", minimum: \"09:00\", exclusiveMaximum: \"17:00\" }\n      - name: d\n        logicalType: date\n        logicalTypeOptions: { format: \"dd-MMM-yyyy\", minimum: \"01-Feb-2024\" }\n", "");
    let c = compiled(&text);
    let cases: &[(Value, &[&str])] = &[
        (json!({"t": "09:00", "d": "01-Feb-2024"}), &[]),
        (json!({"t": "08:59"}), &["t.range"]),
        (json!({"t": "17:00"}), &["t.range"]),
        (json!({"d": "31-Jan-2024"}), &["d.range"]),
    ];
    for (rec, want) in cases {
        assert_eq!(fails(&c, rec), *want, "{rec}");
    }
}

/// Letters the gate does not read are refused at lint, the letter named; so is a pattern that
/// cannot place a value of its type.
#[test]
fn unsupported_letters_are_named_at_lint() {
    let cases: &[(&str, &str, &str)] = &[
        ("timestamp", "yyyy-MM-dd HH:mm:ss z", "'z' (time-zone name)"),
        ("date", "yyyy-DDD", "'D' (day of year)"),
        ("date", "yyyy.MM.dd G", "'G' (era)"),
        ("date", "dd/MM/yyyy#", "'#' is reserved"),
        ("date", "ddd/MM/yyyy", "too many pattern letters: ddd"),
        ("date", "dd/MM", "has no year (y or u)"),
        ("time", "mm:ss", "has no hour"),
        ("date", "yyyy-MM-dd'T", "unterminated quote"),
    ];
    for (ty, f, want) in cases {
        let text = contract(&format!("      - name: f\n        logicalType: {ty}\n        logicalTypeOptions: {{ format: \"{f}\" }}\n"), "");
        let problems = lint(&parse(&text).expect("parse"));
        assert!(problems.iter().any(|p| p.severity == Severity::Error && p.path.ends_with("logicalTypeOptions.format") && p.message.contains(want)), "{f}: {problems:?}");
    }
}

/// `timezone: true` wants an offset in every value, `false` none; `defaultTimezone` places the
/// values without one (daylight saving included), so ranges compare the right instants.
#[test]
fn timezone_options_are_enforced() {
    let text = contract(
        "      - name: zoned\n        logicalType: timestamp\n        logicalTypeOptions: { format: \"yyyy-MM-dd HH:mm[XXX]\", timezone: true }\n      - name: local\n        logicalType: timestamp\n        logicalTypeOptions: { format: \"yyyy-MM-dd HH:mm[XXX]\", timezone: false }\n      - name: syd\n        logicalType: timestamp\n        logicalTypeOptions: { format: \"yyyy-MM-dd HH:mm\", defaultTimezone: Australia/Sydney, minimum: \"2024-01-01 00:00\" }\n",
        "",
    );
    let c = compiled(&text);
    let cases: &[(Value, &[&str])] = &[
        (json!({"zoned": "2024-07-03 08:30+02:00", "local": "2024-07-03 08:30"}), &[]),
        (json!({"zoned": "2024-07-03 08:30"}), &["zoned.timezone"]),
        (json!({"local": "2024-07-03 08:30Z"}), &["local.timezone"]),
        // Sydney is UTC+11 on 1 January: 00:30 there is still 31 December in UTC, and passes.
        (json!({"syd": "2024-01-01 00:30"}), &[]),
        (json!({"syd": "2023-12-31 23:59"}), &["syd.range"]),
    ];
    for (rec, want) in cases {
        assert_eq!(fails(&c, rec), *want, "{rec}");
    }
    // The instant: 2024-01-01 00:30 in Sydney (UTC+11) is 2023-12-31T13:30Z.
    let f = contracts::timefmt::TimeFormat::of(&parse(&text).expect("parse").schema[0].properties[2]).expect("format");
    assert_eq!(f.parse("2024-01-01 00:30"), Some(1_704_029_400_000));
    // And in July (UTC+10): 2024-07-01 10:00 there is midnight UTC.
    assert_eq!(f.parse("2024-07-01 10:00"), Some(1_719_792_000_000));
}

#[test]
fn contradictory_timezone_options_are_lint_errors() {
    let cases: &[(&str, &str)] = &[
        ("{ format: \"yyyy-MM-dd HH:mm\", timezone: true }", "timezone"),
        ("{ timezone: false }", "timezone"),
        ("{ defaultTimezone: Mars/Olympus }", "defaultTimezone"),
    ];
    for (opts, key) in cases {
        let text = contract(&format!("      - name: t\n        logicalType: timestamp\n        logicalTypeOptions: {opts}\n"), "");
        let problems = lint(&parse(&text).expect("parse"));
        assert!(problems.iter().any(|p| p.severity == Severity::Error && p.path.ends_with(&format!("logicalTypeOptions.{key}"))), "{opts}: {problems:?}");
    }
}

/// A numeric `format` bounds the values: `f32` past its range, `u8` on a number.
#[test]
fn numeric_formats_bound_values() {
    let text = contract("      - name: f\n        logicalType: number\n        logicalTypeOptions: { format: f32 }\n      - name: b\n        logicalType: number\n        logicalTypeOptions: { format: u8 }\n", "");
    let c = compiled(&text);
    let cases: &[(Value, &[&str])] = &[
        (json!({"f": 1.5e38, "b": 255}), &[]),
        (json!({"f": 1e39}), &["f.maximum"]),
        (json!({"f": -1e39}), &["f.minimum"]),
        (json!({"b": 256}), &["b.maximum"]),
        (json!({"b": -1}), &["b.minimum"]),
    ];
    for (rec, want) in cases {
        assert_eq!(fails(&c, rec), *want, "{rec}");
    }
}

/// Listed numbers match by value (`2.0` is `2`), and integers past 2^53 stay exact.
#[test]
fn valid_values_compare_numbers_by_value() {
    let text = contract("      - name: n\n        logicalType: number\n        quality:\n          - { id: n_valid, metric: invalidValues, arguments: { validValues: [2, 9007199254740993] }, mustBe: 0 }\n", "");
    let c = compiled(&text);
    let cases: &[(Value, &[&str])] = &[
        (json!({"n": 2.0}), &[]),
        (json!({"n": 9_007_199_254_740_993_u64}), &[]),
        (json!({"n": 9_007_199_254_740_992_u64}), &["n_valid"]),
        (json!({"n": 2.5}), &["n_valid"]),
    ];
    for (rec, want) in cases {
        assert_eq!(fails(&c, rec), *want, "{rec}");
    }
}
