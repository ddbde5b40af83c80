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
