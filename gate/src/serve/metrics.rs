//! Every metric the sidecar emits, in one place. Names follow
//! `contract_gate_<name>_<unit>[_total]`; label values come from closed sets (binding and rule
//! names from the configuration and contracts, routes and states from enums).

use metrics::{counter, gauge, histogram, Counter};
use std::sync::OnceLock;

/// Every `route` label value of `contract_gate_records_total`.
pub const ROUTES: [&str; 9] = ["validated", "quarantine", "degraded", "held", "last_good", "stale", "paused", "peeked", "skipped"];

/// One binding's `contract_gate_records_total` handles, one per route, registered on first
/// use. The record loop counts every record: looking the counter up by its labels each time
/// cost an allocation and a registry lookup per record.
#[derive(Debug)]
pub struct RouteCounters {
    binding: String,
    handles: OnceLock<[Counter; ROUTES.len()]>,
}

impl RouteCounters {
    /// Counters of `binding` (registered when the first record is counted, after the
    /// recorder is installed).
    #[must_use]
    pub fn new(binding: &str) -> Self {
        Self { binding: binding.to_string(), handles: OnceLock::new() }
    }

    /// A record sent to `route` (one of [`ROUTES`]).
    pub fn routed(&self, route: &'static str) {
        let handles = self.handles.get_or_init(|| ROUTES.map(|r| counter!("contract_gate_records_total", "binding" => self.binding.clone(), "route" => r)));
        match ROUTES.iter().position(|r| *r == route) {
            Some(i) => handles[i].increment(1),
            None => debug_assert!(false, "route {route} missing from ROUTES"),
        }
    }
}

/// A rule violated by one record.
pub fn violation(binding: &str, rule: &str) {
    counter!("contract_gate_rule_violations_total", "binding" => binding.to_string(), "rule" => rule.to_string()).increment(1);
}

/// Records of a paused backlog an operator released (`skip-pending` or `quarantine-pending`).
#[allow(clippy::cast_sign_loss)]
pub fn released(binding: &str, action: &'static str, records: i64) {
    counter!("contract_gate_released_records_total", "binding" => binding.to_string(), "action" => action).increment(records.max(0) as u64);
}

/// A source topic paused (1) or consuming (0).
pub fn paused(topic: &str, on: bool) {
    gauge!("contract_gate_source_paused_ratio", "topic" => topic.to_string()).set(if on { 1.0 } else { 0.0 });
}

/// The breaker's mode: one gauge per state, 1 for the current one.
pub fn breaker_state(binding: &str, mode: breaker::Mode) {
    for m in breaker::Mode::ALL {
        gauge!("contract_gate_breaker_state_ratio", "binding" => binding.to_string(), "state" => m.as_str()).set(if m == mode { 1.0 } else { 0.0 });
    }
}

/// A breaker transition.
pub fn transition(binding: &str, from: breaker::Mode, to: breaker::Mode) {
    counter!("contract_gate_breaker_transitions_total", "binding" => binding.to_string(), "from" => from.as_str(), "to" => to.as_str()).increment(1);
}

/// One flush's duration, and whether it ran on the local fallback.
pub fn flush(binding: &str, seconds: f64, degraded: bool) {
    histogram!("contract_gate_flush_duration_seconds", "binding" => binding.to_string()).record(seconds);
    gauge!("contract_gate_breaker_store_degraded_ratio", "binding" => binding.to_string()).set(if degraded { 1.0 } else { 0.0 });
}

/// A window rule's value over the latest window.
pub fn rule_value(binding: &str, rule: &str, value: f64) {
    gauge!("contract_gate_window_rule_value_ratio", "binding" => binding.to_string(), "rule" => rule.to_string()).set(value);
}

/// Seconds since the newest record of a binding.
pub fn freshness(binding: &str, seconds: f64) {
    gauge!("contract_gate_source_idle_seconds", "binding" => binding.to_string()).set(seconds);
}

/// Records of a source partition the gate's consumer group has not committed yet (high
/// watermark minus committed offset; sampled by [`crate::lag`]).
#[allow(clippy::cast_precision_loss)]
pub fn consumer_lag(binding: &str, partition: i32, records: i64) {
    gauge!("contract_gate_consumer_lag_records", "binding" => binding.to_string(), "partition" => partition.to_string()).set(records as f64);
}

/// A payload that did not decode, by cause (closed set: json, too_large, short, magic_byte,
/// unknown_schema, registry_unavailable, unusable_schema, corrupt_body).
pub fn decode_error(binding: &str, reason: &'static str) {
    counter!("contract_gate_decode_errors_total", "binding" => binding.to_string(), "reason" => reason).increment(1);
}

/// A writer schema fetch from the Schema Registry (ok, not_found, unreachable, unusable).
pub fn schema_fetch(outcome: &'static str) {
    counter!("contract_gate_schema_fetches_total", "outcome" => outcome).increment(1);
}
