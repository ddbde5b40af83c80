//! The written hypothesis of a drill and its verdict: a pure function from what was
//! measured to a list of named checks.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Whether the breaker must trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// It must trip (window faults).
    Expected,
    /// It must not trip.
    Forbidden,
    /// Either is fine (record-level faults: quarantining suffices; a high share may also trip
    /// the record-failure rate).
    Any,
}

impl Expect {
    /// Name as written in plans.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expected => "expected",
            Self::Forbidden => "forbidden",
            Self::Any => "any",
        }
    }
}

/// What the drill asserts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypothesis {
    /// The gate notices the fault (first injected record quarantined, or the trip) within
    /// this time of the fault's start.
    #[serde(with = "humantime_serde")]
    pub detect_within: Duration,
    /// Injected records that may reach validated with verdict `valid`; `None`: not asserted.
    pub max_leaked: Option<u64>,
    /// Whether the breaker must trip.
    pub trip: Expect,
    /// After the fault stops: the breaker is closed again and good records reach validated
    /// within this time.
    #[serde(with = "humantime_serde")]
    pub recover_within: Duration,
    /// Stop injecting at once when more injected records than this reached validated.
    pub abort_leaked: Option<u64>,
    /// Injected records sent after the trip that may still reach validated other than through
    /// a passed probe (i.e. through a failed probe, or a close while the fault went on);
    /// `None`: not asserted.
    pub max_probe_leaked: Option<u64>,
    /// Trips after the breaker first closed again once the fault ended (a close that re-trips
    /// on the fault's own records); `None`: not asserted.
    pub max_retrips: Option<u64>,
}

/// Overrides of a hypothesis, as written in a plan or given as flags.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypothesisSpec {
    /// See [`Hypothesis::detect_within`].
    #[serde(default, with = "humantime_serde")]
    pub detect_within: Option<Duration>,
    /// See [`Hypothesis::max_leaked`].
    #[serde(default)]
    pub max_leaked: Option<u64>,
    /// See [`Hypothesis::trip`].
    #[serde(default)]
    pub trip: Option<Expect>,
    /// See [`Hypothesis::recover_within`].
    #[serde(default, with = "humantime_serde")]
    pub recover_within: Option<Duration>,
    /// See [`Hypothesis::abort_leaked`].
    #[serde(default)]
    pub abort_leaked: Option<u64>,
    /// See [`Hypothesis::max_probe_leaked`].
    #[serde(default)]
    pub max_probe_leaked: Option<u64>,
    /// See [`Hypothesis::max_retrips`].
    #[serde(default)]
    pub max_retrips: Option<u64>,
}

impl HypothesisSpec {
    /// `self` where given, else `other` (flags over plan entries).
    #[must_use]
    pub fn or(&self, other: &Self) -> Self {
        Self {
            detect_within: self.detect_within.or(other.detect_within),
            max_leaked: self.max_leaked.or(other.max_leaked),
            trip: self.trip.or(other.trip),
            recover_within: self.recover_within.or(other.recover_within),
            abort_leaked: self.abort_leaked.or(other.abort_leaked),
            max_probe_leaked: self.max_probe_leaked.or(other.max_probe_leaked),
            max_retrips: self.max_retrips.or(other.max_retrips),
        }
    }

    /// The defaults with these overrides applied.
    #[must_use]
    pub fn apply(&self, mut h: Hypothesis) -> Hypothesis {
        if let Some(d) = self.detect_within {
            h.detect_within = d;
        }
        if self.max_leaked.is_some() {
            h.max_leaked = self.max_leaked;
            h.abort_leaked = self.max_leaked;
        }
        if let Some(t) = self.trip {
            h.trip = t;
        }
        if let Some(r) = self.recover_within {
            h.recover_within = r;
        }
        if self.abort_leaked.is_some() {
            h.abort_leaked = self.abort_leaked;
        }
        if self.max_probe_leaked.is_some() {
            h.max_probe_leaked = self.max_probe_leaked;
        }
        if self.max_retrips.is_some() {
            h.max_retrips = self.max_retrips;
        }
        h
    }
}

/// What a drill measured; times in ms from the fault's start (detect, trip) or end (recover).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measured {
    /// Records injected (0 for silence).
    pub injected: u64,
    /// Injected records found on quarantine.
    pub quarantined: u64,
    /// Injected records found on validated with verdict `valid`.
    pub leaked: u64,
    /// Of those, the ones a passed probe released (the fault had ended, or was too weak for
    /// the probe to tell from good data).
    pub leaked_through_probes: u64,
    /// Of those, the ones sent after the trip and not let through by a passed probe: they came
    /// through a failed probe or a close while the fault went on.
    pub leaked_after_trip: u64,
    /// Injected records found on degraded or held.
    pub diverted: u64,
    /// Injected records found on no output by the end of the drill.
    pub unaccounted: u64,
    /// Fault start → first detection.
    pub time_to_detect_ms: Option<u64>,
    /// Fault start → closed→open.
    pub time_to_trip_ms: Option<u64>,
    /// Fault end → closed again with good records flowing.
    pub time_to_recover_ms: Option<u64>,
    /// Breaker modes from the fault's start: the mode before, then each transition's target.
    pub breaker_sequence: Vec<String>,
    /// Trips after the breaker first closed again once the fault ended.
    pub retrips: u64,
    /// Rule that tripped the breaker first.
    pub trip_rule: Option<String>,
    /// Why injection stopped early.
    pub aborted: Option<String>,
}

/// One assertion and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// Expected versus observed, in words.
    pub detail: String,
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check { name, passed, detail }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn secs(ms: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let s = ms as f64 / 1000.0;
    format!("{s:.1}s")
}

/// The breaker sequence is well formed: every step is an automatic transition
/// (closed → open, open → `half_open`, `half_open` → closed | open) and, if it left closed, it
/// ends closed.
///
/// # Errors
/// Which step is wrong.
pub fn sequence_ok(seq: &[String]) -> Result<(), String> {
    for w in seq.windows(2) {
        let ok = matches!((w[0].as_str(), w[1].as_str()), ("closed", "open") | ("open", "half_open") | ("half_open", "closed" | "open"));
        if !ok {
            return Err(format!("unexpected transition {} → {}", w[0], w[1]));
        }
    }
    match seq.last().map(String::as_str) {
        None | Some("closed") => Ok(()),
        Some(other) => Err(format!("ended {other}, not closed")),
    }
}

/// Evaluates the hypothesis; the drill passes when every check passes.
#[must_use]
pub fn evaluate(h: &Hypothesis, m: &Measured) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match &m.aborted {
        None => check("completed", true, "injection ran its course".into()),
        Some(why) => check("completed", false, format!("aborted: {why}")),
    });
    out.push(match m.time_to_detect_ms {
        Some(t) => check("detected", t <= ms(h.detect_within), format!("within {} (took {})", secs(ms(h.detect_within)), secs(t))),
        None => check("detected", false, format!("within {} (never)", secs(ms(h.detect_within)))),
    });
    if let Some(max) = h.max_leaked {
        out.push(check("leaked", m.leaked <= max, format!("≤ {max} (leaked {})", m.leaked)));
    }
    let tripped = m.time_to_trip_ms.is_some();
    match h.trip {
        Expect::Expected => out.push(check("tripped", tripped, if tripped { format!("trip expected (after {})", secs(m.time_to_trip_ms.unwrap_or(0))) } else { "trip expected (none)".into() })),
        Expect::Forbidden => out.push(check("not tripped", !tripped, if tripped { format!("no trip expected (tripped on {})", m.trip_rule.as_deref().unwrap_or("?")) } else { "no trip expected (none)".into() })),
        Expect::Any => {}
    }
    if let Some(max) = h.max_probe_leaked.filter(|_| tripped) {
        out.push(check("probe leak", m.leaked_after_trip <= max, format!("≤ {max} injected records validated after the trip, passed probes aside ({})", m.leaked_after_trip)));
    }
    if let Some(max) = h.max_retrips {
        out.push(check("no re-trip", m.retrips <= max, format!("≤ {max} trips after the close that followed the fault ({})", m.retrips)));
    }
    if m.breaker_sequence.len() > 1 {
        let s = sequence_ok(&m.breaker_sequence);
        out.push(check("sequence", s.is_ok(), s.err().unwrap_or_else(|| m.breaker_sequence.join(" → "))));
    }
    out.push(match m.time_to_recover_ms {
        Some(t) => check("recovered", t <= ms(h.recover_within), format!("within {} (took {})", secs(ms(h.recover_within)), secs(t))),
        None => check("recovered", false, format!("within {} (never)", secs(ms(h.recover_within)))),
    });
    out.push(check("accounted", m.unaccounted == 0, format!("every injected record reached an output ({} missing)", m.unaccounted)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Hypothesis {
        Hypothesis { detect_within: Duration::from_secs(10), max_leaked: Some(0), trip: Expect::Any, recover_within: Duration::from_secs(30), abort_leaked: Some(0), max_probe_leaked: Some(0), max_retrips: Some(0) }
    }

    fn seq(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_string()).collect()
    }

    fn good() -> Measured {
        Measured { injected: 10, quarantined: 10, time_to_detect_ms: Some(800), time_to_recover_ms: Some(500), breaker_sequence: seq(&["closed"]), ..Measured::default() }
    }

    fn failed(checks: &[Check]) -> Vec<&'static str> {
        checks.iter().filter(|c| !c.passed).map(|c| c.name).collect()
    }

    #[test]
    fn verdicts() {
        let tripped = Measured { time_to_trip_ms: Some(2000), trip_rule: Some("dep_time_nulls".into()), breaker_sequence: seq(&["closed", "open", "half_open", "closed"]), ..good() };
        let expect = |t| Hypothesis { trip: t, max_leaked: None, ..h() };
        let cases: Vec<(&str, Hypothesis, Measured, Vec<&str>)> = vec![
            ("clean record-level drill", h(), good(), vec![]),
            ("one leak", h(), Measured { leaked: 1, ..good() }, vec!["leaked"]),
            ("slow detection", h(), Measured { time_to_detect_ms: Some(10_001), ..good() }, vec!["detected"]),
            ("never detected", h(), Measured { time_to_detect_ms: None, ..good() }, vec!["detected"]),
            ("never recovered", h(), Measured { time_to_recover_ms: None, ..good() }, vec!["recovered"]),
            ("slow recovery", h(), Measured { time_to_recover_ms: Some(30_001), ..good() }, vec!["recovered"]),
            ("aborted", h(), Measured { aborted: Some("leaked 3 > 0".into()), ..good() }, vec!["completed"]),
            ("lost records", h(), Measured { unaccounted: 2, ..good() }, vec!["accounted"]),
            ("trip expected and seen", expect(Expect::Expected), tripped.clone(), vec![]),
            ("trip expected, none", expect(Expect::Expected), good(), vec!["tripped"]),
            ("trip forbidden, seen", expect(Expect::Forbidden), tripped.clone(), vec!["not tripped"]),
            ("trip any, seen", expect(Expect::Any), tripped.clone(), vec![]),
            ("stuck open", expect(Expect::Expected), Measured { breaker_sequence: seq(&["closed", "open"]), ..tripped.clone() }, vec!["sequence"]),
            ("a failed probe leaked", expect(Expect::Expected), Measured { leaked: 3, leaked_after_trip: 2, ..tripped.clone() }, vec!["probe leak"]),
            ("leaks before the trip only", expect(Expect::Expected), Measured { leaked: 3, ..tripped.clone() }, vec![]),
            ("re-tripped after the close", expect(Expect::Expected), Measured { retrips: 1, breaker_sequence: seq(&["closed", "open", "half_open", "closed", "open", "half_open", "closed"]), ..tripped.clone() }, vec!["no re-trip"]),
            ("skipped half-open", expect(Expect::Expected), Measured { breaker_sequence: seq(&["closed", "open", "closed"]), ..tripped }, vec!["sequence"]),
        ];
        for (name, hyp, m, want) in cases {
            assert_eq!(failed(&evaluate(&hyp, &m)), want, "{name}");
        }
    }

    #[test]
    fn sequences() {
        assert!(sequence_ok(&seq(&["closed", "open", "half_open", "open", "half_open", "closed"])).is_ok());
        assert!(sequence_ok(&seq(&[])).is_ok());
        assert!(sequence_ok(&seq(&["closed", "forced_open", "closed"])).is_err());
        assert!(sequence_ok(&seq(&["closed", "open", "half_open"])).is_err());
    }

    #[test]
    fn overrides() {
        let spec = HypothesisSpec { max_leaked: Some(5), trip: Some(Expect::Forbidden), max_retrips: Some(2), ..HypothesisSpec::default() };
        let got = spec.apply(h());
        assert_eq!((got.max_leaked, got.abort_leaked, got.trip, got.max_retrips, got.max_probe_leaked), (Some(5), Some(5), Expect::Forbidden, Some(2), Some(0)));
        let both = HypothesisSpec { abort_leaked: Some(9), ..HypothesisSpec::default() }.or(&spec).apply(h());
        assert_eq!((both.max_leaked, both.abort_leaked), (Some(5), Some(9)));
        assert_eq!(HypothesisSpec::default().apply(h()), h());
    }
}
