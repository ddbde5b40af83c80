//! What an operator can do with the records waiting in a paused partition.
//!
//! Under `fallback: pause` the records that arrived after the breaker opened stay unconsumed.
//! When the cause is known to be bad data that should not wait for the breaker (a producer
//! wrote garbage for an hour and was fixed), an operator releases the backlog: `skip` commits
//! past it without outputs, `quarantine` sends every record of it to `<src>.quarantine` with
//! a reason. Either applies to the range from the pause offset to the high watermark at the
//! time of the request; records after it are judged as usual (and pause again if the
//! breaker is still open).

use std::collections::BTreeMap;

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

/// The paused partitions of one binding with the offset each is held at (for the admin API).
pub type PausedAt = BTreeMap<i32, i64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for a in [PendingAction::Skip, PendingAction::Quarantine] {
            assert_eq!(PendingAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PendingAction::parse("drop"), None);
    }
}
