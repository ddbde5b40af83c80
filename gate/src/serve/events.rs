//! Event topics: breaker transitions (every one) and violation samples (rate-limited).

use super::binding::lock;
use breaker::Transition;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::warn;

/// Second of the budget and events sent in it.
type Budget = (i64, u32);
/// Budgets by binding and rule.
type Budgets = HashMap<(String, Arc<str>), Budget>;

/// Publishes violation samples, at most `per_second` per binding and rule.
#[derive(Clone)]
pub struct ViolationSink {
    producer: FutureProducer,
    topic: String,
    per_second: u32,
    buckets: Arc<Mutex<Budgets>>,
}

impl std::fmt::Debug for ViolationSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViolationSink").field("topic", &self.topic).field("per_second", &self.per_second).finish_non_exhaustive()
    }
}

impl ViolationSink {
    /// A sink producing to `topic`.
    #[must_use]
    pub fn new(producer: FutureProducer, topic: String, per_second: u32) -> Self {
        Self { producer, topic, per_second, buckets: Arc::default() }
    }

    /// Publishes the violation unless this rule already used its budget this second. Every
    /// violation is counted in the metrics either way.
    pub fn offer(&self, binding: &str, contract: &contracts::CompiledContract, v: &contracts::Violation, topic: &str, partition: i32, offset: i64) {
        super::telemetry::Emit::emit(super::telemetry::RuleViolated { binding, rule: &v.rule });
        let sec = chrono::Utc::now().timestamp();
        {
            let mut b = lock(&self.buckets);
            let e = b.entry((binding.to_string(), v.rule.clone())).or_insert((sec, 0));
            if e.0 != sec {
                *e = (sec, 0);
            }
            if e.1 >= self.per_second {
                return;
            }
            e.1 += 1;
        }
        let body = violation_json(binding, contract, v, topic, partition, offset);
        let rec = FutureRecord::to(&self.topic).key(binding).payload(&body);
        // Samples are best effort: the delivery result is not awaited, only a full queue is logged.
        if let Err((e, _)) = self.producer.send_result(rec) {
            warn!(error = %e, "violation event not queued");
        }
    }
}

/// Publishes breaker transitions: the one place that logs, counts and emits them.
#[derive(Clone)]
pub struct TransitionSink {
    producer: FutureProducer,
    topic: String,
    replica: String,
    /// The gate's consumer group: with the binding and its source topic, it tells this gate's
    /// events from another's on the same cluster (drills match on it).
    group: Option<String>,
}

impl std::fmt::Debug for TransitionSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitionSink").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl TransitionSink {
    /// A sink producing to `topic`.
    #[must_use]
    pub fn new(producer: FutureProducer, topic: String, replica: String) -> Self {
        Self { producer, topic, replica, group: None }
    }

    /// The sink, its events naming the gate's consumer group.
    #[must_use]
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Logs, counts and publishes one transition of `b`, waiting for the acknowledgement
    /// (transitions are rare and must not be lost silently).
    pub async fn emit(&self, b: &super::binding::BindingRuntime, t: &Transition) {
        super::telemetry::Emit::emit(super::telemetry::BreakerTransitioned { binding: &b.cfg.name, transition: t });
        let contract = b.contract();
        let body = transition_json(&TransitionOf { binding: &b.cfg.name, source: &b.cfg.source, group: self.group.as_deref(), contract: &contract.id, version: &contract.version, replica: &self.replica }, t);
        let rec = FutureRecord::to(&self.topic).key(&b.cfg.name).payload(&body);
        if let Err((e, _)) = self.producer.send(rec, std::time::Duration::from_secs(10)).await {
            warn!(binding = %b.cfg.name, error = %e, "breaker event not delivered");
        }
    }
}

impl TransitionSink {
    /// Publishes that a canary of `b` (`id`, written at `sent_ms`) did not reach the validated
    /// topic within `deadline`: an event beside the transitions (`"event": "canary_missed"`,
    /// no `from`/`to`), since it says the gate's path is stuck, not that the data is bad.
    /// Logged and counted where it is found ([`super::canary`]).
    pub async fn canary_missed(&self, b: &super::binding::BindingRuntime, id: &str, sent_ms: i64, deadline: std::time::Duration) {
        let contract = b.contract();
        let body = serde_json::json!({
            "event": "canary_missed",
            "binding": &b.cfg.name,
            "source": &b.cfg.source,
            "group": self.group.as_deref(),
            "contract": &*contract.id,
            "version": &*contract.version,
            "canary": id,
            "sent": chrono::DateTime::from_timestamp_millis(sent_ms).map(|d| d.to_rfc3339()),
            "deadline_ms": u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            "breaker": b.router.mode().as_str(),
            "time": chrono::Utc::now().to_rfc3339(),
            "replica": &self.replica,
        })
        .to_string();
        let rec = FutureRecord::to(&self.topic).key(&b.cfg.name).payload(&body);
        if let Err((e, _)) = self.producer.send(rec, std::time::Duration::from_secs(10)).await {
            warn!(binding = %b.cfg.name, error = %e, "canary event not delivered");
        }
    }
}

/// Whose transition an event reports.
#[derive(Debug, Clone, Copy)]
pub struct TransitionOf<'a> {
    /// Binding name.
    pub binding: &'a str,
    /// The binding's source topic.
    pub source: &'a str,
    /// The gate's consumer group (`kafka.group_id`), when known.
    pub group: Option<&'a str>,
    /// Contract id.
    pub contract: &'a str,
    /// Contract version running.
    pub version: &'a str,
    /// The replica that saw it.
    pub replica: &'a str,
}

/// The JSON of a breaker transition event. `source` and `group` came later than the other
/// fields; readers of older events match on the binding alone.
#[must_use]
pub fn transition_json(of: &TransitionOf<'_>, t: &Transition) -> String {
    let TransitionOf { binding, source, group, contract, version, replica } = *of;
    serde_json::json!({
        "binding": binding,
        "source": source,
        "group": group,
        "contract": contract,
        "version": version,
        "from": t.from.mode.as_str(),
        "to": t.to.mode.as_str(),
        "reason": t.to.reason,
        "epoch": t.to.epoch,
        "trips": t.to.trips,
        "time": chrono::DateTime::from_timestamp_millis(t.to.since_ms).map(|d| d.to_rfc3339()),
        "replica": replica,
    })
    .to_string()
}

/// One violation event as JSON.
pub(crate) fn violation_json(binding: &str, contract: &contracts::CompiledContract, v: &contracts::Violation, topic: &str, partition: i32, offset: i64) -> String {
    serde_json::json!({
        "binding": binding, "contract": &*contract.id, "version": &*contract.version,
        "rule": &*v.rule, "field": v.field, "value": v.value, "expected": v.expected, "blocking": v.blocking,
        "source": {"topic": topic, "partition": partition, "offset": offset}, "time": chrono::Utc::now().to_rfc3339(),
    })
    .to_string()
}
