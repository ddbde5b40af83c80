//! Which source offsets may be committed: a record is done when every output it produced was
//! acknowledged, and a partition's committable offset only advances over done records, so a
//! crash re-delivers anything whose outputs were not all written (at-least-once).

use std::collections::{BTreeMap, HashMap};

/// Per source partition bookkeeping.
#[derive(Debug, Default)]
struct Part {
    /// Offset → outputs still unacknowledged.
    pending: BTreeMap<i64, u32>,
    /// One past the highest offset consumed.
    next: i64,
    /// The committable offset last reported.
    reported: i64,
}

/// Tracks in-flight records of every source partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<(String, i32), Part>,
}

impl OffsetTracker {
    /// Registers a consumed record with `outputs` records to wait for. Returns the new
    /// committable offset when it advanced (records with no outputs are done at once).
    pub fn consumed(&mut self, topic: &str, partition: i32, offset: i64, outputs: u32) -> Option<i64> {
        let part = self.parts.entry((topic.to_string(), partition)).or_insert_with(|| Part { next: offset, reported: offset, ..Part::default() });
        if offset < part.next {
            // The partition went back (a rebalance the loop has not seen yet, or an offset
            // reset): consuming restarts at a committed position, so nothing below it is
            // owed, and whatever was pending or consumed past it comes again.
            *part = Part { next: offset, reported: offset, ..Part::default() };
        }
        part.next = part.next.max(offset + 1);
        if outputs > 0 {
            part.pending.insert(offset, outputs);
        }
        Self::advance(part)
    }

    /// Records one acknowledged output of `offset`. Returns the new committable offset when it
    /// advanced.
    pub fn acked(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let part = self.parts.get_mut(&(topic.to_string(), partition))?;
        if let Some(n) = part.pending.get_mut(&offset) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                part.pending.remove(&offset);
            }
        }
        Self::advance(part)
    }

    /// Forgets a partition (revoked, or rewound for `pause`): its pending records will be
    /// consumed again.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.parts.remove(&(topic.to_string(), partition));
    }

    /// Records still waiting for acknowledgements, over all partitions.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.parts.values().map(|p| p.pending.len()).sum()
    }

    fn advance(part: &mut Part) -> Option<i64> {
        let committable = part.pending.keys().next().copied().unwrap_or(part.next);
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
}
