//! Every flush interval: hand the window deltas to the breaker, publish transitions, update
//! metrics. One task per binding.

use super::binding::BindingRuntime;
use super::events::TransitionSink;
use super::telemetry::{BreakerMode, Emit, FlushRejected, Flushed, StrictFlushDiverted};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Longest the last flush, at shutdown, waits for its transition event to be acknowledged.
const STOP_EVENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the flush loop of one binding until shutdown, then flushes once more.
pub async fn run(b: Arc<BindingRuntime>, events: TransitionSink, judged: Vec<super::strict::JudgedTx>, mut shutdown: watch::Receiver<bool>) {
    let cfg = b.breaker.config().clone();
    let mut tick = tokio::time::interval(cfg.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let dup_scope_ms = i64::try_from(cfg.window.span().as_millis()).unwrap_or(i64::MAX).max(1);
    let mut dup_epoch = chrono::Utc::now().timestamp_millis() / dup_scope_ms;
    let mut last_mode = None;
    let mut strict = StrictJudge::default();
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            () = b.flush_soon.notified() => {
                // A strict shard filled (`BindingRuntime::flush_after`): flush now, and the
                // next interval counts from here.
                tick.reset();
                false
            }
            _ = shutdown.changed() => true,
        };
        let now = chrono::Utc::now().timestamp_millis();
        if now / dup_scope_ms != dup_epoch {
            // Duplicates are judged within one window span; the sets must not grow forever.
            dup_epoch = now / dup_scope_ms;
            b.clear_duplicates();
        }
        let _reload = b.flush_guard().await; // no hot reload between taking deltas and flushing them
        let (delta, probe, generation) = b.take_deltas();
        // Strict mode also judges the records of each flush on their own, beside its
        // neighbours: a burst that starts or ends inside a flush leaves a piece too small to
        // show a breach alone, so a generation is released one flush later, diverted if its
        // records breach alone or together with the flush before or after it.
        let release = (!judged.is_empty()).then(|| strict.judge(&b, generation, &delta, now, cfg.confidence)).flatten();
        let started = Instant::now();
        match b.breaker.flush(&delta, &probe, now).await {
            Ok(report) => {
                #[allow(clippy::cast_precision_loss)]
                let idle_seconds = (now - b.last_arrival_ms.load(Relaxed)).max(0) as f64 / 1000.0;
                Flushed { binding: &b.cfg.name, took: started.elapsed(), report: &report, idle_seconds }.emit();
                b.remember_record_ages(&report.results);
                let mode = report.state.mode;
                if last_mode != Some(mode) {
                    BreakerMode { binding: &b.cfg.name, mode }.emit();
                    last_mode = Some(mode);
                }
                if let Some(t) = &report.transition {
                    if !stop {
                        events.emit(&b, t).await;
                    } else if tokio::time::timeout(STOP_EVENT_WAIT, events.emit(&b, t)).await.is_err() {
                        // The acknowledgement waits on the broker up to the producer's
                        // `message.timeout.ms` (5 min), and the process is asked to stop.
                        tracing::warn!(binding = %b.cfg.name, wait = ?STOP_EVENT_WAIT, "breaker event of the last flush not acknowledged in time; stopping without it");
                    }
                }
            }
            Err(error) => FlushRejected { binding: &b.cfg.name, error: &error }.emit(),
        }
        if !judged.is_empty() {
            // Strict mode: the records of the generation before may go now, routed by the state
            // this flush left (a rejected flush leaves the state as it was); at shutdown this
            // one's too. Every record loop holds deferred records of the generation.
            for (generation, divert) in release.into_iter().chain(stop.then(|| strict.last(&b)).flatten()) {
                for tx in &judged {
                    let _ = tx.send(super::strict::Judged { topic: b.cfg.source.clone(), generation, divert });
                }
            }
        }
        if stop {
            return;
        }
    }
}

/// Strict mode's judgement of each flush's own records, one flush late (see [`run`]).
#[derive(Default)]
struct StrictJudge {
    /// The generation awaiting release, its delta, and the rule it breached alone or with the
    /// flush before it.
    pending: Option<(u64, contracts::WindowState, Option<contracts::RuleResult>)>,
}

impl StrictJudge {
    /// Takes generation `g`'s delta; returns the generation now due and whether it is diverted
    /// (each diverted generation is reported once, when it is released).
    fn judge(&mut self, b: &BindingRuntime, g: u64, delta: &contracts::WindowState, now: i64, confidence: f64) -> Option<(u64, bool)> {
        let contract = b.contract();
        let breach = |w: &contracts::WindowState| {
            let results = contracts::window::evaluate(&contract.rules, w, now);
            contracts::stats::sampled_breach(&results, confidence).cloned()
        };
        let mut found = breach(delta);
        let released = self.pending.take().map(|(pg, mut both, before)| {
            let records = both.records;
            both.merge(delta);
            // The two flushes breach together: both are diverted.
            let with_after = breach(&both);
            found = found.take().or_else(|| with_after.clone());
            release(b, pg, records, before.or(with_after))
        });
        self.pending = Some((g, delta.clone(), found));
        released
    }

    /// At shutdown: the generation still pending, judged without a successor.
    fn last(&mut self, b: &BindingRuntime) -> Option<(u64, bool)> {
        self.pending.take().map(|(g, delta, found)| release(b, g, delta.records, found))
    }
}

/// A generation leaves strict mode's judgement; a breach diverts it, reported here once.
fn release(b: &BindingRuntime, generation: u64, records: u64, breach: Option<contracts::RuleResult>) -> (u64, bool) {
    if let Some(r) = &breach {
        StrictFlushDiverted { binding: &b.cfg.name, generation, result: r, records }.emit();
    }
    (generation, breach.is_some())
}
