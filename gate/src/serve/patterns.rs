//! Pattern bindings at run time: the cluster's topics are listed at startup and every
//! `kafka.pattern_refresh`; each topic a pattern takes (`config::pattern`) becomes a binding
//! of its own, put together as at startup (`assemble`), added to the [`BindingSet`] and only
//! then subscribed to, so no record loop ever reads a topic it has no binding for.
//!
//! The gate lists and subscribes by name rather than handing librdkafka the pattern: a
//! librdkafka pattern subscription would also take the gate's own outputs
//! (`orders.eu.validated` matches `^orders\..*`) and could assign a topic before its binding
//! exists.

use super::assemble::{last_good_partitions, Builder, Tasks};
use super::rebalance::GateContext;
use super::topology::BindingSet;
use super::ServeError;
use super::telemetry::patterns::{TopicMatched, TopicsListed};
use super::telemetry::Emit;
use crate::config::pattern::{config_name, expand, Patterns};
use rdkafka::consumer::{BaseConsumer, StreamConsumer};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tracing::warn;

/// The client the topics are listed with, made once and kept for every refresh.
pub type Lister = Arc<BaseConsumer>;

/// The listing client.
///
/// # Errors
/// The client cannot be made from the config's Kafka settings.
pub fn lister(cfg: &crate::config::GateConfig) -> Result<Lister, ServeError> {
    let client: BaseConsumer = crate::kafka::client_config(cfg).create().map_err(super::kafka_err("pattern bindings' metadata client"))?;
    Ok(Arc::new(client))
}

/// The topics the patterns take in the cluster now and that are not bound yet, as concrete
/// bindings.
///
/// # Errors
/// The cluster's topics cannot be listed.
pub async fn discover(lister: &Lister, cfg: &crate::config::GateConfig, patterns: &Patterns, bound: &HashSet<String>) -> Result<Vec<crate::config::Binding>, ServeError> {
    let meta = Arc::clone(lister);
    // The metadata request blocks on librdkafka: off the async runtime.
    let listing = tokio::task::spawn_blocking(move || crate::kafka::partition_counts(&meta)).await.map_err(|source| ServeError::Task { what: "listing topics", source })??;
    Ok(patterns.select(listing.keys().map(String::as_str), bound).into_iter().map(|(i, topic)| expand(&cfg.bindings[i], &topic)).collect())
}

/// Follows the cluster until shutdown: every `kafka.pattern_refresh`, binds the topics the
/// patterns take since the last look and subscribes every record loop to them. A topic whose
/// binding cannot be put together (its contract, its outputs) is named once and tried again
/// at each refresh. At shutdown, waits for the tasks of the bindings it added.
pub async fn follow(builder: Arc<Builder>, lister: Lister, patterns: Patterns, set: BindingSet, tasks: Tasks, consumers: Vec<Arc<StreamConsumer<GateContext>>>) {
    let mut shutdown = tasks.shutdown.clone();
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    // The last failure per topic, so a refusal is logged when it first happens or changes.
    let mut refused: HashMap<String, String> = HashMap::new();
    let every = builder.cfg.kafka.pattern_refresh;
    let mut resubscribe = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
        }
        let found = match discover(&lister, &builder.cfg, &patterns, &set.sources().into_iter().collect()).await {
            Ok(found) => {
                TopicsListed { failure: None }.emit();
                found
            }
            Err(e) => {
                TopicsListed { failure: Some(&format!("{e:#}")) }.emit();
                continue;
            }
        };
        let mut added = 0;
        for b in found {
            match bind(&builder, &set, &tasks, &b).await {
                Ok(t) => {
                    refused.remove(&b.source);
                    running.extend(t);
                    added += 1;
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    if refused.get(&b.source) != Some(&why) {
                        TopicMatched { pattern_binding: config_name(&b.name), binding: &b.name, topic: &b.source, refused: Some(&why) }.emit();
                        refused.insert(b.source.clone(), why);
                    }
                }
            }
        }
        resubscribe |= added > 0;
        if resubscribe {
            resubscribe = !subscribe(&consumers, &set);
        }
    }
    for t in running {
        let _ = t.await;
    }
    // A client's drop talks to the broker: keep it off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(lister)).await;
}

/// Puts one matched topic's binding together, adds it to the set and starts its tasks.
async fn bind(builder: &Builder, set: &BindingSet, tasks: &Tasks, b: &crate::config::Binding) -> Result<Vec<JoinHandle<()>>, ServeError> {
    let runtime = builder.runtime(b, None)?;
    let added = builder.added(runtime).await?;
    if !set.add(&added) {
        return Ok(Vec::new());
    }
    TopicMatched { pattern_binding: config_name(&b.name), binding: &b.name, topic: &b.source, refused: None }.emit();
    Ok(tasks.spawn(&added.binding, last_good_partitions(&added.binding, &added.partitions)))
}

/// Subscribes every record loop's consumer to every bound source (the group hands the new
/// partitions out incrementally; assigned ones stay where they are).
/// Returns whether every consumer took the subscription.
pub fn subscribe(consumers: &[Arc<StreamConsumer<GateContext>>], set: &BindingSet) -> bool {
    let mut all = true;
    for c in consumers {
        if let Err(e) = set.subscribe(c) {
            warn!(error = %e, "pattern bindings: subscribing to the bound topics failed; trying again at the next refresh");
            all = false;
        }
    }
    all
}
