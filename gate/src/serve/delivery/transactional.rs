//! Exactly-once: the outputs of a micro-batch and the source offsets after it are committed in
//! one Kafka transaction, so a crash either shows the whole batch (to read_committed readers)
//! with its offsets committed, or none of it.

use super::Delivery;
use crate::serve::acks::Report;
use crate::serve::partitions::Partitions;
use crate::serve::pipeline::Pipeline;
use crate::serve::ServeError;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// Longest a micro-batch stays open, from its first record. Batches are bounded by time only:
/// at the rates one loop reaches, 100 ms of records is well within memory, and a cap in
/// records would multiply the commits (each a round trip to the transaction coordinator).
const BATCH_TIME: Duration = Duration::from_millis(100);
/// Deadline of the transactional calls.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic partition of the open batch.
type Tp = (Arc<str>, i32);

/// The open transaction.
#[derive(Debug)]
struct Batch {
    /// The offset to commit for each partition: one past its last record in the batch.
    next: HashMap<Tp, i64>,
    /// Where each partition's records in this batch begin: the rewind point if the batch has
    /// to be abandoned.
    first: HashMap<Tp, i64>,
    /// Outputs of this batch.
    outputs: usize,
    /// When it must be committed.
    deadline: Instant,
}

/// Exactly-once delivery.
#[derive(Debug, Default)]
pub struct Transactional {
    batch: Option<Batch>,
    /// Partitions sent back by an abandoned batch, with the offset they were sent back to:
    /// records fetched before the rewind are dropped until it comes round.
    rewound: HashMap<(String, i32), i64>,
    reports: Vec<Report>,
}

fn txn_err(what: &'static str) -> impl FnOnce(KafkaError) -> ServeError {
    move |source| ServeError::Transaction { what, source: Box::new(source) }
}

/// Runs a blocking transactional call off the loop's thread.
async fn blocking<T: Send + 'static>(what: &'static str, f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static) -> Result<T, ServeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServeError::Task { what, source: e })?.map_err(txn_err(what))
}

impl Delivery for Transactional {
    const DEFERS: bool = false;

    async fn start(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        let producer = p.producer.clone();
        blocking("init_transactions", move || producer.init_transactions(TXN_TIMEOUT)).await?;
        info!("exactly-once: transactions initialised");
        Ok(())
    }

    fn has_room(&self, _deferred: usize) -> bool {
        true
    }

    fn awaits_reports(&self) -> bool {
        false
    }

    fn on_reports(&mut self, _p: &Pipeline, _parts: &mut Partitions) -> Result<(), ServeError> {
        Ok(())
    }

    fn due(&self) -> Option<Instant> {
        self.batch.as_ref().map(|b| b.deadline)
    }

    async fn on_due(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        let Some(batch) = self.batch.take() else { return Ok(()) };
        match commit(p, &batch.next).await {
            Ok(()) => {}
            Err(CommitFailure::Abortable(e)) => {
                warn!(error = %e, "batch not committed; aborted and consumed again");
                self.rewound.extend(abandon(p, &batch.first, &[]).await?);
                return Ok(());
            }
            Err(CommitFailure::Fatal(e)) => {
                let producer = p.producer.clone();
                let _ = tokio::task::spawn_blocking(move || producer.abort_transaction(TXN_TIMEOUT)).await;
                return Err(e);
            }
        }
        // The commit flushed every output; collect the delivery reports to surface a failure
        // the commit would already have reported. Late reports of an aborted batch are not
        // this batch's.
        let id = p.batch.load(Relaxed);
        let mut outstanding = batch.outputs;
        while outstanding > 0 {
            p.acks.wait().await;
            p.acks.take(&mut self.reports);
            for r in self.reports.drain(..) {
                if r.sent.batch != id {
                    continue;
                }
                outstanding = outstanding.saturating_sub(1);
                if let Err(e) = r.result {
                    warn!(error = %e, "output failed inside a committed transaction");
                }
            }
        }
        Ok(())
    }

    /// Commits the open transaction if it holds records of a revoked partition: its outputs
    /// and offsets land together, and the new owner starts after them. (A commit the broker
    /// fences is aborted and rewound as any other.)
    async fn hand_over(&mut self, p: &Pipeline, _parts: &mut Partitions, revoked: &[(String, i32)]) -> Result<(), ServeError> {
        if self.overlaps(revoked) {
            self.on_due(p).await?;
        }
        Ok(())
    }

    async fn on_moved(&mut self, p: &Pipeline, moved: &[(String, i32)]) -> Result<(), ServeError> {
        // A partition that moved restarts at its committed offset, wherever that is: an old
        // rewind mark would drop everything after it.
        for k in moved {
            self.rewound.remove(k);
        }
        if self.overlaps(moved) {
            if let Some(batch) = self.batch.take() {
                self.rewound.extend(abandon(p, &batch.first, moved).await?);
            }
        }
        Ok(())
    }

    fn admits(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        if self.rewound.is_empty() {
            return true;
        }
        let key = (topic.to_string(), partition);
        match self.rewound.get(&key) {
            Some(from) if offset > *from => false, // fetched before the rewind; it comes again
            Some(_) => {
                self.rewound.remove(&key);
                true
            }
            None => true,
        }
    }

    fn before_send(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        if self.batch.is_none() {
            p.producer.begin_transaction().map_err(txn_err("begin_transaction"))?;
            self.batch = Some(Batch { next: HashMap::new(), first: HashMap::new(), outputs: 0, deadline: Instant::now() + BATCH_TIME });
        }
        Ok(())
    }

    fn sent(&mut self, _p: &Pipeline, _parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        // Records with no outputs (skipped) count too: the offsets move past them.
        if let Some(b) = &mut self.batch {
            b.outputs += outputs as usize;
            b.first.entry((Arc::clone(topic), partition)).or_insert(offset);
            b.next.insert((Arc::clone(topic), partition), offset + 1);
        }
    }

    fn deferred(&mut self, _parts: &mut Partitions, _topic: &str, _partition: i32, _offset: i64) {}

    fn released(&mut self, p: &Pipeline, parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        self.sent(p, parts, topic, partition, offset, outputs);
    }

    /// Commits the batch in progress.
    async fn finish(&mut self, p: &Pipeline, _parts: &mut Partitions) -> Result<(), ServeError> {
        self.on_due(p).await
    }
}

impl Transactional {
    /// Whether the open batch holds records of any of `parts`.
    fn overlaps(&self, parts: &[(String, i32)]) -> bool {
        self.batch.as_ref().is_some_and(|b| b.next.keys().any(|(t, part)| parts.iter().any(|(mt, mp)| mp == part && **mt == **t)))
    }
}

/// A partition of the open batch was revoked (its new owner starts from the last committed
/// offset, so committing this batch would duplicate those records), or the broker fenced the
/// batch's offsets: the batch is aborted — read_committed readers never see its outputs — and
/// every partition this replica keeps goes back to where the batch began. Returns the
/// rewound partitions.
async fn abandon(p: &Pipeline, first: &HashMap<Tp, i64>, moved: &[(String, i32)]) -> Result<HashMap<(String, i32), i64>, ServeError> {
    if !moved.is_empty() {
        warn!(partitions = ?moved, "partitions moved during a transaction: batch aborted and rewound");
    }
    // Outputs sent from here on belong to the next batch; the aborted ones still report.
    p.batch.fetch_add(1, Relaxed);
    let producer = p.producer.clone();
    blocking("abort_transaction", move || producer.abort_transaction(TXN_TIMEOUT)).await?;
    let mut rewound = HashMap::new();
    for ((t, part), from) in first {
        if moved.iter().any(|(mt, mp)| **mt == **t && mp == part) {
            continue;
        }
        p.consumer.seek(t, *part, Offset::Offset(*from), Duration::from_secs(5)).map_err(txn_err("rewind after abort"))?;
        rewound.insert((t.to_string(), *part), *from);
    }
    Ok(rewound)
}

/// Why a batch could not be committed.
enum CommitFailure {
    /// The transaction must be aborted and the batch consumed again (e.g. the group moved on
    /// to a new generation while the batch was open: the broker fences its offsets).
    Abortable(ServeError),
    /// Anything else: the process must stop.
    Fatal(ServeError),
}

fn classify(what: &'static str) -> impl FnOnce(KafkaError) -> CommitFailure {
    move |e| match &e {
        KafkaError::Transaction(t) if t.txn_requires_abort() => CommitFailure::Abortable(txn_err(what)(e)),
        _ => CommitFailure::Fatal(txn_err(what)(e)),
    }
}

async fn commit(p: &Pipeline, next: &HashMap<Tp, i64>) -> Result<(), CommitFailure> {
    let mut tpl = TopicPartitionList::new();
    for ((t, part), off) in next {
        tpl.add_partition_offset(t, *part, Offset::Offset(*off)).map_err(|e| CommitFailure::Fatal(txn_err("offsets")(e)))?;
    }
    let cgm = p.consumer.group_metadata().ok_or(CommitFailure::Fatal(ServeError::NoGroupMetadata))?;
    let producer = p.producer.clone();
    tokio::task::spawn_blocking(move || -> Result<(), CommitFailure> {
        if tpl.count() > 0 {
            producer.send_offsets_to_transaction(&tpl, &cgm, TXN_TIMEOUT).map_err(classify("send_offsets_to_transaction"))?;
        }
        producer.commit_transaction(TXN_TIMEOUT).map_err(classify("commit_transaction"))
    })
    .await
    .map_err(|e| CommitFailure::Fatal(ServeError::Task { what: "commit", source: e }))?
}
