//! `contract-gate serve`: the sidecar.

pub mod acks;
pub mod avro;
pub mod binding;
pub mod decode;
pub mod events;
pub mod flusher;
pub mod headers;
pub mod lastgood;
pub mod metrics;
pub mod offsets;
pub mod pending;
pub mod pipeline;
pub mod plan;
pub mod rebalance;
pub mod reload;
pub mod store;
pub mod strict;
pub mod transactional;

use crate::config::{DeliveryMode, GateConfig};
use binding::BindingRuntime;
use breaker::{Breaker, BreakerOptions, MemoryStore, RedisConfig, RedisStore};
use contracts::decode::DecodeLimits;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::AnyStore;
use tokio::sync::watch;
use tracing::info;

/// Failures of the sidecar (the process exits non-zero).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A contract cannot be loaded.
    #[error("contracts: {reason}")]
    Contracts {
        /// Why.
        reason: String,
    },
    /// A Kafka client could not be created or a topic set up.
    #[error("kafka: {reason}")]
    Kafka {
        /// Why.
        reason: String,
    },
    /// An output could not be written; its source record stays uncommitted.
    #[error("produce to the output of {topic}[{partition}]@{offset} failed: {reason}")]
    Produce {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// Producer error.
        reason: String,
    },
    /// The breaker could not be set up.
    #[error("breaker of binding {binding}: {reason}")]
    Breaker {
        /// Binding.
        binding: String,
        /// Why.
        reason: String,
    },
    /// The HTTP listener could not start.
    #[error("http: {reason}")]
    Http {
        /// Why.
        reason: String,
    },
    /// A task failed unexpectedly.
    #[error("internal: {reason}")]
    Internal {
        /// Why.
        reason: String,
    },
}

fn kafka_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::Kafka { reason: e.to_string() }
}

/// Base client config with the user's pass-through properties.
#[must_use]
pub fn client_config(cfg: &GateConfig) -> ClientConfig {
    layered(cfg, &[], &std::collections::BTreeMap::new())
}

/// How long librdkafka waits before fetching again for a partition whose prefetch queue was
/// full. Its default (1 s) stalls any consumer that drains the queue faster than that: the
/// record loop sat idle a quarter of the time working through a backlog (BENCHMARKS.md).
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// A client config in layers, each overriding the one before: the gate's defaults for the
/// role, the common properties, then the role's own properties. A user's setting always
/// beats a gate default, wherever the user put it.
fn layered(cfg: &GateConfig, defaults: &[(&str, &str)], role: &std::collections::BTreeMap<String, String>) -> ClientConfig {
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
    layered(cfg, &[("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)], &cfg.kafka.consumer_properties)
}

/// Client config of an output producer: the gate's producer defaults, the common properties,
/// then the producer's own properties (`enable.idempotence` is refused in both at startup).
#[must_use]
pub fn producer_config(cfg: &GateConfig) -> ClientConfig {
    layered(cfg, &[("enable.idempotence", "true"), ("linger.ms", "5"), ("compression.type", "lz4")], &cfg.kafka.producer_properties)
}

/// A running sidecar.
#[derive(Debug)]
pub struct Running {
    /// The bindings, for the HTTP admin.
    pub bindings: Vec<Arc<BindingRuntime>>,
    /// Flip to true to stop.
    pub shutdown: watch::Sender<bool>,
    /// The record loop.
    pub pipeline: tokio::task::JoinHandle<Result<(), ServeError>>,
    /// Flush loops.
    pub flushers: Vec<tokio::task::JoinHandle<()>>,
    /// Probe for `/ready`.
    pub ready: Arc<crate::http::Readiness>,
    /// Where transitions are published (manual overrides use it too).
    pub transitions: events::TransitionSink,
    /// The contract registry, when contracts come from it (its API is served beside the
    /// admin routes and bindings hot-reload from it).
    pub registry: Option<Arc<registry::Registry>>,
}

/// Starts the sidecar: contracts, breakers, Kafka clients, output topics, last-good index,
/// the record loop and the flush loops.
///
/// # Errors
/// A [`ServeError`] naming what could not be set up.
pub async fn start(cfg: &GateConfig) -> Result<Running, ServeError> {
    cfg.validate()?;
    let source = crate::contract_source::ContractSource::open(cfg).await.map_err(|reason| ServeError::Contracts { reason })?;
    let now = chrono::Utc::now().timestamp_millis();
    let replica = BreakerOptions::default().replica;
    let mut bindings = Vec::new();
    for b in &cfg.bindings {
        let contract = source.compile(&b.contract, b.object.as_deref(), b.version_req()?.as_ref()).map_err(|e| ServeError::Contracts { reason: format!("binding {}: {e}", b.name) })?;
        object_named_if_ambiguous(cfg, b, &contract)?;
        let rules = contract.rules.clone();
        let store = match &cfg.redis {
            None => AnyStore::Memory(MemoryStore::new(b.breaker.window.clone(), &rules)),
            Some(r) => {
                let major = contract.version.split('.').next().unwrap_or("0");
                let rc = RedisConfig { url: r.url.clone(), key_prefix: format!("{}:{}:{}:v{major}", r.key_prefix, b.name, contract.id), op_timeout: r.op_timeout, fallback: r.fallback, ..RedisConfig::default() };
                AnyStore::Redis(RedisStore::new(rc, b.breaker.window.clone(), &rules).map_err(|e| ServeError::Breaker { binding: b.name.clone(), reason: e.to_string() })?)
            }
        };
        let opts = BreakerOptions { name: b.name.clone(), replica: replica.clone(), fallback: cfg.redis.as_ref().map(|r| r.fallback).unwrap_or_default() };
        let brk = Breaker::new(b.breaker.clone(), rules, store, opts, now).map_err(|e| ServeError::Breaker { binding: b.name.clone(), reason: e.to_string() })?;
        bindings.push(Arc::new(BindingRuntime::new(b.clone(), Arc::new(contract), brk, now)));
    }

    let exactly_once = cfg.delivery.mode == DeliveryMode::ExactlyOnce;
    let mut pcfg = producer_config(cfg);
    // Events go through a producer outside any transaction: they report, they are not data.
    let events_producer: FutureProducer = pcfg.create().map_err(kafka_err)?;
    if exactly_once {
        pcfg.set("transactional.id", format!("{}-{}", cfg.kafka.group_id, replica));
    }
    let ack_context = acks::AckContext::default();
    let ack_queue = Arc::clone(&ack_context.queue);
    let producer: acks::OutputProducer = pcfg.create_with_context(ack_context).map_err(kafka_err)?;
    let partitions = if cfg.kafka.create_topics { ensure_topics(cfg, &bindings).await? } else { HashMap::new() };
    for b in &bindings {
        let n = lastgood::rebuild(cfg, b).await.map_err(kafka_err)?;
        info!(binding = %b.cfg.name, keys = n, "last-good index rebuilt");
    }
    let consumer: StreamConsumer<rebalance::GateContext> = consumer_config(cfg)
        .set("group.id", &cfg.kafka.group_id)
        .set("enable.auto.commit", if exactly_once { "false" } else { "true" })
        .set("auto.commit.interval.ms", "1000")
        .set("isolation.level", "read_committed")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create_with_context(rebalance::GateContext::default())
        .map_err(kafka_err)?;
    let sources: Vec<&str> = bindings.iter().map(|b| b.cfg.source.as_str()).collect();
    consumer.subscribe(&sources).map_err(kafka_err)?;
    let consumer = Arc::new(consumer);
    let (tx, rx) = watch::channel(false);
    let transitions = events::TransitionSink::new(events_producer.clone(), cfg.events.breaker_topic.clone(), replica.clone());
    let violations = events::ViolationSink::new(events_producer.clone(), cfg.events.violations_topic.clone(), cfg.events.violations_per_rule_per_second);
    let last_good_partitions: Vec<Option<i32>> = bindings.iter().map(|b| partitions.get(&b.topics.last_good).copied()).collect();
    // Strict bindings hear from their flusher when a window generation has been judged.
    let (judged_tx, judged_rx) = tokio::sync::mpsc::unbounded_channel();
    let any_strict = bindings.iter().any(|b| b.cfg.strict);
    let pipeline = pipeline::Pipeline {
        judged: any_strict.then_some(judged_rx),
        consumer: Arc::clone(&consumer),
        producer,
        acks: ack_queue,
        batch: std::sync::atomic::AtomicU64::new(0),
        bindings: bindings.iter().map(|b| (b.cfg.source.clone(), Arc::clone(b))).collect(),
        partitions: partitions.into_iter().collect(),
        limits: DecodeLimits { max_record_bytes: cfg.max_record_bytes },
        decoder: decode::Decoder::new(cfg)?,
        violations,
    };
    let mut flushers: Vec<_> = bindings
        .iter()
        .map(|b| tokio::spawn(flusher::run(Arc::clone(b), transitions.clone(), b.cfg.strict.then(|| judged_tx.clone()), rx.clone())))
        .collect();
    // The last-good index topic is written outside any transaction, by the events producer:
    // it serves restarts and replicas, and an aborted batch is re-read and re-staged anyway.
    for (b, parts) in bindings.iter().zip(last_good_partitions) {
        let interval = b.cfg.last_good_interval;
        flushers.push(tokio::spawn(lastgood::writer(Arc::clone(b), events_producer.clone(), parts, interval, rx.clone())));
    }
    let ready = Arc::new(crate::http::Readiness::new(client_config(cfg), bindings.clone()));
    let pipeline = if exactly_once { tokio::spawn(transactional::run(pipeline, rx)) } else { tokio::spawn(pipeline.run(rx)) };
    let registry = source.registry();
    if let Some(r) = &registry {
        reload::spawn(Arc::clone(r), bindings.clone(), tx.subscribe());
    }
    info!(bindings = bindings.len(), replica = %replica, "serving");
    Ok(Running { bindings, shutdown: tx, pipeline, flushers, ready, transitions, registry })
}

/// Creates missing output and event topics with the source topic's partition count, and
/// returns the partition count of every output topic.
async fn ensure_topics(cfg: &GateConfig, bindings: &[Arc<BindingRuntime>]) -> Result<HashMap<String, i32>, ServeError> {
    let admin: AdminClient<DefaultClientContext> = client_config(cfg).create().map_err(kafka_err)?;
    let meta_client: rdkafka::consumer::BaseConsumer = client_config(cfg).create().map_err(kafka_err)?;
    // One listing of all topics: a metadata request naming a topic would create it on brokers
    // with auto-creation on, with the broker's default partition count instead of ours.
    let listing = |c: &rdkafka::consumer::BaseConsumer| -> Result<HashMap<String, i32>, ServeError> {
        let md = c.fetch_metadata(None, Duration::from_secs(10)).map_err(kafka_err)?;
        Ok(md.topics().iter().filter(|t| t.error().is_none()).map(|t| (t.name().to_string(), i32::try_from(t.partitions().len()).unwrap_or(1))).collect())
    };
    let existing = listing(&meta_client)?;
    let count = |topic: &str| existing.get(topic).copied().filter(|n| *n > 0);
    let mut wanted: Vec<(String, i32, bool)> = Vec::new();
    for b in bindings {
        let n = count(&b.cfg.source).unwrap_or(1);
        let t = &b.topics;
        for topic in [&t.validated, &t.quarantine, &t.degraded, &t.held] {
            wanted.push((topic.clone(), n, false));
        }
        wanted.push((t.last_good.clone(), n, true));
    }
    wanted.push((cfg.events.breaker_topic.clone(), 1, false));
    wanted.push((cfg.events.violations_topic.clone(), 1, false));
    let missing: Vec<&(String, i32, bool)> = wanted.iter().filter(|(t, _, _)| count(t).is_none()).collect();
    if !missing.is_empty() {
        let news: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|(t, n, compact)| {
                let nt = NewTopic::new(t, *n, TopicReplication::Fixed(-1));
                if *compact { nt.set("cleanup.policy", "compact") } else { nt }
            })
            .collect();
        let results = admin.create_topics(&news, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))).await.map_err(kafka_err)?;
        for r in results {
            match r {
                Ok(t) => info!(topic = %t, "created output topic"),
                Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => info!(topic = %t, "output topic exists"),
                Err((t, e)) => return Err(ServeError::Kafka { reason: format!("creating topic {t}: {e}") }),
            }
        }
    }
    let after = listing(&meta_client)?;
    Ok(wanted.into_iter().map(|(t, n, _)| { let c = after.get(&t).copied().unwrap_or(n); (t, c) }).collect())
}

/// Why a binding cannot take the contract's first schema object by default: it reads Avro
/// and the contract has several objects. The registry admits a subject's Avro schema against
/// the object named like its record, so the first object could judge records by other rules
/// than the ones their schema was admitted under; the binding must say which (`object`).
pub(crate) fn ambiguous_object(b: &crate::config::Binding, contract: &contracts::CompiledContract) -> Option<String> {
    (b.format == crate::config::PayloadFormat::Avro && b.object.is_none() && contract.objects.len() > 1).then(|| {
        let names: Vec<&str> = contract.objects.iter().map(|o| &**o).collect();
        format!("contract {} {} has {} schema objects ({}); a binding with format: avro must name the one its records carry", contract.id, contract.version, names.len(), names.join(", "))
    })
}

/// [`ambiguous_object`] as the startup error of `serve` and `replay`, naming the field.
///
/// # Errors
/// `bindings[i].object` when the binding must name its schema object.
pub(crate) fn object_named_if_ambiguous(cfg: &GateConfig, b: &crate::config::Binding, contract: &contracts::CompiledContract) -> Result<(), crate::config::ConfigError> {
    let Some(message) = ambiguous_object(b, contract) else { return Ok(()) };
    let i = cfg.bindings.iter().position(|x| x.name == b.name).unwrap_or_default();
    Err(crate::config::ConfigError::Invalid { field: format!("bindings[{i}].object"), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_avro_binding_names_its_object_when_the_contract_has_several() {
        let one = "apiVersion: v3.1.0\nkind: DataContract\nid: o\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n";
        let two = format!("{one}  - name: refunds\n    properties:\n      - name: id\n        logicalType: string\n");
        let binding = |format: &str, object: Option<&str>| -> crate::config::Binding {
            let object = object.map_or(String::new(), |o| format!("object: {o}\n"));
            serde_saphyr::from_str(&format!("name: b\nsource: s\ncontract: o\nfallback: hold\nformat: {format}\n{object}")).expect("binding parses")
        };
        // (contract, format, object named, refused)
        let cases = [
            (two.as_str(), "avro", None, true),
            (two.as_str(), "avro", Some("refunds"), false),
            (two.as_str(), "json", None, false),
            (one, "avro", None, false),
        ];
        for (doc, format, object, refused) in cases {
            let model: contracts::Contract = serde_saphyr::from_str(doc).expect("contract parses");
            let compiled = contracts::compile(&model, object).expect("compiles");
            let why = ambiguous_object(&binding(format, object), &compiled);
            assert_eq!(why.is_some(), refused, "{format} {object:?} {why:?}");
            if let Some(why) = why {
                assert!(why.contains("orders, refunds") && why.contains("format: avro"), "{why}");
            }
        }
        // As a startup error: the field of the binding at fault.
        let cfg: GateConfig = serde_saphyr::from_str("kafka:\n  brokers: b:9092\ncontracts:\n  dir: c\nbindings:\n  - name: a\n    source: a\n    contract: o\n    fallback: hold\n  - name: b\n    source: b\n    contract: o\n    fallback: hold\n    format: avro\n").expect("config parses");
        let model: contracts::Contract = serde_saphyr::from_str(&two).expect("contract parses");
        let compiled = contracts::compile(&model, None).expect("compiles");
        assert!(object_named_if_ambiguous(&cfg, &cfg.bindings[0], &compiled).is_ok());
        let err = object_named_if_ambiguous(&cfg, &cfg.bindings[1], &compiled).expect_err("ambiguous").to_string();
        assert!(err.contains("bindings[1].object"), "{err}");
    }

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
