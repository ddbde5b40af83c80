//! `contracts backtest`: what a contract version would have done to a range of a topic, next
//! to the version it would replace. Each version runs through [`sim::Simulation`] (the record
//! checks, the breaker core over a memory store in record time, the gate's routing plan);
//! [`source`] reads the records, [`report`] says what came out. Nothing is written anywhere.

pub mod report;
pub mod sim;
pub mod source;

use crate::serve::decode::Decoder;
use contracts::CompiledContract;
use report::BacktestReport;
use sim::{Settings, SimError, SimRecord, Simulation};
use source::RawRecord;
use std::sync::Arc;

/// What a record-time simulation cannot reproduce; printed with every report.
pub const CAVEATS: [&str; 5] = [
    "time is each record's timestamp, not its arrival at a gate: a backlog read late, or records whose timestamps are set by producers (CreateTime), are judged as if they arrived on time, so staleness and freshness rules measure against the record time",
    "one simulated replica: replicas merging their windows in a shared store, and their flush timing, are not modelled",
    "flushes fall every flush_interval of record time, not of wall-clock time; a window straddling a flush may split differently, so breaker-driven routes can differ by up to a flush's records around each transition",
    "operator actions (breaker open/close/reset, releasing held records, hot reloads) and store outages are not replayed",
    "strict mode and the pause fallback are approximated: strict's per-flush judgement is not simulated, and paused records are counted where the partition would pause rather than replayed later",
];

/// One backtest: the records and the versions to run them through.
#[derive(Debug)]
pub struct Backtest<'a> {
    /// The version being tried.
    pub candidate: Arc<CompiledContract>,
    /// The version it would replace.
    pub active: Option<Arc<CompiledContract>>,
    /// The binding's routing settings.
    pub settings: Settings,
    /// Binding name (Avro decoding looks its writer schemas up by it).
    pub binding: Option<String>,
    /// How payloads are decoded (JSON, or the binding's Avro with a Schema Registry).
    pub decoder: &'a Decoder,
    /// Where the records came from, for the report.
    pub source: String,
}

/// Runs the records through every version.
///
/// # Errors
/// [`SimError`]: breaker settings refused.
pub async fn run(b: &Backtest<'_>, records: &[RawRecord]) -> Result<BacktestReport, SimError> {
    let candidate = simulate(b, &b.candidate, records).await?;
    let active = match &b.active {
        Some(a) => Some(simulate(b, a, records).await?),
        None => None,
    };
    Ok(BacktestReport {
        source: b.source.clone(),
        binding: b.binding.clone(),
        fallback: b.settings.fallback.as_str().to_string(),
        bucket_ms: b.settings.bucket_ms,
        candidate,
        active,
        caveats: CAVEATS.iter().map(|c| (*c).to_string()).collect(),
    })
}

async fn simulate(b: &Backtest<'_>, contract: &Arc<CompiledContract>, records: &[RawRecord]) -> Result<report::VersionReport, SimError> {
    let start = records.first().map_or(0, |r| r.ts);
    let mut sim = Simulation::new(Arc::clone(contract), b.settings.clone(), start)?;
    let name = b.binding.as_deref().unwrap_or("");
    for r in records {
        let decoded = b.decoder.decode_for(name, || Arc::clone(contract), &r.payload).await;
        sim.record(SimRecord { ts: r.ts, key: r.key.clone(), decoded, active_valid: None }).await?;
    }
    sim.finish().await
}
