//! The path of one record, written once for every delivery mode: decode, check, plan the
//! route, produce the outputs with headers ([`Pipeline::handle`]); and a record deferred by
//! strict mode, released once its window is judged ([`Pipeline::release_deferred`]). The loop
//! around it is `record_loop`; what happens after a send is the delivery's (`delivery`).

use super::acks::{AckQueue, OutputProducer, Sent};
use super::binding::BindingRuntime;
use super::flow::Admit;
use super::headers::{self, HeaderValues, SourceCoords};
use super::key::KeyVerdict;
use super::telemetry::RouteLabel;
use super::pending::PendingAction;
use super::plan::{plan, Payload, RoutePlan, VerdictTag};
use super::rebalance::GateContext;
use super::record::RecordRef;
use super::strict::{DeferredRecord, Until};
use crate::config::StaleRecords;
use crate::output::Output;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::BaseRecord;
use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;


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
    /// The bindings by source topic, with their output topics' partition counts and limits
    /// (it grows when a pattern binding picks up a topic).
    pub topology: super::topology::BindingSet,
    /// Payload decoding per binding format (JSON; Avro with its writer-schema cache).
    pub decoder: super::decode::Decoder,
    /// Violation events.
    pub violations: super::events::ViolationSink,
    /// Strict bindings: the flushers' reports that a window generation was judged.
    pub judged: Option<super::strict::JudgedRx>,
    /// Which record loop this is (`0..workers`): the shard of each binding's window state it
    /// checks into, and its slot for paused partitions and operator requests.
    pub worker: usize,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("bindings", &self.topology.sources()).finish_non_exhaustive()
    }
}

/// Wall-clock milliseconds, read per record: straight from the system clock (chrono's `now`
/// also builds a calendar date, a tenth of a microsecond per record that nothing here reads).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Drop for Pipeline {
    /// The record loop is over: a revoke from here on (the consumer's close) is carried out
    /// by the callback, since no loop is left to hand the partitions over; one the loop did
    /// not finish (it stopped on an error) is carried out now, or the group would wait for it.
    fn drop(&mut self) {
        use rdkafka::consumer::Consumer;
        let ctx = self.consumer.context();
        ctx.closing();
        let left = ctx.take_revoking();
        if !left.is_empty() {
            if let Err(e) = self.consumer.incremental_unassign(&super::rebalance::list(&left)) {
                tracing::warn!(partitions = ?left, error = %e, "unassigning partitions not handed over");
            }
        }
    }
}

impl Pipeline {
    /// Judges one consumed record of binding `b` and sends its outputs. A record under an
    /// operator's release takes the operator's action; a peeked one feeds the probe only.
    /// An Avro record whose schema id is not cached waits here for the fetch (bounded by the
    /// registry timeout), so per-partition order holds. `behind_probe`: probe records of its
    /// partition wait for their verdict ahead of it.
    pub(crate) async fn handle(&self, b: &BindingRuntime, msg: &BorrowedMessage<'_>, admit: Admit, behind_probe: bool) -> Routed {
        let decoded = self.decoder.decode(b, msg.payload().unwrap_or_default()).await;
        let key_verdict = self.judge_key(b, msg.key()).await;
        let (operator, peek) = match admit {
            Admit::Operator(a) => (Some(a), false),
            Admit::Peek => (None, true),
            Admit::Route | Admit::Ignore => (None, false),
        };
        let routed = self.route(b, msg, &decoded, &key_verdict, operator, peek, behind_probe);
        self.decoder.recycle(decoded);
        routed
    }

    /// The record key's verdict under the binding's `key` rules (none without them): the
    /// byte-level checks, then a structured key decoded and checked by the key object.
    async fn judge_key(&self, b: &BindingRuntime, key: Option<&[u8]>) -> KeyVerdict {
        let Some(rules) = b.key_rules() else { return KeyVerdict::default() };
        match super::key::precheck(rules, key) {
            super::key::Step::Done(v) => v,
            super::key::Step::Decode(bytes) => {
                // Startup compiles the key object of every structured key: it is always there.
                let Some(object) = b.key_object() else { return KeyVerdict::default() };
                let decoded = self.decoder.decode_key(b, &object, bytes).await;
                super::key::structured(&object, decoded.as_ref().map_err(Into::into))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn route(&self, b: &BindingRuntime, msg: &BorrowedMessage<'_>, decoded: &super::decode::Decoded, key_verdict: &KeyVerdict, operator: Option<PendingAction>, peek: bool, behind_probe: bool) -> Routed {
        // The gate's own heartbeat takes a path of its own: it proves the path, it is not data
        // (not even a sign of upstream life). An operator's release of a backlog takes it too.
        // Read once per record: librdkafka keeps parsed headers, but a record without any is
        // looked at again (a buffer set up and freed) at every call.
        let source_headers = msg.headers();
        if let (None, Some(id)) = (operator, headers::canary_id(source_headers)) {
            return self.route_canary(b, msg, decoded, id, peek);
        }
        let arrival = now_ms();
        b.last_arrival_ms.store(arrival, Relaxed);
        if operator == Some(PendingAction::Skip) {
            b.counters.routed(RouteLabel::Skipped);
            return Routed::Sent(0);
        }
        let released = operator == Some(PendingAction::Quarantine);
        let payload = msg.payload().unwrap_or_default();
        let key = msg.key();
        // Every record that arrives while half-open takes a probe slot, an invalid one too: the
        // probe judges the data as it comes, so a record-level fault fails it
        // (`$.recordFailures`, `$.decodeErrors`) instead of starving it until the probe timeout.
        // A released record takes none: it is quarantined whatever its verdict.
        let route = if released { breaker::Route::Pass } else { b.router.route() };
        // The record may wait for the verdict, unjudged (it is judged once, when it is read
        // again): see `waits`.
        if waits(route, b.router.probing(), b.cfg.fallback, peek, behind_probe) {
            return Routed::Wait;
        }
        // The contract is read once per record, with the observer it feeds (a hot reload swaps
        // both together); headers name the version that judged the record.
        let (contract, valid, verdict_rules, reason, record, generation, stale) = {
            let mut stats = b.stats(self.worker);
            let contract = Arc::clone(&stats.contract);
            let generation = stats.generation;
            let (valid, ids, reason, record, stale) = match decoded {
                Ok(v) => {
                    // Staleness is the record's age when it arrived here.
                    stats.obs.set_clock(arrival);
                    // Key violations lead the verdict: they fail the record like its own.
                    let verdict = contract.check_with(v, key_verdict.violations.clone(), &mut stats.obs);
                    let stale = verdict.stale.then(|| stale_reason(&contract, &verdict)).flatten();
                    // Most records violate nothing: their "[]" costs no allocation.
                    let ids: Cow<'static, str> = if verdict.violations.is_empty() { Cow::Borrowed("[]") } else { serde_json::to_string(&verdict.rule_ids()).unwrap_or_else(|_| "[]".into()).into() };
                    let reason = verdict.violations.iter().find(|x| x.blocking).map(reason_of);
                    for v in &verdict.violations {
                        self.violations.offer(&b.cfg.name, &contract, v, msg.topic(), msg.partition(), msg.offset());
                    }
                    (verdict.is_valid(), ids, reason, Some(v), stale)
                }
                Err(rejected) => {
                    if let Some(v) = rejected.account(&contract, &mut stats.obs) {
                        self.violations.offer(&b.cfg.name, &contract, &v, msg.topic(), msg.partition(), msg.offset());
                    }
                    for v in &key_verdict.violations {
                        self.violations.offer(&b.cfg.name, &contract, v, msg.topic(), msg.partition(), msg.offset());
                    }
                    let ids = if key_verdict.violations.is_empty() {
                        Cow::Borrowed(rejected.rule_ids())
                    } else {
                        let all: Vec<&str> = std::iter::once(rejected.rule()).chain(key_verdict.violations.iter().map(|x| &*x.rule)).collect();
                        Cow::Owned(serde_json::to_string(&all).unwrap_or_else(|_| "[]".into()))
                    };
                    (false, ids, Some(rejected.reason()), None, None)
                }
            };
            if stats.obs.window.records == b.flush_after {
                // Once per generation and shard: the flush takes every shard's records.
                b.flush_soon.notify_one();
            }
            (contract, valid, ids, reason, record, generation, stale)
        };
        let checked_valid = valid;
        // A stale record (older than the latency SLA on arrival) may be routed on its own, so a
        // stale burst leaks nothing even before the window trips.
        let (valid, reason, divert_stale) = match (stale, b.cfg.stale_records) {
            (Some(why), StaleRecords::Quarantine) if valid && !released => (false, Some(why), false),
            (Some(_), StaleRecords::Divert) if valid && !released => (true, reason, true),
            _ => (valid, reason, false),
        };
        let keyed = key.is_some_and(|k| !k.is_empty());
        let fallback = b.cfg.fallback;
        // The breaker's route for this record: a diverted stale record takes the open route.
        let sent_route = if divert_stale { breaker::Route::Divert } else { route };
        // Last-good knows a structured key by its decoded form, so the same logical key under
        // another key schema id finds its snapshot; outputs keep the key bytes as produced.
        let index_key = key_verdict.index.as_deref().or(key);
        let snapshot = valid && keyed && matches!(sent_route, breaker::Route::Divert) && b.has_snapshot(index_key.unwrap_or_default());
        let p = plan(valid && !released, sent_route, fallback, keyed, snapshot);
        let reason = if released { operator.map(|a| a.reason().to_string()) } else { reason };
        // A probe record is also checked into the probe window; strict mode then waits for the
        // generation that holds that observation.
        let generation = if route == breaker::Route::Probe {
            let mut stats = b.stats(self.worker);
            let current = Arc::clone(&stats.contract);
            match (&record, decoded) {
                (Some(v), _) => {
                    stats.probe.set_clock(arrival);
                    let _ = current.check_with(v, key_verdict.violations.clone(), &mut stats.probe);
                }
                (None, Err(rejected)) => {
                    let _ = rejected.account(&current, &mut stats.probe);
                }
                (None, Ok(_)) => {}
            }
            stats.generation
        } else {
            generation
        };
        if peek {
            b.counters.routed(RouteLabel::Peeked);
            return Routed::Peeked { spent: valid && matches!(route, breaker::Route::Divert) };
        }
        if p.pause {
            b.counters.routed(RouteLabel::Paused);
            return Routed::Pause;
        }
        // A shadow version sees every record the gate judged here once (a peeked or paused
        // record is read again and judged then). Costs one load while there is none.
        b.shadow.offer(|| super::shadow::ShadowRecord { arrival_ms: arrival, key: key.map(<[u8]>::to_vec), decoded: decoded.clone(), active_valid: checked_valid });
        // The binding's source is the record's topic (no C string read again).
        let rec = RecordRef { topic: &b.source, partition: msg.partition(), offset: msg.offset(), timestamp: msg.timestamp().to_millis(), key, index_key, payload, headers: source_headers };
        if b.cfg.strict && valid && !released && matches!(sent_route, breaker::Route::Pass | breaker::Route::Probe) {
            let probe = matches!(sent_route, breaker::Route::Probe);
            return Routed::Deferred(Box::new(DeferredRecord::new(Until::Judged(generation), &rec, contract, verdict_rules.into_owned()).probe(probe)));
        }
        // A half-open probe record is judged before it flows: it waits for the probe's verdict,
        // then goes to validated if the breaker closed, to the open route if it opened again.
        // (Under `pause` a half-open partition peeks instead and writes nothing.)
        if p.probe && b.cfg.fallback != crate::config::Fallback::Pause {
            return Routed::Deferred(Box::new(DeferredRecord::new(Until::ProbeVerdict, &rec, contract, verdict_rules.into_owned()).probe(true)));
        }
        let tag = Tag { verdict: (released && valid).then_some(VerdictTag::Valid), probe_passed: false, canary: false };
        Routed::Sent(self.emit(b, &p, &rec, &contract, &verdict_rules, reason.as_deref(), tag))
    }

    /// Releases a deferred record once what it waited for is known (its window judged, or its
    /// probe's verdict): to validated if the breaker lets data through, else to the binding's
    /// fallback (also when `divert`: its flush's own records breached). Returns the number of
    /// outputs sent, each of which reports its delivery.
    pub(crate) fn release_deferred(&self, b: &BindingRuntime, h: &DeferredRecord, divert: bool) -> u32 {
        let rec = h.as_ref();
        let keyed = rec.key.is_some_and(|k| !k.is_empty());
        let diverting = divert || matches!(b.router.mode(), breaker::Mode::Open | breaker::Mode::ForcedOpen | breaker::Mode::HalfOpen);
        let route = if diverting { breaker::Route::Divert } else { breaker::Route::Pass };
        let snapshot = keyed && diverting && b.has_snapshot(rec.index_key.unwrap_or_default());
        let p = plan(true, route, b.cfg.fallback, keyed, snapshot);
        let tag = Tag { verdict: None, probe_passed: h.probe && !diverting, canary: false };
        self.emit(b, &p, &rec, &h.contract, &h.verdict_rules, None, tag)
    }

    /// Produces the outputs of a routing plan.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(&self, b: &BindingRuntime, p: &RoutePlan, rec: &RecordRef<'_>, contract: &contracts::CompiledContract, verdict_rules: &str, reason: Option<&str>, tag: Tag) -> u32 {
        let mode = b.router.mode().as_str();
        let (key, payload) = (rec.key, rec.payload);
        let source = SourceCoords { topic: rec.topic, partition: rec.partition, offset: rec.offset, timestamp: rec.timestamp };
        let batch = self.batch.load(Relaxed);
        // A record one of its outputs could not take goes to quarantine as a stub instead, so
        // it is written once, whole or as its stub, and never refused after the send.
        let size = super::fit::output_size(key, payload, rec.headers);
        let over = p.emits.iter().filter(|e| e.output != Output::LastGood).map(|e| b.topics.get(e.output)).find_map(|t| self.topology.load().limits.get(t).copied().filter(|l| size > *l).map(|l| (t, l)));
        if let Some((topic, limit)) = over {
            let error = format!("the record takes {size} bytes with its headers, over the {limit} bytes {topic} takes");
            return self.send_stub(b, source, key, payload, &error, contract);
        }
        let mut sent = 0;
        for e in &p.emits {
            if e.output == Output::LastGood {
                // The compacted index is written by the last-good writer, once per changed key
                // per pass: it is an index, not data, and one write per valid record halved
                // the gate's throughput (BENCHMARKS.md).
                if let Some(k) = rec.index_key {
                    b.stage(k, payload, rec.partition, rec.offset, source.timestamp);
                }
                b.counters.routed(RouteLabel::To(Output::LastGood));
                continue;
            }
            let topic = b.topics.get(e.output);
            let snap = (e.payload == Payload::Snapshot).then(|| rec.index_key.and_then(|k| b.snapshot(k))).flatten();
            let (body, src) = match &snap {
                Some(s) => (s.payload.as_slice(), SourceCoords { topic: rec.topic, partition: s.partition, offset: s.offset, timestamp: s.timestamp }),
                None => (payload, source),
            };
            let hv = HeaderValues {
                contract: &contract.id,
                version: &contract.version,
                // A released record keeps its own verdict: it may well have been valid.
                verdict: tag.verdict.unwrap_or(e.verdict),
                breaker_state: mode,
                violations: if e.verdict == VerdictTag::Stale { "[]" } else { verdict_rules },
                source: src,
                reason: if e.output == Output::Quarantine { reason } else { None },
                probe_passed: tag.probe_passed && e.output == Output::Validated,
                canary: if tag.canary { headers::canary_id(rec.headers) } else { None },
                lean: b.cfg.headers == crate::config::HeaderProfile::Lean && e.output == Output::Validated,
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
            if let Some(p) = self.topology.load().output_partition(topic, rec.partition) {
                out = out.partition(p);
            }
            b.counters.routed(if e.verdict == VerdictTag::Stale { RouteLabel::Stale } else { RouteLabel::To(e.output) });
            // A send refused at once (queue full, message too large) reports through the same
            // queue as a failed delivery: one path decides what a failure means.
            if let Err((err, rejected)) = self.producer.send(out) {
                self.refused_at_once(err, rejected);
            }
            sent += 1;
        }
        sent
    }
}

/// Whether a record routed `route` waits (its partition paused at it until the resume tick)
/// instead of being judged and sent now.
fn waits(route: breaker::Route, probing: bool, fallback: crate::config::Fallback, peek: bool, behind_probe: bool) -> bool {
    use breaker::Route;
    match route {
        // Under `pause` a half-open partition peeks instead; a probe record is deferred
        // behind its partition's earlier probe records, in order.
        _ if peek => false,
        Route::Probe => false,
        // Past this replica's probe grant: the verdict (or the next flush's grant) decides.
        Route::Divert if probing && fallback != crate::config::Fallback::Pause => true,
        // The verdict came in after the loop last released probe records, and some of this
        // partition's still wait: sent now, the record would reach validated (or the
        // fallback) ahead of them, out of source order, and a hand-over before their release
        // would have the new owner write it again from their uncommitted offsets. It waits
        // for the tick that releases them.
        Route::Pass | Route::Divert => behind_probe,
    }
}

/// A violation as a quarantine reason (`contract-gate-reason`).
fn reason_of(x: &contracts::Violation) -> String {
    format!("{}: {}", x.rule, x.sentence())
}

/// The reason a stale record is quarantined with: its staleness violation.
fn stale_reason(contract: &contracts::CompiledContract, verdict: &contracts::Verdict) -> Option<String> {
    verdict.violations.iter().find(|x| contract.rules.iter().any(|r| r.metric == contracts::MetricKind::StaleRecords && *r.id == *x.rule)).map(reason_of)
}

/// What happened to one consumed record.
pub(crate) enum Routed {
    /// This many outputs were sent; each reports its delivery through the ack queue.
    Sent(u32),
    /// The partition must pause at this record.
    Pause,
    /// Deferred until what it waits for is known: strict mode's judgement of its flush, or a
    /// half-open probe's verdict.
    Deferred(Box<DeferredRecord>),
    /// Half-open past this replica's probe grant: the partition waits here for the verdict.
    Wait,
    /// Half-open under pause: read for the probe only; `spent` when the grant ran out.
    Peeked {
        /// The probe budget is used up: pause until the probe is judged.
        spent: bool,
    },
}

/// How an emitted record's headers differ from what its plan says.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tag {
    /// The verdict to write instead of the plan's (a released record keeps its own).
    pub(super) verdict: Option<VerdictTag>,
    /// It reached validated through a passed probe (`contract-gate-probe: passed`).
    pub(super) probe_passed: bool,
    /// It is a canary: its outputs carry its id (`contract-gate-canary`).
    pub(super) canary: bool,
}

#[cfg(test)]
mod tests {
    use super::waits;
    use crate::config::Fallback::{self, Hold, Pause};
    use breaker::Route::{self, Divert, Pass, Probe};

    #[test]
    fn a_record_waits_past_the_grant_or_behind_probe_records_of_its_partition() {
        // (route, probing, fallback, peek, behind a probe record) -> waits
        let cases: [(Route, bool, Fallback, bool, bool, bool); 12] = [
            (Pass, false, Hold, false, false, false),
            (Probe, true, Hold, false, false, false),
            (Probe, true, Hold, false, true, false),
            (Divert, true, Hold, false, false, true),
            (Divert, true, Pause, false, false, false),
            (Divert, true, Pause, true, false, false),
            (Divert, false, Hold, false, false, false),
            // The verdict came in between the release and this record: it waits for them.
            (Pass, false, Hold, false, true, true),
            (Divert, false, Hold, false, true, true),
            (Divert, true, Hold, false, true, true),
            (Pass, false, Pause, true, true, false),
            (Pass, false, Pause, false, true, true),
        ];
        for (route, probing, fallback, peek, behind, want) in cases {
            assert_eq!(waits(route, probing, fallback, peek, behind), want, "{route:?}, probing {probing}, {fallback:?}, peek {peek}, behind {behind}");
        }
    }
}
