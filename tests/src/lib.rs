//! Shared helpers for contract-gate's end-to-end tests against real Kafka and
//! Redis.
//!
//! The services come from `scripts/test.sh` (or, by hand,
//! `eval "$(scripts/services.sh up)"`), which exports:
//!
//! - [`ENV_KAFKA_BROKERS`] (`CG_TEST_KAFKA_BROKERS`), e.g. `127.0.0.1:19092`
//! - [`ENV_REDIS_URL`] (`CG_TEST_REDIS_URL`), e.g. `redis://127.0.0.1:16379`
//! - [`ENV_PYTHON`] (`CG_TEST_PYTHON`): a Python interpreter with
//!   `tests/python/requirements.txt` installed (`scripts/services.sh python`)
//!
//! A missing service variable fails the test: a test that cannot run its
//! service has tested nothing. [`ENV_SKIP_SERVICES`] (`CG_SKIP_SERVICES=1`) is
//! the explicit opt-out for a quick `cargo test` without services: such tests
//! then return early with a `skipped:` line on stderr.
//!
//! A test starts like this:
//!
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
//! let topic = e2e::unique_name("my-test");
//! e2e::create_topic(&brokers, &topic, 3).await?;
//! # Ok(()) }
//! ```
//!
//! Every test gets unique topic, group, key and channel names from
//! [`unique_name`], so tests run in parallel against the same services and
//! re-runs never see old data.

pub mod broker;
pub mod drill_rig;
pub mod schema_stub;
pub mod sidecar;

use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::Message as _;

/// Bootstrap servers of the test Kafka broker (`host:port[,host:port]`).
pub const ENV_KAFKA_BROKERS: &str = "CG_TEST_KAFKA_BROKERS";
/// URL of the test Redis server (`redis://host:port`).
pub const ENV_REDIS_URL: &str = "CG_TEST_REDIS_URL";
/// A Python interpreter with `tests/python/requirements.txt` installed.
pub const ENV_PYTHON: &str = "CG_TEST_PYTHON";
/// Former opt-in to failing on a missing service, now the default; still accepted.
pub const ENV_REQUIRE_SERVICES: &str = "CG_REQUIRE_SERVICES";
/// When `1`, a test whose service variable is missing skips (and says so) instead of failing.
pub const ENV_SKIP_SERVICES: &str = "CG_SKIP_SERVICES";

/// A generous default for waits in tests: a 2-core CI machine running the
/// whole workspace's tests at once can be slow, and a wait that succeeds
/// returns as soon as its condition holds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ env ----

/// When set, an in-process gate's logs go to the test's output, filtered by its value
/// (`EnvFilter` syntax, e.g. `gate=debug`): what a flaky run did shows up with `--nocapture`.
pub const ENV_TEST_LOG: &str = "CG_TEST_LOG";

/// Logs of in-process gates to the test output when [`ENV_TEST_LOG`] is set; nothing
/// otherwise (a quiet suite). Once per test binary; later calls do nothing.
pub fn test_log() {
    let Ok(filter) = std::env::var(ENV_TEST_LOG) else { return };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another test of the binary may have installed it already: that one serves.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// False only with `CG_SKIP_SERVICES=1` (and not `CG_REQUIRE_SERVICES=1`): by default a test
/// whose service is missing fails.
pub fn services_required() -> bool {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| v.trim() == "1");
    set(ENV_REQUIRE_SERVICES) || !set(ENV_SKIP_SERVICES)
}

/// Kafka bootstrap servers, or `None` (after printing a skip line on stderr)
/// when [`ENV_KAFKA_BROKERS`] is unset and services are not required.
///
/// # Panics
/// When the variable is unset and [`services_required`] is true.
pub fn kafka_brokers() -> Option<String> {
    // Every Kafka test starts here: the one place to turn the gate's logs on for all of them.
    test_log();
    service_env(ENV_KAFKA_BROKERS, "Kafka")
}

/// Redis URL, or `None` (after printing a skip line on stderr) when
/// [`ENV_REDIS_URL`] is unset and services are not required.
///
/// # Panics
/// When the variable is unset and [`services_required`] is true.
pub fn redis_url() -> Option<String> {
    service_env(ENV_REDIS_URL, "Redis")
}

/// The tests' Python interpreter (with Confluent's client installed), or `None`
/// (after printing a skip line on stderr) when [`ENV_PYTHON`] is unset and
/// services are not required.
///
/// # Panics
/// When the variable is unset and [`services_required`] is true, or when it
/// names no file.
pub fn python() -> Option<String> {
    let py = service_env(ENV_PYTHON, "Python venv (scripts/services.sh python)")?;
    assert!(
        std::path::Path::new(&py).is_file(),
        "{ENV_PYTHON}={py} is not a file; run `eval \"$(scripts/services.sh python)\"`"
    );
    Some(py)
}

/// Path of a script under `tests/python/`.
pub fn python_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python").join(name)
}

/// Runs `script` (in tests/python) with `python`; its last stdout line is a JSON summary.
///
/// # Errors
/// The script failed (its output is in the error) or its last line is not JSON.
pub async fn run_python(python: &str, script: &str, args: Vec<String>) -> anyhow::Result<serde_json::Value> {
    let (python, script) = (python.to_string(), python_script(script));
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(python).arg("-W").arg("ignore").arg(script).args(args).output()).await??;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(out.status.success(), "the Python script failed ({}):\n{stderr}\n{stdout}", out.status);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| anyhow::anyhow!("summary line {last:?}: {e}\n{stderr}"))
}

/// A variable that `scripts/services.sh up` prints for a secured endpoint (TLS, SASL), with
/// the same rule as [`kafka_brokers`]: missing fails the test unless services may be skipped.
///
/// # Panics
/// When the variable is unset and [`services_required`] is true.
pub fn secured_env(var: &str) -> Option<String> {
    service_env(var, "secured endpoint from scripts/services.sh up")
}

fn service_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ if services_required() => panic!(
            "{var} is not set: this test needs a real {what}; run it through scripts/test.sh \
             (or eval \"$(scripts/services.sh up)\" first), or set {ENV_SKIP_SERVICES}=1 to skip it"
        ),
        _ => {
            let test = std::thread::current()
                .name()
                .unwrap_or("<unnamed test>")
                .to_owned();
            // Straight to the stderr handle: libtest captures eprintln! of
            // passing tests, and a skip must stay visible.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test}: {var} not set and {ENV_SKIP_SERVICES}=1; run scripts/test.sh"
            );
            None
        }
    }
}

/// The `contract-gate` binary next to this test's target directory, freshly built (or
/// `CG_GATE_BIN`).
///
/// # Errors
/// The build failed or left no binary.
pub fn gate_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("CG_GATE_BIN") {
        return Ok(std::path::PathBuf::from(p));
    }
    // <target>/<profile>/deps/serve_resilience-<hash>
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("test binary has no <target>/<profile> ancestor")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "gate", "--bin", "contract-gate"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .context("running cargo build -p gate --bin contract-gate")?;
    anyhow::ensure!(
        status.success(),
        "cargo build -p gate --bin contract-gate failed: {status}"
    );
    let bin = profile_dir.join(format!("contract-gate{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        bin.is_file(),
        "{} does not exist after the build",
        bin.display()
    );
    Ok(bin)
}


// ---------------------------------------------------------------- names ----

static NAME_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test, test process or earlier run uses: usable as a Kafka
/// topic or group id, a Redis key prefix or a channel name.
///
/// Shape: `cg-test-<prefix>-<pid>-<micros since epoch>-<counter>`. Characters
/// of `prefix` outside `[A-Za-z0-9._-]` (what Kafka allows in topic names)
/// become `_`, and the result stays well under Kafka's 249-character limit.
pub fn unique_name(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("cg-test-{clean}-{}-{micros}-{n}", std::process::id())
}

// ------------------------------------------------------------- waiting -----

/// Polls `check` every 50 ms until it yields `Some(value)` and returns the
/// value; fails with a message naming `what` once `timeout` has passed. Use it
/// instead of sleeping for a guessed time.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- Kafka ----

/// Base client settings for the test broker. Short timeouts so a broken
/// broker fails a test in seconds rather than minutes.
pub fn kafka_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "contract-gate-e2e")
        .set("socket.timeout.ms", "10000")
        // Tests create topics right before using them; refresh metadata
        // quickly when a partition's leader is not known yet.
        .set("topic.metadata.refresh.interval.ms", "1000");
    c
}

/// Producer settings: idempotent (so retries keep per-partition order),
/// `acks=all`, and a delivery timeout that fails fast.
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = kafka_config(brokers);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    c
}

/// Consumer settings for group `group`: read from the earliest offset, no
/// auto-commit (tests commit explicitly when they mean to), `read_committed`.
pub fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut c = kafka_config(brokers);
    c.set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_committed")
        // The broker's minimum; a consumer that dies in a test then leaves
        // its group quickly.
        .set("session.timeout.ms", "6000");
    c
}

/// A [`FutureProducer`] with [`producer_config`].
pub fn producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    producer_config(brokers)
        .create()
        .context("creating Kafka producer")
}

/// A [`StreamConsumer`] in group `group` with [`consumer_config`]; subscribe or
/// assign it yourself.
///
/// Close it with [`close_consumer`], not by dropping it on the async runtime:
/// a group consumer's drop blocks while it leaves the group. Drop any
/// `TopicPartitionList` obtained from it first (a live list makes the drop
/// hang).
pub fn consumer(brokers: &str, group: &str) -> anyhow::Result<StreamConsumer> {
    consumer_config(brokers, group)
        .create()
        .context("creating Kafka consumer")
}

/// Drops `consumer` on a blocking thread (leaving the group takes a moment and
/// must not stall the async runtime).
pub async fn close_consumer(consumer: StreamConsumer) {
    // A join error means the drop panicked; there is nothing to recover.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

/// An admin client for the test broker.
pub fn admin(brokers: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    kafka_config(brokers)
        .create()
        .context("creating Kafka admin client")
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and
/// waits until every partition has a leader, so producing right after works.
/// An already existing topic is an error: tests use [`unique_name`].
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic_with(brokers, topic, partitions, &[]).await
}

/// Creates a topic with topic-level configs (e.g. `max.message.bytes`) and waits until
/// metadata shows it.
///
/// # Errors
/// Admin request failed or the topic did not appear.
pub async fn create_topic_with(brokers: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> anyhow::Result<()> {
    let admin = admin(brokers)?;
    let new = configs.iter().fold(NewTopic::new(topic, partitions, TopicReplication::Fixed(1)), |t, (k, v)| t.set(k, v));
    let opts = AdminOptions::new().operation_timeout(Some(DEFAULT_TIMEOUT));
    let results = admin
        .create_topics([&new], &opts)
        .await
        .with_context(|| format!("create topic {topic}"))?;
    for r in results {
        if let Err((name, code)) = r {
            bail!("create topic {name}: {code}");
        }
    }
    wait_for_topic(brokers, topic, partitions, DEFAULT_TIMEOUT).await
}

/// Waits until the broker's metadata shows `topic` with `partitions`
/// partitions, each with a leader.
pub async fn wait_for_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin = Arc::new(admin(brokers)?);
    let want = usize::try_from(partitions).map_err(|_| anyhow!("negative partition count"))?;
    wait_until(
        &format!("topic {topic} has {want} partitions with leaders"),
        timeout,
        || {
            let admin = Arc::clone(&admin);
            async move {
                topic_partition_leaders(admin, None)
                    .await
                    .ok()
                    .and_then(|topics| topics.into_iter().find(|(name, _)| name == topic))
                    .filter(|(_, leaders)| leaders.len() == want && leaders.iter().all(|l| *l >= 0))
                    .map(|_| ())
            }
        },
    )
    .await
}

/// Topic names in the broker's metadata, with each partition's leader id
/// (`-1` when it has none), fetched on a blocking thread.
/// `topic = None` lists all topics without creating any.
pub async fn topic_partition_leaders(
    admin: Arc<AdminClient<DefaultClientContext>>,
    topic: Option<String>,
) -> anyhow::Result<Vec<(String, Vec<i32>)>> {
    tokio::task::spawn_blocking(move || {
        let md = admin
            .inner()
            .fetch_metadata(topic.as_deref(), Duration::from_secs(5))
            .context("fetch Kafka metadata")?;
        Ok(md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let mut parts: Vec<(i32, i32)> = t
                    .partitions()
                    .iter()
                    .map(|p| (p.id(), p.leader()))
                    .collect();
                parts.sort_unstable();
                (
                    t.name().to_owned(),
                    parts.into_iter().map(|(_, l)| l).collect(),
                )
            })
            .collect())
    })
    .await
    .context("metadata task panicked")?
}

/// Receives `n` messages from `consumer` (already subscribed or assigned),
/// failing if they do not all arrive within `timeout`.
pub async fn consume_n(
    consumer: &StreamConsumer,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < n {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "timed out after {timeout:?}: received {} of {n} messages",
                    out.len()
                )
            })?
            .context("consumer error")?;
        out.push(msg.detach());
    }
    Ok(out)
}

/// The value of header `key` on `msg`: `None` when absent, `Some(None)` when
/// present with a null value.
pub fn header<'a>(msg: &'a OwnedMessage, key: &str) -> Option<Option<&'a [u8]>> {
    use rdkafka::message::Headers as _;
    let headers = msg.headers()?;
    headers.iter().find(|h| h.key == key).map(|h| h.value)
}

// ---------------------------------------------------------------- Redis ----

/// A multiplexed async connection to the test Redis (cheap to clone; one per
/// test is plenty).
pub async fn redis_connection(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).with_context(|| format!("bad Redis URL {url}"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to Redis at {url}"))
}

/// A RESP3 connection subscribed to `channels`, and the receiver its pushed
/// messages arrive on (`PushKind::Message`, data `[channel, payload]`).
/// The subscription is confirmed by Redis when this returns, so a message
/// published afterwards is delivered.
pub async fn redis_subscriber(
    url: &str,
    channels: &[&str],
) -> anyhow::Result<(
    redis::aio::MultiplexedConnection,
    tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
)> {
    use redis::IntoConnectionInfo as _;
    let info = url
        .into_connection_info()
        .with_context(|| format!("bad Redis URL {url}"))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))
        .context("building RESP3 Redis client")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("connecting to Redis at {url}"))?;
    conn.subscribe(channels).await.context("SUBSCRIBE")?;
    Ok((conn, rx))
}

/// Deletes every key starting with `prefix` (SCAN + UNLINK, never KEYS/FLUSH,
/// which would disturb tests running beside this one). Returns how many.
pub async fn redis_delete_prefix(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> anyhow::Result<usize> {
    let pattern = format!("{}*", escape_glob(prefix));
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await
            .context("SCAN")?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(conn)
                .await
                .context("UNLINK")?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Escapes Redis glob metacharacters so a prefix matches literally.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How many partitions each member of `group` owns, as the broker sees them (the consumer
/// protocol's assignment: version, then per topic its name and partitions).
///
/// # Errors
/// The group cannot be described, or an assignment does not parse.
pub fn group_assignments(brokers: &str, group: &str) -> anyhow::Result<Vec<usize>> {
    let c: rdkafka::consumer::BaseConsumer = consumer_config(brokers, &unique_name("observer")).create()?;
    let list = rdkafka::consumer::Consumer::fetch_group_list(&c, Some(group), Duration::from_secs(5))?;
    let mut owned = Vec::new();
    for g in list.groups() {
        for m in g.members() {
            owned.push(m.assignment().map_or(Ok(0), partitions_in)?);
        }
    }
    Ok(owned)
}

fn partitions_in(a: &[u8]) -> anyhow::Result<usize> {
    let mut at = 2; // version
    let mut take = |n: usize| -> anyhow::Result<&[u8]> {
        let s = a.get(at..at + n).ok_or_else(|| anyhow::anyhow!("assignment ends at {at}"))?;
        at += n;
        Ok(s)
    };
    let int = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let topics = int(take(4)?);
    let mut n = 0;
    for _ in 0..topics {
        let len = take(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        take(len)?;
        let parts = usize::try_from(int(take(4)?))?;
        take(4 * parts)?;
        n += parts;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_valid_topic_names() {
        let a = unique_name("x y/z");
        let b = unique_name("x y/z");
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.starts_with("cg-test-x_y_z-"), "{n}");
            assert!(n.len() < 249);
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
                "{n}"
            );
        }
        assert!(unique_name(&"p".repeat(500)).len() < 249);
    }

    #[test]
    fn glob_escaping() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
