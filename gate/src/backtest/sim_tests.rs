//! A fault burst in record time: the simulation must trip, cool down, probe and close (or
//! re-open) at the flushes the breaker core decides, and account for every record.

use super::*;
use breaker::WindowConfig;
use std::time::Duration;

const CONTRACT: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - name: id\n        logicalType: integer\n        required: true\n      - name: kind\n        logicalType: string\n        required: true\n        quality:\n          - id: kind_known\n            metric: invalidValues\n            arguments: { validValues: [a, b] }\n            mustBe: 0\n";

fn settings(fallback: Fallback) -> Settings {
    let breaker = BreakerConfig {
        min_records: 10,
        window: WindowConfig::Time { length: Duration::from_secs(10), bucket: Duration::from_secs(1) },
        open_wait: Duration::from_secs(5),
        max_open_wait: Duration::from_secs(60),
        backoff_multiplier: 2.0,
        probe_records: 20,
        probe_timeout: Duration::from_secs(30),
        ..BreakerConfig::default()
    };
    Settings { breaker, fallback, stale_records: StaleRecords::Count, bucket_ms: 10_000 }
}

/// 100 records a second for `secs` seconds; those in `[bad_from, bad_to)` seconds drift the enum.
fn stream(secs: i64, bad_from: i64, bad_to: i64) -> Vec<SimRecord> {
    (0..secs * 100)
        .map(|i| {
            let ts = 1_000_000 + i * 10;
            let bad = (bad_from * 100..bad_to * 100).contains(&i);
            let kind = if bad { "zzz" } else { "a" };
            SimRecord { ts, key: Some(format!("k{}", i % 7).into_bytes()), decoded: Ok(serde_json::json!({ "id": i, "kind": kind })), active_valid: None }
        })
        .collect()
}

fn run(records: Vec<SimRecord>, fallback: Fallback) -> VersionReport {
    let contract = Arc::new(contracts::compile(&contracts::parse(CONTRACT).expect("parses"), None).expect("compiles"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let start = records.first().map_or(0, |r| r.ts);
        let mut sim = Simulation::new(contract, settings(fallback), start).expect("settings");
        for r in records {
            sim.record(r).await.expect("flush");
        }
        sim.finish().await.expect("finish")
    })
}

#[test]
fn a_burst_trips_probes_and_closes_as_the_core_decides() {
    // (name, seconds, burst from, burst to, transitions (from, to), trip window in record ms
    // after the start)
    type Case = (&'static str, i64, i64, i64, Vec<(&'static str, &'static str)>, Option<(i64, i64)>);
    let cases: Vec<Case> = vec![
        ("clean", 40, 0, 0, vec![], None),
        // 5 % of a 10 s window at 100/s is 50 bad records: the trip falls within the burst's
        // first second; the burst is over when the open wait ends, so the probe passes.
        ("short burst", 40, 20, 23, vec![("closed", "open"), ("open", "half_open"), ("half_open", "closed")], Some((20_000, 21_000))),
        // Still bad when the breaker half-opens: the probe fails, the wait doubles, then it closes.
        ("long burst", 60, 20, 30, vec![("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("open", "half_open"), ("half_open", "closed")], Some((20_000, 21_000))),
    ];
    for (name, secs, from, to, want, trip) in cases {
        let r = run(stream(secs, from, to), Fallback::Hold);
        let got: Vec<(&str, &str)> = r.transitions.iter().map(|t| (t.from.as_str(), t.to.as_str())).collect();
        assert_eq!(got, want, "{name}: {:#?}", r.transitions);
        let bad = u64::try_from((to - from) * 100).expect("small");
        // Record checks are deterministic: every drifted record is quarantined, whatever the breaker.
        assert_eq!(r.totals.quarantine, bad, "{name}");
        assert_eq!(r.quarantine_by_rule.get("kind_known").copied().unwrap_or(0), bad, "{name}: {:?}", r.quarantine_by_rule);
        // Every record lands once (probe records are counted where their verdict sent them).
        let t = r.totals;
        assert_eq!(t.validated + t.quarantine + t.held + t.unresolved, r.records, "{name}: {t:?}");
        assert_eq!(r.buckets.values().map(|b| b.validated + b.quarantine + b.held).sum::<u64>() + t.unresolved, r.records, "{name}");
        if let (Some((lo, hi)), Some(first)) = (trip, r.transitions.first()) {
            let at = first.at_ms - 1_000_000;
            assert!(at > lo && at <= hi, "{name}: tripped at {at} ms");
            assert!(first.reason.contains("$.recordFailures"), "{name}: {}", first.reason);
            // Open for the open wait, then half-open at the first flush past it.
            let half = r.transitions[1].at_ms - first.at_ms;
            assert!((5_000..5_250).contains(&half), "{name}: half-open {half} ms after the trip");
            assert!(t.held > 0 && t.probes >= 20, "{name}: {t:?}");
        } else {
            assert_eq!(t.held, 0, "{name}");
        }
        assert_eq!(r.final_mode, "closed", "{name}");
    }
}

#[test]
fn fallbacks_route_the_open_breaker_as_the_plan_says() {
    // (fallback, diverted counter)
    type Diverted = fn(&RouteCounts) -> u64;
    let cases: [(Fallback, Diverted); 3] = [(Fallback::Degrade, |c| c.degraded), (Fallback::Hold, |c| c.held), (Fallback::LastGood, |c| c.held)];
    for (fallback, diverted) in cases {
        let r = run(stream(40, 20, 23), fallback);
        assert!(diverted(&r.totals) > 0, "{fallback:?}: {:?}", r.totals);
        // Keys have a last valid record: last_good re-emits it beside each held record.
        let want_stale = if fallback == Fallback::LastGood { r.totals.held } else { 0 };
        assert_eq!(r.totals.stale, want_stale, "{fallback:?}");
    }
}

#[test]
fn undecodable_payloads_are_quarantined_as_decode_errors() {
    let mut records = stream(5, 0, 0);
    for r in records.iter_mut().step_by(50) {
        r.decoded = Err(crate::serve::decode::Rejected::decode(crate::serve::decode::DecodeFailure::Json, "not JSON"));
    }
    let r = run(records, Fallback::Hold);
    assert_eq!(r.quarantine_by_rule.get("$.decode").copied(), Some(10), "{:?}", r.quarantine_by_rule);
}
