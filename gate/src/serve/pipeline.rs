//! The record loop: consume, decode, check, route, produce with headers, and store the source
//! offset only once every output of the record is acknowledged.

use super::binding::{BindingRuntime, Snapshot};
use super::headers::{self, HeaderValues, SourceCoords};
use super::offsets::OffsetTracker;
use super::plan::{plan, Output, Payload, VerdictTag};
use super::rebalance::{self, GateContext};
use super::{metrics as m, ServeError};
use contracts::decode::{decode_json, DecodeLimits};
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// Most records awaiting acknowledgement before the loop stops consuming to let them drain.
const MAX_IN_FLIGHT: usize = 50_000;

pub(crate) type Ack = (String, i32, i64, Output, Result<(), String>);
/// An output's acknowledgement, polled by the loop's in-flight set (no task per output: a
/// spawn per record cost more CPU than the checks themselves, see BENCHMARKS.md).
pub(crate) type AckFuture = futures::future::BoxFuture<'static, Ack>;

/// Everything the loop needs.
pub struct Pipeline {
    /// Consumer of every source topic.
    pub consumer: Arc<StreamConsumer<GateContext>>,
    /// Producer of every output.
    pub producer: FutureProducer,
    /// Bindings by source topic.
    pub bindings: HashMap<String, Arc<BindingRuntime>>,
    /// Partition count of each output topic (outputs keep the source partition when they can).
    pub partitions: HashMap<String, i32>,
    /// Decode limits.
    pub limits: DecodeLimits,
    /// Violation events.
    pub violations: super::events::ViolationSink,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("bindings", &self.bindings.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Pipeline {
    /// Runs until `shutdown` turns true, then drains in-flight outputs and stores their offsets.
    ///
    /// # Errors
    /// A produce that failed after the producer's own retries: the process must stop without
    /// committing past it, so the record is consumed again after a restart.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
        let mut inflight: FuturesUnordered<AckFuture> = FuturesUnordered::new();
        let mut tracker = OffsetTracker::default();
        let mut paused: HashMap<(String, i32), i64> = HashMap::new();
        let mut resume_tick = tokio::time::interval(Duration::from_millis(100));
        let consumer = Arc::clone(&self.consumer);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    self.acked(done, &mut tracker)?;
                }
                _ = resume_tick.tick(), if !paused.is_empty() => self.resume_ready(&mut paused),
                msg = consumer.recv(), if inflight.len() < MAX_IN_FLIGHT => {
                    let msg = match msg {
                        Ok(m) => m,
                        Err(e) => {
                            warn!(error = %e, "consume error");
                            continue;
                        }
                    };
                    // Assignment changes queued by the callbacks inside this recv() come first:
                    // the message may be the first of a partition that just came back.
                    self.rebalanced(&mut tracker, &mut paused);
                    let (topic, partition, offset) = (msg.topic().to_string(), msg.partition(), msg.offset());
                    if paused.get(&(topic.clone(), partition)).is_some_and(|from| offset >= *from) {
                        continue; // fetched before the pause took effect; the rewind re-reads it
                    }
                    let Some(b) = self.bindings.get(&topic).cloned() else { continue };
                    match self.route(&b, &msg) {
                        Routed::Emits(futs) => {
                            let n = u32::try_from(futs.len()).unwrap_or(u32::MAX);
                            for f in futs {
                                inflight.push(f);
                            }
                            if let Some(c) = tracker.consumed(&topic, partition, offset, n) {
                                self.store(&topic, partition, c);
                            }
                        }
                        Routed::Pause => {
                            self.pause(&topic, partition, offset);
                            paused.insert((topic, partition), offset);
                        }
                    }
                }
            }
        }
        info!(in_flight = inflight.len(), "draining");
        while let Some(done) = inflight.next().await {
            self.acked(done, &mut tracker)?;
        }
        if let Err(e) = self.consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
            // Nothing stored yet is not a failure.
            debug!(error = %e, "final commit");
        }
        Ok(())
    }

    fn acked(&self, done: Ack, tracker: &mut OffsetTracker) -> Result<(), ServeError> {
        let (topic, partition, offset, output, res) = done;
        match res {
            Ok(()) => {
                if let Some(c) = tracker.acked(&topic, partition, offset) {
                    self.store(&topic, partition, c);
                }
                Ok(())
            }
            Err(reason) => {
                error!(topic = %topic, partition, offset, output = output.as_str(), reason = %reason, "produce failed; stopping without committing this record");
                Err(ServeError::Produce { topic, partition, offset, reason })
            }
        }
    }

    /// Applies the assignment changes queued by the consumer's rebalance callbacks.
    pub(crate) fn rebalanced(&self, tracker: &mut OffsetTracker, paused: &mut HashMap<(String, i32), i64>) {
        let changes = self.consumer.context().take();
        if changes.is_empty() {
            return;
        }
        for (topic, partition) in rebalance::apply(changes, tracker, paused) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                debug!(topic = %topic, partition, error = %e, "resume of a newly assigned partition");
            }
        }
    }

    fn store(&self, topic: &str, partition: i32, next: i64) {
        // librdkafka's offset store commits offset + 1.
        if let Err(e) = self.consumer.store_offset(topic, partition, next - 1) {
            warn!(topic, partition, offset = next - 1, error = %e, "store offset");
        }
    }

    pub(crate) fn pause(&self, topic: &str, partition: i32, offset: i64) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        if let Err(e) = self.consumer.pause(&tpl) {
            warn!(topic, partition, error = %e, "pause");
        }
        if let Err(e) = self.consumer.seek(topic, partition, Offset::Offset(offset), Duration::from_secs(5)) {
            warn!(topic, partition, offset, error = %e, "rewind for pause");
        }
        info!(topic, partition, offset, "breaker open: partition paused");
        m::paused(topic, true);
    }

    /// Resumes paused partitions whose breaker no longer diverts.
    pub(crate) fn resume_ready(&self, paused: &mut HashMap<(String, i32), i64>) {
        let ready: HashSet<(String, i32)> = paused
            .keys()
            .filter(|(t, _)| self.bindings.get(t).is_some_and(|b| !matches!(b.router.mode(), breaker::Mode::Open | breaker::Mode::ForcedOpen)))
            .cloned()
            .collect();
        for (topic, partition) in ready {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                warn!(topic = %topic, partition, error = %e, "resume");
                continue;
            }
            info!(topic = %topic, partition, "breaker no longer open: partition resumed");
            m::paused(&topic, false);
            paused.remove(&(topic, partition));
        }
    }

    pub(crate) fn route(&self, b: &BindingRuntime, msg: &rdkafka::message::BorrowedMessage<'_>) -> Routed {
        let arrival = now_ms();
        b.last_arrival_ms.store(arrival, Relaxed);
        let payload = msg.payload().unwrap_or_default();
        let key = msg.key();
        let decoded = decode_json(payload, self.limits);
        // The contract is read once per record, with the observer it feeds (a hot reload swaps
        // both together); headers name the version that judged the record.
        let (contract, valid, verdict_rules, reason, record) = {
            let mut stats = b.stats();
            let contract = Arc::clone(&stats.contract);
            let (valid, ids, reason, record) = match decoded {
                Ok(v) => {
                    let verdict = contract.check(&v, &mut stats.obs);
                    let ids = serde_json::to_string(&verdict.rule_ids()).unwrap_or_else(|_| "[]".into());
                    let reason = verdict.violations.iter().find(|x| x.blocking).map(|x| format!("{}: {} is {}, expected {}", x.rule, if x.field.is_empty() { "record" } else { &x.field }, x.value, x.expected));
                    for v in &verdict.violations {
                        self.violations.offer(&b.cfg.name, &contract, v, msg.topic(), msg.partition(), msg.offset());
                    }
                    (verdict.is_valid(), ids, reason, Some(v))
                }
                Err(e) => {
                    contract.decode_error(&mut stats.obs);
                    (false, "[\"$.decode\"]".to_string(), Some(format!("$.decode: {e}")), None)
                }
            };
            (contract, valid, ids, reason, record)
        };
        let route = if valid { b.router.route() } else { breaker::Route::Pass };
        let keyed = key.is_some_and(|k| !k.is_empty());
        let fallback = b.cfg.fallback;
        let snapshot = keyed && matches!(route, breaker::Route::Divert) && b.has_snapshot(key.unwrap_or_default());
        let p = plan(valid, route, fallback, keyed, snapshot);
        if p.pause {
            m::routed(&b.cfg.name, "paused");
            return Routed::Pause;
        }
        if p.probe {
            if let Some(v) = &record {
                let mut stats = b.stats();
                let current = Arc::clone(&stats.contract);
                let _ = current.check(v, &mut stats.probe);
            }
        }
        let mode = b.router.mode().as_str();
        let source = SourceCoords { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), timestamp: msg.timestamp().to_millis() };
        let mut futs = Vec::with_capacity(p.emits.len());
        for e in &p.emits {
            let topic = match e.output {
                Output::Validated => &b.topics.validated,
                Output::Quarantine => &b.topics.quarantine,
                Output::Degraded => &b.topics.degraded,
                Output::Held => &b.topics.held,
                Output::LastGood => &b.topics.last_good,
            };
            let snap = (e.payload == Payload::Snapshot).then(|| key.and_then(|k| b.snapshot(k))).flatten();
            let (body, src) = match &snap {
                Some(s) => (s.payload.as_slice(), SourceCoords { topic: msg.topic(), partition: s.partition, offset: s.offset, timestamp: s.timestamp }),
                None => (payload, source),
            };
            let hv = HeaderValues {
                contract: &contract.id,
                version: &contract.version,
                verdict: e.verdict,
                breaker_state: mode,
                violations: if e.verdict == VerdictTag::Stale { "[]" } else { &verdict_rules },
                source: src,
                reason: if e.output == Output::Quarantine { reason.as_deref() } else { None },
            };
            // A stale snapshot is another record: the incoming record's headers are not its.
            let inherited = if snap.is_some() { None } else { headers::inherited(msg.headers()) };
            let mut rec = FutureRecord::to(topic).payload(body).headers(headers::build(&hv, inherited));
            if let Some(k) = key {
                rec = rec.key(k);
            }
            if let Some(ts) = source.timestamp {
                rec = rec.timestamp(ts);
            }
            if self.partitions.get(topic).is_some_and(|n| msg.partition() < *n) {
                rec = rec.partition(msg.partition());
            }
            if e.output == Output::LastGood {
                if let Some(k) = key {
                    b.remember(k.to_vec(), Some(Snapshot { payload: payload.to_vec(), partition: msg.partition(), offset: msg.offset(), timestamp: source.timestamp }));
                }
            }
            m::routed(&b.cfg.name, if e.verdict == VerdictTag::Stale { "stale" } else { e.output.as_str() });
            let fut = self.producer.send_result(rec);
            let (t, part, off, out) = (msg.topic().to_string(), msg.partition(), msg.offset(), e.output);
            futs.push(match fut {
                Ok(f) => Box::pin(wait_ack(f, t, part, off, out)) as AckFuture,
                Err((err, _)) => {
                    let reason = err.to_string();
                    Box::pin(std::future::ready((t, part, off, out, Err(reason)))) as AckFuture
                }
            });
        }
        Routed::Emits(futs)
    }
}

/// What happened to one consumed record.
pub(crate) enum Routed {
    /// Outputs were queued; each handle resolves with its acknowledgement.
    Emits(Vec<AckFuture>),
    /// The partition must pause at this record.
    Pause,
}

async fn wait_ack(f: DeliveryFuture, topic: String, partition: i32, offset: i64, output: Output) -> Ack {
    let res = match f.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e.to_string()),
        Err(_) => Err("producer dropped the delivery".to_string()),
    };
    (topic, partition, offset, output, res)
}

/// Used by the violation sink too.
pub(crate) fn violation_json(binding: &str, contract: &contracts::CompiledContract, v: &contracts::Violation, topic: &str, partition: i32, offset: i64) -> String {
    json!({
        "binding": binding, "contract": &*contract.id, "version": &*contract.version,
        "rule": &*v.rule, "field": v.field, "value": v.value, "expected": v.expected, "blocking": v.blocking,
        "source": {"topic": topic, "partition": partition, "offset": offset}, "time": chrono::Utc::now().to_rfc3339(),
    })
    .to_string()
}
