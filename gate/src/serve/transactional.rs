//! Exactly-once delivery: the outputs of a micro-batch and the source offsets after it are
//! committed in one Kafka transaction, so a crash either shows the whole batch (to
//! read_committed readers) with its offsets committed, or none of it.

use super::pipeline::{Pipeline, Routed};
use super::ServeError;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Largest micro-batch, in records.
const BATCH_RECORDS: usize = 2_000;
/// Longest a micro-batch stays open.
const BATCH_TIME: Duration = Duration::from_millis(100);
/// Deadline of the transactional calls.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic partition of the open batch.
type Tp = (Arc<str>, i32);

fn txn_err(what: &str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Kafka { reason: format!("{what}: {e}") }
}

/// Runs the record loop in transactions until `shutdown`, committing the batch in progress.
///
/// # Errors
/// A transactional call that failed: the open transaction is aborted and the process must
/// restart, consuming again from the last committed offsets.
pub async fn run(p: Pipeline, mut shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
    let producer = p.producer.clone();
    tokio::task::spawn_blocking(move || producer.init_transactions(TXN_TIMEOUT)).await.map_err(|e| txn_err("init", e))?.map_err(|e| txn_err("init_transactions", e))?;
    info!("exactly-once: transactions initialised");
    let mut paused: HashMap<(String, i32), i64> = HashMap::new();
    let mut draining = super::pending::Draining::default();
    let mut peeking = super::pending::Peeking::default();
    // Offsets live in the batch here and nothing is held, so these stay empty; the rebalance
    // bookkeeping takes them all the same.
    let (mut no_tracker, mut no_held) = (super::offsets::OffsetTracker::default(), super::strict::Held::default());
    let mut stop = false;
    let mut reports = Vec::new();
    // Partitions sent back by an abandoned batch, with the offset they were sent back to.
    let mut rewound: HashMap<(String, i32), i64> = HashMap::new();
    while !stop {
        // Keyed by the binding's shared topic name: no String per record.
        let mut next: HashMap<Tp, i64> = HashMap::new();
        // Where each partition's records in this batch begin: the rewind point if the batch
        // has to be abandoned.
        let mut first: HashMap<Tp, i64> = HashMap::new();
        // Outputs of this batch whose delivery report has not been taken yet.
        let mut outstanding: usize = 0;
        let mut open = false;
        let deadline = tokio::time::Instant::now() + BATCH_TIME;
        p.resume_ready(&mut paused, &mut draining, &mut peeking);
        while next.len() < BATCH_RECORDS {
            let msg = tokio::select! {
                biased;
                _ = shutdown.changed() => { stop = true; break }
                r = tokio::time::timeout_at(deadline, p.consumer.recv()) => match r {
                    Err(_) => break,
                    Ok(Err(e)) => { warn!(error = %e, "consume error"); continue }
                    Ok(Ok(m)) => m,
                },
            };
            let moved = p.rebalanced(&mut no_tracker, &mut paused, &mut draining, &mut no_held, &mut peeking);
            // A partition that moved restarts at its committed offset, wherever that is: an
            // old rewind mark would drop everything after it.
            for k in &moved {
                rewound.remove(k);
            }
            if open && moved.iter().any(|(t, part)| next.contains_key(&(Arc::from(t.as_str()), *part))) {
                rewound.extend(abandon(&p, &first, &moved).await?);
                (open, outstanding) = (false, 0);
                next.clear();
                first.clear();
            }
            let (partition, offset) = (msg.partition(), msg.offset());
            let Some(b) = p.bindings.get(msg.topic()).cloned() else { continue };
            let topic = Arc::clone(&b.source);
            if !rewound.is_empty() {
                let key = (topic.to_string(), partition);
                if let Some(from) = rewound.get(&key) {
                    if offset > *from {
                        continue; // fetched before the rewind; it comes again
                    }
                    rewound.remove(&key);
                }
            }
            if !paused.is_empty() && paused.get(&(topic.to_string(), partition)).is_some_and(|from| offset >= *from) {
                continue;
            }
            let peek = peeking.get(&topic, partition);
            if peek.is_some_and(|k| k.spent_at.is_some()) {
                continue;
            }
            if !open {
                p.producer.begin_transaction().map_err(|e| txn_err("begin_transaction", e))?;
                open = true;
            }
            let operator = draining.action_for(&topic, partition, offset);
            let decoded = p.decoder.decode(&b, msg.payload().unwrap_or_default()).await;
            let routed = p.route(&b, &msg, &decoded, operator, peek.is_some());
            p.decoder.recycle(decoded);
            match routed {
                // Nothing written: the batch's offsets must not move past a peeked record.
                Routed::Peeked { spent } => {
                    if spent {
                        p.pause(&topic, partition, offset);
                        peeking.spend(&topic, partition, Some(offset));
                    }
                }
                Routed::Emits(n) => {
                    outstanding += n as usize;
                    first.entry((Arc::clone(&topic), partition)).or_insert(offset);
                    next.insert((topic, partition), offset + 1);
                }
                Routed::Pause => {
                    p.pause(&topic, partition, offset);
                    paused.insert((topic.to_string(), partition), offset);
                    p.publish_paused(&paused);
                }
                // Strict mode is refused with exactly-once at startup; should a record come
                // here held anyway, it goes out now rather than wait on a flush.
                Routed::Held(h) => {
                    outstanding += p.release_held(&b, &h) as usize;
                    first.entry((Arc::clone(&topic), partition)).or_insert(offset);
                    next.insert((topic, partition), offset + 1);
                }
            }
        }
        if !open {
            continue;
        }
        // A revoke inside a recv that returned nothing (the batch deadline) is seen here.
        let moved = p.rebalanced(&mut no_tracker, &mut paused, &mut draining, &mut no_held, &mut peeking);
        for k in &moved {
            rewound.remove(k);
        }
        if moved.iter().any(|(t, part)| next.contains_key(&(Arc::from(t.as_str()), *part))) {
            rewound.extend(abandon(&p, &first, &moved).await?);
            continue;
        }
        match commit(&p, &next).await {
            Ok(()) => {}
            Err(CommitFailure::Abortable(reason)) => {
                warn!(reason = %reason, "batch not committed; aborted and consumed again");
                rewound.extend(abandon(&p, &first, &[]).await?);
                continue;
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
        let batch = p.batch.load(Relaxed);
        while outstanding > 0 {
            p.acks.wait().await;
            p.acks.take(&mut reports);
            for (b, (_, _, _, _, res)) in reports.drain(..) {
                if b != batch {
                    continue;
                }
                outstanding = outstanding.saturating_sub(1);
                if let Err(reason) = res {
                    warn!(reason = %reason, "output failed inside a committed transaction");
                }
            }
        }
    }
    Ok(())
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
    tokio::task::spawn_blocking(move || producer.abort_transaction(TXN_TIMEOUT)).await.map_err(|e| txn_err("abort task", e))?.map_err(|e| txn_err("abort_transaction", e))?;
    let mut rewound = HashMap::new();
    for ((t, part), from) in first {
        if moved.iter().any(|(mt, mp)| **mt == **t && mp == part) {
            continue;
        }
        p.consumer.seek(t, *part, Offset::Offset(*from), Duration::from_secs(5)).map_err(|e| txn_err("rewind after abort", e))?;
        rewound.insert((t.to_string(), *part), *from);
    }
    Ok(rewound)
}

/// Why a batch could not be committed.
enum CommitFailure {
    /// The transaction must be aborted and the batch consumed again (e.g. the group moved on
    /// to a new generation while the batch was open: the broker fences its offsets).
    Abortable(String),
    /// Anything else: the process must stop.
    Fatal(ServeError),
}

fn classify(what: &str, e: &rdkafka::error::KafkaError) -> CommitFailure {
    match e {
        rdkafka::error::KafkaError::Transaction(t) if t.txn_requires_abort() => CommitFailure::Abortable(format!("{what}: {e}")),
        _ => CommitFailure::Fatal(txn_err(what, e)),
    }
}

async fn commit(p: &Pipeline, next: &HashMap<Tp, i64>) -> Result<(), CommitFailure> {
    let mut tpl = TopicPartitionList::new();
    for ((t, part), off) in next {
        tpl.add_partition_offset(t, *part, Offset::Offset(*off)).map_err(|e| CommitFailure::Fatal(txn_err("offsets", e)))?;
    }
    let cgm = p.consumer.group_metadata().ok_or_else(|| CommitFailure::Fatal(txn_err("group metadata", "consumer has no group metadata")))?;
    let producer = p.producer.clone();
    tokio::task::spawn_blocking(move || -> Result<(), CommitFailure> {
        if tpl.count() > 0 {
            producer.send_offsets_to_transaction(&tpl, &cgm, TXN_TIMEOUT).map_err(|e| classify("send_offsets_to_transaction", &e))?;
        }
        producer.commit_transaction(TXN_TIMEOUT).map_err(|e| classify("commit_transaction", &e))
    })
    .await
    .map_err(|e| CommitFailure::Fatal(txn_err("commit task", e)))?
}
