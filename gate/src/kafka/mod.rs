//! Kafka client configuration and topic administration, below every part of the gate that
//! talks to Kafka (serve, the registry's log, replay, drills, lag): one layering of client
//! settings, so a user's property always beats a gate default wherever the user put it.

pub mod preflight;

use crate::config::GateConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, OwnedResourceSpecifier, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tracing::info;

/// A Kafka client or admin call that failed, with what the gate was doing.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct AdminError {
    /// What was being done.
    pub what: String,
    /// The client's error.
    #[source]
    pub source: KafkaError,
}

impl AdminError {
    pub(crate) fn new(what: impl Into<String>) -> impl FnOnce(KafkaError) -> Self {
        let what = what.into();
        move |source| Self { what, source }
    }
}

/// What this build speaks, for `--version`: the crate version, librdkafka's version and
/// compiled-in features (SSL, SASL mechanisms, codecs), and the TLS library.
#[must_use]
pub fn build_info() -> String {
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    let features = librdkafka_features();
    format!("{}\nlibrdkafka {librdkafka}: {features}\nTLS: {} (Kafka, Redis, HTTPS clients and listener)", env!("CARGO_PKG_VERSION"), openssl::version::version())
}

/// The features compiled into the linked librdkafka (`builtin.features`: codecs, SSL, SASL
/// mechanisms), or `unknown` if it cannot say.
#[must_use]
pub fn librdkafka_features() -> String {
    ClientConfig::new().create_native_config().ok().and_then(|c| c.get("builtin.features").ok()).unwrap_or_else(|| "unknown".into())
}

/// Base client config with the user's pass-through properties.
#[must_use]
pub fn client_config(cfg: &GateConfig) -> ClientConfig {
    layered(cfg, &[], &BTreeMap::new())
}

/// How long librdkafka waits before fetching again for a partition whose prefetch queue was
/// full. Its default (1 s) stalls any consumer that drains the queue faster than that: the
/// record loop sat idle a quarter of the time working through a backlog (BENCHMARKS.md).
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// How often a source consumer heartbeats to its group coordinator. A member learns that the
/// group is rebalancing only from a heartbeat's answer, and a cooperative rebalance that moves
/// a partition takes two rounds (revoke, then assign), each waiting for every member's next
/// heartbeat; the moved partition has no reader in between. With librdkafka's 3 s a second
/// record loop joining left a partition unread for 3.0 s (BENCHMARKS.md, eleventh
/// pass); a heartbeat a second costs each member one small request a second.
pub const HEARTBEAT_INTERVAL_MS: &str = "1000";

/// A client config in layers, each overriding the one before: the gate's defaults for the
/// role, the common properties, then the role's own properties. A user's setting always
/// beats a gate default, wherever the user put it.
fn layered(cfg: &GateConfig, defaults: &[(&str, &str)], role: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    c.set("bootstrap.servers", &cfg.kafka.brokers);
    for (k, v) in cfg.kafka.properties.iter().chain(role) {
        c.set(k, v);
    }
    c
}

/// Client config of the source consumer: the gate's consumer defaults, the common
/// properties, then the consumer's own properties.
#[must_use]
pub fn consumer_config(cfg: &GateConfig) -> ClientConfig {
    layered(cfg, &[("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS), ("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)], &cfg.kafka.consumer_properties)
}

/// Client config of an output producer: the gate's producer defaults, the common properties,
/// then the producer's own properties (`enable.idempotence` is refused in both at startup).
#[must_use]
pub fn producer_config(cfg: &GateConfig) -> ClientConfig {
    // Room for the largest record the gate accepts, its key and headers and the gate's own
    // (librdkafka's default, 1,000,000, is below the default `max_record_bytes`).
    let limit = cfg.max_record_bytes.saturating_add(crate::serve::fit::HEADROOM).to_string();
    layered(cfg, &[("enable.idempotence", "true"), ("linger.ms", "5"), ("compression.type", "lz4"), ("message.max.bytes", &limit)], &cfg.kafka.producer_properties)
}


/// A topic the gate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partitions when created ([`BROKER_DEFAULT_PARTITIONS`]: the broker's `num.partitions`).
    pub partitions: i32,
    /// Created with `cleanup.policy=compact`.
    pub compacted: bool,
}

/// A consumer that reads topics without a consumer group (`contracts infer --topic`,
/// `contracts backtest`): partitions are assigned by hand and nothing is committed, so the
/// group librdkafka wants an id for never exists on the brokers. Committed records only;
/// `purpose` names the reader in the id (`contract-gate-<purpose>-<pid>-<nanos>`).
///
/// # Errors
/// The client's, when `properties` hold a bad setting.
pub fn groupless_consumer(brokers: &str, properties: &[(String, String)], purpose: &str) -> Result<BaseConsumer, KafkaError> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers)
        .set("group.id", format!("contract-gate-{purpose}-{}-{nanos}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    for (k, v) in properties {
        cfg.set(k, v);
    }
    cfg.create()
}

/// The partition ids of `topic`, or `None` when the brokers have no such topic. Lists every
/// topic rather than naming this one: a metadata request naming a topic creates it on brokers
/// with auto-creation on.
///
/// # Errors
/// The client's, when the brokers do not answer within `timeout`.
pub fn topic_partitions(consumer: &BaseConsumer, topic: &str, timeout: Duration) -> Result<Option<Vec<i32>>, KafkaError> {
    let md = consumer.fetch_metadata(None, timeout)?;
    Ok(md.topics().iter().find(|t| t.name() == topic).map(|t| t.partitions().iter().map(rdkafka::metadata::MetadataPartition::id).collect()))
}

/// The partition count of every topic in the cluster. One listing of all topics: a metadata
/// request naming a topic would create it on brokers with auto-creation on, with the
/// broker's default partition count instead of ours.
///
/// # Errors
/// The metadata request failed.
pub fn partition_counts(client: &BaseConsumer) -> Result<HashMap<String, i32>, AdminError> {
    let md = client.fetch_metadata(None, Duration::from_secs(10)).map_err(AdminError::new("listing topics"))?;
    Ok(md.topics().iter().filter(|t| t.error().is_none()).map(|t| (t.name().to_string(), i32::try_from(t.partitions().len()).unwrap_or(1))).filter(|(_, n)| *n > 0).collect())
}

/// A [`TopicSpec`]'s partition count that asks for the broker's `num.partitions` (KIP-464):
/// what a topic auto-created by its first producer gets.
pub const BROKER_DEFAULT_PARTITIONS: i32 = -1;

/// What [`ensure_topics`] found and made.
#[derive(Debug, Clone, Default)]
pub struct Ensured {
    /// Each wanted topic's partition count as the cluster has it afterwards.
    pub wanted: HashMap<String, i32>,
    /// Every topic of the cluster with its partition count, afterwards: startup reads the
    /// sources' counts from it instead of listing the cluster again.
    pub listing: HashMap<String, i32>,
}

/// Creates the topics that `wanted` asks for (given the partition count of every topic the
/// cluster has) and that do not exist yet, and returns the partition count of each of them as
/// the cluster has it afterwards. One listing before and, when a topic was created, one after
/// (another replica may have created it first, with its own count), on one client.
///
/// # Errors
/// A client could not be made, the listing failed, or a topic could not be created.
pub async fn ensure_topics(cfg: &GateConfig, wanted: impl FnOnce(&HashMap<String, i32>) -> Vec<TopicSpec>) -> Result<Ensured, AdminError> {
    let admin: AdminClient<DefaultClientContext> = client_config(cfg).create().map_err(AdminError::new("admin client"))?;
    let meta: BaseConsumer = client_config(cfg).create().map_err(AdminError::new("metadata client"))?;
    let existing = partition_counts(&meta)?;
    let wanted = wanted(&existing);
    let missing: Vec<&TopicSpec> = wanted.iter().filter(|t| !existing.contains_key(&t.name)).collect();
    let max_message = cfg.output_record_limit().map_err(|e| AdminError { what: "output record limit".into(), source: KafkaError::ClientCreation(e.to_string()) })?.to_string();
    if !missing.is_empty() {
        let news: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                // Outputs take what the gate's producer may send (the broker default is 1 MiB).
                let nt = NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(-1)).set("max.message.bytes", &max_message);
                if t.compacted { nt.set("cleanup.policy", "compact") } else { nt }
            })
            .collect();
        let results = admin.create_topics(&news, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))).await.map_err(AdminError::new("creating topics"))?;
        for r in results {
            match r {
                Ok(t) => info!(topic = %t, "created output topic"),
                Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => info!(topic = %t, "output topic exists"),
                Err((t, e)) => return Err(AdminError { what: format!("creating topic {t}"), source: KafkaError::AdminOp(e) }),
            }
        }
    }
    let listing = if missing.is_empty() { existing } else { partition_counts(&meta)? };
    let wanted = wanted.iter().filter_map(|t| listing.get(&t.name).copied().or((t.partitions > 0).then_some(t.partitions)).map(|n| (t.name.clone(), n))).collect();
    Ok(Ensured { wanted, listing })
}

/// Each topic's `max.message.bytes` as the cluster applies it (the topic's own, else the
/// broker's). A topic the cluster does not describe (no `DescribeConfigs` permission, not
/// created yet) is left out.
///
/// # Errors
/// A client could not be made or the request failed as a whole.
pub async fn max_message_bytes(cfg: &GateConfig, topics: &[&str]) -> Result<HashMap<String, usize>, AdminError> {
    let admin: AdminClient<DefaultClientContext> = client_config(cfg).create().map_err(AdminError::new("admin client"))?;
    let specs: Vec<ResourceSpecifier<'_>> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let results = admin.describe_configs(&specs, &AdminOptions::new().request_timeout(Some(Duration::from_secs(10)))).await.map_err(AdminError::new("describing output topics"))?;
    let mut out = HashMap::new();
    for r in results.into_iter().flatten() {
        let OwnedResourceSpecifier::Topic(name) = &r.specifier else { continue };
        if let Some(n) = r.get("max.message.bytes").and_then(|e| e.value.as_deref()).and_then(|v| v.parse().ok()) {
            out.insert(name.clone(), n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gates_defaults_give_way_to_the_users_settings() {
        let base = "kafka:\n  brokers: b:9092\ncontracts:\n  dir: c\nbindings:\n  - name: f\n    source: f\n    contract: f\n    fallback: hold\n";
        let parse = |extra: &str| -> GateConfig {
            let text = base.replace("  brokers: b:9092\n", &format!("  brokers: b:9092\n{extra}"));
            serde_saphyr::from_str(&text).expect("test config parses")
        };
        let consumer = |extra: &str| consumer_config(&parse(extra)).get("fetch.queue.backoff.ms").map(str::to_string);
        let producer = |extra: &str| producer_config(&parse(extra)).get("linger.ms").map(str::to_string);
        // (extra kafka section, expected value)
        let cases = [
            ("", FETCH_QUEUE_BACKOFF_MS),
            ("  properties: { fetch.queue.backoff.ms: '200' }\n", "200"),
            ("  consumer_properties: { fetch.queue.backoff.ms: '300' }\n", "300"),
            ("  properties: { fetch.queue.backoff.ms: '200' }\n  consumer_properties: { fetch.queue.backoff.ms: '300' }\n", "300"),
        ];
        for (extra, want) in cases {
            assert_eq!(consumer(extra).as_deref(), Some(want), "{extra:?}");
        }
        let heartbeat = |extra: &str| consumer_config(&parse(extra)).get("heartbeat.interval.ms").map(str::to_string);
        let cases = [
            ("", HEARTBEAT_INTERVAL_MS),
            ("  properties: { heartbeat.interval.ms: '3000' }\n", "3000"),
            ("  consumer_properties: { heartbeat.interval.ms: '1500', session.timeout.ms: '6000' }\n", "1500"),
        ];
        for (extra, want) in cases {
            assert_eq!(heartbeat(extra).as_deref(), Some(want), "{extra:?}");
        }
        let cases = [
            ("", "5"),
            ("  properties: { linger.ms: '20' }\n", "20"),
            ("  producer_properties: { linger.ms: '30' }\n", "30"),
            ("  properties: { linger.ms: '20' }\n  producer_properties: { linger.ms: '30' }\n", "30"),
        ];
        for (extra, want) in cases {
            assert_eq!(producer(extra).as_deref(), Some(want), "{extra:?}");
        }
        let c = producer_config(&parse("  properties: { security.protocol: ssl }\n"));
        assert_eq!((c.get("bootstrap.servers"), c.get("enable.idempotence"), c.get("security.protocol")), (Some("b:9092"), Some("true"), Some("ssl")));
    }
}
