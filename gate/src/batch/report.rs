//! Rendering batch reports and lint findings for people.

use contracts::batch::BatchReport;
use contracts::{Problem, Severity};
use std::fmt::Write;

fn fmt_value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.4}").trim_end_matches('0').to_string() })
}

/// A readable table of a batch report.
#[must_use]
pub fn table(r: &BatchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "contract {} {} (object {})", r.contract, r.version, r.object);
    let _ = writeln!(out, "records {}  valid {}  failed {}  decode errors {}", r.records, r.valid_records, r.failed_records, r.decode_errors);
    let _ = writeln!(out);
    let w = r.rules.iter().map(|x| x.id.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<6} {:<w$} {:<16} {:>12} {:<22} unit", "", "rule", "metric", "value", "threshold");
    for rule in &r.rules {
        let thr = match &rule.threshold {
            serde_json::Value::Array(a) => format!("{} [{}]", rule.operator, a.iter().map(|x| fmt_value(x.as_f64())).collect::<Vec<_>>().join(", ")),
            other => format!("{} {}", rule.operator, fmt_value(other.as_f64())),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<w$} {:<16} {:>12} {:<22} {}",
            if rule.passed { "PASS" } else { "FAIL" },
            rule.id,
            rule.metric.as_str(),
            fmt_value(rule.value),
            thr,
            rule.unit
        );
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
                f.example
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

/// Lint findings, one per line, most severe first.
#[must_use]
pub fn lint_lines(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        let tag = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::NotEnforced => "not enforced",
        };
        let _ = writeln!(out, "{tag}: {p}");
    }
    out
}
