//! Shadow evaluation: a shadow version (pushed with `--shadow`) judged beside the active one
//! on live traffic, routing nothing. The record loop offers each record it judged — arrival
//! time, key, decoded value, the active verdict — through a bounded channel without ever
//! waiting ([`ShadowSlot::offer`]); an evaluator task of its own feeds them, in arrival time,
//! to the backtest's [`Simulation`] (the record checks, a real breaker over a memory store,
//! the routing plan) and ticks it every `flush_interval` of wall-clock time, so the shadow's
//! breaker opens, cools down and probes as the live one would.
//!
//! Why a channel and a task: the record loop's judging is synchronous under the shard lock,
//! while a simulation's flush awaits its store; one simulation shared by every record loop
//! would make them contend; and a shadow must never slow or stop the live path. A full
//! channel counts the record as skipped, and the report states the coverage.
//!
//! The shadow's window is this replica's share of the traffic (a memory store, not Redis):
//! each replica reports what it saw.

use crate::backtest::report::{rfc3339, RouteCounts, TransitionRow, VersionReport};
use crate::backtest::sim::{Judged, Settings, SimError, SimRecord, Simulation};
use crate::config::Binding;
use crate::serve::decode::rejected::Decoded;
use crate::serve::telemetry::shadow::{ShadowCounters, ShadowOutcome, ShadowSkips, ShadowStopped, ShadowTransition};
use crate::serve::telemetry::Emit;
use contracts::CompiledContract;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Records waiting for the evaluator before new ones are skipped: about a second of a busy
/// binding, so a slow evaluator costs coverage, never memory or latency.
pub const QUEUE: usize = 16_384;

/// Time buckets the live report keeps (per minute: the last day).
const BUCKETS_KEPT: usize = 1_440;

/// Width of the live report's time buckets.
const BUCKET_MS: i64 = 60_000;

/// One record the live gate judged, for the shadow.
#[derive(Debug)]
pub struct ShadowRecord {
    /// When the gate judged it (ms): the shadow's clock, and the staleness reference.
    pub arrival_ms: i64,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// The payload as the binding decoded it.
    pub decoded: Decoded,
    /// The active version's verdict.
    pub active_valid: bool,
}

/// How the shadow's verdicts compare with the active version's, record by record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    /// Valid under both.
    pub both_valid: u64,
    /// Invalid under both.
    pub both_invalid: u64,
    /// Invalid under the shadow where the active version passed it.
    pub would_quarantine: u64,
    /// Valid under the shadow where the active version quarantined it.
    pub would_pass: u64,
}

impl Agreement {
    fn add(&mut self, outcome: ShadowOutcome) {
        match outcome {
            ShadowOutcome::BothValid => self.both_valid += 1,
            ShadowOutcome::BothInvalid => self.both_invalid += 1,
            ShadowOutcome::WouldQuarantine => self.would_quarantine += 1,
            ShadowOutcome::WouldPass => self.would_pass += 1,
        }
    }
}

/// What a shadow version did to the live traffic so far, on this replica.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowReport {
    /// Binding.
    pub binding: String,
    /// Contract id.
    pub contract: String,
    /// The shadow version.
    pub shadow_version: String,
    /// The version the binding routes by now.
    pub active_version: String,
    /// Whether promoting the shadow would move this binding to it (it is in the binding's
    /// version range); when false the report is a preview for a range change.
    pub promotion_moves_binding: bool,
    /// When this evaluation started (RFC 3339).
    pub since: String,
    /// Records the shadow judged.
    pub records: u64,
    /// Records it did not see because its queue was full.
    pub skipped: u64,
    /// Verdicts compared with the active version's.
    pub agreement: Agreement,
    /// Records the shadow would have quarantined, per blocking rule (a record breaking two
    /// rules counts under both).
    pub quarantine_by_rule: BTreeMap<String, u64>,
    /// Where the shadow would have routed the records (its own breaker included).
    pub routes: RouteCounts,
    /// Its breaker's transitions.
    pub transitions: Vec<TransitionRow>,
    /// Its breaker's mode now.
    pub mode: String,
    /// Whether its breaker opened at least once.
    pub would_have_tripped: bool,
    /// Why it first opened.
    pub first_breach: Option<String>,
    /// Routes per minute (the last day), keyed by the minute's start.
    pub buckets: Vec<Bucket>,
    /// What the figures cover.
    pub scope: &'static str,
}

/// One minute of the shadow's routing.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Start of the minute (RFC 3339).
    pub start: String,
    /// Routes.
    #[serde(flatten)]
    pub counts: RouteCounts,
}

const SCOPE: &str = "this replica's records since the evaluation started; the shadow's breaker windows only what this replica saw (replicas each report their share)";

/// A running shadow evaluation: the evaluator task and the way to reach it. Dropping it ends
/// the task.
#[derive(Debug)]
pub struct Shadow {
    /// The shadow version.
    pub version: String,
    /// In the binding's version range (promotion moves the binding to it).
    pub in_range: bool,
    tx: mpsc::Sender<ShadowRecord>,
    ask: mpsc::Sender<oneshot::Sender<ShadowReport>>,
    skipped: Arc<AtomicU64>,
    skips: ShadowSkips,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The binding's place for a shadow evaluation. The record loop's cost while there is none is
/// one relaxed load.
#[derive(Debug, Default)]
pub struct ShadowSlot {
    on: AtomicBool,
    current: Mutex<Option<Shadow>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ShadowSlot {
    /// Hands a judged record to the shadow, if one runs; `make` is called only then. Never
    /// waits: a full queue counts the record as skipped.
    pub fn offer(&self, make: impl FnOnce() -> ShadowRecord) {
        if !self.on.load(Relaxed) {
            return;
        }
        let guard = lock(&self.current);
        let Some(s) = guard.as_ref() else { return };
        if s.tx.try_send(make()).is_err() {
            s.skipped.fetch_add(1, Relaxed);
            s.skips.skipped();
        }
    }

    /// The version under evaluation.
    #[must_use]
    pub fn version(&self) -> Option<String> {
        lock(&self.current).as_ref().map(|s| s.version.clone())
    }

    /// Starts evaluating `shadow` (ending the evaluation before, if any).
    pub fn start(&self, shadow: Shadow) {
        *lock(&self.current) = Some(shadow);
        self.on.store(true, Relaxed);
    }

    /// Ends the evaluation, if any; returns its version.
    pub fn stop(&self) -> Option<String> {
        self.on.store(false, Relaxed);
        lock(&self.current).take().map(|s| s.version.clone())
    }

    /// The report of the running evaluation (`None`: none runs, or it did not answer in time).
    pub async fn report(&self, active_version: &str) -> Option<ShadowReport> {
        let (ask, in_range) = lock(&self.current).as_ref().map(|s| (s.ask.clone(), s.in_range))?;
        let (tx, rx) = oneshot::channel();
        ask.send(tx).await.ok()?;
        let mut r = tokio::time::timeout(Duration::from_secs(5), rx).await.ok()?.ok()?;
        r.active_version = active_version.to_string();
        r.promotion_moves_binding = in_range;
        Some(r)
    }
}

/// Starts the evaluator of `contract` for `binding`, routing as the binding does: its clock
/// starts now.
///
/// # Errors
/// The breaker settings the simulation refuses (`serve` validated them already).
pub fn spawn(binding: &Binding, contract: Arc<CompiledContract>, in_range: bool, now_ms: i64) -> Result<Shadow, SimError> {
    spawn_with_queue(binding, contract, in_range, now_ms, QUEUE)
}

/// [`spawn`] with a queue of `queue` records (benchmarks size it to take every offer).
///
/// # Errors
/// As [`spawn`].
pub fn spawn_with_queue(binding: &Binding, contract: Arc<CompiledContract>, in_range: bool, now_ms: i64, queue: usize) -> Result<Shadow, SimError> {
    let interval = binding.breaker.flush_interval;
    let sim = Simulation::new(Arc::clone(&contract), Settings::of(binding, BUCKET_MS), now_ms)?.journaled();
    let (tx, rx) = mpsc::channel(queue.max(1));
    let (ask, asks) = mpsc::channel(4);
    let skipped = Arc::new(AtomicU64::new(0));
    let version = contract.version.to_string();
    let name = &binding.name;
    let eval = Evaluator { binding: name.clone(), version: version.clone(), counters: ShadowCounters::new(name), sim, agreement: Agreement::default(), transitions_seen: 0, since: rfc3339(now_ms), skipped: Arc::clone(&skipped) };
    let task = tokio::spawn(eval.run(rx, asks, interval));
    Ok(Shadow { version, in_range, tx, ask, skipped, skips: ShadowSkips::new(name), task })
}

/// The evaluator task's state.
struct Evaluator {
    binding: String,
    version: String,
    counters: ShadowCounters,
    sim: Simulation,
    agreement: Agreement,
    transitions_seen: usize,
    since: String,
    skipped: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Evaluator {
    async fn run(mut self, mut rx: mpsc::Receiver<ShadowRecord>, mut asks: mpsc::Receiver<oneshot::Sender<ShadowReport>>, interval: Duration) {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(256);
        loop {
            let result = tokio::select! {
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        return;
                    }
                    self.feed(&mut batch).await
                }
                _ = tick.tick() => self.sim.tick(now_ms()).await,
                Some(reply) = asks.recv() => {
                    let _ = reply.send(self.report().await);
                    Ok(())
                }
            };
            if let Err(e) = result {
                // A flush the memory store refused: a bug, not the data's fault. The live path
                // is untouched; the evaluation ends and says why.
                ShadowStopped { binding: &self.binding, version: &self.version, why: &format!("simulation failed: {e}"), failed: true }.emit();
                return;
            }
            self.account();
        }
    }

    async fn feed(&mut self, batch: &mut Vec<ShadowRecord>) -> Result<(), SimError> {
        for r in batch.drain(..) {
            self.sim.record(SimRecord { ts: r.arrival_ms, key: r.key, decoded: r.decoded, active_valid: Some(r.active_valid) }).await?;
        }
        Ok(())
    }

    /// Turns what the simulation judged and did since the last call into metrics.
    fn account(&mut self) {
        for Judged { valid, active_valid, rules } in self.sim.take_journal() {
            let outcome = ShadowOutcome::of(active_valid.unwrap_or(valid), valid);
            self.agreement.add(outcome);
            self.counters.judged(outcome, &rules);
        }
        let transitions = self.sim.transitions();
        for t in transitions.iter().skip(self.transitions_seen) {
            ShadowTransition { binding: &self.binding, version: &self.version, from: &t.from, to: &t.to, reason: &t.reason }.emit();
        }
        self.transitions_seen = transitions.len();
        self.sim.trim_buckets(BUCKETS_KEPT);
    }

    async fn report(&self) -> ShadowReport {
        let r: VersionReport = self.sim.snapshot().await;
        let first_breach = r.transitions.iter().find(|t| t.to == "open").map(|t| t.reason.clone());
        ShadowReport {
            binding: self.binding.clone(),
            contract: r.contract,
            shadow_version: r.version,
            active_version: String::new(),
            promotion_moves_binding: false,
            since: self.since.clone(),
            records: r.records,
            skipped: self.skipped.load(Relaxed),
            agreement: self.agreement,
            quarantine_by_rule: r.quarantine_by_rule,
            routes: r.totals,
            would_have_tripped: first_breach.is_some(),
            first_breach,
            transitions: r.transitions,
            mode: r.final_mode,
            buckets: r.buckets.into_iter().map(|(k, counts)| Bucket { start: rfc3339(k), counts }).collect(),
            scope: SCOPE,
        }
    }
}
