//! Everything the record loop keeps per assigned source partition, in one owner: its
//! [`Flow`], its offsets awaiting acknowledgement (at-least-once) and the records strict mode
//! defers. A partition that moves (rebalance) leaves all three at once.

use super::flow::{Admit, Effect, Flow};
use super::telemetry::{Emit, PartitionFlowChanged};
use super::offsets::OffsetTracker;
use super::pending::PausedAt;
use super::rebalance::Change;
use super::strict::Deferred;
use std::collections::HashMap;

/// The loop's per-partition state.
#[derive(Debug, Default)]
pub struct Partitions {
    /// Partitions in any state but [`Flow::Flowing`]; a partition absent here flows. Kept
    /// sparse so the per-record lookup costs nothing while every partition flows.
    flows: HashMap<(String, i32), Flow>,
    /// At-least-once: which source offsets may be committed.
    pub offsets: OffsetTracker,
    /// Strict mode: records waiting for their window to be judged.
    pub deferred: Deferred,
}

/// What a rebalance did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Every partition assigned or revoked.
    pub moved: Vec<(String, i32)>,
    /// Assigned partitions, to resume (librdkafka may keep a partition's pause flag across a
    /// revoke and re-assign).
    pub resume: Vec<(String, i32)>,
}

impl Partitions {
    /// The state of a partition.
    #[must_use]
    pub fn flow(&self, topic: &str, partition: i32) -> Flow {
        if self.flows.is_empty() {
            return Flow::Flowing;
        }
        self.flows.get(&(topic.to_string(), partition)).copied().unwrap_or(Flow::Flowing)
    }

    fn set(&mut self, topic: &str, partition: i32, flow: Flow, moved: bool) {
        let before = self.flow(topic, partition);
        if before == flow {
            return;
        }
        PartitionFlowChanged { topic, partition, before, after: flow, moved }.emit();
        if flow == Flow::Flowing {
            self.flows.remove(&(topic.to_string(), partition));
        } else {
            self.flows.insert((topic.to_string(), partition), flow);
        }
    }

    /// What to do with a consumed record ([`Flow::admit`]).
    pub fn admit(&mut self, topic: &str, partition: i32, offset: i64) -> Admit {
        if self.flows.is_empty() {
            return Admit::Route;
        }
        let (admit, next) = self.flow(topic, partition).admit(offset);
        self.set(topic, partition, next, false);
        admit
    }

    /// Applies a transition of one partition and returns its effect.
    pub fn transition(&mut self, topic: &str, partition: i32, step: impl FnOnce(Flow) -> (Flow, Effect)) -> Effect {
        let (next, effect) = step(self.flow(topic, partition));
        self.set(topic, partition, next, false);
        effect
    }

    /// Partitions whose state waits on the breaker (paused or peeking), with that state.
    #[must_use]
    pub fn waiting(&self) -> Vec<(String, i32, Flow)> {
        self.flows.iter().filter(|(_, f)| f.waits_on_breaker()).map(|((t, p), f)| (t.clone(), *p, *f)).collect()
    }

    /// Whether the resume tick has anything to do.
    #[must_use]
    pub fn any_waiting(&self) -> bool {
        self.flows.values().any(|f| f.waits_on_breaker())
    }

    /// Paused partitions of `topic` with their pause offsets (for the admin API).
    #[must_use]
    pub fn paused_of(&self, topic: &str) -> PausedAt {
        self.flows.iter().filter(|((t, _), _)| t == topic).filter_map(|((_, p), f)| f.pause_offset().map(|o| (*p, o))).collect()
    }

    /// Applies assignment changes: a partition that leaves or arrives starts from a clean
    /// slate (its committed offset decides where consuming resumes): its state, offsets and
    /// deferred records go. A partition assigned while its breaker still pauses is paused
    /// again by its first record.
    pub fn rebalance(&mut self, changes: Vec<Change>) -> Moved {
        let mut out = Moved::default();
        for change in changes {
            let (Change::Assigned(parts) | Change::Revoked(parts) | Change::Revoking(parts)) = &change;
            for (topic, partition) in parts {
                self.offsets.forget(topic, *partition);
                self.deferred.forget(topic, *partition);
                self.set(topic, *partition, Flow::Flowing, true);
                out.moved.push((topic.clone(), *partition));
                if matches!(change, Change::Assigned(_)) {
                    out.resume.push((topic.clone(), *partition));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::pending::PendingAction;

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
            let mut parts = Partitions::default();
            assert_eq!(parts.offsets.consumed("s", 0, 50, 1), None, "{name}");
            for o in 51..100 {
                let _ = parts.offsets.consumed("s", 0, o, 0);
            }
            let _ = parts.rebalance(changes.clone());
            assert_eq!(parts.offsets.acked("s", 0, 50), *want, "{name}");
        }
    }

    #[test]
    fn states_go_and_assigned_partitions_are_resumed() {
        let mut parts = Partitions::default();
        let _ = parts.transition("s", 0, |f| f.paused_at(7));
        let _ = parts.transition("s", 1, |f| f.paused_at(9));
        let _ = parts.transition("s", 3, |_| (Flow::Peeking { from: 2, spent_at: None }, Effect::None));
        let done = parts.rebalance(vec![Change::Revoked(vec![p("s", 0), p("s", 3)]), Change::Assigned(vec![p("s", 2)])]);
        assert_eq!(parts.paused_of("s"), PausedAt::from([(1, 9)]));
        assert_eq!(parts.flow("s", 3), Flow::Flowing, "a moved partition stops peeking");
        assert_eq!(done.resume, vec![p("s", 2)]);
        assert_eq!(done.moved, vec![p("s", 0), p("s", 3), p("s", 2)]);
    }

    #[test]
    fn only_partitions_in_a_state_are_kept() {
        let mut parts = Partitions::default();
        assert_eq!(parts.admit("s", 0, 1), Admit::Route);
        let _ = parts.transition("s", 0, |f| f.paused_at(4));
        assert!(parts.any_waiting());
        assert_eq!(parts.admit("s", 0, 4), Admit::Ignore);
        let _ = parts.transition("s", 0, |f| f.release(PendingAction::Skip, 6));
        assert!(!parts.any_waiting());
        assert_eq!((parts.admit("s", 0, 4), parts.admit("s", 0, 5)), (Admit::Operator(PendingAction::Skip), Admit::Operator(PendingAction::Skip)));
        assert_eq!(parts.flow("s", 0), Flow::Flowing, "the range closed");
        assert!(parts.flows.is_empty());
    }
}
