//! What an operator can do with the records waiting in a paused partition.
//!
//! Under `fallback: pause` the records that arrived after the breaker opened stay unconsumed.
//! When the cause is known to be bad data that should not wait for the breaker (a producer
//! wrote garbage for an hour and was fixed), an operator releases the backlog: `skip` commits
//! past it without outputs, `quarantine` sends every record of it to `<src>.quarantine` with
//! a reason. Either applies to the range from the pause offset to the high watermark at the
//! time of the request; records after it are judged as usual (and pause again if the
//! breaker is still open).

use std::collections::{BTreeMap, HashMap};

/// An operator's decision about a paused backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingAction {
    /// Commit past the range without writing it anywhere.
    Skip,
    /// Write every record of the range to quarantine.
    Quarantine,
}

impl PendingAction {
    /// Name in the admin API, logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip-pending",
            Self::Quarantine => "quarantine-pending",
        }
    }

    /// Parses the admin API's action name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "skip-pending" => Some(Self::Skip),
            "quarantine-pending" => Some(Self::Quarantine),
            _ => None,
        }
    }

    /// The quarantine reason header of a released record.
    #[must_use]
    pub fn reason(self) -> &'static str {
        "operator: quarantine-pending released the range held back by pause"
    }
}

/// Partitions being released: offset where the range ends (exclusive) and the action.
#[derive(Debug, Default)]
pub struct Draining {
    ranges: HashMap<(String, i32), (i64, PendingAction)>,
}

impl Draining {
    /// Starts releasing `[from, end)` of a partition.
    pub fn start(&mut self, topic: &str, partition: i32, end: i64, action: PendingAction) {
        self.ranges.insert((topic.to_string(), partition), (end, action));
    }

    /// The action for a consumed record, if it lies in a released range. A record at or past
    /// the range's end closes the range.
    pub fn action_for(&mut self, topic: &str, partition: i32, offset: i64) -> Option<PendingAction> {
        // Asked for every record: no key to build while nothing is being released.
        if self.ranges.is_empty() {
            return None;
        }
        let key = (topic.to_string(), partition);
        let (end, action) = *self.ranges.get(&key)?;
        if offset >= end {
            self.ranges.remove(&key);
            return None;
        }
        if offset + 1 >= end {
            self.ranges.remove(&key);
        }
        Some(action)
    }

    /// Drops a partition that left this replica.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.ranges.remove(&(topic.to_string(), partition));
    }
}

/// Partitions whose breaker is half-open under `fallback: pause`: the gate reads on from the
/// pause offset to feed the probe, but writes and commits nothing; once the probe is judged
/// the partition goes back to the pause offset, to flow (closed) or to stay paused (open).
#[derive(Debug, Default)]
pub struct Peeking {
    parts: HashMap<(String, i32), Peek>,
}

/// One peeking partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    /// The pause offset: where the partition goes back to.
    pub from: i64,
    /// The offset where this replica's probe grant ran out: the partition is paused there and
    /// peeks on from it when more budget comes (the grant arrives with each flush).
    pub spent_at: Option<i64>,
}

impl Peeking {
    /// Starts peeking a partition paused at `from`.
    pub fn start(&mut self, topic: &str, partition: i32, from: i64) {
        self.parts.insert((topic.to_string(), partition), Peek { from, spent_at: None });
    }

    /// The peek state of a partition.
    #[must_use]
    pub fn get(&self, topic: &str, partition: i32) -> Option<Peek> {
        // Asked for every record: no key to build while nothing peeks.
        if self.parts.is_empty() {
            return None;
        }
        self.parts.get(&(topic.to_string(), partition)).copied()
    }

    /// Marks the grant spent at `offset`, or (`None`) peeking on again.
    pub fn spend(&mut self, topic: &str, partition: i32, offset: Option<i64>) {
        if let Some(p) = self.parts.get_mut(&(topic.to_string(), partition)) {
            p.spent_at = offset;
        }
    }

    /// Ends peeking a partition.
    pub fn stop(&mut self, topic: &str, partition: i32) -> Option<Peek> {
        self.parts.remove(&(topic.to_string(), partition))
    }

    /// Every peeking partition.
    #[must_use]
    pub fn all(&self) -> Vec<(String, i32, Peek)> {
        self.parts.iter().map(|((t, p), k)| (t.clone(), *p, *k)).collect()
    }

    /// Whether no partition is peeking.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// The paused partitions of one binding with the offset each is held at (for the admin API).
pub type PausedAt = BTreeMap<i32, i64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_covers_from_its_start_to_its_end_only() {
        let mut d = Draining::default();
        d.start("s", 0, 13, PendingAction::Quarantine);
        let got: Vec<_> = (10..15).map(|o| d.action_for("s", 0, o)).collect();
        use PendingAction::Quarantine as Q;
        assert_eq!(got, vec![Some(Q), Some(Q), Some(Q), None, None]);
        assert_eq!(d.action_for("s", 1, 10), None, "other partitions are untouched");
    }

    #[test]
    fn an_empty_range_or_a_forgotten_partition_releases_nothing() {
        let mut d = Draining::default();
        d.start("s", 0, 5, PendingAction::Skip);
        assert_eq!(d.action_for("s", 0, 5), None);
        d.start("s", 0, 9, PendingAction::Skip);
        d.forget("s", 0);
        assert_eq!(d.action_for("s", 0, 6), None);
    }

    #[test]
    fn action_names_round_trip() {
        for a in [PendingAction::Skip, PendingAction::Quarantine] {
            assert_eq!(PendingAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PendingAction::parse("drop"), None);
    }
}
