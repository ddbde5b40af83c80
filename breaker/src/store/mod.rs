//! Where the window buckets and the breaker state live: in memory (one process) or in Redis
//! (shared by every replica). Stores only merge, select and fence; the decisions are made
//! by [`crate::core::step`] in the replica.

#[cfg(feature = "runtime")]
use crate::error::StoreError;
use crate::state::{BreakerState, Millis};
use contracts::WindowState;
#[cfg(feature = "runtime")]
use std::future::Future;
#[cfg(feature = "runtime")]
use std::sync::Arc;
#[cfg(feature = "runtime")]
use tokio::sync::watch;

mod layout;
#[cfg(feature = "runtime")]
mod memory;
#[cfg(feature = "redis")]
mod connect;
#[cfg(feature = "redis")]
mod redis;

pub use layout::{is_arrival, Layout};
#[cfg(feature = "runtime")]
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{ping as redis_ping, PingFailure, RedisStore};

/// One replica's flush: its window delta since the last flush, and its half-open probe
/// accounting.
#[derive(Debug, Clone, Copy)]
pub struct FlushRequest<'a> {
    /// The replica's clock. The memory store judges the window at it; the Redis store judges
    /// at its own clock and only uses this to move the delta's arrival times onto it.
    pub now: Millis,
    /// Stable id of the replica (host name + pid is fine); keys its probe claim.
    pub replica: &'a str,
    /// This breaker instance, new at every start (random): with `seq`, names one flush.
    pub instance: &'a str,
    /// The instance's flush number, rising by one per flush. A store applies each number once,
    /// so a call retried after its reply was lost does not count its delta twice.
    pub seq: u64,
    /// Records accumulated since the last flush (all routes, quarantined ones included).
    pub delta: &'a WindowState,
    /// The window generation (its start, `window_from_ms`) the replica believed current while
    /// it collected `delta`; `None` before it has read the shared state. The store drops a
    /// delta of an older generation: records a replica judged before it learned of a close
    /// belong to the window the close ended, not to the fresh one.
    pub generation: Option<Millis>,
    /// Probe accounting.
    pub probe: ProbeReport<'a>,
    /// Stored if the store holds no state yet.
    pub initial: &'a BreakerState,
}

/// A replica's half-open probe accounting for one flush.
#[derive(Debug, Clone, Copy)]
pub struct ProbeReport<'a> {
    /// The half-open epoch the replica's allowance and probe records belong to; the store
    /// ignores `used` and `window` when it is not the current epoch.
    pub epoch: u64,
    /// Probe records admitted since the last flush (from the replica's allowance).
    pub used: u64,
    /// Those probe records' window delta.
    pub window: &'a WindowState,
    /// Allowance wanted until the next flush.
    pub request: u64,
}

/// What a flush returns: the shared view after merging.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The store's clock when it judged the window (the memory store: the request's `now`).
    /// Transitions and window rules are judged at it, so every replica stamps shared state
    /// with one clock.
    pub now: Millis,
    /// Current state.
    pub state: BreakerState,
    /// The window over all replicas (restricted to `state.window_from_ms`).
    pub window: WindowState,
    /// See [`crate::core::Observation::warm`].
    pub warm: bool,
    /// In half-open: the probe records of the current epoch over all replicas.
    pub probe: Option<WindowState>,
    /// Probe allowance granted to this replica until its next flush.
    pub probe_grant: u64,
}

/// Outcome of a compare-and-set transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cas {
    /// Written; this is the new state.
    Applied(BreakerState),
    /// The expected epoch was not current; this is the current state (`None`: no state yet).
    Refused(Option<BreakerState>),
}

/// A breaker state store. Implementations must be safe to share between tasks.
#[cfg(feature = "runtime")]
pub trait Store: Send + Sync {
    /// Merges one replica's delta and returns the shared view. Called once per flush interval.
    fn flush(&self, req: &FlushRequest<'_>) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Writes `next` if the stored epoch is `expected_epoch` (0: no state stored), and
    /// announces it to subscribers.
    fn transition(
        &self,
        expected_epoch: u64,
        next: &BreakerState,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send;

    /// The stored state, without flushing.
    fn load(&self) -> impl Future<Output = Result<Option<BreakerState>, StoreError>> + Send;

    /// Transitions announced by any replica, newest first seen; `None` until one is.
    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>>;

    /// `"memory"` or `"redis"`, for logs and metrics labels.
    fn kind(&self) -> &'static str;

    /// True when the store lives in this process and cannot be away: its state is known
    /// from the start. A shared store's state is unknown until first read, and the outage
    /// policy governs until then.
    fn in_process(&self) -> bool {
        false
    }

    /// Switches to other window rules (a new contract version whose rule list differs): later
    /// flushes carry deltas of the new shape. The breaker state is kept; the window starts
    /// afresh, and replicas still on the old rules never merge into it (see [`Layout::tag`]).
    fn relayout(&self, rules: &[contracts::WindowRule]);
}

#[cfg(feature = "runtime")]
impl<S: Store> Store for Arc<S> {
    fn flush(&self, req: &FlushRequest<'_>) -> impl Future<Output = Result<Snapshot, StoreError>> + Send {
        S::flush(self, req)
    }

    fn transition(
        &self,
        expected_epoch: u64,
        next: &BreakerState,
    ) -> impl Future<Output = Result<Cas, StoreError>> + Send {
        S::transition(self, expected_epoch, next)
    }

    fn load(&self) -> impl Future<Output = Result<Option<BreakerState>, StoreError>> + Send {
        S::load(self)
    }

    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        S::subscribe(self)
    }

    fn kind(&self) -> &'static str {
        S::kind(self)
    }

    fn in_process(&self) -> bool {
        S::in_process(self)
    }

    fn relayout(&self, rules: &[contracts::WindowRule]) {
        S::relayout(self, rules);
    }
}
