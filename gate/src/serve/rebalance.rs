//! Partition assignment changes, handed from librdkafka's rebalance callbacks to the record
//! loop.
//!
//! The callbacks run inside `recv()` on the loop's own task, so they cannot touch the loop's
//! bookkeeping directly; they queue what changed and the loop applies it before it routes the
//! next record. Without this, a partition that left and came back at a lower committed offset
//! kept its old "one past the highest consumed" mark, and the first acknowledgement after the
//! return could store an offset past records not yet re-processed (lost on a crash).

use super::metrics as m;
use super::offsets::OffsetTracker;
use super::pending::{Draining, Peeking};
use super::strict::Held;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::TopicPartitionList;
use std::collections::HashMap;
use std::sync::Mutex;
use tracing::{info, warn};

/// One change of this replica's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Partitions handed to this replica.
    Assigned(Vec<(String, i32)>),
    /// Partitions taken away (revoked, or lost without a clean revoke).
    Revoked(Vec<(String, i32)>),
}

/// The consumer context of the sidecar: records assignment changes for the loop.
#[derive(Debug, Default)]
pub struct GateContext {
    changes: Mutex<Vec<Change>>,
}

impl GateContext {
    /// Takes the changes queued since the last call, oldest first.
    pub fn take(&self) -> Vec<Change> {
        match self.changes.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            // A panic while holding this lock cannot leave the Vec half-written.
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, c: Change) {
        match self.changes.lock() {
            Ok(mut q) => q.push(c),
            Err(poisoned) => poisoned.into_inner().push(c),
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()
}

impl ClientContext for GateContext {}

impl ConsumerContext for GateContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts = partitions(tpl);
                info!(partitions = ?parts, "partitions revoked");
                self.push(Change::Revoked(parts));
            }
            Rebalance::Error(e) => warn!(error = %e, "rebalance error"),
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts = partitions(tpl);
            info!(partitions = ?parts, "partitions assigned");
            self.push(Change::Assigned(parts));
        }
    }
}

/// Applies assignment changes to the loop's state: a partition that leaves or arrives starts
/// from a clean slate (its committed offset decides where consuming resumes), and its pause
/// mark goes (a partition assigned while its breaker still pauses is paused again by its first
/// record), and so do its release range, held records and peek. Returns the partitions that
/// moved, and those the caller must resume, because librdkafka may keep a partition's pause
/// flag across a revoke and re-assign.
pub fn apply(changes: Vec<Change>, tracker: &mut OffsetTracker, paused: &mut HashMap<(String, i32), i64>, draining: &mut Draining, held: &mut Held, peeking: &mut Peeking) -> Applied {
    let mut out = Applied::default();
    for change in changes {
        let (Change::Assigned(parts) | Change::Revoked(parts)) = &change;
        for (topic, partition) in parts {
            tracker.forget(topic, *partition);
            draining.forget(topic, *partition);
            held.forget(topic, *partition);
            peeking.stop(topic, *partition);
            out.moved.push((topic.clone(), *partition));
            if paused.remove(&(topic.clone(), *partition)).is_some() {
                m::paused(topic, false);
            }
            if matches!(change, Change::Assigned(_)) {
                out.resume.push((topic.clone(), *partition));
            }
        }
    }
    out
}

/// What [`apply`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Every partition assigned or revoked.
    pub moved: Vec<(String, i32)>,
    /// Assigned partitions, to resume.
    pub resume: Vec<(String, i32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, n: i32) -> (String, i32) {
        (t.to_string(), n)
    }

    #[test]
    fn a_partition_that_moves_starts_from_a_clean_slate() {
        // Consumed 50..100 with 50 unacknowledged. Once the partition moved, a late ack of 50
        // must not release the old mark 100 (the new owner, or this replica after a return at
        // a lower committed offset, has not re-processed 51..99 yet).
        let cases: &[(&str, Vec<Change>, Option<i64>)] = &[
            ("revoked", vec![Change::Revoked(vec![p("s", 0)])], None),
            ("assigned again (lost without a revoke)", vec![Change::Assigned(vec![p("s", 0)])], None),
            ("another partition moved", vec![Change::Revoked(vec![p("s", 1)])], Some(100)),
        ];
        for (name, changes, want) in cases {
            let mut t = OffsetTracker::default();
            assert_eq!(t.consumed("s", 0, 50, 1), None, "{name}");
            for o in 51..100 {
                let _ = t.consumed("s", 0, o, 0);
            }
            let _ = apply(changes.clone(), &mut t, &mut HashMap::new(), &mut Draining::default(), &mut Held::default(), &mut Peeking::default());
            assert_eq!(t.acked("s", 0, 50), *want, "{name}");
        }
    }

    #[test]
    fn pause_marks_go_and_assigned_partitions_are_resumed() {
        let mut t = OffsetTracker::default();
        let mut paused = HashMap::from([(p("s", 0), 7), (p("s", 1), 9)]);
        let mut peeking = Peeking::default();
        peeking.start("s", 0, 7);
        let done = apply(vec![Change::Revoked(vec![p("s", 0)]), Change::Assigned(vec![p("s", 2)])], &mut t, &mut paused, &mut Draining::default(), &mut Held::default(), &mut peeking);
        assert_eq!(paused.keys().collect::<Vec<_>>(), vec![&p("s", 1)]);
        assert_eq!(done.resume, vec![p("s", 2)]);
        assert_eq!(done.moved, vec![p("s", 0), p("s", 2)]);
        assert!(peeking.is_empty(), "a moved partition stops peeking");
    }

    #[test]
    fn the_queue_hands_changes_over_once_in_order() {
        let ctx = GateContext::default();
        ctx.push(Change::Revoked(vec![p("s", 0)]));
        ctx.push(Change::Assigned(vec![p("s", 0)]));
        assert_eq!(ctx.take(), vec![Change::Revoked(vec![p("s", 0)]), Change::Assigned(vec![p("s", 0)])]);
        assert!(ctx.take().is_empty());
    }
}
