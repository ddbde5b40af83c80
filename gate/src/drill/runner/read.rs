//! The drill's reader: the binding's outputs (matched to injected records by the
//! `contract-gate-source-*` headers) and the breaker events of the gate under drill.

use super::{elapsed_ms, lock};
use crate::drill::ledger::{Coord, Dest, Ledger, Seen, Sighting};
use crate::serve::headers as h;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Headers as _, Message};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// Which gate's breaker the drill follows. The events topic is shared by every gate on the
/// cluster, and binding names repeat (two gates may each have a `flights`): an event is this
/// gate's when the binding, the source topic and the consumer group all match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GateKey {
    /// Binding name.
    pub binding: String,
    /// The binding's source topic.
    pub source: String,
    /// The gate's `kafka.group_id`.
    pub group: String,
}

impl GateKey {
    /// Whether a breaker event is about this gate's binding. Events written before they
    /// carried `source` and `group` have only the binding name to go by: a field the event
    /// lacks is not held against it.
    pub fn owns(&self, event: &Value) -> bool {
        let same = |k: &str, want: &str| event.get(k).and_then(Value::as_str).is_none_or(|v| v == want);
        event.get("binding").and_then(Value::as_str) == Some(self.binding.as_str()) && same("source", &self.source) && same("group", &self.group)
    }
}

/// Topic names the reader follows.
#[derive(Debug, Clone)]
pub(super) struct Watch {
    pub source: String,
    pub validated: String,
    pub quarantine: String,
    pub diverted: Vec<String>,
    pub events: String,
    pub gate: GateKey,
}

fn header<'a>(m: &'a rdkafka::message::BorrowedMessage<'_>, key: &str) -> Option<&'a str> {
    m.headers()?.iter().find(|x| x.key == key)?.value.and_then(|v| std::str::from_utf8(v).ok())
}

/// Reads outputs and events into the ledger until `stop`.
pub(super) async fn read(consumer: StreamConsumer, w: Watch, ledger: Arc<Mutex<Ledger>>, t0: Instant, mut stop: watch::Receiver<bool>) -> StreamConsumer {
    loop {
        let m = tokio::select! {
            _ = stop.changed() => break,
            m = consumer.recv() => m,
        };
        let Ok(m) = m else { continue };
        let at = elapsed_ms(t0);
        let topic = m.topic();
        if topic == w.events {
            let Some(v) = m.payload().and_then(|p| serde_json::from_slice::<Value>(p).ok()) else { continue };
            if !w.gate.owns(&v) {
                continue;
            }
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            lock(&ledger).transition(Seen { at, from: s("from"), to: s("to"), rule: v["reason"]["rule"].as_str().map(String::from) });
            continue;
        }
        let dest = if topic == w.validated {
            Dest::Validated
        } else if topic == w.quarantine {
            Dest::Quarantine
        } else if w.diverted.iter().any(|d| d == topic) {
            Dest::Diverted
        } else {
            continue;
        };
        if header(&m, h::SOURCE_TOPIC) != Some(w.source.as_str()) {
            continue;
        }
        let coord: Option<Coord> = header(&m, h::SOURCE_PARTITION).and_then(|p| p.parse().ok()).zip(header(&m, h::SOURCE_OFFSET).and_then(|o| o.parse().ok()));
        let Some(coord) = coord else { continue };
        let valid = !matches!(header(&m, h::VERDICT), Some("stale"));
        let closed = header(&m, h::BREAKER_STATE) == Some("closed");
        let probe_passed = header(&m, h::PROBE) == Some("passed");
        lock(&ledger).seen(coord, Sighting { dest, valid, closed, probe_passed, at });
    }
    consumer
}

#[cfg(test)]
mod tests {
    use super::GateKey;
    use serde_json::json;

    #[test]
    fn events_of_this_gate_only() {
        let key = GateKey { binding: "flights".into(), source: "flights".into(), group: "gate-a".into() };
        let cases = [
            (json!({"binding": "flights", "source": "flights", "group": "gate-a", "to": "open"}), true),
            // Another gate on the cluster with a binding of the same name.
            (json!({"binding": "flights", "source": "flights", "group": "gate-b", "to": "open"}), false),
            (json!({"binding": "flights", "source": "flights.eu", "group": "gate-a", "to": "open"}), false),
            (json!({"binding": "orders", "source": "flights", "group": "gate-a", "to": "open"}), false),
            // Events from before `source` and `group`: the binding name decides.
            (json!({"binding": "flights", "to": "open"}), true),
            (json!({"binding": "orders", "to": "open"}), false),
            // A gate that did not know its group (registry-only sinks).
            (json!({"binding": "flights", "source": "flights", "group": null, "to": "open"}), true),
            (json!({"to": "open"}), false),
        ];
        for (event, want) in cases {
            assert_eq!(key.owns(&event), want, "{event}");
        }
    }
}
