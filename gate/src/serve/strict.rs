//! Records that wait for a verdict before they may flow: in strict mode, every record bound
//! for validated waits until the flush that counts it in the window has been judged, so a
//! breach found by that flush diverts it too; in half-open, each probe record waits for the
//! probe's verdict, so the records of a failed probe take the open route, never validated.
//!
//! Each binding's window deltas belong to a generation (the flush that will take them). A
//! record checked into generation `g` is deferred; when the flusher has judged `g` it sends
//! `(source topic, g)`, and the loop releases every deferred record of that source up to `g`,
//! routed by the state the flush left. Deferred records are not acknowledged, so their
//! offsets are not committed: a crash re-delivers them. ("Deferred", not "held": `held` is
//! the output topic of valid records while the breaker is open.)

use contracts::CompiledContract;
use super::record::RecordRef;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The flusher's report that a generation of a source's window was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Source topic.
    pub topic: String,
    /// The generation judged (and every one before it).
    pub generation: u64,
    /// The generation's own records breached a rate rule by more than chance: they take the
    /// open route whatever the breaker's state, so the flush that crosses a threshold leaks
    /// nothing even while the window as a whole still holds.
    pub divert: bool,
}

/// The flusher's end of the judged-generation channel.
pub type JudgedTx = tokio::sync::mpsc::UnboundedSender<Judged>;
/// The record loop's end of [`JudgedTx`].
pub type JudgedRx = tokio::sync::mpsc::UnboundedReceiver<Judged>;

/// What a deferred record waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Strict mode: the judgement of the window generation its observation belongs to.
    Judged(u64),
    /// A half-open probe record: the probe's verdict (the breaker leaving half-open).
    ProbeVerdict,
}

/// A deferred record, owned.
#[derive(Debug)]
pub struct DeferredRecord {
    /// What it waits for.
    pub until: Until,
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<Vec<u8>>,
    /// The last-good index key, when it is not the key itself.
    index_key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
    /// The contract version that judged it.
    pub contract: Arc<CompiledContract>,
    /// Its violation ids (warnings only: it passed), as JSON.
    pub verdict_rules: String,
    /// It was routed as a half-open probe record.
    pub probe: bool,
}

impl DeferredRecord {
    /// Copies a consumed record.
    #[must_use]
    pub fn new(until: Until, r: &RecordRef<'_>, contract: Arc<CompiledContract>, verdict_rules: String) -> Self {
        Self {
            until,
            topic: r.topic.to_string(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.map(<[u8]>::to_vec),
            index_key: r.index_key.filter(|k| Some(*k) != r.key).map(<[u8]>::to_vec),
            payload: r.payload.to_vec(),
            headers: r.headers.map(BorrowedHeaders::detach),
            contract,
            verdict_rules,
            probe: false,
        }
    }

    /// Marks it as a half-open probe record (or not).
    #[must_use]
    pub fn probe(mut self, probe: bool) -> Self {
        self.probe = probe;
        self
    }

    /// The record, borrowed again.
    #[must_use]
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            index_key: self.index_key.as_deref().or(self.key.as_deref()),
            payload: &self.payload,
            headers: self.headers.as_ref().map(OwnedHeaders::as_borrowed),
        }
    }

    /// Source partition.
    #[must_use]
    pub fn partition(&self) -> i32 {
        self.partition
    }
}

/// Deferred records of every strict binding, by source topic, in arrival order.
#[derive(Debug, Default)]
pub struct Deferred {
    by_topic: HashMap<String, VecDeque<DeferredRecord>>,
    count: usize,
    /// Of `count`, the records waiting for a probe's verdict: none in strict mode (its probe
    /// records wait for their window), so its long queues are never searched per record.
    probes: usize,
}

impl Deferred {
    /// Defers a record.
    pub fn push(&mut self, r: DeferredRecord) {
        self.count += 1;
        self.probes += usize::from(r.until == Until::ProbeVerdict);
        self.by_topic.entry(r.topic.clone()).or_default().push_back(r);
    }

    /// Takes the records of `topic` whose generation is judged (≤ `generation`), oldest first.
    pub fn release(&mut self, topic: &str, generation: u64) -> Vec<DeferredRecord> {
        self.take_front(topic, |u| matches!(u, Until::Judged(g) if g <= generation))
    }

    /// Takes the probe records of `topic` waiting for the probe's verdict, oldest first.
    pub fn release_probes(&mut self, topic: &str) -> Vec<DeferredRecord> {
        self.take_front(topic, |u| u == Until::ProbeVerdict)
    }

    /// Whether any record waits for a probe's verdict.
    #[must_use]
    pub fn awaits_probe(&self) -> bool {
        self.by_topic.values().any(|q| q.front().is_some_and(|r| r.until == Until::ProbeVerdict))
    }

    /// Whether a record of `topic` `partition` waits for a probe's verdict: a later record of
    /// that partition must not reach an output before it.
    #[must_use]
    pub fn probe_waits(&self, topic: &str, partition: i32) -> bool {
        // Bounded by the probe records of one half-open: strict mode has none (see `probes`).
        self.probes > 0 && self.by_topic.get(topic).is_some_and(|q| q.iter().any(|r| r.partition == partition && r.until == Until::ProbeVerdict))
    }

    /// Takes the records at the front of `topic`'s queue that `due` lets go.
    fn take_front(&mut self, topic: &str, due: impl Fn(Until) -> bool) -> Vec<DeferredRecord> {
        let Some(q) = self.by_topic.get_mut(topic) else { return Vec::new() };
        let n = q.iter().take_while(|r| due(r.until)).count();
        let out: Vec<DeferredRecord> = q.drain(..n).collect();
        self.count -= n;
        self.probes -= out.iter().filter(|r| r.until == Until::ProbeVerdict).count();
        out
    }

    /// Drops the records of a partition that left this replica (its new owner re-reads them;
    /// they were never acknowledged, so their offsets were not committed).
    pub fn forget(&mut self, topic: &str, partition: i32) {
        if let Some(q) = self.by_topic.get_mut(topic) {
            let (before, probes) = (q.len(), q.iter().filter(|r| r.partition == partition && r.until == Until::ProbeVerdict).count());
            q.retain(|r| r.partition != partition);
            self.count -= before - q.len();
            self.probes -= probes;
        }
    }

    /// Records deferred.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is deferred.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(contract: &Arc<CompiledContract>, generation: u64, partition: i32, offset: i64) -> DeferredRecord {
        let r = RecordRef { topic: "s", partition, offset, timestamp: None, key: None, index_key: None, payload: b"{}", headers: None };
        DeferredRecord::new(Until::Judged(generation), &r, Arc::clone(contract), "[]".into())
    }

    fn contract() -> Arc<CompiledContract> {
        let text = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: integer\n";
        let c = contracts::parse(text).expect("contract");
        Arc::new(contracts::compile(&c, None).expect("compiles"))
    }

    #[test]
    fn releases_judged_generations_in_order_and_keeps_the_rest() {
        let c = contract();
        let mut h = Deferred::default();
        for (g, o) in [(1, 0), (1, 1), (2, 2), (3, 3)] {
            h.push(rec(&c, g, 0, o));
        }
        let cases: &[(u64, &[i64], usize)] = &[(0, &[], 4), (1, &[0, 1], 2), (1, &[], 2), (3, &[2, 3], 0)];
        for (g, want, left) in cases {
            let got: Vec<i64> = h.release("s", *g).iter().map(|r| r.as_ref().offset).collect();
            assert_eq!(&got, want, "release up to {g}");
            assert_eq!(h.len(), *left);
        }
        assert!(h.release("other", 9).is_empty());
    }

    #[test]
    fn probe_records_wait_for_the_verdict_and_leave_together_in_order() {
        let c = contract();
        let mut h = Deferred::default();
        assert!(!h.awaits_probe());
        for o in 0..3 {
            let r = RecordRef { topic: "s", partition: 0, offset: o, timestamp: None, key: None, index_key: None, payload: b"{}", headers: None };
            h.push(DeferredRecord::new(Until::ProbeVerdict, &r, Arc::clone(&c), "[]".into()));
        }
        assert!(h.awaits_probe());
        assert!(h.release("s", u64::MAX).is_empty(), "a judged window does not release probe records");
        assert!(h.release_probes("other").is_empty());
        let got: Vec<i64> = h.release_probes("s").iter().map(|r| r.as_ref().offset).collect();
        assert_eq!(got, vec![0, 1, 2]);
        assert!(!h.awaits_probe() && h.is_empty());
    }

    #[test]
    fn a_partition_knows_whether_probe_records_wait_ahead_of_its_next_record() {
        let c = contract();
        let probe = |partition: i32, offset: i64| {
            let r = RecordRef { topic: "s", partition, offset, timestamp: None, key: None, index_key: None, payload: b"{}", headers: None };
            DeferredRecord::new(Until::ProbeVerdict, &r, Arc::clone(&c), "[]".into()).probe(true)
        };
        let mut h = Deferred::default();
        // Strict records (their window's judgement) are not probe records of this kind.
        h.push(rec(&c, 1, 0, 0));
        assert!(!h.probe_waits("s", 0), "a strict record");
        let _ = h.release("s", 1);
        for (partition, offset) in [(0, 10), (0, 11), (1, 20), (2, 30)] {
            h.push(probe(partition, offset));
        }
        // (step, partition) -> a probe record of it still waits
        let before = [(0, true), (1, true), (2, true), (3, false)];
        for (partition, want) in before {
            assert_eq!(h.probe_waits("s", partition), want, "before: partition {partition}");
        }
        assert!(!h.probe_waits("other", 0), "another topic");
        h.forget("s", 1);
        assert_eq!((h.probe_waits("s", 1), h.probe_waits("s", 0)), (false, true), "partition 1 left");
        assert_eq!(h.release_probes("s").len(), 3, "the verdict");
        assert!((0..3).all(|p| !h.probe_waits("s", p)) && h.is_empty() && h.probes == 0);
    }

    #[test]
    fn a_partition_that_leaves_takes_its_deferred_records_along() {
        let c = contract();
        let mut h = Deferred::default();
        h.push(rec(&c, 1, 0, 0));
        h.push(rec(&c, 1, 1, 0));
        h.forget("s", 0);
        assert_eq!(h.len(), 1);
        assert_eq!(h.release("s", 1).iter().map(DeferredRecord::partition).collect::<Vec<_>>(), vec![1]);
        assert!(h.is_empty());
    }
}
