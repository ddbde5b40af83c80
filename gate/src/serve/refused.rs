//! Outputs that were not delivered: a record's stub on quarantine in its place, a retry after
//! the cluster was away, and the copy kept of a record the producer refused at once. What a
//! refusal means is decided in [`super::fit`]; this is the sending.

use super::acks::{Refused, Sent};
use super::binding::BindingRuntime;
use super::fit;
use super::headers::{self, HeaderValues, SourceCoords};
use super::pipeline::Pipeline;
use super::plan::VerdictTag;
use super::telemetry::{Emit, RecordStubbed, RouteLabel};
use crate::output::Output;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _};
use rdkafka::producer::BaseRecord;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

impl Pipeline {
    /// Writes the stub of the record at `source` to the binding's quarantine in place of its
    /// outputs (`error` says why they could not be written). Returns the outputs sent: one.
    pub(crate) fn send_stub(&self, b: &BindingRuntime, source: SourceCoords<'_>, key: Option<&[u8]>, payload: &[u8], error: &str, contract: &contracts::CompiledContract) -> u32 {
        let topic = b.topics.get(Output::Quarantine);
        let body = fit::stub_body(source.topic, source.partition, source.offset, key, payload, error);
        let reason = format!("stub: {error}");
        let hv = HeaderValues {
            contract: &contract.id,
            version: &contract.version,
            verdict: VerdictTag::Invalid,
            breaker_state: b.router.mode().as_str(),
            violations: "[]",
            source,
            reason: Some(&reason),
            probe_passed: false,
            canary: None,
            lean: false,
        };
        // The record's own headers stay behind: they may be what made it too large.
        let hdrs = headers::build(&hv, None).insert(Header { key: headers::STUB, value: Some("true") });
        let opaque = Box::new(Sent { topic: Arc::clone(&b.source), partition: source.partition, offset: source.offset, output: Output::Quarantine, batch: self.batch.load(Relaxed) });
        let mut out = BaseRecord::with_opaque_to(topic, opaque).payload(body.as_slice()).headers(hdrs);
        if let Some(k) = fit::stub_key(key) {
            out = out.key(k);
        }
        if let Some(p) = self.topology.load().output_partition(topic, source.partition) {
            out = out.partition(p);
        }
        b.counters.routed(RouteLabel::To(Output::Quarantine));
        RecordStubbed { binding: &b.cfg.name, topic: source.topic, partition: source.partition, offset: source.offset, size: payload.len(), error }.emit();
        if let Err((err, rejected)) = self.producer.send(out) {
            self.refused_at_once(err, rejected);
        }
        1
    }

    /// The stub of an output the broker refused for good; `false` when its binding is gone.
    pub(crate) fn stub_refused(&self, sent: &Sent, r: &Refused, error: &KafkaError) -> bool {
        let Some(b) = self.topology.load().bindings.get(&*sent.topic).cloned() else { return false };
        let source = SourceCoords { topic: &sent.topic, partition: sent.partition, offset: sent.offset, timestamp: None };
        let why = format!("{} refused the record: {error}", r.topic);
        self.send_stub(&b, source, r.key.as_deref(), &r.payload, &why, &b.contract());
        true
    }

    /// Sends an undelivered output again, as it was. A send the producer refuses at once
    /// (its queue still full) gives back what was sent, for the caller to try again later.
    pub(crate) fn resend(&self, sent: Sent, r: &Refused) -> Result<(), (KafkaError, Sent)> {
        let mut out = BaseRecord::with_opaque_to(r.topic.as_str(), Box::new(sent)).payload(r.payload.as_slice());
        if let Some(h) = &r.headers {
            out = out.headers(h.clone());
        }
        if let Some(k) = &r.key {
            out = out.key(k.as_slice());
        }
        self.producer.send(out).map_err(|(err, rejected)| (err, *rejected.delivery_opaque))
    }

    /// A send the producer refused before queueing it (queue full, too large) reports through
    /// the same queue as a failed delivery, with a copy of the record: one path decides what a
    /// failure means.
    pub(crate) fn refused_at_once(&self, err: KafkaError, rejected: BaseRecord<'_, [u8], [u8], Box<Sent>>) {
        let copy = Refused { topic: rejected.topic.to_string(), key: rejected.key.map(<[u8]>::to_vec), payload: rejected.payload.map(<[u8]>::to_vec).unwrap_or_default(), headers: rejected.headers };
        self.acks.push(*rejected.delivery_opaque, Err(err), Some(Box::new(copy)));
    }
}

/// Whether a refused output was itself a stub (a stub that cannot be written stops its
/// partition instead of being stubbed again).
#[must_use]
pub fn is_stub(r: &Refused) -> bool {
    r.headers.as_ref().is_some_and(|h| h.iter().any(|x| x.key == headers::STUB))
}
