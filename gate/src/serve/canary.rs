//! Canary records (`bindings[].canary`): every `interval` the gate writes one record of its own
//! to the binding's source topic, marked with `contract-gate-canary: <replica>/<seq>/<sent ms>`
//! (the partitions take turns), and reads its validated topic for it. The record loop judges
//! a canary like any record but routes it on a path of its own ([`Pipeline::route_canary`]):
//! not counted in the breaker's window (it is not data), not a sign of upstream life for the
//! "no data" watchdog, not a last-good snapshot, and written to validated whatever the
//! breaker's state, with the canary header, which consumers skip. Its trip from the source
//! topic to the validated topic is `contract_gate_canary_latency_seconds`; one that has not
//! arrived within `deadline` is missed: a `canary_missed` event on the breaker topic and
//! `contract_gate_canary_records_total{outcome="missed"}`. A quiet producer stops nothing
//! here, so a missed canary means the gate or its validated output is stuck, and silence
//! with canaries arriving means the producer is quiet.
//!
//! Each replica follows its own canaries (the id names the replica), so any replica's loop
//! may carry them. The reader of the validated topic is a consumer of that topic: its cost
//! grows with the validated rate (see the design notes).

use super::binding::BindingRuntime;
use super::decode::Decoded;
use super::events::TransitionSink;
use super::headers;
use super::pipeline::{Pipeline, Routed, Tag};
use super::plan::{Payload, PlannedOutput, RoutePlan, VerdictTag};
use super::record::RecordRef;
use super::telemetry::canary::{CanaryEvent, CanaryOutcome};
use super::telemetry::Emit;
use crate::output::Output;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

impl Pipeline {
    /// Routes a canary record: judged by the binding's contract in a window of its own, then
    /// to validated (valid) or quarantine (invalid), with its id on the output.
    pub(super) fn route_canary(&self, b: &BindingRuntime, msg: &BorrowedMessage<'_>, decoded: &Decoded, id: &str, peek: bool) -> Routed {
        if peek {
            // Half-open under pause reads records for the probe only; a canary feeds no probe
            // and is read again when the partition flows.
            return Routed::Peeked { spent: false };
        }
        let contract = b.contract();
        let mut own = contract.observer();
        let (valid, rules, reason) = match decoded {
            Ok(v) => {
                let verdict = contract.check(v, &mut own);
                let rules = serde_json::to_string(&verdict.rule_ids()).unwrap_or_else(|_| "[]".into());
                (verdict.is_valid(), rules, verdict.violations.iter().find(|x| x.blocking).map(|x| format!("{}: {}", x.rule, x.expected)))
            }
            Err(r) => (false, r.rule_ids().to_string(), Some(r.reason())),
        };
        if !valid {
            CanaryEvent { binding: &b.cfg.name, id, outcome: CanaryOutcome::Invalid, latency_ms: None, detail: reason.as_deref() }.emit();
        }
        let (output, verdict) = if valid { (Output::Validated, VerdictTag::Valid) } else { (Output::Quarantine, VerdictTag::Invalid) };
        let plan = RoutePlan { emits: vec![PlannedOutput { output, verdict, payload: Payload::Incoming }], ..RoutePlan::default() };
        let rec = RecordRef { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), timestamp: msg.timestamp().to_millis(), key: msg.key(), index_key: msg.key(), payload: msg.payload().unwrap_or_default(), headers: msg.headers() };
        Routed::Sent(self.emit(b, &plan, &rec, &contract, &rules, reason.as_deref(), Tag { canary: true, ..Tag::default() }))
    }
}

/// A canary's id: `<replica>/<seq>/<sent ms>`.
#[must_use]
pub fn canary_id(replica: &str, seq: u64, sent_ms: i64) -> String {
    format!("{replica}/{seq}/{sent_ms}")
}

/// The replica, sequence number and send time of a canary id; `None` for anything else.
#[must_use]
pub fn parse_id(id: &str) -> Option<(&str, u64, i64)> {
    let mut parts = id.rsplitn(3, '/');
    let sent = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let replica = parts.next().filter(|r| !r.is_empty())?;
    Some((replica, seq, sent))
}

/// What a replica knows of its canaries in flight. Pure: times are passed in.
#[derive(Debug, Default)]
pub struct Ledger {
    /// By sequence number: sent at (ms), and whether it was reported missed.
    pending: BTreeMap<u64, (i64, bool)>,
}

impl Ledger {
    /// A canary was written.
    pub fn sent(&mut self, seq: u64, at_ms: i64) {
        self.pending.insert(seq, (at_ms, false));
    }

    /// A canary of this replica was read on the validated topic at `now_ms`: delivered or late
    /// (it was reported missed), with its latency; `None` for one already seen or unknown.
    pub fn seen(&mut self, seq: u64, now_ms: i64) -> Option<(CanaryOutcome, i64)> {
        let (sent, missed) = self.pending.remove(&seq)?;
        Some((if missed { CanaryOutcome::Late } else { CanaryOutcome::Delivered }, now_ms - sent))
    }

    /// The canaries that passed their deadline by `now_ms` and were not reported yet; they
    /// are marked reported (a late arrival still counts as late). Canaries reported missed
    /// ten deadlines ago are forgotten, so a dead path does not grow the ledger.
    pub fn overdue(&mut self, now_ms: i64, deadline_ms: i64) -> Vec<(u64, i64)> {
        let mut out = Vec::new();
        for (seq, (sent, missed)) in &mut self.pending {
            if !*missed && now_ms - *sent > deadline_ms {
                *missed = true;
                out.push((*seq, *sent));
            }
        }
        self.pending.retain(|_, (sent, missed)| !*missed || now_ms - *sent <= deadline_ms.saturating_mul(10));
        out
    }

    /// Canaries in flight.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is in flight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Partition count of `topic` (blocking call, off the runtime); `None` while the cluster does
/// not describe it (a topic created just before may still report no leader).
async fn partitions(client: ClientConfig, topic: String, timeout: Duration) -> Option<i32> {
    tokio::task::spawn_blocking(move || {
        let c: rdkafka::consumer::BaseConsumer = client.create().ok()?;
        let md = c.fetch_metadata(Some(&topic), timeout).ok()?;
        let t = md.topics().first().filter(|t| t.error().is_none())?;
        let n = t.partitions().len();
        i32::try_from(n).ok().filter(|n| *n > 0)
    })
    .await
    .ok()
    .flatten()
}

/// What the canary task of one binding needs.
pub struct CanaryTask {
    /// The binding.
    pub binding: Arc<BindingRuntime>,
    /// Client settings (security included) for the reader of the validated topic.
    pub client: ClientConfig,
    /// Writes the canaries (the events producer: outside any transaction).
    pub producer: FutureProducer,
    /// Publishes `canary_missed` events.
    pub events: TransitionSink,
    /// This replica's id.
    pub replica: String,
}

impl std::fmt::Debug for CanaryTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanaryTask").field("binding", &self.binding.cfg.name).field("replica", &self.replica).finish_non_exhaustive()
    }
}

/// Writes canaries and follows them until shutdown.
pub async fn run(task: CanaryTask, mut shutdown: watch::Receiver<bool>) {
    let CanaryTask { binding: b, client, producer, events, replica } = task;
    let Some(cfg) = b.cfg.canary.clone() else { return };
    let name = b.cfg.name.clone();
    let body = match cfg.payload(&format!("bindings[{name}].canary")) {
        Ok(p) => p,
        Err(e) => {
            warn!(binding = %name, error = %e, "canary not started");
            return;
        }
    };
    let validated = b.topics.get(Output::Validated).to_string();
    let mut source_parts = partitions(client.clone(), b.cfg.source.clone(), Duration::from_secs(10)).await;
    // The reader starts at the end of the validated topic: only canaries sent from now on.
    let reader: Option<StreamConsumer> = async {
        let n = partitions(client.clone(), validated.clone(), Duration::from_secs(10)).await?;
        let mut c = client.clone();
        c.set("group.id", format!("contract-gate-canary-{replica}")).set("enable.auto.commit", "false").set("isolation.level", "read_committed");
        let reader: StreamConsumer = c.create().ok()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..n {
            tpl.add_partition_offset(&validated, p, Offset::End).ok()?;
        }
        reader.assign(&tpl).ok()?;
        Some(reader)
    }
    .await;
    let Some(reader) = reader else {
        warn!(binding = %name, topic = %validated, "canary not started: the validated topic cannot be read");
        return;
    };
    let mut ledger = Ledger::default();
    let mut seq: u64 = 0;
    let mut send = tokio::time::interval_at(tokio::time::Instant::now() + cfg.interval, cfg.interval);
    send.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut check = tokio::time::interval(Duration::from_millis(250).min(cfg.deadline / 4).max(Duration::from_millis(10)));
    let deadline_ms = i64::try_from(cfg.deadline.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = send.tick() => {
                if source_parts.is_none() {
                    // Unknown at start: asked again, or every canary would go to the key's
                    // partition and the others' path would never be proven.
                    source_parts = partitions(client.clone(), b.cfg.source.clone(), Duration::from_secs(2)).await;
                }
                seq += 1;
                let sent = now_ms();
                let id = canary_id(&replica, seq, sent);
                let hdrs = OwnedHeaders::new().insert(Header { key: headers::CANARY, value: Some(id.as_str()) });
                let mut rec = FutureRecord::to(&b.cfg.source).key(&cfg.key).payload(&body).headers(hdrs);
                if let Some(n) = source_parts {
                    rec = rec.partition(i32::try_from(seq % u64::try_from(n).unwrap_or(1)).unwrap_or(0));
                }
                match producer.send(rec, Duration::from_secs(10)).await {
                    Ok(_) => {
                        ledger.sent(seq, sent);
                        CanaryEvent { binding: &name, id: &id, outcome: CanaryOutcome::Sent, latency_ms: None, detail: None }.emit();
                    }
                    Err((e, _)) => CanaryEvent { binding: &name, id: &id, outcome: CanaryOutcome::SendFailed, latency_ms: None, detail: Some(&e.to_string()) }.emit(),
                }
            }
            _ = check.tick() => {
                for (s, sent) in ledger.overdue(now_ms(), deadline_ms) {
                    let id = canary_id(&replica, s, sent);
                    let detail = format!("not on {validated} {} s after it was written to {}", cfg.deadline.as_secs_f64(), b.cfg.source);
                    CanaryEvent { binding: &name, id: &id, outcome: CanaryOutcome::Missed, latency_ms: None, detail: Some(&detail) }.emit();
                    events.canary_missed(&b, &id, sent, cfg.deadline).await;
                }
            }
            m = reader.recv() => match m {
                Ok(m) => {
                    let Some(id) = headers::canary_id(m.headers()) else { continue };
                    let Some((r, s, _)) = parse_id(id) else { continue };
                    if r != replica {
                        continue;
                    }
                    if let Some((outcome, latency)) = ledger.seen(s, now_ms()) {
                        CanaryEvent { binding: &name, id, outcome, latency_ms: Some(latency), detail: None }.emit();
                    }
                }
                Err(e) => {
                    warn!(binding = %name, error = %e, "canary reader");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_whatever_the_replica_holds() {
        for replica in ["gate-1", "host/with/slashes", "a"] {
            let id = canary_id(replica, 42, 1_700_000_000_123);
            assert_eq!(parse_id(&id), Some((replica, 42, 1_700_000_000_123)), "{id}");
        }
        for bad in ["", "x", "r/1", "/1/2", "r/x/2", "r/1/y"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn ledger_table() {
        // (step, now, expected) — a step is sent(seq), seen(seq) or overdue.
        enum Step {
            Sent(u64),
            Seen(u64, Option<(CanaryOutcome, i64)>),
            Overdue(Vec<u64>),
        }
        use Step::*;
        let deadline = 1_000;
        let steps = [
            (0, Sent(1)),
            (100, Sent(2)),
            (300, Seen(1, Some((CanaryOutcome::Delivered, 300)))),
            (300, Seen(1, None)),
            (1_050, Overdue(vec![])),
            (1_101, Overdue(vec![2])),
            (1_200, Overdue(vec![])),
            (1_500, Seen(2, Some((CanaryOutcome::Late, 1_400)))),
            (2_000, Sent(3)),
            (3_001, Overdue(vec![3])),
            (11_000, Seen(3, Some((CanaryOutcome::Late, 9_000)))),
            (13_000, Sent(4)),
            (14_001, Overdue(vec![4])),
            (24_002, Overdue(vec![])),
            (24_002, Seen(4, None)),
            (24_002, Seen(99, None)),
        ];
        let mut l = Ledger::default();
        for (i, (now, step)) in steps.into_iter().enumerate() {
            match step {
                Sent(s) => l.sent(s, now),
                Seen(s, want) => assert_eq!(l.seen(s, now), want, "step {i}"),
                Overdue(want) => assert_eq!(l.overdue(now, deadline).into_iter().map(|(s, _)| s).collect::<Vec<_>>(), want, "step {i}"),
            }
        }
        assert!(l.is_empty(), "{l:?}");
    }
}
