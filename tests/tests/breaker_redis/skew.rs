//! Replica clocks and retried flushes: the shared window is on Redis's clock, and each flush
//! of an instance counts once.

use super::*;

/// One hour, the skew of the replicas below.
const HOUR: i64 = 3_600_000;

/// `records` records (`nulls` with a null dep_time) that arrived at `at` on their replica's
/// clock.
fn delta_at(records: u64, nulls: u64, at: i64) -> WindowState {
    WindowState { records, accumulators: vec![Accumulator::Count { hits: nulls, total: records }, Accumulator::Newest { ms: (records > 0).then_some(at) }] }
}

/// The `no_data` rule's value (seconds since the newest arrival) in a flush report.
fn no_data_age(r: &breaker::FlushReport) -> Option<f64> {
    r.results.iter().find(|x| x.id == "no_data").and_then(|x| x.value)
}

/// Replica clocks an hour off decide nothing: the shared window is stamped with Redis's clock.
/// A fast replica that seeds the store does not make the window look empty to a correct one
/// (it did: the window started an hour ahead), nor push `noData` an hour into the future; its
/// breach trips the breaker for both, at the store's time. A slow replica's arrivals do not make
/// a correct replica see an hour of silence (a false `noData` trip).
#[tokio::test]
async fn replicas_an_hour_off_can_neither_hide_nor_fake_a_breach() {
    let Some(url) = e2e::redis_url() else { return };
    // Fast seeds, correct follows.
    let prefix = e2e::unique_name("breaker-skew-fast");
    let rs = replicas(&url, &prefix, 2);
    let (right, fast) = (&rs[0], &rs[1]);
    let t = now_ms();
    let f = fast.flush(&delta_at(60, 0, t + HOUR), &empty(), t + HOUR).await.expect("flush");
    assert_eq!((f.source, f.records), (Source::Shared, 60));
    let r = right.flush(&delta_at(60, 0, t), &empty(), now_ms()).await.expect("flush");
    assert_eq!(r.records, 120, "the correct replica sees the fast one's records");
    let age = no_data_age(&r).expect("noData judged");
    assert!((-10.0..10.0).contains(&age), "the fast replica's arrivals are {age} s old on the store's clock");
    // The fast replica flushes a breach: 60 of 120 more records null.
    let f = fast.flush(&delta_at(120, 60, now_ms() + HOUR), &empty(), now_ms() + HOUR).await.expect("flush");
    let opened = f.transition.expect("the fast replica's breach trips");
    assert_eq!((opened.to.mode, f.records), (Mode::Open, 240));
    assert!((opened.to.since_ms - now_ms()).abs() < 10_000, "opened at {} on a store clock {} away from real time", opened.to.since_ms, opened.to.since_ms - now_ms());
    let r = right.flush(&empty(), &empty(), now_ms()).await.expect("flush");
    assert_eq!((r.state.mode, r.records), (Mode::Open, 240), "the breach counts for the correct replica too");
    assert_eq!(right.route(), Route::Divert);

    // Slow seeds and is the only one receiving records; correct has none of its own.
    let prefix = e2e::unique_name("breaker-skew-slow");
    let rs = replicas(&url, &prefix, 2);
    let (right, slow) = (&rs[0], &rs[1]);
    let t = now_ms();
    let s = slow.flush(&delta_at(80, 0, t - HOUR), &empty(), t - HOUR).await.expect("flush");
    assert_eq!((s.records, s.state.mode), (80, Mode::Closed));
    let r = right.flush(&empty(), &empty(), now_ms()).await.expect("flush");
    assert_eq!(r.records, 80, "the slow replica's records are in the window");
    let age = no_data_age(&r).expect("noData judged");
    assert!((0.0..10.0).contains(&age), "records arrived just now, yet noData says {age} s ago");
    assert_eq!((r.state.mode, r.transition.is_none()), (Mode::Closed, true), "a false trip: {:?}", r.state.reason);
}

/// The Redis store applies each flush number of an instance once: the same flush sent again
/// (what a retry after a lost reply sends) merges nothing more, but still returns the window.
/// Numbers are per instance: another instance's flush 1 counts.
#[tokio::test]
async fn a_flush_sent_twice_is_counted_once() {
    use breaker::{FlushRequest, ProbeReport};
    let Some(url) = e2e::redis_url() else { return };
    let prefix = e2e::unique_name("breaker-seq");
    let store = RedisStore::new(redis_config(&url, &prefix), config().window, &rules()).expect("store");
    let initial = BreakerState::initial(now_ms());
    let (d, e) = (delta(50, 0), empty());
    let req = |instance, seq| FlushRequest {
        now: now_ms(),
        replica: "r0",
        instance,
        seq,
        delta: &d,
        generation: None,
        probe: ProbeReport { epoch: 0, used: 0, window: &e, request: 0 },
        initial: &initial,
    };
    let mut seen = Vec::new();
    for (instance, seq) in [("a", 1), ("a", 1), ("a", 2), ("a", 1), ("b", 1)] {
        seen.push(store.flush(&req(instance, seq)).await.expect("flush").window.records);
    }
    assert_eq!(seen, [50, 50, 100, 100, 150]);
    assert_eq!(store.duplicate_flushes(), 2);
    let mut conn = e2e::redis_connection(&url).await.expect("redis");
    e2e::redis_delete_prefix(&mut conn, &prefix).await.expect("cleanup");
}

/// A TCP proxy in front of Redis that, when told to, swallows the next reply from the server
/// and closes that connection: the command ran, the client never hears of it.
struct ReplyCutter {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl ReplyCutter {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&cut);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let flag = std::sync::Arc::clone(&flag);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if flag.swap(false, SeqCst) {
                            break; // the reply is dropped with the connection
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self { port, cut, accept }
    }
}

impl Drop for ReplyCutter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The store's own retry (a call whose connection dropped is sent once more) after Redis ran
/// the flush and its reply was lost: the delta is counted once. It was counted twice.
#[tokio::test]
async fn a_flush_retried_after_its_reply_was_lost_is_counted_once() {
    use std::sync::atomic::Ordering::SeqCst;
    let Some(url) = e2e::redis_url() else { return };
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
    let proxy = ReplyCutter::start(upstream).await;
    let prefix = e2e::unique_name("breaker-retry");
    let b = &replicas(&format!("redis://127.0.0.1:{}", proxy.port), &prefix, 1)[0];
    subscribed(std::slice::from_ref(b)).await;
    let first = b.flush(&delta(50, 0), &empty(), now_ms()).await.expect("flush");
    assert_eq!((first.source, first.records), (Source::Shared, 50));
    let calls = b.store().calls();
    proxy.cut.store(true, SeqCst);
    let second = b.flush(&delta(50, 0), &empty(), now_ms()).await.expect("flush");
    assert!(!proxy.cut.load(SeqCst), "no reply was cut");
    assert_eq!(b.store().calls() - calls, 2, "the flush was sent twice");
    assert_eq!((second.source, second.records), (Source::Shared, 100), "the retried flush counted {} records", second.records.saturating_sub(50));
    assert_eq!(b.store().duplicate_flushes(), 1);
    let mut conn = e2e::redis_connection(&url).await.expect("redis");
    e2e::redis_delete_prefix(&mut conn, &prefix).await.expect("cleanup");
}
