//! Redis store shared by every gate replica: one `EVALSHA` per replica per flush interval,
//! one more only for the (rare) transitions, and a pub/sub channel announcing transitions.

use super::memory::check_shape;
use super::{Cas, FlushRequest, Layout, Snapshot, Store};
use crate::config::{RedisConfig, WindowConfig};
use crate::error::StoreError;
use crate::state::{BreakerState, Mode};
use contracts::{WindowRule, WindowState};
use futures_util::StreamExt as _;
pub use super::connect::PingFailure;
use super::connect::{Conn, Connector};
use redis::{FromRedisValue, RedisError, Script};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const FLUSH_LUA: &str = include_str!("flush.lua");
const TRANSITION_LUA: &str = include_str!("transition.lua");

/// Breaker state and window buckets in Redis, under `key_prefix`:
/// `<prefix>:state` (hash: epoch, json, mode, from, budget), `<prefix>:b:<tag>:<window
/// start ms>:<bucket start ms>` (hash of summed slots, expiring; the window start is its
/// generation, new after a close or reset), `<prefix>:newest:<tag>` (newest timestamps over all
/// time), `<prefix>:probe:<epoch>` (half-open probe accounting, its window under
/// `<prefix>:probe:<epoch>:<tag>`) and the channel `<prefix>:events`. `<tag>` is
/// [`Layout::tag`] of the rules: the state is shared by every replica whatever contract
/// version it runs, windows only by replicas whose rules mean the same slots.
#[derive(Debug)]
pub struct RedisStore {
    cfg: RedisConfig,
    window: WindowConfig,
    shape: std::sync::RwLock<Arc<Shape>>,
    conn: Conn,
    flush_script: Script,
    transition_script: Script,
    events: watch::Receiver<Option<BreakerState>>,
    listener: tokio::task::AbortHandle,
    subscribed: Arc<AtomicBool>,
    calls: AtomicU64,
    /// Flushes the script had already applied (a retried call whose first reply was lost).
    duplicates: AtomicU64,
    /// Test only: judge at the caller's `now` instead of Redis's clock.
    caller_clock: bool,
}

/// The slot layout of the current rules.
#[derive(Debug)]
struct Shape {
    layout: Layout,
    empty: WindowState,
    tag: String,
}

impl Shape {
    fn new(rules: &[WindowRule]) -> Self {
        Self { layout: Layout::new(rules), empty: WindowState::new(rules), tag: Layout::tag(rules) }
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Connects once and sends `PING`, within the connect and call deadlines, so that startup can
/// tell a wrong setting from an outage. With Sentinel, the master is looked up first.
///
/// # Errors
/// A [`PingFailure`] with the client's message.
pub async fn ping(cfg: &RedisConfig) -> Result<(), PingFailure> {
    let connector = Connector::new(cfg).map_err(|e| PingFailure::classify(&e))?;
    connector.ping(cfg).await
}

impl RedisStore {
    /// A store for a contract's window rules. Does not wait for Redis: if it is down, calls
    /// fail (and the breaker falls back) until it comes up. Must run inside a Tokio runtime.
    ///
    /// # Errors
    /// Invalid configuration or URL only.
    pub fn new(cfg: RedisConfig, window: WindowConfig, rules: &[WindowRule]) -> Result<Self, StoreError> {
        cfg.validate()?;
        window.validate()?;
        let redis_err = |source| StoreError::Redis { op: "connect", prefix: cfg.key_prefix.clone(), source };
        let connector = Connector::new(&cfg).map_err(redis_err)?;
        let conn = connector.connection(&cfg).map_err(redis_err)?;
        let (tx, events) = watch::channel(None);
        let subscribed = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn(listen(
            connector,
            Arc::clone(&subscribed),
            format!("{}:events", cfg.key_prefix),
            tx,
            cfg.connect_timeout,
            cfg.reconnect_min,
            cfg.reconnect_max,
        ))
        .abort_handle();
        Ok(Self {
            shape: std::sync::RwLock::new(Arc::new(Shape::new(rules))),
            cfg,
            window,
            conn,
            flush_script: Script::new(FLUSH_LUA),
            transition_script: Script::new(TRANSITION_LUA),
            events,
            listener,
            subscribed,
            calls: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            caller_clock: false,
        })
    }

    /// Redis calls this store has issued (attempts, retries included; pub/sub excluded).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    /// Flushes the store recognised as already applied (a call retried after its reply was
    /// lost) and did not count again.
    #[must_use]
    pub fn duplicate_flushes(&self) -> u64 {
        self.duplicates.load(Relaxed)
    }

    /// Test only: the script judges at each request's `now` instead of Redis's clock, so that
    /// tests can drive it on a fake clock next to the memory store. Never in a gate: replica
    /// clocks would decide the shared window again.
    #[doc(hidden)]
    #[must_use]
    pub fn with_caller_clock_for_tests(mut self) -> Self {
        self.caller_clock = true;
        self
    }

    /// True while the events subscription is established (for `/ready` details; a breaker
    /// works without it, learning transitions at its next flush instead).
    #[must_use]
    pub fn events_subscribed(&self) -> bool {
        self.subscribed.load(Relaxed)
    }

    /// The key prefix.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.cfg.key_prefix
    }

    /// Runs `make` with a deadline, retrying once on a dropped connection: the connection
    /// manager reports the drop on the first call and reconnects on the next.
    async fn call<T, F, Fut>(&self, op: &'static str, make: F) -> Result<T, StoreError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let mut last = None;
        for attempt in 0..2 {
            self.calls.fetch_add(1, Relaxed);
            match tokio::time::timeout(self.cfg.op_timeout, make(self.conn.clone())).await {
                Err(_) => {
                    return Err(StoreError::Timeout {
                        op,
                        prefix: self.cfg.key_prefix.clone(),
                        after: self.cfg.op_timeout,
                    })
                }
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => {
                    let retry = attempt == 0 && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error());
                    debug!(op, prefix = %self.cfg.key_prefix, error = %e, retry, "redis call failed");
                    last = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        let source = last.unwrap_or_else(|| RedisError::from((redis::ErrorKind::Io, "no attempt made")));
        Err(StoreError::Redis { op, prefix: self.cfg.key_prefix.clone(), source })
    }

    fn corrupt(&self, what: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { what, prefix: self.cfg.key_prefix.clone(), detail: detail.into() }
    }

    fn parse_state(&self, json: &str) -> Result<BreakerState, StoreError> {
        serde_json::from_str(json).map_err(|e| self.corrupt("state", e.to_string()))
    }
}

fn json_of(state: &BreakerState) -> String {
    // BreakerState has only plain fields; serialising it cannot fail.
    serde_json::to_string(state).unwrap_or_default()
}

async fn invoke<T: FromRedisValue>(
    script: &Script,
    key: &str,
    args: &[String],
    mut conn: Conn,
) -> Result<T, RedisError> {
    let mut inv = script.key(key);
    for a in args {
        inv.arg(a);
    }
    inv.invoke_async(&mut conn).await
}

impl Store for RedisStore {
    async fn flush(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        let shape = Arc::clone(&self.shape.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        check_shape(&shape.empty, req.delta, "delta")?;
        check_shape(&shape.empty, req.probe.window, "probe")?;
        let (kind, count) = match self.window {
            WindowConfig::Time { .. } => ("t", 0),
            WindowConfig::Count { records, .. } => ("c", records),
        };
        let blank = |w: &WindowState| crate::buckets::is_blank(w);
        // Buckets must outlive the span they can be read in (and a flush number the retries
        // that can follow it: the same, generously).
        let bucket_ttl = self.window.span_ms() + 2 * self.window.bucket_ms() + 10_000;
        let args = [
            req.now.to_string(),
            req.replica.to_owned(),
            kind.to_owned(),
            self.window.bucket_ms().to_string(),
            self.window.span_ms().to_string(),
            count.to_string(),
            shape.layout.ops().to_owned(),
            if blank(req.delta) { String::new() } else { shape.layout.encode(req.delta) },
            json_of(req.initial),
            req.initial.epoch.to_string(),
            req.initial.window_from_ms.to_string(),
            req.probe.epoch.to_string(),
            req.probe.used.to_string(),
            if blank(req.probe.window) { String::new() } else { shape.layout.encode(req.probe.window) },
            req.probe.request.to_string(),
            shape.tag.clone(),
            bucket_ttl.to_string(),
            req.initial.mode.as_str().to_owned(),
            req.initial.probe_budget.to_string(),
            req.generation.map_or_else(String::new, |g| g.to_string()),
            if self.caller_clock { req.now.to_string() } else { String::new() },
            req.instance.to_owned(),
            req.seq.to_string(),
        ];
        // `call` may send these same arguments twice (a dropped connection): the script knows
        // the flush by its number and applies it once.
        let (json, window, warm, probe, grant, from, now, duplicate): (String, String, i64, String, i64, i64, i64, i64) = self
            .call("flush", |c| invoke(&self.flush_script, &self.cfg.key_prefix, &args, c))
            .await?;
        if duplicate == 1 {
            self.duplicates.fetch_add(1, Relaxed);
            debug!(prefix = %self.cfg.key_prefix, seq = req.seq, "flush already applied; not counted again");
        }
        let mut state = self.parse_state(&json)?;
        // The window's start is the store's (a state seeded from an older caller state starts
        // its window at the seeding flush); replicas tag their deltas with it.
        state.window_from_ms = from;
        let window = shape.layout.decode(&window).map_err(|e| self.corrupt("window", e))?;
        let probe = if state.mode == Mode::HalfOpen {
            Some(shape.layout.decode(&probe).map_err(|e| self.corrupt("probe window", e))?)
        } else {
            None
        };
        Ok(Snapshot {
            now,
            state,
            window,
            warm: warm == 1,
            probe,
            probe_grant: u64::try_from(grant).unwrap_or(0),
        })
    }

    async fn transition(&self, expected_epoch: u64, next: &BreakerState) -> Result<Cas, StoreError> {
        let json = json_of(next);
        let args = [
            expected_epoch.to_string(),
            next.epoch.to_string(),
            json,
            next.mode.as_str().to_owned(),
            next.window_from_ms.to_string(),
            next.probe_budget.to_string(),
        ];
        let (applied, json): (i64, String) = self
            .call("transition", |c| invoke(&self.transition_script, &self.cfg.key_prefix, &args, c))
            .await?;
        if applied == 1 {
            return Ok(Cas::Applied(next.clone()));
        }
        if json.is_empty() {
            return Ok(Cas::Refused(None));
        }
        Ok(Cas::Refused(Some(self.parse_state(&json)?)))
    }

    async fn load(&self) -> Result<Option<BreakerState>, StoreError> {
        let key = format!("{}:state", self.cfg.key_prefix);
        let json: Option<String> = self
            .call("load", |mut c| {
                let key = key.clone();
                async move { redis::cmd("HGET").arg(key).arg("json").query_async(&mut c).await }
            })
            .await?;
        json.map(|j| self.parse_state(&j)).transpose()
    }

    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        self.events.clone()
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn relayout(&self, rules: &[WindowRule]) {
        *self.shape.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Shape::new(rules));
    }
}

/// Follows the events channel for ever, reconnecting with backoff. Only an optimisation: a
/// replica that misses a message learns the state at its next flush anyway.
async fn listen(
    connector: Connector,
    subscribed: Arc<AtomicBool>,
    channel: String,
    tx: watch::Sender<Option<BreakerState>>,
    connect_timeout: Duration,
    min: Duration,
    max: Duration,
) {
    let mut delay = min;
    let mut was_down = false;
    loop {
        // With Sentinel, the master is looked up again at each reconnection: after a failover
        // the subscription moves to the new master.
        let connected = tokio::time::timeout(connect_timeout, async { connector.client().await?.get_async_pubsub().await }).await;
        match connected {
            Ok(Ok(mut pubsub)) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    subscribed.store(true, Relaxed);
                    if was_down {
                        info!(%channel, "breaker events subscription restored");
                    }
                    delay = min;
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let parsed = msg
                            .get_payload::<String>()
                            .ok()
                            .and_then(|p| serde_json::from_str::<BreakerState>(&p).ok());
                        let Some(state) = parsed else {
                            warn!(%channel, "unreadable breaker event ignored");
                            continue;
                        };
                        // The breaker compares epochs; a restarted, empty Redis may legitimately
                        // go back to lower ones, so nothing is filtered here.
                        tx.send_replace(Some(state));
                    }
                    subscribed.store(false, Relaxed);
                    debug!(%channel, "breaker events subscription ended");
                }
                Err(e) => debug!(%channel, error = %e, "subscribe failed"),
            },
            Ok(Err(e)) => debug!(%channel, error = %e, "pub/sub connection failed"),
            Err(_) => debug!(%channel, "pub/sub connection timed out"),
        }
        was_down = true;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max);
    }
}
