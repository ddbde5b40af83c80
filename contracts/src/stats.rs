//! What a sample of records can say about a rate: exact binomial tails, so that a verdict on a
//! few hundred records (a half-open probe, one flush in strict mode) fails on a breach the
//! sample supports and not on sampling noise.
//!
//! The question asked is always the same: if the stream's true rate sat exactly at the rule's
//! threshold, how likely would a sample at least this far past it be? A breach is *supported*
//! when that probability is at most `1 - confidence`.

use crate::threshold::{Operator, Unit};
use crate::window::{MetricKind, RuleResult, Sample};

/// `ln P(X = i)` for `i` in `0..=n`, X ~ Binomial(n, p), with `0 < p < 1`.
fn log_pmf(n: u64, p: f64) -> impl Iterator<Item = f64> {
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    #[allow(clippy::cast_precision_loss)]
    let first = n as f64 * lq;
    (0..=n).scan(first, move |acc, i| {
        let here = *acc;
        #[allow(clippy::cast_precision_loss)]
        if i < n {
            *acc += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
        }
        Some(here)
    })
}

/// `P(X >= k)` for X ~ Binomial(n, p).
#[must_use]
pub fn at_least(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Sum in log space from the largest term: the terms span hundreds of orders of magnitude
    // for large n, which a plain sum of `powi` would underflow.
    let logs: Vec<f64> = log_pmf(n, p).skip(usize::try_from(k).unwrap_or(usize::MAX)).collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return 0.0;
    }
    (top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln()).exp().min(1.0)
}

/// `P(X <= k)` for X ~ Binomial(n, p).
#[must_use]
pub fn at_most(n: u64, k: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    1.0 - at_least(n, k + 1, p)
}

/// Whether a rule that failed on `sample` failed by more than chance at `confidence`: the
/// hits are this extreme with probability at most `1 - confidence` for a stream whose true
/// rate is exactly the threshold. Exact thresholds (`mustBe`, `mustNotBe`,
/// `mustNotBeBetween`) and a threshold of 0 % or 100 % are taken as written: one hit past 0 %
/// is a certain breach.
#[must_use]
pub fn breach_supported(op: Operator, sample: Sample, confidence: f64) -> bool {
    let alpha = 1.0 - confidence;
    let Sample { hits, total } = sample;
    if total == 0 {
        return false;
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = 100.0 * hits as f64 / total as f64;
    let above = |t: f64| at_least(total, hits, t / 100.0) <= alpha;
    let below = |t: f64| at_most(total, hits, t / 100.0) <= alpha;
    match op {
        Operator::MustBeLessThan(t) | Operator::MustBeLessOrEqualTo(t) => above(t),
        Operator::MustBeGreaterThan(t) | Operator::MustBeGreaterOrEqualTo(t) => below(t),
        Operator::MustBeBetween(lo, hi) => {
            if rate < lo {
                below(lo)
            } else {
                above(hi)
            }
        }
        Operator::MustBe(_) | Operator::MustNotBe(_) | Operator::MustNotBeBetween(..) => true,
    }
}

/// Whether a failed rule result counts as a breach at `confidence`: rate rules with their
/// sample are weighed ([`breach_supported`]); every other rule (counts of rows, freshness,
/// distribution) is taken as evaluated.
#[must_use]
pub fn result_breaches(r: &RuleResult, confidence: f64) -> bool {
    if r.passed {
        return false;
    }
    match r.sample {
        Some(s) if r.unit == Unit::Percent && r.metric != MetricKind::RowCount => breach_supported(r.operator, s, confidence),
        _ => true,
    }
}

/// The first rate rule of `results` (a sample of records, e.g. one flush's) whose breach the
/// sample supports at `confidence`; rules enforced per record only are left to the
/// record-failure rate, as in the breaker.
#[must_use]
pub fn sampled_breach(results: &[RuleResult], confidence: f64) -> Option<&RuleResult> {
    results.iter().find(|r| r.sample.is_some() && r.enforcement.trips() && result_breaches(r, confidence))
}

/// The fewest hits out of `n` that support a breach of an upper limit of `limit_pct` percent
/// at `confidence`; `None` when no sample of `n` records can.
#[must_use]
pub fn critical_hits(n: u64, limit_pct: f64, confidence: f64) -> Option<u64> {
    let p = limit_pct / 100.0;
    let alpha = 1.0 - confidence;
    // P(X >= k) falls with k: the first k under alpha. A bisection keeps this O(n log n).
    let (mut lo, mut hi) = (0u64, n + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_least(n, mid, p) <= alpha {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo <= n).then_some(lo)
}

/// The chance that a sample of `n` records from a stream at `rate_pct` percent fails an upper
/// limit of `limit_pct` percent at `confidence`.
#[must_use]
pub fn fail_chance(n: u64, limit_pct: f64, rate_pct: f64, confidence: f64) -> f64 {
    critical_hits(n, limit_pct, confidence).map_or(0.0, |k| at_least(n, k, rate_pct / 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn tails_match_known_values() {
        // (n, k, p, P(X >= k)) — values from the binomial distribution.
        let cases = [
            (10, 0, 0.5, 1.0),
            (10, 10, 0.5, 0.000_976_562_5),
            (10, 5, 0.5, 0.623_046_875),
            (1, 1, 0.3, 0.3),
            (100, 1, 0.03, 1.0 - 0.97f64.powi(100)),
            (5, 6, 0.5, 0.0),
            (5, 1, 0.0, 0.0),
            (5, 5, 1.0, 1.0),
        ];
        for (n, k, p, want) in cases {
            let got = at_least(n, k, p);
            assert!(close(got, want, 1e-9), "P(X>={k}|{n},{p}) = {got}, want {want}");
            if k > 0 {
                assert!(close(at_most(n, k - 1, p) + got, 1.0, 1e-9), "tails of {n},{k},{p} add up");
            }
        }
        // Large n does not underflow: the mean of Binomial(100000, 0.03) is 3000.
        assert!(close(at_least(100_000, 3000, 0.03), 0.5, 0.01));
    }

    #[test]
    fn small_samples_need_more_than_the_threshold_to_fail() {
        let op = Operator::MustBeLessThan(3.0);
        // (hits, total, supported at 99 %)
        let cases = [
            (4, 100, false), // 4 % of 100 happens at 3 % one time in 3
            (9, 100, true),
            (1, 1, false),
            (30, 300, true),
            (0, 0, false),
        ];
        for (hits, total, want) in cases {
            assert_eq!(breach_supported(op, Sample { hits, total }, 0.99), want, "{hits}/{total}");
        }
        // A 0 % limit: one hit is certain.
        assert!(breach_supported(Operator::MustBeLessOrEqualTo(0.0), Sample { hits: 1, total: 1000 }, 0.999));
        // Lower limits look at the other tail.
        assert!(breach_supported(Operator::MustBeGreaterThan(50.0), Sample { hits: 10, total: 100 }, 0.99));
        assert!(!breach_supported(Operator::MustBeGreaterThan(50.0), Sample { hits: 45, total: 100 }, 0.99));
        assert!(breach_supported(Operator::MustBeBetween(10.0, 20.0), Sample { hits: 60, total: 100 }, 0.99));
    }

    #[test]
    fn critical_hits_and_fail_chance() {
        // 100 records against 3 % at 99 %: 9 hits are needed.
        assert_eq!(critical_hits(100, 3.0, 0.99), Some(9));
        assert_eq!(critical_hits(0, 3.0, 0.99), None);
        // A probe of 100 rarely fails a stream at 6 %, one of 1,000 nearly always does.
        assert!(fail_chance(100, 3.0, 6.0, 0.99) < 0.5);
        assert!(fail_chance(1000, 3.0, 6.0, 0.99) > 0.95);
        // At the flights' own 2.45 % cancellations a probe of 300 almost never fails.
        assert!(fail_chance(300, 3.0, 2.45, 0.999) < 1e-3);
    }
}
