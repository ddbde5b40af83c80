//! `check --output junit`: the batch report as JUnit XML, for CI systems that show test results.
//!
//! One test suite for the schema object checked, one test case per rule: the schema's record
//! checks (`schema`), quality rules (`quality`), SLA rules (`sla`), whether every record
//! decoded (`input`); parts of the contract the check does not enforce are skipped cases that
//! say why. A failure carries the rule id, the field, the observed value, what was expected
//! and how many records broke it. Nothing in it varies between runs on the same input (no
//! timestamps, no durations, no host name), so it can be compared with a golden file.

use super::report::fmt_value;
use contracts::batch::{BatchReport, ReportRule, RuleFailures};
use contracts::MetricKind;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;
use std::collections::BTreeSet;

/// The rule id of whole-record decode failures (as [`contracts::batch::Batch`] names them).
const DECODE: &str = "$.decode";

/// The test-case class of a window rule.
fn class_of(metric: MetricKind) -> &'static str {
    match metric {
        MetricKind::Freshness | MetricKind::StaleRecords | MetricKind::RecordAge | MetricKind::NoData => "sla",
        _ => "quality",
    }
}

fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// A record-level failure: `N records break RULE: field F = V, expected E`, and the first
/// lines with the example.
fn record_failure(f: &RuleFailures) -> (String, String) {
    let ex = |k: &str| f.example.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
    let field = ex("field");
    let at = if field.is_empty() { String::new() } else { format!("field {field} = {}, ", ex("value")) };
    let verb = if f.records == 1 { "breaks" } else { "break" };
    let message = format!("{} {verb} {}: {at}expected {}", plural(f.records, "record"), f.rule, ex("expected"));
    let lines: Vec<String> = f.first_lines.iter().map(ToString::to_string).collect();
    let more = if f.records > lines.len() as u64 { ", …" } else { "" };
    let blocking = if f.blocking { "" } else { " (counted toward the rule, not failing the records)" };
    (message, format!("records {}{blocking}\nfirst lines {}{more}\nexample {}", f.records, lines.join(", "), f.example))
}

fn threshold(r: &ReportRule) -> String {
    match &r.threshold {
        Value::Array(a) => format!("{} [{}]", r.operator, a.iter().map(|x| fmt_value(x.as_f64())).collect::<Vec<_>>().join(", ")),
        other => format!("{} {}", r.operator, fmt_value(other.as_f64())),
    }
}

/// A window rule's case; its record failures (same id), if any, join the description.
fn rule_case(r: &ReportRule, records: Option<&RuleFailures>) -> TestCase {
    let on = r.field.as_deref().map(|f| format!(" of {f}")).unwrap_or_default();
    let observed = match r.ages {
        // Reported, not judged: the percentile beside the SLA it is read against.
        Some(q) if r.reported => format!("record age{on}: p50 {} s, p95 {} s, p99 {} s over {} records (SLA {} s; reported, the stale share is judged)", fmt_value(Some(q.p50)), fmt_value(Some(q.p95)), fmt_value(Some(q.p99)), q.records, fmt_value(r.threshold.as_f64())),
        _ => format!("{}{on} = {} {}, expected {} {}", r.metric.as_str(), fmt_value(r.value), r.unit, threshold(r), r.unit),
    };
    let mut case = if r.passed {
        TestCase::new(r.id.as_str(), TestCaseStatus::success())
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(format!("{} breaks: {observed}", r.id)).set_type(r.metric.as_str());
        let mut text = format!("rule {}\nfield {}\nobserved {} {}\nexpected {} {}", r.id, r.field.as_deref().unwrap_or("-"), fmt_value(r.value), r.unit, threshold(r), r.unit);
        if let Some(f) = records {
            text.push('\n');
            text.push_str(&record_failure(f).1);
        }
        status.set_description(text);
        TestCase::new(r.id.as_str(), status)
    };
    case.set_classname(class_of(r.metric));
    if r.passed {
        let counted = records.map(|f| format!("; {} counted", plural(f.records, "record"))).unwrap_or_default();
        case.set_system_out(format!("{observed}{counted}"));
    }
    case
}

/// A record check's case: failed when any record broke it.
fn record_case(id: &str, class: &str, failures: Option<&RuleFailures>) -> TestCase {
    let status = match failures {
        None => TestCaseStatus::success(),
        Some(f) => {
            let (message, text) = record_failure(f);
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(message).set_type(if id == DECODE { "decode" } else { "record" }).set_description(format!("rule {id}\n{text}"));
            s
        }
    };
    let mut case = TestCase::new(id, status);
    case.set_classname(class);
    case
}

/// The report as JUnit: `schema_rules` are the ids of the schema's record checks
/// ([`contracts::check::schema_rule_ids`] of the compiled contract's JSON Schema).
#[must_use]
pub fn report(r: &BatchReport, schema_rules: &[String]) -> Report {
    let failures = |id: &str| r.failures.iter().find(|f| f.rule == id);
    let mut suite = TestSuite::new(format!("{} {} / {}", r.contract, r.version, r.object));
    suite.add_properties([
        Property::new("contract", r.contract.as_str()),
        Property::new("version", r.version.as_str()),
        Property::new("object", r.object.as_str()),
        Property::new("records", r.records.to_string()),
        Property::new("valid_records", r.valid_records.to_string()),
        Property::new("failed_records", r.failed_records.to_string()),
        Property::new("decode_errors", r.decode_errors.to_string()),
    ]);
    suite.add_test_case(record_case(DECODE, "input", failures(DECODE)));
    let mut covered: BTreeSet<&str> = BTreeSet::from([DECODE]);
    for id in schema_rules {
        if covered.insert(id) {
            suite.add_test_case(record_case(id, "schema", failures(id)));
        }
    }
    for rule in &r.rules {
        if covered.insert(&rule.id) {
            suite.add_test_case(rule_case(rule, failures(&rule.id)));
        }
    }
    // Checks no rule list names (date and time formats checked after the schema): they show
    // up when a record broke them.
    for f in &r.failures {
        if covered.insert(&f.rule) {
            suite.add_test_case(record_case(&f.rule, "schema", Some(f)));
        }
    }
    for p in &r.not_enforced {
        let mut status = TestCaseStatus::skipped();
        status.set_message(format!("not enforced: {}", p.message)).set_type("notEnforced");
        let mut case = TestCase::new(if p.path.is_empty() { "(contract)" } else { p.path.as_str() }, status);
        case.set_classname("not enforced");
        suite.add_test_case(case);
    }
    let mut report = Report::new("contract-gate check");
    report.add_test_suite(suite);
    report
}

