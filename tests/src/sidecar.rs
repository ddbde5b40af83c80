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
        kafka: KafkaConfig { brokers: brokers.to_string(), group_id: format!("{source}-gate"), properties: Default::default(), consumer_properties: Default::default(), producer_properties: Default::default(), create_topics: true, pattern_refresh: std::time::Duration::from_secs(10) },
        redis: redis.map(|(url, prefix)| RedisSection { url: url.to_string(), key_prefix: prefix.to_string(), op_timeout: Duration::from_millis(500), fallback: breaker::StoreOutagePolicy::Local, tls: None, sentinel: None }),
        http: HttpConfig::default(),
        contracts: ContractsSource { dir: contracts_dir.to_path_buf(), registry: None },
        delivery: Default::default(),
        events: gate::config::EventsConfig { breaker_topic: format!("{source}.breaker-events"), violations_topic: format!("{source}.violations"), violations_per_rule_per_second: 5 },
        schema_registry: None,
        max_record_bytes: 1 << 20,
        // One loop per core, as a user gets it: the suite runs with several loops where the
        // box has several cores.
        workers: None,
        bindings: vec![Binding { name: "flights".into(), source: source.to_string(), contract: "flights".into(), object: None, version: None, fallback, strict: false, strict_flush_records: None, stale_records: Default::default(), format: Default::default(), allowed_schema_ids: None, key: None, topics: Default::default(), headers: Default::default(), breaker, last_good_interval: Duration::from_millis(250), canary: None }],
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

// -------------------------------------------------------------- registry ----

/// A registry-only config on `topic` (created when missing), HTTP on a free loopback port.
#[must_use]
pub fn registry_config(brokers: &str, topic: &str, max_body_bytes: usize) -> GateConfig {
    let mut cfg = config(brokers, Path::new(""), "unused", Fallback::Hold, None);
    cfg.bindings.clear();
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.contracts = ContractsSource { dir: std::path::PathBuf::new(), registry: Some(gate::config::RegistrySource { topic: topic.to_string(), create_topic: true, max_body_bytes }) };
    cfg
}

/// A registry-only process in this test: the registry on a Kafka topic behind the real HTTP
/// app (`serve` without bindings), on a free loopback port.
#[derive(Debug)]
pub struct RegistryServer {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The registry.
    pub registry: std::sync::Arc<registry::Registry>,
    server: tokio::task::JoinHandle<()>,
}

impl RegistryServer {
    /// Opens the registry on `topic` (reading it to its end) and serves its HTTP API.
    ///
    /// # Errors
    /// Kafka or bind failures.
    pub async fn start(brokers: &str, topic: &str, token: &str, max_body_bytes: usize) -> anyhow::Result<Self> {
        let cfg = registry_config(brokers, topic, max_body_bytes);
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
        let (app, registry) = gate::cli::serve_cmd::registry_app(&cfg, metrics, Some(token.to_string())).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, registry, server })
    }

    /// Stops serving and drops this replica's registry (its follower stops).
    pub fn stop(self) {
        self.server.abort();
    }
}

/// One HTTP call: status and JSON body (`Null` when the body is not JSON).
///
/// # Errors
/// Transport failures.
pub async fn http(method: &str, url: &str, token: Option<&str>, body: Option<Vec<u8>>) -> anyhow::Result<(u16, serde_json::Value)> {
    let (method, url, token) = (method.to_string(), url.to_string(), token.map(str::to_string));
    tokio::task::spawn_blocking(move || -> anyhow::Result<(u16, serde_json::Value)> {
        let agent = ureq::Agent::new_with_defaults();
        let resp = if method == "GET" {
            agent.get(&url).config().http_status_as_error(false).build().call()
        } else {
            let mut req = agent.post(&url).config().http_status_as_error(false).build();
            if let Some(t) = &token {
                req = req.header("authorization", &format!("Bearer {t}"));
            }
            match body {
                Some(b) => req.send(&b[..]),
                None => req.send_empty(),
            }
        };
        let mut resp = resp.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
    })
    .await?
}

/// The flights contract at `version`, with `edit` applied to its text.
#[must_use]
pub fn flights_version(version: &str, edit: impl Fn(String) -> String) -> String {
    edit(flights_contract().replacen("version: 1.0.0", &format!("version: {version}"), 1))
}

/// Stops an in-process gate: shutdown, then the record loop (its error, if any) and every
/// flush and last-good writer task.
///
/// # Errors
/// The record loop's error, or a task that panicked.
pub async fn stop(running: gate::serve::Running) -> anyhow::Result<()> {
    let _ = running.shutdown.send(true);
    running.pipeline.await??;
    for f in running.flushers {
        f.await?;
    }
    Ok(())
}

/// Where each source record went: (source topic, partition, offset) → (output topic, message).
pub type Accounted = std::collections::HashMap<(String, i32, i64), (String, OwnedMessage)>;

/// Reads `outputs` (full topic names; committed records only) until `n` distinct source
/// records were seen, by their `contract-gate-source-*` headers, and fails on a source record
/// written twice, an output record without source coordinates, one written to another
/// partition than its source's, or an output partition whose source offsets go backwards (a
/// partition read by two loops at once, or out of order). Works across bindings: the source
/// topic is part of each record's identity.
///
/// # Errors
/// A duplicate, a record without coordinates, out of its partition or out of order, or fewer
/// than `n` before the timeout.
pub async fn account(brokers: &str, outputs: &[String], n: usize, timeout: Duration) -> anyhow::Result<Accounted> {
    use gate::serve::headers as h;
    let reader: StreamConsumer = crate::consumer_config(brokers, &crate::unique_name("account")).set("isolation.level", "read_committed").create().context("reader")?;
    reader.subscribe(&outputs.iter().map(String::as_str).collect::<Vec<_>>()).context("subscribe")?;
    let coord = |m: &OwnedMessage| -> Option<(String, i32, i64)> { Some((header_str(m, h::SOURCE_TOPIC)?, header_str(m, h::SOURCE_PARTITION)?.parse().ok()?, header_str(m, h::SOURCE_OFFSET)?.parse().ok()?)) };
    let (mut distinct, mut counted) = (std::collections::HashSet::new(), 0);
    let msgs = read_until(&reader, timeout, |ms| {
        distinct.extend(ms[counted..].iter().filter_map(coord));
        counted = ms.len();
        distinct.len() >= n
    })
    .await?;
    let mut seen = Accounted::new();
    let mut last: std::collections::BTreeMap<(String, String, i32), i64> = std::collections::BTreeMap::new();
    for m in &msgs {
        let c = coord(m).ok_or_else(|| anyhow::anyhow!("a record on {} without source coordinates", m.topic()))?;
        let (src, part, off) = (&c.0, c.1, c.2);
        anyhow::ensure!(m.partition() == part, "{src} partition {part} written to {} partition {}", m.topic(), m.partition());
        if let Some(prev) = last.insert((m.topic().to_string(), src.clone(), part), off) {
            let output = m.topic().rsplit('.').next().unwrap_or_default();
            anyhow::ensure!(prev < off, "{output}[{part}]: source offset {off} after {prev}");
        }
        if let Some((first, _)) = seen.insert(c.clone(), (m.topic().to_string(), m.clone())) {
            anyhow::bail!("source record {c:?} written twice ({first} and {})", m.topic());
        }
    }
    anyhow::ensure!(seen.len() == n, "{} of {n} source records in {outputs:?}", seen.len());
    Ok(seen)
}

/// Asserts that every message is a valid record whose payload is in the Confluent wire format
/// under schema `id` (the producer's bytes, as the gate carries them).
///
/// # Panics
/// A message that is not.
pub fn assert_valid_framed(msgs: &[OwnedMessage], id: u64) {
    use gate::serve::headers as h;
    for m in msgs {
        assert_eq!(header_str(m, h::VERDICT).as_deref(), Some("valid"));
        let p = m.payload().unwrap_or_default();
        assert_eq!((p.first(), p.get(1..5).map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))), (Some(&0), Some(id)), "Confluent framing, registry id");
    }
}

/// [`config`] for a binding that reads `format` (a Confluent wire format) with writer schemas
/// from the registry at `url`, with short registry timeouts so failure paths show quickly.
#[must_use]
pub fn wire_config(brokers: &str, dir: &Path, src: &str, url: &str, format: gate::config::PayloadFormat) -> GateConfig {
    let mut cfg = config(brokers, dir, src, Fallback::Hold, None);
    cfg.bindings[0].format = format;
    let mut sr = gate::config::SchemaRegistrySection::new(url);
    sr.timeout = Duration::from_millis(500);
    sr.retry_after = Duration::from_millis(200);
    cfg.schema_registry = Some(sr);
    cfg
}
