//! Running the sidecar in-process against the real services, with unique topics.

use anyhow::Context as _;
use gate::config::{Binding, ContractsSource, Fallback, GateConfig, HttpConfig, KafkaConfig, RedisSection};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::path::Path;
use std::time::Duration;

/// The flights contract shipped in `examples/flights`.
#[must_use]
pub fn flights_contract() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/flights.odcs.yaml")).expect("examples/flights/flights.odcs.yaml")
}

/// The sample flights, one JSON object per line.
#[must_use]
pub fn flights_sample() -> Vec<serde_json::Value> {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/sample.jsonl"))
        .expect("sample")
        .lines()
        .map(|l| serde_json::from_str(l).expect("sample line"))
        .collect()
}

/// A gate config for one binding of `source` with fast breaker settings.
#[must_use]
pub fn config(brokers: &str, contracts_dir: &Path, source: &str, fallback: Fallback, redis: Option<(&str, &str)>) -> GateConfig {
    let mut breaker = breaker::BreakerConfig::default();
    breaker.min_records = 50;
    breaker.window = breaker::WindowConfig::Time { length: Duration::from_secs(10), bucket: Duration::from_millis(500) };
    breaker.open_wait = Duration::from_secs(2);
    breaker.max_open_wait = Duration::from_secs(4);
    breaker.probe_records = 30;
    breaker.probe_timeout = Duration::from_secs(20);
    breaker.flush_interval = Duration::from_millis(250);
    GateConfig {
        kafka: KafkaConfig { brokers: brokers.to_string(), group_id: format!("{source}-gate"), properties: Default::default(), create_topics: true },
        redis: redis.map(|(url, prefix)| RedisSection { url: url.to_string(), key_prefix: prefix.to_string(), op_timeout: Duration::from_millis(500), fallback: breaker::FallbackPolicy::Local }),
        http: HttpConfig::default(),
        contracts: ContractsSource { dir: contracts_dir.to_path_buf(), registry: None },
        delivery: Default::default(),
        events: gate::config::EventsConfig { breaker_topic: format!("{source}.breaker-events"), violations_topic: format!("{source}.violations"), violations_per_rule_per_second: 5 },
        max_record_bytes: 1 << 20,
        bindings: vec![Binding { name: "flights".into(), source: source.to_string(), contract: "flights".into(), object: None, version: None, fallback, topics: Default::default(), breaker }],
    }
}

/// Writes `contract` into a fresh directory.
pub fn contracts_dir(contract: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("flights.odcs.yaml"), contract).expect("write contract");
    dir
}

/// Produces records to `topic` (key, JSON payload) and waits for every acknowledgement.
///
/// # Errors
/// A failed delivery.
pub async fn produce(p: &FutureProducer, topic: &str, records: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let mut futs = Vec::with_capacity(records.len());
    for (k, v) in records {
        futs.push(p.send(FutureRecord::to(topic).key(k).payload(v), Duration::from_secs(10)));
    }
    for f in futs {
        f.await.map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    }
    Ok(())
}

/// Keyed JSON payloads of flights, the key being carrier + flight number.
#[must_use]
pub fn keyed(records: &[serde_json::Value]) -> Vec<(String, Vec<u8>)> {
    records.iter().map(|r| (format!("{}{}", r["carrier"].as_str().unwrap_or("?"), r["flight"]), r.to_string().into_bytes())).collect()
}

/// A consumer of `topic` from the beginning, in its own group.
///
/// # Errors
/// Client creation.
pub fn reader(brokers: &str, topic: &str) -> anyhow::Result<StreamConsumer> {
    let c: StreamConsumer = crate::consumer_config(brokers, &crate::unique_name("reader")).set("isolation.level", "read_committed").create().context("reader")?;
    c.subscribe(&[topic]).context("subscribe")?;
    Ok(c)
}

/// Reads messages until `done` says the set is complete or `timeout` passes.
///
/// # Errors
/// Timeout, with how many were read.
pub async fn read_until(c: &StreamConsumer, timeout: Duration, mut done: impl FnMut(&[OwnedMessage]) -> bool) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut out: Vec<OwnedMessage> = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&out) {
        match tokio::time::timeout_at(deadline, c.recv()).await {
            Ok(Ok(m)) => out.push(m.detach()),
            Ok(Err(e)) => anyhow::bail!("consume: {e}"),
            Err(_) => anyhow::bail!("timed out after {timeout:?} with {} messages", out.len()),
        }
    }
    Ok(out)
}

/// A header as text.
#[must_use]
pub fn header_str(m: &OwnedMessage, key: &str) -> Option<String> {
    crate::header(m, key).flatten().map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The payload as JSON.
#[must_use]
pub fn json_of(m: &OwnedMessage) -> serde_json::Value {
    m.payload().and_then(|p| serde_json::from_slice(p).ok()).unwrap_or(serde_json::Value::Null)
}
