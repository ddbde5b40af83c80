//! Chaos drills against real Kafka and Redis with an in-process gate: a short suite at small
//! rates. Each drill runs the whole cycle — warm-up, steady state, fault, recovery — and must
//! pass its hypothesis: record-level faults leak nothing, window faults trip and recover. The
//! Avro drills run the same cycle on a binding in the Confluent wire format.

use e2e::sidecar::{self, header_str, read_until, RegistryServer};
use gate::config::{Fallback, PayloadFormat, SchemaRegistrySection};
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
    /// Avro rigs: the Schema Registry (the gate's own API, on its own log topic).
    registry: Option<RegistryServer>,
    _dir: tempfile::TempDir,
}

/// Admin token of the Avro rigs' registry, read by the drill from this variable as
/// `schema_registry.token_env` says.
const SR_TOKEN_ENV: &str = "CG_TEST_DRILL_SR_TOKEN";
const SR_TOKEN: &str = "drill-registry-token";

impl Rig {
    /// A fresh source topic, an in-process gate sharing its breaker through Redis, and the
    /// drill's target and traffic (80 records/s, 2 s steady state).
    async fn start(brokers: &str, name: &str, contract: &str) -> anyhow::Result<Self> {
        Self::start_with(brokers, name, contract, false).await
    }

    /// [`Rig::start`]; `avro`: the binding reads the Confluent wire format, with writer schemas
    /// from a registry of its own, and the drill registers examples/flights/flights.avsc as the
    /// baseline's schema.
    async fn start_with(brokers: &str, name: &str, contract: &str, avro: bool) -> anyhow::Result<Self> {
        let src = e2e::unique_name(name);
        e2e::create_topic(brokers, &src, 1).await?;
        let dir = sidecar::contracts_dir(contract);
        let redis = e2e::redis_url();
        let prefix = e2e::unique_name("drill");
        let mut cfg = sidecar::config(brokers, dir.path(), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
        // Enough records per judgement for the distribution rule's PSI to be quiet on good data.
        cfg.bindings[0].breaker.min_records = 200;
        cfg.bindings[0].breaker.probe_records = 200;
        let registry = if avro {
            // Edition 2021: setting a variable is safe; every Avro rig sets the same value.
            std::env::set_var(SR_TOKEN_ENV, SR_TOKEN);
            let r = RegistryServer::start(brokers, &e2e::unique_name("drill-sr"), SR_TOKEN, 1 << 20).await?;
            let mut sr = SchemaRegistrySection::new(r.url.clone());
            sr.token_env = Some(SR_TOKEN_ENV.into());
            cfg.schema_registry = Some(sr);
            cfg.bindings[0].format = PayloadFormat::Avro;
            Some(r)
        } else {
            None
        };
        let running = gate::serve::start(&cfg).await?;
        let target = Target::new(cfg, Some("flights")).map_err(anyhow::Error::msg)?;
        let spec = TrafficSpec {
            baseline: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/sample.jsonl").into()),
            schema: avro.then(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/flights.avsc").into()),
            rate: Some(80.0),
            steady: Some(Duration::from_secs(2)),
            key: Some(vec!["carrier".into(), "flight".into()]),
            settle: Some(Duration::from_secs(1)),
            ..TrafficSpec::default()
        };
        let traffic = Traffic::from_spec(&spec, &target.info).map_err(anyhow::Error::msg)?;
        Ok(Self { running, target, traffic, registry, _dir: dir })
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
        if let Some(r) = self.registry {
            r.stop();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start_with(&brokers, "drill-avro-schema", &drill_contract(), true).await?;
    let s = Step { hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() }, ..step("schema-drift-type", 0.04, 4) };
    let r = rig.drill(s).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(seq(&r), vec!["closed"]);
    // Caught as the gate catches a producer's new schema: by its id, not field by field.
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], gate::serve::headers::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    let reason = header_str(&q[0], gate::serve::headers::REASON).unwrap_or_default();
    assert!(reason.contains("dep_delay: contract number, writer union [null, string]"), "{reason}");
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_null_burst_trips_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start_with(&brokers, "drill-avro-nulls", &drill_contract(), true).await?;
    let r = rig.drill(step("null-burst", 0.5, 3)).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("dep_time_nulls"));
    let s = seq(&r);
    assert_eq!((s.first(), s.get(1), s.last()), (Some(&"closed"), Some(&"open"), Some(&"closed")), "{s:?}");
    assert_eq!(r.measured.quarantined, 0, "nulls in dep_time are valid records of the producers' schema");
    rig.stop().await
}
