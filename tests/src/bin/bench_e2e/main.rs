//! End-to-end benchmark of the sidecar against one real Kafka broker (issue 4, "Benchmark
//! harness"):
//!
//! - **P** a plain rdkafka consume → produce passthrough (same consumer and producer settings
//!   as the gate: idempotent producer, `linger.ms=5`, lz4, `fetch.queue.backoff.ms=10`,
//!   offsets stored after the ack);
//! - **G** the gate, in-process through `gate::serve::start` (contract checks, window metrics,
//!   breaker, headers, the last-good index written once per changed key per flush interval);
//! - **O** the gate with its breaker forced open (fallback `hold`);
//! - **Ps** the passthrough writing the gate's output shape (its nine headers, through the
//!   gate's own producer and delivery queue), and **Pv**, Ps that also reads every payload
//!   once as JSON into nothing: Pv's rate is a ceiling for any JSON gate with those headers,
//!   so Pv/P bounds what G/P and O/P can reach on the machine (`shaped.rs`).
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
//!     [--broker-pid PID] [--latency-rate R] [--latency-only ROUNDS] [--rounds N] [--workers N] [--headers full|lean] [--shadow]
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

mod kafka;
mod latency;
mod passthrough;
mod report;
mod rounds;
mod shaped;
mod throughput;

use kafka::*;
use latency::*;
use passthrough::*;
use report::*;
use throughput::*;

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
    /// Only the fixed latency load (`--latency-rate`), P and G side by side on one source, this
    /// many rounds: no throughput runs. Side by side, both meet the broker's same pauses.
    latency_rounds: Option<usize>,
    /// The gate's record loops (`workers`); default: one per core.
    workers: Option<usize>,
    /// `headers: lean` on the gate's validated output, and Ps/Pv writing the lean set.
    lean: bool,
    /// G and O run with a shadow version evaluated beside the active one (the same contract
    /// under another version number, so every record is judged twice).
    shadow: bool,
    /// Throughput rounds of P, Pv, G and O (`--rounds`): with more than one, each round writes
    /// fresh copies and runs the systems in an order rotated by one, and the harness prints
    /// each round's ratios and their medians (no latency runs, no Ps).
    rounds: usize,
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
        latency_rounds: None,
        workers: None,
        lean: false,
        shadow: false,
        rounds: 1,
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
            "--latency-only" => a.latency_rounds = Some(val()?.parse()?),
            "--workers" => a.workers = Some(val()?.parse()?),
            "--shadow" => a.shadow = true,
            "--rounds" => a.rounds = val()?.parse()?,
            "--headers" => {
                a.lean = match val()?.as_str() {
                    "lean" => true,
                    "full" => false,
                    other => bail!("--headers full|lean, not {other}"),
                };
            }
            "--only" => {
                a.only = Some(match val()?.as_str() {
                    "large" => Size::Large,
                    "small" => Size::Small,
                    other => bail!("--only large|small, not {other}"),
                });
            }
            "-h" | "--help" => {
                println!("bench_e2e [--brokers B] [--n-large N] [--n-small N] [--partitions P] [--latency-secs S] [--skip-latency] [--only large|small] [--broker-pid PID] [--latency-rate R] [--latency-only ROUNDS] [--rounds N] [--workers N] [--headers full|lean] [--shadow]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    ensure!(
        a.latency_rounds.is_none() || a.latency_rate.is_some(),
        "--latency-only needs --latency-rate: without throughput runs there is no maximum to halve"
    );
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

// ----------------------------------------------------------- G / O: the gate ----

fn gate_config(a: &Args, contracts: &Path, src: &str, size: Size) -> gate::config::GateConfig {
    let mut cfg = e2e::sidecar::config(&a.brokers, contracts, src, Fallback::Hold, None);
    cfg.workers = a.workers;
    cfg.bindings[0].contract = size.contract_id().to_string();
    if a.lean {
        cfg.bindings[0].headers = gate::config::HeaderProfile::Lean;
    }
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

// ------------------------------------------------------------------ main ----

#[derive(Debug, Clone)]
struct SizeResult {
    size: Size,
    bytes: usize,
    p: Throughput,
    ps: Throughput,
    pv: Throughput,
    g: Throughput,
    o: Throughput,
    lat: Vec<(&'static str, Latency, Latency)>,
}

/// A directory holding `size`'s contract, as the gate's `contracts.dir` reads it.
fn contracts_dir(size: Size) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(format!("{}.odcs.yaml", size.contract_id())), size.contract()?)?;
    Ok(dir)
}

/// One throughput round: fresh source copies of `records` (one per system), each drained by
/// its system in `order`, then deleted.
async fn round(a: &Args, size: Size, records: &[(String, String)], contracts: &std::path::Path, order: &[System]) -> anyhow::Result<HashMap<System, Throughput>> {
    let n = records.len();
    let tag = match size {
        Size::Large => "l",
        Size::Small => "s",
    };
    let srcs: Vec<(System, String)> = order.iter().map(|s| (*s, e2e::unique_name(&format!("bench-{tag}-{s:?}")))).collect();
    let mut topics = Vec::new();
    for (s, src) in &srcs {
        topics.push((src.clone(), false, false));
        match s {
            System::P => topics.push((format!("{src}.out"), true, false)),
            System::Ps | System::Pv => topics.push((format!("{src}.out"), true, false)),
            _ => topics.extend(gate_outputs(src).into_iter().map(|t| {
                let compact = t.ends_with(".last-good");
                (t, true, compact)
            })),
        }
    }
    create_topics(&a.brokers, &topics, a.partitions).await?;
    let t = Instant::now();
    let names: Vec<String> = srcs.iter().map(|(_, s)| s.clone()).collect();
    prefill(&a.brokers, &names, records).await?;
    eprintln!("[{}] {n} records written to {} copies in {:.1}s", size.name(), srcs.len(), t.elapsed().as_secs_f64());
    let mut res = HashMap::new();
    for (s, src) in &srcs {
        let r = throughput(a, *s, size, src, n, contracts).await?;
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
    Ok(res)
}

/// `size`'s contract directory and its throughput records (`--n-large` or `--n-small` of
/// them), checked valid under the contract before any timing.
fn throughput_records(a: &Args, size: Size, pool: &[serde_json::Value]) -> anyhow::Result<(tempfile::TempDir, Vec<(String, String)>)> {
    let n = match size {
        Size::Large => a.n_large,
        Size::Small => a.n_small,
    };
    let contracts = contracts_dir(size)?;
    let records: Vec<(String, String)> = (0..n).map(|i| record(pool, size, i, now_us())).collect();
    let dir = registry::ContractDir::load(contracts.path())?;
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
    Ok((contracts, records))
}

async fn bench_size(
    a: &Args,
    size: Size,
    pool: &[serde_json::Value],
) -> anyhow::Result<SizeResult> {
    let (contracts, records) = throughput_records(a, size, pool)?;
    let bytes = records.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let res = round(a, size, &records, contracts.path(), &[System::P, System::Ps, System::Pv, System::G, System::O]).await?;
    drop(records);
    let (p, ps, pv, g, o) = (
        res[&System::P],
        res[&System::Ps],
        res[&System::Pv],
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
        pv,
        g,
        o,
        lat,
    })
}


#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    // The in-process gate's logs, with `CG_TEST_LOG` (e.g. `gate=info`).
    e2e::test_log();
    // The gate's metrics cost what they cost in `contract-gate serve`, which installs this
    // recorder (without one every metrics macro is a no-op).
    let _metrics = gate::serve::telemetry::install().context("installing the Prometheus recorder")?;
    let pool = flight_pool();
    ensure!(!pool.is_empty(), "no sample flights");
    let started = Instant::now();
    let mut results = Vec::new();
    for size in [Size::Large, Size::Small] {
        if a.only.is_some_and(|o| o != size) {
            continue;
        }
        if let Some(rounds) = a.latency_rounds {
            latency_rounds(&a, size, &pool, rounds).await?;
            continue;
        }
        if a.rounds > 1 {
            rounds::throughput_rounds(&a, size, &pool).await?;
            continue;
        }
        results.push(bench_size(&a, size, &pool).await?);
    }
    if !results.is_empty() {
        println!("{}", report(&a, &results));
    }
    eprintln!("total {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}
