//! Partition assignment changes, handed from librdkafka's rebalance callbacks to the record
//! loop.
//!
//! The callbacks run inside `recv()` on the loop's own task, so they cannot touch the loop's
//! bookkeeping directly; they queue what changed and the loop applies it (`Partitions::rebalance`) before it
//! routes the next record. Without this, a partition that left and came back at a lower committed offset
//! kept its old "one past the highest consumed" mark, and the first acknowledgement after the
//! return could store an offset past records not yet re-processed (lost on a crash).
//!
//! A cooperative revoke is not carried out in the callback. The partitions are paused and
//! queued as [`Change::Revoking`]; the loop first finishes what it sent from them (waits for
//! the acknowledgements and stores the offsets, or commits the open transaction) and only then
//! gives them up (`incremental_unassign`, which also commits the stored offsets). Giving them
//! up at once handed the new owner a committed offset from before the records still in
//! flight, and it wrote them a second time: a second loop or replica joining the group
//! duplicated up to a batch of records per moved partition. A lost assignment (session
//! timeout), the eager protocol and a consumer closing are carried out at once, as
//! librdkafka's default does.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::TopicPartitionList;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tracing::{debug, info, warn};

/// One change of this replica's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Partitions handed to this replica.
    Assigned(Vec<(String, i32)>),
    /// Partitions taken away (revoked, or lost without a clean revoke).
    Revoked(Vec<(String, i32)>),
    /// Partitions the group asks back: paused, still assigned until the loop has finished
    /// what it sent from them and unassigns them.
    Revoking(Vec<(String, i32)>),
}

/// The consumer context of the sidecar: records assignment changes for the loop.
#[derive(Debug, Default)]
pub struct GateContext {
    changes: Mutex<Vec<Change>>,
    /// The consumer is closing: a revoke is carried out at once (the close waits for it).
    closing: AtomicBool,
    /// Partitions asked back and not unassigned yet: a loop that stops before its hand-over
    /// unassigns them on its way out (the group and the consumer's close wait for it).
    revoking: Mutex<Vec<(String, i32)>>,
    /// The last offset commit failed (its warning is given once per run of failures).
    commits_failing: AtomicBool,
    /// Wakes the loop when a change is queued: a revoke may come inside a `recv()` that
    /// returns no record (the partitions are paused), and the group waits for the hand-over.
    queued: tokio::sync::Notify,
}

impl GateContext {
    /// Takes the changes queued since the last call, oldest first.
    pub fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *lock(&self.changes))
    }

    /// From now on revokes are carried out inside the callback: the record loop is gone (or
    /// going), and closing the consumer waits for the unassignment.
    pub fn closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// The partitions of a revoke were unassigned.
    pub fn handed_over(&self, parts: &[(String, i32)]) {
        lock(&self.revoking).retain(|k| !parts.contains(k));
    }

    /// Takes the partitions asked back and not unassigned yet.
    pub fn take_revoking(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *lock(&self.revoking))
    }

    /// Resolves once a change was queued since the last time it resolved.
    pub async fn queued(&self) {
        self.queued.notified().await;
    }

    fn push(&self, c: Change) {
        if let Change::Revoking(parts) = &c {
            lock(&self.revoking).extend(parts.iter().cloned());
        }
        lock(&self.changes).push(c);
        self.queued.notify_one();
    }
}

/// A panic while holding one of these locks cannot leave its Vec half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The partitions of a list.
fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()
}

/// The list of partitions.
pub fn list(parts: &[(String, i32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in parts {
        tpl.add_partition(t, *p);
    }
    tpl
}

/// Whether a revoke waits for the loop to hand the partitions over, or is carried out in the
/// callback: only a cooperative revoke of partitions still owned, with a loop to do it. (The
/// eager protocol revokes everything at every rebalance, a lost assignment is already owned
/// by another member, and a closing consumer has no loop left.)
fn hands_over(cooperative: bool, lost: bool, closing: bool) -> bool {
    cooperative && !lost && !closing
}

impl ClientContext for GateContext {}

impl ConsumerContext for GateContext {
    /// A commit the group refused is said, with the partitions it names: offsets that stop
    /// moving otherwise go unnoticed until a restart reads those records again. (Nothing to
    /// commit is no failure.)
    /// (The auto-commit runs every second: while the coordinator is away, one warning when
    /// commits start failing, one line when they succeed again.)
    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        let refused: Vec<(String, i32, String)> = offsets.elements().iter().filter_map(|e| e.error().err().map(|err| (e.topic().to_string(), e.partition(), err.to_string()))).collect();
        let error = match result {
            Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => return,
            Err(e) => Some(e.to_string()),
            Ok(()) if !refused.is_empty() => Some("refused for some partitions".to_string()),
            Ok(()) => None,
        };
        let was_failing = self.commits_failing.swap(error.is_some(), Ordering::Relaxed);
        match (error, was_failing) {
            (Some(error), false) => warn!(%error, partitions = ?refused, "offset commit failed; said again once commits succeed"),
            (Some(error), true) => debug!(%error, partitions = ?refused, "offset commit failed again"),
            (None, true) => info!(partitions = offsets.count(), "offset commits succeed again"),
            (None, false) => {}
        }
    }

    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let parts = partitions(tpl);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                info!(partitions = ?parts, "partitions assigned");
                self.push(Change::Assigned(parts));
                if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if hands_over(cooperative, consumer.assignment_lost(), self.closing.load(Ordering::Relaxed)) {
                    info!(partitions = ?parts, "partitions revoked: handed over once what was sent from them is written");
                    if let Err(e) = consumer.pause(tpl) {
                        warn!(error = %e, "pause of revoked partitions");
                    }
                    self.push(Change::Revoking(parts));
                    return;
                }
                info!(partitions = ?parts, lost = consumer.assignment_lost(), "partitions revoked");
                self.push(Change::Revoked(parts));
                if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() }
            }
            other => {
                warn!(error = ?other, "rebalance error: assignment cleared");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "carrying out a rebalance");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, n: i32) -> (String, i32) {
        (t.to_string(), n)
    }

    #[test]
    fn the_queue_hands_changes_over_once_in_order() {
        let ctx = GateContext::default();
        ctx.push(Change::Revoked(vec![p("s", 0)]));
        ctx.push(Change::Assigned(vec![p("s", 0)]));
        assert_eq!(ctx.take(), vec![Change::Revoked(vec![p("s", 0)]), Change::Assigned(vec![p("s", 0)])]);
        assert!(ctx.take().is_empty());
    }

    #[test]
    fn only_a_cooperative_revoke_of_owned_partitions_waits_for_the_loop() {
        // (cooperative, lost, closing) -> handed over by the loop
        let cases = [
            ((true, false, false), true),
            ((true, true, false), false),
            ((true, false, true), false),
            ((false, false, false), false),
            ((false, true, true), false),
        ];
        for ((cooperative, lost, closing), want) in cases {
            assert_eq!(hands_over(cooperative, lost, closing), want, "cooperative {cooperative}, lost {lost}, closing {closing}");
        }
    }

    #[tokio::test]
    async fn a_queued_change_wakes_the_loop() {
        let ctx = GateContext::default();
        ctx.push(Change::Revoking(vec![p("s", 1)]));
        // The permit is kept until the loop waits.
        tokio::time::timeout(std::time::Duration::from_secs(1), ctx.queued()).await.expect("woken");
        assert_eq!(ctx.take(), vec![Change::Revoking(vec![p("s", 1)])]);
    }

    #[test]
    fn a_revoke_not_handed_over_is_left_for_the_way_out() {
        let ctx = GateContext::default();
        ctx.push(Change::Revoking(vec![p("s", 1), p("s", 2)]));
        ctx.push(Change::Revoking(vec![p("s", 3)]));
        let _ = ctx.take();
        ctx.handed_over(&[p("s", 1), p("s", 2)]);
        assert_eq!(ctx.take_revoking(), vec![p("s", 3)]);
        assert!(ctx.take_revoking().is_empty());
    }
}
