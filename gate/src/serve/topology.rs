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

    /// The partition of output `topic` that a record of source partition `source` goes to
    /// ([`output_partition`] with the count this view knows).
    #[must_use]
    pub fn output_partition(&self, topic: &str, source: i32) -> Option<i32> {
        output_partition(self.partitions.get(topic).copied(), source)
    }

    /// The output topics of source `topic`'s binding that have no partition `partition`, with
    /// their partition counts: its records share a partition there with another source
    /// partition's.
    #[must_use]
    pub fn narrower_outputs(&self, topic: &str, partition: i32) -> Vec<(String, i32)> {
        let Some(b) = self.bindings.get(topic) else { return Vec::new() };
        b.topics.iter().filter_map(|(_, t)| self.partitions.get(t).filter(|n| **n > 0 && **n <= partition).map(|n| (t.to_string(), *n))).collect()
    }
}

/// The output partition of a record read from source partition `source`, given the output
/// topic's partition count (`None` when unknown: the producer's partitioner decides).
/// The same partition where the output has it; where it has fewer (created before its source
/// existed, by hand, or the source grew), `source mod count`: every record of a source
/// partition still lands in one output partition, so that partition's order holds, and so
/// does each key's when the source is partitioned by key. Hashing the key instead would
/// scatter keyless records over the output's partitions.
#[must_use]
pub fn output_partition(count: Option<i32>, source: i32) -> Option<i32> {
    let n = count.filter(|n| *n > 0)?;
    // Below the count, `source % n` is `source` itself.
    (source >= 0).then(|| source % n)
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

#[cfg(test)]
mod tests {
    use super::{output_partition, Topology};
    use std::sync::Arc;

    #[test]
    fn outputs_without_the_assigned_partition_are_named() {
        let b = Arc::new(crate::serve::binding::test_runtime("name: a\nsource: a\ncontract: o\nfallback: hold\n", 1));
        let partitions = [("a.validated", 3), ("a.quarantine", 1), ("a.held", 2)].into_iter().map(|(t, n)| (t.to_string(), n)).collect();
        let t = Topology::new(vec![b], partitions, super::TopicMap::default());
        let name = |p: i32| t.narrower_outputs("a", p);
        // (source partition, outputs without it): `a.degraded`'s count is unknown, so it is
        // not named; an unbound source has none.
        let cases: [(i32, Vec<(String, i32)>); 4] = [
            (0, vec![]),
            (1, vec![("a.quarantine".into(), 1)]),
            (2, vec![("a.quarantine".into(), 1), ("a.held".into(), 2)]),
            (3, vec![("a.validated".into(), 3), ("a.quarantine".into(), 1), ("a.held".into(), 2)]),
        ];
        for (p, want) in cases {
            assert_eq!(name(p), want, "partition {p}");
        }
        assert!(t.narrower_outputs("other", 5).is_empty());
        assert_eq!(t.output_partition("a.held", 3), Some(1));
        assert_eq!(t.output_partition("a.degraded", 3), None);
    }

    #[test]
    fn a_source_partition_lands_in_one_output_partition() {
        let cases = [
            ("same partition when the output has it", Some(3), 2, Some(2)),
            ("more output partitions than the source", Some(8), 2, Some(2)),
            ("one output partition takes everything", Some(1), 5, Some(0)),
            ("fewer output partitions wrap around", Some(2), 3, Some(1)),
            ("fewer output partitions wrap around (even)", Some(2), 4, Some(0)),
            ("count unknown: the partitioner decides", None, 0, None),
            ("a count of zero is not a count", Some(0), 1, None),
            ("a negative source partition is not one", Some(3), -1, None),
        ];
        for (why, count, source, want) in cases {
            assert_eq!(output_partition(count, source), want, "{why}");
        }
    }
}
