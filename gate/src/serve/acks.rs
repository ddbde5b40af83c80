//! Delivery reports of the outputs, handed to the record loop in batches.
//!
//! librdkafka reports each delivery on the producer's polling thread. A future per output
//! (rdkafka's `FutureProducer`) costs a oneshot channel, a boxed sender, a boxed future and a
//! node in the loop's in-flight set per record, and wakes the loop once per report. Here the
//! report goes into a queue that the loop empties in one go, woken once per batch: the only
//! per-output allocation left is the small box that names the output.

use crate::output::Output;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedHeaders, Message as _, OwnedHeaders};
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Which output of which source record a delivery report is for (the delivery opaque).
#[derive(Debug)]
pub struct Sent {
    /// Source topic (the binding's shared name).
    pub topic: Arc<str>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// The output written.
    pub output: Output,
    /// The batch it was sent in: exactly-once discards the reports of an aborted batch.
    pub batch: u64,
}

/// One output's delivery report: which output of which source record, and the outcome.
#[derive(Debug)]
pub struct Report {
    /// What was sent.
    pub sent: Sent,
    /// Acknowledged, or why not (refused at once by the client, or failed after its retries).
    pub result: Result<(), KafkaError>,
    /// A failed output's record, kept to send it again or to quarantine its stub.
    pub refused: Option<Box<Refused>>,
}

/// A copy of an output record that was not delivered.
#[derive(Debug)]
pub struct Refused {
    /// The output topic.
    pub topic: String,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its headers (the gate's included).
    pub headers: Option<OwnedHeaders>,
}

/// Reports not yet taken by the loop.
#[derive(Debug, Default)]
pub struct AckQueue {
    done: Mutex<Vec<Report>>,
    ready: Notify,
    /// Whether reports wait in `done`: read between the records of a run without the lock.
    queued: AtomicBool,
}

impl AckQueue {
    /// Queues one report; wakes the loop when the queue was empty (it takes everything queued
    /// when it runs, so one wake per batch is enough).
    pub fn push(&self, sent: Sent, result: Result<(), KafkaError>, refused: Option<Box<Refused>>) {
        let was_empty = {
            let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = done.is_empty();
            done.push(Report { sent, result, refused });
            self.queued.store(true, Ordering::Release);
            was_empty
        };
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Moves every queued report into `into` (emptied first), keeping both buffers' capacity.
    pub fn take(&self, into: &mut Vec<Report>) {
        into.clear();
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *done, into);
        self.queued.store(false, Ordering::Release);
    }

    /// Whether reports are queued. Without the lock: a report queued by another thread at this
    /// moment may be seen at the next call; one queued by the caller's own thread (a send
    /// refused at once) is seen now.
    pub fn has_reports(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Resolves when reports were queued since the last wake (at once if some are waiting).
    pub async fn wait(&self) {
        self.ready.notified().await;
    }
}

/// The outputs producer's context: delivery reports go to the queue.
#[derive(Debug, Default, Clone)]
pub struct AckContext {
    /// Shared with the record loop.
    pub queue: Arc<AckQueue>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.queue.push(*sent, Ok(()), None),
            // Rare: the copy is what lets the loop retry it or quarantine its stub.
            Err((e, m)) => {
                let copy = Refused { topic: m.topic().to_string(), key: m.key().map(<[u8]>::to_vec), payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(), headers: m.headers().map(BorrowedHeaders::detach) };
                self.queue.push(*sent, Err(e.clone()), Some(Box::new(copy)));
            }
        }
    }
}

/// The producer of every data output.
pub type OutputProducer = ThreadedProducer<AckContext>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(offset: i64, batch: u64) -> Sent {
        Sent { topic: Arc::from("s"), partition: 0, offset, output: Output::Validated, batch }
    }

    #[tokio::test]
    async fn reports_arrive_in_order_and_one_wake_covers_a_batch() {
        let q = AckQueue::default();
        q.push(sent(1, 0), Ok(()), None);
        q.push(sent(2, 0), Err(KafkaError::Canceled), None);
        q.push(sent(3, 7), Ok(()), None);
        // The first push stored a wake-up: this returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), q.wait()).await.expect("woken");
        let mut got = Vec::new();
        q.take(&mut got);
        let seen: Vec<(u64, i64, bool)> = got.iter().map(|r| (r.sent.batch, r.sent.offset, r.result.is_ok())).collect();
        assert_eq!(seen, vec![(0, 1, true), (0, 2, false), (7, 3, true)]);
        q.take(&mut got);
        assert!(got.is_empty(), "taken reports are gone");
        // Nothing queued since: no wake is pending.
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), q.wait()).await.is_err());
    }

    /// A run of records asks between records whether reports wait (a send refused at once
    /// must be retried before the next record of its partition goes out).
    #[test]
    fn has_reports_follows_push_and_take() {
        let q = AckQueue::default();
        let mut got = Vec::new();
        assert!(!q.has_reports(), "nothing queued yet");
        q.push(sent(1, 0), Err(KafkaError::Canceled), None);
        assert!(q.has_reports(), "a report pushed by this thread is seen at once");
        q.push(sent(2, 0), Ok(()), None);
        q.take(&mut got);
        assert_eq!(got.len(), 2);
        assert!(!q.has_reports(), "taken");
        q.take(&mut got);
        assert!(!q.has_reports() && got.is_empty(), "an empty take leaves nothing flagged");
    }
}
