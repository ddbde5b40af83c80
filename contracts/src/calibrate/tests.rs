use super::*;
use crate::stats::result_breaches;

/// The breaker's rules as the gate states them, for tests without the `breaker` crate: a
/// window trips on a failed rule once it holds `min_records`; a probe fails on a breach its
/// sample supports at `confidence`.
struct Plain {
    min_records: u64,
    confidence: f64,
}

impl Judge for Plain {
    fn window_trips(&self, records: u64, results: &[RuleResult]) -> bool {
        records >= self.min_records && results.iter().any(|r| !r.passed && r.enforcement.trips())
    }
    fn probe_fails(&self, _records: u64, results: &[RuleResult]) -> bool {
        results.iter().any(|r| r.enforcement.trips() && result_breaches(r, self.confidence))
    }
    fn least_probe(&self, _rule: &WindowRule) -> u64 {
        0
    }
}

fn rule(id: &str, metric: MetricKind, op: Operator, unit: Unit, enforcement: Enforcement) -> WindowRule {
    WindowRule { id: id.into(), metric, field: Some("f".into()), operator: op, unit, baseline: None, enforcement }
}

fn settings(window: u64, probe: u64, rate: f64) -> Settings {
    Settings { window_records: window, min_records: 100, probe_records: probe, confidence: 0.99, rate_per_s: rate, target_trips_per_day: 1.0 / 30.0, target_probe_false_fail: 0.01, keep_thresholds: false }
}

/// A sampler fed `records` records of which every `every`-th hits, for one rule.
fn sampled(r: &WindowRule, records: u64, every: u64) -> Sampler {
    let mut s = Sampler::new(std::slice::from_ref(r));
    let mut hits = 0;
    for i in 1..=records {
        hits += u64::from(i % every == 0);
        s.push(&WindowState { records: i, accumulators: vec![Accumulator::Count { hits, total: i }] });
    }
    s
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

#[test]
fn window_breach_is_the_binomial_tail_from_the_first_failing_count() {
    let judge = Plain { min_records: 100, confidence: 0.99 };
    // (limit, window, base 1 in `every`, first failing hits, P(window breach))
    let cases = [
        // < 3 % of 100: 3 hits fail; P(X >= 3 | 100, 0.02).
        (Operator::MustBeLessThan(3.0), 100, 50, 3, 1.0 - (0..3).map(|i| binom(100, i, 0.02)).sum::<f64>()),
        // <= 3 % of 100: 4 hits fail.
        (Operator::MustBeLessOrEqualTo(3.0), 100, 50, 4, 1.0 - (0..4).map(|i| binom(100, i, 0.02)).sum::<f64>()),
        // < 50 % of 10 records: 5 fail, at p = 0.5 that is 0.623046875 (known value).
        (Operator::MustBeLessThan(50.0), 10, 2, 5, 0.623_046_875),
    ];
    for (op, window, every, first, want) in cases {
        let r = rule("r", MetricKind::NullValues, op, Unit::Percent, Enforcement::Window);
        let s = Settings { min_records: 1, ..settings(window, 100, 10.0) };
        let judge = Plain { min_records: 1, ..judge };
        let got = fewest_failing(window, |k| judge.window_trips(window, &results_for(&r, op, window, k, window)));
        assert_eq!(got, Some(first), "{op:?}");
        let rep = sampled(&r, 10_000, every).report(&s, &judge);
        let c = &rep.rules[0];
        assert!(close(c.window_breach, want, 1e-9), "{op:?}: {} vs {want}", c.window_breach);
        // Windows per day: rate 10/s over `window` records.
        #[allow(clippy::cast_precision_loss)]
        let wpd = 10.0 * SECONDS_PER_DAY / window as f64;
        assert!(close(c.false_trips_per_day, wpd * want, 1e-9));
    }
}

fn binom(n: u64, k: u64, p: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let c = (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let p = c * p.powi(k as i32) * (1.0 - p).powi((n - k) as i32);
    p
}

#[test]
fn proposals_meet_the_targets_and_keep_the_power() {
    let judge = Plain { min_records: 100, confidence: 0.99 };
    // (window records, rate/s, base 1 in `every`)
    let cases = [(900, 30.0, 40), (200, 5.0, 100), (5_000, 100.0, 20)];
    for (window, rate, every) in cases {
        let r = rule("nulls", MetricKind::NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Enforcement::Window);
        let s = settings(window, 100, rate);
        let c = &sampled(&r, 50_000, every).report(&s, &judge).rules[0];
        assert!(c.proposed_false_trips_per_day <= s.target_trips_per_day, "{window}: {c:?}");
        // Two significant digits, and one step lower would miss the target (the most
        // sensitive limit that meets it, up to the rounding).
        assert!(close(c.proposed_threshold, round_up_2sig(c.proposed_threshold), 1e-12));
        let n = c.proposed_probe_records.expect("a probe size");
        assert!(c.proposed_probe_false_fail <= s.target_probe_false_fail, "{c:?}");
        assert!(c.probe_power >= PROBE_POWER, "{c:?}");
        assert!(c.probe_fault_rate >= 3.0 * c.base_rate && c.probe_fault_rate >= 3.0 * c.proposed_threshold - 1e-9, "{c:?}");
        // The size is the smallest that works, up to bisection over a monotone-ish curve:
        // a probe half as big misses a target.
        let half = n / 2;
        let share = 1.0;
        let pop = with_limit(r.operator, c.proposed_threshold);
        let p = c.base_rate / 100.0;
        let half_ok = probe_fail(&r, pop, half, share, p, &judge) <= s.target_probe_false_fail && probe_fail(&r, pop, half, share, c.probe_fault_rate / 100.0, &judge) >= PROBE_POWER;
        assert!(!half_ok, "{window}: {half} would do as well as {n}");
    }
}

#[test]
fn probe_false_fail_at_the_flights_settings() {
    // The issue's numbers: probes of 100 against 3 % on a stream at 2.45 % fail ~44 % of the
    // time on the raw value; weighed at 99 % they fail rarely.
    let r = rule("dep_time_nulls", MetricKind::NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Enforcement::Window);
    let judge = Plain { min_records: 200, confidence: 0.99 };
    let p = 0.0245;
    let weighed = probe_fail(&r, r.operator, 100, 1.0, p, &judge);
    assert!(close(weighed, at_least(100, 9, p), 1e-12), "9 hits of 100 are the first supported breach");
    assert!(weighed < 0.01);
    let raw = at_least(100, 3, p);
    assert!((0.4..0.5).contains(&raw), "{raw}");
}

#[test]
fn rules_that_are_not_rates_are_listed_with_why() {
    let rules = [
        rule("fresh", MetricKind::Freshness, Operator::MustBeLessOrEqualTo(60.0), Unit::Seconds, Enforcement::Window),
        rule("rows", MetricKind::RowCount, Operator::MustBeGreaterThan(0.0), Unit::Rows, Enforcement::Window),
        rule("carrier", MetricKind::InvalidValues, Operator::MustBe(0.0), Unit::Rows, Enforcement::Record),
        rule("floor", MetricKind::NullValues, Operator::MustBeGreaterThan(1.0), Unit::Percent, Enforcement::Window),
        rule("nulls", MetricKind::NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Enforcement::Window),
    ];
    let mut s = Sampler::new(&rules);
    let state = WindowState::new(&rules);
    s.push(&state);
    let rep = s.report(&settings(900, 500, 30.0), &Plain { min_records: 100, confidence: 0.99 });
    let skipped: Vec<&str> = rep.skipped.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(skipped, ["fresh", "rows", "carrier", "floor"]);
    assert_eq!(rep.rules.len(), 1);
    // No hits at all: the limit stays, nothing trips.
    assert!(close(rep.rules[0].proposed_threshold, 3.0, 0.0) && rep.rules[0].window_breach == 0.0);
}

#[test]
fn a_window_under_min_records_never_trips_and_says_so() {
    let r = rule("nulls", MetricKind::NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Enforcement::Window);
    let s = Settings { min_records: 1_000, ..settings(900, 500, 30.0) };
    let rep = sampled(&r, 5_000, 10).report(&s, &Plain { min_records: 1_000, confidence: 0.99 });
    assert!(rep.rules[0].window_breach == 0.0);
    assert!(rep.notes.iter().any(|n| n.contains("min_records")), "{:?}", rep.notes);
}

#[test]
fn bursty_samples_are_flagged() {
    let r = rule("nulls", MetricKind::NullValues, Operator::MustBeLessThan(3.0), Unit::Percent, Enforcement::Window);
    // 2 % overall, all of it in a few solid bursts.
    let mut s = Sampler::new(std::slice::from_ref(&r));
    let mut hits = 0;
    for i in 1..=50_000u64 {
        hits += u64::from(i % 10_000 < 200);
        s.push(&WindowState { records: i, accumulators: vec![Accumulator::Count { hits, total: i }] });
    }
    let rep = s.report(&settings(200, 500, 10.0), &Plain { min_records: 100, confidence: 0.99 });
    let c = &rep.rules[0];
    assert!(c.sample_windows_breached_proposed >= 2, "{c:?}");
    assert!(c.notes.iter().any(|n| n.contains("bursts")), "{:?}", c.notes);
}

#[test]
fn rounding_is_up_to_two_significant_digits() {
    // (raw, rounded)
    let cases = [(3.0, 3.0), (3.01, 3.1), (0.1234, 0.13), (12.5, 13.0), (0.0, 0.0), (99.2, 100.0)];
    for (raw, want) in cases {
        assert!(close(round_up_2sig(raw), want, 1e-12), "{raw} -> {}", round_up_2sig(raw));
    }
}
