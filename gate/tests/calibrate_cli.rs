//! `contracts calibrate` on a fixture with a known base rate: 2 % nulls against a 3 % limit.

use std::path::Path;
use std::process::{Command, Output};

const CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: readings
version: 1.0.0
status: active
schema:
  - name: readings
    properties:
      - name: id
        logicalType: integer
        required: true
      - name: value
        logicalType: number
        quality:
          - id: value_nulls
            metric: nullValues
            mustBeLessThan: 3
            unit: percent
";

const CONFIG: &str = "kafka: { brokers: 127.0.0.1:9092, group_id: g }
contracts: { dir: . }
bindings:
  - name: readings
    source: readings
    contract: readings
    fallback: degrade
    breaker:
      min_records: 100
      window: { kind: time, length: 10s, bucket: 1s }
      probe_records: 100
      confidence: 0.99
";

fn fixture(dir: &Path) {
    std::fs::write(dir.join("readings.odcs.yaml"), CONTRACT).expect("contract");
    std::fs::write(dir.join("gate.yaml"), CONFIG).expect("config");
    // Every 50th value null: a base rate of exactly 2 %, evenly spread.
    let lines: String = (1..=20_000).map(|i| if i % 50 == 0 { format!("{{\"id\":{i},\"value\":null}}\n") } else { format!("{{\"id\":{i},\"value\":{i}.5}}\n") }).collect();
    std::fs::write(dir.join("good.jsonl"), lines).expect("records");
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["contracts", "calibrate", "--contract", "readings.odcs.yaml", "--input", "good.jsonl", "--config", "gate.yaml", "--rate", "50"];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_contract-gate")).args(&args).current_dir(dir).output().expect("run contract-gate")
}

#[test]
fn proposals_meet_the_targets_on_a_known_base_rate() {
    let dir = tempfile::tempdir().expect("tmp");
    fixture(dir.path());
    let out = run(dir.path(), &["--output", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["records"], 20_000);
    assert_eq!(r["binding"], "readings");
    // 10 s at 50 records/s.
    assert_eq!(r["settings"]["window_records"], 500);
    let rules = r["rules"].as_array().expect("rules");
    let c = rules.iter().find(|x| x["id"] == "value_nulls").expect("the null rule");
    let f = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    assert!((f("base_rate") - 2.0).abs() < 1e-9, "{c}");
    assert_eq!(c["window_scope"], 500);
    // 3 % of 500 at 2 %: the current limit trips many times a day; the proposal meets the
    // default target of one a month, and is still under 3× the base rate.
    assert!(f("false_trips_per_day") > 1.0 && c["meets_target"] == false, "{c}");
    let target = r["settings"]["target_trips_per_day"].as_f64().unwrap_or(0.0);
    assert!((target - 1.0 / 30.0).abs() < 1e-12);
    assert!(f("proposed_false_trips_per_day") <= target, "{c}");
    assert!(f("proposed_threshold") > 3.0 && f("proposed_threshold") < 6.0, "{c}");
    // The proposed probe's false-failure odds are below the target, with the stated power.
    assert!(c["proposed_probe_records"].as_u64().is_some_and(|n| n > 0), "{c}");
    assert!(f("proposed_probe_false_fail") <= r["settings"]["target_probe_false_fail"].as_f64().unwrap_or(0.0), "{c}");
    assert!(f("probe_power") >= r["power"].as_f64().unwrap_or(1.0), "{c}");
    // Evenly spread nulls never breach in the sample's own windows at the proposal.
    assert_eq!(c["sample_windows"], 40);
    assert_eq!(c["sample_windows_breached_proposed"], 0);
    // The record-failure and decode-error rules are there with no hits; nothing else skipped.
    assert!(rules.iter().any(|x| x["id"] == "$.recordFailures" && x["hits"] == 0));
    assert!(r["skipped"].as_array().is_some_and(Vec::is_empty), "{r}");
    let snippet = r["snippet"].as_str().unwrap_or("");
    assert!(snippet.contains("#   - id: value_nulls\n#     mustBeLessThan: ") && snippet.contains("breaker:\n  probe_records: "), "{snippet}");
}

#[test]
fn the_table_shows_the_proposal_and_the_snippet() {
    let dir = tempfile::tempdir().expect("tmp");
    fixture(dir.path());
    let out = run(dir.path(), &["--keep-thresholds"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for needle in ["20000 records of readings.odcs.yaml, binding readings: window 500 records", "value_nulls", "< 3 ", "probe false-fail", "breaker:\n  probe_records: "] {
        assert!(t.contains(needle), "{needle} not in\n{t}");
    }
    // junit is refused, naming the formats it writes.
    let bad = run(dir.path(), &["--output", "junit"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--output table or --output json"));
}
