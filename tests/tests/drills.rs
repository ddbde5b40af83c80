//! Chaos drills against real Kafka and Redis with an in-process gate: a short suite at small
//! rates. Each drill runs the whole cycle — warm-up, steady state, fault, recovery — and must
//! pass its hypothesis: record-level faults leak nothing, window faults trip and recover.

use e2e::sidecar;
use gate::config::Fallback;
use gate::drill::hypothesis::{Expect, HypothesisSpec};
use gate::drill::{run_plan, DrillReport, RunOptions, Step, Target, Traffic, TrafficSpec};
use std::time::Duration;

/// The drill flights contract (latency SLA, `dep_delay` baseline, thresholds for small windows).
fn drill_contract() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/drills/flights.odcs.yaml")).expect("examples/drills/flights.odcs.yaml")
}

struct Rig {
    running: gate::serve::Running,
    target: Target,
    traffic: Traffic,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A fresh source topic, an in-process gate sharing its breaker through Redis, and the
    /// drill's target and traffic (80 records/s, 2 s steady state).
    async fn start(brokers: &str, name: &str, contract: &str) -> anyhow::Result<Self> {
        let src = e2e::unique_name(name);
        e2e::create_topic(brokers, &src, 1).await?;
        let dir = sidecar::contracts_dir(contract);
        let redis = e2e::redis_url();
        let prefix = e2e::unique_name("drill");
        let mut cfg = sidecar::config(brokers, dir.path(), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
        // Enough records per judgement for the distribution rule's PSI to be quiet on good data.
        cfg.bindings[0].breaker.min_records = 200;
        cfg.bindings[0].breaker.probe_records = 200;
        let running = gate::serve::start(&cfg).await?;
        let target = Target::new(cfg, Some("flights")).map_err(anyhow::Error::msg)?;
        let spec = TrafficSpec {
            baseline: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/sample.jsonl").into()),
            rate: Some(80.0),
            steady: Some(Duration::from_secs(2)),
            key: Some(vec!["carrier".into(), "flight".into()]),
            settle: Some(Duration::from_secs(1)),
            ..TrafficSpec::default()
        };
        let traffic = Traffic::from_spec(&spec, &target.info).map_err(anyhow::Error::msg)?;
        Ok(Self { running, target, traffic, _dir: dir })
    }

    async fn drill(&self, step: Step) -> anyhow::Result<DrillReport> {
        let mut r = run_plan(&self.target, &self.traffic, &[step], &RunOptions::default()).await?;
        let r = r.pop().ok_or_else(|| anyhow::anyhow!("no report"))?;
        eprintln!("{}", gate::drill::report::table(std::slice::from_ref(&r)));
        Ok(r)
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.running.shutdown.send(true);
        self.running.pipeline.await??;
        for f in self.running.flushers {
            f.await?;
        }
        Ok(())
    }
}

fn step(scenario: &str, share: f64, secs: u64) -> Step {
    Step { scenario: scenario.into(), share: Some(share), duration: Some(Duration::from_secs(secs)), ..Step::default() }
}

fn seq(r: &DrillReport) -> Vec<&str> {
    r.measured.breaker_sequence.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_quarantined_without_a_trip() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-schema", &drill_contract()).await?;
    // 4 % of records carry dep_delay as a string: under the 5 % record-failure rate, so every
    // one must be quarantined and the breaker must stay closed.
    let s = Step { hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() }, ..step("schema-drift", 0.04, 4) };
    let r = rig.drill(s).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(seq(&r), vec!["closed"]);
    assert!(r.measured.time_to_detect_ms.is_some_and(|t| t < 10_000));
    assert!(r.steady.records > 0 && r.steady.latency_p50_ms.is_some(), "{:?}", r.steady);
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_burst_trips_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-nulls", &drill_contract()).await?;
    let r = rig.drill(step("null-burst", 0.5, 3)).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("dep_time_nulls"));
    let s = seq(&r);
    assert_eq!((s.first(), s.get(1), s.last()), (Some(&"closed"), Some(&"open"), Some(&"closed")), "{s:?}");
    // Records after the trip were held, not validated.
    assert!(r.measured.diverted > 0, "{:?}", r.measured);
    assert_eq!(r.measured.quarantined, 0, "nulls in dep_time are valid records");
    // The default hypothesis asserts the breaker's promise: nothing through a failed probe,
    // no re-trip after the close.
    let asserted: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
    assert!(asserted.contains(&"probe leak") && asserted.contains(&"no re-trip"), "{asserted:?}");
    assert_eq!((r.measured.leaked_after_trip, r.measured.retrips), (0, 0), "{:?}", r.measured);
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bytes_never_reach_validated() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-bytes", &drill_contract()).await?;
    let r = rig.drill(Step { records: Some(30), ..step("malformed-bytes", 0.1, 5) }).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.injected, 30);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, 30));
    // 30 torn records against a 1 % decode-error limit: the breaker trips too, and recovers.
    assert_eq!(r.measured.trip_rule.as_deref(), Some("$.decodeErrors"));
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_trips_the_watchdog_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let contract = drill_contract().replace("  - property: frequency\n    value: 10\n", "  - property: frequency\n    value: 3\n");
    assert!(contract.contains("frequency\n    value: 3\n"));
    let rig = Rig::start(&brokers, "drill-silence", &contract).await?;
    let r = rig.drill(Step { scenario: "silence".into(), duration: Some(Duration::from_secs(6)), ..Step::default() }).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("time_hour.frequency"));
    let trip = r.measured.time_to_trip_ms.unwrap_or(0);
    assert!((3_000..6_000).contains(&trip), "tripped {trip} ms into a 6 s silence with a 3 s SLA");
    assert_eq!(r.measured.injected, 0);
    rig.stop().await
}
