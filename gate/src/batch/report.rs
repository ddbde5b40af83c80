//! Rendering batch reports and lint findings for people.

use contracts::batch::BatchReport;
use contracts::{Problem, Severity};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write;
use std::path::Path;

/// A number as the table shows it: integers without a fraction, others to four places.
pub(crate) fn fmt_value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.4}").trim_end_matches('0').to_string() })
}

/// A readable table of a batch report.
#[must_use]
pub fn table(r: &BatchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "contract {} {} (object {})", r.contract, r.version, r.object);
    let _ = writeln!(out, "records {}  valid {}  failed {}  decode errors {}", r.records, r.valid_records, r.failed_records, r.decode_errors);
    let _ = writeln!(out);
    let w = r.rules.iter().map(|x| x.id.len()).chain(r.failures.iter().map(|f| f.rule.len())).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<6} {:<w$} {:<16} {:>12} {:<22} unit", "", "rule", "metric", "value", "threshold");
    for rule in &r.rules {
        let thr = match &rule.threshold {
            serde_json::Value::Array(a) => format!("{} [{}]", rule.operator, a.iter().map(|x| fmt_value(x.as_f64())).collect::<Vec<_>>().join(", ")),
            other => format!("{} {}", rule.operator, fmt_value(other.as_f64())),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<w$} {:<16} {:>12} {:<22} {}",
            // A reported rule (an SLA's p95 record age) is read against its SLA, not judged.
            if rule.reported { "INFO" } else if rule.passed { "PASS" } else { "FAIL" },
            rule.id,
            rule.metric.as_str(),
            fmt_value(rule.value),
            thr,
            rule.unit
        );
    }
    let ages: Vec<_> = r.rules.iter().filter_map(|x| x.ages.map(|q| (x, q))).collect();
    if !ages.is_empty() {
        let _ = writeln!(out, "\nrecord age when checked (latency SLAs):");
        for (rule, q) in ages {
            let sla = fmt_value(rule.threshold.as_f64());
            let _ = writeln!(out, "  {:<w$} p50 {} s  p95 {} s  p99 {} s  over {} records (SLA {sla} s)", rule.id, fmt_value(Some(q.p50)), fmt_value(Some(q.p95)), fmt_value(Some(q.p99)), q.records);
        }
    }
    if !r.failures.is_empty() {
        let _ = writeln!(out, "\nrecords failing rules:");
        for f in &r.failures {
            let lines: Vec<String> = f.first_lines.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "  {:<w$} {:>8} records{}  lines {}{}  e.g. {}",
                f.rule,
                f.records,
                if f.blocking { "" } else { " (counted, not blocking)" },
                lines.join(","),
                if f.records > lines.len() as u64 { ",…" } else { "" },
                example_sentence(&f.example)
            );
        }
    }
    if !r.schema_drift.is_empty() {
        let _ = writeln!(out, "\nfields outside the contract (schema drift):");
        for (k, n) in &r.schema_drift {
            let _ = writeln!(out, "  {k}: {n} records");
        }
    }
    if !r.not_enforced.is_empty() {
        let _ = writeln!(out, "\nnot enforced by this check ({}):", r.not_enforced.len());
        for p in &r.not_enforced {
            let _ = writeln!(out, "  {p}");
        }
    }
    let verdict = if r.passed { "PASSED: the contract holds" } else { "FAILED: the contract is violated" };
    match r.not_enforced.len() {
        0 => {
            let _ = writeln!(out, "\n{verdict}");
        }
        n => {
            let _ = writeln!(out, "\n{verdict} ({n} part{} not enforced, listed above)", if n == 1 { "" } else { "s" });
        }
    }
    out
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::NotEnforced => "not enforced",
    }
}

/// Lint findings, one per line, most severe first.
#[must_use]
pub fn lint_lines(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        let _ = writeln!(out, "{}: {p}", severity(p.severity));
    }
    out
}

/// `contracts lint`'s table: the findings, then the verdict on the file.
#[must_use]
pub fn lint_table(file: &Path, problems: &[Problem], has_errors: bool) -> String {
    let mut out = lint_lines(problems);
    let _ = writeln!(out, "{}: {}", file.display(), if has_errors { "INVALID" } else { "ok" });
    out
}

/// `contracts lint`'s JSON: the file, whether it is usable, every finding.
#[must_use]
pub fn lint_json(file: &Path, problems: &[Problem], has_errors: bool) -> serde_json::Value {
    serde_json::json!({ "file": file, "valid": !has_errors, "problems": problems })
}

/// `contracts lint` as JUnit: one suite for the file, a case per finding (errors fail,
/// warnings pass with the warning as output, rules not enforced are skipped with the reason),
/// or one passing case when there is nothing to say.
#[must_use]
pub fn lint_junit(file: &Path, problems: &[Problem]) -> Report {
    let mut suite = TestSuite::new(format!("contracts lint {}", file.display()));
    if problems.is_empty() {
        let mut case = TestCase::new("contract", TestCaseStatus::success());
        case.set_classname("lint");
        suite.add_test_case(case);
    }
    for p in problems {
        let name = match (p.path.as_str(), p.line) {
            ("", None) => "(contract)".to_string(),
            ("", Some(l)) => format!("line {l}"),
            (path, None) => path.to_string(),
            (path, Some(l)) => format!("{path} (line {l})"),
        };
        let status = match p.severity {
            Severity::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(p.to_string()).set_type("error");
                s
            }
            Severity::Warning => TestCaseStatus::success(),
            Severity::NotEnforced => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("not enforced: {}", p.message)).set_type("notEnforced");
                s
            }
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(severity(p.severity));
        if p.severity == Severity::Warning {
            case.set_system_out(format!("warning: {p}"));
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("contract-gate contracts lint");
    report.add_test_suite(suite);
    report
}

/// A failing record's example as the sentence a quarantine reason uses (`amount is "12.5",
/// expected a number`); the JSON report keeps the fields apart.
fn example_sentence(example: &serde_json::Value) -> String {
    let part = |k: &str| example.get(k).and_then(serde_json::Value::as_str);
    match (part("field"), part("value"), part("expected")) {
        // A record that did not decode has no value to show: its reason says it all.
        (Some(""), Some(""), Some(reason)) => reason.to_string(),
        (Some(field), Some(value), Some(expected)) => contracts::check::sentence(field, value, expected),
        _ => example.to_string(),
    }
}
