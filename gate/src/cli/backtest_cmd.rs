//! `contracts backtest`: the flags, the contracts (files, or the registry's active version),
//! the binding's settings, the records, then [`crate::backtest::run`] and the report.

use super::output::{self, OutputArgs, OutputFormat, Verb};
use super::registry_cmd::{self, Call, RegistryArgs};
use crate::backtest::report::{table, BacktestReport};
use crate::backtest::sim::Settings;
use crate::backtest::source::{self, Start, TopicRange};
use crate::backtest::{self, Backtest};
use crate::batch;
use crate::config::{Fallback, StaleRecords};
use crate::serve::decode::Decoder;
use anyhow::{anyhow, bail, Context as _};
use contracts::decode::DecodeLimits;
use contracts::CompiledContract;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `contracts backtest`: the formats it writes.
pub const BACKTEST: Verb = Verb { path: &["contracts", "backtest"], formats: &[OutputFormat::Table, OutputFormat::Json] };

fn duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// `contracts backtest` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  contract-gate contracts backtest --contract flights-1.1.0.yaml --against flights-1.0.0.yaml --topic nyc.flights --brokers localhost:9092 --since 1h\n  contract-gate contracts backtest --contract flights-1.1.0.yaml --config gate.yaml --binding flights --from-offsets 0:1200,1:1180 --registry http://gate:8080 --output json\n  contract-gate contracts backtest --contract flights.yaml --input flights.jsonl --time-field time_hour")]
pub struct BacktestArgs {
    /// The contract version to try (ODCS file).
    #[arg(long)]
    pub contract: PathBuf,
    /// Schema object to check against (default: the binding's, else the first).
    #[arg(long)]
    pub object: Option<String>,
    /// The version it would replace, as a file; its routing is shown beside the new one's.
    #[arg(long, conflicts_with = "registry")]
    pub against: Option<PathBuf>,
    /// Compare with the newest active version of the contract's id in this registry.
    #[arg(long)]
    pub registry: Option<String>,
    /// TLS options for an https registry URL.
    #[command(flatten)]
    pub tls: super::http_client::TlsArgs,
    /// Topic to replay (default: the binding's source).
    #[arg(long, conflicts_with = "input")]
    pub topic: Option<String>,
    /// Kafka bootstrap servers (default: the config's).
    #[arg(long, env = "CONTRACT_GATE_BROKERS", hide_env_values = true)]
    pub brokers: Option<String>,
    /// Start of the range: a duration before now (`1h`) or an RFC 3339 time; offsets are
    /// found with the records' timestamps.
    #[arg(long, conflicts_with_all = ["from_offsets", "input"])]
    pub since: Option<String>,
    /// Start of the range as `partition:offset,…` (only these partitions are read).
    #[arg(long, conflicts_with = "input")]
    pub from_offsets: Option<String>,
    /// End of the range (exclusive), like `--since`; default: the end of each partition now.
    #[arg(long, conflicts_with = "input")]
    pub until: Option<String>,
    /// Replay a JSON Lines file instead of a topic.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With `--input`: the field holding each record's time (epoch ms or RFC 3339).
    #[arg(long, requires = "input")]
    pub time_field: Option<String>,
    /// With `--input` and no `--time-field`: records per second of the synthetic timeline.
    #[arg(long, default_value_t = 100.0, requires = "input")]
    pub rate: f64,
    /// Gate config whose binding's breaker, fallback, format and stale-record settings apply.
    #[arg(long, requires = "binding")]
    pub config: Option<PathBuf>,
    /// Binding of `--config` to simulate.
    #[arg(long, requires = "config")]
    pub binding: Option<String>,
    /// Width of the report's time buckets.
    #[arg(long, default_value = "1m", value_parser = duration)]
    pub bucket: Duration,
    /// Client property of the topic's consumer, e.g. `security.protocol=SSL` (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    pub consumer_properties: Vec<String>,
    /// Longest time to read the range.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub timeout: Duration,
    /// Most records to replay; the range is held in memory to be replayed in time order.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_records: usize,
    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `contracts backtest`. Exit 0 with a report; errors are exit 2 (the caller's).
///
/// # Errors
/// Unusable flags, contracts, config or source; an unwritable report.
pub fn main(a: &BacktestArgs) -> anyhow::Result<ExitCode> {
    let sink = a.output.resolve(&BACKTEST, None)?;
    let cfg = match &a.config {
        Some(path) => Some(super::serve_cmd::load(path, &super::serve_cmd::Overrides { brokers: a.brokers.clone(), ..Default::default() })?),
        None => None,
    };
    let binding = match (&cfg, &a.binding) {
        (Some(cfg), Some(name)) => Some(crate::config::pattern::concrete(cfg, name).map_err(|e| anyhow!("--binding: {e}"))?),
        _ => None,
    };
    let object = a.object.clone().or_else(|| binding.as_ref().and_then(|b| b.object.clone()));
    let candidate = Arc::new(batch::load_contract(&a.contract, object.as_deref())?);
    let active = match (&a.against, &a.registry) {
        (Some(path), _) => Some(Arc::new(batch::load_contract(path, object.as_deref())?)),
        (None, Some(url)) => Some(Arc::new(registry_active(url, &a.tls, &candidate.id, object.as_deref())?)),
        (None, None) => None,
    };
    let bucket_ms = i64::try_from(a.bucket.as_millis()).unwrap_or(i64::MAX).max(1);
    // Without a binding: the breaker's defaults, holding what an open breaker diverts.
    let settings = match &binding {
        Some(b) => Settings::of(b, bucket_ms),
        None => Settings { breaker: breaker::BreakerConfig::default(), fallback: Fallback::Hold, stale_records: StaleRecords::Count, bucket_ms },
    };
    settings.breaker.validate().context("the binding's breaker settings")?;
    let decoder = match &cfg {
        Some(cfg) => Decoder::new(cfg)?,
        None => Decoder::json(DecodeLimits::default()),
    };
    let (records, label) = read(a, cfg.as_ref(), binding.as_ref())?;
    let bt = Backtest { candidate, active, settings, binding: binding.map(|b| b.name), decoder: &decoder, source: label };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report: BacktestReport = rt.block_on(backtest::run(&bt, &records))?;
    sink.write(|f| if f == OutputFormat::Json { output::json(&report) } else { Ok(table(&report)) })?;
    Ok(ExitCode::SUCCESS)
}

/// The records and a label for the report.
fn read(a: &BacktestArgs, cfg: Option<&crate::config::GateConfig>, binding: Option<&crate::config::Binding>) -> anyhow::Result<(Vec<source::RawRecord>, String)> {
    if let Some(path) = &a.input {
        let recs = source::read_file(path, a.time_field.as_deref(), a.rate, a.max_records)?;
        return Ok((recs, format!("file {}", path.display())));
    }
    let topic = a.topic.clone().or_else(|| binding.map(|b| b.source.clone())).ok_or_else(|| anyhow!("give --topic (or --config and --binding), or --input"))?;
    let brokers = a.brokers.clone().or_else(|| cfg.map(|c| c.kafka.brokers.clone())).ok_or_else(|| anyhow!("--topic needs --brokers (or --config)"))?;
    let now = chrono::Utc::now().timestamp_millis();
    let start = match (&a.since, &a.from_offsets) {
        (Some(s), _) => Start::Time(source::parse_time(s, now).map_err(|e| anyhow!("--since: {e}"))?),
        (None, Some(o)) => Start::Offsets(source::parse_offsets(o).map_err(|e| anyhow!("--from-offsets: {e}"))?),
        (None, None) => bail!("--topic needs --since or --from-offsets"),
    };
    let until = a.until.as_deref().map(|u| source::parse_time(u, now).map_err(|e| anyhow!("--until: {e}"))).transpose()?;
    let mut properties: Vec<(String, String)> = cfg.map(|c| c.kafka.properties.iter().chain(&c.kafka.consumer_properties).map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    for p in &a.consumer_properties {
        let (k, v) = p.split_once('=').ok_or_else(|| anyhow!("--consumer-property {p:?} is not KEY=VALUE"))?;
        properties.push((k.to_string(), v.to_string()));
    }
    let range = TopicRange { topic: topic.clone(), brokers, properties, start: start.clone(), until, timeout: a.timeout, max_records: a.max_records };
    let recs = source::read_topic(&range)?;
    let from = match &start {
        Start::Time(ms) => format!("from {}", crate::backtest::report::rfc3339(*ms)),
        Start::Offsets(o) => format!("from offsets {}", o.iter().map(|(p, o)| format!("{p}:{o}")).collect::<Vec<_>>().join(",")),
    };
    let to = until.map_or_else(|| "to the end".to_string(), |u| format!("to {}", crate::backtest::report::rfc3339(u)));
    Ok((recs, format!("topic {topic} {from} {to}")))
}

/// The newest active version of `id` in the registry at `url`, compiled.
fn registry_active(url: &str, tls: &super::http_client::TlsArgs, id: &str, object: Option<&str>) -> anyhow::Result<CompiledContract> {
    let args = RegistryArgs { registry: url.to_string(), token: None, output: OutputArgs::default(), tls: tls.clone() };
    let ask = |call: &Call| {
        let out = registry_cmd::run(call, &args, OutputFormat::Json);
        match (out.code, out.answer) {
            (0, Some(v)) => Ok(v),
            _ => Err(anyhow!("registry {url}: {}", out.stderr.trim())),
        }
    };
    let versions = ask(&Call::List { id: Some(id.to_string()) })?;
    let active = versions
        .get("versions")
        .and_then(serde_json::Value::as_array)
        .and_then(|vs| vs.iter().rev().find(|v| v.get("status").and_then(serde_json::Value::as_str) == Some("active")))
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_str))
        .ok_or_else(|| anyhow!("registry {url}: contract {id:?} has no active version"))?
        .to_string();
    let shown = ask(&Call::Show { id: id.to_string(), version: Some(active.clone()) })?;
    let text = shown.get("document").and_then(serde_json::Value::as_str).ok_or_else(|| anyhow!("registry {url}: {id} {active} came without its document"))?;
    let parsed = contracts::parse(text).with_context(|| format!("registry {url}: {id} {active}"))?;
    contracts::compile(&parsed, object).with_context(|| format!("registry {url}: {id} {active}"))
}
