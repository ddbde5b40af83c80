//! At-least-once: a source offset is stored (and auto-committed) only once every output of
//! every record before it is acknowledged, so a crash re-delivers anything not fully written.

use super::Delivery;
use crate::serve::acks::{Refused, Report, Sent};
use crate::serve::partitions::Partitions;
use crate::serve::pipeline::Pipeline;
use crate::serve::fit::{self, Refusal};
use crate::serve::refused;
use crate::serve::telemetry::{Emit, ProduceFailed};
use crate::serve::ServeError;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Most records awaiting acknowledgement (sent or deferred) before the loop stops consuming
/// to let them drain.
const MAX_IN_FLIGHT: usize = 50_000;

/// Longest a revoke waits for the acknowledgements of what was sent. Past it the partitions
/// go with what is stored: the new owner writes the unacknowledged records again (at least
/// once), rather than the whole group waiting on a broker that does not answer.
const HAND_OVER_WAIT: Duration = Duration::from_secs(10);

/// Longest a stopping loop waits for the acknowledgements of what it sent. librdkafka's own
/// bound (`message.timeout.ms`, 5 min by default) is longer than any orchestrator waits after
/// SIGTERM; what is not acknowledged by then is written again after the restart.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(30);

/// How long an output refused for a passing reason (the producer's queue full, the cluster
/// away) waits before it is sent again. Sent again at once, a refusal by a full queue came
/// straight back: the loop spun on the same records until the queue drained.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// At-least-once delivery.
#[derive(Debug, Default)]
pub struct AtLeastOnce {
    /// Outputs sent whose delivery report has not been taken yet, and outputs waiting to be
    /// sent again.
    outstanding: usize,
    /// The reports taken in one go, kept for its capacity.
    reports: Vec<Report>,
    /// Outputs to send again at `retry_at`, in the order they failed.
    retries: Vec<(Sent, Box<Refused>)>,
    /// When `retries` go out.
    retry_at: Option<tokio::time::Instant>,
}

impl Delivery for AtLeastOnce {
    const DEFERS: bool = true;

    async fn start(&mut self, _p: &Pipeline) -> Result<(), ServeError> {
        Ok(())
    }

    /// No room while outputs wait to be sent again: new records would only fill the queue
    /// they wait for.
    fn has_room(&self, deferred: usize) -> bool {
        self.retries.is_empty() && self.outstanding + deferred < MAX_IN_FLIGHT
    }

    fn awaits_reports(&self) -> bool {
        self.outstanding > 0
    }

    /// Takes every queued delivery report and stores the offsets they advanced, one call for
    /// the batch (a store per record looked the topic up in librdkafka each time).
    fn on_reports(&mut self, p: &Pipeline, parts: &mut Partitions) -> Result<(), ServeError> {
        p.acks.take(&mut self.reports);
        self.outstanding = self.outstanding.saturating_sub(self.reports.len());
        // The newest committable offset of each partition the batch advanced (a handful).
        let mut advanced: Vec<(Arc<str>, i32, i64)> = Vec::new();
        let mut failed = None;
        let mut reports = std::mem::take(&mut self.reports);
        for Report { sent, result, refused } in reports.drain(..) {
            if let Err(source) = result {
                // The output is still owed: its retry or its stub acknowledges it.
                let refusal = source.rdkafka_error_code().map_or(Refusal::Fatal, fit::refusal);
                let failed_at = (Arc::clone(&sent.topic), sent.partition, sent.offset, sent.output);
                let outcome = match (refusal, refused.as_deref()) {
                    (Refusal::Record, Some(r)) if refused::is_stub(r) => {
                        p.transition(parts, &sent.topic, sent.partition, |f| f.stopped_at(sent.offset));
                        "partition_stopped"
                    }
                    (Refusal::Record, Some(r)) if p.stub_refused(&sent, r, &source) => "stubbed",
                    (Refusal::Transient, Some(_)) => "retried",
                    _ => "stopped",
                };
                let (topic, partition, offset, output) = failed_at;
                ProduceFailed { outcome, topic: &topic, partition, offset, output, error: &source }.emit();
                match outcome {
                    "stopped" => {
                        failed = Some(ServeError::Produce { topic: topic.to_string(), partition, offset, output: output.name(), source: Box::new(source) });
                        break;
                    }
                    "partition_stopped" => {}
                    "retried" => {
                        if let Some(r) = refused {
                            self.retry_later(sent, r);
                        }
                        self.outstanding += 1;
                    }
                    _ => self.outstanding += 1,
                }
                continue;
            }
            if let Some(c) = parts.offsets.acked(&sent.topic, sent.partition, sent.offset) {
                match advanced.iter_mut().find(|(t, p, _)| *p == sent.partition && **t == *sent.topic) {
                    Some(a) => a.2 = c,
                    None => advanced.push((sent.topic, sent.partition, c)),
                }
            }
        }
        self.reports = reports;
        // Records done before a failure are still done.
        store_all(p, advanced.iter().map(|(t, p, next)| (&**t, *p, *next)));
        failed.map_or(Ok(()), Err)
    }

    fn due(&self) -> Option<tokio::time::Instant> {
        self.retry_at
    }

    async fn on_due(&mut self, p: &Pipeline) -> Result<(), ServeError> {
        self.resend_due(p);
        Ok(())
    }

    /// Waits for every output in flight (a few milliseconds of them) and stores the offsets
    /// they complete; unassigning then commits those offsets for the revoked partitions.
    async fn hand_over(&mut self, p: &Pipeline, parts: &mut Partitions, revoked: &[(String, i32)]) -> Result<(), ServeError> {
        let in_flight = self.outstanding;
        if !self.drain(p, parts, Some(tokio::time::Instant::now() + HAND_OVER_WAIT)).await? {
            warn!(partitions = ?revoked, unacknowledged = self.outstanding, wait = ?HAND_OVER_WAIT, "handing over with outputs unacknowledged: their records are consumed again by the new owner");
        }
        debug!(partitions = ?revoked, in_flight, "in-flight outputs written before the hand-over");
        Ok(())
    }

    async fn on_moved(&mut self, _p: &Pipeline, _moved: &[(String, i32)]) -> Result<(), ServeError> {
        Ok(())
    }

    fn admits(&mut self, _topic: &str, _partition: i32, _offset: i64) -> bool {
        true
    }

    fn before_send(&mut self, _p: &Pipeline) -> Result<(), ServeError> {
        Ok(())
    }

    fn sent(&mut self, p: &Pipeline, parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        self.outstanding += outputs as usize;
        if let Some(c) = parts.offsets.consumed(topic, partition, offset, outputs) {
            store_all(p, [(&**topic, partition, c)]);
        }
    }

    fn deferred(&mut self, parts: &mut Partitions, topic: &str, partition: i32, offset: i64) {
        // One acknowledgement when released; until then its offset waits.
        let _ = parts.offsets.consumed(topic, partition, offset, 1);
    }

    fn released(&mut self, p: &Pipeline, parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32) {
        self.outstanding += outputs as usize;
        // It was owed one acknowledgement while deferred; now one per output.
        if let Some(c) = parts.offsets.reowe(topic, partition, offset, outputs) {
            store_all(p, [(&**topic, partition, c)]);
        }
    }

    /// Drains in-flight outputs (at most [`SHUTDOWN_DRAIN`]), stores their offsets and commits
    /// (at most [`FINAL_COMMIT_WAIT`](crate::serve::shutdown::FINAL_COMMIT_WAIT)).
    async fn finish(&mut self, p: &Pipeline, parts: &mut Partitions) -> Result<(), ServeError> {
        info!(in_flight = self.outstanding, "draining");
        if !self.drain(p, parts, Some(tokio::time::Instant::now() + SHUTDOWN_DRAIN)).await? {
            warn!(unacknowledged = self.outstanding, wait = ?SHUTDOWN_DRAIN, "stopping with outputs unacknowledged: their records are consumed again after the restart");
        }
        let consumer = Arc::clone(&p.consumer);
        let commit = crate::serve::shutdown::within("the final offset commit", crate::serve::shutdown::FINAL_COMMIT_WAIT, move || consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync)).await;
        match commit {
            Some(Ok(()) | Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset))) => debug!("final commit done"),
            // Its records are consumed again after the restart.
            Some(Err(e)) => warn!(error = %e, "final offset commit failed"),
            None => {}
        }
        Ok(())
    }
}

impl AtLeastOnce {
    /// Takes delivery reports (storing the offsets they complete) until no output is in
    /// flight, or `deadline` passes: returns whether everything was acknowledged.
    async fn drain(&mut self, p: &Pipeline, parts: &mut Partitions, deadline: Option<tokio::time::Instant>) -> Result<bool, ServeError> {
        while self.outstanding > 0 {
            // Outputs waiting to be sent again report only once sent: their time comes first.
            let retry_at = self.retry_at;
            let woken = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => p.acks.wait().await,
                }
            };
            match deadline {
                Some(at) => {
                    if tokio::time::timeout_at(at, woken).await.is_err() {
                        return Ok(false);
                    }
                }
                None => woken.await,
            }
            if retry_at.is_some() {
                self.resend_due(p);
            }
            self.on_reports(p, parts)?;
        }
        Ok(true)
    }

    /// Keeps an output refused for a passing reason, to send again after [`RETRY_BACKOFF`].
    fn retry_later(&mut self, sent: Sent, r: Box<Refused>) {
        self.retries.push((sent, r));
        self.retry_at.get_or_insert_with(|| tokio::time::Instant::now() + RETRY_BACKOFF);
    }

    /// Sends the waiting outputs again, in order, until the producer's queue refuses one: it
    /// and those after it wait another [`RETRY_BACKOFF`] (the queue drains meanwhile). A send
    /// refused for another reason reports as a failed delivery, to be judged as one.
    fn resend_due(&mut self, p: &Pipeline) {
        self.retry_at = None;
        let mut waiting = std::mem::take(&mut self.retries).into_iter();
        while let Some((sent, r)) = waiting.next() {
            match p.resend(sent, &r) {
                Ok(()) => {}
                Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), sent)) => {
                    self.retries.push((sent, r));
                    self.retries.extend(waiting);
                    self.retry_at = Some(tokio::time::Instant::now() + RETRY_BACKOFF);
                    return;
                }
                Err((err, sent)) => p.acks.push(sent, Err(err), Some(r)),
            }
        }
    }
}

/// Stores, in one call, the offset to resume from (the first record not yet done) of each
/// partition given.
fn store_all<'a>(p: &Pipeline, next: impl IntoIterator<Item = (&'a str, i32, i64)>) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, next) in next {
        if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(next)) {
            warn!(topic, partition, offset = next, error = %e, "store offset");
        }
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = p.consumer.store_offsets(&tpl) {
        // A partition revoked meanwhile cannot be stored; its new owner reads it again.
        warn!(partitions = tpl.count(), error = %e, "store offsets");
    }
}
