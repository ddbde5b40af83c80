//! The pure breaker core: `step(config, state, event, now) -> Step`. No I/O, no clock, no
//! randomness, so a batch `check`, a stream replica and a test with a fake clock all run the
//! same decisions.

use crate::config::{ms, BreakerConfig};
use crate::state::{Breach, BreakerState, Command, Millis, Mode, Reason};
use contracts::{MetricKind, RuleResult};

/// What a replica knows at a flush: the merged window over all replicas, evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Records in the window.
    pub records: u64,
    /// Every window rule evaluated over the window (`contracts::window::evaluate`).
    pub results: &'a [RuleResult],
    /// The window has been collected for its full span since `window_from_ms` (time windows)
    /// or holds its full record count (count windows). Row-count rules wait for it, so that an
    /// empty window at start-up or just after closing does not look like a volume drop.
    pub warm: bool,
    /// In half-open: the probe records of the current epoch, evaluated.
    pub probe: Option<ProbeObservation<'a>>,
}

impl Observation<'_> {
    /// No data and no rules: lets time-driven transitions (open → half-open) happen.
    #[must_use]
    pub fn tick() -> Observation<'static> {
        Observation { records: 0, results: &[], warm: false, probe: None }
    }
}

/// The half-open probe: only the records routed as [`crate::Route::Probe`] in this epoch.
#[derive(Debug, Clone, Copy)]
pub struct ProbeObservation<'a> {
    /// Probe records seen over all replicas.
    pub records: u64,
    /// Window rules evaluated over the probe records alone.
    pub results: &'a [RuleResult],
}

/// Input of one step.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A window observation (also a plain clock tick).
    Observe(Observation<'a>),
    /// A manual command.
    Command {
        /// The command.
        command: Command,
        /// Operator's note, kept in the reason.
        note: Option<&'a str>,
    },
}

/// Output of one step.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Step {
    /// Keep the current state.
    Stay,
    /// Move to this state (its epoch is the old one + 1).
    Move(BreakerState),
}

/// When a rule's verdict counts towards a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Always: freshness and "no data" measure time, not a share of records, and must fire
    /// precisely when records stop coming.
    Always,
    /// Once the window is warm: a row count is meaningless before a full window was seen.
    Warm,
    /// Once the window holds `min_records`: rates over a handful of records are noise.
    MinRecords,
}

/// How a metric's verdict is gated.
#[must_use]
pub fn gate_of(metric: MetricKind) -> Gate {
    match metric {
        MetricKind::Freshness | MetricKind::NoData => Gate::Always,
        MetricKind::RowCount => Gate::Warm,
        MetricKind::NullValues
        | MetricKind::MissingValues
        | MetricKind::InvalidValues
        | MetricKind::DuplicateValues
        | MetricKind::RecordFailures
        | MetricKind::DecodeErrors
        | MetricKind::StaleRecords
        | MetricKind::RecordAge
        | MetricKind::Distribution => Gate::MinRecords,
    }
}

/// The first failed rule of a window that counts as a breach, in rule order. A rule enforced
/// per record (`mustBe: 0` rows) does not trip on its own: its records are quarantined one by
/// one and weigh in through the rate of record failures, unless the rule asked to trip on any
/// hit (`gateTripOnAny`).
#[must_use]
pub fn window_breach(cfg: &BreakerConfig, obs: &Observation<'_>) -> Option<Breach> {
    obs.results
        .iter()
        .find(|r| {
            !r.passed
                && r.enforcement.trips()
                && match gate_of(r.metric) {
                    Gate::Always => true,
                    Gate::Warm => obs.warm,
                    Gate::MinRecords => obs.records >= cfg.min_records,
                }
        })
        .map(|r| Breach::from_result(r, obs.records))
}

/// In half-open only time-based rules of the main window count: its record-based metrics
/// still hold the records that opened the breaker, which the probe is there to replace.
fn main_window_breach_in_half_open(obs: &Observation<'_>) -> Option<Breach> {
    obs.results
        .iter()
        .find(|r| !r.passed && gate_of(r.metric) == Gate::Always)
        .map(|r| Breach::from_result(r, obs.records))
}

/// The probe is judged on every rule except row count and "no data", which measure traffic
/// volume rather than quality and are already judged on the main window. A probe is a sample
/// of a few hundred records: a rate rule fails it only when the sample supports the breach at
/// the configured confidence (`contracts::stats`), so a healthy stream close to its limit is
/// not kept open by sampling noise.
fn probe_breach(cfg: &BreakerConfig, probe: &ProbeObservation<'_>) -> Option<Breach> {
    probe
        .results
        .iter()
        .find(|r| {
            r.enforcement.trips()
                && !matches!(r.metric, MetricKind::RowCount | MetricKind::NoData)
                && contracts::stats::result_breaches(r, cfg.confidence)
        })
        .map(|r| Breach::from_result(r, probe.records))
}

/// Open wait after the `trips`-th consecutive trip: `open_wait * multiplier^(trips-1)`,
/// capped at `max_open_wait`.
#[must_use]
pub fn open_wait_ms(cfg: &BreakerConfig, trips: u32) -> Millis {
    let base = ms(cfg.open_wait);
    let cap = ms(cfg.max_open_wait).max(base);
    let exp = i32::try_from(trips.saturating_sub(1).min(1024)).unwrap_or(1024);
    #[allow(clippy::cast_precision_loss)]
    let wait = base as f64 * cfg.backoff_multiplier.max(1.0).powi(exp);
    if !wait.is_finite() || wait >= cap as f64 {
        return cap;
    }
    #[allow(clippy::cast_possible_truncation)]
    let wait = wait as Millis;
    wait.clamp(base, cap)
}

/// The next state of a breaker, or [`Step::Stay`].
///
/// Automatic moves are closed → open, open → half-open, half-open → closed | open; manual
/// commands may go anywhere; nothing automatic leaves a manual mode.
pub fn step(cfg: &BreakerConfig, state: &BreakerState, event: &Event<'_>, now: Millis) -> Step {
    match event {
        Event::Command { command, note } => command_step(state, *command, *note, now),
        Event::Observe(obs) => observe_step(cfg, state, obs, now),
    }
}

fn observe_step(cfg: &BreakerConfig, state: &BreakerState, obs: &Observation<'_>, now: Millis) -> Step {
    match state.mode {
        Mode::Closed => match window_breach(cfg, obs) {
            Some(breach) => Step::Move(trip(cfg, state, breach, now)),
            None => Step::Stay,
        },
        Mode::Open => {
            let until = state
                .open_until_ms
                .unwrap_or_else(|| state.since_ms.saturating_add(open_wait_ms(cfg, state.trips)));
            if now < until {
                return Step::Stay;
            }
            Step::Move(BreakerState {
                mode: Mode::HalfOpen,
                since_ms: now,
                epoch: state.epoch + 1,
                trips: state.trips,
                reason: Reason::CooledDown,
                open_until_ms: None,
                probe_budget: cfg.probe_records,
                window_from_ms: state.window_from_ms,
            })
        }
        Mode::HalfOpen => {
            if let Some(breach) = main_window_breach_in_half_open(obs) {
                return Step::Move(trip(cfg, state, breach, now));
            }
            let Some(probe) = &obs.probe else { return Step::Stay };
            let complete = probe.records >= state.probe_budget;
            let timed_out = !complete && now.saturating_sub(state.since_ms) >= ms(cfg.probe_timeout);
            if !complete && !timed_out {
                return Step::Stay;
            }
            if probe.records == 0 {
                return Step::Move(reopen(cfg, state, Reason::ProbeStarved, now));
            }
            match probe_breach(cfg, probe) {
                Some(breach) => Step::Move(trip(cfg, state, breach, now)),
                None => Step::Move(BreakerState {
                    mode: Mode::Closed,
                    since_ms: now,
                    epoch: state.epoch + 1,
                    trips: 0,
                    reason: Reason::ProbePassed { records: probe.records, timed_out },
                    open_until_ms: None,
                    probe_budget: 0,
                    window_from_ms: now,
                }),
            }
        }
        Mode::ForcedOpen | Mode::ForcedClosed | Mode::MetricsOnly => Step::Stay,
    }
}

fn trip(cfg: &BreakerConfig, state: &BreakerState, breach: Breach, now: Millis) -> BreakerState {
    reopen(cfg, state, Reason::Breach(breach), now)
}

fn reopen(cfg: &BreakerConfig, state: &BreakerState, reason: Reason, now: Millis) -> BreakerState {
    let trips = state.trips.saturating_add(1);
    BreakerState {
        mode: Mode::Open,
        since_ms: now,
        epoch: state.epoch + 1,
        trips,
        reason,
        open_until_ms: Some(now.saturating_add(open_wait_ms(cfg, trips))),
        probe_budget: 0,
        window_from_ms: state.window_from_ms,
    }
}

fn command_step(state: &BreakerState, command: Command, note: Option<&str>, now: Millis) -> Step {
    let target = match command {
        Command::ForceOpen => Mode::ForcedOpen,
        Command::ForceClose => Mode::ForcedClosed,
        Command::MetricsOnly => Mode::MetricsOnly,
        Command::Reset => Mode::Closed,
    };
    // Repeating a manual override is a no-op so that a retried admin call does not bump the
    // epoch; a reset always starts a fresh window, which is its purpose.
    if target == state.mode && command != Command::Reset {
        return Step::Stay;
    }
    let reset = command == Command::Reset;
    Step::Move(BreakerState {
        mode: target,
        since_ms: now,
        epoch: state.epoch + 1,
        trips: if reset { 0 } else { state.trips },
        reason: Reason::Manual { command, note: note.map(str::to_owned) },
        open_until_ms: None,
        probe_budget: 0,
        window_from_ms: if reset { now } else { state.window_from_ms },
    })
}
