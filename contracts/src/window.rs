//! Mergeable window metrics and their evaluation against contract thresholds.
//!
//! A window is a vector of [`Accumulator`]s, one per [`WindowRule`] of a compiled contract,
//! in the same order. Accumulators only ever add (counts, bins) or take a maximum (newest
//! timestamp), so deltas from several gate replicas or time buckets merge by a plain
//! element-wise sum/max — that is what lets the shared breaker store sum a window across
//! replicas without knowing what the rules mean.

use crate::threshold::{Operator, Unit};
use serde::{Deserialize, Serialize};

pub mod age;

pub use age::AgeQuantiles;

/// What a window rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricKind {
    /// ODCS `nullValues`: field present with a null value.
    NullValues,
    /// ODCS `missingValues`: field absent, null, or one of the listed missing tokens.
    MissingValues,
    /// ODCS `invalidValues`: non-null value outside `validValues` / not matching `pattern`.
    InvalidValues,
    /// ODCS `duplicateValues`: value (or tuple of values) seen before in scope.
    DuplicateValues,
    /// ODCS `rowCount`: records in scope.
    RowCount,
    /// Records that failed at least one record-level check (gate-defined).
    RecordFailures,
    /// Payloads that could not be decoded at all (gate-defined).
    DecodeErrors,
    /// Age of the newest event timestamp of an element (`slaProperties` latency/freshness).
    Freshness,
    /// The share of records whose own event timestamp was older than the SLA when the gate
    /// judged them (`slaProperties` latency/freshness; gate-defined threshold).
    StaleRecords,
    /// The 95th percentile of the records' ages when judged (`slaProperties`
    /// latency/freshness), in seconds, from a histogram of fixed buckets ([`age`]) that merges
    /// across replicas; reported, not judged ([`Enforcement::Report`]), since p95 above the SLA
    /// is the stale share above 5 %.
    RecordAge,
    /// Time since the last record arrived (`slaProperties` frequency): "no data".
    NoData,
    /// Population stability index of a field against its recorded baseline.
    Distribution,
}

impl MetricKind {
    /// Stable name used in reports, metrics labels and rule ids.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NullValues => "nullValues",
            Self::MissingValues => "missingValues",
            Self::InvalidValues => "invalidValues",
            Self::DuplicateValues => "duplicateValues",
            Self::RowCount => "rowCount",
            Self::RecordFailures => "recordFailures",
            Self::DecodeErrors => "decodeErrors",
            Self::Freshness => "freshness",
            Self::StaleRecords => "staleRecords",
            Self::RecordAge => "recordAge",
            Self::NoData => "noData",
            Self::Distribution => "distribution",
        }
    }
}

/// A window-level rule: a metric over a field, compared with a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRule {
    /// The ODCS `id` of the rule when given, else a stable derived id.
    pub id: String,
    /// What is measured.
    pub metric: MetricKind,
    /// Field path (`a.b[].c`), or `None` for object-level rules.
    pub field: Option<String>,
    /// Threshold the value must satisfy.
    pub operator: Operator,
    /// Unit of the value.
    pub unit: Unit,
    /// Expected share per bin for [`MetricKind::Distribution`] rules; the bins themselves are
    /// defined by the compiled contract's profile.
    pub baseline: Option<Vec<f64>>,
    /// Whether the rule acts per record, on the window, or both.
    #[serde(default, skip_serializing_if = "Enforcement::is_window")]
    pub enforcement: Enforcement,
}

/// How a rule acts on records and on the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    /// The window's value decides (tolerant thresholds): records pass and are counted.
    #[default]
    Window,
    /// One hit already breaches (`mustBe: 0` rows): each failing record is quarantined, and
    /// the streaming window judges such records by the rate of record failures
    /// (`$.recordFailures`), so that one stray record does not stop the whole flow.
    Record,
    /// Per record as [`Enforcement::Record`], and the first hit in a window also trips the
    /// breaker (`gateTripOnAny: true` on the rule): "any invalid value stops the flow".
    RecordAndWindow,
    /// Measured and reported only (the record-age percentile of a latency SLA): the result
    /// always passes, never trips a breaker and fails no record. Its operator is the reference
    /// the value is read against, not a threshold.
    Report,
}

impl Enforcement {
    /// The default, for `skip_serializing_if`.
    #[must_use]
    pub fn is_window(&self) -> bool {
        *self == Self::Window
    }

    /// Whether a hit fails the record itself.
    #[must_use]
    pub fn per_record(self) -> bool {
        matches!(self, Self::Record | Self::RecordAndWindow)
    }

    /// Whether the rule's window value may trip a streaming breaker.
    #[must_use]
    pub fn trips(self) -> bool {
        matches!(self, Self::Window | Self::RecordAndWindow)
    }
}

/// Mergeable state of one rule over a set of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Accumulator {
    /// `hits` records matched the metric out of `total` records in scope.
    Count {
        /// Records that matched the metric (nulls, invalid values, duplicates, …).
        hits: u64,
        /// Records in scope.
        total: u64,
    },
    /// Newest timestamp seen, milliseconds since the Unix epoch.
    Newest {
        /// `None` until a timestamp is seen.
        ms: Option<i64>,
    },
    /// Counts per bin: of a distribution rule's profile, or of record ages ([`age`]).
    Histogram {
        /// One count per bin.
        bins: Vec<u64>,
    },
}

impl Accumulator {
    /// The empty accumulator for a rule.
    #[must_use]
    pub fn empty_for(rule: &WindowRule) -> Self {
        match rule.metric {
            MetricKind::Freshness | MetricKind::NoData => Self::Newest { ms: None },
            MetricKind::Distribution => Self::Histogram {
                bins: vec![0; rule.baseline.as_ref().map_or(0, Vec::len)],
            },
            MetricKind::RecordAge => Self::Histogram { bins: vec![0; age::BUCKETS] },
            _ => Self::Count { hits: 0, total: 0 },
        }
    }

    /// Adds `other` into `self`. Mismatched kinds are a broken invariant of the caller
    /// (both come from the same compiled contract), so they are ignored rather than mixed.
    pub fn merge(&mut self, other: &Self) {
        match (self, other) {
            (Self::Count { hits, total }, Self::Count { hits: h, total: t }) => {
                *hits += h;
                *total += t;
            }
            (Self::Newest { ms }, Self::Newest { ms: o }) => {
                *ms = match (*ms, *o) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            (Self::Histogram { bins }, Self::Histogram { bins: o }) => {
                if bins.len() < o.len() {
                    bins.resize(o.len(), 0);
                }
                for (b, x) in bins.iter_mut().zip(o) {
                    *b += x;
                }
            }
            _ => debug_assert!(false, "accumulator kinds differ"),
        }
    }

    /// True when nothing was accumulated.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Count { hits, total } => *hits == 0 && *total == 0,
            Self::Newest { ms } => ms.is_none(),
            Self::Histogram { bins } => bins.iter().all(|b| *b == 0),
        }
    }
}

/// Window state: records seen and one accumulator per rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WindowState {
    /// Records in the window (valid and invalid; decode errors included).
    pub records: u64,
    /// One accumulator per rule, in rule order.
    pub accumulators: Vec<Accumulator>,
}

impl WindowState {
    /// An empty window for these rules.
    #[must_use]
    pub fn new(rules: &[WindowRule]) -> Self {
        Self { records: 0, accumulators: rules.iter().map(Accumulator::empty_for).collect() }
    }

    /// Adds another window (a delta, a bucket, another replica's share) into this one.
    pub fn merge(&mut self, other: &Self) {
        self.records += other.records;
        if self.accumulators.len() < other.accumulators.len() {
            // A fresh state may have been built before the rule list was known.
            let have = self.accumulators.len();
            for (a, b) in self.accumulators.iter_mut().zip(&other.accumulators) {
                a.merge(b);
            }
            self.accumulators.extend_from_slice(&other.accumulators[have..]);
            return;
        }
        for (a, b) in self.accumulators.iter_mut().zip(&other.accumulators) {
            a.merge(b);
        }
    }

    /// Clears counts, keeping the shape.
    pub fn reset(&mut self, rules: &[WindowRule]) {
        *self = Self::new(rules);
    }
}

/// The outcome of one rule over a window or batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule id.
    pub id: String,
    /// Metric name.
    pub metric: MetricKind,
    /// Field path, if any.
    pub field: Option<String>,
    /// Observed value; `None` when there was nothing to measure (no records in scope, no
    /// timestamp seen yet).
    pub value: Option<f64>,
    /// The operator and its operand(s).
    pub operator: Operator,
    /// Unit of `value`.
    pub unit: Unit,
    /// Whether the threshold holds. A rule with no value passes: absence of evidence is
    /// judged by rowCount and noData rules, not by every rule at once.
    pub passed: bool,
    /// For rate rules (`unit: percent` counts): the hits and the records in scope behind
    /// `value`, so that a small sample's verdict can be weighed (`crate::stats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// The rule's enforcement (a streaming breaker does not trip on per-record rules).
    #[serde(default, skip_serializing_if = "Enforcement::is_window")]
    pub enforcement: Enforcement,
}

/// The counts behind a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Records that matched the metric.
    pub hits: u64,
    /// Records in scope.
    pub total: u64,
}

/// Computes a rule's value from its accumulator at time `now_ms`.
#[must_use]
pub fn value_of(rule: &WindowRule, acc: &Accumulator, records: u64, now_ms: i64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    match acc {
        Accumulator::Count { hits, total } => match rule.metric {
            MetricKind::RowCount => Some(records as f64),
            _ => match rule.unit {
                Unit::Percent => (*total > 0).then(|| 100.0 * *hits as f64 / *total as f64),
                _ => Some(*hits as f64),
            },
        },
        Accumulator::Newest { ms } => {
            ms.map(|ms| (now_ms.saturating_sub(ms)) as f64 / 1000.0)
        }
        Accumulator::Histogram { bins } if rule.metric == MetricKind::RecordAge => age::quantile(bins, 0.95),
        Accumulator::Histogram { bins } => {
            let baseline = rule.baseline.as_deref()?;
            psi(baseline, bins)
        }
    }
}

/// The record-age quantiles of a rule that keeps an age histogram (the `recordAge` rule of a
/// latency SLA); `None` for other rules and before any record had an age.
#[must_use]
pub fn age_quantiles(rule: &WindowRule, acc: &Accumulator) -> Option<AgeQuantiles> {
    match acc {
        Accumulator::Histogram { bins } if rule.metric == MetricKind::RecordAge => AgeQuantiles::of(bins),
        _ => None,
    }
}

/// Population stability index of observed `bins` against `expected` shares.
/// `None` when no observation fell in any bin.
#[must_use]
pub fn psi(expected: &[f64], bins: &[u64]) -> Option<f64> {
    let n: u64 = bins.iter().sum();
    if n == 0 {
        return None;
    }
    // A floor keeps empty bins from making the index infinite; 1e-4 is the customary choice.
    const FLOOR: f64 = 1e-4;
    #[allow(clippy::cast_precision_loss)]
    let total = n as f64;
    Some(
        expected
            .iter()
            .zip(bins)
            .map(|(e, b)| {
                #[allow(clippy::cast_precision_loss)]
                let a = (*b as f64 / total).max(FLOOR);
                let e = e.max(FLOOR);
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// Evaluates every rule over a window.
#[must_use]
pub fn evaluate(rules: &[WindowRule], state: &WindowState, now_ms: i64) -> Vec<RuleResult> {
    rules
        .iter()
        .zip(&state.accumulators)
        .map(|(rule, acc)| {
            let value = value_of(rule, acc, state.records, now_ms);
            let sample = match acc {
                Accumulator::Count { hits, total } if rule.unit == Unit::Percent && rule.metric != MetricKind::RowCount => {
                    Some(Sample { hits: *hits, total: *total })
                }
                _ => None,
            };
            RuleResult {
                id: rule.id.clone(),
                metric: rule.metric,
                field: rule.field.clone(),
                value,
                operator: rule.operator,
                unit: rule.unit,
                passed: rule.enforcement == Enforcement::Report || value.is_none_or(|v| rule.operator.holds(v)),
                sample,
                enforcement: rule.enforcement,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(metric: MetricKind, op: Operator, unit: Unit) -> WindowRule {
        WindowRule { id: "r".into(), metric, field: Some("f".into()), operator: op, unit, baseline: None, enforcement: Enforcement::Window }
    }

    #[test]
    fn values_table() {
        use Operator::*;
        let cases = [
            (rule(MetricKind::NullValues, MustBeLessThan(3.0), Unit::Percent),
             Accumulator::Count { hits: 8255, total: 336_776 }, 336_776, Some(2.451), true),
            (rule(MetricKind::InvalidValues, MustBe(0.0), Unit::Rows),
             Accumulator::Count { hits: 4, total: 334_264 }, 336_776, Some(4.0), false),
            (rule(MetricKind::RowCount, MustBeGreaterThan(0.0), Unit::Rows),
             Accumulator::Count { hits: 0, total: 0 }, 0, Some(0.0), false),
            (rule(MetricKind::NullValues, MustBeLessThan(3.0), Unit::Percent),
             Accumulator::Count { hits: 0, total: 0 }, 0, None, true),
            (rule(MetricKind::Freshness, MustBeLessOrEqualTo(60.0), Unit::Seconds),
             Accumulator::Newest { ms: Some(1_000) }, 1, Some(99.0), false),
        ];
        for (r, acc, records, want, passed) in cases {
            let v = value_of(&r, &acc, records, 100_000);
            match (v, want) {
                (Some(v), Some(w)) => assert!((v - w).abs() < 1e-3, "{v} vs {w}"),
                (v, w) => assert_eq!(v, w),
            }
            let state = WindowState { records, accumulators: vec![acc] };
            assert_eq!(evaluate(std::slice::from_ref(&r), &state, 100_000)[0].passed, passed);
        }
    }

    #[test]
    fn merge_is_elementwise() {
        let mut a = WindowState {
            records: 2,
            accumulators: vec![
                Accumulator::Count { hits: 1, total: 2 },
                Accumulator::Newest { ms: Some(5) },
                Accumulator::Histogram { bins: vec![1, 1] },
            ],
        };
        let b = WindowState {
            records: 3,
            accumulators: vec![
                Accumulator::Count { hits: 2, total: 3 },
                Accumulator::Newest { ms: Some(9) },
                Accumulator::Histogram { bins: vec![0, 3] },
            ],
        };
        a.merge(&b);
        assert_eq!(a.records, 5);
        assert_eq!(a.accumulators[0], Accumulator::Count { hits: 3, total: 5 });
        assert_eq!(a.accumulators[1], Accumulator::Newest { ms: Some(9) });
        assert_eq!(a.accumulators[2], Accumulator::Histogram { bins: vec![1, 4] });
    }

    #[test]
    fn the_record_age_rule_reports_p95_and_never_fails() {
        let mut r = rule(MetricKind::RecordAge, Operator::MustBeLessOrEqualTo(10.0), Unit::Seconds);
        r.enforcement = Enforcement::Report;
        let Accumulator::Histogram { mut bins } = Accumulator::empty_for(&r) else { panic!("an age histogram") };
        assert_eq!(bins.len(), age::BUCKETS);
        // 90 records 1 s old, 10 an hour old: p95 is in the hour's bucket, far over the SLA.
        (0..90).for_each(|_| age::count(&mut bins, 1_000));
        (0..10).for_each(|_| age::count(&mut bins, 3_600_000));
        let state = WindowState { records: 100, accumulators: vec![Accumulator::Histogram { bins }] };
        let res = &evaluate(std::slice::from_ref(&r), &state, 0)[0];
        assert!(res.value.is_some_and(|v| v > 1_800.0 && v <= 3_600.0), "{:?}", res.value);
        assert!(res.passed && !res.enforcement.trips() && !res.enforcement.per_record(), "reported, not judged");
        let q = age_quantiles(&r, &state.accumulators[0]).expect("ages");
        assert!(q.records == 100 && q.p50 > 0.5 && q.p50 <= 1.0, "{q:?}");
        // A percent staleRecords rule keeps its count.
        let share = rule(MetricKind::StaleRecords, Operator::MustBeLessOrEqualTo(5.0), Unit::Percent);
        assert_eq!(Accumulator::empty_for(&share), Accumulator::Count { hits: 0, total: 0 });
        assert_eq!(age_quantiles(&share, &Accumulator::Count { hits: 1, total: 2 }), None);
    }

    #[test]
    fn enforcement_table() {
        // (enforcement, fails the record, trips)
        let cases = [(Enforcement::Window, false, true), (Enforcement::Record, true, false), (Enforcement::RecordAndWindow, true, true), (Enforcement::Report, false, false)];
        for (e, per_record, trips) in cases {
            assert_eq!((e.per_record(), e.trips()), (per_record, trips), "{e:?}");
        }
    }

    #[test]
    fn psi_is_zero_for_identical_and_large_for_shift() {
        let base = [0.25, 0.25, 0.25, 0.25];
        assert!(psi(&base, &[10, 10, 10, 10]).is_some_and(|p| p.abs() < 1e-9));
        assert!(psi(&base, &[0, 0, 0, 40]).is_some_and(|p| p > 1.0));
        assert_eq!(psi(&base, &[0, 0, 0, 0]), None);
    }
}
