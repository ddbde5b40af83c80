//! What the sidecar logs and counts about its own operation, in one place: one struct per
//! event, whose [`Emit::emit`] writes the log line and the metric together, so the two never
//! drift apart and no other module touches the metrics registry. Every metric is listed in
//! [`catalog`] (name, type, unit, HELP text, label keys); names follow
//! `contract_gate_<name>_<unit>[_total]`; label values come from closed sets (binding and rule
//! names from the configuration and contracts, routes, outputs and states from enums), never
//! from record data.

pub mod canary;
pub mod catalog;
#[cfg(test)]
mod exposition_tests;
pub mod last_flush;
pub mod patterns;
pub mod shadow;

pub use catalog::{install, Kind, Metric, ALL};

use super::decode::rejected::DecodeFailure;
use super::flow::Flow;
use super::pending::PendingAction;
use crate::output::Output;
use breaker::Mode;
use catalog::{window_rule_gauge, BREAKER_STATE, BREAKER_TRANSITIONS, CONSUMER_LAG, CONTRACT_RELOADS, DECODE_ERRORS, FLUSH_DURATION, PRODUCE_FAILURES, RECORDS, PROBE_RECORDS, RECORDS_STUBBED, RECORD_AGE_P95, RELEASED_RECORDS, RULE_VIOLATIONS, SCHEMA_FETCHES, SOURCE_IDLE, SOURCE_PAUSED, STORE_DEGRADED, STRICT_DIVERTED};
use metrics::{counter, gauge, histogram, Counter};
use rdkafka::error::KafkaError;
use std::sync::OnceLock;
use std::time::Duration;
use tracing::{debug, error, info, warn};

/// An operational event: emitting it logs and counts it.
pub trait Emit {
    /// Writes the event's log line (if it has one) and updates its metrics.
    fn emit(self);
}

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

    /// Whether a consumed record is counted here once and for good: every consumed record
    /// lands in exactly one such route. Stale re-sends come on top of the record that caused
    /// them, the last-good index is a copy, and a peeked record is read again.
    #[must_use]
    pub const fn settles(self) -> bool {
        match self {
            Self::To(o) => o.per_record(),
            Self::Paused | Self::Skipped => true,
            Self::Stale | Self::Peeked => false,
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
        let handles = self.handles.get_or_init(|| RouteLabel::ALL.map(|r| counter!(RECORDS.name, "binding" => self.binding.clone(), "route" => r.as_str())));
        handles[route.index()].increment(1);
    }
}

/// A record violated a rule (counted for every record; the sampled event goes to the
/// violations topic).
#[derive(Debug)]
pub struct RuleViolated<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Rule id.
    pub rule: &'a str,
}

impl Emit for RuleViolated<'_> {
    fn emit(self) {
        counter!(RULE_VIOLATIONS.name, "binding" => self.binding.to_string(), "rule" => self.rule.to_string()).increment(1);
    }
}

/// A record whose payload did not become a record to check (it is quarantined).
#[derive(Debug)]
pub struct RecordRejected<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Why.
    pub kind: DecodeFailure,
}

impl Emit for RecordRejected<'_> {
    fn emit(self) {
        counter!(DECODE_ERRORS.name, "binding" => self.binding.to_string(), "reason" => self.kind.as_str()).increment(1);
    }
}

/// A writer schema fetch from the Schema Registry (`ok`, `not_found`, `unreachable`,
/// `unusable`).
#[derive(Debug)]
pub struct SchemaFetched {
    /// Outcome label.
    pub outcome: &'static str,
}

impl Emit for SchemaFetched {
    fn emit(self) {
        counter!(SCHEMA_FETCHES.name, "outcome" => self.outcome).increment(1);
    }
}

/// A source partition changed its flow (paused, peeking for a probe, released, flowing).
#[derive(Debug)]
pub struct PartitionFlowChanged<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Before.
    pub before: Flow,
    /// After.
    pub after: Flow,
    /// The partition moved (assigned or revoked): its state was dropped, not changed by the
    /// breaker, routing or an operator.
    pub moved: bool,
}

impl Emit for PartitionFlowChanged<'_> {
    fn emit(self) {
        let (topic, partition) = (self.topic, self.partition);
        let (was, is) = (self.before.pause_offset().is_some(), self.after.pause_offset().is_some());
        if was != is {
            gauge!(SOURCE_PAUSED.name, "topic" => topic.to_string()).set(if is { 1.0 } else { 0.0 });
        }
        if self.moved {
            debug!(topic, partition, before = ?self.before, "partition moved: its flow starts afresh");
            return;
        }
        match (self.before, self.after) {
            (Flow::Peeking { .. }, Flow::Paused { at }) => info!(topic, partition, offset = at, "probe failed: partition paused again at its pause offset"),
            (Flow::Paused { .. }, Flow::Paused { .. }) => {}
            (_, Flow::Paused { at }) => info!(topic, partition, offset = at, "breaker open: partition paused"),
            (Flow::Paused { .. }, Flow::Peeking { from, .. }) => info!(topic, partition, from, "breaker half-open: peeking for the probe without committing"),
            (Flow::Paused { .. }, Flow::Flowing) => info!(topic, partition, "breaker no longer open: partition resumed"),
            (Flow::Peeking { from, .. }, Flow::Flowing) => info!(topic, partition, from, "probe passed: partition flows from its pause offset"),
            (Flow::Peeking { spent_at: None, .. }, Flow::Peeking { spent_at: Some(at), .. }) => debug!(topic, partition, offset = at, "probe grant spent: partition paused until more comes"),
            (Flow::Peeking { spent_at: Some(_), .. }, Flow::Peeking { spent_at: None, .. }) => debug!(topic, partition, "more probe grant: peeking on"),
            // Releasing is logged with its range by BacklogReleased; a moved partition by the
            // rebalance callbacks.
            _ => {}
        }
    }
}

/// Strict mode: one flush's own records breached a rate rule by more than chance, so they
/// take the open route although the window as a whole may still hold.
#[derive(Debug)]
pub struct StrictFlushDiverted<'a> {
    /// Binding.
    pub binding: &'a str,
    /// The window generation (flush) whose records are diverted.
    pub generation: u64,
    /// The rule their sample breached.
    pub result: &'a contracts::RuleResult,
    /// Records in that flush.
    pub records: u64,
}

impl Emit for StrictFlushDiverted<'_> {
    fn emit(self) {
        counter!(STRICT_DIVERTED.name, "binding" => self.binding.to_string()).increment(1);
        info!(binding = self.binding, generation = self.generation, rule = %self.result.id, value = ?self.result.value, records = self.records, "strict: a flush's own records breach; they take the open route");
    }
}

/// An operator released a paused backlog (`skip-pending` or `quarantine-pending`).
#[derive(Debug)]
pub struct BacklogReleased<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Source topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// The pause offset.
    pub from: i64,
    /// The high watermark at the request (exclusive).
    pub to: i64,
    /// What happens to the range.
    pub action: PendingAction,
}

impl Emit for BacklogReleased<'_> {
    #[allow(clippy::cast_sign_loss)]
    fn emit(self) {
        let records = self.to - self.from;
        counter!(RELEASED_RECORDS.name, "binding" => self.binding.to_string(), "action" => self.action.as_str()).increment(records.max(0) as u64);
        info!(binding = self.binding, topic = self.topic, partition = self.partition, from = self.from, to = self.to, records, action = self.action.as_str(), "operator released the paused backlog");
    }
}

/// The release of a paused backlog could not start: the high watermark is unknown.
#[derive(Debug)]
pub struct BacklogReleaseFailed<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Source topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// The request.
    pub action: PendingAction,
    /// The client's error.
    pub error: &'a KafkaError,
}

impl Emit for BacklogReleaseFailed<'_> {
    fn emit(self) {
        warn!(binding = self.binding, topic = self.topic, partition = self.partition, action = self.action.as_str(), error = %self.error, "cannot read the high watermark; backlog left paused");
    }
}

/// An output could not be written after the producer's retries (or was refused at once).
/// `outcome` says what the gate did: quarantined the record's stub, sent it again, stopped the
/// partition (not even the stub was taken) or stopped the process without committing it.
#[derive(Debug)]
pub struct ProduceFailed<'a> {
    /// `stubbed`, `retried`, `partition_stopped` or `stopped`.
    pub outcome: &'static str,
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// The output.
    pub output: Output,
    /// The producer's error.
    pub error: &'a KafkaError,
}

impl Emit for ProduceFailed<'_> {
    fn emit(self) {
        counter!(PRODUCE_FAILURES.name, "output" => self.output.name(), "outcome" => self.outcome).increment(1);
        match self.outcome {
            "stubbed" | "retried" => warn!(topic = self.topic, partition = self.partition, offset = self.offset, output = self.output.name(), outcome = self.outcome, error = %self.error, "output not delivered"),
            "partition_stopped" => error!(topic = self.topic, partition = self.partition, offset = self.offset, output = self.output.name(), error = %self.error, "not even the record's stub could be written; this partition stops here until it moves or the gate restarts"),
            _ => error!(topic = self.topic, partition = self.partition, offset = self.offset, output = self.output.name(), error = %self.error, "produce failed; stopping without committing this record"),
        }
    }
}

/// A record went to quarantine as a stub: no output would take it whole.
#[derive(Debug)]
pub struct RecordStubbed<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Payload bytes.
    pub size: usize,
    /// Why it could not be written whole.
    pub error: &'a str,
}

impl Emit for RecordStubbed<'_> {
    fn emit(self) {
        counter!(RECORDS_STUBBED.name, "binding" => self.binding.to_string()).increment(1);
        warn!(binding = self.binding, topic = self.topic, partition = self.partition, offset = self.offset, bytes = self.size, error = self.error, "record quarantined as a stub");
    }
}

/// A breaker transition seen by this replica.
#[derive(Debug)]
pub struct BreakerTransitioned<'a> {
    /// Binding.
    pub binding: &'a str,
    /// The transition.
    pub transition: &'a breaker::Transition,
}

impl Emit for BreakerTransitioned<'_> {
    fn emit(self) {
        let t = self.transition;
        counter!(BREAKER_TRANSITIONS.name, "binding" => self.binding.to_string(), "from" => t.from.mode.as_str(), "to" => t.to.mode.as_str()).increment(1);
        BreakerMode { binding: self.binding, mode: t.to.mode }.emit();
        match t.to.breach() {
            Some(b) => info!(binding = self.binding, from = t.from.mode.as_str(), to = t.to.mode.as_str(), epoch = t.to.epoch, trips = t.to.trips, rule = %b.rule, value = b.value, threshold = %b.threshold, "breaker transition"),
            None => info!(binding = self.binding, from = t.from.mode.as_str(), to = t.to.mode.as_str(), epoch = t.to.epoch, trips = t.to.trips, reason = ?t.to.reason, "breaker transition"),
        }
    }
}

/// The breaker's mode: one gauge per state, 1 for the current one.
#[derive(Debug)]
pub struct BreakerMode<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Current mode.
    pub mode: Mode,
}

impl Emit for BreakerMode<'_> {
    fn emit(self) {
        for m in Mode::ALL {
            gauge!(BREAKER_STATE.name, "binding" => self.binding.to_string(), "state" => m.as_str()).set(if m == self.mode { 1.0 } else { 0.0 });
        }
    }
}

/// One flush of a binding's window: its duration, the store it ran on, each window rule's
/// value, and how long the source has been quiet.
#[derive(Debug)]
pub struct Flushed<'a> {
    /// Binding.
    pub binding: &'a str,
    /// How long the flush took.
    pub took: Duration,
    /// The flush's report.
    pub report: &'a breaker::FlushReport,
    /// Seconds since the newest record.
    pub idle_seconds: f64,
}

impl Emit for Flushed<'_> {
    fn emit(self) {
        let b = self.binding;
        let local = self.report.source == breaker::Source::Local;
        histogram!(FLUSH_DURATION.name, "binding" => b.to_string()).record(self.took.as_secs_f64());
        gauge!(STORE_DEGRADED.name, "binding" => b.to_string()).set(if local { 1.0 } else { 0.0 });
        for r in &self.report.results {
            if let Some(v) = r.value {
                // One gauge per unit, in base units: mixing percent, rows, seconds and scores
                // under one name made every query over it meaningless. A reported rule (an
                // SLA's p95 record age) is no threshold's value: it has a gauge of its own.
                let (metric, factor) = if is_record_age(r) { (&RECORD_AGE_P95, 1.0) } else { window_rule_gauge(r.unit) };
                gauge!(metric.name, "binding" => b.to_string(), "rule" => r.id.to_string()).set(v * factor);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        gauge!(PROBE_RECORDS.name, "binding" => b.to_string()).set(self.report.probe_results.as_deref().map_or(0, probe_records) as f64);
        gauge!(SOURCE_IDLE.name, "binding" => b.to_string()).set(self.idle_seconds);
        if let Some(e) = &self.report.error {
            warn!(binding = b, error = %e, "breaker store unreachable: local fallback");
        }
    }
}

/// Records a probe's results were judged over: the largest count of records in scope (every
/// record counts toward `$.recordFailures`, whatever the contract's other rules read).
#[must_use]
pub fn probe_records(results: &[contracts::RuleResult]) -> u64 {
    results.iter().filter_map(|r| r.sample.map(|s| s.total)).max().unwrap_or(0)
}

/// Whether a window rule's result is a latency SLA's p95 record age (reported, not judged).
#[must_use]
pub fn is_record_age(r: &contracts::RuleResult) -> bool {
    r.metric == contracts::MetricKind::RecordAge
}

/// A flush the breaker refused (its deltas do not fit the rules: a bug, not an outage).
#[derive(Debug)]
pub struct FlushRejected<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Why.
    pub error: &'a breaker::StoreError,
}

impl Emit for FlushRejected<'_> {
    fn emit(self) {
        error!(binding = self.binding, error = %self.error, "flush rejected");
    }
}

/// Records of a source partition the gate's consumer group has not committed yet (high
/// watermark minus committed offset; sampled by [`crate::lag`]).
#[derive(Debug)]
pub struct ConsumerLag<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Partition.
    pub partition: i32,
    /// Records behind.
    pub records: i64,
}

impl Emit for ConsumerLag<'_> {
    #[allow(clippy::cast_precision_loss)]
    fn emit(self) {
        gauge!(CONSUMER_LAG.name, "binding" => self.binding.to_string(), "partition" => self.partition.to_string()).set(self.records as f64);
    }
}

/// A binding moved to a newer contract version without a restart.
#[derive(Debug)]
pub struct ContractReloaded<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Contract id.
    pub contract: &'a str,
    /// The version it judged by until now.
    pub from: &'a str,
    /// The version it judges by from now on.
    pub to: &'a str,
    /// Whether the window restarted (the new version's window rules differ).
    pub window_restarted: bool,
}

impl Emit for ContractReloaded<'_> {
    fn emit(self) {
        counter!(CONTRACT_RELOADS.name, "binding" => self.binding.to_string(), "outcome" => "applied").increment(1);
        info!(binding = self.binding, contract = self.contract, from = self.from, to = self.to, window_restarted = self.window_restarted, "contract hot-reloaded");
    }
}

/// A newer contract version that does not compile for a binding: not activated.
#[derive(Debug)]
pub struct ContractReloadRefused<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Contract id.
    pub contract: &'a str,
    /// The version refused.
    pub version: &'a str,
    /// The version the binding stays on.
    pub staying_on: &'a str,
    /// Why.
    pub error: &'a str,
}

impl Emit for ContractReloadRefused<'_> {
    fn emit(self) {
        counter!(CONTRACT_RELOADS.name, "binding" => self.binding.to_string(), "outcome" => "failed").increment(1);
        error!(binding = self.binding, contract = self.contract, version = self.version, staying_on = self.staying_on, error = self.error, "contract version does not compile for this binding; not activated");
    }
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

    #[test]
    fn a_consumed_record_settles_in_exactly_the_routes_that_end_it() {
        use crate::output::Output::*;
        // (label, settles)
        let cases = [
            (RouteLabel::To(Validated), true),
            (RouteLabel::To(Quarantine), true),
            (RouteLabel::To(Degraded), true),
            (RouteLabel::To(Held), true),
            (RouteLabel::To(LastGood), false),
            (RouteLabel::Stale, false),
            (RouteLabel::Paused, true),
            (RouteLabel::Peeked, false),
            (RouteLabel::Skipped, true),
        ];
        assert_eq!(cases.len(), RouteLabel::ALL.len(), "every label has a row");
        for (label, settles) in cases {
            assert_eq!(label.settles(), settles, "{label:?}");
        }
    }
}
