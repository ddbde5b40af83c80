//! Property tests of the core and of the probe budget accounting.

mod common;

use breaker::{step, BreakerState, Event, Mode, Observation, ProbeObservation, Step};
use common::{config, result, T0};
use contracts::{MetricKind, RuleResult};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Obs {
    dt: i64,
    records: u64,
    warm: bool,
    fails: Vec<(u8, bool)>,
    probe: Option<(u64, Vec<(u8, bool)>)>,
}

const METRICS: [MetricKind; 6] = [
    MetricKind::NullValues,
    MetricKind::NoData,
    MetricKind::RowCount,
    MetricKind::Freshness,
    MetricKind::DecodeErrors,
    MetricKind::Distribution,
];

fn results(spec: &[(u8, bool)]) -> Vec<RuleResult> {
    spec.iter()
        .map(|(m, passed)| result("r", METRICS[usize::from(*m) % METRICS.len()], Some(1.0), *passed))
        .collect()
}

fn arb_obs() -> impl Strategy<Value = Obs> {
    let rs = proptest::collection::vec((0u8..6, any::<bool>()), 0..4);
    (0i64..40_000, 0u64..400, any::<bool>(), rs.clone(), proptest::option::of((0u64..80, rs)))
        .prop_map(|(dt, records, warm, fails, probe)| Obs { dt, records, warm, fails, probe })
}

fn arb_automatic_state() -> impl Strategy<Value = BreakerState> {
    (0usize..3, 0u32..6).prop_map(|(m, trips)| {
        let mode = [Mode::Closed, Mode::Open, Mode::HalfOpen][m];
        BreakerState {
            mode,
            trips,
            open_until_ms: (mode == Mode::Open).then_some(T0 + 10_000),
            probe_budget: if mode == Mode::HalfOpen { 50 } else { 0 },
            ..BreakerState::initial(T0)
        }
    })
}

fn run(state: &BreakerState, o: &Obs, now: i64) -> Step {
    let res = results(&o.fails);
    let probe_res = o.probe.as_ref().map(|(_, p)| results(p));
    let event = Event::Observe(Observation {
        records: o.records,
        results: &res,
        warm: o.warm,
        probe: o
            .probe
            .as_ref()
            .zip(probe_res.as_deref())
            .map(|((n, _), r)| ProbeObservation { records: *n, results: r }),
    });
    step(&config(), state, &event, now)
}

proptest! {
    /// Automatic moves follow the edges closed→open→half-open→{closed, open} only, and every
    /// move bumps the epoch by exactly one.
    #[test]
    fn no_transition_skips_a_state(start in arb_automatic_state(), seq in proptest::collection::vec(arb_obs(), 1..60)) {
        let mut s = start;
        let mut now = T0;
        for o in &seq {
            now += o.dt;
            if let Step::Move(next) = run(&s, o, now) {
                let allowed = matches!(
                    (s.mode, next.mode),
                    (Mode::Closed, Mode::Open) | (Mode::Open, Mode::HalfOpen) | (Mode::HalfOpen, Mode::Closed | Mode::Open)
                );
                prop_assert!(allowed, "{} -> {}", s.mode, next.mode);
                prop_assert_eq!(next.epoch, s.epoch + 1);
                prop_assert!(next.since_ms == now);
                if next.mode == Mode::Open {
                    prop_assert!(next.trips == s.trips + 1);
                    prop_assert!(next.open_until_ms.is_some_and(|u| u > now));
                }
                s = next;
            }
        }
    }

    /// Manual modes never change without a command.
    #[test]
    fn forced_states_never_change_by_themselves(m in 0usize..3, seq in proptest::collection::vec(arb_obs(), 1..40)) {
        let mode = [Mode::ForcedOpen, Mode::ForcedClosed, Mode::MetricsOnly][m];
        let s = BreakerState { mode, ..BreakerState::initial(T0) };
        let mut now = T0;
        for o in &seq {
            now += o.dt;
            prop_assert_eq!(run(&s, o, now), Step::Stay);
        }
    }

    /// A closed breaker whose window passes every rule stays closed, whatever the volume.
    #[test]
    fn clean_closed_window_stays_closed(records in 0u64..1_000_000, warm in any::<bool>(), n in 0usize..6, dt in 0i64..10_000_000) {
        let res: Vec<RuleResult> = (0..n).map(|i| result("r", METRICS[i], Some(0.0), true)).collect();
        let s = BreakerState::initial(T0);
        let e = Event::Observe(Observation { records, results: &res, warm, probe: None });
        prop_assert_eq!(step(&config(), &s, &e, T0 + dt), Step::Stay);
    }
}

/// The probe budget over the memory store, which runs on tokio.
#[cfg(feature = "runtime")]
mod probe_budget {
    use super::*;
    use breaker::{FlushRequest, MemoryStore, ProbeReport, Reason, Router, Store};
    use common::{empty, rules};

    proptest! {
        /// Over any interleaving of replicas flushing, claiming and using probe allowance, the
        /// probes admitted never exceed the budget.
        #[test]
        fn probe_budget_is_never_exceeded(
            budget in 1u64..200,
            plan in proptest::collection::vec((0usize..4, 0u64..120, 0u64..=100, 1i64..200), 1..80),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            rt.block_on(async {
                let store = MemoryStore::new(config().window, &rules());
                let half = BreakerState {
                    mode: Mode::HalfOpen,
                    epoch: 2,
                    probe_budget: budget,
                    reason: Reason::CooledDown,
                    ..BreakerState::initial(T0)
                };
                let applied = store.transition(0, &half).await;
                prop_assert!(applied.is_ok());
                let routers: Vec<Router> = (0..4).map(|_| Router::default()).collect();
                let mut admitted = 0u64;
                let mut now = T0;
                for (replica, request, share, dt) in plan {
                    now += dt;
                    let router = &routers[replica];
                    let used = router_take(router);
                    let snap = store
                        .flush(&FlushRequest {
                            now,
                            replica: &format!("r{replica}"),
                            instance: "i",
                            seq: 0,
                            delta: &empty(),
                            generation: None,
                            probe: ProbeReport { epoch: 2, used, window: &empty(), request },
                            initial: &half,
                        })
                        .await;
                    let snap = snap.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    router_grant(router, snap.probe_grant);
                    // Route some records: the router hands out at most the grant.
                    let tries = (request * share) / 100 + 1;
                    for _ in 0..tries {
                        if router.route() == breaker::Route::Probe {
                            admitted += 1;
                        }
                    }
                    prop_assert!(admitted <= budget, "admitted {} > budget {}", admitted, budget);
                }
                Ok(())
            })?;
        }
    }

    // The router's allowance methods are crate-private; drive them the way Breaker does, through
    // its state setters exposed for tests.
    fn router_take(r: &Router) -> u64 {
        breaker::route::testing::take_allowance(r)
    }

    fn router_grant(r: &Router, n: u64) {
        breaker::route::testing::set_half_open(r);
        breaker::route::testing::grant(r, n);
    }
}
