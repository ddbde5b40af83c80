//! Whether a half-open probe is large enough to judge a binding's rules: a probe of a few
//! dozen records cannot tell a stream at a 0.5 % limit from one at three times it, and would
//! close the breaker on a fault it could not see.

use crate::config::BreakerConfig;
use contracts::stats::fail_chance;
use contracts::{Enforcement, MetricKind, Operator, Unit, WindowRule};

/// A probe size below what a rule needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Undersized {
    /// Rule id.
    pub rule: String,
    /// The probe records the rule needs.
    pub needed: u64,
    /// Why, in a sentence.
    pub why: String,
}

/// Smallest probe that fails a stream at three times an upper limit of `limit_pct` percent at
/// least half of the time, at `confidence`.
#[must_use]
pub fn probe_records_needed(limit_pct: f64, confidence: f64) -> u64 {
    let enough = |n: u64| fail_chance(n, limit_pct, (3.0 * limit_pct).min(100.0), confidence) >= 0.5;
    let mut hi = 16u64;
    while !enough(hi) {
        if hi >= 1 << 20 {
            return hi;
        }
        hi *= 2;
    }
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
}

/// Least probe records for a distribution (PSI) rule: below it sampling noise alone breaches
/// a 10-bin baseline (measured in the project's design notes).
pub const MIN_DISTRIBUTION_PROBE: u64 = 200;

/// The rules that `cfg.probe_records` is too small to judge.
#[must_use]
pub fn undersized(cfg: &BreakerConfig, rules: &[WindowRule]) -> Vec<Undersized> {
    let n = cfg.probe_records;
    rules
        .iter()
        .filter(|r| r.enforcement != Enforcement::Record)
        .filter_map(|r| match (r.metric, r.unit, r.operator) {
            (MetricKind::Distribution, ..) if n < MIN_DISTRIBUTION_PROBE => Some(Undersized {
                rule: r.id.clone(),
                needed: MIN_DISTRIBUTION_PROBE,
                why: format!("a population stability index over {n} records is mostly sampling noise"),
            }),
            (_, Unit::Percent, Operator::MustBeLessThan(t) | Operator::MustBeLessOrEqualTo(t)) if t > 0.0 && t < 100.0 => {
                let needed = probe_records_needed(t, cfg.confidence);
                (needed > n).then(|| Undersized {
                    rule: r.id.clone(),
                    needed,
                    why: format!(
                        "a probe of {n} records fails a stream at {:.3} % (three times the {t} % limit) only {:.0} % of the time at confidence {}",
                        3.0 * t,
                        100.0 * fail_chance(n, t, 3.0 * t, cfg.confidence),
                        cfg.confidence
                    ),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, metric: MetricKind, op: Operator, unit: Unit, enforcement: Enforcement) -> WindowRule {
        WindowRule { id: id.into(), metric, field: None, operator: op, unit, baseline: None, enforcement }
    }

    #[test]
    fn needed_sizes_grow_as_limits_shrink() {
        let (a, b, c) = (probe_records_needed(5.0, 0.99), probe_records_needed(1.0, 0.99), probe_records_needed(0.1, 0.99));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!((40..=120).contains(&a), "5 %: {a}");
    }

    #[test]
    fn undersized_table() {
        use Enforcement::{Record, Window};
        use MetricKind::{Distribution, InvalidValues, NullValues, RecordFailures};
        let rules = [
            rule("nulls_3", NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Window),
            rule("unique_05", InvalidValues, Operator::MustBeLessOrEqualTo(0.5), Unit::Percent, Window),
            rule("carrier_rows", InvalidValues, Operator::MustBe(0.0), Unit::Rows, Record),
            rule("failures_5", RecordFailures, Operator::MustBeLessOrEqualTo(5.0), Unit::Percent, Window),
            rule("psi", Distribution, Operator::MustBeLessOrEqualTo(0.25), Unit::Score, Window),
        ];
        // (probe records, rules reported)
        let cases: [(u64, &[&str]); 3] = [(30, &["nulls_3", "unique_05", "failures_5", "psi"]), (300, &["unique_05"]), (5000, &[])];
        for (n, want) in cases {
            let cfg = BreakerConfig { probe_records: n, ..BreakerConfig::default() };
            let got: Vec<String> = undersized(&cfg, &rules).into_iter().map(|u| u.rule).collect();
            assert_eq!(got, want, "probe_records {n}");
        }
    }
}
