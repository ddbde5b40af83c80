//! The per-record decision: a few relaxed atomics, no lock, no allocation, no I/O.

use crate::config::StoreOutagePolicy;
use crate::state::Mode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering::Relaxed};

/// Where one record goes, as far as the breaker is concerned. Records that fail a
/// record-level check go to quarantine whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// To the validated topic.
    Pass,
    /// To the fallback (degraded / held / last-good / pause, per the binding).
    Divert,
    /// To the validated topic as a half-open probe: the caller must also add the record to
    /// the probe delta it passes to the next flush.
    Probe,
}

const PASS: u8 = 0;
const DIVERT: u8 = 1;
const PROBE: u8 = 2;

/// Shared, lock-free view of a breaker's decision. Clone the `Arc` from
/// [`crate::Breaker::router`] into every task that routes records.
#[derive(Debug)]
pub struct Router {
    effective: AtomicU8,
    mode: AtomicU8,
    degraded: AtomicBool,
    /// Probe records this replica may still admit; goes negative when exhausted (cheaper
    /// than a compare-and-swap loop) and is read back clamped at zero.
    allowance: AtomicI64,
    granted: AtomicI64,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            effective: AtomicU8::new(PASS),
            mode: AtomicU8::new(Mode::Closed.to_u8()),
            degraded: AtomicBool::new(false),
            allowance: AtomicI64::new(0),
            granted: AtomicI64::new(0),
        }
    }
}

impl Router {
    /// The decision for the next record.
    #[inline]
    pub fn route(&self) -> Route {
        match self.effective.load(Relaxed) {
            PASS => Route::Pass,
            PROBE => {
                if self.allowance.fetch_sub(1, Relaxed) > 0 {
                    Route::Probe
                } else {
                    Route::Divert
                }
            }
            _ => Route::Divert,
        }
    }

    /// True while half-open probes are being admitted (the records past this replica's grant
    /// wait for the verdict rather than being diverted).
    #[inline]
    pub fn probing(&self) -> bool {
        self.effective.load(Relaxed) == PROBE
    }

    /// The breaker mode being enforced (for the `contract-gate-breaker-state` header).
    #[inline]
    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Relaxed))
    }

    /// True while the shared store is unreachable and the fallback policy is in force.
    #[inline]
    pub fn degraded(&self) -> bool {
        self.degraded.load(Relaxed)
    }

    /// Applies a mode under the fallback policy (which only matters while degraded).
    pub(crate) fn set(&self, mode: Mode, degraded: bool, policy: StoreOutagePolicy) {
        // A manual override wins over the fallback policy: a kill switch must stay a kill
        // switch while Redis is down.
        let effective = match (degraded && !mode.is_forced(), policy) {
            (true, StoreOutagePolicy::FailOpen) => PASS,
            (true, StoreOutagePolicy::FailClosed) => DIVERT,
            _ => match mode {
                Mode::Closed | Mode::ForcedClosed | Mode::MetricsOnly => PASS,
                Mode::Open | Mode::ForcedOpen => DIVERT,
                Mode::HalfOpen => PROBE,
            },
        };
        self.mode.store(mode.to_u8(), Relaxed);
        self.degraded.store(degraded, Relaxed);
        self.effective.store(effective, Relaxed);
    }

    /// Takes back the unused probe allowance; returns how much of the last grant was used.
    pub(crate) fn take_allowance(&self) -> u64 {
        let remaining = self.allowance.swap(0, Relaxed).max(0);
        let granted = self.granted.swap(0, Relaxed).max(0);
        u64::try_from(granted.saturating_sub(remaining).max(0)).unwrap_or(0)
    }

    /// Hands out a new probe allowance.
    pub(crate) fn grant(&self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.granted.store(n, Relaxed);
        self.allowance.store(n, Relaxed);
    }
}

/// Hooks for tests and benchmarks outside the crate; the breaker drives these itself.
#[doc(hidden)]
pub mod testing {
    use super::{StoreOutagePolicy, Mode, Router};

    pub fn set(r: &Router, mode: Mode, degraded: bool, policy: StoreOutagePolicy) {
        r.set(mode, degraded, policy);
    }

    pub fn set_half_open(r: &Router) {
        r.set(Mode::HalfOpen, false, StoreOutagePolicy::Local);
    }

    pub fn take_allowance(r: &Router) -> u64 {
        r.take_allowance()
    }

    pub fn grant(r: &Router, n: u64) {
        r.grant(n);
    }
}
