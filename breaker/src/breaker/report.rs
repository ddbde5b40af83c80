//! What a breaker is set up with and what it reports.

use crate::config::StoreOutagePolicy;
use crate::state::{Breach, BreakerState, Transition};
use contracts::RuleResult;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Identity and fallback behaviour of a breaker.
#[derive(Debug, Clone)]
pub struct BreakerOptions {
    /// Name in logs (e.g. `orders/orders.v2`).
    pub name: String,
    /// This replica's id; must differ between replicas sharing a store.
    pub replica: String,
    /// What to do while the shared store is unreachable.
    pub fallback: StoreOutagePolicy,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        Self {
            name: "breaker".into(),
            replica: format!("{host}-{}-{}", std::process::id(), SEQ.fetch_add(1, Relaxed)),
            fallback: StoreOutagePolicy::Local,
        }
    }
}

/// Where the state of a flush or command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The shared store.
    Shared,
    /// The local fallback (shared store unreachable).
    Local,
}

/// What one flush saw and did.
#[derive(Debug, Clone)]
pub struct FlushReport {
    /// The state now enforced.
    pub state: BreakerState,
    /// Shared, or local fallback.
    pub source: Source,
    /// Records in the judged window.
    pub records: u64,
    /// Whether the window is warm.
    pub warm: bool,
    /// Every window rule over the window (for metrics and `/v1` status).
    pub results: Vec<RuleResult>,
    /// In half-open: every rule over the probe records.
    pub probe_results: Option<Vec<RuleResult>>,
    /// The breach the core sees in the window, whatever the mode (metrics-only reporting).
    pub breach: Option<Breach>,
    /// A transition this replica made (publish it to the breaker-events topic). Transitions
    /// made by other replicas are not repeated here.
    pub transition: Option<Transition>,
    /// The store error behind a local fallback.
    pub error: Option<String>,
}

/// The result of a manual command.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// The state after the command.
    pub state: BreakerState,
    /// The transition, unless the breaker already was in that mode.
    pub transition: Option<Transition>,
    /// Shared, or local only (applied to the shared store once it is reachable again).
    pub source: Source,
}

/// Health of a breaker for `/ready` and metrics.
#[derive(Debug, Clone)]
pub struct Status {
    /// The state now enforced.
    pub state: BreakerState,
    /// True while running on the local fallback.
    pub degraded: bool,
    /// The last store error, while degraded.
    pub last_error: Option<String>,
    /// `"memory"` or `"redis"`.
    pub store: &'static str,
}
