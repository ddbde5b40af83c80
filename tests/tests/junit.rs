//! `--output junit --output-file` as a CI job uses it: the built `contract-gate` writes the
//! files, and a real JUnit reader (Python's junitparser, `tests/python/junit_summary.py`)
//! reads them back. Counts, failure messages and skips must come through the reader, not just
//! be in the text.
//!
//! Needs `CG_TEST_PYTHON` (`eval "$(scripts/services.sh python)"`); without it the test fails
//! unless `CG_SKIP_SERVICES=1`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).current_dir(repo()).output().expect("run contract-gate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Each file as junitparser read it: `[{name, tests, failures, errors, skipped, cases}]`.
fn read_junit(python: &str, files: &[&Path]) -> Vec<Value> {
    let out = Command::new(python).arg(e2e::python_script("junit_summary.py")).args(files).output().expect("run python");
    assert!(out.status.success(), "junit_summary.py failed:\n{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    files.iter().map(|f| v[f.to_string_lossy().as_ref()].clone()).collect()
}

/// (tests, failures, errors, skipped) of a suite.
fn counts(suite: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| suite[k].as_u64().unwrap_or(u64::MAX);
    (n("tests"), n("failures"), n("errors"), n("skipped"))
}

fn case<'a>(suite: &'a Value, name: &str) -> &'a Value {
    suite["cases"].as_array().and_then(|cs| cs.iter().find(|c| c["name"] == name)).unwrap_or_else(|| panic!("no case {name} in {suite}"))
}

fn first_result(c: &Value) -> (&str, &str) {
    (c["results"][0]["kind"].as_str().unwrap_or(""), c["results"][0]["message"].as_str().unwrap_or(""))
}

#[test]
fn junit_files_read_back_through_a_junit_reader() {
    let Some(python) = e2e::python() else { return };
    let bin = e2e::gate_binary().expect("contract-gate binary");
    let dir = tempfile::tempdir().expect("tmp");
    let file = |name: &str| dir.path().join(name);
    let golden = "gate/tests/golden";
    let (contract, input) = (format!("{golden}/orders.odcs.yaml"), format!("{golden}/orders.jsonl"));

    // check, failing: the table stays on stdout for the log, the XML goes to the file.
    let failing = file("check-failing.xml");
    let out = run(&bin, &["check", "--contract", &contract, "--input", &input, "--now", "2024-05-01T10:10:00Z", "--output", "junit", "--output-file", &failing.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("FAILED: the contract is violated"), "{}", text(&out.stdout));

    // check, passing.
    let passing = file("check-passing.xml");
    let out = run(&bin, &["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", "examples/flights/sample.jsonl", "--output", "junit", "--output-file", &passing.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // contracts lint: a usable contract, and one with an error.
    let lint_ok = file("lint-ok.xml");
    let out = run(&bin, &["contracts", "lint", &contract, "--output", "junit", "--output-file", &lint_ok.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let source = std::fs::read_to_string(repo().join(&contract)).expect("fixture");
    let broken = file("broken.yaml");
    std::fs::write(&broken, source.replacen("logicalType: number", "logicalType: money", 1)).expect("write");
    let lint_bad = file("lint-bad.xml");
    let out = run(&bin, &["contracts", "lint", &broken.to_string_lossy(), "--output", "junit", "--output-file", &lint_bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // contracts diff OLD NEW, offline: a valid value removed under a minor bump is breaking.
    let newer = file("orders-1.3.0.yaml");
    std::fs::write(&newer, source.replacen("version: 1.2.0", "version: 1.3.0", 1).replacen("[new, paid, shipped]", "[new, paid]", 1)).expect("write");
    let diff = file("diff.xml");
    let out = run(&bin, &["contracts", "diff", &contract, &newer.to_string_lossy(), "--output", "junit", "--output-file", &diff.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));

    let read = read_junit(&python, &[&failing, &passing, &lint_ok, &lint_bad, &diff]);
    let one_suite = |i: usize| -> &Value {
        let suites = read[i].as_array().unwrap_or_else(|| panic!("file {i}: {}", read[i]));
        assert_eq!(suites.len(), 1, "{}", read[i]);
        &suites[0]
    };

    let s = one_suite(0);
    assert_eq!(s["name"], "orders 1.2.0 / orders");
    // 22 cases: the latency SLA's recordAge (reported, never failing) is one of them.
    assert_eq!(counts(s), (22, 8, 0, 2), "{s}");
    let (kind, message) = first_result(case(s, "id.minimum"));
    assert_eq!(kind, "failure");
    assert_eq!(message, "1 record breaks id.minimum: field id = 0, expected at least 1");
    let (kind, message) = first_result(case(s, "at.latency"));
    assert_eq!((kind, message), ("failure", "at.latency breaks: freshness of at = 300 seconds, expected mustBeLessOrEqualTo 120 seconds"));
    assert!(first_result(case(s, "$.extraFields")).1.contains("field coupon = \"X1 <&>\""), "{s}");
    assert_eq!(first_result(case(s, "slaProperties[1]")).0, "skipped");
    assert!(case(s, "status.required")["results"].as_array().is_some_and(Vec::is_empty), "a passing case has no result");

    let s = one_suite(1);
    let (tests, failures, errors, _) = counts(s);
    assert!(tests > 20 && failures == 0 && errors == 0, "{s}");

    let s = one_suite(2);
    assert_eq!(counts(s), (2, 0, 0, 2), "{s}");

    let s = one_suite(3);
    let (_, failures, _, _) = counts(s);
    assert_eq!(failures, 1, "{s}");
    let failed: Vec<&Value> = s["cases"].as_array().into_iter().flatten().filter(|c| first_result(c).0 == "failure").collect();
    assert!(first_result(failed[0]).1.contains("money"), "{s}");

    let s = one_suite(4);
    assert_eq!(s["name"], "orders 1.2.0 -> 1.3.0");
    let (tests, failures, _, _) = counts(s);
    assert_eq!((tests, failures), (1, 1), "{s}");
    let (kind, message) = first_result(&s["cases"][0]);
    assert_eq!(kind, "failure");
    assert!(message.starts_with("breaking validValues change at orders.status.quality[status_known]"), "{message}");
}

#[test]
fn a_format_a_verb_cannot_write_is_a_usage_error() {
    let bin = e2e::gate_binary().expect("contract-gate binary");
    let out = run(&bin, &["contracts", "show", "orders", "--output", "junit"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`contracts show` does not write junit output; use --output table or --output json"), "{err}");
    assert!(err.contains("Usage: contract-gate contracts show"), "{err}");
    // The old spelling still works and says so.
    let out = run(&bin, &["check", "--contract", "gate/tests/golden/orders.odcs.yaml", "--input", "gate/tests/golden/orders.jsonl", "--now", "2024-05-01T10:10:00Z", "--report", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--report is deprecated; use --output json"), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["passed"], false);
}
