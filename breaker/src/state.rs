//! Breaker states, the reasons for them and manual commands. Plain data, serialised as JSON
//! both in the shared store and on the `contract-gate.breaker-events` topic.

use contracts::{MetricKind, Operator, RuleResult, Unit};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch. The core never reads a clock: every caller passes `now`.
pub type Millis = i64;

/// The mode of a breaker. The first three are automatic; the last three are manual overrides
/// that the automatic core never enters or leaves by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Data flows to the validated topic.
    Closed,
    /// A window rule breached: data is diverted to the fallback until the cool-down ends.
    Open,
    /// Cool-down over: a bounded probe of records flows; the rest is diverted.
    HalfOpen,
    /// Manual kill switch: everything is diverted until a person resets it.
    ForcedOpen,
    /// Manual: the breaker is disabled and data always flows.
    ForcedClosed,
    /// Manual: windows are evaluated and breaches reported, but nothing is ever diverted.
    MetricsOnly,
}

impl Mode {
    /// Every mode, in declaration order (metrics label sets, tests).
    pub const ALL: [Mode; 6] = [
        Mode::Closed,
        Mode::Open,
        Mode::HalfOpen,
        Mode::ForcedOpen,
        Mode::ForcedClosed,
        Mode::MetricsOnly,
    ];

    /// Stable name for headers, metric labels and the CLI.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Closed => "closed",
            Mode::Open => "open",
            Mode::HalfOpen => "half_open",
            Mode::ForcedOpen => "forced_open",
            Mode::ForcedClosed => "forced_closed",
            Mode::MetricsOnly => "metrics_only",
        }
    }

    /// True for the manual overrides.
    #[must_use]
    pub fn is_forced(self) -> bool {
        matches!(self, Mode::ForcedOpen | Mode::ForcedClosed | Mode::MetricsOnly)
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Mode::Closed => 0,
            Mode::Open => 1,
            Mode::HalfOpen => 2,
            Mode::ForcedOpen => 3,
            Mode::ForcedClosed => 4,
            Mode::MetricsOnly => 5,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Open,
            2 => Mode::HalfOpen,
            3 => Mode::ForcedOpen,
            4 => Mode::ForcedClosed,
            5 => Mode::MetricsOnly,
            _ => Mode::Closed,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manual command (CLI `breaker open|close|reset`, admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Enter [`Mode::ForcedOpen`].
    ForceOpen,
    /// Enter [`Mode::ForcedClosed`] (breaker disabled).
    ForceClose,
    /// Enter [`Mode::MetricsOnly`].
    MetricsOnly,
    /// Back to automatic operation: [`Mode::Closed`] with a fresh window and no trip history.
    Reset,
}

impl Command {
    /// Stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Command::ForceOpen => "force_open",
            Command::ForceClose => "force_close",
            Command::MetricsOnly => "metrics_only",
            Command::Reset => "reset",
        }
    }
}

/// The rule breach that opened a breaker: rule id, observed value and threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// Rule id.
    pub rule: String,
    /// What the rule measures.
    pub metric: MetricKind,
    /// Field path, if any.
    pub field: Option<String>,
    /// Observed value over the window.
    pub value: Option<f64>,
    /// The threshold that did not hold.
    pub threshold: Operator,
    /// Unit of `value`.
    pub unit: Unit,
    /// Records in the window (or probe) that was judged.
    pub records: u64,
}

impl Breach {
    pub(crate) fn from_result(r: &RuleResult, records: u64) -> Self {
        Self {
            rule: r.id.clone(),
            metric: r.metric,
            field: r.field.clone(),
            value: r.value,
            threshold: r.operator,
            unit: r.unit,
            records,
        }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            // Three decimals at most: a rate of 34.50704225352113 % reads 34.507.
            Some(v) => write!(f, "{}: {} {} not {}", self.rule, (v * 1000.0).round() / 1000.0, self.unit, self.threshold),
            None => write!(f, "{}: no value, not {}", self.rule, self.threshold),
        }
    }
}

/// Why a breaker is in its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Created on first use.
    Initial,
    /// A rule breached over the window (closed → open) or the probe (half-open → open).
    Breach(Breach),
    /// The open wait ended (open → half-open).
    CooledDown,
    /// The probe passed (half-open → closed).
    ProbePassed {
        /// Probe records judged.
        records: u64,
        /// The probe was judged at the probe timeout, before the whole budget was used.
        timed_out: bool,
    },
    /// The probe timeout passed without a single probe record (no traffic, or the budget is
    /// held by a replica that died): open again so the next half-open gets a fresh budget.
    ProbeStarved,
    /// A person issued a command.
    Manual {
        /// The command.
        command: Command,
        /// Free text from the operator (ticket, name); never used as a metric label.
        note: Option<String>,
    },
}

/// The full state of one breaker. Every change bumps `epoch` by one; stores refuse a change
/// whose expected epoch is not the current one, which fences replicas holding stale state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerState {
    /// Current mode.
    pub mode: Mode,
    /// When this mode was entered.
    pub since_ms: Millis,
    /// Fencing token: +1 on every transition.
    pub epoch: u64,
    /// Consecutive trips since the breaker last closed by passing a probe (drives backoff).
    pub trips: u32,
    /// Why the breaker is in this mode.
    pub reason: Reason,
    /// In [`Mode::Open`]: when half-open may begin. Fixed at trip time so that every replica
    /// agrees on it whatever its own configuration says.
    pub open_until_ms: Option<Millis>,
    /// In [`Mode::HalfOpen`]: records the probe may admit over all replicas; 0 otherwise.
    pub probe_budget: u64,
    /// The window only covers buckets ending after this time: set when the breaker (re)closes
    /// so that the bad records that opened it cannot trip it again at once.
    pub window_from_ms: Millis,
}

impl BreakerState {
    /// The state of a breaker that has never been used.
    #[must_use]
    pub fn initial(now: Millis) -> Self {
        Self {
            mode: Mode::Closed,
            since_ms: now,
            epoch: 1,
            trips: 0,
            reason: Reason::Initial,
            open_until_ms: None,
            probe_budget: 0,
            window_from_ms: now,
        }
    }

    /// The breach that opened the breaker, if that is why it is open.
    #[must_use]
    pub fn breach(&self) -> Option<&Breach> {
        match &self.reason {
            Reason::Breach(b) => Some(b),
            _ => None,
        }
    }
}

/// A change of state, as published to the breaker-events topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}
