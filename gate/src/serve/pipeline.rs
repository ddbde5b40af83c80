//! The record loop: consume, decode, check, route, produce with headers, and store the source
//! offset only once every output of the record is acknowledged.

use super::binding::BindingRuntime;
use super::headers::{self, HeaderValues, SourceCoords};
use super::offsets::OffsetTracker;
use super::pending::{Draining, PausedAt, PendingAction, Peeking};
use super::strict::{Held, HeldRecord, JudgedRx, RecordRef};
use super::plan::{plan, Output, Payload, VerdictTag};
use super::rebalance::{self, GateContext};
use super::{metrics as m, ServeError};
use contracts::decode::DecodeLimits;
use super::acks::{Ack, AckQueue, OutputProducer, Sent};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// Most records awaiting acknowledgement before the loop stops consuming to let them drain.
const MAX_IN_FLIGHT: usize = 50_000;

/// A map by topic name, looked up per record: hashed with foldhash, not SipHash (the names come
/// from the gate's own configuration, so flooding is not a concern).
pub type TopicMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Everything the loop needs.
pub struct Pipeline {
    /// Consumer of every source topic.
    pub consumer: Arc<StreamConsumer<GateContext>>,
    /// Producer of every output; its delivery reports go to `acks`.
    pub producer: OutputProducer,
    /// Delivery reports, taken by the loop in batches.
    pub acks: Arc<AckQueue>,
    /// The batch outputs are sent in (exactly-once moves it on when a batch is aborted, so
    /// the aborted outputs' late reports are told apart).
    pub batch: AtomicU64,
    /// Bindings by source topic.
    pub bindings: TopicMap<Arc<BindingRuntime>>,
    /// Partition count of each output topic (outputs keep the source partition when they can).
    pub partitions: TopicMap<i32>,
    /// Decode limits.
    pub limits: DecodeLimits,
    /// Payload decoding per binding format (JSON; Avro with its writer-schema cache).
    pub decoder: super::decode::Decoder,
    /// Violation events.
    pub violations: super::events::ViolationSink,
    /// Strict bindings: the flushers' reports that a window generation was judged.
    pub judged: Option<super::strict::JudgedRx>,
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
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
        let mut judged = self.judged.take();
        let mut held = Held::default();
        // Outputs sent whose delivery report has not been taken yet.
        let mut outstanding: usize = 0;
        let mut reports = Vec::new();
        let mut tracker = OffsetTracker::default();
        let mut paused: HashMap<(String, i32), i64> = HashMap::new();
        let mut draining = Draining::default();
        let mut peeking = Peeking::default();
        let mut resume_tick = tokio::time::interval(Duration::from_millis(100));
        let consumer = Arc::clone(&self.consumer);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                () = self.acks.wait(), if outstanding > 0 => self.take_acks(&mut reports, &mut outstanding, &mut tracker)?,
                _ = resume_tick.tick(), if !paused.is_empty() || !peeking.is_empty() => self.resume_ready(&mut paused, &mut draining, &mut peeking),
                Some((topic, generation)) = next_judged(&mut judged) => {
                    let Some(b) = self.bindings.get(&topic) else { continue };
                    for h in held.release(&topic, generation) {
                        let n = self.release_held(b, &h);
                        outstanding += n as usize;
                        // It was owed one acknowledgement while held; now one per output.
                        let r = h.as_ref();
                        if let Some(c) = tracker.reowe(&b.source, r.partition, r.offset, n) {
                            self.store(&b.source, r.partition, c);
                        }
                    }
                }
                msg = consumer.recv(), if outstanding + held.len() < MAX_IN_FLIGHT => {
                    let msg = match msg {
                        Ok(m) => m,
                        Err(e) => {
                            warn!(error = %e, "consume error");
                            continue;
                        }
                    };
                    // Assignment changes queued by the callbacks inside this recv() come first:
                    // the message may be the first of a partition that just came back.
                    let _ = self.rebalanced(&mut tracker, &mut paused, &mut draining, &mut held, &mut peeking);
                    let (partition, offset) = (msg.partition(), msg.offset());
                    let Some(b) = self.bindings.get(msg.topic()).cloned() else { continue };
                    // The binding's shared name: no String per record.
                    let topic: &str = &b.source;
                    if !paused.is_empty() && paused.get(&(topic.to_string(), partition)).is_some_and(|from| offset >= *from) {
                        continue; // fetched before the pause took effect; the rewind re-reads it
                    }
                    let operator = draining.action_for(topic, partition, offset);
                    let peek = peeking.get(topic, partition);
                    if peek.is_some_and(|p| p.spent_at.is_some()) {
                        continue; // fetched before the pause took effect; the partition goes back anyway
                    }
                    // An Avro record whose schema id is not cached waits here for the fetch
                    // (bounded by the registry timeout), so per-partition order holds.
                    let decoded = self.decoder.decode(&b, msg.payload().unwrap_or_default()).await;
                    let routed = self.route(&b, &msg, &decoded, operator, peek.is_some());
                    self.decoder.recycle(decoded);
                    match routed {
                        Routed::Peeked { spent } => {
                            if spent {
                                self.pause(topic, partition, offset);
                                peeking.spend(topic, partition, Some(offset));
                            }
                        }
                        Routed::Emits(n) => {
                            outstanding += n as usize;
                            if let Some(c) = tracker.consumed(topic, partition, offset, n) {
                                self.store(topic, partition, c);
                            }
                        }
                        Routed::Pause => {
                            self.pause(topic, partition, offset);
                            paused.insert((topic.to_string(), partition), offset);
                            self.publish_paused(&paused);
                        }
                        Routed::Held(h) => {
                            // One acknowledgement when released; until then its offset waits.
                            let _ = tracker.consumed(topic, partition, offset, 1);
                            held.push(*h);
                        }
                    }
                }
            }
        }
        info!(in_flight = outstanding, "draining");
        while outstanding > 0 {
            self.acks.wait().await;
            self.take_acks(&mut reports, &mut outstanding, &mut tracker)?;
        }
        if let Err(e) = self.consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
            // Nothing stored yet is not a failure.
            debug!(error = %e, "final commit");
        }
        Ok(())
    }

    /// Takes every queued delivery report and stores the offsets they advanced, one call for
    /// the batch (a store per record looked the topic up in librdkafka each time).
    fn take_acks(&self, reports: &mut Vec<(u64, Ack)>, outstanding: &mut usize, tracker: &mut OffsetTracker) -> Result<(), ServeError> {
        self.acks.take(reports);
        *outstanding = outstanding.saturating_sub(reports.len());
        // The newest committable offset of each partition the batch advanced (a handful).
        let mut advanced: Vec<(Arc<str>, i32, i64)> = Vec::new();
        let mut failed = None;
        for (_, (topic, partition, offset, output, res)) in reports.drain(..) {
            if let Err(reason) = res {
                error!(topic = %topic, partition, offset, output = output.as_str(), reason = %reason, "produce failed; stopping without committing this record");
                failed = Some(ServeError::Produce { topic: topic.to_string(), partition, offset, reason });
                break;
            }
            if let Some(c) = tracker.acked(&topic, partition, offset) {
                match advanced.iter_mut().find(|(t, p, _)| *p == partition && **t == *topic) {
                    Some(a) => a.2 = c,
                    None => advanced.push((topic, partition, c)),
                }
            }
        }
        // Records done before a failure are still done.
        self.store_all(advanced.iter().map(|(t, p, next)| (&**t, *p, *next)));
        failed.map_or(Ok(()), Err)
    }

    /// Applies the assignment changes queued by the consumer's rebalance callbacks.
    /// Returns the partitions that moved (assigned or revoked).
    pub(crate) fn rebalanced(&self, tracker: &mut OffsetTracker, paused: &mut HashMap<(String, i32), i64>, draining: &mut Draining, held: &mut Held, peeking: &mut Peeking) -> Vec<(String, i32)> {
        let changes = self.consumer.context().take();
        if changes.is_empty() {
            return Vec::new();
        }
        let done = rebalance::apply(changes, tracker, paused, draining, held, peeking);
        self.publish_paused(paused);
        for (topic, partition) in done.resume {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                debug!(topic = %topic, partition, error = %e, "resume of a newly assigned partition");
            }
        }
        done.moved
    }

    fn store(&self, topic: &str, partition: i32, next: i64) {
        self.store_all([(topic, partition, next)]);
    }

    /// Stores, in one call, the offset to resume from (the first record not yet done) of each
    /// partition given.
    fn store_all<'a>(&self, next: impl IntoIterator<Item = (&'a str, i32, i64)>) {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, next) in next {
            if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(next)) {
                warn!(topic, partition, offset = next, error = %e, "store offset");
            }
        }
        if tpl.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.store_offsets(&tpl) {
            // A partition revoked meanwhile cannot be stored; its new owner reads it again.
            warn!(partitions = tpl.count(), error = %e, "store offsets");
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

    /// Shows every binding's paused partitions to the admin API.
    pub(crate) fn publish_paused(&self, paused: &HashMap<(String, i32), i64>) {
        for b in self.bindings.values() {
            let mine: PausedAt = paused.iter().filter(|((t, _), _)| *t == b.cfg.source).map(|((_, p), o)| (*p, *o)).collect();
            b.set_paused_at(mine);
        }
    }

    /// Carries out operator requests: each paused partition of the binding is released from
    /// its pause offset up to its current high watermark.
    fn release_requested(&self, paused: &mut HashMap<(String, i32), i64>, draining: &mut Draining) {
        for b in self.bindings.values() {
            let Some(action) = b.take_request() else { continue };
            let mine: Vec<(String, i32, i64)> = paused.iter().filter(|((t, _), _)| *t == b.cfg.source).map(|((t, p), o)| (t.clone(), *p, *o)).collect();
            for (topic, partition, from) in mine {
                // A blocking metadata call, rare (an operator's request) and bounded.
                let end = match self.consumer.fetch_watermarks(&topic, partition, Duration::from_secs(5)) {
                    Ok((_, high)) => high,
                    Err(e) => {
                        warn!(binding = %b.cfg.name, topic = %topic, partition, action = action.as_str(), error = %e, "cannot read the high watermark; backlog left paused");
                        continue;
                    }
                };
                draining.start(&topic, partition, end, action);
                paused.remove(&(topic.clone(), partition));
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&topic, partition);
                if let Err(e) = self.consumer.resume(&tpl) {
                    warn!(topic = %topic, partition, error = %e, "resume for release");
                }
                m::paused(&topic, false);
                m::released(&b.cfg.name, action.as_str(), end - from);
                info!(binding = %b.cfg.name, topic = %topic, partition, from, to = end, records = end - from, action = action.as_str(), "operator released the paused backlog");
            }
        }
    }

    /// Resumes paused partitions whose breaker no longer diverts, after carrying out operator
    /// requests.
    pub(crate) fn resume_ready(&self, paused: &mut HashMap<(String, i32), i64>, draining: &mut Draining, peeking: &mut Peeking) {
        self.release_requested(paused, draining);
        let mode_of = |t: &str| self.bindings.get(t).map(|b| b.router.mode());
        // A judged probe: back to the pause offset, to flow or to stay paused.
        for (topic, partition, peek) in peeking.all() {
            match mode_of(&topic) {
                None => {}
                // Out of grant: peek on from where it ran out; more comes with each flush
                // until the probe is complete and judged.
                Some(breaker::Mode::HalfOpen) => {
                    if let Some(at) = peek.spent_at {
                        peeking.spend(&topic, partition, None);
                        self.rewind(&topic, partition, at);
                    }
                }
                Some(breaker::Mode::Open | breaker::Mode::ForcedOpen) => {
                    peeking.stop(&topic, partition);
                    self.pause(&topic, partition, peek.from);
                    paused.insert((topic, partition), peek.from);
                }
                Some(_) => {
                    peeking.stop(&topic, partition);
                    self.rewind(&topic, partition, peek.from);
                    info!(topic = %topic, partition, from = peek.from, "probe passed: partition flows from its pause offset");
                }
            }
        }
        let ready: Vec<((String, i32), i64)> = paused
            .iter()
            .filter(|((t, _), _)| mode_of(t).is_some_and(|m| !matches!(m, breaker::Mode::Open | breaker::Mode::ForcedOpen)))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((topic, partition), from) in ready {
            let half_open = mode_of(&topic) == Some(breaker::Mode::HalfOpen);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&topic, partition);
            if let Err(e) = self.consumer.resume(&tpl) {
                warn!(topic = %topic, partition, error = %e, "resume");
                continue;
            }
            if half_open {
                // Probe records are read, judged and forgotten: nothing is written or
                // committed until the probe closes the breaker.
                peeking.start(&topic, partition, from);
                info!(topic = %topic, partition, from, "breaker half-open: peeking for the probe without committing");
            } else {
                info!(topic = %topic, partition, "breaker no longer open: partition resumed");
            }
            m::paused(&topic, false);
            paused.remove(&(topic, partition));
        }
        self.publish_paused(paused);
    }

    /// Sends a partition back to `offset` and lets it flow.
    fn rewind(&self, topic: &str, partition: i32, offset: i64) {
        if let Err(e) = self.consumer.seek(topic, partition, Offset::Offset(offset), Duration::from_secs(5)) {
            warn!(topic, partition, offset, error = %e, "rewind after the probe");
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        if let Err(e) = self.consumer.resume(&tpl) {
            warn!(topic, partition, error = %e, "resume after the probe");
        }
    }

    pub(crate) fn route(&self, b: &BindingRuntime, msg: &rdkafka::message::BorrowedMessage<'_>, decoded: &super::decode::Decoded, operator: Option<PendingAction>, peek: bool) -> Routed {
        let arrival = now_ms();
        b.last_arrival_ms.store(arrival, Relaxed);
        if operator == Some(PendingAction::Skip) {
            b.counters.routed("skipped");
            return Routed::Emits(0);
        }
        let released = operator == Some(PendingAction::Quarantine);
        let payload = msg.payload().unwrap_or_default();
        let key = msg.key();
        // The contract is read once per record, with the observer it feeds (a hot reload swaps
        // both together); headers name the version that judged the record.
        let (contract, valid, verdict_rules, reason, record, generation) = {
            let mut stats = b.stats();
            let contract = Arc::clone(&stats.contract);
            let generation = stats.generation;
            let (valid, ids, reason, record) = match decoded {
                Ok(v) => {
                    let verdict = contract.check(v, &mut stats.obs);
                    // Most records violate nothing: their "[]" costs no allocation.
                    let ids: Cow<'static, str> = if verdict.violations.is_empty() { Cow::Borrowed("[]") } else { serde_json::to_string(&verdict.rule_ids()).unwrap_or_else(|_| "[]".into()).into() };
                    let reason = verdict.violations.iter().find(|x| x.blocking).map(|x| format!("{}: {} is {}, expected {}", x.rule, if x.field.is_empty() { "record" } else { &x.field }, x.value, x.expected));
                    for v in &verdict.violations {
                        self.violations.offer(&b.cfg.name, &contract, v, msg.topic(), msg.partition(), msg.offset());
                    }
                    (verdict.is_valid(), ids, reason, Some(v))
                }
                Err(rejected) => {
                    if let Some(v) = rejected.account(&contract, &mut stats.obs) {
                        self.violations.offer(&b.cfg.name, &contract, &v, msg.topic(), msg.partition(), msg.offset());
                    }
                    (false, Cow::Owned(rejected.rule_ids().to_string()), Some(rejected.reason()), None)
                }
            };
            (contract, valid, ids, reason, record, generation)
        };
        // A released record takes no probe budget: it is quarantined whatever its verdict.
        let route = if valid && !released { b.router.route() } else { breaker::Route::Pass };
        let keyed = key.is_some_and(|k| !k.is_empty());
        let fallback = b.cfg.fallback;
        let snapshot = keyed && matches!(route, breaker::Route::Divert) && b.has_snapshot(key.unwrap_or_default());
        let p = plan(valid && !released, route, fallback, keyed, snapshot);
        let reason = if released { operator.map(|a| a.reason().to_string()) } else { reason };
        // A probe record is also checked into the probe window; strict mode then waits for the
        // generation that holds that observation.
        let generation = if p.probe {
            let mut stats = b.stats();
            if let Some(v) = &record {
                let current = Arc::clone(&stats.contract);
                let _ = current.check(v, &mut stats.probe);
            }
            stats.generation
        } else {
            generation
        };
        if peek {
            b.counters.routed("peeked");
            return Routed::Peeked { spent: valid && matches!(route, breaker::Route::Divert) };
        }
        if p.pause {
            b.counters.routed("paused");
            return Routed::Pause;
        }
        let rec = RecordRef { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), timestamp: msg.timestamp().to_millis(), key, payload, headers: msg.headers() };
        if b.cfg.strict && valid && !released && matches!(route, breaker::Route::Pass | breaker::Route::Probe) {
            return Routed::Held(Box::new(HeldRecord::new(generation, &rec, contract, verdict_rules.into_owned())));
        }
        let verdict_override = (released && valid).then_some(VerdictTag::Valid);
        Routed::Emits(self.emit(b, &p, &rec, &contract, &verdict_rules, reason.as_deref(), verdict_override))
    }

    /// Releases a record held by strict mode once its window was judged: to validated if the
    /// breaker still lets data through, else to the binding's fallback. Returns the number of
    /// outputs sent, each of which reports its delivery.
    pub(crate) fn release_held(&self, b: &BindingRuntime, h: &HeldRecord) -> u32 {
        let rec = h.as_ref();
        let keyed = rec.key.is_some_and(|k| !k.is_empty());
        let diverting = matches!(b.router.mode(), breaker::Mode::Open | breaker::Mode::ForcedOpen | breaker::Mode::HalfOpen);
        let route = if diverting { breaker::Route::Divert } else { breaker::Route::Pass };
        let snapshot = keyed && diverting && b.has_snapshot(rec.key.unwrap_or_default());
        let p = plan(true, route, b.cfg.fallback, keyed, snapshot);
        self.emit(b, &p, &rec, &h.contract, &h.verdict_rules, None, None)
    }

    /// Produces the outputs of a routing plan.
    #[allow(clippy::too_many_arguments)]
    fn emit(&self, b: &BindingRuntime, p: &super::plan::Plan, rec: &RecordRef<'_>, contract: &contracts::CompiledContract, verdict_rules: &str, reason: Option<&str>, verdict_override: Option<VerdictTag>) -> u32 {
        let mode = b.router.mode().as_str();
        let (key, payload) = (rec.key, rec.payload);
        let source = SourceCoords { topic: rec.topic, partition: rec.partition, offset: rec.offset, timestamp: rec.timestamp };
        let batch = self.batch.load(Relaxed);
        let mut sent = 0;
        for e in &p.emits {
            if e.output == Output::LastGood {
                // The compacted index is written by the last-good writer, once per changed key
                // per pass: it is an index, not data, and one write per valid record halved
                // the gate's throughput (BENCHMARKS.md).
                if let Some(k) = key {
                    b.stage(k, payload, rec.partition, rec.offset, source.timestamp);
                }
                b.counters.routed(Output::LastGood.as_str());
                continue;
            }
            let topic = match e.output {
                Output::Validated => &b.topics.validated,
                Output::Quarantine => &b.topics.quarantine,
                Output::Degraded => &b.topics.degraded,
                Output::Held => &b.topics.held,
                Output::LastGood => &b.topics.last_good,
            };
            let snap = (e.payload == Payload::Snapshot).then(|| key.and_then(|k| b.snapshot(k))).flatten();
            let (body, src) = match &snap {
                Some(s) => (s.payload.as_slice(), SourceCoords { topic: rec.topic, partition: s.partition, offset: s.offset, timestamp: s.timestamp }),
                None => (payload, source),
            };
            let hv = HeaderValues {
                contract: &contract.id,
                version: &contract.version,
                // A released record keeps its own verdict: it may well have been valid.
                verdict: verdict_override.unwrap_or(e.verdict),
                breaker_state: mode,
                violations: if e.verdict == VerdictTag::Stale { "[]" } else { verdict_rules },
                source: src,
                reason: if e.output == Output::Quarantine { reason } else { None },
            };
            // A stale snapshot is another record: the incoming record's headers are not its.
            let inherited = if snap.is_some() { None } else { headers::inherited(rec.headers) };
            let opaque = Box::new(Sent { topic: Arc::clone(&b.source), partition: rec.partition, offset: rec.offset, output: e.output, batch });
            let mut out = BaseRecord::with_opaque_to(topic, opaque).payload(body).headers(headers::build(&hv, inherited));
            if let Some(k) = key {
                out = out.key(k);
            }
            if let Some(ts) = source.timestamp {
                out = out.timestamp(ts);
            }
            if self.partitions.get(topic).is_some_and(|n| rec.partition < *n) {
                out = out.partition(rec.partition);
            }
            b.counters.routed(if e.verdict == VerdictTag::Stale { "stale" } else { e.output.as_str() });
            // A send refused at once (queue full, message too large) reports through the same
            // queue as a failed delivery: one path decides what a failure means.
            if let Err((err, rejected)) = self.producer.send(out) {
                self.acks.push(*rejected.delivery_opaque, Err(err.to_string()));
            }
            sent += 1;
        }
        sent
    }
}

/// What happened to one consumed record.
pub(crate) enum Routed {
    /// This many outputs were sent; each reports its delivery through the ack queue.
    Emits(u32),
    /// The partition must pause at this record.
    Pause,
    /// Strict mode: held until the flush that counts it has been judged.
    Held(Box<HeldRecord>),
    /// Half-open under pause: read for the probe only; `spent` when the grant ran out.
    Peeked {
        /// The probe budget is used up: pause until the probe is judged.
        spent: bool,
    },
}

/// The next judged generation, or never when no binding is strict.
async fn next_judged(rx: &mut Option<JudgedRx>) -> Option<(String, u64)> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
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
