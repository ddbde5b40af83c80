//! Per-record breaker decision (target ≤ 50 ns) and, for scale, one core step per flush.

use breaker::route::testing;
use breaker::{step, BreakerConfig, BreakerState, Event, StoreOutagePolicy, Mode, Observation, Router};
use contracts::{MetricKind, Operator, RuleResult, Unit};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Arc;

fn route(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    for (name, mode) in [("closed", Mode::Closed), ("open", Mode::Open), ("forced_open", Mode::ForcedOpen)] {
        let r = Router::default();
        testing::set(&r, mode, false, StoreOutagePolicy::Local);
        g.bench_function(name, |b| b.iter(|| black_box(&r).route()));
    }
    let r = Router::default();
    testing::set_half_open(&r);
    // An allowance no run can exhaust, so every call takes the probe branch.
    testing::grant(&r, 1 << 50);
    g.bench_function("half_open_probe", |b| b.iter(|| black_box(&r).route()));
    testing::grant(&r, 0);
    g.bench_function("half_open_exhausted", |b| b.iter(|| black_box(&r).route()));
    // The router as the gate holds it: behind an Arc shared by routing tasks.
    let shared = Arc::new(Router::default());
    g.bench_function("closed_via_arc", |b| b.iter(|| black_box(&shared).route()));
    g.finish();
}

fn core_step(c: &mut Criterion) {
    let results: Vec<RuleResult> = (0..10)
        .map(|i| RuleResult {
            id: format!("rule_{i}"),
            metric: MetricKind::NullValues,
            field: Some("f".into()),
            value: Some(1.0),
            operator: Operator::MustBeLessThan(5.0),
            unit: Unit::Percent,
            passed: true,
            sample: None,
            enforcement: contracts::Enforcement::Window,
        })
        .collect();
    let cfg = BreakerConfig::default();
    let state = BreakerState::initial(0);
    c.bench_function("core_step_closed_10_rules", |b| {
        b.iter(|| {
            let e = Event::Observe(Observation { records: 25_000, results: &results, warm: true, probe: None });
            black_box(step(&cfg, black_box(&state), &e, 1_000))
        })
    });
}

criterion_group!(benches, route, core_step);
criterion_main!(benches);
