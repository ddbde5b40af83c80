//! One contract version replayed in record time: the record checks, the breaker (the same
//! [`breaker::Breaker`] over a [`MemoryStore`], flushed every `flush_interval` of record
//! time) and the gate's routing plan ([`crate::serve::plan::plan`]). Nothing is written: every
//! output the live gate would produce is counted instead.
//!
//! The half-open dance follows the record loop: a record given a probe slot is checked into
//! the probe window and, when valid, waits for the probe's verdict (validated if the breaker
//! closed, the fallback if it opened again); a record past the probe grant waits, unjudged,
//! with every record behind it, and is routed after the next flush as if read again.

use super::report::{RouteCounts, TransitionRow, VersionReport};
use crate::config::{Fallback, StaleRecords};
use crate::serve::decode::rejected::Decoded;
use crate::serve::plan::{plan, Output, RoutePlan, VerdictTag};
use breaker::{Breaker, BreakerConfig, BreakerOptions, MemoryStore, Mode, Route, Router, StoreOutagePolicy};
use contracts::{CompiledContract, MetricKind, Observer};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// How the binding routes, as far as a simulation can follow it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The binding's breaker settings.
    pub breaker: BreakerConfig,
    /// Fallback while the breaker is open.
    pub fallback: Fallback,
    /// What a stale record does.
    pub stale_records: StaleRecords,
    /// Width of the report's time buckets, ms.
    pub bucket_ms: i64,
}

impl Settings {
    /// How `binding` routes, with report buckets `bucket_ms` wide.
    #[must_use]
    pub fn of(binding: &crate::config::Binding, bucket_ms: i64) -> Self {
        Self { breaker: binding.breaker.clone(), fallback: binding.fallback, stale_records: binding.stale_records, bucket_ms }
    }
}

/// One source record, decoded as the binding would decode it.
#[derive(Debug, Clone)]
pub struct SimRecord {
    /// Record timestamp (ms): the simulation's clock.
    pub ts: i64,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// The decoded payload, or why there is none.
    pub decoded: Decoded,
    /// The live gate's verdict on it (valid or not), when a live gate judged it first: a
    /// shadow evaluation compares the two.
    pub active_valid: Option<bool>,
}

/// One record as the simulation judged it, kept when the journal is on (live shadow
/// evaluation turns its outcomes into metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The simulated version's verdict (before any stale-record policy).
    pub valid: bool,
    /// The live gate's verdict on the same record, when given.
    pub active_valid: Option<bool>,
    /// Blocking rules the record broke (each once).
    pub rules: Vec<String>,
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The binding's breaker settings are refused (as `serve` would refuse them).
    #[error("breaker settings")]
    Config(#[source] breaker::ConfigError),
    /// The breaker refused a window delta (a bug: deltas always have the contract's shape).
    #[error("breaker flush")]
    Flush(#[source] breaker::StoreError),
}

/// A valid probe record waiting for the probe's verdict: its report bucket and key.
type Deferred = (i64, Option<Vec<u8>>);

/// The simulation of one contract version.
#[derive(Debug)]
pub struct Simulation {
    contract: Arc<CompiledContract>,
    settings: Settings,
    breaker: Breaker<MemoryStore>,
    router: Arc<Router>,
    obs: Observer,
    probe: Observer,
    interval_ms: i64,
    next_flush: i64,
    dup_scope_ms: i64,
    dup_epoch: i64,
    last_ts: i64,
    waiting: VecDeque<SimRecord>,
    deferred: Vec<Deferred>,
    /// Keys with a last valid record (the `last_good` index, keys only).
    snapshots: HashSet<Vec<u8>>,
    report: VersionReport,
    /// Every judged record since the last [`Simulation::take_journal`], when on.
    journal: Option<Vec<Judged>>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Simulation {
    /// A simulation whose clock starts at `start_ms` (the first record's timestamp).
    ///
    /// # Errors
    /// [`SimError::Config`] for breaker settings `serve` would refuse.
    pub fn new(contract: Arc<CompiledContract>, settings: Settings, start_ms: i64) -> Result<Self, SimError> {
        let rules = contract.rules.clone();
        let store = MemoryStore::new(settings.breaker.window.clone(), &rules);
        // One process, one store: the outage policy never applies.
        let opts = BreakerOptions { name: format!("backtest/{}", contract.version), replica: "backtest".into(), fallback: StoreOutagePolicy::Local };
        let breaker = Breaker::new(settings.breaker.clone(), rules, store, opts, start_ms).map_err(SimError::Config)?;
        let interval_ms = ms(settings.breaker.flush_interval).max(1);
        let dup_scope_ms = ms(settings.breaker.window.span()).max(1);
        let report = VersionReport::new(&contract);
        Ok(Self {
            router: breaker.router(),
            obs: contract.observer(),
            probe: contract.observer(),
            breaker,
            interval_ms,
            next_flush: start_ms.saturating_add(interval_ms),
            dup_scope_ms,
            dup_epoch: start_ms.div_euclid(dup_scope_ms),
            last_ts: start_ms,
            waiting: VecDeque::new(),
            deferred: Vec::new(),
            snapshots: HashSet::new(),
            report,
            journal: None,
            contract,
            settings,
        })
    }

    /// Keeps a journal of every judged record, taken with [`Simulation::take_journal`].
    #[must_use]
    pub fn journaled(mut self) -> Self {
        self.journal = Some(Vec::new());
        self
    }

    /// The records judged since the last call (empty without a journal).
    pub fn take_journal(&mut self) -> Vec<Judged> {
        self.journal.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Runs the flushes due by `now` while no record comes (a live shadow's clock is the wall
    /// clock: its breaker cools down and probes while the source is quiet).
    ///
    /// # Errors
    /// [`SimError::Flush`].
    pub async fn tick(&mut self, now: i64) -> Result<(), SimError> {
        self.advance(now).await
    }

    /// The report so far, with the breaker's mode now.
    pub async fn snapshot(&self) -> VersionReport {
        let mut r = self.report.clone();
        r.final_mode = self.breaker.status().await.state.mode.as_str().to_string();
        r
    }

    /// The breaker's transitions so far.
    #[must_use]
    pub fn transitions(&self) -> &[TransitionRow] {
        &self.report.transitions
    }

    /// Keeps only the newest `n` time buckets (a live shadow runs for days).
    pub fn trim_buckets(&mut self, n: usize) {
        while self.report.buckets.len() > n {
            self.report.buckets.pop_first();
        }
    }

    /// Feeds the next record (records are fed in timestamp order).
    ///
    /// # Errors
    /// [`SimError::Flush`]: a flush the breaker refused.
    pub async fn record(&mut self, r: SimRecord) -> Result<(), SimError> {
        // A record older than the clock (another partition's late write) is judged now.
        let ts = r.ts.max(self.last_ts);
        self.advance(ts).await?;
        self.last_ts = ts;
        self.report.records += 1;
        self.report.first_ms.get_or_insert(r.ts);
        self.report.last_ms = Some(r.ts);
        // Behind a waiting record, a record waits too: the live partition is paused there.
        self.waiting.push_back(r);
        self.drain();
        Ok(())
    }

    /// Flushes up to one interval past the last record and returns the report; records still
    /// waiting for a probe verdict are counted as unresolved.
    ///
    /// # Errors
    /// [`SimError::Flush`].
    pub async fn finish(mut self) -> Result<VersionReport, SimError> {
        let end = self.last_ts.saturating_add(self.interval_ms);
        self.advance(end).await?;
        let unresolved = self.waiting.len() + self.deferred.len();
        self.report.totals.unresolved += u64::try_from(unresolved).unwrap_or(u64::MAX);
        self.report.final_mode = self.breaker.status().await.state.mode.as_str().to_string();
        Ok(self.report)
    }

    /// Runs every flush due by `ts`.
    async fn advance(&mut self, ts: i64) -> Result<(), SimError> {
        while self.next_flush <= ts {
            let now = self.next_flush;
            self.flush(now).await?;
            self.next_flush = now.saturating_add(self.interval_ms);
        }
        Ok(())
    }

    /// One flush, as the gate's flusher does it, at record time `now`.
    async fn flush(&mut self, now: i64) -> Result<(), SimError> {
        if now.div_euclid(self.dup_scope_ms) != self.dup_epoch {
            // Duplicates are judged within one window span (the flusher's rule).
            self.dup_epoch = now.div_euclid(self.dup_scope_ms);
            self.obs.clear_duplicates();
        }
        self.obs.arrival(&self.contract, self.last_ts);
        let delta = self.obs.take_window();
        let probe = self.probe.take_window();
        let before = self.breaker.status().await.state.mode;
        let flushed = self.breaker.flush(&delta, &probe, now).await.map_err(SimError::Flush)?;
        if let Some(t) = &flushed.transition {
            self.report.transitions.push(TransitionRow::new(now, &t.from, &t.to));
        }
        let mode = flushed.state.mode;
        if before == Mode::HalfOpen && mode != Mode::HalfOpen {
            // The probe's verdict: its valid records go where the breaker now sends data.
            let divert = matches!(mode, Mode::Open | Mode::ForcedOpen);
            for (bucket, key) in std::mem::take(&mut self.deferred) {
                let keyed = key.as_ref().is_some_and(|k| !k.is_empty());
                let snapshot = divert && keyed && key.as_ref().is_some_and(|k| self.snapshots.contains(k));
                let p = plan(true, if divert { Route::Divert } else { Route::Pass }, self.settings.fallback, keyed, snapshot);
                self.count(bucket, &p, key.as_deref());
            }
        }
        self.drain();
        Ok(())
    }

    /// Routes waiting records until one must wait for a probe verdict.
    fn drain(&mut self) {
        while let Some(r) = self.waiting.pop_front() {
            let route = self.router.route();
            // Past the probe grant a record waits for the verdict (under `pause` it peeks).
            if route == Route::Divert && self.router.probing() && self.settings.fallback != Fallback::Pause {
                self.waiting.push_front(r);
                return;
            }
            self.judge(r, route);
        }
    }

    /// Checks one record and counts the outputs of its plan.
    fn judge(&mut self, r: SimRecord, route: Route) {
        let bucket = r.ts.div_euclid(self.settings.bucket_ms.max(1)) * self.settings.bucket_ms.max(1);
        let (valid, rules, stale) = match &r.decoded {
            Ok(v) => {
                self.obs.set_clock(r.ts);
                let verdict = self.contract.check(v, &mut self.obs);
                let mut seen = HashSet::new();
                let rules: Vec<String> = verdict.violations.iter().filter(|x| x.blocking && seen.insert(x.rule.clone())).map(|x| x.rule.to_string()).collect();
                let stale = verdict
                    .stale
                    .then(|| verdict.violations.iter().find(|x| self.contract.rules.iter().any(|w| w.metric == MetricKind::StaleRecords && *w.id == *x.rule)).map(|x| x.rule.to_string()))
                    .flatten();
                (verdict.is_valid(), rules, stale)
            }
            Err(rejected) => {
                let v = rejected.account(&self.contract, &mut self.obs);
                (false, vec![v.map_or_else(|| "$.decode".to_string(), |v| v.rule.to_string())], None)
            }
        };
        if let Some(j) = self.journal.as_mut() {
            j.push(Judged { valid, active_valid: r.active_valid, rules: if valid { Vec::new() } else { rules.clone() } });
        }
        let (valid, rules, divert_stale) = match (stale, self.settings.stale_records) {
            (Some(rule), StaleRecords::Quarantine) if valid => (false, vec![rule], false),
            (Some(_), StaleRecords::Divert) if valid => (true, rules, true),
            _ => (valid, rules, false),
        };
        if route == Route::Probe {
            self.report.totals.probes += 1;
            match &r.decoded {
                Ok(v) => {
                    self.probe.set_clock(r.ts);
                    let _ = self.contract.check(v, &mut self.probe);
                }
                Err(rejected) => {
                    let _ = rejected.account(&self.contract, &mut self.probe);
                }
            }
        }
        let key = r.key.as_deref();
        let keyed = key.is_some_and(|k| !k.is_empty());
        let sent_route = if divert_stale { Route::Divert } else { route };
        let snapshot = valid && keyed && sent_route == Route::Divert && key.is_some_and(|k| self.snapshots.contains(k));
        let p = plan(valid, sent_route, self.settings.fallback, keyed, snapshot);
        if !valid {
            for rule in rules {
                *self.report.quarantine_by_rule.entry(rule).or_default() += 1;
            }
        }
        if p.probe && self.settings.fallback != Fallback::Pause {
            self.deferred.push((bucket, r.key));
            return;
        }
        self.count(bucket, &p, key);
    }

    /// Counts a plan's outputs in the totals and the record's time bucket.
    fn count(&mut self, bucket: i64, p: &RoutePlan, key: Option<&[u8]>) {
        let add = |c: &mut RouteCounts| {
            if p.pause {
                c.paused += 1;
            }
            for e in &p.emits {
                match (e.output, e.verdict) {
                    (Output::Validated, VerdictTag::Stale) => c.stale += 1,
                    (Output::Validated, _) => c.validated += 1,
                    (Output::Quarantine, _) => c.quarantine += 1,
                    (Output::Degraded, _) => c.degraded += 1,
                    (Output::Held, _) => c.held += 1,
                    (Output::LastGood, _) => {}
                }
            }
        };
        add(&mut self.report.totals);
        add(self.report.buckets.entry(bucket).or_default());
        if let Some(k) = key.filter(|_| p.emits.iter().any(|e| e.output == Output::LastGood)) {
            self.snapshots.insert(k.to_vec());
        }
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
