//! The runtime state of one binding: contract, breaker, window observers, last-good index.

use super::store::AnyStore;
use crate::config::{Binding, Topics};
use breaker::{Breaker, Router};
use contracts::{CompiledContract, Observer, WindowState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// Window state fed by the pipeline and drained by the flusher.
#[derive(Debug)]
pub struct Stats {
    /// Every record since the last flush.
    pub obs: Observer,
    /// Half-open probe records since the last flush.
    pub probe: Observer,
}

/// A key's last valid record, with where it came from (for the stale re-emit's headers).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Payload.
    pub payload: Vec<u8>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source timestamp.
    pub timestamp: Option<i64>,
}

/// One binding at run time.
#[derive(Debug)]
pub struct BindingRuntime {
    /// Configuration.
    pub cfg: Binding,
    /// Resolved output topics.
    pub topics: Topics,
    /// The compiled contract.
    pub contract: Arc<CompiledContract>,
    /// The breaker of this binding.
    pub breaker: Breaker<AnyStore>,
    /// Lock-free per-record decision.
    pub router: Arc<Router>,
    stats: Mutex<Stats>,
    last_good: Mutex<HashMap<Vec<u8>, Snapshot>>,
    /// Arrival time of the newest record (ms); seeds "no data" rules even while silent.
    pub last_arrival_ms: AtomicI64,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the guarded values
/// are counters and caches that stay consistent record by record.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BindingRuntime {
    /// Assembles a binding.
    #[must_use]
    pub fn new(cfg: Binding, contract: Arc<CompiledContract>, breaker: Breaker<AnyStore>, now_ms: i64) -> Self {
        let topics = cfg.topics();
        let router = breaker.router();
        let stats = Stats { obs: contract.observer(), probe: contract.observer() };
        Self { cfg, topics, contract, breaker, router, stats: Mutex::new(stats), last_good: Mutex::new(HashMap::new()), last_arrival_ms: AtomicI64::new(now_ms) }
    }

    /// The window observers.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    /// Takes the deltas for a flush. "No data" rules always see the newest arrival, so
    /// silence longer than the window still counts.
    pub fn take_deltas(&self) -> (WindowState, WindowState) {
        let mut s = self.stats();
        let last = self.last_arrival_ms.load(Relaxed);
        s.obs.arrival(&self.contract, last);
        (s.obs.take_window(), s.probe.take_window())
    }

    /// The key's last valid record.
    #[must_use]
    pub fn snapshot(&self, key: &[u8]) -> Option<Snapshot> {
        lock(&self.last_good).get(key).cloned()
    }

    /// Whether the key has a last valid record.
    #[must_use]
    pub fn has_snapshot(&self, key: &[u8]) -> bool {
        lock(&self.last_good).contains_key(key)
    }

    /// Remembers a key's last valid record; an empty payload (a tombstone) forgets it.
    pub fn remember(&self, key: Vec<u8>, snap: Option<Snapshot>) {
        let mut m = lock(&self.last_good);
        match snap {
            Some(s) => {
                m.insert(key, s);
            }
            None => {
                m.remove(&key);
            }
        }
    }

    /// Keys in the last-good index.
    #[must_use]
    pub fn last_good_len(&self) -> usize {
        lock(&self.last_good).len()
    }
}
