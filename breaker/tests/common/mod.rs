//! Shared fixtures: a small contract's window rules and deltas for them.
#![allow(dead_code)]

use breaker::{BreakerConfig, WindowConfig};
use contracts::{Accumulator, MetricKind, Operator, RuleResult, Unit, WindowRule, WindowState};
use std::time::Duration;

/// Start of the fake clock: 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200_000;

/// `null_dep_time`: nulls in dep_time < 5 %; `no_data`: last record at most 60 s ago.
pub fn rules() -> Vec<WindowRule> {
    vec![
        WindowRule {
            id: "null_dep_time".into(),
            metric: MetricKind::NullValues,
            field: Some("dep_time".into()),
            operator: Operator::MustBeLessThan(5.0),
            unit: Unit::Percent,
            baseline: None,
            enforcement: contracts::Enforcement::Window,
        },
        WindowRule {
            id: "no_data".into(),
            metric: MetricKind::NoData,
            field: None,
            operator: Operator::MustBeLessOrEqualTo(60.0),
            unit: Unit::Seconds,
            baseline: None,
            enforcement: contracts::Enforcement::Window,
        },
    ]
}

/// A delta of `records` records, `nulls` of them with a null dep_time, arriving at `at`.
pub fn delta(records: u64, nulls: u64, at: Option<i64>) -> WindowState {
    WindowState {
        records,
        accumulators: vec![
            Accumulator::Count { hits: nulls, total: records },
            Accumulator::Newest { ms: if records > 0 { at } else { None } },
        ],
    }
}

pub fn empty() -> WindowState {
    WindowState::new(&rules())
}

pub fn config() -> BreakerConfig {
    BreakerConfig {
        min_records: 100,
        window: WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::from_secs(1) },
        open_wait: Duration::from_secs(10),
        max_open_wait: Duration::from_secs(60),
        backoff_multiplier: 2.0,
        probe_records: 50,
        probe_timeout: Duration::from_secs(60),
        confidence: 0.99,
        flush_interval: Duration::from_millis(250),
    }
}

/// A rule result as `contracts::window::evaluate` would produce it.
pub fn result(id: &str, metric: MetricKind, value: Option<f64>, passed: bool) -> RuleResult {
    RuleResult {
        id: id.into(),
        metric,
        field: None,
        value,
        operator: Operator::MustBeLessThan(5.0),
        unit: Unit::Percent,
        passed,
        sample: None,
        enforcement: contracts::Enforcement::Window,
    }
}
