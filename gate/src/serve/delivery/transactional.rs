//! Exactly-once: the outputs of a micro-batch and the source offsets after it are committed in
//! one Kafka transaction, so a crash either shows the whole batch (to read_committed readers)
//! with its offsets committed, or none of it.

use super::Delivery;
use crate::serve::acks::{Refused, Report, Sent};
use crate::serve::fit::{self, Refusal};
use crate::serve::partitions::Partitions;
use crate::serve::pipeline::Pipeline;
use crate::serve::refused;
use crate::serve::telemetry::{Emit, ProduceFailed};
use crate::serve::ServeError;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode as Code;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
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
/// Pause before a transactional call that failed for a passing reason is made again.
const TXN_RETRY_BACKOFF: Duration = Duration::from_millis(500);

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
    /// Stubs written in this batch: if it is aborted, their records are stubbed again.
    stubs: Vec<Undelivered>,
}

/// Exactly-once delivery.
#[derive(Debug, Default)]
pub struct Transactional {
    batch: Option<Batch>,
    /// Partitions sent back by an abandoned batch, with the offset they were sent back to:
    /// records fetched before the rewind are dropped until it comes round.
    rewound: HashMap<(String, i32), i64>,
    reports: Vec<Report>,
    /// Source records an output refused for good in an aborted batch, by (topic, partition,
    /// offset): read again, each goes to quarantine as its stub instead of its outputs.
    refused: HashMap<(String, i32, i64), Undelivered>,
    /// Stubs of refused records read again, to send before the next record.
    stubs: Vec<Undelivered>,
    /// Partitions where not even a record's stub was taken: paused, nothing of them is taken
    /// until they move or the gate restarts.
    stopped: HashSet<(String, i32)>,
}

/// An output the broker refused, with the record and why.
#[derive(Debug)]
struct Undelivered {
    sent: Sent,
    refused: Box<Refused>,
    error: KafkaError,
}

fn txn_err(what: &'static str) -> impl FnOnce(KafkaError) -> ServeError {
    move |source| ServeError::Transaction { what, source: Box::new(source) }
}

/// Runs a blocking transactional call off the loop's thread, again while it fails for a
/// passing reason ([`retried`]).
async fn blocking<T: Send + 'static>(what: &'static str, f: impl FnMut() -> Result<T, KafkaError> + Send + 'static) -> Result<T, ServeError> {
    tokio::task::spawn_blocking(move || retried(what, f)).await.map_err(|e| ServeError::Task { what, source: e })?.map_err(txn_err(what))
}

/// Makes a transactional call again while it fails with an error librdkafka calls retriable
/// (the coordinator away or slow for a moment, e.g. while the broker restarts), until
/// [`TXN_TIMEOUT`] has passed since the first try; then the last error is returned. Such an
/// error, taken for fatal, stopped the process on every broker restart.
fn retried<T>(what: &'static str, mut call: impl FnMut() -> Result<T, KafkaError>) -> Result<T, KafkaError> {
    let deadline = std::time::Instant::now() + TXN_TIMEOUT;
    loop {
        match call() {
            Err(KafkaError::Transaction(e)) if e.is_retriable() && std::time::Instant::now() + TXN_RETRY_BACKOFF < deadline => {
                warn!(call = what, error = %e, "transactional call failed for a passing reason; trying again");
                std::thread::sleep(TXN_RETRY_BACKOFF);
            }
            other => return other,
        }
    }
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
        match &self.batch {
            Some(b) => Some(b.deadline),
            // A stub waits for no next record: it is written now.
            None => (!self.stubs.is_empty()).then(Instant::now),
        }
    }

    async fn on_due(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        if !self.stubs.is_empty() {
            self.before_send(p)?;
        }
        let Some(mut batch) = self.batch.take() else { return Ok(()) };
        // Read again after an abort, a stubbed record is stubbed again, not sent whole.
        for u in std::mem::take(&mut batch.stubs) {
            self.refused.insert((u.sent.topic.to_string(), u.sent.partition, u.sent.offset), u);
        }
        // Every output of the batch reports before the commit: one the broker refused makes the
        // transaction abortable (or, refused by the client at once, was never in it), so the
        // batch is aborted and read again, the refused record as its stub.
        let failed = match self.reports_of(p, &batch).await {
            Ok(failed) => failed,
            Err(e) => {
                warn!(error = %e, "outputs of the batch not acknowledged; aborted and consumed again");
                self.rewound.extend(abandon(p, &batch.first, &[]).await?);
                return Ok(());
            }
        };
        if !failed.is_empty() {
            let fatal = self.judge(p, failed);
            self.rewound.extend(abandon(p, &batch.first, &[]).await?);
            return fatal.map_or(Ok(()), Err);
        }
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
        // Committed: the batch's stubs are written for good.
        self.refused.retain(|(t, part, off), _| batch.next.get(&(Arc::from(t.as_str()), *part)).is_none_or(|next| off >= next));
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
            self.stopped.remove(k);
        }
        // Its new owner (or this replica, from the committed offset) meets a refusal again.
        self.refused.retain(|(t, part, _), _| !moved.iter().any(|(mt, mp)| mp == part && mt == t));
        self.stubs.retain(|u| !moved.iter().any(|(mt, mp)| *mp == u.sent.partition && **mt == *u.sent.topic));
        if self.overlaps(moved) {
            if let Some(batch) = self.batch.take() {
                self.rewound.extend(abandon(p, &batch.first, moved).await?);
            }
        }
        Ok(())
    }

    fn admits(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        if self.rewound.is_empty() && self.refused.is_empty() && self.stopped.is_empty() {
            return true;
        }
        let key = (topic.to_string(), partition);
        if self.stopped.contains(&key) {
            return false;
        }
        match self.rewound.get(&key) {
            Some(from) if offset > *from => return false, // fetched before the rewind; it comes again
            Some(_) => {
                self.rewound.remove(&key);
            }
            None => {}
        }
        match self.refused.remove(&(key.0, partition, offset)) {
            // Its stub goes out in its place, before the next record.
            Some(u) => {
                self.stubs.push(u);
                false
            }
            None => true,
        }
    }

    fn before_send(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        if self.batch.is_none() {
            p.producer.begin_transaction().map_err(txn_err("begin_transaction"))?;
            self.batch = Some(Batch { next: HashMap::new(), first: HashMap::new(), outputs: 0, deadline: Instant::now() + BATCH_TIME, stubs: Vec::new() });
        }
        for u in std::mem::take(&mut self.stubs) {
            let n = u32::from(p.stub_refused(&u.sent, &u.refused, &u.error));
            self.count(&u.sent.topic, u.sent.partition, u.sent.offset, n);
            if let Some(b) = &mut self.batch {
                b.stubs.push(u);
            }
        }
        Ok(())
    }

    fn sent(&mut self, _p: &Pipeline, _parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        self.count(topic, partition, offset, outputs);
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
    /// A record of the open batch and its outputs. Records with no outputs (skipped) count
    /// too: the offsets move past them.
    fn count(&mut self, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        if let Some(b) = &mut self.batch {
            b.outputs += outputs as usize;
            b.first.entry((Arc::clone(topic), partition)).or_insert(offset);
            b.next.insert((Arc::clone(topic), partition), offset + 1);
        }
    }

    /// Waits until every output of `batch` reported (a flush, then the queued reports) and
    /// returns the failed ones. Reports of an aborted batch, arriving late, are not its.
    async fn reports_of(&mut self, p: &Pipeline, batch: &Batch) -> Result<Vec<Undelivered>, ServeError> {
        let producer = p.producer.clone();
        blocking("flush", move || producer.flush(TXN_TIMEOUT)).await?;
        let id = p.batch.load(Relaxed);
        let (mut outstanding, mut failed) = (batch.outputs, Vec::new());
        let deadline = Instant::now() + TXN_TIMEOUT;
        while outstanding > 0 {
            // After the flush every report is queued; the deadline guards against a miscount.
            if tokio::time::timeout_at(deadline, p.acks.wait()).await.is_err() {
                return Err(ServeError::Transaction { what: "delivery reports", source: Box::new(KafkaError::Flush(Code::OperationTimedOut)) });
            }
            p.acks.take(&mut self.reports);
            for Report { sent, result, refused } in self.reports.drain(..) {
                if sent.batch != id {
                    continue;
                }
                outstanding = outstanding.saturating_sub(1);
                if let Err(error) = result {
                    // Every failed report carries its record; without one it can only be read again.
                    let refused = refused.unwrap_or_else(|| Box::new(Refused { topic: String::new(), key: None, payload: Vec::new(), headers: None }));
                    failed.push(Undelivered { sent, refused, error });
                }
            }
        }
        Ok(failed)
    }

    /// Decides what each refused output of a batch about to be aborted means: a record the
    /// broker will never take is marked to go to quarantine as its stub when read again; one
    /// refused while the cluster was away is simply read again; a stub refused stops its
    /// partition. Returns the error to stop on, if an output failed for a reason not about
    /// its record.
    fn judge(&mut self, p: &Pipeline, failed: Vec<Undelivered>) -> Option<ServeError> {
        let mut fatal = None;
        for u in failed {
            let refusal = u.error.rdkafka_error_code().map_or(Refusal::Fatal, fit::refusal);
            let outcome = match refusal {
                Refusal::Record if refused::is_stub(&u.refused) => {
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(&u.sent.topic, u.sent.partition);
                    if let Err(e) = p.consumer.pause(&tpl) {
                        warn!(topic = %u.sent.topic, partition = u.sent.partition, error = %e, "pause of a stopped partition");
                    }
                    self.stopped.insert((u.sent.topic.to_string(), u.sent.partition));
                    "partition_stopped"
                }
                Refusal::Record | Refusal::Transient => refusal.outcome(),
                // The producer's own reaction to a refusal elsewhere in the batch: after a
                // refused output it bumps its epoch, purging what was queued and failing what
                // is sent meanwhile. Those records are read again with the batch.
                Refusal::Fatal if matches!(u.error.rdkafka_error_code(), Some(Code::PurgeQueue | Code::PurgeInflight | Code::State)) => "retried",
                Refusal::Fatal => "stopped",
            };
            ProduceFailed { outcome, topic: &u.sent.topic, partition: u.sent.partition, offset: u.sent.offset, output: u.sent.output, error: &u.error }.emit();
            match outcome {
                "stubbed" => {
                    let key = (u.sent.topic.to_string(), u.sent.partition, u.sent.offset);
                    self.refused.insert(key, u);
                }
                "stopped" if fatal.is_none() => fatal = Some(ServeError::Produce { topic: u.sent.topic.to_string(), partition: u.sent.partition, offset: u.sent.offset, output: u.sent.output.name(), source: Box::new(u.error) }),
                _ => {}
            }
        }
        fatal
    }

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

/// A failed commit call: abortable when librdkafka says so, or when it still failed for a
/// passing reason after its retries (the batch is read again); anything else is fatal.
fn classify(what: &'static str) -> impl FnOnce(KafkaError) -> CommitFailure {
    move |e| match &e {
        KafkaError::Transaction(t) if t.txn_requires_abort() || (t.is_retriable() && !t.is_fatal()) => CommitFailure::Abortable(txn_err(what)(e)),
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
            retried("send_offsets_to_transaction", || producer.send_offsets_to_transaction(&tpl, &cgm, TXN_TIMEOUT)).map_err(classify("send_offsets_to_transaction"))?;
        }
        retried("commit_transaction", || producer.commit_transaction(TXN_TIMEOUT)).map_err(classify("commit_transaction"))
    })
    .await
    .map_err(|e| CommitFailure::Fatal(ServeError::Task { what: "commit", source: e }))?
}
