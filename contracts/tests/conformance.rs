//! ODCS v3.1 conformance suite: one YAML file per construct under `tests/conformance/`, each
//! with a small contract written from the standard and the records it must accept or refuse.
//! Layout, how to add a case and the readings chosen where ODCS is ambiguous:
//! `docs/conformance.md`.
//!
//! Every mismatch in every file is collected and reported at once, so one run shows the whole
//! state of conformance instead of the first broken case. `CONFORMANCE_ONLY=<substring>` runs
//! only the files whose name contains it.

use contracts::batch::{Batch, BatchReport};
use contracts::{compile, lint, parse, CompiledContract, Problem, Severity, Verdict};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The clock every batch is judged at; no case depends on it (no SLA rules), but a fixed value
/// keeps runs reproducible should one ever do.
const NOW_MS: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    construct: String,
    spec: String,
    #[serde(default)]
    #[allow(dead_code)] // read by people, not by the runner
    note: Option<String>,
    contract: String,
    /// Expected lint findings; absent means "no error and nothing reported as not enforced".
    #[serde(default)]
    lint: Option<Vec<LintExpect>>,
    #[serde(default)]
    records: Vec<RecordCase>,
    #[serde(default)]
    batch: Option<OneOrMany<BatchCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LintExpect {
    /// A substring of the finding's path (`properties[2].logicalTypeOptions.minLength`).
    path: String,
    severity: Sev,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Sev {
    Error,
    Warning,
    NotEnforced,
}

impl Sev {
    fn of(s: Severity) -> Self {
        match s {
            Severity::Error => Self::Error,
            Severity::Warning => Self::Warning,
            Severity::NotEnforced => Self::NotEnforced,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordCase {
    record: Value,
    /// Rule ids whose violation fails the record (blocking), in any order.
    fails: Vec<String>,
    /// When given: rule ids the record only counts toward (non-blocking hits), in any order.
    #[serde(default)]
    counted: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Self::One(x) => std::slice::from_ref(x),
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Passed,
    Failed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchCase {
    records: Vec<Value>,
    /// Rule id → expected outcome; rules not listed are not checked.
    #[serde(default)]
    rules: BTreeMap<String, Outcome>,
    /// Rule id → expected measured value (rows, or 0–100 for percent); `null`: nothing measured.
    #[serde(default)]
    values: BTreeMap<String, Option<f64>>,
    /// Records failing a blocking (per-record) check.
    #[serde(default)]
    failed_records: Option<u64>,
    passed: bool,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

/// Totals for the closing line.
#[derive(Debug, Default)]
struct Tally {
    files: usize,
    records: usize,
    batches: usize,
    lints: usize,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn files() -> Vec<PathBuf> {
    let only = std::env::var("CONFORMANCE_ONLY").unwrap_or_default();
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/conformance exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&only)))
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Case files use YAML 1.2 booleans, as contracts do (`y`, `on` stay strings).
fn load(text: &str) -> Result<CaseFile, String> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true }).map_err(|e| e.to_string())
}

#[test]
fn odcs_conformance() {
    let mut bad: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    for path in files() {
        let file = name(&path);
        let text = std::fs::read_to_string(&path).expect("readable case file");
        let case = match load(&text) {
            Ok(c) => c,
            Err(e) => {
                bad.push(format!("{file}: not a valid case file: {e}"));
                continue;
            }
        };
        tally.files += 1;
        run_file(&file, &case, &mut bad, &mut tally);
    }
    let summary = format!("{} files, {} record cases, {} batch cases, {} lint expectations", tally.files, tally.records, tally.batches, tally.lints);
    eprintln!("conformance: {summary}");
    if std::env::var("CONFORMANCE_ONLY").is_err() {
        // A suite that silently shrank (a glob or a rename gone wrong) would pass vacuously.
        assert!(tally.files >= 20 && tally.records >= 150, "the suite shrank: {summary}");
    }
    assert!(bad.is_empty(), "{} conformance mismatches ({summary}):\n{}", bad.len(), bad.join("\n"));
}

fn run_file(file: &str, case: &CaseFile, bad: &mut Vec<String>, tally: &mut Tally) {
    if case.construct.trim().is_empty() || case.spec.trim().is_empty() {
        bad.push(format!("{file}: construct and spec must say what is tested and where the standard says it"));
    }
    let expected_lint = case.lint.as_deref().unwrap_or_default();
    tally.lints += expected_lint.len();
    // A contract the parser refuses reports its one problem as a lint error.
    let problems = match parse(&case.contract) {
        Ok(c) => lint(&c),
        Err(e) => e.problems(),
    };
    check_lint(file, expected_lint, &problems, bad);
    if expected_lint.iter().any(|l| l.severity == Sev::Error) {
        if !case.records.is_empty() || case.batch.is_some() {
            bad.push(format!("{file}: a contract expected to have lint errors cannot run records"));
        }
        return;
    }
    let compiled = match parse(&case.contract).and_then(|c| compile(&c, None)) {
        Ok(c) => c,
        Err(e) => {
            bad.push(format!("{file}: contract does not compile: {e}"));
            return;
        }
    };
    for (i, rc) in case.records.iter().enumerate() {
        tally.records += 1;
        check_record(file, i, rc, &compiled, bad);
    }
    for (i, bc) in case.batch.as_ref().map_or(&[][..], OneOrMany::as_slice).iter().enumerate() {
        tally.batches += 1;
        check_batch(file, i, bc, &compiled, bad);
    }
}

/// Every expected finding must be present; for errors and not-enforced findings the list is
/// exact (an extra one means the gate refuses or drops something the case relies on).
fn check_lint(file: &str, expected: &[LintExpect], got: &[Problem], bad: &mut Vec<String>) {
    let matches = |e: &LintExpect, p: &Problem| Sev::of(p.severity) == e.severity && p.path.contains(&e.path);
    for e in expected {
        if !got.iter().any(|p| matches(e, p)) {
            bad.push(format!("{file}: lint: expected {:?} at {:?}, got {}", e.severity, e.path, show_problems(got)));
        }
    }
    for p in got.iter().filter(|p| p.severity != Severity::Warning) {
        if !expected.iter().any(|e| matches(e, p)) {
            bad.push(format!("{file}: lint: unexpected {:?} {p}", Sev::of(p.severity)));
        }
    }
}

fn show_problems(ps: &[Problem]) -> String {
    if ps.is_empty() {
        return "none".into();
    }
    ps.iter().map(|p| format!("[{:?}] {p}", Sev::of(p.severity))).collect::<Vec<_>>().join("; ")
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// Distinct rule ids of the verdict's violations that are (or are not) blocking.
fn ids(v: &Verdict, blocking: bool) -> Vec<String> {
    sorted(v.violations.iter().filter(|x| x.blocking == blocking).map(|x| x.rule.to_string()))
}

fn check_record(file: &str, i: usize, rc: &RecordCase, c: &CompiledContract, bad: &mut Vec<String>) {
    // Each record alone: a fresh batch, so nothing seen before (duplicates) leaks in.
    let mut batch = Batch::new(c, NOW_MS);
    let v = batch.record(1, &rc.record);
    let want = sorted(rc.fails.iter().cloned());
    let got = ids(&v, true);
    if got != want {
        bad.push(format!("{file}: records[{i}] {}: fails got {got:?}, expected {want:?}{}", rc.record, detail(&v)));
    }
    if let Some(counted) = &rc.counted {
        let want = sorted(counted.iter().cloned());
        let got = ids(&v, false);
        if got != want {
            bad.push(format!("{file}: records[{i}] {}: counted got {got:?}, expected {want:?}", rc.record));
        }
    }
}

/// The violations behind a mismatch, for whoever reads the failure.
fn detail(v: &Verdict) -> String {
    if v.violations.is_empty() {
        return String::new();
    }
    let mut s = String::from(" —");
    for x in &v.violations {
        let _ = write!(s, " [{}{} {} = {}: expected {}]", x.rule, if x.blocking { "" } else { " (counted)" }, x.field, x.value, x.expected);
    }
    s
}

fn check_batch(file: &str, i: usize, bc: &BatchCase, c: &CompiledContract, bad: &mut Vec<String>) {
    let mut batch = Batch::new(c, NOW_MS);
    for (n, rec) in bc.records.iter().enumerate() {
        batch.record(n as u64 + 1, rec);
    }
    let report = batch.finish(NOW_MS);
    let at = format!("{file}: batch[{i}] ({} records)", bc.records.len());
    for (id, want) in &bc.rules {
        match report.rules.iter().find(|r| &r.id == id) {
            None => bad.push(format!("{at}: rule {id} not in the report ({})", rule_list(&report))),
            Some(r) => {
                let got = if r.passed { Outcome::Passed } else { Outcome::Failed };
                if got != *want {
                    bad.push(format!("{at}: rule {id} got {got:?} (value {:?} {} {}), expected {want:?}", r.value, r.operator, r.threshold));
                }
            }
        }
    }
    for (id, want) in &bc.values {
        let Some(r) = report.rules.iter().find(|r| &r.id == id) else {
            bad.push(format!("{at}: rule {id} not in the report ({})", rule_list(&report)));
            continue;
        };
        let same = match (r.value, want) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-4,
            (a, b) => a == *b,
        };
        if !same {
            bad.push(format!("{at}: rule {id} value got {:?}, expected {want:?}", r.value));
        }
    }
    if let Some(want) = bc.failed_records {
        if report.failed_records != want {
            bad.push(format!("{at}: failed_records got {}, expected {want} (failures: {})", report.failed_records, failure_list(&report)));
        }
    }
    if report.passed != bc.passed {
        let failing: Vec<_> = report.rules.iter().filter(|r| !r.passed).map(|r| format!("{} = {:?}", r.id, r.value)).collect();
        bad.push(format!("{at}: passed got {}, expected {} (failing rules {failing:?}, failed records {})", report.passed, bc.passed, report.failed_records));
    }
}

fn rule_list(r: &BatchReport) -> String {
    r.rules.iter().map(|x| x.id.as_str()).collect::<Vec<_>>().join(", ")
}

fn failure_list(r: &BatchReport) -> String {
    r.failures.iter().map(|f| format!("{} × {}{}", f.rule, f.records, if f.blocking { "" } else { " (counted)" })).collect::<Vec<_>>().join(", ")
}
