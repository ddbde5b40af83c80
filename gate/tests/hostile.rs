//! The hostile-input corpus (tests/hostile/corpus.rs) through `contract-gate check` and
//! `contracts lint` as a user runs them: every input ends in a report or a clear error with
//! the documented exit code, never a crash, and a good record after a bad one is still judged.

#[path = "../../tests/hostile/corpus.rs"]
mod corpus;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contract-gate")).args(args).current_dir(repo()).output().expect("run contract-gate")
}

/// Neither a signal nor a panic: the process ended by itself with `code`.
fn ended_with(out: &Output, code: i32, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert!(!err.contains("panicked") && !err.contains("overflow"), "{what}: {err}");
}

#[test]
fn check_refuses_each_hostile_record_with_its_reason_and_judges_the_next() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = corpus::good_flight();
    for rec in corpus::records().into_iter().filter(|r| r.one_line) {
        // The hostile record between two good ones: three records read, two valid.
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, [good.as_bytes(), b"\n", &rec.bytes, b"\n", good.as_bytes(), b"\n"].concat()).expect("write");
        let out = run(&["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", &path.to_string_lossy(), "--output", "json", "--now", "2013-01-01T10:00:00Z"]);
        ended_with(&out, 1, rec.name);
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{}: {e}", rec.name));
        assert_eq!(r["records"], 3, "{}: {r}", rec.name);
        assert_eq!(r["failed_records"], 1, "{}: {r}", rec.name);
        let failure = r["failures"].as_array().and_then(|f| f.iter().find(|f| f["first_lines"] == serde_json::json!([2])));
        let failure = failure.unwrap_or_else(|| panic!("{}: line 2 is not among the failures: {r}", rec.name));
        assert!(failure.to_string().contains(rec.reason), "{}: {failure} lacks {:?}", rec.name, rec.reason);
    }
}

#[test]
fn lint_answers_each_hostile_contract_clearly() {
    let dir = tempfile::tempdir().expect("tmp");
    for c in corpus::contracts() {
        let path = dir.path().join("contract.yaml");
        std::fs::write(&path, &c.bytes).expect("write");
        let out = run(&["contracts", "lint", &path.to_string_lossy()]);
        ended_with(&out, c.code, c.name);
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(said.contains(c.says), "{}: {said:.2000} lacks {:?}", c.name, c.says);
        // `check` loads contracts the same way: a contract lint refuses, check refuses too.
        if c.code != 0 {
            let out = run(&["check", "--contract", &path.to_string_lossy(), "--input", "examples/flights/sample.jsonl"]);
            ended_with(&out, 2, c.name);
        }
    }
}

#[test]
fn check_reads_hostile_avro_files_without_crashing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("in.avro");
    let contract = "examples/flights/flights.odcs.yaml";
    // Not a container file at all, or one cut short after its header.
    let garbage: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
    std::fs::write(&path, &garbage).expect("write");
    ended_with(&run(&["check", "--contract", contract, "--input", &path.to_string_lossy(), "--format", "avro"]), 2, "garbage");
    let schema = apache_avro::Schema::parse_str(include_str!("../../examples/flights/flights.avsc")).expect("schema");
    let mut w = apache_avro::Writer::new(&schema, Vec::new()).expect("writer");
    let flight: Value = serde_json::from_str(&corpus::good_flight()).expect("json");
    w.append_value(contracts::avro::from_json(&schema, &flight).expect("fits")).expect("append");
    let file = w.into_inner().expect("file");
    for cut in [file.len() / 2, file.len() - 3] {
        std::fs::write(&path, &file[..cut]).expect("write");
        let out = run(&["check", "--contract", contract, "--input", &path.to_string_lossy(), "--format", "avro", "--output", "json"]);
        let code = out.status.code();
        assert!(matches!(code, Some(1 | 2)), "cut at {cut}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
        ended_with(&out, code.unwrap_or_default(), "a cut file");
    }
    // A writer schema whose arrays hold items of no bytes: refused before a value is read
    // (a few bytes could claim millions of items), as a recursive one is.
    let weightless = apache_avro::Schema::parse_str(r#"{"type":"record","name":"Z","fields":[{"name":"year","type":"int"},{"name":"nulls","type":{"type":"array","items":"null"}}]}"#).expect("schema");
    let mut w = apache_avro::Writer::new(&weightless, Vec::new()).expect("writer");
    let v = apache_avro::types::Value::Record(vec![("year".into(), apache_avro::types::Value::Int(2013)), ("nulls".into(), apache_avro::types::Value::Array(vec![apache_avro::types::Value::Null; 3]))]);
    w.append_value(v).expect("append");
    std::fs::write(&path, w.into_inner().expect("file")).expect("write");
    let out = run(&["check", "--contract", contract, "--input", &path.to_string_lossy(), "--format", "avro", "--output", "json"]);
    ended_with(&out, 2, "weightless items");
    assert!(String::from_utf8_lossy(&out.stderr).contains("take no bytes"), "{}", String::from_utf8_lossy(&out.stderr));
}
