//! Replicas over one in-memory store, and the fallback when the store fails, with a fake clock.

mod common;

use breaker::{
    Breaker, BreakerOptions, BreakerState, Cas, Command, StoreOutagePolicy, FlushRequest, MemoryStore, Mode, Route,
    Snapshot, Source, Store, StoreError,
};
use common::{config, delta, empty, rules, T0};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

fn opts(replica: &str, fallback: StoreOutagePolicy) -> BreakerOptions {
    BreakerOptions { name: "flights".into(), replica: replica.into(), fallback }
}

fn replicas<S: Store + Clone>(store: &S, n: usize) -> Vec<Breaker<S>> {
    (0..n)
        .map(|i| {
            Breaker::new(config(), rules(), store.clone(), opts(&format!("r{i}"), StoreOutagePolicy::Local), T0)
                .expect("valid config")
        })
        .collect()
}

#[tokio::test]
async fn breach_only_the_sum_reaches_trips_every_replica_then_recovers() {
    let store = Arc::new(MemoryStore::new(config().window, &rules()));
    let rs = replicas(&store, 3);
    // 50 records each, 8 % nulls: each replica alone is under min_records (100).
    let bad = delta(50, 4, Some(T0));
    let first = rs[0].flush(&bad, &empty(), T0).await.expect("flush");
    assert_eq!(first.state.mode, Mode::Closed);
    assert_eq!(first.breach, None, "50 records are below min_records");
    let second = rs[1].flush(&bad, &empty(), T0).await.expect("flush");
    let t = second.transition.expect("the sum (100 records, 8 %) trips");
    assert_eq!(t.to.mode, Mode::Open);
    assert_eq!(t.to.breach().map(|b| b.rule.as_str()), Some("null_dep_time"));
    let third = rs[2].flush(&bad, &empty(), T0).await.expect("flush");
    assert_eq!((third.state.mode, third.transition.is_none()), (Mode::Open, true));
    // r0 learns by announcement, before its next flush.
    tokio::task::yield_now().await;
    for r in &rs {
        assert_eq!(r.router().mode(), Mode::Open);
        assert_eq!(r.route(), Route::Divert);
    }

    // Open wait 10 s, then half-open: probes are granted at the next flush, 50 in all.
    let t1 = T0 + 10_000;
    let half = rs[0].flush(&empty(), &empty(), t1).await.expect("flush");
    assert_eq!(half.state.mode, Mode::HalfOpen);
    let mut admitted = 0u64;
    let mut now = t1;
    for round in 0..10 {
        now += 250;
        for r in &rs {
            let mut probes = 0;
            for _ in 0..20 {
                if r.route() == Route::Probe {
                    probes += 1;
                }
            }
            admitted += probes;
            let report = r.flush(&delta(20, 0, Some(now)), &delta(probes, 0, Some(now)), now).await.expect("flush");
            if report.state.mode == Mode::Closed {
                assert_eq!(admitted, 50, "closed after exactly the budget (round {round})");
                assert!(report.transition.is_some());
                return;
            }
        }
        assert!(admitted <= 50);
    }
    panic!("never closed; {admitted} probes admitted");
}

/// A store that fails while `down` is set.
#[derive(Debug, Clone)]
struct Flaky {
    inner: Arc<MemoryStore>,
    down: Arc<AtomicBool>,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Timeout { op: "flush", prefix: "flaky".into(), after: std::time::Duration::ZERO });
        }
        Ok(())
    }
}

impl Store for Flaky {
    async fn flush(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        self.check()?;
        self.inner.flush(req).await
    }
    async fn transition(&self, expected: u64, next: &BreakerState) -> Result<Cas, StoreError> {
        self.check()?;
        self.inner.transition(expected, next).await
    }
    async fn load(&self) -> Result<Option<BreakerState>, StoreError> {
        self.check()?;
        self.inner.load().await
    }
    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        self.inner.subscribe()
    }
    fn kind(&self) -> &'static str {
        "flaky"
    }
    fn relayout(&self, rules: &[contracts::WindowRule]) {
        self.inner.relayout(rules);
    }
}

fn flaky() -> Flaky {
    Flaky { inner: Arc::new(MemoryStore::new(config().window, &rules())), down: Arc::new(AtomicBool::new(false)) }
}

#[tokio::test]
async fn local_fallback_trips_on_local_metrics_and_shared_state_wins_on_return() {
    let store = flaky();
    let b = Breaker::new(config(), rules(), store.clone(), opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    let ok = b.flush(&delta(200, 0, Some(T0)), &empty(), T0).await.expect("flush");
    assert_eq!((ok.source, ok.state.mode), (Source::Shared, Mode::Closed));

    store.down.store(true, Ordering::Relaxed);
    let bad = b.flush(&delta(200, 50, Some(T0 + 250)), &empty(), T0 + 250).await.expect("never fails");
    assert_eq!(bad.source, Source::Local);
    assert!(bad.error.is_some());
    assert!(b.degraded() && b.status().await.degraded);
    assert_eq!(bad.state.mode, Mode::Open, "local metrics (400 records, 12.5 %) trip the local breaker");
    assert_eq!(b.route(), Route::Divert);

    // Shared state wins when the store returns: it never saw the bad records.
    store.down.store(false, Ordering::Relaxed);
    let back = b.flush(&delta(10, 0, Some(T0 + 500)), &empty(), T0 + 500).await.expect("flush");
    assert_eq!((back.source, back.state.mode), (Source::Shared, Mode::Closed));
    assert!(!b.degraded());
    assert_eq!(b.route(), Route::Pass);
}

#[tokio::test]
async fn local_forced_state_is_pushed_on_reconcile() {
    let store = flaky();
    let b = Breaker::new(config(), rules(), store.clone(), opts("r0", StoreOutagePolicy::FailOpen), T0).expect("config");
    b.flush(&empty(), &empty(), T0).await.expect("flush");
    store.down.store(true, Ordering::Relaxed);
    let out = b.command(Command::ForceOpen, Some("drill"), T0 + 1).await.expect("applied locally");
    assert_eq!((out.source, out.state.mode), (Source::Local, Mode::ForcedOpen));
    assert_eq!(b.route(), Route::Divert, "a kill switch beats fail-open");
    store.down.store(false, Ordering::Relaxed);
    let back = b.flush(&empty(), &empty(), T0 + 250).await.expect("flush");
    assert_eq!(back.state.mode, Mode::ForcedOpen);
    assert!(back.transition.is_some(), "the push is this replica's transition");
    let stored = store.inner.load().await.expect("load").expect("state");
    assert_eq!(stored.mode, Mode::ForcedOpen);
}

#[tokio::test]
async fn fallback_policies_decide_routing_while_degraded() {
    for (policy, want) in [(StoreOutagePolicy::FailOpen, Route::Pass), (StoreOutagePolicy::FailClosed, Route::Divert)] {
        let store = flaky();
        let b = Breaker::new(config(), rules(), store.clone(), opts("r0", policy), T0).expect("config");
        store.down.store(true, Ordering::Relaxed);
        let r = b.flush(&delta(500, 0, Some(T0)), &empty(), T0).await.expect("flush");
        assert_eq!((r.source, r.state.mode), (Source::Local, Mode::Closed));
        assert_eq!(b.route(), want, "{policy:?}");
        assert!(b.router().degraded());
    }
}

#[tokio::test]
async fn stale_epoch_cannot_overwrite_newer_state() {
    let store = MemoryStore::new(config().window, &rules());
    let s1 = BreakerState::initial(T0);
    assert!(matches!(store.transition(0, &s1).await, Ok(Cas::Applied(_))));
    let open = BreakerState { mode: Mode::Open, epoch: 2, ..s1.clone() };
    assert!(matches!(store.transition(1, &open).await, Ok(Cas::Applied(_))));
    let stale = BreakerState { mode: Mode::HalfOpen, epoch: 2, ..s1 };
    match store.transition(1, &stale).await {
        Ok(Cas::Refused(Some(cur))) => assert_eq!(cur, open),
        other => panic!("stale write accepted: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_only_reports_breach_but_passes() {
    let store = Arc::new(MemoryStore::new(config().window, &rules()));
    let b = Breaker::new(config(), rules(), store.clone(), opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    b.command(Command::MetricsOnly, None, T0).await.expect("command");
    let r = b.flush(&delta(500, 100, Some(T0)), &empty(), T0 + 1).await.expect("flush");
    assert_eq!(r.state.mode, Mode::MetricsOnly);
    assert_eq!(r.breach.map(|b| b.rule), Some("null_dep_time".to_owned()));
    assert_eq!(b.route(), Route::Pass);
    let again = b.command(Command::MetricsOnly, None, T0 + 2).await.expect("command");
    assert!(again.transition.is_none(), "repeating an override is a no-op");
}

#[tokio::test]
async fn window_slides_and_restarts_after_close() {
    let store = Arc::new(MemoryStore::new(config().window, &rules()));
    let b = Breaker::new(config(), rules(), store, opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    // 80 clean records now, 80 more 31 s later: the first ones have left the 30 s window.
    b.flush(&delta(80, 0, Some(T0)), &empty(), T0).await.expect("flush");
    let r = b.flush(&delta(80, 0, Some(T0 + 31_000)), &empty(), T0 + 31_000).await.expect("flush");
    assert_eq!(r.records, 80);
    assert!(r.warm);
    // Silence: "no data" trips from the sticky newest timestamp even though the buckets expired.
    let r = b.flush(&empty(), &empty(), T0 + 31_000 + 61_000).await.expect("flush");
    assert_eq!(r.records, 0);
    assert_eq!(r.state.mode, Mode::Open);
    assert_eq!(r.state.breach().map(|b| b.rule.as_str()), Some("no_data"));
}

#[test]
fn rejects_invalid_config_naming_the_field() {
    let cfg = breaker::BreakerConfig { probe_records: 0, ..config() };
    let err = Breaker::new(cfg, rules(), MemoryStore::new(config().window, &rules()), BreakerOptions::default(), T0)
        .expect_err("invalid");
    assert!(err.to_string().contains("`probe_records`"), "{err}");
}

/// The gate runs flushes and commands in spawned tasks: their futures must be `Send` for any
/// store.
#[allow(dead_code, clippy::let_underscore_future)]
fn futures_are_send<S: Store + 'static>(b: &Breaker<S>) {
    fn is_send<T: Send>(_: T) {}
    let (d, p) = (empty(), empty());
    is_send(b.flush(&d, &p, T0));
    is_send(b.command(Command::Reset, None, T0));
    is_send(b.status());
}

#[tokio::test]
async fn reconfigure_keeps_the_window_for_new_thresholds_and_restarts_it_for_new_rules() {
    let store = Arc::new(MemoryStore::new(config().window, &rules()));
    let b = Breaker::new(config(), rules(), Arc::clone(&store), opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    // 200 records, 4 % nulls: under the 5 % threshold.
    let r = b.flush(&delta(200, 8, Some(T0)), &empty(), T0).await.expect("flush");
    assert_eq!((r.records, r.state.mode), (200, Mode::Closed));

    // Same rules, stricter threshold: the window is kept and judged by the new threshold.
    let mut stricter = rules();
    stricter[0].operator = contracts::Operator::MustBeLessThan(3.0);
    assert!(!b.reconfigure(stricter).await, "thresholds only: no relayout");
    let r = b.flush(&empty(), &empty(), T0 + 250).await.expect("flush");
    assert_eq!(r.records, 200, "window kept");
    assert_eq!(r.state.mode, Mode::Open, "4 % breaches the new 3 % threshold");

    // A rule removed: fresh window of the new shape; old-shaped deltas are refused.
    let fewer = vec![rules().remove(0)];
    assert!(b.reconfigure(fewer.clone()).await, "rule list changed: relayout");
    assert!(matches!(b.flush(&delta(1, 0, Some(T0)), &empty(), T0 + 500).await, Err(StoreError::Shape { .. })));
    let one = contracts::WindowState { records: 10, accumulators: vec![contracts::Accumulator::Count { hits: 0, total: 10 }] };
    let r = b.flush(&one, &contracts::WindowState::new(&fewer), T0 + 750).await.expect("new shape flushes");
    assert_eq!(r.records, 10, "window restarted");
    assert_eq!(r.state.mode, Mode::Open, "the state survives a relayout");
    assert_eq!(b.rules().len(), 1);
}

/// A replica that starts while the shared store is away does not know whether a manual
/// override is set there: under `local` it diverts until it has read the shared state (it
/// passed records while the shared breaker was forced open); `fail_open` still passes.
/// Once the store answers, its state is enforced before anything local.
#[tokio::test]
async fn a_replica_started_during_an_outage_follows_the_policy_until_it_reads_the_shared_state() {
    for (policy, want) in [(StoreOutagePolicy::Local, Route::Divert), (StoreOutagePolicy::FailClosed, Route::Divert), (StoreOutagePolicy::FailOpen, Route::Pass)] {
        let store = flaky();
        let forced = BreakerState { mode: Mode::ForcedOpen, epoch: 2, ..BreakerState::initial(T0) };
        assert!(matches!(store.inner.transition(0, &forced).await, Ok(Cas::Applied(_))));
        store.down.store(true, Ordering::Relaxed);
        let b = Breaker::new(config(), rules(), store.clone(), opts("late", policy), T0).expect("config");
        assert_eq!(b.route(), want, "{policy:?}: before the first flush");
        let r = b.flush(&delta(200, 0, Some(T0)), &empty(), T0).await.expect("never fails");
        assert_eq!((r.source, r.state.mode), (Source::Local, Mode::Closed), "{policy:?}");
        assert_eq!(b.route(), want, "{policy:?}: degraded, never read the shared state");

        store.down.store(false, Ordering::Relaxed);
        let back = b.flush(&delta(10, 0, Some(T0 + 250)), &empty(), T0 + 250).await.expect("flush");
        assert_eq!((back.source, back.state.mode), (Source::Shared, Mode::ForcedOpen), "{policy:?}");
        assert_eq!(b.route(), Route::Divert, "{policy:?}: the shared kill switch is honoured");
    }
    // Having read it once, `local` runs the last shared state on local metrics as before.
    let store = flaky();
    let b = Breaker::new(config(), rules(), store.clone(), opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    b.flush(&delta(200, 0, Some(T0)), &empty(), T0).await.expect("flush");
    store.down.store(true, Ordering::Relaxed);
    let r = b.flush(&delta(200, 0, Some(T0 + 250)), &empty(), T0 + 250).await.expect("never fails");
    assert_eq!((r.source, b.route()), (Source::Local, Route::Pass));
}

/// One hour.
const H: i64 = 3_600_000;

/// A shared store whose clock runs an hour ahead of the replica's, doing what flush.lua does
/// with Redis's clock: judging at its own `now` and moving arrival times onto it.
#[derive(Debug, Clone)]
struct Ahead(Flaky);

impl Store for Ahead {
    async fn flush(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        self.0.check()?;
        let mut delta = req.delta.clone();
        if let Some(contracts::Accumulator::Newest { ms: Some(t) }) = delta.accumulators.get_mut(1) {
            *t += H;
        }
        self.0.inner.flush(&FlushRequest { now: req.now + H, delta: &delta, ..*req }).await
    }
    async fn transition(&self, expected: u64, next: &BreakerState) -> Result<Cas, StoreError> {
        self.0.transition(expected, next).await
    }
    async fn load(&self) -> Result<Option<BreakerState>, StoreError> {
        self.0.load().await
    }
    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        self.0.subscribe()
    }
    fn kind(&self) -> &'static str {
        "ahead"
    }
    fn relayout(&self, rules: &[contracts::WindowRule]) {
        self.0.relayout(rules);
    }
}

/// Every time a replica writes into the shared state is on the store's clock: transitions it
/// judges, commands it applies, and its local fallback's window after the store went away
/// (where its own arrival times are moved onto the store's clock it last measured).
#[tokio::test]
async fn times_a_replica_writes_are_on_the_store_clock() {
    let store = Ahead(flaky());
    let b = Breaker::new(config(), rules(), store.clone(), opts("r0", StoreOutagePolicy::Local), T0).expect("config");
    let r = b.flush(&delta(200, 50, Some(T0)), &empty(), T0).await.expect("flush");
    assert_eq!(r.state.mode, Mode::Open);
    assert_eq!((r.state.since_ms, r.state.open_until_ms), (T0 + H, Some(T0 + H + 10_000)), "a trip on the store's clock");
    let c = b.command(Command::Reset, None, T0 + 1_000).await.expect("reset");
    assert_eq!((c.state.since_ms, c.state.window_from_ms), (T0 + H + 1_000, T0 + H + 1_000), "a command on the store's clock");

    store.0.down.store(true, Ordering::Relaxed);
    let r = b.flush(&delta(10, 0, Some(T0 + 2_000)), &empty(), T0 + 2_000).await.expect("never fails");
    assert_eq!((r.source, r.state.mode), (Source::Local, Mode::Closed));
    let age = r.results.iter().find(|x| x.id == "no_data").and_then(|x| x.value);
    assert_eq!(age, Some(0.0), "the local window's arrival is on the same clock as its judgement");
    // 30 s of silence: under the 60 s `no_data` limit, on the local fallback too.
    let r = b.flush(&empty(), &empty(), T0 + 32_000).await.expect("never fails");
    assert_eq!((r.source, r.state.mode), (Source::Local, Mode::Closed), "{:?}", r.results);
}
