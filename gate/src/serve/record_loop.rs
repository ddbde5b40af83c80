//! The record loop, one for every delivery mode: consume, admit by the partition's flow,
//! judge and route ([`Pipeline::handle`]), hand what was sent to the [`Delivery`]; between
//! records, take delivery reports, commit batches, release strict mode's deferred records,
//! and move paused and peeking partitions on when the breaker changes.

use super::delivery::Delivery;
use super::flow::{Admit, Effect, Flow};
use super::telemetry::{BacklogReleased, BacklogReleaseFailed, Emit};
use super::partitions::Partitions;
use super::pipeline::{Pipeline, Routed};
use super::binding::BindingRuntime;
use super::strict::{DeferredRecord, Judged, JudgedRx};
use super::rebalance::{self, Change};
use super::ServeError;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use futures::FutureExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// How often paused and peeking partitions, and probe records waiting for their verdict, look
/// at their breaker.
const RESUME_TICK: Duration = Duration::from_millis(100);

/// Most records taken in one run between two passes through the loop's select: bounds how
/// long delivery reports, strict mode's judgements and resume ticks wait behind a backlog
/// (a run of small records lasts well under a millisecond).
const RUN: u32 = 256;

/// Runs until `shutdown` turns true, then lets the delivery finish (drain acknowledgements,
/// commit the open batch), then closes the loop's clients within
/// [`shutdown::CLOSE_WAIT`](super::shutdown::CLOSE_WAIT).
///
/// # Errors
/// What the delivery cannot recover from (a produce that failed after the producer's own
/// retries, a transactional call that failed): the process must stop without committing past
/// it, so the record is consumed again after a restart.
pub(crate) async fn run<D: Delivery>(mut p: Pipeline, d: D, shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
    let result = serve(&mut p, d, shutdown).await;
    // Dropped here, the consumer's close (a commit, leaving the group) could wait on the
    // group coordinator for good, holding the runtime's thread and the process's exit.
    let worker = p.worker;
    let closed = super::shutdown::within("closing the Kafka clients of a record loop", super::shutdown::CLOSE_WAIT, move || drop(p)).await;
    debug!(worker, closed = closed.is_some(), "record loop stopped");
    result
}

async fn serve<D: Delivery>(p: &mut Pipeline, mut d: D, mut shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
    d.start(p).await?;
    let mut judged = p.judged.take();
    let mut parts = Partitions::default();
    let mut resume_tick = tokio::time::interval(RESUME_TICK);
    let consumer = Arc::clone(&p.consumer);
    let context = Arc::clone(consumer.context());
    loop {
        let due = d.due();
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            () = p.acks.wait(), if d.awaits_reports() => d.on_reports(p, &mut parts)?,
            () = sleep_until(due), if due.is_some() => {
                // A revoke inside a recv that returned nothing is seen here, before the commit.
                p.apply_changes(&mut d, &mut parts).await?;
                d.on_due(p).await?;
            }
            _ = resume_tick.tick(), if parts.any_waiting() || parts.deferred.awaits_probe() => {
                p.resume_ready(&mut parts);
                p.release_probes(&mut d, &mut parts);
            }
            () = context.queued() => {
                p.apply_changes(&mut d, &mut parts).await?;
            }
            Some(j) = next_judged(&mut judged) => p.release_judged(&mut d, &mut parts, &j),
            msg = consumer.recv(), if d.has_room(parts.deferred.len()) => {
                // Records already fetched are taken in a run, without going back through the
                // select: each pass there arms every branch again (wakers on four notifiers, a
                // timer), which cost more than judging a small record. The run ends at the
                // first record not yet fetched, and as soon as anything a branch above waits
                // for could be due: shutdown, a full in-flight window, a commit or retry time.
                let mut next = Some(msg);
                let mut run = 0;
                while let Some(msg) = next.take() {
                    match msg {
                        Ok(msg) => {
                            // Assignment changes queued by the callbacks inside this recv()
                            // come first: the message may be the first of a partition that
                            // just came back, or one fetched from a partition just handed
                            // over (its new owner reads it).
                            let gone = p.apply_changes(&mut d, &mut parts).await?;
                            if !gone.iter().any(|(t, n)| *n == msg.partition() && t == msg.topic()) {
                                p.take(&mut d, &mut parts, &msg).await?;
                            }
                        }
                        // A subscribed source that does not exist yet is reported by the
                        // consumer until it is created; startup has named it once.
                        Err(KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition)) => debug!("a source topic does not exist yet"),
                        Err(e) => warn!(error = %e, "consume error"),
                    }
                    run += 1;
                    // As the select would before the next record: reports first. A send refused
                    // at once (a full producer queue) is among them, and the retry it schedules
                    // must go out before any later record of its partition.
                    if d.awaits_reports() && p.acks.has_reports() {
                        d.on_reports(p, &mut parts)?;
                    }
                    if run == RUN || !d.has_room(parts.deferred.len()) || shutdown.has_changed().unwrap_or(true) || d.due().is_some_and(|at| at <= tokio::time::Instant::now()) {
                        break;
                    }
                    next = consumer.recv().now_or_never();
                }
                if run == RUN {
                    // A backlog: the consumer has more at once, and this task would not give
                    // its thread back. A task it woke (the flusher, when a strict shard fills)
                    // waits in the thread's LIFO slot, which other threads cannot steal from,
                    // so without this yield the flusher ran only after the whole backlog.
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    p.apply_changes(&mut d, &mut parts).await?;
    d.finish(p, &mut parts).await
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next judged generation, or never when no binding is strict.
async fn next_judged(rx: &mut Option<JudgedRx>) -> Option<Judged> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

impl Pipeline {
    /// One consumed record, from admission to delivery.
    async fn take<D: Delivery>(&self, d: &mut D, parts: &mut Partitions, msg: &BorrowedMessage<'_>) -> Result<(), ServeError> {
        let Some(b) = self.topology.load().bindings.get(msg.topic()).cloned() else { return Ok(()) };
        // The binding's shared name: no String per record.
        let topic = &b.source;
        let (partition, offset) = (msg.partition(), msg.offset());
        if !d.admits(topic, partition, offset) {
            return Ok(());
        }
        let admit = parts.admit(topic, partition, offset);
        if admit == Admit::Ignore {
            return Ok(()); // fetched before a pause took effect; the partition reads it again
        }
        // Probe records of this partition whose verdict is in go out before it, not with the
        // next resume tick; if some still wait (the breaker is half-open, or its verdict came
        // in just now), the record may have to wait for them (`pipeline::waits`).
        if parts.deferred.probe_waits(topic, partition) {
            self.release_probes(d, parts);
        }
        let behind_probe = parts.deferred.probe_waits(topic, partition);
        d.before_send(self)?;
        match self.handle(&b, msg, admit, behind_probe).await {
            Routed::Sent(n) => d.sent(self, parts, topic, partition, offset, n),
            Routed::Pause => {
                self.transition(parts, topic, partition, |f| f.paused_at(offset));
                self.publish_paused(parts);
            }
            Routed::Wait => {
                if behind_probe && !b.router.probing() {
                    debug!(topic = %topic, partition, offset, "the probe was judged since its records were last released: the record waits for them");
                }
                self.transition(parts, topic, partition, |f| f.waiting_at(offset));
            }
            Routed::Peeked { spent } => self.transition(parts, topic, partition, |f| f.peeked(offset, spent)),
            Routed::Deferred(r) if D::DEFERS => {
                d.deferred(parts, topic, partition, offset);
                parts.deferred.push(*r);
            }
            // A delivery that cannot defer (a transaction cannot stay open across flushes):
            // the record goes out now, routed by the state it is judged in. Strict mode is
            // refused at startup there; a half-open probe record takes the open route.
            Routed::Deferred(r) => {
                let n = self.release_deferred(&b, &r, false);
                d.sent(self, parts, topic, partition, offset, n);
            }
        }
        Ok(())
    }

    /// A strict binding's window generation was judged: its deferred records go out, routed by
    /// the state that judgement left (the open route if the generation's own records breached).
    fn release_judged<D: Delivery>(&self, d: &mut D, parts: &mut Partitions, j: &Judged) {
        let Some(b) = self.topology.load().bindings.get(&j.topic).cloned() else { return };
        let due = parts.deferred.release(&j.topic, j.generation);
        self.send_released(d, parts, &b, due, j.divert);
    }

    /// Probe records of bindings whose router no longer admits probes go out, routed by the
    /// verdict: validated after a close, the open route after a failed probe (or while the
    /// store's outage policy overrides a half-open breaker). The router's one flag decides,
    /// the same that routes the records after them (`pipeline::waits`): a record that found
    /// the probe over waits for a release that is then certain to come.
    fn release_probes<D: Delivery>(&self, d: &mut D, parts: &mut Partitions) {
        if !parts.deferred.awaits_probe() {
            return;
        }
        for b in self.topology.load().list.iter() {
            if b.router.probing() {
                continue;
            }
            let due = parts.deferred.release_probes(&b.source);
            self.send_released(d, parts, b, due, false);
        }
    }

    /// Sends deferred records whose wait is over and tells the delivery what each owes now.
    fn send_released<D: Delivery>(&self, d: &mut D, parts: &mut Partitions, b: &BindingRuntime, records: Vec<DeferredRecord>, divert: bool) {
        for r in records {
            let n = self.release_deferred(b, &r, divert);
            let rec = r.as_ref();
            d.released(self, parts, &b.source, rec.partition, rec.offset, n);
        }
    }

    /// Applies the assignment changes queued by the consumer's rebalance callbacks, in order.
    /// Partitions asked back are handed over: the delivery finishes what was sent from them,
    /// then they are unassigned. Returns the partitions that left.
    async fn apply_changes<D: Delivery>(&self, d: &mut D, parts: &mut Partitions) -> Result<Vec<(String, i32)>, ServeError> {
        let mut gone = Vec::new();
        for change in self.consumer.context().take() {
            let change = match change {
                Change::Revoking(list) => {
                    d.hand_over(self, parts, &list).await?;
                    if let Err(e) = self.consumer.incremental_unassign(&rebalance::list(&list)) {
                        warn!(partitions = ?list, error = %e, "unassigning handed-over partitions");
                    }
                    self.consumer.context().handed_over(&list);
                    info!(partitions = ?list, "partitions handed over");
                    Change::Revoked(list)
                }
                other => other,
            };
            if let Change::Revoked(list) = &change {
                gone.extend(list.iter().cloned());
            }
            let moved = self.rebalanced(parts, vec![change]);
            d.on_moved(self, &moved).await?;
        }
        Ok(gone)
    }

    /// Applies assignment changes to the loop's partition state. Returns the partitions that
    /// moved (assigned or revoked).
    fn rebalanced(&self, parts: &mut Partitions, changes: Vec<Change>) -> Vec<(String, i32)> {
        let done = parts.rebalance(changes);
        self.publish_paused(parts);
        // Reported where it is found, once per output on every assignment: an output made
        // before its source existed, made by hand, or a source that grew since.
        let topology = self.topology.load();
        let mut narrower: std::collections::BTreeMap<(String, i32), Vec<i32>> = std::collections::BTreeMap::new();
        for (topic, partition) in &done.resume {
            for output in topology.narrower_outputs(topic, *partition) {
                narrower.entry(output).or_default().push(*partition);
            }
        }
        for ((output, count), partitions) in narrower {
            warn!(output = %output, output_partitions = count, source_partitions = ?partitions, "output topic has fewer partitions than its source: source partition p goes to output partition p mod {count}, so each keeps its order but shares an output partition; give {output} as many partitions as its source (the gate reads the outputs' counts when it starts)");
        }
        for (topic, partition) in done.resume {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                debug!(topic = %topic, partition, error = %e, "resume of a newly assigned partition");
            }
        }
        done.moved
    }

    /// Moves one partition's flow on and carries out the effect on the consumer.
    pub(crate) fn transition(&self, parts: &mut Partitions, topic: &str, partition: i32, step: impl FnOnce(Flow) -> (Flow, Effect)) {
        let effect = parts.transition(topic, partition, step);
        self.carry_out(topic, partition, effect);
    }

    fn carry_out(&self, topic: &str, partition: i32, effect: Effect) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        match effect {
            Effect::None => {}
            Effect::Pause { at } => {
                if let Err(e) = self.consumer.pause(&tpl) {
                    warn!(topic, partition, error = %e, "pause");
                }
                if let Err(e) = self.consumer.seek(topic, partition, Offset::Offset(at), Duration::from_secs(5)) {
                    warn!(topic, partition, offset = at, error = %e, "rewind for pause");
                }
            }
            Effect::Resume => {
                if let Err(e) = self.consumer.resume(&tpl) {
                    warn!(topic, partition, error = %e, "resume");
                }
            }
            Effect::Rewind { to } => {
                if let Err(e) = self.consumer.seek(topic, partition, Offset::Offset(to), Duration::from_secs(5)) {
                    warn!(topic, partition, offset = to, error = %e, "rewind");
                }
                if let Err(e) = self.consumer.resume(&tpl) {
                    warn!(topic, partition, error = %e, "resume after rewind");
                }
            }
        }
    }

    /// Shows every binding's paused partitions to the admin API.
    pub(crate) fn publish_paused(&self, parts: &Partitions) {
        for b in self.topology.load().list.iter() {
            b.set_paused_at(self.worker, parts.paused_of(&b.source));
        }
    }

    /// Carries out operator requests: each paused partition of the binding is released from
    /// its pause offset up to its current high watermark.
    fn release_requested(&self, parts: &mut Partitions) {
        for b in self.topology.load().list.iter() {
            let Some(action) = b.take_request(self.worker) else { continue };
            for (partition, from) in parts.paused_of(&b.source) {
                let topic: &str = &b.source;
                // A blocking metadata call, rare (an operator's request) and bounded.
                let end = match self.consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
                    Ok((_, high)) => high,
                    Err(error) => {
                        BacklogReleaseFailed { binding: &b.cfg.name, topic, partition, action, error: &error }.emit();
                        continue;
                    }
                };
                self.transition(parts, topic, partition, |f| f.release(action, end));
                BacklogReleased { binding: &b.cfg.name, topic, partition, from, to: end, action }.emit();
            }
        }
    }

    /// Moves paused and peeking partitions on by their breaker's mode, after carrying out
    /// operator requests.
    pub(crate) fn resume_ready(&self, parts: &mut Partitions) {
        self.release_requested(parts);
        for (topic, partition, _) in parts.waiting() {
            let Some(mode) = self.topology.load().bindings.get(&topic).map(|b| b.router.mode()) else { continue };
            self.transition(parts, &topic, partition, |f| f.on_mode(mode));
        }
        self.publish_paused(parts);
    }
}
