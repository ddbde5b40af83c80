//! Partition assignment changes, handed from librdkafka's rebalance callbacks to the record
//! loop.
//!
//! The callbacks run inside `recv()` on the loop's own task, so they cannot touch the loop's
//! bookkeeping directly; they queue what changed and the loop applies it (`Partitions::rebalance`) before it
//! routes the next record. Without this, a partition that left and came back at a lower committed offset
//! kept its old "one past the highest consumed" mark, and the first acknowledgement after the
//! return could store an offset past records not yet re-processed (lost on a crash).

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::TopicPartitionList;
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
}
