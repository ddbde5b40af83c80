//! The bindings a process runs, by source topic, with what is known about their output
//! topics. Pattern bindings add a binding when a matching topic appears, so the set grows at
//! run time: every record loop, the HTTP admin, readiness and hot reload read the one
//! [`BindingSet`], which is replaced whole on a change (a lock-free load per record).

use super::binding::BindingRuntime;
use arc_swap::{ArcSwap, Guard};
use std::sync::Arc;

/// A map by topic name, looked up per record: hashed with foldhash, not SipHash (the names come
/// from the gate's configuration and the cluster's topic list, not from records).
pub type TopicMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;

/// One consistent view: every binding with its output topics' partition counts and limits.
#[derive(Debug, Default)]
pub struct Topology {
    /// Bindings by source topic.
    pub bindings: TopicMap<Arc<BindingRuntime>>,
    /// Bindings in the order they were added (config order, then pattern matches as found).
    pub list: Vec<Arc<BindingRuntime>>,
    /// Partition count of each output topic (outputs keep the source partition when they can).
    pub partitions: TopicMap<i32>,
    /// Largest record each output topic takes (bytes, as `message.max.bytes` counts them).
    pub limits: TopicMap<usize>,
}

impl Topology {
    /// A view of `list` (each source bound once: the first binding of a source stays) with
    /// what is known of their output topics.
    #[must_use]
    pub fn new(list: Vec<Arc<BindingRuntime>>, partitions: TopicMap<i32>, limits: TopicMap<usize>) -> Self {
        let mut bindings = TopicMap::default();
        let mut kept = Vec::with_capacity(list.len());
        for b in list {
            if !bindings.contains_key(&b.cfg.source) {
                bindings.insert(b.cfg.source.clone(), Arc::clone(&b));
                kept.push(b);
            }
        }
        Self { bindings, list: kept, partitions, limits }
    }
}

/// A binding to add, with its output topics' partition counts and limits.
#[derive(Debug)]
pub struct Added {
    /// The binding.
    pub binding: Arc<BindingRuntime>,
    /// Partition count of its output topics.
    pub partitions: TopicMap<i32>,
    /// Largest record each of its output topics takes.
    pub limits: TopicMap<usize>,
}

/// The shared, growing set of bindings.
#[derive(Debug, Clone, Default)]
pub struct BindingSet(Arc<ArcSwap<Topology>>);

impl BindingSet {
    /// A set of these bindings.
    #[must_use]
    pub fn new(topology: Topology) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(topology)))
    }

    /// The current view (cheap; hold it briefly: a change made meanwhile is seen by the next
    /// load).
    #[must_use]
    pub fn load(&self) -> Guard<Arc<Topology>> {
        self.0.load()
    }

    /// Every binding now.
    #[must_use]
    pub fn list(&self) -> Vec<Arc<BindingRuntime>> {
        self.0.load().list.clone()
    }

    /// The binding named `name`.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<Arc<BindingRuntime>> {
        self.0.load().list.iter().find(|b| b.cfg.name == name).cloned()
    }

    /// The source topics.
    #[must_use]
    pub fn sources(&self) -> Vec<String> {
        self.0.load().list.iter().map(|b| b.cfg.source.clone()).collect()
    }

    /// Subscribes `consumer` to every bound source; with none bound yet (only patterns that
    /// match nothing so far) it is left unsubscribed until one is.
    ///
    /// # Errors
    /// The consumer refused the subscription.
    pub fn subscribe<C: rdkafka::consumer::ConsumerContext>(&self, consumer: &rdkafka::consumer::StreamConsumer<C>) -> rdkafka::error::KafkaResult<()> {
        use rdkafka::consumer::Consumer;
        let sources = self.sources();
        if sources.is_empty() {
            return Ok(());
        }
        consumer.subscribe(&sources.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Adds a binding; one whose source is bound already is left out (the first stays).
    /// Returns whether it was added.
    pub fn add(&self, added: &Added) -> bool {
        let mut fresh = false;
        self.0.rcu(|t| {
            fresh = !t.bindings.contains_key(&added.binding.cfg.source);
            if !fresh {
                return Arc::clone(t);
            }
            let list = t.list.iter().chain([&added.binding]).cloned().collect();
            let partitions = t.partitions.iter().chain(&added.partitions).map(|(k, v)| (k.clone(), *v)).collect();
            let limits = t.limits.iter().chain(&added.limits).map(|(k, v)| (k.clone(), *v)).collect();
            Arc::new(Topology::new(list, partitions, limits))
        });
        fresh
    }
}
