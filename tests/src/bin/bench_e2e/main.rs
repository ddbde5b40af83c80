//! End-to-end benchmark of the sidecar against one real Kafka broker (issue 4, "Benchmark
//! harness"):
//!
//! - **P** a plain rdkafka consume → produce passthrough (same consumer and producer settings
//!   as the gate: idempotent producer, `linger.ms=5`, lz4, `fetch.queue.backoff.ms=10`,
//!   offsets stored after the ack);
//! - **G** the gate, in-process through `gate::serve::start` (contract checks, window metrics,
//!   breaker, headers, the last-good index written once per changed key per flush interval);
//! - **O** the gate with its breaker forced open (fallback `hold`).
//!
//! Throughput: each system drains its own copy of a source topic pre-filled with the same N
//! records; the rate is N over the time from the first to the last output record, both stamped
//! by the broker (`message.timestamp.type=LogAppendTime` on the output topics), so startup and
//! group joins are not counted. Two record sizes: ~1 KB (a flights record with a `note`
//! padding field, contract = the flights contract plus that field) and ≤ 200 B (a slim flights
//! record, a minimal contract).
//!
//! Latency: P and G on empty topics, a producer in this process writing at half of P's maximum
//! rate; each record carries its send time in µs (`sent_us`, the first JSON field), and a
//! reader takes arrival − send for every output record after a warm-up.
//!
//! ```text
//! eval "$(scripts/services.sh up kafka)"       # or any broker: --brokers host:port
//! cargo run --release -p e2e --bin bench_e2e -- [--n-large 300000] [--n-small 600000]
//!     [--partitions 3] [--latency-secs 5] [--skip-latency] [--only large|small]
//!     [--broker-pid PID] [--latency-rate R]
//! ```

use anyhow::{bail, ensure, Context as _};
use futures::stream::{FuturesUnordered, StreamExt as _};
use gate::config::Fallback;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

mod shaped;

/// The `contract-gate` binary's allocator (malloc overridden for librdkafka too), for P as
/// for G: both run in this process.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most records awaiting acknowledgement in the passthrough (the gate's own limit).
const MAX_IN_FLIGHT: usize = 50_000;

#[derive(Debug, Clone)]
struct Args {
    brokers: String,
    n_large: usize,
    n_small: usize,
    partitions: i32,
    latency_secs: u64,
    skip_latency: bool,
    only: Option<Size>,
    /// The broker's process id, to report its CPU time per record too.
    broker_pid: Option<u32>,
    /// An extra latency load, records/s.
    latency_rate: Option<u64>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        brokers: std::env::var(e2e::ENV_KAFKA_BROKERS).unwrap_or_default(),
        // Runs of several seconds each: 60,000 1 KB records (one consumer prefetch queue's worth)
        // drained in under 0.3 s, and P's rate then moved between 90k and 320k records/s.
        n_large: 300_000,
        n_small: 600_000,
        partitions: 3,
        latency_secs: 5,
        skip_latency: false,
        only: None,
        broker_pid: None,
        latency_rate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--brokers" => a.brokers = val()?,
            "--n-large" => a.n_large = val()?.parse()?,
            "--n-small" => a.n_small = val()?.parse()?,
            "--partitions" => a.partitions = val()?.parse()?,
            "--latency-secs" => a.latency_secs = val()?.parse()?,
            "--skip-latency" => a.skip_latency = true,
            "--broker-pid" => a.broker_pid = Some(val()?.parse()?),
            "--latency-rate" => a.latency_rate = Some(val()?.parse()?),
            "--only" => {
                a.only = Some(match val()?.as_str() {
                    "large" => Size::Large,
                    "small" => Size::Small,
                    other => bail!("--only large|small, not {other}"),
                });
            }
            "-h" | "--help" => {
                println!("bench_e2e [--brokers B] [--n-large N] [--n-small N] [--partitions P] [--latency-secs S] [--skip-latency] [--only large|small] [--broker-pid PID] [--latency-rate R]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    ensure!(
        !a.brokers.is_empty(),
        "no broker: pass --brokers or set {} (eval \"$(scripts/services.sh up kafka)\")",
        e2e::ENV_KAFKA_BROKERS
    );
    Ok(a)
}

// ----------------------------------------------------------------- data ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    /// ~1 KB: a flights record padded with `note`.
    Large,
    /// ≤ 200 B: a slim flights record.
    Small,
}

impl Size {
    fn name(self) -> &'static str {
        match self {
            Self::Large => "1 KB",
            Self::Small => "<=200 B",
        }
    }

    fn contract_id(self) -> &'static str {
        match self {
            Self::Large => "flights",
            Self::Small => "flights_slim",
        }
    }

    /// The contract: the shipped flights contract plus `sent_us` and `note` (it rejects unknown
    /// fields), or a minimal one for the slim records.
    fn contract(self) -> anyhow::Result<String> {
        match self {
            Self::Large => {
                let base = e2e::sidecar::flights_contract();
                let anchor = "    properties:\n";
                ensure!(
                    base.contains(anchor),
                    "flights contract layout changed: no `properties:` line"
                );
                let extra = "      - name: sent_us\n        logicalType: integer\n        description: Benchmark send time, microseconds since the epoch.\n      - name: note\n        logicalType: string\n        logicalTypeOptions: { maxLength: 2000 }\n";
                Ok(base.replacen(anchor, &format!("{anchor}{extra}"), 1))
            }
            Self::Small => Ok(SLIM_CONTRACT.to_string()),
        }
    }
}

const SLIM_CONTRACT: &str = r#"apiVersion: v3.1.0
kind: DataContract
id: flights_slim
name: Slim departures (benchmark)
version: 1.0.0
status: active
schema:
  - name: flights_slim
    physicalType: topic
    properties:
      - name: sent_us
        logicalType: integer
        required: true
      - name: carrier
        logicalType: string
        required: true
        logicalTypeOptions: { pattern: "^[A-Z0-9]{2}$" }
      - name: flight
        logicalType: integer
        required: true
        logicalTypeOptions: { minimum: 1, maximum: 9999 }
      - name: origin
        logicalType: string
        required: true
        quality:
          - id: origin_nyc
            metric: invalidValues
            arguments:
              validValues: [EWR, JFK, LGA]
            mustBe: 0
      - name: dest
        logicalType: string
        required: true
        logicalTypeOptions: { pattern: "^[A-Z]{3}$" }
      - name: dep_delay
        logicalType: number
        logicalTypeOptions: { minimum: -120, maximum: 1440 }
        quality:
          - id: dep_delay_nulls
            metric: nullValues
            mustBeLessThan: 5
            unit: percent
      - name: time_hour
        logicalType: timestamp
        required: true
"#;

/// Departed flights from the sample: valid under both contracts, no window rule near a limit.
fn flight_pool() -> Vec<serde_json::Value> {
    e2e::sidecar::flights_sample()
        .into_iter()
        .filter(|r| {
            !r["dep_time"].is_null()
                && !r["dep_delay"].is_null()
                && r["tailnum"].as_str().is_some_and(|t| {
                    t.starts_with('N')
                        && (2..=6).contains(&t.len())
                        && t[1..]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() && !c.is_ascii_lowercase())
                })
        })
        .collect()
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// CPU time (user + system) of process `pid` (this process when `None`), in seconds, from
/// `/proc/<pid>/stat` (clock ticks of 10 ms: Linux's USER_HZ).
fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_string(),
        |p| format!("/proc/{p}/stat"),
    );
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / 100.0)
}

/// Record `i` (key = carrier + flight, as in the flights feed): `sent_us` first, a unique
/// `time_hour` (so the uniqueness rule never sees a duplicate), valid under the contract.
fn record(pool: &[serde_json::Value], size: Size, i: usize, sent_us: i64) -> (String, String) {
    use std::fmt::Write as _;
    let r = &pool[i % pool.len()];
    let carrier = r["carrier"].as_str().unwrap_or("UA");
    let key = format!("{carrier}{}", r["flight"]);
    let minutes = i64::try_from(i).unwrap_or(0);
    let time_hour = chrono::DateTime::from_timestamp(1_356_998_400 + minutes * 60, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut s = format!("{{\"sent_us\":{sent_us:>16}");
    match size {
        Size::Small => {
            let _ = write!(s, ",\"carrier\":\"{carrier}\",\"flight\":{},\"origin\":{},\"dest\":{},\"dep_delay\":{},\"time_hour\":\"{time_hour}\"}}", r["flight"], r["origin"], r["dest"], r["dep_delay"]);
        }
        Size::Large => {
            for f in [
                "year",
                "month",
                "day",
                "dep_time",
                "sched_dep_time",
                "dep_delay",
                "arr_time",
                "sched_arr_time",
                "arr_delay",
                "carrier",
                "flight",
                "tailnum",
                "origin",
                "dest",
                "air_time",
                "distance",
                "hour",
                "minute",
            ] {
                let _ = write!(s, ",\"{f}\":{}", r[f]);
            }
            let _ = write!(s, ",\"time_hour\":\"{time_hour}\",\"note\":\"");
            while s.len() < 1024 - 2 {
                s.push(char::from(b'a' + u8::try_from(s.len() % 26).unwrap_or(0)));
            }
            s.push_str("\"}");
        }
    }
    (key, s)
}

/// Writes `us` into the `sent_us` field of a record built by [`record`] (16 characters,
/// right-aligned, right after the opening `{"sent_us":`).
fn stamp(payload: &mut [u8], us: i64) {
    let digits = format!("{us:>16}");
    if let (Some(dst), 16) = (payload.get_mut(11..27), digits.len()) {
        dst.copy_from_slice(digits.as_bytes());
    }
}

/// `sent_us` of a payload this harness wrote (it is always the first field).
fn sent_us_of(payload: &[u8]) -> Option<i64> {
    let rest = payload.strip_prefix(b"{\"sent_us\":")?;
    let end = rest.iter().position(|b| *b == b',' || *b == b'}')?;
    std::str::from_utf8(&rest[..end]).ok()?.trim().parse().ok()
}

// ---------------------------------------------------------------- Kafka ----

fn admin(brokers: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(e2e::kafka_config(brokers).create()?)
}

/// Creates topics with `partitions` partitions; `log_append` stamps records with the broker's
/// append time; `compact` for last-good topics.
async fn create_topics(
    brokers: &str,
    topics: &[(String, bool, bool)],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin = admin(brokers)?;
    let news: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(t, log_append, compact)| {
            let mut nt = NewTopic::new(t, partitions, TopicReplication::Fixed(1));
            if *log_append {
                nt = nt.set("message.timestamp.type", "LogAppendTime");
            }
            if *compact {
                nt = nt.set("cleanup.policy", "compact");
            }
            nt
        })
        .collect();
    for r in admin
        .create_topics(
            &news,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await?
    {
        if let Err((t, e)) = r {
            bail!("create topic {t}: {e}");
        }
    }
    for (t, _, _) in topics {
        e2e::wait_for_topic(brokers, t, partitions, Duration::from_secs(60)).await?;
    }
    Ok(())
}

async fn delete_topics(brokers: &str, topics: &[String]) {
    if let Ok(admin) = admin(brokers) {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
    }
}

/// Producer of the source records (what an upstream service would run).
fn source_producer(brokers: &str, linger_ms: &str) -> anyhow::Result<FutureProducer> {
    Ok(e2e::kafka_config(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms)
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "60000")
        .create()?)
}

/// Writes the same records to every topic in `topics`.
async fn prefill(
    brokers: &str,
    topics: &[String],
    records: &[(String, String)],
) -> anyhow::Result<()> {
    let p = source_producer(brokers, "20")?;
    for t in topics {
        let mut pending = FuturesUnordered::new();
        for (k, v) in records {
            loop {
                match p.send_result(FutureRecord::to(t).key(k).payload(v)) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((e, _))
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                    {
                        if let Some(done) = pending.next().await {
                            done?.map_err(|(e, _)| anyhow::anyhow!("prefill {t}: {e}"))?;
                        }
                    }
                    Err((e, _)) => bail!("prefill {t}: {e}"),
                }
            }
        }
        while let Some(done) = pending.next().await {
            done?.map_err(|(e, _)| anyhow::anyhow!("prefill {t}: {e}"))?;
        }
    }
    Ok(())
}

/// High watermarks summed over `topics`.
fn total_records(client: &BaseConsumer, topics: &[String], partitions: i32) -> anyhow::Result<i64> {
    let mut sum = 0;
    for t in topics {
        for p in 0..partitions {
            sum += client.fetch_watermarks(t, p, Duration::from_secs(10))?.1;
        }
    }
    Ok(sum)
}

/// Waits until `topics` hold `want` records in total.
async fn wait_total(
    brokers: &str,
    topics: &[String],
    partitions: i32,
    want: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client: BaseConsumer = e2e::kafka_config(brokers).create()?;
    let start = Instant::now();
    loop {
        let n = tokio::task::block_in_place(|| total_records(&client, topics, partitions))?;
        if n >= want {
            return Ok(());
        }
        ensure!(
            start.elapsed() < timeout,
            "only {n} of {want} records in {topics:?} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The broker append time (ms) of the first and the last record over every partition of
/// `topics`, and how many records they hold.
fn append_window(
    brokers: &str,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<(i64, i64, i64)> {
    let c: BaseConsumer = e2e::kafka_config(brokers)
        .set("group.id", e2e::unique_name("bench-window"))
        .set("enable.auto.commit", "false")
        .create()?;
    let (mut first, mut last, mut count) = (i64::MAX, i64::MIN, 0);
    for t in topics {
        for p in 0..partitions {
            let (low, high) = c.fetch_watermarks(t, p, Duration::from_secs(10))?;
            if high <= low {
                continue;
            }
            count += high - low;
            for off in [low, high - 1] {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(t, p, Offset::Offset(off))?;
                c.assign(&tpl)?;
                drop(tpl);
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    ensure!(Instant::now() < deadline, "no record at {t}[{p}]@{off}");
                    match c.poll(Duration::from_millis(500)) {
                        Some(Ok(m)) => {
                            let ts = m
                                .timestamp()
                                .to_millis()
                                .context("record without timestamp")?;
                            ensure!(
                                matches!(m.timestamp(), rdkafka::Timestamp::LogAppendTime(_)),
                                "{t} is not LogAppendTime"
                            );
                            first = first.min(ts);
                            last = last.max(ts);
                            break;
                        }
                        Some(Err(e)) => bail!("reading {t}[{p}]@{off}: {e}"),
                        None => {}
                    }
                }
            }
        }
    }
    c.unassign()?;
    Ok((first, last, count))
}

// ------------------------------------------------------------ P: passthrough ----

/// The passthroughs' consumer: the gate's settings (offsets stored by the loop, committed
/// every second; librdkafka's 1 s fetch back-off stalls a drained prefetch queue).
fn passthrough_consumer(brokers: &str, group: &str) -> rdkafka::ClientConfig {
    e2e::kafka_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("fetch.queue.backoff.ms", gate::serve::FETCH_QUEUE_BACKOFF_MS)
        .clone()
}

/// The passthroughs' producer: the gate's producer defaults.
fn passthrough_producer(brokers: &str) -> rdkafka::ClientConfig {
    e2e::kafka_config(brokers).set("enable.idempotence", "true").set("linger.ms", "5").set("compression.type", "lz4").clone()
}

/// Consume → produce to `out` (same partition, key, timestamp), offsets stored after the ack,
/// auto-committed every second — the gate's delivery scheme without the gate, written the
/// plain way (`FutureProducer`). Ps, the gate's output shape without its checks, is in
/// `shaped.rs`.
async fn passthrough(
    brokers: String,
    src: String,
    out: String,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    let consumer: StreamConsumer = passthrough_consumer(&brokers, &format!("{src}-p")).create()?;
    let producer: FutureProducer = passthrough_producer(&brokers).create()?;
    consumer.subscribe(&[&src])?;
    let mut inflight = FuturesUnordered::new();
    // Outputs still unacknowledged per (partition, offset), and the highest offset stored.
    let mut pending: HashMap<(i32, i64), u8> = HashMap::new();
    let mut stored: HashMap<i32, i64> = HashMap::new();
    let mut n = 0u64;
    let mut ack = |done: (
        i32,
        i64,
        Result<
            rdkafka::producer::future_producer::OwnedDeliveryResult,
            futures::channel::oneshot::Canceled,
        >,
    ),
                   consumer: &StreamConsumer,
                   pending: &mut HashMap<(i32, i64), u8>|
     -> anyhow::Result<()> {
        let (p, off, res) = done;
        res.context("delivery dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
        if let Some(left) = pending.get_mut(&(p, off)) {
            *left -= 1;
            if *left > 0 {
                return Ok(());
            }
            pending.remove(&(p, off));
        }
        let s = stored.entry(p).or_insert(-1);
        if off > *s {
            *s = off;
            consumer.store_offset(&src, p, off)?;
        }
        Ok(())
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(done) = inflight.next(), if !inflight.is_empty() => ack(done, &consumer, &mut pending)?,
            msg = consumer.recv(), if inflight.len() < MAX_IN_FLIGHT => {
                let m = msg?;
                let (p, off) = (m.partition(), m.offset());
                let ts = m.timestamp().to_millis();
                let targets: &[&str] = &[&out];
                if targets.len() > 1 {
                    pending.insert((p, off), u8::try_from(targets.len()).unwrap_or(u8::MAX));
                }
                for t in targets {
                    let mut rec = FutureRecord::to(t).payload(m.payload().unwrap_or_default()).partition(p);
                    if let Some(k) = m.key() {
                        rec = rec.key(k);
                    }
                    if let Some(ts) = ts {
                        rec = rec.timestamp(ts);
                    }
                    let f = producer.send_result(rec).map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
                    inflight.push(async move { (p, off, f.await) });
                }
                n += 1;
            }
        }
    }
    while let Some(done) = inflight.next().await {
        ack(done, &consumer, &mut pending)?;
    }
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(n)
}

// ----------------------------------------------------------- G / O: the gate ----

fn gate_config(brokers: &str, contracts: &Path, src: &str, size: Size) -> gate::config::GateConfig {
    let mut cfg = e2e::sidecar::config(brokers, contracts, src, Fallback::Hold, None);
    cfg.bindings[0].contract = size.contract_id().to_string();
    // The shipped example's breaker settings (examples/flights/gate.yaml).
    let b = &mut cfg.bindings[0].breaker;
    b.min_records = 200;
    b.window = breaker::WindowConfig::Time {
        length: Duration::from_secs(30),
        bucket: Duration::from_secs(1),
    };
    b.open_wait = Duration::from_secs(5);
    b.max_open_wait = Duration::from_secs(120);
    b.probe_records = 100;
    b.probe_timeout = Duration::from_secs(30);
    b.flush_interval = Duration::from_millis(250);
    cfg
}

async fn stop_gate(running: gate::serve::Running) -> anyhow::Result<()> {
    let _ = running.shutdown.send(true);
    running.pipeline.await??;
    for f in running.flushers {
        f.await?;
    }
    Ok(())
}

/// Output topics of a gate binding on `src`.
fn gate_outputs(src: &str) -> Vec<String> {
    ["validated", "quarantine", "degraded", "held", "last-good"]
        .iter()
        .map(|s| format!("{src}.{s}"))
        .collect()
}

// ------------------------------------------------------------ throughput ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum System {
    /// Plain passthrough.
    P,
    /// Passthrough writing the gate's output shape (headers + last-good copy), no checks.
    Ps,
    /// The gate.
    G,
    /// The gate, breaker forced open (hold).
    O,
}

#[derive(Debug, Clone, Copy)]
struct Throughput {
    records: usize,
    secs: f64,
    /// CPU seconds of this process and of the broker (if known) from start to the last output.
    cpu_self: f64,
    cpu_broker: Option<f64>,
}

impl Throughput {
    #[allow(clippy::cast_precision_loss)]
    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }

    /// CPU µs per record.
    #[allow(clippy::cast_precision_loss)]
    fn cpu_us(&self, cpu: f64) -> f64 {
        cpu * 1e6 / self.records as f64
    }
}

/// Drains one pre-filled copy `src` with `system`; the rate from the first to the last output.
async fn throughput(
    a: &Args,
    system: System,
    size: Size,
    src: &str,
    n: usize,
    contracts: &Path,
) -> anyhow::Result<Throughput> {
    let timeout = Duration::from_secs(600);
    let n_i64 = i64::try_from(n)?;
    let cpu0 = (cpu_secs(None), a.broker_pid.and_then(|p| cpu_secs(Some(p))));
    let (outputs, want) = match system {
        System::P | System::Ps => (vec![format!("{src}.out")], n_i64),
        // Every record is valid: validated under G, held under O. The last-good index is
        // written per changed key per interval, not per record, so it is not counted.
        System::G | System::O => (
            gate_outputs(src).into_iter().filter(|t| !t.ends_with(".last-good")).collect(),
            n_i64,
        ),
    };
    let cpu: (Option<f64>, Option<f64>);
    match system {
        System::P | System::Ps => {
            let (tx, rx) = watch::channel(false);
            let task = if system == System::Ps {
                tokio::spawn(shaped::passthrough_shaped(a.brokers.clone(), src.to_string(), format!("{src}.out"), rx))
            } else {
                tokio::spawn(passthrough(a.brokers.clone(), src.to_string(), format!("{src}.out"), rx))
            };
            wait_total(&a.brokers, &outputs, a.partitions, want, timeout).await?;
            let cpu1 = (cpu_secs(None), a.broker_pid.and_then(|p| cpu_secs(Some(p))));
            cpu = (
                cpu1.0.zip(cpu0.0).map(|(b, a)| b - a),
                cpu1.1.zip(cpu0.1).map(|(b, a)| b - a),
            );
            let _ = tx.send(true);
            task.await??;
        }
        System::G | System::O => {
            let cfg = gate_config(&a.brokers, contracts, src, size);
            let running = gate::serve::start(&cfg).await?;
            if system == System::O {
                let out = running.bindings[0]
                    .breaker
                    .command(
                        breaker::Command::ForceOpen,
                        Some("benchmark"),
                        chrono::Utc::now().timestamp_millis(),
                    )
                    .await?;
                ensure!(
                    out.state.mode == breaker::Mode::ForcedOpen,
                    "force open: {:?}",
                    out.state.mode
                );
            }
            wait_total(&a.brokers, &outputs, a.partitions, want, timeout).await?;
            let cpu1 = (cpu_secs(None), a.broker_pid.and_then(|p| cpu_secs(Some(p))));
            cpu = (
                cpu1.0.zip(cpu0.0).map(|(b, a)| b - a),
                cpu1.1.zip(cpu0.1).map(|(b, a)| b - a),
            );
            stop_gate(running).await?;
        }
    }
    let measured: Vec<String> = match system {
        System::P | System::Ps => outputs.clone(),
        _ => outputs
            .iter()
            .filter(|t| !t.ends_with(".quarantine") && !t.ends_with(".degraded"))
            .cloned()
            .collect(),
    };
    let brokers = a.brokers.clone();
    let parts = a.partitions;
    let (first, last, count) =
        tokio::task::spawn_blocking(move || append_window(&brokers, &measured, parts)).await??;
    ensure!(
        count == want,
        "{system:?}: {count} output records, expected {want}"
    );
    if system == System::O {
        let brokers = a.brokers.clone();
        let validated = vec![format!("{src}.validated")];
        let leaked = tokio::task::block_in_place(|| {
            total_records(
                &e2e::kafka_config(&brokers).create::<BaseConsumer>()?,
                &validated,
                parts,
            )
        })?;
        ensure!(
            leaked == 0,
            "O: {leaked} records reached validated before the breaker was forced open"
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let secs = ((last - first).max(1)) as f64 / 1000.0;
    Ok(Throughput {
        records: n,
        secs,
        cpu_self: cpu.0.unwrap_or(0.0),
        cpu_broker: cpu.1,
    })
}

// --------------------------------------------------------------- latency ----

/// Percentiles (µs) of `lat`.
fn pct(lat: &mut [i64], q: f64) -> i64 {
    if lat.is_empty() {
        return 0;
    }
    lat.sort_unstable();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
    lat[i]
}

#[derive(Debug, Clone)]
struct Latency {
    /// Records/s asked for.
    rate: u64,
    /// Records/s the generator managed during the measured part.
    achieved: f64,
    /// Every record sent arrived within the grace period (the system kept up).
    complete: bool,
    samples: usize,
    p50: i64,
    p99: i64,
    p999: i64,
}

/// Writes `rate` records/s to `src` for warm-up + `secs`, while `system` runs; latency of every
/// output record sent after the warm-up.
async fn latency(
    a: &Args,
    system: System,
    size: Size,
    rate: u64,
    contracts: &Path,
    pool: &[serde_json::Value],
) -> anyhow::Result<Latency> {
    let src = e2e::unique_name(&format!("bench-lat-{system:?}-{size:?}"));
    let out = match system {
        System::P => format!("{src}.out"),
        _ => format!("{src}.validated"),
    };
    let mut topics = vec![(src.clone(), false, false), (out.clone(), false, false)];
    if system != System::P {
        topics.extend(
            gate_outputs(&src)
                .into_iter()
                .filter(|t| *t != out)
                .map(|t| {
                    let compact = t.ends_with(".last-good");
                    (t, false, compact)
                }),
        );
    }
    create_topics(&a.brokers, &topics, a.partitions).await?;

    // The reader: every partition of the output from the start.
    let reader: StreamConsumer = e2e::kafka_config(&a.brokers)
        .set("group.id", e2e::unique_name("bench-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..a.partitions {
        tpl.add_partition_offset(&out, p, Offset::Beginning)?;
    }
    reader.assign(&tpl)?;
    drop(tpl);

    let (tx, rx) = watch::channel(false);
    let (p_task, running) = match system {
        System::P => (
            Some(tokio::spawn(passthrough(a.brokers.clone(), src.clone(), out.clone(), rx))),
            None,
        ),
        _ => (
            None,
            Some(gate::serve::start(&gate_config(&a.brokers, contracts, &src, size)).await?),
        ),
    };

    let producer = source_producer(&a.brokers, "1")?;
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<i64>();
    // Records are built before the run and only stamped with their send time when sent: the
    // generator shares this process (and its two cores) with the system under test, and
    // building 1 KB of JSON per record cost it more CPU than stamping. Every record is
    // distinct (a repeated one is a duplicate to the contract's uniqueness rules).
    let warmup = Duration::from_secs(2);
    let run = Duration::from_secs(a.latency_secs);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let needed = ((warmup + run).as_secs_f64() * rate as f64) as usize + 1;
    let templates: Vec<(String, Vec<u8>)> = (0..needed)
        .map(|i| {
            let (k, v) = record(pool, size, i, 0);
            (k, v.into_bytes())
        })
        .collect();
    let gen = {
        let src = src.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut sent: u64 = 0;
            let mut measured: Option<(Instant, u64)> = None;
            let mut started_tx = Some(started_tx);
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // At most 10 ms worth of records per tick: a generator that cannot keep up falls
            // behind (the achieved rate is reported) instead of sending in bursts.
            let per_tick_max = (rate / 100).max(1);
            loop {
                tick.tick().await;
                let el = start.elapsed();
                if measured.is_none() && el >= warmup {
                    measured = Some((Instant::now(), sent));
                    if let Some(s) = started_tx.take() {
                        let _ = s.send(now_us());
                    }
                }
                if el >= warmup + run {
                    break;
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let target = ((el.as_secs_f64() * rate as f64) as u64).min(sent + per_tick_max);
                while sent < target {
                    let i = usize::try_from(sent).unwrap_or(0);
                    let Some((k, t)) = templates.get(i) else { break };
                    let mut v = t.clone();
                    stamp(&mut v, now_us());
                    if let Err((e, _)) =
                        producer.send_result(FutureRecord::to(&src).key(k).payload(&v))
                    {
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        {
                            break; // the next tick catches up
                        }
                        anyhow::bail!("latency producer: {e}");
                    }
                    sent += 1;
                }
            }
            let (from, at) = measured.context("the run ended before the warm-up did")?;
            #[allow(clippy::cast_precision_loss)]
            let achieved = (sent - at) as f64 / from.elapsed().as_secs_f64().max(1e-3);
            tokio::task::block_in_place(|| {
                rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30))
            })?;
            anyhow::Ok((sent, achieved))
        })
    };

    // Collect until every record sent after the warm-up arrived (or a grace period passed).
    let mut started_rx = started_rx;
    let mut measure_from: Option<i64> = None;
    let mut lat: Vec<i64> = Vec::new();
    let mut gen = Some(gen);
    let mut total_sent: Option<u64> = None;
    let mut achieved = 0.0;
    let mut received: u64 = 0;
    let mut grace_until: Option<Instant> = None;
    loop {
        if let Some(g) = gen.as_mut().filter(|g| g.is_finished()) {
            let (n, rate) = g.await??;
            total_sent = Some(n);
            achieved = rate;
            gen = None;
            grace_until = Some(Instant::now() + Duration::from_secs(30));
        }
        if measure_from.is_none() {
            if let Ok(t) = started_rx.try_recv() {
                measure_from = Some(t);
            }
        }
        if total_sent.is_some_and(|s| received >= s)
            || grace_until.is_some_and(|g| Instant::now() > g)
        {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), reader.recv()).await {
            Ok(Ok(m)) => {
                let arrived = now_us();
                received += 1;
                if let (Some(from), Some(sent)) = (measure_from, m.payload().and_then(sent_us_of)) {
                    if sent >= from {
                        lat.push(arrived - sent);
                    }
                }
            }
            Ok(Err(e)) => bail!("latency reader: {e}"),
            Err(_) => {}
        }
    }
    let sent = total_sent.unwrap_or(0);
    let _ = tx.send(true);
    if let Some(t) = p_task {
        t.await??;
    }
    if let Some(r) = running {
        stop_gate(r).await?;
    }
    tokio::task::spawn_blocking(move || drop(reader)).await?;
    let names: Vec<String> = topics.into_iter().map(|(t, _, _)| t).collect();
    delete_topics(&a.brokers, &names).await;
    let samples = lat.len();
    Ok(Latency {
        rate,
        achieved,
        complete: received >= sent,
        samples,
        p50: pct(&mut lat, 0.50),
        p99: pct(&mut lat, 0.99),
        p999: pct(&mut lat, 0.999),
    })
}

// ------------------------------------------------------------------ main ----

#[derive(Debug, Clone)]
struct SizeResult {
    size: Size,
    bytes: usize,
    p: Throughput,
    ps: Throughput,
    g: Throughput,
    o: Throughput,
    lat: Vec<(&'static str, Latency, Latency)>,
}

async fn bench_size(
    a: &Args,
    size: Size,
    pool: &[serde_json::Value],
) -> anyhow::Result<SizeResult> {
    let n = match size {
        Size::Large => a.n_large,
        Size::Small => a.n_small,
    };
    let contracts = tempfile::tempdir()?;
    std::fs::write(
        contracts
            .path()
            .join(format!("{}.odcs.yaml", size.contract_id())),
        size.contract()?,
    )?;
    let records: Vec<(String, String)> = (0..n).map(|i| record(pool, size, i, now_us())).collect();
    let bytes = records.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    // Every record is valid under the contract (checked here, before any timing).
    {
        let dir = gate::registry::ContractDir::load(contracts.path())?;
        let c = dir.compile(size.contract_id(), None)?;
        let mut obs = c.observer();
        for (_, v) in records.iter().take(2000) {
            let value: serde_json::Value = serde_json::from_str(v)?;
            let verdict = c.check(&value, &mut obs);
            ensure!(
                verdict.is_valid(),
                "benchmark record fails the contract: {:?}\n{v}",
                verdict.rule_ids()
            );
        }
    }
    let tag = match size {
        Size::Large => "l",
        Size::Small => "s",
    };
    let srcs: Vec<(System, String)> = [System::P, System::Ps, System::G, System::O]
        .into_iter()
        .map(|s| (s, e2e::unique_name(&format!("bench-{tag}-{s:?}"))))
        .collect();
    let mut topics = Vec::new();
    for (s, src) in &srcs {
        topics.push((src.clone(), false, false));
        match s {
            System::P => topics.push((format!("{src}.out"), true, false)),
            System::Ps => topics.push((format!("{src}.out"), true, false)),
            _ => topics.extend(gate_outputs(src).into_iter().map(|t| {
                let compact = t.ends_with(".last-good");
                (t, true, compact)
            })),
        }
    }
    create_topics(&a.brokers, &topics, a.partitions).await?;
    let t = Instant::now();
    let names: Vec<String> = srcs.iter().map(|(_, s)| s.clone()).collect();
    prefill(&a.brokers, &names, &records).await?;
    drop(records);
    eprintln!(
        "[{}] {n} records of {bytes} B written to 4 copies in {:.1}s",
        size.name(),
        t.elapsed().as_secs_f64()
    );
    let mut res = HashMap::new();
    for (s, src) in &srcs {
        let r = throughput(a, *s, size, src, n, contracts.path()).await?;
        eprintln!(
            "[{}] {s:?}: {n} records in {:.2}s = {:.0} records/s; CPU µs/record: this process {:.1}, broker {}",
            size.name(),
            r.secs,
            r.rate(),
            r.cpu_us(r.cpu_self),
            r.cpu_broker.map_or_else(|| "?".to_string(), |c| format!("{:.1}", r.cpu_us(c)))
        );
        res.insert(*s, r);
    }
    let all: Vec<String> = topics.into_iter().map(|(t, _, _)| t).collect();
    delete_topics(&a.brokers, &all).await;
    let (p, ps, g, o) = (
        res[&System::P],
        res[&System::Ps],
        res[&System::G],
        res[&System::O],
    );
    let mut lat = Vec::new();
    if !a.skip_latency {
        // The issue's load (half of P's maximum), and half of G's own maximum (a load the gate
        // can sustain, so its p99 means something even when it cannot sustain the first).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut loads = vec![
            ("½ P max", (p.rate() / 2.0) as u64),
            ("½ G max", (g.rate() / 2.0) as u64),
        ];
        if let Some(r) = a.latency_rate {
            loads.push(("fixed", r));
        }
        for (load, rate) in loads {
            let lp = latency(a, System::P, size, rate, contracts.path(), pool).await?;
            let lg = latency(a, System::G, size, rate, contracts.path(), pool).await?;
            for (sys, l) in [("P", &lp), ("G", &lg)] {
                eprintln!(
                    "[{}] latency {sys} at {load} = {rate}/s (achieved {:.0}/s, kept up: {}): p50 {} µs p99 {} µs ({} samples)",
                    size.name(), l.achieved, l.complete, l.p50, l.p99, l.samples
                );
            }
            lat.push((load, lp, lg));
        }
    }
    Ok(SizeResult {
        size,
        bytes,
        p,
        ps,
        g,
        o,
        lat,
    })
}

fn report(a: &Args, results: &[SizeResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Throughput ({} partitions; rate = records / (last − first output append time)):\n",
        a.partitions
    );
    let _ = writeln!(
        s,
        "| records | N | P rec/s | G rec/s | O rec/s | **G/P** | **O/P** | Ps rec/s | Ps/P | G/Ps |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in results {
        let _ = writeln!(
            s,
            "| {} ({} B) | {} | {:.0} | {:.0} | {:.0} | **{:.2}** | **{:.2}** | {:.0} | {:.2} | {:.2} |",
            r.size.name(),
            r.bytes,
            r.p.records,
            r.p.rate(),
            r.g.rate(),
            r.o.rate(),
            r.g.rate() / r.p.rate(),
            r.o.rate() / r.p.rate(),
            r.ps.rate(),
            r.ps.rate() / r.p.rate(),
            r.g.rate() / r.ps.rate()
        );
    }
    let _ = writeln!(
        s,
        "\nCPU µs per source record (utime + stime over the run, 10 ms ticks): this process (harness + system under test) / broker{}:\n",
        if a.broker_pid.is_some() { "" } else { " (pass --broker-pid for the broker)" }
    );
    let _ = writeln!(s, "| records | P | Ps | G | O |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    for r in results {
        let cell = |t: &Throughput| {
            format!(
                "{:.1} / {}",
                t.cpu_us(t.cpu_self),
                t.cpu_broker
                    .map_or_else(|| "?".to_string(), |c| format!("{:.1}", t.cpu_us(c)))
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.size.name(),
            cell(&r.p),
            cell(&r.ps),
            cell(&r.g),
            cell(&r.o)
        );
    }
    if results.iter().any(|r| !r.lat.is_empty()) {
        let _ = writeln!(s, "\nLatency, send → output arrival ({} s after a 2 s warm-up; µs). \"G sustains\": the load is below G's measured maximum; when it is not, records queue up and the latency grows with the run's length:\n", a.latency_secs);
        let _ = writeln!(s, "| records | load | rate/s (achieved) | P p50 | P p99 | P p99.9 | G p50 | G p99 | G p99.9 | G sustains | added p99 (G − P) |");
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for r in results {
            for (load, p, g) in &r.lat {
                let _ = writeln!(
                    s,
                    "| {} | {load} | {} ({:.0} / {:.0}) | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.size.name(),
                    p.rate,
                    p.achieved,
                    g.achieved,
                    p.p50,
                    p.p99,
                    p.p999,
                    g.p50,
                    g.p99,
                    g.p999,
                    match (
                        r.g.rate() >= f64::from(u32::try_from(p.rate).unwrap_or(u32::MAX)),
                        g.complete
                    ) {
                        (true, true) => "yes".to_string(),
                        (true, false) => "yes, but records were missing".to_string(),
                        (false, _) => format!("no (G max {:.0}/s)", r.g.rate()),
                    },
                    g.p99 - p.p99
                );
            }
        }
    }
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    // The gate's metrics cost what they cost in `contract-gate serve`, which installs this
    // recorder (without one every metrics macro is a no-op).
    let _metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let pool = flight_pool();
    ensure!(!pool.is_empty(), "no sample flights");
    let started = Instant::now();
    let mut results = Vec::new();
    for size in [Size::Large, Size::Small] {
        if a.only.is_some_and(|o| o != size) {
            continue;
        }
        results.push(bench_size(&a, size, &pool).await?);
    }
    println!("{}", report(&a, &results));
    eprintln!("total {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}
