//! Which source offsets may be committed: a record is done when every output it produced was
//! acknowledged, and a partition's committable offset only advances over done records, so a
//! crash re-delivers anything whose outputs were not all written (at-least-once).

use foldhash::fast::RandomState as Fast;
use std::collections::{HashMap, VecDeque};

/// Per source partition bookkeeping.
#[derive(Debug, Default)]
struct Part {
    /// Records still owed acknowledgements, in offset order (a partition is consumed in
    /// order, so appending keeps it sorted): offset → outputs still unacknowledged. Done
    /// records inside it keep a zero until everything before them is done too.
    pending: VecDeque<(i64, u32)>,
    /// Entries of `pending` with a non-zero count.
    open: usize,
    /// One past the highest offset consumed.
    next: i64,
    /// The committable offset last reported.
    reported: i64,
}

/// Tracks in-flight records of every source partition.
///
/// Called twice per record on the hot path, so it neither allocates nor rebalances a tree
/// there: topics are looked up by `&str`, and each partition's pending records are a deque
/// that only grows at the back and shrinks at the front.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    // foldhash: looked up twice per record, keyed by configured topic names.
    parts: HashMap<String, HashMap<i32, Part, Fast>, Fast>,
}

impl OffsetTracker {
    /// Registers a consumed record with `outputs` records to wait for. Returns the new
    /// committable offset when it advanced (records with no outputs are done at once).
    pub fn consumed(&mut self, topic: &str, partition: i32, offset: i64, outputs: u32) -> Option<i64> {
        if !self.parts.contains_key(topic) {
            self.parts.insert(topic.to_string(), HashMap::default());
        }
        let part = self.parts.get_mut(topic)?.entry(partition).or_insert_with(|| Part { next: offset, reported: offset, ..Part::default() });
        if offset < part.next {
            // The partition went back (a rebalance the loop has not seen yet, or an offset
            // reset): consuming restarts at a committed position, so nothing below it is
            // owed, and whatever was pending or consumed past it comes again.
            *part = Part { next: offset, reported: offset, ..Part::default() };
        }
        part.next = part.next.max(offset + 1);
        if outputs > 0 {
            part.pending.push_back((offset, outputs));
            part.open += 1;
        }
        Self::advance(part)
    }

    /// Records one acknowledged output of `offset`. Returns the new committable offset when it
    /// advanced.
    pub fn acked(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let part = self.parts.get_mut(topic)?.get_mut(&partition)?;
        // Acknowledgements mostly come in order, so the front is the usual hit.
        let i = match part.pending.front() {
            Some((o, _)) if *o == offset => Some(0),
            _ => part.pending.binary_search_by_key(&offset, |(o, _)| *o).ok(),
        };
        if let Some((_, n)) = i.and_then(|i| part.pending.get_mut(i)) {
            if *n > 0 {
                *n -= 1;
                if *n == 0 {
                    part.open -= 1;
                }
            }
        }
        Self::settle(part)
    }

    /// Sets how many acknowledgements a pending record is owed (a held record is owed one
    /// while held, then one per output it was released to; zero makes it done). Returns the
    /// new committable offset when it advanced.
    pub fn reowe(&mut self, topic: &str, partition: i32, offset: i64, outputs: u32) -> Option<i64> {
        let part = self.parts.get_mut(topic)?.get_mut(&partition)?;
        let i = part.pending.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        let n = &mut part.pending.get_mut(i)?.1;
        match (*n > 0, outputs > 0) {
            (true, false) => part.open -= 1,
            (false, true) => part.open += 1,
            _ => {}
        }
        *n = outputs;
        Self::settle(part)
    }

    /// Forgets a partition (revoked, or rewound for `pause`): its pending records will be
    /// consumed again.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        if let Some(m) = self.parts.get_mut(topic) {
            m.remove(&partition);
        }
    }

    /// Records still waiting for acknowledgements, over all partitions.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.parts.values().flat_map(HashMap::values).map(|p| p.open).sum()
    }

    /// Drops the done records at the front, then reports the committable offset if it moved.
    fn settle(part: &mut Part) -> Option<i64> {
        while part.pending.front().is_some_and(|(_, n)| *n == 0) {
            part.pending.pop_front();
        }
        Self::advance(part)
    }

    fn advance(part: &mut Part) -> Option<i64> {
        let committable = part.pending.front().map_or(part.next, |(o, _)| *o);
        (committable > part.reported).then(|| {
            part.reported = committable;
            committable
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_only_over_done_records() {
        let mut t = OffsetTracker::default();
        assert_eq!(t.consumed("s", 0, 10, 1), None);
        assert_eq!(t.consumed("s", 0, 11, 2), None);
        assert_eq!(t.consumed("s", 0, 12, 0), None); // done, but 10 and 11 are not
        assert_eq!(t.acked("s", 0, 11), None);
        assert_eq!(t.acked("s", 0, 10), Some(11)); // 11 still has one output pending
        assert_eq!(t.acked("s", 0, 11), Some(13));
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.consumed("s", 1, 0, 0), Some(1));
        t.forget("s", 0);
        assert_eq!(t.acked("s", 0, 10), None);
    }

    #[test]
    fn a_released_record_is_owed_one_acknowledgement_per_output() {
        // (outputs on release, acknowledgements then received, committable offset expected)
        let cases: [(u32, u32, Option<i64>); 4] = [(0, 0, Some(6)), (1, 1, Some(6)), (2, 1, None), (2, 2, Some(6))];
        for (outputs, acks, want) in cases {
            let mut t = OffsetTracker::default();
            assert_eq!(t.consumed("s", 0, 5, 1), None, "held: owed one");
            let mut got = t.reowe("s", 0, 5, outputs);
            for _ in 0..acks {
                got = got.or(t.acked("s", 0, 5));
            }
            assert_eq!(got, want, "{outputs} outputs, {acks} acks");
            assert_eq!(t.in_flight(), usize::from(want.is_none()), "{outputs} outputs, {acks} acks");
        }
        assert_eq!(OffsetTracker::default().reowe("s", 0, 5, 1), None, "unknown record");
    }

    #[test]
    fn a_partition_that_goes_back_restarts_from_there() {
        let mut t = OffsetTracker::default();
        assert_eq!(t.consumed("s", 0, 10, 1), None);
        for o in 11..20 {
            assert_eq!(t.consumed("s", 0, o, 0), None);
        }
        // Re-delivered from 12: acking 12 releases 13, not the old mark 20.
        assert_eq!(t.consumed("s", 0, 12, 1), None);
        assert_eq!(t.consumed("s", 0, 13, 1), None);
        assert_eq!(t.acked("s", 0, 12), Some(13));
        assert_eq!(t.acked("s", 0, 10), None, "a late ack of the old delivery changes nothing");
        assert_eq!(t.acked("s", 0, 13), Some(14));
    }

    /// The tracker against a plain model: a record is done when all its outputs are acked,
    /// and the committable offset is the first record not done (or one past the last).
    #[derive(Debug, Clone)]
    enum Op {
        Consume(u32),
        Ack(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![(0u32..3).prop_map(Op::Consume), (0usize..64).prop_map(Op::Ack)]
    }

    proptest::proptest! {
        #[test]
        fn matches_a_model_under_any_ack_order(ops in proptest::collection::vec(op(), 1..200)) {
            let mut t = OffsetTracker::default();
            let mut owed: Vec<(i64, u32)> = Vec::new(); // model: every consumed record
            let mut reported = 100i64;
            for o in ops {
                let got = match o {
                    Op::Consume(n) => {
                        let off = 100 + i64::try_from(owed.len()).unwrap_or(0);
                        owed.push((off, n));
                        t.consumed("s", 0, off, n)
                    }
                    Op::Ack(i) => {
                        let open: Vec<usize> = (0..owed.len()).filter(|j| owed[*j].1 > 0).collect();
                        if open.is_empty() { continue; }
                        let j = open[i % open.len()];
                        owed[j].1 -= 1;
                        t.acked("s", 0, owed[j].0)
                    }
                };
                let committable = owed.iter().find(|(_, n)| *n > 0).map_or(100 + i64::try_from(owed.len()).unwrap_or(0), |(o, _)| *o);
                let want = (committable > reported).then_some(committable);
                if let Some(c) = want { reported = c; }
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(t.in_flight(), owed.iter().filter(|(_, n)| *n > 0).count());
            }
        }
    }
}
