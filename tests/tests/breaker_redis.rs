//! The shared breaker against a real Redis: three `RedisStore`s stand for three gate replicas.
//!
//! Needs `CG_TEST_REDIS_URL` (skips without it unless `CG_REQUIRE_SERVICES=1`). The outage
//! and call-count tests start their own `redis-server` on a free port, since they stop it or
//! read server-wide statistics; the shared one is never touched beyond its own key prefix.
//! Clock skew and retried flushes: `breaker_redis/skew.rs`.

use breaker::{
    Breaker, BreakerConfig, BreakerOptions, BreakerState, Cas, Command, StoreOutagePolicy, Mode, RedisConfig,
    RedisStore, Route, Source, Store, WindowConfig,
};
use contracts::{Accumulator, MetricKind, Operator, Unit, WindowRule, WindowState};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// Not a test target of its own: cargo only builds `tests/*.rs` and `tests/*/main.rs`.
#[path = "breaker_redis/skew.rs"]
mod skew;

const FLUSH: Duration = Duration::from_millis(250);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rules() -> Vec<WindowRule> {
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
            operator: Operator::MustBeLessOrEqualTo(120.0),
            unit: Unit::Seconds,
            baseline: None,
            enforcement: contracts::Enforcement::Window,
        },
    ]
}

fn delta(records: u64, nulls: u64) -> WindowState {
    WindowState {
        records,
        accumulators: vec![
            Accumulator::Count { hits: nulls, total: records },
            Accumulator::Newest { ms: (records > 0).then(now_ms) },
        ],
    }
}

fn empty() -> WindowState {
    WindowState::new(&rules())
}

fn config() -> BreakerConfig {
    BreakerConfig {
        min_records: 100,
        window: WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::from_secs(1) },
        open_wait: Duration::from_millis(300),
        max_open_wait: Duration::from_secs(2),
        backoff_multiplier: 2.0,
        probe_records: 50,
        probe_timeout: Duration::from_secs(20),
        confidence: 0.99,
        flush_interval: FLUSH,
    }
}

fn redis_config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: url.into(),
        key_prefix: prefix.into(),
        op_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(300),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        ..RedisConfig::default()
    }
}

fn replicas(url: &str, prefix: &str, n: usize) -> Vec<Breaker<RedisStore>> {
    (0..n)
        .map(|i| {
            let store = RedisStore::new(redis_config(url, prefix), config().window, &rules()).expect("store");
            let opts = BreakerOptions { name: prefix.into(), replica: format!("replica-{i}"), fallback: StoreOutagePolicy::Local };
            Breaker::new(config(), rules(), store, opts, now_ms()).expect("breaker")
        })
        .collect()
}

async fn subscribed(rs: &[Breaker<RedisStore>]) {
    e2e::wait_until("every replica is subscribed to breaker events", e2e::DEFAULT_TIMEOUT, || async {
        rs.iter().all(|r| r.store().events_subscribed()).then_some(())
    })
    .await
    .expect("subscriptions");
}

#[tokio::test]
async fn a_breach_only_the_sum_reaches_trips_all_replicas_within_one_flush() {
    let Some(url) = e2e::redis_url() else { return };
    let prefix = e2e::unique_name("breaker-sum");
    let rs = replicas(&url, &prefix, 3);
    subscribed(&rs).await;
    // 40 records each with 8 % nulls: no replica reaches min_records (100) alone.
    let bad = delta(40, 4);
    let r0 = rs[0].flush(&bad, &empty(), now_ms()).await.expect("flush");
    let r1 = rs[1].flush(&bad, &empty(), now_ms()).await.expect("flush");
    assert_eq!((r0.state.mode, r1.state.mode), (Mode::Closed, Mode::Closed), "80 records are not enough");
    assert!(r0.breach.is_none() && r1.breach.is_none());
    let r2 = rs[2].flush(&bad, &empty(), now_ms()).await.expect("flush");
    let tripped = Instant::now();
    let t = r2.transition.expect("the sum of three replicas trips");
    assert_eq!(t.to.mode, Mode::Open);
    assert_eq!(r2.records, 120);
    assert_eq!(t.to.breach().map(|b| b.rule.as_str()), Some("null_dep_time"));
    // The other two learn it from the events channel, without flushing.
    e2e::wait_until("every replica diverts", e2e::DEFAULT_TIMEOUT, || async {
        rs.iter().all(|r| r.route() == Route::Divert && r.router().mode() == Mode::Open).then_some(())
    })
    .await
    .expect("all open");
    let seen_after = tripped.elapsed();
    println!("breaker_redis: other replicas saw the trip {seen_after:?} after it was written");
    assert!(seen_after <= FLUSH, "took {seen_after:?}, more than one flush interval");
    let again = rs[0].flush(&empty(), &empty(), now_ms()).await.expect("flush");
    assert_eq!((again.state.mode, again.source, again.transition.is_none()), (Mode::Open, Source::Shared, true));
}

#[tokio::test]
async fn a_replica_with_a_stale_epoch_cannot_reopen_a_closed_breaker() {
    let Some(url) = e2e::redis_url() else { return };
    let prefix = e2e::unique_name("breaker-fence");
    let rs = replicas(&url, &prefix, 2);
    let open = rs[0].flush(&delta(200, 50), &empty(), now_ms()).await.expect("flush");
    assert_eq!(open.state.mode, Mode::Open);
    let stale = open.state.clone();
    // Another replica closes it (a reset), bumping the epoch.
    let reset = rs[1].command(Command::Reset, Some("fixed upstream"), now_ms()).await.expect("reset");
    assert_eq!((reset.state.mode, reset.source), (Mode::Closed, Source::Shared));
    assert!(reset.state.epoch > stale.epoch);
    // The stale replica's view says "open, epoch N": a transition from it must be refused,
    // whether it tries to reopen or to move on to half-open.
    for mode in [Mode::Open, Mode::HalfOpen] {
        let next = BreakerState { mode, epoch: stale.epoch + 1, since_ms: now_ms(), ..stale.clone() };
        match rs[0].store().transition(stale.epoch, &next).await.expect("redis") {
            Cas::Refused(Some(cur)) => assert_eq!((cur.mode, cur.epoch), (Mode::Closed, reset.state.epoch)),
            other => panic!("stale transition to {mode} was not refused: {other:?}"),
        }
    }
    let stored = rs[1].store().load().await.expect("load").expect("state");
    assert_eq!(stored.mode, Mode::Closed);
}

#[tokio::test]
async fn the_probe_budget_holds_across_replicas() {
    let Some(url) = e2e::redis_url() else { return };
    let prefix = e2e::unique_name("breaker-probe");
    let rs = replicas(&url, &prefix, 3);
    let open = rs[0].flush(&delta(300, 60), &empty(), now_ms()).await.expect("flush");
    assert_eq!(open.state.mode, Mode::Open);
    let mut admitted = 0u64;
    let deadline = Instant::now() + e2e::DEFAULT_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "never closed; {admitted} probes admitted");
        let mut closed = false;
        for r in &rs {
            let probes = (0..40).filter(|_| r.route() == Route::Probe).count() as u64;
            admitted += probes;
            assert!(admitted <= 50, "{admitted} probes admitted, budget is 50");
            let report = r.flush(&delta(40, 0), &delta(probes, 0), now_ms()).await.expect("flush");
            assert_eq!(report.source, Source::Shared);
            closed |= report.state.mode == Mode::Closed;
        }
        if closed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(admitted, 50, "closed after exactly the probe budget");
}

/// A `redis-server` owned by one test, on a free port, killed on drop.
struct PrivateRedis {
    child: Option<Child>,
    port: u16,
}

impl PrivateRedis {
    /// `None` (with a skip line) when `redis-server` is not installed and services are not
    /// required.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let mut me = Self { child: None, port };
        if let Err(e) = me.spawn() {
            assert!(!e2e::services_required(), "cannot start redis-server ({e}); install the redis-server package");
            eprintln!("SKIP: redis-server not runnable ({e})");
            return None;
        }
        me.ready().await;
        Some(me)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn ready(&self) {
        let url = self.url();
        e2e::wait_until("the private redis-server answers PING", e2e::DEFAULT_TIMEOUT, || async {
            let mut c = e2e::redis_connection(&url).await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        })
        .await
        .expect("redis-server ready");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        self.spawn().expect("restart redis-server");
        self.ready().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_outage_falls_back_to_local_state_and_reconciles_on_return() {
    // The shared service must be configured for this suite, but this test owns its server.
    if e2e::redis_url().is_none() {
        return;
    }
    let Some(mut server) = PrivateRedis::start().await else { return };
    let prefix = e2e::unique_name("breaker-outage");
    let rs = replicas(&server.url(), &prefix, 3);
    for r in &rs {
        let rep = r.flush(&delta(50, 0), &empty(), now_ms()).await.expect("flush");
        assert_eq!((rep.source, rep.state.mode), (Source::Shared, Mode::Closed));
    }

    server.stop();
    // Every replica keeps working on local state: no error, no panic, routing continues.
    for (i, r) in rs.iter().enumerate() {
        let (records, nulls) = if i == 0 { (300, 90) } else { (300, 0) };
        let rep = r.flush(&delta(records, nulls), &empty(), now_ms()).await.expect("never fails");
        assert_eq!(rep.source, Source::Local, "replica {i}");
        assert!(r.degraded() && rep.error.is_some(), "replica {i}");
    }
    assert_eq!(rs[0].router().mode(), Mode::Open, "replica 0 tripped on its own metrics");
    assert_eq!(rs[1].route(), Route::Pass);
    // A manual kill switch thrown during the outage is kept locally...
    let forced = rs[2].command(Command::ForceOpen, Some("outage drill"), now_ms()).await.expect("local command");
    assert_eq!((forced.source, forced.state.mode), (Source::Local, Mode::ForcedOpen));

    server.restart().await;
    // ...and wins on reconcile; otherwise the shared state wins (replica 0's local trip is
    // dropped: Redis came back empty and is re-seeded with the last agreed state).
    e2e::wait_until("every replica is back on the shared store in the forced state", e2e::DEFAULT_TIMEOUT, || async {
        let mut all = true;
        for r in &rs {
            let rep = r.flush(&delta(10, 0), &empty(), now_ms()).await.ok()?;
            all &= rep.source == Source::Shared && rep.state.mode == Mode::ForcedOpen;
        }
        all.then_some(())
    })
    .await
    .expect("reconciled");
    for r in &rs {
        assert!(!r.degraded());
        assert_eq!(r.route(), Route::Divert);
    }
}

/// Redis commands per record for one replica routing 100k records/s and flushing every
/// 250 ms, counted by the server (`INFO commandstats`). Also printed for BENCHMARKS.md.
#[tokio::test]
async fn redis_calls_per_record_at_100k_records_per_second() {
    if e2e::redis_url().is_none() {
        return;
    }
    let Some(server) = PrivateRedis::start().await else { return };
    let url = server.url();
    let mut admin = e2e::redis_connection(&url).await.expect("connect");
    let prefix = e2e::unique_name("breaker-calls");
    let secs: u64 = std::env::var("CG_BREAKER_CALLS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let b = &replicas(&url, &prefix, 1)[0];
    b.flush(&empty(), &empty(), now_ms()).await.expect("warm-up flush");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut admin).await.expect("resetstat");

    let router = b.router();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut next_flush = start + FLUSH;
    let (mut records, mut flushes) = (0u64, 0u64);
    let mut pending = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        // 100k records/s in 10 ms steps, paced by elapsed time so a late tick catches up.
        let due = u64::try_from(start.elapsed().as_micros()).unwrap_or(0) / 10;
        let n = due.saturating_sub(records);
        for _ in 0..n {
            std::hint::black_box(router.route());
        }
        records += n;
        pending += n;
        if Instant::now() >= next_flush {
            b.flush(&delta(pending, 0), &empty(), now_ms()).await.expect("flush");
            pending = 0;
            flushes += 1;
            next_flush += FLUSH;
        }
    }
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut admin).await.expect("info");
    // commandstats also counts the commands a script runs inside Redis. The requests the
    // breaker sends are the others; these are the only commands flush.lua / transition.lua
    // call (and this test issues no plain HGET `load`).
    const IN_SCRIPT: [&str; 12] = ["hmget", "hget", "hset", "hincrby", "pexpire", "hgetall", "exists", "hdel", "publish", "time", "get", "set"];
    let (mut calls, mut inside) = (0u64, 0u64);
    let (mut lines, mut inside_lines) = (Vec::new(), Vec::new());
    for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
        let name = line.split(':').next().unwrap_or("").trim_start_matches("cmdstat_");
        let n: u64 = line.split("calls=").nth(1).and_then(|s| s.split(',').next()).and_then(|s| s.parse().ok()).unwrap_or(0);
        if IN_SCRIPT.contains(&name) {
            inside += n;
            inside_lines.push(format!("{name}={n}"));
        } else if !name.starts_with("info") && !name.starts_with("config") {
            // Our own INFO / CONFIG calls are measurement, not breaker traffic.
            calls += n;
            lines.push(format!("{name}={n}"));
        }
    }
    println!("breaker_redis: commands run inside scripts: {inside} ({})", inside_lines.join(" "));
    #[allow(clippy::cast_precision_loss)]
    let per_record = calls as f64 / records as f64;
    println!(
        "breaker_redis: {records} records in {:.2?} ({:.0} rec/s), {flushes} flushes, {calls} redis calls ({}), {per_record:.2e} calls/record",
        start.elapsed(),
        records as f64 / start.elapsed().as_secs_f64(),
        lines.join(" ")
    );
    assert!(records >= 100_000 * secs * 9 / 10, "the loop could not keep 100k rec/s: {records}");
    assert!(per_record <= 1e-4, "{per_record:.2e} calls/record");
}

/// The Lua bucket selection and probe accounting agree with the in-memory store's, for both
/// window kinds, on a fake clock (the Redis store's test-only caller clock takes `now` from the
/// request, as the memory store does; a gate's always judges at Redis's clock).
#[tokio::test]
async fn redis_and_memory_stores_agree() {
    use breaker::{FlushRequest, MemoryStore, ProbeReport, Reason};
    let Some(url) = e2e::redis_url() else { return };
    let t0: i64 = 1_704_067_200_000;
    let windows = [
        WindowConfig::Time { length: Duration::from_secs(10), bucket: Duration::from_secs(1) },
        WindowConfig::Count { records: 100, bucket: Duration::from_secs(1), max_age: Duration::from_secs(20) },
    ];
    for window in windows {
        let prefix = e2e::unique_name("breaker-parity");
        let redis = RedisStore::new(redis_config(&url, &prefix), window.clone(), &rules()).expect("store").with_caller_clock_for_tests();
        let memory = MemoryStore::new(window.clone(), &rules());
        let initial = BreakerState::initial(t0 + 500);
        let at = |records: u64, nulls: u64, ms: i64| WindowState {
            records,
            accumulators: vec![
                Accumulator::Count { hits: nulls, total: records },
                Accumulator::Newest { ms: (records > 0).then_some(ms) },
            ],
        };
        // (offset ms, records, nulls): several per bucket, gaps, a late (older) bucket.
        let (mut max_records, mut granted) = (0u64, 0u64);
        let plan = [(0, 30, 1), (400, 10, 0), (1_200, 40, 4), (3_000, 25, 0), (2_900, 5, 5), (7_000, 60, 3), (12_500, 20, 2), (25_000, 0, 0)];
        for (i, (dt, records, nulls)) in plan.into_iter().enumerate() {
            let now = t0 + dt;
            let d = at(records, nulls, now - 100);
            let req = FlushRequest {
                now,
                replica: "r0",
                instance: "i0",
                seq: i as u64 + 1,
                delta: &d,
                generation: None,
                probe: ProbeReport { epoch: 0, used: 0, window: &empty(), request: 0 },
                initial: &initial,
            };
            let from_redis = redis.flush(&req).await.expect("redis flush");
            let from_memory = memory.flush(&req).await.expect("memory flush");
            assert_eq!(from_redis, from_memory, "{window:?} step {i}");
            max_records = max_records.max(from_redis.window.records);
        }
        // Half-open probe accounting: two replicas claiming from one budget.
        let half = BreakerState { mode: Mode::HalfOpen, epoch: 2, probe_budget: 30, reason: Reason::CooledDown, ..initial.clone() };
        for store in [&redis as &dyn ErasedTransition, &memory] {
            store.cas(1, half.clone()).await;
        }
        let steps = [("a", 0, 20), ("b", 0, 20), ("a", 12, 20), ("b", 10, 5), ("a", 8, 30)];
        for (i, (replica, used, request)) in steps.into_iter().enumerate() {
            let now = t0 + 30_000 + i as i64 * 250;
            let probe = at(used, 0, now);
            let req = FlushRequest {
                now,
                replica,
                instance: replica,
                seq: i as u64 + 1,
                delta: &empty(),
                generation: None,
                probe: ProbeReport { epoch: 2, used, window: &probe, request },
                initial: &initial,
            };
            let from_redis = redis.flush(&req).await.expect("redis flush");
            let from_memory = memory.flush(&req).await.expect("memory flush");
            assert_eq!(from_redis, from_memory, "{window:?} probe step {i}");
            granted += from_redis.probe_grant;
        }
        assert!(max_records >= 100 && granted >= 30, "the plan exercised nothing: {max_records} {granted}");
    }
}

/// A close starts the window afresh in both stores: counts merged before it, the fault that
/// opened the breaker, never count again, not even those in the bucket that holds the close.
/// (They did: a close re-tripped on the old fault a flush later.)
#[tokio::test]
async fn a_close_starts_a_clean_window_even_inside_its_bucket() {
    use breaker::{FlushRequest, MemoryStore, ProbeReport};
    let Some(url) = e2e::redis_url() else { return };
    let t0: i64 = 1_704_067_200_000; // a bucket boundary
    let window = WindowConfig::Time { length: Duration::from_secs(10), bucket: Duration::from_secs(1) };
    let prefix = e2e::unique_name("breaker-clean-close");
    let redis = RedisStore::new(redis_config(&url, &prefix), window.clone(), &rules()).expect("store").with_caller_clock_for_tests();
    let memory = MemoryStore::new(window, &rules());
    // The window starts with the first flush (a Redis store seeds it at that flush's time).
    let initial = BreakerState::initial(t0 + 300);
    let at = |records: u64, nulls: u64, ms: i64| WindowState {
        records,
        accumulators: vec![Accumulator::Count { hits: nulls, total: records }, Accumulator::Newest { ms: (records > 0).then_some(ms) }],
    };
    let seq = std::sync::atomic::AtomicU64::new(0);
    let flush = |now: i64, d: WindowState, generation: Option<i64>| {
        let (redis, memory, initial, seq) = (&redis, &memory, &initial, &seq);
        async move {
            let e = empty();
            let seq = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let req = FlushRequest { now, replica: "r0", instance: "i0", seq, delta: &d, generation, probe: ProbeReport { epoch: 0, used: 0, window: &e, request: 0 }, initial };
            let r = redis.flush(&req).await.expect("redis flush");
            let m = memory.flush(&req).await.expect("memory flush");
            assert_eq!(r, m, "the stores agree at {}", now - t0);
            r.window
        }
    };
    // The fault: 150 records, 100 of them null, in the bucket [t0, t0 + 1 s).
    assert_eq!(flush(t0 + 300, at(150, 100, t0 + 250), None).await.records, 150);
    // The breaker closes at t0 + 700, inside that bucket: a new window starts there.
    let closed = BreakerState { epoch: initial.epoch + 1, since_ms: t0 + 700, window_from_ms: t0 + 700, ..initial.clone() };
    for store in [&redis as &dyn ErasedTransition, &memory] {
        store.cas(initial.epoch, closed.clone()).await;
    }
    // Good records after the close: the window holds them and nothing of the fault.
    let w = flush(t0 + 800, at(10, 0, t0 + 780), Some(t0 + 700)).await;
    assert_eq!(w.records, 10, "the fault's records still count after the close: {w:?}");
    assert_eq!(w.accumulators[0], Accumulator::Count { hits: 0, total: 10 });
    // Another replica judged 40 faulty records before it learned of the close and flushes
    // them after it: they belong to the window the close ended.
    let w = flush(t0 + 900, at(40, 40, t0 + 650), Some(t0 + 300)).await;
    assert_eq!(w.records, 10, "a delta of the old generation entered the new window: {w:?}");
    let w = flush(t0 + 1_300, at(20, 1, t0 + 1_250), Some(t0 + 700)).await;
    assert_eq!((w.records, &w.accumulators[0]), (30, &Accumulator::Count { hits: 1, total: 30 }));
}

/// Lets the parity test drive both stores' transition through one loop.
trait ErasedTransition {
    fn cas<'a>(&'a self, expected: u64, next: BreakerState) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
}

impl<S: Store> ErasedTransition for S {
    fn cas<'a>(&'a self, expected: u64, next: BreakerState) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> {
        Box::pin(async move {
            match self.transition(expected, &next).await.expect("transition") {
                Cas::Applied(_) => {}
                Cas::Refused(cur) => panic!("refused: {cur:?}"),
            }
        })
    }
}

/// A replica that starts while Redis is down runs on local state and joins the shared state
/// once Redis comes up, without being restarted. Until it has read the shared state it cannot
/// know whether a manual override is set there, so under `local` it diverts meanwhile.
#[tokio::test]
async fn a_replica_started_before_redis_joins_when_it_comes_up() {
    if e2e::redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let mut server = PrivateRedis { child: None, port };
    let prefix = e2e::unique_name("breaker-late-redis");
    let rs = replicas(&server.url(), &prefix, 1);
    let started = Instant::now();
    let rep = rs[0].flush(&delta(10, 0), &empty(), now_ms()).await.expect("never fails");
    assert_eq!((rep.source, rep.state.mode), (Source::Local, Mode::Closed));
    assert!(started.elapsed() < Duration::from_secs(2), "a down Redis must not stall a flush: {:?}", started.elapsed());
    assert_eq!(rs[0].route(), Route::Divert, "the shared state was never read");
    if let Err(e) = server.spawn() {
        assert!(!e2e::services_required(), "cannot start redis-server ({e})");
        eprintln!("SKIP: redis-server not runnable ({e})");
        return;
    }
    server.ready().await;
    e2e::wait_until("the replica flushes to the shared store", e2e::DEFAULT_TIMEOUT, || async {
        let rep = rs[0].flush(&delta(10, 0), &empty(), now_ms()).await.ok()?;
        (rep.source == Source::Shared).then_some(())
    })
    .await
    .expect("joined");
    assert!(!rs[0].degraded());
    assert_eq!(rs[0].route(), Route::Pass, "the shared breaker is closed");
}

#[tokio::test]
async fn replicas_on_different_rule_lists_share_the_state_but_not_the_window() {
    let Some(url) = e2e::redis_url() else { return };
    let prefix = e2e::unique_name("breaker-relayout");
    let rs = replicas(&url, &prefix, 2);
    subscribed(&rs).await;
    // Replica 0 moves to a contract version without the no-data rule (a rollout in progress).
    let fewer = vec![rules().remove(0)];
    assert!(rs[0].reconfigure(fewer.clone()).await, "other rule list: new layout");
    let narrow = |records: u64, nulls: u64| WindowState { records, accumulators: vec![Accumulator::Count { hits: nulls, total: records }] };
    let a = rs[0].flush(&narrow(60, 0), &WindowState::new(&fewer), now_ms()).await.expect("new layout flushes");
    let b = rs[1].flush(&delta(70, 0), &empty(), now_ms()).await.expect("old layout flushes");
    assert_eq!((a.records, b.records), (60, 70), "each layout's window holds only its own replicas' records");
    // A breach on the old layout opens the breaker for both: the state is shared.
    let t = rs[1].flush(&delta(100, 20), &empty(), now_ms()).await.expect("flush");
    assert_eq!(t.state.mode, Mode::Open);
    let seen = rs[0].flush(&narrow(1, 0), &WindowState::new(&fewer), now_ms()).await.expect("flush");
    assert_eq!(seen.state.mode, Mode::Open, "replica 0 follows the shared state");
    let mut conn = e2e::redis_connection(&url).await.expect("redis");
    e2e::redis_delete_prefix(&mut conn, &prefix).await.expect("cleanup");
}
