//! One-process store: the embedded demo, `check`, tests, and every replica's local fallback.
//! It keeps the caller's clock (one process, one clock; the local fallback is given the
//! replica's estimate of the shared store's clock) and ignores flush numbers (a call into
//! this process cannot be retried).

use super::{Cas, FlushRequest, Snapshot, Store};
use crate::buckets::Buckets;
use crate::config::WindowConfig;
use crate::error::StoreError;
use crate::state::{BreakerState, Mode};
use contracts::{WindowRule, WindowState};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

#[derive(Debug)]
struct Probe {
    epoch: u64,
    used: u64,
    window: WindowState,
    /// replica → allowance held. Never expires: a replica that dies holding some is handled
    /// by the probe timeout (see `core`), which keeps the budget strict.
    claims: HashMap<String, u64>,
}

#[derive(Debug)]
struct Inner {
    state: Option<BreakerState>,
    buckets: Buckets,
    probe: Probe,
    /// An empty window of the current rules (the shape deltas must have).
    empty: WindowState,
}

/// Window buckets, probe accounting and state in this process's memory.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    window: WindowConfig,
    events: watch::Sender<Option<BreakerState>>,
}

impl MemoryStore {
    /// A store for a contract's window rules.
    #[must_use]
    pub fn new(window: WindowConfig, rules: &[WindowRule]) -> Self {
        let empty = WindowState::new(rules);
        Self {
            inner: Mutex::new(Inner {
                state: None,
                buckets: Buckets::new(window.clone(), rules),
                probe: Probe { epoch: 0, used: 0, window: empty.clone(), claims: HashMap::new() },
                empty,
            }),
            window,
            events: watch::channel(None).0,
        }
    }

    /// Starts a fresh window for other rules (a contract version with a different rule list);
    /// the state and the probe accounting (but not its window) are kept.
    pub fn relayout(&self, rules: &[WindowRule]) {
        let empty = WindowState::new(rules);
        let mut g = self.lock();
        g.buckets = Buckets::new(self.window.clone(), rules);
        g.probe.window = empty.clone();
        g.empty = empty;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent across a panic in another holder (each method leaves it
        // valid at every await-free step), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Overwrites the state without fencing: the local fallback mirrors the shared state this
    /// way while the shared store is reachable.
    pub(crate) fn replace_state(&self, state: &BreakerState) {
        self.lock().state = Some(state.clone());
    }

    fn flush_sync(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        let mut g = self.lock();
        let inner = &mut *g;
        check_shape(&inner.empty, req.delta, "delta")?;
        let created = inner.state.is_none();
        // An empty store starts its window at the first flush, as flush.lua does.
        let state = inner.state.get_or_insert_with(|| BreakerState { window_from_ms: req.now, ..req.initial.clone() }).clone();
        // A delta collected under an older window generation belongs to the window a close
        // ended (flush.lua does the same).
        if created || req.generation.is_none_or(|g| g == state.window_from_ms) {
            inner.buckets.add(req.now, state.window_from_ms, req.delta);
        }
        let (window, warm) = inner.buckets.window(req.now, state.window_from_ms);
        let mut snapshot = Snapshot { now: req.now, state, window, warm, probe: None, probe_grant: 0 };
        if snapshot.state.mode == Mode::HalfOpen {
            check_shape(&inner.empty, req.probe.window, "probe")?;
            let epoch = snapshot.state.epoch;
            let p = &mut inner.probe;
            if p.epoch != epoch {
                *p = Probe { epoch, used: 0, window: inner.empty.clone(), claims: HashMap::new() };
            }
            if req.probe.epoch == epoch {
                p.used = p.used.saturating_add(req.probe.used);
                p.window.merge(req.probe.window);
            }
            p.claims.remove(req.replica);
            let outstanding: u64 = p.claims.values().sum();
            let available = snapshot.state.probe_budget.saturating_sub(p.used).saturating_sub(outstanding);
            let grant = req.probe.request.min(available);
            if grant > 0 {
                p.claims.insert(req.replica.to_owned(), grant);
            }
            snapshot.probe = Some(p.window.clone());
            snapshot.probe_grant = grant;
        }
        Ok(snapshot)
    }

    fn transition_sync(&self, expected_epoch: u64, next: &BreakerState) -> Cas {
        let mut g = self.lock();
        let current = g.state.as_ref().map_or(0, |s| s.epoch);
        if current != expected_epoch {
            return Cas::Refused(g.state.clone());
        }
        g.state = Some(next.clone());
        drop(g);
        self.events.send_replace(Some(next.clone()));
        Cas::Applied(next.clone())
    }
}

pub(crate) fn check_shape(empty: &WindowState, w: &WindowState, what: &'static str) -> Result<(), StoreError> {
    let same = w.accumulators.len() == empty.accumulators.len()
        && w.accumulators.iter().zip(&empty.accumulators).all(|(a, b)| {
            std::mem::discriminant(a) == std::mem::discriminant(b)
                && match (a, b) {
                    (
                        contracts::Accumulator::Histogram { bins: x },
                        contracts::Accumulator::Histogram { bins: y },
                    ) => x.len() == y.len(),
                    _ => true,
                }
        });
    if same {
        return Ok(());
    }
    Err(StoreError::Shape {
        what,
        expected: format!("{} accumulators {:?}", empty.accumulators.len(), kinds(empty)),
        got: format!("{} accumulators {:?}", w.accumulators.len(), kinds(w)),
    })
}

fn kinds(w: &WindowState) -> Vec<String> {
    w.accumulators
        .iter()
        .map(|a| match a {
            contracts::Accumulator::Count { .. } => "count".to_owned(),
            contracts::Accumulator::Newest { .. } => "newest".to_owned(),
            contracts::Accumulator::Histogram { bins } => format!("histogram[{}]", bins.len()),
        })
        .collect()
}

impl Store for MemoryStore {
    async fn flush(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        self.flush_sync(req)
    }

    async fn transition(&self, expected_epoch: u64, next: &BreakerState) -> Result<Cas, StoreError> {
        Ok(self.transition_sync(expected_epoch, next))
    }

    async fn load(&self) -> Result<Option<BreakerState>, StoreError> {
        Ok(self.lock().state.clone())
    }

    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        self.events.subscribe()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn in_process(&self) -> bool {
        true
    }

    fn relayout(&self, rules: &[WindowRule]) {
        MemoryStore::relayout(self, rules);
    }
}
