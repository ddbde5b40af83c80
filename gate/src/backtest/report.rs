//! What a backtest reports, per contract version: routes in total and per time bucket,
//! quarantines per rule, the breaker's transitions; and the table for people.

use breaker::{BreakerState, Reason};
use contracts::CompiledContract;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Outputs the live gate would have written (a record routed `last_good` with a snapshot
/// counts once in `stale` and once in `held`, as the gate writes both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RouteCounts {
    /// To validated.
    pub validated: u64,
    /// To quarantine.
    pub quarantine: u64,
    /// To degraded.
    pub degraded: u64,
    /// To held.
    pub held: u64,
    /// A key's last valid record re-emitted to validated (`last_good`).
    pub stale: u64,
    /// Not consumed: the partition would pause here (`pause`).
    pub paused: u64,
    /// Records admitted as half-open probes (also counted where they went).
    pub probes: u64,
    /// Still waiting for a probe's verdict when the range ended.
    pub unresolved: u64,
}

/// One breaker transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRow {
    /// Record time of the flush that made it (ms since the epoch).
    pub at_ms: i64,
    /// The same, RFC 3339.
    pub at: String,
    /// Mode before.
    pub from: String,
    /// Mode after.
    pub to: String,
    /// Why.
    pub reason: String,
}

impl TransitionRow {
    /// A transition at `at_ms`.
    #[must_use]
    pub fn new(at_ms: i64, from: &BreakerState, to: &BreakerState) -> Self {
        Self { at_ms, at: rfc3339(at_ms), from: from.mode.as_str().into(), to: to.mode.as_str().into(), reason: reason(&to.reason) }
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::Initial => "initial".into(),
        Reason::Breach(b) => format!("breach {b} over {} records", b.records),
        Reason::CooledDown => "open wait over".into(),
        Reason::ProbePassed { records, timed_out } => format!("probe of {records} records passed{}", if *timed_out { " (probe timeout)" } else { "" }),
        Reason::ProbeStarved => "no probe records before the probe timeout".into(),
        Reason::Manual { command, .. } => format!("manual {}", command.as_str()),
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The simulated routing of one contract version.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VersionReport {
    /// Contract id.
    pub contract: String,
    /// Version.
    pub version: String,
    /// Records replayed.
    pub records: u64,
    /// Timestamp of the first and last record (ms).
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// Every output.
    pub totals: RouteCounts,
    /// Quarantined records per blocking rule (a record breaking two rules counts under both).
    pub quarantine_by_rule: BTreeMap<String, u64>,
    /// Outputs per time bucket, keyed by the bucket's start (ms); a record counts in the
    /// bucket of its timestamp even when a probe verdict routed it later.
    #[serde(serialize_with = "buckets")]
    pub buckets: BTreeMap<i64, RouteCounts>,
    /// Breaker transitions in record time.
    pub transitions: Vec<TransitionRow>,
    /// Breaker mode after the last flush.
    pub final_mode: String,
}

#[derive(Serialize)]
struct BucketRow<'a> {
    start_ms: i64,
    start: String,
    #[serde(flatten)]
    counts: &'a RouteCounts,
}

fn buckets<S: serde::Serializer>(b: &BTreeMap<i64, RouteCounts>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(b.iter().map(|(k, counts)| BucketRow { start_ms: *k, start: rfc3339(*k), counts }))
}

impl VersionReport {
    /// An empty report for `contract`.
    #[must_use]
    pub fn new(contract: &CompiledContract) -> Self {
        Self { contract: contract.id.to_string(), version: contract.version.to_string(), final_mode: "closed".into(), ..Self::default() }
    }
}

/// A whole backtest: the candidate and, when given, the active version over the same records.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// Where the records came from (`topic T partitions …` or a file).
    pub source: String,
    /// Binding whose settings were used, if any.
    pub binding: Option<String>,
    /// Fallback simulated.
    pub fallback: String,
    /// Width of the time buckets (ms).
    pub bucket_ms: i64,
    /// The version being tried.
    pub candidate: VersionReport,
    /// The version it would replace.
    pub active: Option<VersionReport>,
    /// What the simulation does not reproduce.
    pub caveats: Vec<String>,
}

fn counts_line(c: &RouteCounts) -> String {
    format!(
        "validated {}  quarantine {}  degraded {}  held {}  stale {}  paused {}  (probes {}, unresolved {})",
        c.validated, c.quarantine, c.degraded, c.held, c.stale, c.paused, c.probes, c.unresolved
    )
}

/// The report for people: per version its totals, quarantines per rule, transitions and
/// the time buckets side by side.
#[must_use]
pub fn table(r: &BacktestReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "backtest of {} over {} (fallback {}{})", r.candidate.contract, r.source, r.fallback, r.binding.as_ref().map(|b| format!(", binding {b}")).unwrap_or_default());
    let versions: Vec<(&str, &VersionReport)> = std::iter::once(("candidate", &r.candidate)).chain(r.active.as_ref().map(|a| ("active", a))).collect();
    for (label, v) in &versions {
        let _ = writeln!(out, "\n{label} {} {}: {} records, breaker ends {}", v.contract, v.version, v.records, v.final_mode);
        let _ = writeln!(out, "  {}", counts_line(&v.totals));
        if v.quarantine_by_rule.is_empty() {
            let _ = writeln!(out, "  quarantined by rule: none");
        } else {
            let _ = writeln!(out, "  quarantined by rule:");
            for (rule, n) in &v.quarantine_by_rule {
                let _ = writeln!(out, "    {n:>8}  {rule}");
            }
        }
        if v.transitions.is_empty() {
            let _ = writeln!(out, "  breaker transitions: none");
        } else {
            let _ = writeln!(out, "  breaker transitions:");
            for t in &v.transitions {
                let _ = writeln!(out, "    {}  {} -> {}  {}", t.at, t.from, t.to, t.reason);
            }
        }
    }
    let mut starts: Vec<i64> = versions.iter().flat_map(|(_, v)| v.buckets.keys().copied()).collect();
    starts.sort_unstable();
    starts.dedup();
    if !starts.is_empty() {
        let _ = writeln!(out, "\nper {} bucket (validated/quarantine/diverted{}):", humantime_serde::re::humantime::format_duration(std::time::Duration::from_millis(u64::try_from(r.bucket_ms).unwrap_or_default())), if r.active.is_some() { "; candidate | active" } else { "" });
        for s in starts {
            let cell = |v: &VersionReport| {
                let c = v.buckets.get(&s).copied().unwrap_or_default();
                format!("{:>7} {:>7} {:>7}", c.validated + c.stale, c.quarantine, c.degraded + c.held + c.paused)
            };
            let row = versions.iter().map(|(_, v)| cell(v)).collect::<Vec<_>>().join("  |  ");
            let _ = writeln!(out, "  {}  {row}", rfc3339(s));
        }
    }
    let _ = writeln!(out, "\nnot reproduced by a simulation:");
    for c in &r.caveats {
        let _ = writeln!(out, "  - {c}");
    }
    out
}
