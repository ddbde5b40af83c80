//! The rig the drill tests run on: a fresh source topic, an in-process gate sharing its breaker
//! through Redis, and the drill's target and traffic (80 records/s, 2 s steady state). A rig in
//! a Confluent wire format also has a Schema Registry of its own (the gate's own API, on its
//! own log topic), from which the gate reads writer schemas and where the drill registers the
//! baseline's schema and its drifted ones.

use crate::sidecar::{self, RegistryServer};
use gate::config::{Fallback, PayloadFormat, SchemaRegistrySection};
use gate::drill::{run_plan, DrillReport, RunOptions, Step, Target, Traffic, TrafficSpec};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Admin token of the rigs' registry, read by gate and drill as `schema_registry.token_env`.
const SR_TOKEN_ENV: &str = "CG_TEST_DRILL_SR_TOKEN";
const SR_TOKEN: &str = "drill-registry-token";

/// A file under `examples/`.
#[must_use]
pub fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(rel)
}

/// The drill flights contract (latency SLA, `dep_delay` baseline, thresholds for small windows).
///
/// # Panics
/// When the example is missing.
#[must_use]
pub fn drill_contract() -> String {
    std::fs::read_to_string(example("drills/flights.odcs.yaml")).expect("examples/drills/flights.odcs.yaml")
}

/// A running gate and what a drill against it needs.
#[derive(Debug)]
pub struct Rig {
    /// The gate.
    pub running: gate::serve::Running,
    /// The drill's target.
    pub target: Target,
    /// The drill's traffic.
    pub traffic: Traffic,
    /// Wire-format rigs: the Schema Registry.
    registry: Option<RegistryServer>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A rig for `contract` on a topic named after `name`. `wire`: the binding reads this
    /// Confluent wire format, and the drill registers the schema at this path under
    /// `examples/` as the baseline's; `None`: JSON.
    ///
    /// # Errors
    /// Kafka, the registry or the gate could not be set up.
    pub async fn start(brokers: &str, name: &str, contract: &str, wire: Option<(PayloadFormat, &str)>) -> anyhow::Result<Self> {
        let src = crate::unique_name(name);
        crate::create_topic(brokers, &src, 1).await?;
        let dir = sidecar::contracts_dir(contract);
        let redis = crate::redis_url();
        let prefix = crate::unique_name("drill");
        let mut cfg = sidecar::config(brokers, dir.path(), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
        // Enough records per judgement for the distribution rule's PSI to be quiet on good data.
        cfg.bindings[0].breaker.min_records = 200;
        cfg.bindings[0].breaker.probe_records = 200;
        let registry = match wire {
            Some((format, _)) => {
                // Edition 2021: setting a variable is safe; every rig sets the same value.
                std::env::set_var(SR_TOKEN_ENV, SR_TOKEN);
                let r = RegistryServer::start(brokers, &crate::unique_name("drill-sr"), SR_TOKEN, 1 << 20).await?;
                let mut sr = SchemaRegistrySection::new(r.url.clone());
                sr.token_env = Some(SR_TOKEN_ENV.into());
                cfg.schema_registry = Some(sr);
                cfg.bindings[0].format = format;
                Some(r)
            }
            None => None,
        };
        let running = gate::serve::start(&cfg).await?;
        let target = Target::new(cfg, Some("flights")).map_err(anyhow::Error::msg)?;
        let spec = TrafficSpec {
            baseline: Some(example("flights/sample.jsonl")),
            schema: wire.map(|(_, schema)| example(schema)),
            rate: Some(80.0),
            steady: Some(Duration::from_secs(2)),
            key: Some(vec!["carrier".into(), "flight".into()]),
            settle: Some(Duration::from_secs(1)),
            ..TrafficSpec::default()
        };
        let traffic = Traffic::from_spec(&spec, &target.info).map_err(anyhow::Error::msg)?;
        Ok(Self { running, target, traffic, registry, _dir: dir })
    }

    /// Runs one drill step; prints its report table.
    ///
    /// # Errors
    /// The drill could not run.
    pub async fn drill(&self, step: Step) -> anyhow::Result<DrillReport> {
        let mut r = run_plan(&self.target, &self.traffic, &[step], &RunOptions::default()).await?;
        let r = r.pop().ok_or_else(|| anyhow::anyhow!("no report"))?;
        eprintln!("{}", gate::drill::report::table(std::slice::from_ref(&r)));
        Ok(r)
    }

    /// Stops the gate and the registry.
    ///
    /// # Errors
    /// The record loop or a flusher ended with an error.
    pub async fn stop(self) -> anyhow::Result<()> {
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
