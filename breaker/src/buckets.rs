//! In-process time buckets: the memory store's window and the local fallback's. The Redis
//! script (`store/flush.lua`) implements the same selection rules; keep them in step.

use crate::config::WindowConfig;
use crate::state::Millis;
use contracts::{Accumulator, WindowRule, WindowState};
use std::collections::VecDeque;

/// Start of the bucket holding `now`.
pub(crate) fn bucket_start(now: Millis, bucket_ms: i64) -> Millis {
    now - now.rem_euclid(bucket_ms.max(1))
}

/// True when nothing at all was accumulated (no bucket needs to be touched).
pub(crate) fn is_blank(w: &WindowState) -> bool {
    w.records == 0 && w.accumulators.iter().all(Accumulator::is_empty)
}

#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    window: WindowConfig,
    empty: WindowState,
    /// (bucket start, window generation, counts). The generation is the window's start
    /// (`window_from_ms`) when the counts were added: a close or reset starts a new
    /// generation, and counts of an older one never count again, even in the bucket that
    /// holds the new start.
    ring: VecDeque<(Millis, Millis, WindowState)>,
    /// Newest timestamps per accumulator over all time, not just the window: once records
    /// stop, the buckets holding the last timestamp expire, and freshness / "no data" must
    /// keep growing rather than fall back to "nothing seen".
    sticky: Vec<Option<i64>>,
}

impl Buckets {
    pub(crate) fn new(window: WindowConfig, rules: &[WindowRule]) -> Self {
        let empty = WindowState::new(rules);
        let sticky = vec![None; empty.accumulators.len()];
        Self { window, empty, ring: VecDeque::new(), sticky }
    }

    /// Adds a delta at `now` to the window that starts at `from` (its generation).
    pub(crate) fn add(&mut self, now: Millis, from: Millis, delta: &WindowState) {
        for (slot, acc) in self.sticky.iter_mut().zip(&delta.accumulators) {
            if let Accumulator::Newest { ms: Some(t) } = acc {
                *slot = Some(slot.map_or(*t, |s| s.max(*t)));
            }
        }
        if !is_blank(delta) {
            let start = bucket_start(now, self.window.bucket_ms());
            match self.ring.iter_mut().rev().find(|(s, g, _)| *s == start && *g == from) {
                Some((_, _, w)) => w.merge(delta),
                None => {
                    let mut w = self.empty.clone();
                    w.merge(delta);
                    // Replicas' clocks may disagree a little: keep the ring sorted.
                    let pos = self.ring.iter().rposition(|(s, _, _)| *s <= start).map_or(0, |p| p + 1);
                    self.ring.insert(pos, (start, from, w));
                }
            }
        }
        let b = self.window.bucket_ms();
        let horizon = now.saturating_sub(self.window.span_ms()).saturating_sub(b);
        while self.ring.front().is_some_and(|(s, _, _)| s + b <= horizon) {
            self.ring.pop_front();
        }
    }

    /// The window at `now` that started at `from`: the counts added since (generation
    /// `from`) in buckets of the span, and whether it is warm. Counts added before a close or
    /// reset are of an older generation and never count, even those in the bucket that holds
    /// the new start: they were the fault that opened the breaker, and they re-tripped it
    /// right after its close.
    pub(crate) fn window(&self, now: Millis, from: Millis) -> (WindowState, bool) {
        let b = self.window.bucket_ms();
        let oldest = now.saturating_sub(self.window.span_ms());
        let mut out = self.empty.clone();
        let in_scope = |s: Millis, g: Millis| g == from && s + b > oldest && s + b > from && s <= now;
        let warm = match self.window {
            WindowConfig::Time { .. } => {
                for (_, _, w) in self.ring.iter().filter(|(s, g, _)| in_scope(*s, *g)) {
                    out.merge(w);
                }
                now.saturating_sub(from) >= self.window.span_ms()
            }
            WindowConfig::Count { records, .. } => {
                for (_, _, w) in self.ring.iter().rev().filter(|(s, g, _)| in_scope(*s, *g)) {
                    if out.records >= records {
                        break;
                    }
                    out.merge(w);
                }
                out.records >= records
            }
        };
        apply_sticky(&mut out, &self.sticky);
        (out, warm)
    }
}

pub(crate) fn apply_sticky(out: &mut WindowState, sticky: &[Option<i64>]) {
    for (acc, s) in out.accumulators.iter_mut().zip(sticky) {
        if let Accumulator::Newest { ms } = acc {
            *ms = *s;
        }
    }
}
