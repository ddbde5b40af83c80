//! `contract-gate demo` end to end: the real binary, from a directory without the repository's
//! files (the contract and sample are compiled in), with `--json`. No services needed: the
//! demo runs its own in-process Kafka cluster.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_trips_falls_back_probes_and_closes_within_a_minute() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_contract-gate"))
        .args(["demo", "--output", "json"])
        .current_dir(elsewhere.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start contract-gate demo");
    // A guard against a hang: the demo must end by itself well before this.
    let deadline = started + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not end within 90 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("output");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status.code());
    assert!(took < Duration::from_secs(60), "took {took:?}");

    let s: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is one JSON object ({e}):\n{stdout}"));
    assert_eq!(s["passed"], true, "{s:#}");
    assert_eq!(s["problems"], Value::Array(Vec::new()));
    let states: Vec<&str> = s["states"].as_array().expect("states").iter().filter_map(Value::as_str).collect();
    assert_eq!(states.first(), Some(&"closed"));
    assert_eq!(states.last(), Some(&"closed"), "{states:?}");
    let mut it = states.iter();
    assert!(["closed", "open", "half_open", "closed"].iter().all(|want| it.any(|s| s == want)), "closed → open → half_open → closed in order: {states:?}");
    // Every transition starts where the previous one ended.
    let tr = s["transitions"].as_array().expect("transitions");
    assert!(tr.windows(2).all(|w| w[0]["to"] == w[1]["from"]), "{tr:?}");

    assert_eq!(s["breach"]["rule"], "dep_time_nulls");
    assert_eq!(s["breach"]["field"], "dep_time");
    assert_eq!(s["breach"]["threshold"]["mustBeLessThan"], 5.0);
    assert!(s["breach"]["value"].as_f64().is_some_and(|v| v >= 5.0), "{}", s["breach"]);

    let r = &s["records"];
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("records.{k}"));
    for k in ["quarantined", "held", "stale", "validated", "last_good", "burst", "broken"] {
        assert!(n(k) > 0, "records.{k} = 0: {r}");
    }
    assert_eq!(n("degraded"), 0, "the demo's fallback is last_good");
    // Every produced record ended in exactly one of validated, quarantine, held.
    assert_eq!(n("validated") + n("quarantined") + n("held"), n("produced"), "{r}");
    assert_eq!(n("quarantined"), n("broken"), "exactly the broken records are quarantined: {r}");

    let detect = s["time_to_detect_ms"].as_i64().expect("time_to_detect_ms");
    let recover = s["time_to_recover_ms"].as_i64().expect("time_to_recover_ms");
    assert!((0..10_000).contains(&detect), "time to detect {detect} ms");
    assert!((0..30_000).contains(&recover), "time to recover {recover} ms");

    // Not a terminal: plain lines on stderr, one per transition.
    assert!(stderr.contains("breaker closed → open"), "{stderr}");
    assert!(stderr.contains("breaker half_open → closed"), "{stderr}");
}
