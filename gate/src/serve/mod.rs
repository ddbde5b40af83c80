//! `contract-gate serve`: the sidecar.

pub mod acks;
pub mod assemble;
pub mod binding;
pub mod decode;
pub mod delivery;
pub mod events;
pub mod flow;
pub mod fit;
pub mod flusher;
pub mod headers;
pub mod key;
pub mod lastgood;
pub mod telemetry;
pub mod offsets;
pub mod partitions;
pub mod pending;
pub mod patterns;
pub mod pipeline;
pub mod plan;
pub mod ready;
pub mod rebalance;
pub mod record;
pub mod record_loop;
pub mod refused;
pub mod shutdown;
pub mod startup;
pub mod reload;
pub mod shadow;
pub mod breaker_store;
pub mod canary;
pub mod strict;
pub mod topology;
pub mod workers;

use crate::config::{DeliveryMode, GateConfig};
use binding::BindingRuntime;
use breaker::{BreakerOptions, RedisConfig};
use crate::kafka::{consumer_config, producer_config};
use crate::output::Output;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::info;

/// Failures of the sidecar (the process exits non-zero).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Contracts cannot be had (the directory, file, topic or refusal is named).
    #[error("contracts")]
    Contracts(#[source] Box<crate::contract_source::ContractSourceError>),
    /// A binding's contract cannot be loaded.
    #[error("contract of binding {binding}")]
    BindingContract {
        /// Binding.
        binding: String,
        /// Why.
        #[source]
        source: Box<crate::contract_source::ContractSourceError>,
    },
    /// A Kafka client could not be created or used.
    #[error("kafka: {what}")]
    Kafka {
        /// What the gate was doing.
        what: String,
        /// The client's error.
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// Topics could not be listed or created.
    #[error(transparent)]
    Admin(#[from] crate::kafka::AdminError),
    /// An output could not be written; its source record stays uncommitted.
    #[error("produce to {output} of {topic}[{partition}]@{offset} failed")]
    Produce {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Source offset.
        offset: i64,
        /// The output (or `replay`).
        output: &'static str,
        /// The producer's error.
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// A transactional call failed (exactly-once).
    #[error("transaction: {what}")]
    Transaction {
        /// The call.
        what: &'static str,
        /// The producer's error.
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// The consumer has no group metadata to commit offsets in a transaction with.
    #[error("transaction: the consumer has no group metadata")]
    NoGroupMetadata,
    /// The breaker could not be set up.
    #[error("breaker of binding {binding}")]
    Breaker {
        /// Binding.
        binding: String,
        /// Why.
        #[source]
        source: BreakerSetupError,
    },
    /// The HTTP listener could not start or failed.
    #[error("http: {what}")]
    Http {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error("metrics recorder")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
    /// A task of the sidecar panicked or was cancelled.
    #[error("{what} task")]
    Task {
        /// The task.
        what: &'static str,
        /// How it ended.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl From<crate::contract_source::ContractSourceError> for ServeError {
    fn from(e: crate::contract_source::ContractSourceError) -> Self {
        Self::Contracts(Box::new(e))
    }
}

/// Why a binding's breaker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BreakerSetupError {
    /// Its configuration is refused.
    #[error(transparent)]
    Config(#[from] breaker::ConfigError),
    /// Its Redis store cannot be created.
    #[error(transparent)]
    Store(#[from] breaker::StoreError),
}

/// A Kafka error with what the gate was doing.
pub(crate) fn kafka_err(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> ServeError {
    let what = what.into();
    move |source| ServeError::Kafka { what, source: Box::new(source) }
}

/// A running sidecar.
#[derive(Debug)]
pub struct Running {
    /// The bindings at start.
    pub bindings: Vec<Arc<BindingRuntime>>,
    /// Every binding now (pattern bindings add to them), for the HTTP admin.
    pub topology: topology::BindingSet,
    /// Flip to true to stop.
    pub shutdown: watch::Sender<bool>,
    /// The record loops (`workers` of them), as one task: it ends when every loop has ended,
    /// with the first loop's error.
    pub pipeline: tokio::task::JoinHandle<Result<(), ServeError>>,
    /// Flush loops.
    pub flushers: Vec<tokio::task::JoinHandle<()>>,
    /// Probe for `/ready`.
    pub ready: Arc<ready::Readiness>,
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
    // Everything `config validate` checks, first: a config it passes fails here only on the
    // network (Kafka, Redis, the registry's log).
    let mut prepared = startup::offline(cfg)?;
    preflight(cfg).await?;
    // Read once: every binding's store and the preflight share them.
    let redis_tls = prepared.redis_tls.take();
    redis_preflight(cfg, redis_tls.clone()).await?;
    let source = match prepared.dir.take() {
        Some(dir) => crate::contract_source::ContractSource::Dir(dir),
        None => crate::contract_source::ContractSource::open(cfg).await?,
    };
    let replica = BreakerOptions::default().replica;
    let workers = cfg.workers();
    let builder = Arc::new(assemble::Builder { cfg: cfg.clone(), source: Arc::new(source), redis_tls, replica: replica.clone(), workers });
    let patterns = crate::config::pattern::Patterns::new(cfg)?;
    let mut bindings = Vec::new();
    for (i, b) in cfg.bindings.iter().enumerate() {
        if b.pattern().is_some() {
            continue;
        }
        // From `contracts.dir`, the contract was compiled and checked offline; from the
        // registry, it is chosen now, through the same checks.
        bindings.push(builder.runtime(b, prepared.contracts.get_mut(i).and_then(Option::take))?);
    }
    // The topics the patterns take now; later ones are picked up by `patterns::follow`.
    let lister = if patterns.is_empty() { None } else { Some(patterns::lister(cfg)?) };
    let matched = match &lister {
        Some(l) => patterns::discover(l, cfg, &patterns, &bindings.iter().map(|b| b.cfg.source.clone()).collect()).await?,
        None => Vec::new(),
    };
    for b in &matched {
        bindings.push(builder.runtime(b, None)?);
        let pattern_binding = crate::config::pattern::config_name(&b.name);
        telemetry::Emit::emit(telemetry::patterns::TopicMatched { pattern_binding, binding: &b.name, topic: &b.source, refused: None });
    }

    let exactly_once = cfg.delivery.mode == DeliveryMode::ExactlyOnce;
    // Events go through a producer outside any transaction: they report, they are not data.
    let events_producer: FutureProducer = producer_config(cfg).create().map_err(kafka_err("events producer"))?;
    let assemble::Outputs { partitions, limits, listing } = builder.outputs(&bindings, true).await?;
    let (tx, rx) = watch::channel(false);
    let transitions = events::TransitionSink::new(events_producer.clone(), cfg.events.breaker_topic.clone(), replica.clone()).with_group(cfg.kafka.group_id.clone());
    let violations = events::ViolationSink::new(events_producer.clone(), cfg.events.violations_topic.clone(), cfg.events.violations_per_rule_per_second);
    // A pattern binding may be strict even before it matches a topic.
    let any_strict = cfg.bindings.iter().any(|b| b.strict);
    let set = topology::BindingSet::new(topology::Topology::new(bindings.clone(), partitions.clone(), limits));
    advise_topics(&bindings, workers, listing.as_ref(), &set.load(), cfg.kafka.create_topics);
    let mut pipelines = Vec::new();
    // Strict bindings hear from their flusher when a window generation has been judged; every
    // record loop holds deferred records, so each has its own channel.
    let mut judged_txs = Vec::new();
    for worker in 0..workers {
        let (judged_tx, judged_rx) = tokio::sync::mpsc::unbounded_channel();
        if any_strict {
            judged_txs.push(judged_tx);
        }
        pipelines.push(worker_pipeline(cfg, &replica, &set, &violations, worker, any_strict.then_some(judged_rx))?);
    }
    let tasks = assemble::Tasks { transitions: transitions.clone(), events_producer: events_producer.clone(), judged: judged_txs, client: crate::kafka::client_config(cfg), replica: replica.clone(), shutdown: rx.clone() };
    let mut flushers: Vec<_> = bindings.iter().flat_map(|b| tasks.spawn(b, assemble::last_good_partitions(b, &partitions))).collect();
    if let Some(lister) = lister {
        let consumers = pipelines.iter().map(|p| Arc::clone(&p.consumer)).collect();
        flushers.push(tokio::spawn(patterns::follow(Arc::clone(&builder), lister, patterns, set.clone(), tasks, consumers)));
    }
    let ready = Arc::new(ready::Readiness::new(crate::kafka::client_config(cfg), set.clone()));
    let pipeline = tokio::spawn(workers::supervise(pipelines, exactly_once, rx));
    let registry = builder.source.registry();
    if let Some(r) = &registry {
        reload::spawn(Arc::clone(r), set.clone(), tx.subscribe());
    }
    info!(bindings = bindings.len(), replica = %replica, workers, "serving");
    Ok(Running { bindings, topology: set, shutdown: tx, pipeline, flushers, ready, transitions, registry })
}

/// The `transactional.id` of record loop `worker` under exactly-once. With static membership
/// (`instance`: the loop's own `group.instance.id`) it is stable across restarts of the
/// replica, so a restarted loop's `init_transactions` fences the transaction a killed one left
/// open at once (read_committed readers otherwise wait for the broker's
/// `transaction.timeout.ms`); two live replicas cannot share it, since the group already
/// refuses two live members with one instance id. Without it the id is the process's own
/// (`replica`, unique per process), worker 0 keeping the id a single loop always had.
fn transactional_id(group: &str, instance: Option<&str>, replica: &str, worker: usize) -> String {
    match instance {
        Some(id) => format!("{group}-{id}"),
        None if worker == 0 => format!("{group}-{replica}"),
        None => format!("{group}-{replica}-{worker}"),
    }
}

/// Record loop `worker`'s own clients: a consumer in the group (the group spreads the
/// partitions over every loop of every replica) and an output producer, transactional under
/// exactly-once with an id of its own ([`transactional_id`]).
fn worker_pipeline(cfg: &GateConfig, replica: &str, set: &topology::BindingSet, violations: &events::ViolationSink, worker: usize, judged: Option<strict::JudgedRx>) -> Result<pipeline::Pipeline, ServeError> {
    let exactly_once = cfg.delivery.mode == DeliveryMode::ExactlyOnce;
    let mut ccfg = consumer_config(cfg);
    // Static membership names one member per id: every loop but the first gets its own.
    if let Some(id) = ccfg.get("group.instance.id").filter(|_| worker > 0).map(|id| format!("{id}-{worker}")) {
        ccfg.set("group.instance.id", id);
    }
    let mut pcfg = producer_config(cfg);
    if exactly_once {
        let instance = ccfg.get("group.instance.id").filter(|id| !id.is_empty());
        let id = transactional_id(&cfg.kafka.group_id, instance, replica, worker);
        info!(worker, transactional_id = %id, stable = instance.is_some(), "exactly-once: transactional id");
        pcfg.set("transactional.id", id);
    }
    let ack_context = acks::AckContext::default();
    let ack_queue = Arc::clone(&ack_context.queue);
    let producer: acks::OutputProducer = pcfg.create_with_context(ack_context).map_err(kafka_err(format!("output producer of worker {worker}")))?;
    let consumer: StreamConsumer<rebalance::GateContext> = ccfg
        .set("group.id", &cfg.kafka.group_id)
        .set("enable.auto.commit", if exactly_once { "false" } else { "true" })
        .set("auto.commit.interval.ms", "1000")
        .set("isolation.level", "read_committed")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create_with_context(rebalance::GateContext::default())
        .map_err(kafka_err(format!("source consumer of worker {worker}")))?;
    set.subscribe(&consumer).map_err(kafka_err("subscribing to the sources"))?;
    Ok(pipeline::Pipeline {
        judged,
        consumer: Arc::new(consumer),
        producer,
        acks: ack_queue,
        batch: std::sync::atomic::AtomicU64::new(0),
        topology: set.clone(),
        decoder: decode::Decoder::new(cfg)?,
        violations: violations.clone(),
        worker,
    })
}

/// The largest output record each data output topic takes: the producer's
/// `message.max.bytes`, lowered to the topic's `max.message.bytes` where the cluster says so.
/// A topic below the largest accepted record is named at startup: its oversized records will
/// be quarantined as stubs.
pub(crate) async fn output_limits(cfg: &GateConfig, bindings: &[Arc<BindingRuntime>]) -> Result<topology::TopicMap<usize>, ServeError> {
    let producer = cfg.output_record_limit()?;
    let names: Vec<&str> = bindings.iter().flat_map(|b| b.topics.iter().filter(|(o, _)| *o != Output::LastGood).map(|(_, t)| t)).collect();
    let described = match crate::kafka::max_message_bytes(cfg, &names).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the output topics' max.message.bytes; assuming the producer's message.max.bytes");
            HashMap::new()
        }
    };
    let needed = cfg.max_record_bytes.saturating_add(fit::GATE_HEADERS_BYTES);
    let mut out = topology::TopicMap::default();
    for name in names {
        let limit = described.get(name).map_or(producer, |t| producer.min(*t));
        if limit < needed {
            tracing::warn!(topic = name, max_message_bytes = limit, max_record_bytes = cfg.max_record_bytes, "output topic takes less than the largest accepted record: larger records go to quarantine as stubs; raise the topic's max.message.bytes to {needed} or lower max_record_bytes");
        }
        out.insert(name.to_string(), limit);
    }
    Ok(out)
}

/// Says at startup which sources do not exist yet (the record loops subscribe to them all the
/// same), which outputs do not exist under `create_topics: false`, and when the sources'
/// partitions fall unevenly over this process's loops: the loop with the most works on alone
/// once the others have caught up, so a backlog drains at its pace (3 partitions over 2 loops:
/// a third slower, measured in BENCHMARKS.md). Advice, not a failure: other replicas in the
/// group change the spread, and a broker may auto-create a missing topic. Reads the counts
/// from `listing` (made while readying the outputs); without one (the listing failed) it says
/// nothing.
fn advise_topics(bindings: &[Arc<BindingRuntime>], loops: usize, listing: Option<&HashMap<String, i32>>, topology: &topology::Topology, create_topics: bool) {
    let Some(counts) = listing else { return };
    for b in bindings {
        let source = &b.cfg.source;
        if !counts.contains_key(source) {
            let outputs = topology.partitions.get(b.topics.get(crate::output::Output::Validated)).copied();
            tracing::warn!(topic = %source, output_partitions = outputs, "source topic does not exist (yet): the record loops read it once it is created (with the broker's auto-creation, by the first record a producer writes); source partition p goes to output partition p, or p mod the output's count where it has fewer");
        }
        // The gate made the outputs itself otherwise (and a listing right after may not show
        // them yet on every broker).
        if create_topics {
            continue;
        }
        for (_, output) in assemble::written(b).filter(|(_, t)| !counts.contains_key(*t)) {
            tracing::warn!(topic = %output, "output topic does not exist and kafka.create_topics is false: records routed there wait for it (the broker may create it on the first write, with its default partition count); until the gate restarts, the producer's partitioner places them, so keyless records of one source partition may land in several output partitions");
        }
    }
    let total: usize = bindings.iter().filter_map(|b| counts.get(&b.cfg.source)).map(|n| usize::try_from(*n).unwrap_or(0)).sum();
    if total == 0 {
        return;
    }
    match workers::balance(total, loops) {
        workers::Balance::Even => {}
        workers::Balance::Idle { idle } => info!(partitions = total, workers = loops, idle, "the sources have fewer partitions than record loops: some loops hold none (alone in the group)"),
        workers::Balance::Uneven { busiest, balanced } => tracing::warn!(
            partitions = total,
            workers = loops,
            busiest,
            "the sources' partitions fall unevenly over the record loops: alone in the group, one loop holds {busiest} of {total} and a backlog drains at its pace; workers: {balanced} (or a partition count that is a multiple of {loops}) spreads them evenly"
        ),
    }
}


/// [`crate::kafka::preflight::check`] off the async runtime (it blocks on librdkafka).
pub(crate) async fn preflight(cfg: &GateConfig) -> Result<(), ServeError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || crate::kafka::preflight::check(&cfg, std::time::Duration::from_secs(10)))
        .await
        .map_err(|source| ServeError::Task { what: "kafka preflight", source })?
        .map_err(ServeError::Config)
}

/// One `PING` to Redis before the breakers use it: wrong credentials, an untrusted certificate
/// or a plain client on a TLS port stop startup naming the setting; an outage does not (the
/// breakers' `redis.fallback` covers it).
async fn redis_preflight(cfg: &GateConfig, tls: Option<breaker::TlsPem>) -> Result<(), ServeError> {
    let Some(r) = &cfg.redis else { return Ok(()) };
    let rc = RedisConfig { url: r.url.clone(), op_timeout: r.op_timeout, tls, sentinel: r.sentinel.clone(), ..RedisConfig::default() };
    let invalid = |field: &str, message: String| ServeError::Config(crate::config::ConfigError::Invalid { field: field.into(), message });
    // The client's messages may quote the URL; never its password.
    let clean = |m: &str| crate::config::interpolate::redact(m, &[crate::config::interpolate::password_of(&r.url)]);
    match breaker::redis_ping(&rc).await {
        Ok(()) => Ok(()),
        Err(breaker::PingFailure::Credentials(m)) => Err(invalid("redis.url", format!("Redis refused the user name or password in the URL: {}", clean(&m)))),
        Err(breaker::PingFailure::Tls(m)) => Err(invalid(
            if r.tls.as_ref().is_some_and(|t| t.ca_file.is_some()) { "redis.tls.ca_file" } else { "redis.tls" },
            format!("the TLS handshake with Redis failed (an untrusted server certificate: set redis.tls.ca_file to its CA; a client certificate required: set redis.tls.cert_file and key_file): {}", clean(&m)),
        )),
        Err(breaker::PingFailure::Protocol(m)) => Err(invalid(
            "redis.url",
            format!("Redis closed the connection without answering PING{}: {}", if r.url.starts_with("redis://") { " (a TLS port? write rediss://)" } else { "" }, clean(&m)),
        )),
        Err(breaker::PingFailure::Setting { field, message }) => Err(invalid(&format!("redis.{field}"), clean(&message))),
        Err(breaker::PingFailure::Unreachable(m)) => {
            tracing::warn!(url = %crate::config::interpolate::redact_url(&r.url), reason = %clean(&m), "Redis cannot be reached at startup; the breakers start on redis.fallback");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::transactional_id;

    #[test]
    fn the_transactional_id_follows_the_static_member_id_else_the_process() {
        // (instance id of the loop's consumer, worker) -> transactional.id
        let cases = [
            (Some("gate-a"), 0, "g-gate-a"),
            (Some("gate-a-1"), 1, "g-gate-a-1"),
            (None, 0, "g-host-42-0"),
            (None, 3, "g-host-42-0-3"),
        ];
        for (instance, worker, want) in cases {
            assert_eq!(transactional_id("g", instance, "host-42-0", worker), want, "{instance:?} worker {worker}");
        }
    }
}
