//! Calibration of a contract's window rules on known-good data: how often a stream like the
//! sample would trip the breaker by chance, how often a half-open probe of it would fail, and
//! the thresholds and probe size that meet a false-trip target.
//!
//! Method, for each rate rule (a percent of records: nulls, invalid values, duplicates, record
//! failures, decode errors):
//!
//! * The sample gives the per-record base rate `p` and the share of records in the rule's
//!   scope. A window of `W` records holds `n = W × share` records in scope, and the number of
//!   hits in it is taken as Binomial(n, p): a steady stream of independent records.
//! * Whether `k` hits breach is decided by the gate's own code, through a [`Judge`] (the
//!   breaker's window rule and its half-open probe rule, weighed at `confidence`); this module
//!   only finds the smallest such `k` and sums the binomial tail from it
//!   ([`crate::stats::at_least`]).
//! * Expected false trips per day = windows per day × P(one window breaches), with windows per
//!   day = rate × 86 400 / W: *disjoint* windows. The gate evaluates a sliding window at every
//!   flush, but consecutive evaluations share nearly all their records, so their breaches
//!   come in runs that are one trip (the breaker opens at the first and the window starts
//!   afresh); one chance per window length is what a run of overlapping windows amounts to.
//! * The sample's own disjoint windows, in file order, are judged too: more breaches than the
//!   binomial model expects means the data is burstier than a steady stream, which the table
//!   says rather than hides.
//!
//! Other rules are listed with why they are not calibrated here (time-based rules, row
//! counts, per-record rules, distribution rules).

use crate::stats::at_least;
use crate::threshold::{Operator, Unit};
use crate::window::{evaluate, Accumulator, Enforcement, MetricKind, RuleResult, WindowRule, WindowState};
use serde::Serialize;

#[cfg(test)]
mod tests;

/// Seconds in a day.
pub const SECONDS_PER_DAY: f64 = 86_400.0;
/// A faulty stream the proposal must still catch: this many times the base rate.
pub const FAULT_FACTOR: f64 = 3.0;
/// The chance with which a proposed probe fails a faulty stream: one at [`FAULT_FACTOR`] × the
/// base rate or [`PROBE_LIMIT_FACTOR`] × the limit, whichever is higher. A probe weighs its
/// sample, so a stream barely over the limit takes a huge probe to tell apart; catching that
/// is the window's job, and the probe's is to see that a real fault has not gone away.
pub const PROBE_POWER: f64 = 0.9;
/// See [`PROBE_POWER`].
pub const PROBE_LIMIT_FACTOR: f64 = 3.0;
/// Largest probe proposed; past it the rule cannot be judged by a probe at all.
pub const MAX_PROBE_RECORDS: u64 = 1 << 20;

/// The gate's decisions, supplied by the shell so that calibration asks exactly what the
/// running breaker asks (the `breaker` crate depends on this one, not the reverse).
pub trait Judge {
    /// Whether a closed breaker trips on a window of `records` records with these results.
    fn window_trips(&self, records: u64, results: &[RuleResult]) -> bool;
    /// Whether a half-open probe of `records` records with these results fails.
    fn probe_fails(&self, records: u64, results: &[RuleResult]) -> bool;
    /// The least probe the gate's startup check accepts for `rule` (0: no floor).
    fn least_probe(&self, rule: &WindowRule) -> u64;
}

/// The binding's settings and the targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Records in one window: a count window's `records`, or a time window's length × rate.
    pub window_records: u64,
    /// `min_records`: below it rate rules do not trip.
    pub min_records: u64,
    /// `probe_records`.
    pub probe_records: u64,
    /// `confidence` of the probe's verdict.
    pub confidence: f64,
    /// Records per second of the stream.
    pub rate_per_s: f64,
    /// Largest acceptable expected false trips per day.
    pub target_trips_per_day: f64,
    /// Largest acceptable chance that one probe of clean data fails.
    pub target_probe_false_fail: f64,
    /// Propose no thresholds: size the probe for the limits as written (when they are set
    /// by what faults must be caught rather than by the false-trip target).
    pub keep_thresholds: bool,
}

impl Settings {
    /// Disjoint windows per day at the stream's rate.
    #[must_use]
    pub fn windows_per_day(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let w = self.window_records.max(1) as f64;
        self.rate_per_s * SECONDS_PER_DAY / w
    }
}

/// Per-record counts of a sample, as cumulative sums, for the rate rules of a contract.
#[derive(Debug, Clone)]
pub struct Sampler {
    rules: Vec<WindowRule>,
    /// Per rule: cumulative (hits, in scope) after each record; empty for other rules.
    cumulative: Vec<Vec<(u64, u64)>>,
    records: u64,
}

/// Whether calibration treats `rule` as a rate, or why not.
fn rate_rule(rule: &WindowRule) -> Result<(), &'static str> {
    match (rule.metric, rule.unit, rule.enforcement, rule.operator) {
        (MetricKind::Freshness | MetricKind::NoData, ..) => Err("measures time since the newest record, not a share of records: set it from the source's schedule"),
        (MetricKind::RowCount, ..) => Err("a volume rule: set it from the traffic, not from record quality"),
        (MetricKind::Distribution, ..) => Err("a distribution index: record its baseline and limit with `contracts baseline`"),
        (MetricKind::StaleRecords, ..) => Err("record ages depend on arrival time, which a file does not have: read them on a live gate"),
        (_, _, Enforcement::Record, _) => Err("enforced per record: its records are quarantined and weigh in through $.recordFailures"),
        (_, _, Enforcement::Report, _) => Err("reported only, never judged"),
        (_, Unit::Percent, _, Operator::MustBeLessThan(t) | Operator::MustBeLessOrEqualTo(t)) if t > 0.0 && t < 100.0 => Ok(()),
        (_, Unit::Percent, ..) => Err("only upper limits strictly between 0 % and 100 % are calibrated"),
        _ => Err("a count of rows: one hit already breaches, so there is nothing to calibrate"),
    }
}

impl Sampler {
    /// A sampler for these rules (a compiled contract's, in order).
    #[must_use]
    pub fn new(rules: &[WindowRule]) -> Self {
        Self { rules: rules.to_vec(), cumulative: vec![Vec::new(); rules.len()], records: 0 }
    }

    /// Records the state of a batch observer's window after one more record (or decode error):
    /// the observer's window only grows in a batch, so its counts are the cumulative sums.
    pub fn push(&mut self, window: &WindowState) {
        self.records += 1;
        for ((rule, cum), acc) in self.rules.iter().zip(&mut self.cumulative).zip(&window.accumulators) {
            if let (Ok(()), Accumulator::Count { hits, total }) = (rate_rule(rule), acc) {
                cum.push((*hits, *total));
            }
        }
    }

    /// Records pushed.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The calibration report.
    #[must_use]
    pub fn report(&self, s: &Settings, judge: &dyn Judge) -> Report {
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        for (rule, cum) in self.rules.iter().zip(&self.cumulative) {
            match rate_rule(rule) {
                Ok(()) => rules.push(calibrate_rule(rule, cum, s, judge)),
                Err(why) => skipped.push(Skipped { id: rule.id.clone(), metric: rule.metric, why: why.to_string() }),
            }
        }
        let mut notes = Vec::new();
        if s.window_records < s.min_records {
            notes.push(format!(
                "the window holds {} records at this rate, fewer than min_records {}: rate rules never trip; lengthen the window or lower min_records",
                s.window_records, s.min_records
            ));
        }
        Report { records: self.records, settings: *s, windows_per_day: s.windows_per_day(), power: PROBE_POWER, fault_factor: FAULT_FACTOR, rules, skipped, notes }
    }
}

/// The calibration of every window rule of a contract for one binding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Records in the sample (decode errors included).
    pub records: u64,
    /// The settings calibrated for.
    pub settings: Settings,
    /// Disjoint windows per day at the given rate.
    pub windows_per_day: f64,
    /// The chance a proposed probe fails a stream at `fault_factor` × the base rate.
    pub power: f64,
    /// The faulty stream the proposals must detect, as a multiple of the base rate.
    pub fault_factor: f64,
    /// Rate rules, calibrated.
    pub rules: Vec<RuleCalibration>,
    /// Rules not calibrated, with why.
    pub skipped: Vec<Skipped>,
    /// Findings about the settings themselves.
    pub notes: Vec<String>,
}

/// A rule not calibrated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// Rule id.
    pub id: String,
    /// Metric.
    pub metric: MetricKind,
    /// Why.
    pub why: String,
}

/// One rate rule, as it is and as proposed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleCalibration {
    /// Rule id.
    pub id: String,
    /// Metric.
    pub metric: MetricKind,
    /// Field, if any.
    pub field: Option<String>,
    /// ODCS operator key.
    pub operator: &'static str,
    /// The contract's threshold, percent.
    pub threshold: f64,
    /// Hits in the sample.
    pub hits: u64,
    /// Records of the sample in the rule's scope.
    pub in_scope: u64,
    /// Per-record base rate, percent.
    pub base_rate: f64,
    /// Records in the rule's scope in one window.
    pub window_scope: u64,
    /// P(one window of clean data breaches the threshold).
    pub window_breach: f64,
    /// Expected false trips per day from this rule.
    pub false_trips_per_day: f64,
    /// Whether the current threshold meets the target.
    pub meets_target: bool,
    /// P(one probe of clean data fails), at the current threshold and probe size.
    pub probe_false_fail: f64,
    /// The lowest threshold (two significant digits, rounded up) that meets the target.
    pub proposed_threshold: f64,
    /// P(window breach) at the proposed threshold.
    pub proposed_window_breach: f64,
    /// Expected false trips per day at the proposed threshold.
    pub proposed_false_trips_per_day: f64,
    /// P(a window of a stream at `fault_factor` × base breaches the proposed threshold).
    pub window_power: f64,
    /// The smallest probe that, at the proposed threshold, fails clean data at most
    /// `target_probe_false_fail` of the time, fails a stream at the fault rate with `power`
    /// (when that rate is over the threshold) and passes the gate's startup check; `None` when
    /// no probe up to [`MAX_PROBE_RECORDS`] does.
    pub proposed_probe_records: Option<u64>,
    /// P(one probe of clean data fails) at the proposed threshold and probe size.
    pub proposed_probe_false_fail: f64,
    /// The faulty stream's rate the probe must catch, percent: the larger of
    /// [`FAULT_FACTOR`] × base and [`PROBE_LIMIT_FACTOR`] × the proposed limit.
    pub probe_fault_rate: f64,
    /// P(the proposed probe fails a stream at `probe_fault_rate`).
    pub probe_power: f64,
    /// Disjoint windows of the sample, in its order.
    pub sample_windows: u64,
    /// Of those, the ones that breach the current threshold.
    pub sample_windows_breached: u64,
    /// Of those, the ones that breach the proposed threshold.
    pub sample_windows_breached_proposed: u64,
    /// Findings about this rule.
    pub notes: Vec<String>,
}

/// `op` with its limit moved to `t` (upper limits only; others are returned unchanged).
#[must_use]
pub fn with_limit(op: Operator, t: f64) -> Operator {
    match op {
        Operator::MustBeLessThan(_) => Operator::MustBeLessThan(t),
        Operator::MustBeLessOrEqualTo(_) => Operator::MustBeLessOrEqualTo(t),
        other => other,
    }
}

fn limit_of(op: Operator) -> f64 {
    match op {
        Operator::MustBeLessThan(t) | Operator::MustBeLessOrEqualTo(t) => t,
        _ => f64::NAN,
    }
}

/// `x` rounded up to two significant digits: a threshold a person reads and types, never
/// below what the arithmetic asked for.
#[must_use]
pub fn round_up_2sig(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let step = 10f64.powf(x.log10().floor() - 1.0);
    // The small slack keeps an exact 3.0 from becoming 3.1 through float noise.
    let up = ((x / step) - 1e-9).ceil() * step;
    (up * 1e9).round() / 1e9
}

/// The rule's results over a window of `records` records of which `total` are in scope and
/// `hits` hit, computed by the contract's own evaluation.
fn results_for(rule: &WindowRule, op: Operator, records: u64, hits: u64, total: u64) -> Vec<RuleResult> {
    let r = WindowRule { operator: op, ..rule.clone() };
    let state = WindowState { records, accumulators: vec![Accumulator::Count { hits, total }] };
    evaluate(std::slice::from_ref(&r), &state, 0)
}

/// The fewest hits out of `total` in scope that make `fails` true; `None` when none do.
/// `fails` must be monotone in the hits (it is for upper limits).
fn fewest_failing(total: u64, fails: impl Fn(u64) -> bool) -> Option<u64> {
    let (mut lo, mut hi) = (0u64, total + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo <= total).then_some(lo)
}

/// `records × share`, rounded, the records of a rule's scope in `records` records.
fn scope_of(records: u64, share: f64) -> u64 {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (records as f64 * share).round().max(0.0) as u64;
    n
}

/// P(a window breaches `op`) for a stream at `p`.
fn window_breach(rule: &WindowRule, op: Operator, s: &Settings, scope: u64, p: f64, judge: &dyn Judge) -> f64 {
    let w = s.window_records;
    fewest_failing(scope, |k| judge.window_trips(w, &results_for(rule, op, w, k, scope))).map_or(0.0, |k| at_least(scope, k, p))
}

/// P(a probe of `n` records fails `op`) for a stream at `p`.
fn probe_fail(rule: &WindowRule, op: Operator, n: u64, share: f64, p: f64, judge: &dyn Judge) -> f64 {
    let scope = scope_of(n, share);
    fewest_failing(scope, |k| judge.probe_fails(n, &results_for(rule, op, n, k, scope))).map_or(0.0, |k| at_least(scope, k, p))
}

fn calibrate_rule(rule: &WindowRule, cum: &[(u64, u64)], s: &Settings, judge: &dyn Judge) -> RuleCalibration {
    let (hits, in_scope) = cum.last().copied().unwrap_or((0, 0));
    #[allow(clippy::cast_precision_loss)]
    let (p, share) = if in_scope == 0 { (0.0, 0.0) } else { (hits as f64 / in_scope as f64, in_scope as f64 / cum.len().max(1) as f64) };
    let fault = (FAULT_FACTOR * p).min(1.0);
    let wpd = s.windows_per_day();
    let scope = scope_of(s.window_records, share);
    let op = rule.operator;
    let limit = limit_of(op);
    let mut notes = Vec::new();

    let breach = window_breach(rule, op, s, scope, p, judge);
    // The most sensitive limit that meets the target: the fewest hits whose tail does, as a
    // percent of the window's scope, then rounded up (which only lowers the trips).
    let proposed = if scope == 0 || p <= 0.0 || s.keep_thresholds {
        limit
    } else {
        let k = fewest_failing(scope, |k| wpd * at_least(scope, k, p) <= s.target_trips_per_day).unwrap_or(scope);
        #[allow(clippy::cast_precision_loss)]
        let raw = 100.0 * k as f64 / scope as f64;
        // `k` hits must breach: equal to a `<` limit does, a `<=` limit needs it just below.
        let raw = if matches!(op, Operator::MustBeLessOrEqualTo(_)) { raw * (1.0 - 1e-6) } else { raw };
        round_up_2sig(raw).min(99.0)
    };
    let pop = with_limit(op, proposed);
    let proposed_breach = window_breach(rule, pop, s, scope, p, judge);
    let window_power = window_breach(rule, pop, s, scope, fault, judge);
    if p > 0.0 && window_power < PROBE_POWER {
        notes.push(format!(
            "a window of {} records catches a stream at {:.3} % ({FAULT_FACTOR}× base) only {:.0} % of the time at the proposed limit: a longer window (or min_records) would tell them apart",
            s.window_records,
            100.0 * fault,
            100.0 * window_power
        ));
    }

    // Probe: the smallest size meeting the false-fail target, the power (when the fault is
    // over the limit at all) and the startup floor. Powers of two bracket it, then bisection;
    // the upper end always satisfies everything, so the answer does.
    let floor = judge.least_probe(&WindowRule { operator: pop, ..rule.clone() });
    let probe_fault = fault.max(PROBE_LIMIT_FACTOR * proposed / 100.0).min(1.0);
    let enough = |n: u64| n >= floor && probe_fail(rule, pop, n, share, p, judge) <= s.target_probe_false_fail && probe_fail(rule, pop, n, share, probe_fault, judge) >= PROBE_POWER;
    let proposed_probe = if share <= 0.0 {
        None
    } else {
        let mut hi = 16u64;
        while hi < MAX_PROBE_RECORDS && !enough(hi) {
            hi *= 2;
        }
        enough(hi).then(|| {
            let mut lo = hi / 2;
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                if enough(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        })
    };
    let probe_n = proposed_probe.unwrap_or(s.probe_records);

    // The sample's own disjoint windows, in order.
    let w = usize::try_from(s.window_records.max(1)).unwrap_or(usize::MAX);
    let (mut windows, mut breached, mut breached_proposed) = (0u64, 0u64, 0u64);
    let mut prev = (0u64, 0u64);
    for &(h, t) in cum.iter().skip(w.saturating_sub(1)).step_by(w) {
        let (dh, dt) = (h - prev.0, t - prev.1);
        prev = (h, t);
        windows += 1;
        breached += u64::from(judge.window_trips(s.window_records, &results_for(rule, op, s.window_records, dh, dt)));
        breached_proposed += u64::from(judge.window_trips(s.window_records, &results_for(rule, pop, s.window_records, dh, dt)));
    }
    #[allow(clippy::cast_precision_loss)]
    let expected = windows as f64 * proposed_breach;
    if breached_proposed >= 2 && breached_proposed as f64 > 3.0 * expected.max(1.0) {
        notes.push(format!(
            "{breached_proposed} of the sample's {windows} windows breach the proposed limit where a steady stream would breach {expected:.2}: the data comes in bursts, so expect more trips than the table says"
        ));
    }

    #[allow(clippy::cast_precision_loss)]
    RuleCalibration {
        id: rule.id.clone(),
        metric: rule.metric,
        field: rule.field.clone(),
        operator: op.key(),
        threshold: limit,
        hits,
        in_scope,
        base_rate: 100.0 * p,
        window_scope: scope,
        window_breach: breach,
        false_trips_per_day: wpd * breach,
        meets_target: wpd * breach <= s.target_trips_per_day,
        probe_false_fail: probe_fail(rule, op, s.probe_records, share, p, judge),
        proposed_threshold: proposed,
        proposed_window_breach: proposed_breach,
        proposed_false_trips_per_day: wpd * proposed_breach,
        window_power,
        proposed_probe_records: proposed_probe,
        proposed_probe_false_fail: probe_fail(rule, pop, probe_n, share, p, judge),
        probe_fault_rate: 100.0 * probe_fault,
        probe_power: probe_fail(rule, pop, probe_n, share, probe_fault, judge),
        sample_windows: windows,
        sample_windows_breached: breached,
        sample_windows_breached_proposed: breached_proposed,
        notes,
    }
}

impl Report {
    /// The probe size that suits every calibrated rule: the largest proposed.
    #[must_use]
    pub fn proposed_probe_records(&self) -> Option<u64> {
        self.rules.iter().filter_map(|r| r.proposed_probe_records).max()
    }
}
