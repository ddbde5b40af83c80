//! One replica's breaker: flushes window deltas to a store, runs the core on the merged
//! window, writes transitions with compare-and-set, and falls back to a local breaker when
//! the store is unreachable.

use crate::config::{BreakerConfig, StoreOutagePolicy};
use crate::core::{step, window_breach, Event, Observation, ProbeObservation, Step};
use crate::error::{ConfigError, StoreError};
use crate::route::{Route, Router};
use crate::state::{BreakerState, Command, Millis, Mode, Transition};
use crate::store::{Cas, FlushRequest, MemoryStore, ProbeReport, Snapshot, Store};
use contracts::window::evaluate;
use contracts::{RuleResult, WindowRule, WindowState};
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

mod clock;
mod report;

use clock::{instance_id, on_store_clock, CLOCK_SKEW_WORTH_A_WARNING_MS};
pub use report::{BreakerOptions, CommandOutcome, FlushReport, Source, Status};

#[derive(Debug)]
struct Inner {
    /// The state being enforced.
    state: BreakerState,
    /// The last state read from the shared store; seeds an empty store after a restart.
    shared_state: BreakerState,
    /// Whether `shared_state` came from the store (its window generation tags deltas).
    read_shared: bool,
    degraded: bool,
    last_error: Option<String>,
    /// Half-open epoch the router's allowance belongs to, and whether the local store gave it.
    allowance_epoch: u64,
    allowance_local: bool,
    /// Probes admitted from a shared allowance of `allowance_epoch` (or of the epoch before a
    /// fallback) that the shared store has not been told about yet: reported at the next
    /// successful flush so that the shared budget stays strict across outages.
    unreported: u64,
    unreported_epoch: u64,
    last_records: u64,
    /// A manual override applied locally while degraded; pushed when the store returns.
    pending: Option<BreakerState>,
    /// The number of the last flush sent to the shared store (see [`FlushRequest::seq`]).
    seq: u64,
    /// The shared store's clock minus this replica's, measured at the last flush that reached
    /// it (0 before). Everything this replica stamps into the state, and its local fallback's
    /// window, runs on `now + offset`, so that times read by other replicas (an open breaker's
    /// deadline, a window's start) are on the store's clock whatever this replica's says.
    offset: Millis,
    /// Whether a clock offset large enough to mention has been logged.
    skew_logged: bool,
}

/// The window rules and an empty window of their shape.
#[derive(Debug)]
struct Rules {
    rules: Vec<WindowRule>,
    empty: WindowState,
    tag: String,
}

impl Rules {
    fn new(rules: Vec<WindowRule>) -> Arc<Self> {
        Arc::new(Self { empty: WindowState::new(&rules), tag: crate::store::Layout::tag(&rules), rules })
    }
}

#[derive(Debug)]
struct Core {
    cfg: BreakerConfig,
    opts: BreakerOptions,
    /// This instance's random id: its flush numbers start at 1 again after a restart, and
    /// must not be taken for retries of the previous instance's.
    instance: String,
    /// Replaced by [`Breaker::reconfigure`] while holding `inner`; read under `inner`.
    rules: std::sync::RwLock<Arc<Rules>>,
    local: MemoryStore,
    router: Arc<Router>,
    inner: Mutex<Inner>,
}

/// A breaker of one replica over a store `S` ([`MemoryStore`] or [`crate::RedisStore`]).
#[derive(Debug)]
pub struct Breaker<S: Store> {
    core: Arc<Core>,
    store: S,
    listener: Option<tokio::task::AbortHandle>,
}

impl<S: Store> Drop for Breaker<S> {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

impl<S: Store> Breaker<S> {
    /// A breaker for a contract's window rules. Inside a Tokio runtime it also follows the
    /// store's announcements so that the router changes as soon as any replica transitions.
    ///
    /// # Errors
    /// Invalid configuration.
    pub fn new(
        cfg: BreakerConfig,
        rules: Vec<WindowRule>,
        store: S,
        opts: BreakerOptions,
        now: Millis,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let initial = BreakerState::initial(now);
        let initial_mode = initial.mode;
        let core = Arc::new(Core {
            local: MemoryStore::new(cfg.window.clone(), &rules),
            cfg,
            opts,
            instance: instance_id(),
            rules: std::sync::RwLock::new(Rules::new(rules)),
            router: Arc::new(Router::default()),
            inner: Mutex::new(Inner {
                state: initial.clone(),
                shared_state: initial,
                read_shared: false,
                degraded: false,
                last_error: None,
                allowance_epoch: 0,
                allowance_local: false,
                unreported: 0,
                unreported_epoch: 0,
                last_records: 0,
                pending: None,
                seq: 0,
                offset: 0,
                skew_logged: false,
            }),
        });
        // A shared store's state is unknown until it is read: a kill switch may be set there.
        // Until then the outage policy routes (as if the store were away), and a local
        // breaker that has no shared state to start from diverts rather than pass blindly.
        if !store.in_process() {
            core.router.set(initial_mode, true, core.outage_policy(false));
        }
        let listener = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let rx = store.subscribe();
            rt.spawn(follow(Arc::downgrade(&core), rx)).abort_handle()
        });
        Ok(Self { core, store, listener })
    }

    /// The lock-free per-record router; clone it into routing tasks.
    #[must_use]
    pub fn router(&self) -> Arc<Router> {
        Arc::clone(&self.core.router)
    }

    /// Shorthand for `router().route()`.
    #[inline]
    pub fn route(&self) -> Route {
        self.core.router.route()
    }

    /// True while running on the local fallback.
    #[must_use]
    pub fn degraded(&self) -> bool {
        self.core.router.degraded()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The window rules.
    #[must_use]
    pub fn rules(&self) -> Vec<WindowRule> {
        self.core.current().rules.clone()
    }

    /// Moves to other window rules — a new contract version — without losing the breaker
    /// state. Rules that only change thresholds keep the window; rules whose slots mean
    /// something else (a rule added or removed, other bins) start a fresh window, in the store
    /// and in the local fallback. Returns whether the window restarted.
    ///
    /// Deltas given to [`Breaker::flush`] must have the new shape from then on: swap the
    /// observers and call this with no flush in between.
    pub async fn reconfigure(&self, rules: Vec<WindowRule>) -> bool {
        let core = &*self.core;
        let _inner = core.inner.lock().await;
        let next = Rules::new(rules);
        let relayout = next.tag != core.current().tag;
        if relayout {
            self.store.relayout(&next.rules);
            core.local.relayout(&next.rules);
            info!(breaker = %core.opts.name, tag = %next.tag, rules = next.rules.len(), "breaker rules changed; window restarted");
        } else {
            debug!(breaker = %core.opts.name, "breaker thresholds updated");
        }
        *core.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        relayout
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.core.cfg
    }

    /// Current state and health.
    pub async fn status(&self) -> Status {
        let inner = self.core.inner.lock().await;
        Status {
            state: inner.state.clone(),
            degraded: inner.degraded,
            last_error: inner.last_error.clone(),
            store: self.store.kind(),
        }
    }

    /// Flushes this replica's window `delta` (every record since the last flush) and `probe`
    /// delta (only records routed [`Route::Probe`]), then runs the core. Call it every
    /// `flush_interval`. Store failures never surface: they switch to the local fallback.
    ///
    /// # Errors
    /// Only [`StoreError::Shape`]: the deltas do not match the rules (a caller bug).
    pub async fn flush(&self, delta: &WindowState, probe: &WindowState, now: Millis) -> Result<FlushReport, StoreError> {
        let core = &*self.core;
        let mut inner = core.inner.lock().await;
        let shape = core.current();
        let used = core.router.take_allowance();
        // Twice the last flush's records, so that one replica does not claim a budget its
        // peers could use; but at least a quarter of the probe, since a partition past its
        // grant waits (its flushes then count few records) and a shrinking claim would stretch
        // a 500-record probe over many seconds.
        let request = core.cfg.probe_records.min(inner.last_records.saturating_mul(2).max(16).max(core.cfg.probe_records / 4));
        inner.last_records = delta.records;
        if !inner.allowance_local {
            inner.unreported = inner.unreported.saturating_add(used);
        }
        let shared_probe = ProbeReport {
            epoch: inner.unreported_epoch,
            used: inner.unreported,
            window: if inner.allowance_local { &shape.empty } else { probe },
            request,
        };
        let initial = inner.shared_state.clone();
        let generation = inner.read_shared.then_some(initial.window_from_ms);
        inner.seq += 1;
        let req = FlushRequest {
            now,
            replica: &core.opts.replica,
            instance: &core.instance,
            seq: inner.seq,
            delta,
            generation,
            probe: shared_probe,
            initial: &initial,
        };
        match self.store.flush(&req).await {
            Ok(snap) => {
                // The local fallback keeps a copy of the window on the store's clock (as
                // estimated here), ready to take over with the shared state's times.
                self.measured_offset(&mut inner, snap.now.saturating_sub(now));
                let local_delta = on_store_clock(&shape.rules, delta, inner.offset);
                let local_req = FlushRequest {
                    now: snap.now,
                    delta: &local_delta,
                    probe: ProbeReport { epoch: 0, used: 0, window: &shape.empty, request: 0 },
                    ..req
                };
                core.local.flush(&local_req).await?;
                Ok(self.on_shared(&mut inner, snap).await)
            }
            Err(e @ StoreError::Shape { .. }) => Err(e),
            Err(e) => {
                let local_now = now.saturating_add(inner.offset);
                let local_delta = on_store_clock(&shape.rules, delta, inner.offset);
                let local_probe_window = on_store_clock(&shape.rules, probe, inner.offset);
                let local_probe = ProbeReport {
                    epoch: if inner.allowance_local { inner.allowance_epoch } else { 0 },
                    used: if inner.allowance_local { used } else { 0 },
                    window: if inner.allowance_local { &local_probe_window } else { &shape.empty },
                    request,
                };
                let state = inner.state.clone();
                // Degraded, the local breaker's own window generation is the one enforced.
                let local_req = FlushRequest {
                    now: local_now,
                    delta: &local_delta,
                    probe: local_probe,
                    initial: &state,
                    generation: Some(state.window_from_ms),
                    ..req
                };
                let snap = core.local.flush(&local_req).await?;
                Ok(self.on_local(&mut inner, snap, &e).await)
            }
        }
    }

    /// Keeps the clock offset a flush measured, and says once when it is large.
    fn measured_offset(&self, inner: &mut Inner, offset: Millis) {
        inner.offset = offset;
        if offset.abs() >= CLOCK_SKEW_WORTH_A_WARNING_MS && !inner.skew_logged {
            inner.skew_logged = true;
            warn!(breaker = %self.core.opts.name, offset_ms = offset,
                "this replica's clock differs from the breaker store's; the shared window and breaker times use the store's clock");
        }
    }

    /// The clock a judgement is made at: the snapshot's (the store's, for a shared one).
    async fn on_shared(&self, inner: &mut Inner, snap: Snapshot) -> FlushReport {
        let core = &*self.core;
        let now = snap.now;
        let mut current = snap.state.clone();
        let mut transition = None;
        if inner.degraded {
            inner.degraded = false;
            inner.last_error = None;
            info!(breaker = %core.opts.name, mode = %current.mode, epoch = current.epoch,
                "shared breaker store reachable again; adopting shared state");
            if let Some(p) = inner.pending.take() {
                if p.mode.is_forced() && p.mode != current.mode {
                    let next = BreakerState { epoch: current.epoch + 1, ..p };
                    match self.store.transition(current.epoch, &next).await {
                        Ok(Cas::Applied(s)) => {
                            info!(breaker = %core.opts.name, mode = %s.mode, "local manual override pushed to shared store");
                            transition = Some(Transition { from: current.clone(), to: s.clone() });
                            current = s;
                        }
                        Ok(Cas::Refused(s)) => current = s.unwrap_or(current),
                        Err(e) => {
                            warn!(breaker = %core.opts.name, error = %e, "could not push local override; will retry");
                            inner.pending = Some(next);
                        }
                    }
                }
            }
        }
        let (results, probe_results) = self.evaluate(&snap, now);
        let obs = observation(&snap, &results, probe_results.as_deref());
        let breach = window_breach(&core.cfg, &obs);
        if transition.is_none() {
            if let Step::Move(next) = step(&core.cfg, &current, &Event::Observe(obs), now) {
                match self.store.transition(current.epoch, &next).await {
                    Ok(Cas::Applied(s)) => {
                        log_transition(&core.opts.name, &current, &s, Source::Shared);
                        transition = Some(Transition { from: current.clone(), to: s.clone() });
                        current = s;
                    }
                    Ok(Cas::Refused(s)) => {
                        debug!(breaker = %core.opts.name, "another replica transitioned first");
                        current = s.unwrap_or(current);
                    }
                    Err(e) => warn!(breaker = %core.opts.name, error = %e, "transition not written; next flush retries"),
                }
            }
        }
        inner.state = current.clone();
        inner.shared_state = current.clone();
        inner.read_shared = true;
        core.local.replace_state(&current);
        core.router.set(current.mode, false, core.opts.fallback);
        inner.allowance_local = false;
        inner.allowance_epoch = current.epoch;
        inner.unreported = 0;
        inner.unreported_epoch = current.epoch;
        if current.mode == Mode::HalfOpen && current.epoch == snap.state.epoch {
            core.router.grant(snap.probe_grant);
        }
        FlushReport {
            state: current,
            source: Source::Shared,
            records: snap.window.records,
            warm: snap.warm,
            results,
            probe_results,
            breach,
            transition,
            error: None,
        }
    }

    async fn on_local(&self, inner: &mut Inner, snap: Snapshot, err: &StoreError) -> FlushReport {
        let core = &*self.core;
        let now = snap.now;
        if !inner.degraded {
            let policy = core.outage_policy(inner.read_shared);
            if inner.read_shared || policy == core.opts.fallback {
                warn!(breaker = %core.opts.name, error = %err, ?policy,
                    "shared breaker store unreachable; running on local metrics");
            } else {
                warn!(breaker = %core.opts.name, error = %err, configured = ?core.opts.fallback, ?policy,
                    "shared breaker store unreachable and its state never read (a manual override may be set there); diverting until it can be read");
            }
            inner.degraded = true;
        }
        inner.last_error = Some(err.to_string());
        let mut current = snap.state.clone();
        let mut transition = None;
        let (results, probe_results) = self.evaluate(&snap, now);
        let obs = observation(&snap, &results, probe_results.as_deref());
        let breach = window_breach(&core.cfg, &obs);
        if let Step::Move(next) = step(&core.cfg, &current, &Event::Observe(obs), now) {
            if let Ok(Cas::Applied(s)) = core.local.transition(current.epoch, &next).await {
                log_transition(&core.opts.name, &current, &s, Source::Local);
                transition = Some(Transition { from: current.clone(), to: s.clone() });
                current = s;
            }
        }
        inner.state = current.clone();
        core.router.set(current.mode, true, core.outage_policy(inner.read_shared));
        inner.allowance_local = true;
        inner.allowance_epoch = current.epoch;
        if current.mode == Mode::HalfOpen && current.epoch == snap.state.epoch {
            core.router.grant(snap.probe_grant);
        }
        FlushReport {
            state: current,
            source: Source::Local,
            records: snap.window.records,
            warm: snap.warm,
            results,
            probe_results,
            breach,
            transition,
            error: inner.last_error.clone(),
        }
    }

    fn evaluate(&self, snap: &Snapshot, now: Millis) -> (Vec<RuleResult>, Option<Vec<RuleResult>>) {
        let shape = self.core.current();
        let rules = &shape.rules;
        (evaluate(rules, &snap.window, now), snap.probe.as_ref().map(|p| evaluate(rules, p, now)))
    }

    /// Applies a manual command: on the shared store when reachable (compare-and-set, retried
    /// on contention), else locally, to be pushed when the store returns.
    ///
    /// # Errors
    /// [`StoreError::Contended`] when the state changed under three attempts in a row.
    pub async fn command(&self, command: Command, note: Option<&str>, now: Millis) -> Result<CommandOutcome, StoreError> {
        let core = &*self.core;
        let mut inner = core.inner.lock().await;
        // Stamped on the store's clock as last measured, like every other state change.
        let now = now.saturating_add(inner.offset);
        let event = Event::Command { command, note };
        let mut failure = None;
        for _ in 0..3 {
            let stored = match self.store.load().await {
                Ok(s) => s,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let expected = stored.as_ref().map_or(0, |s| s.epoch);
            let base = stored.unwrap_or_else(|| inner.shared_state.clone());
            let next = match step(&core.cfg, &base, &event, now) {
                Step::Stay => {
                    adopt(core, &mut inner, &base);
                    return Ok(CommandOutcome { state: base, transition: None, source: Source::Shared });
                }
                Step::Move(next) => next,
            };
            match self.store.transition(expected, &next).await {
                Ok(Cas::Applied(s)) => {
                    log_transition(&core.opts.name, &base, &s, Source::Shared);
                    adopt(core, &mut inner, &s);
                    return Ok(CommandOutcome {
                        state: s.clone(),
                        transition: Some(Transition { from: base, to: s }),
                        source: Source::Shared,
                    });
                }
                Ok(Cas::Refused(_)) => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let Some(err) = failure else {
            return Err(StoreError::Contended { op: "command", prefix: core.opts.name.clone() });
        };
        if !inner.degraded {
            warn!(breaker = %core.opts.name, error = %err, "shared breaker store unreachable; command applied locally");
            inner.degraded = true;
            inner.last_error = Some(err.to_string());
        }
        let base = inner.state.clone();
        let (state, transition) = match step(&core.cfg, &base, &event, now) {
            Step::Stay => (base, None),
            Step::Move(next) => {
                core.local.replace_state(&next);
                log_transition(&core.opts.name, &base, &next, Source::Local);
                (next.clone(), Some(Transition { from: base, to: next }))
            }
        };
        inner.pending = Some(state.clone());
        inner.state = state.clone();
        core.router.set(state.mode, true, core.outage_policy(inner.read_shared));
        Ok(CommandOutcome { state, transition, source: Source::Local })
    }
}

impl Core {
    fn current(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The outage policy in force. `local` runs the breaker from the last shared state; a
    /// replica that never read one (it started while the store was away) has none, and the
    /// shared breaker may be forced open: it diverts, as `fail_closed`, until it can read it.
    fn outage_policy(&self, read_shared: bool) -> StoreOutagePolicy {
        match self.opts.fallback {
            StoreOutagePolicy::Local if !read_shared => StoreOutagePolicy::FailClosed,
            p => p,
        }
    }
}

fn observation<'a>(snap: &Snapshot, results: &'a [RuleResult], probe: Option<&'a [RuleResult]>) -> Observation<'a> {
    Observation {
        records: snap.window.records,
        results,
        warm: snap.warm,
        probe: match (&snap.probe, probe) {
            (Some(w), Some(r)) => Some(ProbeObservation { records: w.records, results: r }),
            _ => None,
        },
    }
}

/// Takes a state read from the shared store.
fn adopt(core: &Core, inner: &mut Inner, state: &BreakerState) {
    inner.state = state.clone();
    inner.shared_state = state.clone();
    inner.read_shared = true;
    inner.pending = None;
    core.local.replace_state(state);
    core.router.set(state.mode, inner.degraded, core.outage_policy(true));
}

/// At debug level: the gate logs (and counts, and publishes) every transition once, at info;
/// this line adds where the state came from (this replica or the shared store).
fn log_transition(name: &str, from: &BreakerState, to: &BreakerState, source: Source) {
    debug!(breaker = %name, from = %from.mode, to = %to.mode, epoch = to.epoch, trips = to.trips, reason = ?to.reason, ?source, "breaker state adopted");
}

/// Applies states announced by other replicas as soon as they arrive.
async fn follow(core: Weak<Core>, mut rx: tokio::sync::watch::Receiver<Option<BreakerState>>) {
    while rx.changed().await.is_ok() {
        let Some(state) = rx.borrow_and_update().clone() else { continue };
        let Some(core) = core.upgrade() else { return };
        let mut inner = core.inner.lock().await;
        if inner.degraded || state.epoch <= inner.state.epoch {
            continue;
        }
        debug!(breaker = %core.opts.name, mode = %state.mode, epoch = state.epoch, "breaker state announced");
        // The allowance of an older epoch is void; the next flush reports nothing for it.
        core.router.take_allowance();
        inner.allowance_epoch = state.epoch;
        inner.allowance_local = false;
        inner.unreported = 0;
        inner.unreported_epoch = state.epoch;
        adopt(&core, &mut inner, &state);
    }
}
