//! Every flush interval: hand the window deltas to the breaker, publish transitions, update
//! metrics. One task per binding.

use super::binding::BindingRuntime;
use super::events::TransitionSink;
use super::telemetry::{BreakerMode, Emit, FlushRejected, Flushed, StrictFlushDiverted};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Runs the flush loop of one binding until shutdown, then flushes once more.
pub async fn run(b: Arc<BindingRuntime>, events: TransitionSink, judged: Option<super::strict::JudgedTx>, mut shutdown: watch::Receiver<bool>) {
    let cfg = b.breaker.config().clone();
    let mut tick = tokio::time::interval(cfg.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let dup_scope_ms = i64::try_from(cfg.window.span().as_millis()).unwrap_or(i64::MAX).max(1);
    let mut dup_epoch = chrono::Utc::now().timestamp_millis() / dup_scope_ms;
    let mut last_mode = None;
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.changed() => true,
        };
        let now = chrono::Utc::now().timestamp_millis();
        if now / dup_scope_ms != dup_epoch {
            // Duplicates are judged within one window span; the sets must not grow forever.
            dup_epoch = now / dup_scope_ms;
            b.stats().obs.clear_duplicates();
        }
        let _reload = b.flush_guard().await; // no hot reload between taking deltas and flushing them
        let (delta, probe, generation) = b.take_deltas();
        // Strict mode also judges this flush's own records: a breach they support on their own
        // diverts them even while the whole window still holds.
        let divert = judged.is_some() && {
            let contract = b.contract();
            let results = contracts::window::evaluate(&contract.rules, &delta, now);
            contracts::stats::sampled_breach(&results, cfg.confidence).inspect(|r| StrictFlushDiverted { binding: &b.cfg.name, generation, result: r, records: delta.records }.emit()).is_some()
        };
        let started = Instant::now();
        match b.breaker.flush(&delta, &probe, now).await {
            Ok(report) => {
                #[allow(clippy::cast_precision_loss)]
                let idle_seconds = (now - b.last_arrival_ms.load(Relaxed)).max(0) as f64 / 1000.0;
                Flushed { binding: &b.cfg.name, took: started.elapsed(), report: &report, idle_seconds }.emit();
                let mode = report.state.mode;
                if last_mode != Some(mode) {
                    BreakerMode { binding: &b.cfg.name, mode }.emit();
                    last_mode = Some(mode);
                }
                if let Some(t) = &report.transition {
                    events.emit(&b, t).await;
                }
            }
            Err(error) => FlushRejected { binding: &b.cfg.name, error: &error }.emit(),
        }
        if let Some(tx) = &judged {
            // Strict mode: the records counted in this generation may go now, routed by the
            // state this flush left (a rejected flush leaves the state as it was).
            let _ = tx.send(super::strict::Judged { topic: b.cfg.source.clone(), generation, divert });
        }
        if stop {
            return;
        }
    }
}
