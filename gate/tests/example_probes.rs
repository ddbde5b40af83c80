//! The example config's half-open probes on clean flights: a probe judges a sample, so it must
//! not fail on sampling noise. The example contract limits cancellations (null `dep_time`) to
//! 3 % while the data has 2.5 %; before probes weighed their sample, a 100-record probe failed
//! a healthy stream about two times in five, and each failure doubled the open wait.

use breaker::{step, BreakerState, Event, Mode, Observation, ProbeObservation, Reason, Step};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn two_hundred_probes_of_clean_flights_all_pass() {
    let cfg = gate::config::GateConfig::load(&repo().join("examples/flights/gate.yaml")).expect("example config");
    let binding = &cfg.bindings[0];
    let brk = &binding.breaker;
    let text = std::fs::read_to_string(repo().join("examples/flights/flights.odcs.yaml")).expect("contract");
    let contract = contracts::compile(&contracts::parse(&text).expect("parse"), None).expect("compile");
    assert!(breaker::sizing::undersized(brk, &contract.rules).is_empty(), "the example's probe is large enough for every rule");
    let sample = std::fs::read_to_string(repo().join("examples/flights/sample.jsonl")).expect("sample");
    let mut records: Vec<serde_json::Value> = sample.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let n = usize::try_from(brk.probe_records).expect("probe size");
    let now = 1_700_000_000_000;
    let half = BreakerState { mode: Mode::HalfOpen, since_ms: now, epoch: 3, trips: 1, reason: Reason::CooledDown, open_until_ms: None, probe_budget: brk.probe_records, window_from_ms: now - 60_000 };
    let (mut failed, mut raw_breaches) = (Vec::new(), 0);
    for probe in 0..200u64 {
        // Each probe: the next `probe_records` flights of a seeded shuffle (a steady stream
        // without the sample's storm days bunched together).
        gate::drill::runner::shuffle(&mut records, probe + 1);
        let mut obs = contract.observer();
        for r in &records[..n] {
            let _ = contract.check(r, &mut obs);
        }
        let results = contracts::window::evaluate(&contract.rules, &obs.window, now);
        raw_breaches += usize::from(results.iter().any(|r| !r.passed && r.enforcement.trips()));
        let observed = Observation { records: 10_000, results: &[], warm: true, probe: Some(ProbeObservation { records: brk.probe_records, results: &results }) };
        match step(brk, &half, &Event::Observe(observed), now + 1_000) {
            Step::Move(s) if s.mode == Mode::Closed => {}
            other => failed.push((probe, other)),
        }
    }
    assert!(failed.is_empty(), "{} of 200 clean probes failed: {:?}", failed.len(), failed.first());
    // The same samples judged on their raw values: some land over a limit by chance, which is
    // what a probe must not fail on.
    assert!(raw_breaches > 0, "the samples never cross a limit by chance; the test would not see noise");
}
