//! Every metric the sidecar emits, in one place. Names follow
//! `contract_gate_<name>_<unit>[_total]`; label values come from closed sets (binding and rule
//! names from the configuration and contracts, routes and states from enums).

use metrics::{counter, gauge, histogram, Counter};
use crate::output::Output;
use std::sync::OnceLock;

/// Where one record went: the `route` label of `contract_gate_records_total`. Every output
/// is a route of its own; the others are what happens to a record that is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    /// Written to this output.
    To(Output),
    /// A key's last valid record re-sent to validated, marked stale.
    Stale,
    /// Not taken: its partition paused at it (`fallback: pause`).
    Paused,
    /// Read for a half-open probe of a paused partition; not written or committed.
    Peeked,
    /// Skipped by an operator's `skip-pending`.
    Skipped,
}

/// Routes that are not outputs, after the outputs in [`RouteLabel::ALL`].
const NOT_WRITTEN: [RouteLabel; 4] = [RouteLabel::Stale, RouteLabel::Paused, RouteLabel::Peeked, RouteLabel::Skipped];

impl RouteLabel {
    /// Every label: the outputs in [`Output::ALL`] order, then the others.
    pub const ALL: [Self; Output::ALL.len() + NOT_WRITTEN.len()] = {
        let mut all = [Self::Stale; Output::ALL.len() + NOT_WRITTEN.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < Output::ALL.len() { Self::To(Output::ALL[i]) } else { NOT_WRITTEN[i - Output::ALL.len()] };
            i += 1;
        }
        all
    };

    /// Position in [`RouteLabel::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::To(o) => o.index(),
            Self::Stale => Output::ALL.len(),
            Self::Paused => Output::ALL.len() + 1,
            Self::Peeked => Output::ALL.len() + 2,
            Self::Skipped => Output::ALL.len() + 3,
        }
    }

    /// Label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::To(o) => o.name(),
            Self::Stale => "stale",
            Self::Paused => "paused",
            Self::Peeked => "peeked",
            Self::Skipped => "skipped",
        }
    }
}

/// One binding's `contract_gate_records_total` handles, one per route, registered on first
/// use. The record loop counts every record: looking the counter up by its labels each time
/// cost an allocation and a registry lookup per record.
#[derive(Debug)]
pub struct RouteCounters {
    binding: String,
    handles: OnceLock<[Counter; RouteLabel::ALL.len()]>,
}

impl RouteCounters {
    /// Counters of `binding` (registered when the first record is counted, after the
    /// recorder is installed).
    #[must_use]
    pub fn new(binding: &str) -> Self {
        Self { binding: binding.to_string(), handles: OnceLock::new() }
    }

    /// A record sent to `route`.
    pub fn routed(&self, route: RouteLabel) {
        let handles = self.handles.get_or_init(|| RouteLabel::ALL.map(|r| counter!("contract_gate_records_total", "binding" => self.binding.clone(), "route" => r.as_str())));
        handles[route.index()].increment(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_sits_at_its_index_once() {
        for (i, r) in RouteLabel::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        let mut names: Vec<&str> = RouteLabel::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RouteLabel::ALL.len(), "label values are distinct");
    }
}
