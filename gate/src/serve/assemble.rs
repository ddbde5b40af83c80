//! One binding put together, the same way at startup and when a pattern binding picks up a
//! topic later: its runtime (contract, key contract, breaker with its store), its output
//! topics (created, their limits read, the last-good index rebuilt) and its tasks (flusher,
//! last-good writer, canary).

use super::binding::{self, BindingRuntime};
use super::breaker_store::AnyStore;
use super::topology::Added;
use super::{canary, events, flusher, lastgood, startup, topology, ServeError};
use crate::config::{Binding, Fallback, GateConfig};
use crate::contract_source::ContractSource;
use crate::kafka::TopicSpec;
use crate::output::Output;
use breaker::{Breaker, BreakerOptions, MemoryStore, RedisConfig, RedisStore};
use contracts::CompiledContract;
use rdkafka::producer::FutureProducer;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::info;

/// What every binding of the process is built with.
#[derive(Debug)]
pub struct Builder {
    /// The configuration.
    pub cfg: GateConfig,
    /// Where contracts come from.
    pub source: Arc<ContractSource>,
    /// `redis.tls`, read once.
    pub redis_tls: Option<breaker::TlsPem>,
    /// This replica's id.
    pub replica: String,
    /// Record loops of the process (a binding keeps one window shard per loop).
    pub workers: usize,
}

impl Builder {
    /// The runtime of concrete binding `b` (a literal one, or a pattern's for one topic),
    /// with `contract` if it was compiled already, else compiled now from the source.
    ///
    /// # Errors
    /// The contract or key contract cannot be had, or the breaker cannot be set up.
    pub fn runtime(&self, b: &Binding, contract: Option<CompiledContract>) -> Result<Arc<BindingRuntime>, ServeError> {
        let cfg = &self.cfg;
        let contract = match contract {
            Some(c) => c,
            None => startup::binding_contract(cfg, b, &self.source)?,
        };
        binding::warn_undersized_probe(b, &contract);
        let rules = contract.rules.clone();
        let setup = |source: super::BreakerSetupError| ServeError::Breaker { binding: b.name.clone(), source };
        let store = match &cfg.redis {
            None => AnyStore::Memory(MemoryStore::new(b.breaker.window.clone(), &rules)),
            Some(r) => {
                let major = contract.version.split('.').next().unwrap_or("0");
                let rc = RedisConfig { url: r.url.clone(), key_prefix: format!("{}:{}:{}:v{major}", r.key_prefix, b.name, contract.id), op_timeout: r.op_timeout, fallback: r.fallback, tls: self.redis_tls.clone(), sentinel: r.sentinel.clone(), ..RedisConfig::default() };
                AnyStore::Redis(RedisStore::new(rc, b.breaker.window.clone(), &rules).map_err(|e| setup(e.into()))?)
            }
        };
        let opts = BreakerOptions { name: b.name.clone(), replica: self.replica.clone(), fallback: cfg.redis.as_ref().map(|r| r.fallback).unwrap_or_default() };
        let now = chrono::Utc::now().timestamp_millis();
        let brk = Breaker::new(b.breaker.clone(), rules, store, opts, now).map_err(|e| setup(e.into()))?;
        let key = startup::key_contract(cfg, b, &contract, &self.source)?;
        let (key_rules, key_object) = key.map_or((None, None), |(rules, object)| (Some(rules), object.map(Arc::new)));
        Ok(Arc::new(BindingRuntime::new(b.clone(), Arc::new(contract), brk, now, self.workers).with_key(key_rules, key_object)))
    }

    /// Readies the outputs of `bindings`: creates the missing topics (with the events topics
    /// when `with_events`), reads their limits and rebuilds each last-good index.
    ///
    /// # Errors
    /// Topics cannot be listed or created, or a last-good index cannot be read.
    pub async fn outputs(&self, bindings: &[Arc<BindingRuntime>], with_events: bool) -> Result<Outputs, ServeError> {
        let cfg = &self.cfg;
        let (partitions, listing) = if cfg.kafka.create_topics {
            let e = crate::kafka::ensure_topics(cfg, |existing| wanted_topics(cfg, bindings, existing, with_events)).await?;
            (e.wanted.into_iter().collect(), Some(e.listing))
        } else {
            // Outputs made by others: their counts still decide which partition a record goes
            // to (without one, the producer's partitioner would scatter keyless records).
            let listing = list_cluster(cfg).await;
            let counts = listing.as_ref().map(|l| bindings.iter().flat_map(|b| written(b)).filter_map(|(_, t)| l.get(t).map(|n| (t.to_string(), *n))).collect()).unwrap_or_default();
            (counts, listing)
        };
        let limits = super::output_limits(cfg, bindings).await?;
        for b in bindings.iter().filter(|b| b.cfg.fallback == Fallback::LastGood) {
            let n = lastgood::rebuild(cfg, b).await.map_err(super::kafka_err(format!("rebuilding the last-good index of {}", b.cfg.name)))?;
            info!(binding = %b.cfg.name, keys = n, "last-good index rebuilt");
        }
        Ok(Outputs { partitions, limits, listing })
    }

    /// [`Builder::outputs`] for one binding, as the set takes it.
    ///
    /// # Errors
    /// As [`Builder::outputs`].
    pub async fn added(&self, binding: Arc<BindingRuntime>) -> Result<Added, ServeError> {
        let Outputs { partitions, limits, .. } = self.outputs(std::slice::from_ref(&binding), false).await?;
        Ok(Added { binding, partitions, limits })
    }
}

/// Every topic the bindings write, with the source topic's partition count (so outputs keep
/// the source's partitioning), and the event topics.
fn wanted_topics(cfg: &GateConfig, bindings: &[Arc<BindingRuntime>], existing: &std::collections::HashMap<String, i32>, with_events: bool) -> Vec<TopicSpec> {
    let mut wanted = Vec::new();
    for b in bindings {
        // A source that does not exist yet is most often created by its first producer, with
        // the broker's default count: its outputs get that count too, not 1.
        let partitions = existing.get(&b.cfg.source).copied().unwrap_or(crate::kafka::BROKER_DEFAULT_PARTITIONS);
        wanted.extend(written(b).map(|(o, t)| TopicSpec { name: t.to_string(), partitions, compacted: o.compacted() }));
    }
    for t in [&cfg.events.breaker_topic, &cfg.events.violations_topic].into_iter().filter(|_| with_events) {
        wanted.push(TopicSpec { name: t.clone(), partitions: 1, compacted: false });
    }
    wanted
}

/// The output topics `b` writes: every data output, and the last-good index topic only where
/// `fallback: last_good` keeps the index.
pub(crate) fn written(b: &BindingRuntime) -> impl Iterator<Item = (Output, &str)> {
    b.topics.iter().filter(|(o, _)| *o != Output::LastGood || b.cfg.fallback == Fallback::LastGood)
}

/// Every topic of the cluster with its partition count; `None` (with a warning) when the
/// listing fails: the outputs' counts are then unknown and the producer's partitioner places
/// records.
async fn list_cluster(cfg: &GateConfig) -> Option<std::collections::HashMap<String, i32>> {
    let client = crate::kafka::client_config(cfg);
    let listed = tokio::task::spawn_blocking(move || client.create::<rdkafka::consumer::BaseConsumer>().map_err(crate::kafka::AdminError::new("metadata client")).and_then(|c| crate::kafka::partition_counts(&c))).await;
    match listed {
        Ok(Ok(counts)) => Some(counts),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list the cluster's topics: the output topics' partition counts are unknown, so the producer's partitioner places records (order per source partition holds only for keyed records)");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "listing the cluster's topics did not finish");
            None
        }
    }
}

/// The outputs [`Builder::outputs`] readied.
#[derive(Debug)]
pub struct Outputs {
    /// Each output topic's partition count.
    pub partitions: topology::TopicMap<i32>,
    /// The largest record each data output topic takes.
    pub limits: topology::TopicMap<usize>,
    /// The cluster's topics and partition counts, as listed to create the outputs (or, under
    /// `create_topics: false`, to read their counts); `None` when the listing failed.
    pub listing: Option<std::collections::HashMap<String, i32>>,
}

/// What a binding's tasks are started with.
#[derive(Clone)]
pub struct Tasks {
    /// Publishes transitions and canary misses.
    pub transitions: events::TransitionSink,
    /// The producer outside any transaction (last-good index, canaries).
    pub events_producer: FutureProducer,
    /// Strict bindings' reports to every record loop.
    pub judged: Vec<super::strict::JudgedTx>,
    /// Client settings for the canary's reader.
    pub client: rdkafka::ClientConfig,
    /// This replica's id.
    pub replica: String,
    /// Flips to true at shutdown.
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("replica", &self.replica).finish_non_exhaustive()
    }
}

impl Tasks {
    /// Starts `b`'s flusher, and its last-good writer and canary where it has them.
    /// `last_good_partitions`: the partition count of its last-good topic, if known.
    pub fn spawn(&self, b: &Arc<BindingRuntime>, last_good_partitions: Option<i32>) -> Vec<tokio::task::JoinHandle<()>> {
        let judged = if b.cfg.strict { self.judged.clone() } else { Vec::new() };
        let mut tasks = vec![tokio::spawn(flusher::run(Arc::clone(b), self.transitions.clone(), judged, self.shutdown.clone()))];
        // The last-good index topic is written outside any transaction, by the events
        // producer: it serves restarts and replicas, and an aborted batch is re-read and
        // re-staged anyway.
        if b.cfg.fallback == Fallback::LastGood {
            tasks.push(tokio::spawn(lastgood::writer(Arc::clone(b), self.events_producer.clone(), last_good_partitions, b.cfg.last_good_interval, self.shutdown.clone())));
        }
        if b.cfg.canary.is_some() {
            let task = canary::CanaryTask { binding: Arc::clone(b), client: self.client.clone(), producer: self.events_producer.clone(), events: self.transitions.clone(), replica: self.replica.clone() };
            tasks.push(tokio::spawn(canary::run(task, self.shutdown.clone())));
        }
        tasks
    }
}

/// The partition count of `b`'s last-good topic in `partitions`.
#[must_use]
pub fn last_good_partitions(b: &BindingRuntime, partitions: &topology::TopicMap<i32>) -> Option<i32> {
    partitions.get(b.topics.get(Output::LastGood)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_take_their_sources_count_or_the_brokers_default() {
        let cfg: GateConfig = serde_saphyr::from_str("kafka:\n  brokers: b:9092\ncontracts:\n  dir: c\nbindings:\n  - name: a\n    source: a\n    contract: o\n    fallback: hold\n").expect("config parses");
        let bindings = [
            Arc::new(binding::test_runtime("name: a\nsource: a\ncontract: o\nfallback: hold\n", 1)),
            Arc::new(binding::test_runtime("name: b\nsource: b\ncontract: o\nfallback: last_good\n", 1)),
        ];
        let existing = [("a".to_string(), 3)].into_iter().collect();
        let mut got: Vec<(String, i32, bool)> = wanted_topics(&cfg, &bindings, &existing, true).into_iter().map(|t| (t.name, t.partitions, t.compacted)).collect();
        let default = crate::kafka::BROKER_DEFAULT_PARTITIONS;
        // (topic, partitions, compacted): `a` exists with 3; `b` does not exist yet, so its
        // outputs get the broker's default (what auto-creating `b` would give it), and only
        // `last_good` keeps a last-good index topic.
        let want = [
            ("a.validated", 3, false),
            ("a.quarantine", 3, false),
            ("a.degraded", 3, false),
            ("a.held", 3, false),
            ("b.validated", default, false),
            ("b.quarantine", default, false),
            ("b.degraded", default, false),
            ("b.held", default, false),
            ("b.last-good", default, true),
            (cfg.events.breaker_topic.as_str(), 1, false),
            (cfg.events.violations_topic.as_str(), 1, false),
        ];
        let mut want: Vec<(String, i32, bool)> = want.into_iter().map(|(t, n, c)| (t.to_string(), n, c)).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
}
