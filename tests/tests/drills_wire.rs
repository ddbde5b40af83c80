//! Drills on JSON Schema and Protobuf bindings against real Kafka, with the gate's own Schema
//! Registry API: the drill registers the example writer schema as the producers' schema,
//! writes the baseline in the Confluent wire format, and for a type change registers a
//! drifted writer schema under a subject of its own; the gate, reading writer schemas by id
//! from the same registry, must quarantine every injected record as schema drift.

use e2e::sidecar::{self, header_str, read_until, RegistryServer};
use gate::config::{Fallback, PayloadFormat, SchemaRegistrySection};
use gate::drill::hypothesis::{Expect, HypothesisSpec};
use gate::drill::{run_plan, DrillReport, RunOptions, Step, Target, Traffic, TrafficSpec};
use std::time::Duration;

/// Admin token of the rigs' registry, read by gate and drill as `schema_registry.token_env`.
const SR_TOKEN_ENV: &str = "CG_TEST_DRILL_WIRE_SR_TOKEN";
const SR_TOKEN: &str = "drill-wire-registry-token";

fn example(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(rel)
}

struct Rig {
    running: gate::serve::Running,
    target: Target,
    traffic: Traffic,
    registry: RegistryServer,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A fresh source topic, a registry of its own, and an in-process gate reading `format`
    /// with the drill flights contract; the drill registers `schema` as the baseline's.
    async fn start(brokers: &str, name: &str, format: PayloadFormat, schema: &str) -> anyhow::Result<Self> {
        let src = e2e::unique_name(name);
        e2e::create_topic(brokers, &src, 1).await?;
        let contract = std::fs::read_to_string(example("drills/flights.odcs.yaml"))?;
        let dir = sidecar::contracts_dir(&contract);
        let redis = e2e::redis_url();
        let prefix = e2e::unique_name("drill-wire");
        let mut cfg = sidecar::config(brokers, dir.path(), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
        // Enough records per judgement for the distribution rule's PSI to be quiet on good data.
        cfg.bindings[0].breaker.min_records = 200;
        cfg.bindings[0].breaker.probe_records = 200;
        // Edition 2021: setting a variable is safe; every rig here sets the same value.
        std::env::set_var(SR_TOKEN_ENV, SR_TOKEN);
        let registry = RegistryServer::start(brokers, &e2e::unique_name("drill-wire-sr"), SR_TOKEN, 1 << 20).await?;
        let mut sr = SchemaRegistrySection::new(registry.url.clone());
        sr.token_env = Some(SR_TOKEN_ENV.into());
        cfg.schema_registry = Some(sr);
        cfg.bindings[0].format = format;
        let running = gate::serve::start(&cfg).await?;
        let target = Target::new(cfg, Some("flights")).map_err(anyhow::Error::msg)?;
        let spec = TrafficSpec {
            baseline: Some(example("flights/sample.jsonl")),
            schema: Some(example(schema)),
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
        self.registry.stop();
        Ok(())
    }
}

/// A type drift on `dep_delay` at 4 % of records for 4 s, under the 5 % record-failure rate:
/// every injected record quarantined as `$.schema` by its new writer schema, none leaked, the
/// breaker never moved.
async fn type_drift_is_quarantined_as_schema_drift(name: &str, format: PayloadFormat, schema: &str, writer_words: &str) -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, name, format, schema).await?;
    let step = Step {
        scenario: "schema-drift-type".into(),
        share: Some(0.04),
        duration: Some(Duration::from_secs(4)),
        hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() },
        ..Step::default()
    };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(r.measured.breaker_sequence, vec!["closed".to_string()]);
    // Caught by the writer schema's id, as a producer's new schema would be.
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    assert!(!q.is_empty(), "nothing quarantined");
    assert_eq!(header_str(&q[0], gate::serve::headers::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    let reason = header_str(&q[0], gate::serve::headers::REASON).unwrap_or_default();
    assert!(reason.contains(writer_words), "{reason}");
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    type_drift_is_quarantined_as_schema_drift("drill-jsonschema", PayloadFormat::JsonSchema, "flights/flights.schema.json", "dep_delay: contract number, writer [string, null]").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    type_drift_is_quarantined_as_schema_drift("drill-protobuf", PayloadFormat::Protobuf, "flights/flights.proto", "dep_delay: contract number, writer").await
}

/// Enum drift on a Protobuf enum: the drill registers the enum with a symbol more, which the
/// gate accepts as a writer schema (an enum is the contract's string), so each record with the
/// new symbol fails `origin`'s validValues rule, record by record, as on JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_enum_drift_is_a_new_symbol_caught_by_the_valid_values_rule() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-protobuf-enum", PayloadFormat::Protobuf, "flights/flights.proto").await?;
    let step = Step {
        scenario: "enum-drift".into(),
        field: Some("origin".into()),
        share: Some(0.04),
        duration: Some(Duration::from_secs(4)),
        hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() },
        ..Step::default()
    };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], gate::serve::headers::VIOLATIONS).as_deref(), Some("[\"origin_nyc\"]"));
    rig.stop().await
}

/// Torn bodies, a wrong magic byte and an unknown schema id in the JSON Schema wire format:
/// every one a decode error, none validated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_malformed_bytes_never_reach_validated() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-jsonschema-bytes", PayloadFormat::JsonSchema, "flights/flights.schema.json").await?;
    let step = Step { scenario: "malformed-bytes".into(), share: Some(0.1), duration: Some(Duration::from_secs(5)), records: Some(30), ..Step::default() };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!((r.measured.injected, r.measured.leaked, r.measured.quarantined), (30, 0, 30));
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| m.len() >= 3).await?;
    let reasons: Vec<String> = q.iter().filter_map(|m| header_str(m, gate::serve::headers::REASON)).collect();
    for words in ["magic byte", "is not in the schema registry"] {
        assert!(reasons.iter().any(|r| r.contains(words)), "no {words:?} among {reasons:#?}");
    }
    rig.stop().await
}
