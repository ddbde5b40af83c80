//! Every metric the gate exports, listed once: name, Prometheus type, unit, HELP text and
//! label keys. The events in [`super`] (and `registry::events`) emit by these names;
//! [`install`] registers the HELP text, the latency buckets and `contract_gate_build_info`
//! from this list, and the exposition test checks that what is rendered matches it.
//!
//! One unit per name, in Prometheus base units: a window rule's value goes to the gauge of
//! its unit ([`window_rule_gauge`]), with percent scaled to a 0–1 ratio, so no series mixes
//! percent, rows, seconds and drift scores.

use contracts::Unit as RuleUnit;
use metrics::{gauge, KeyName, SharedString, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// A metric's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Monotonic count (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A latency, exported with these bucket upper bounds (seconds) so that replicas can be
    /// summed before a quantile is taken.
    Histogram(&'static [f64]),
}

impl Kind {
    /// The word on the `# TYPE` line.
    #[must_use]
    pub const fn type_name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram(_) => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Full name, `contract_gate_<name>_<unit>[_total]`.
    pub name: &'static str,
    /// Prometheus type.
    pub kind: Kind,
    /// Unit of the value; `None` for dimensionless ratios, scores and info gauges.
    pub unit: Option<Unit>,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label keys (their values come from closed sets: config, contracts, enums).
    pub labels: &'static [&'static str],
}

/// Buckets of the breaker flush: a local flush takes microseconds, a Redis script call a few
/// milliseconds; `redis.op_timeout` (500 ms by default) bounds the slow end.
const FLUSH_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// `contract_gate_records_total`.
pub const RECORDS: Metric = Metric {
    name: "contract_gate_records_total",
    kind: Kind::Counter,
    unit: Some(Unit::Count),
    help: "Records by binding and route. Every consumed record settles in one of validated, quarantine, degraded, held, paused or skipped; stale re-sends, last_good copies and peeked probe records are counted on top.",
    labels: &["binding", "route"],
};

/// `contract_gate_rule_violations_total`.
pub const RULE_VIOLATIONS: Metric = Metric { name: "contract_gate_rule_violations_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Record-level rule violations by binding and contract rule id (every violating record, not only the sampled events).", labels: &["binding", "rule"] };

/// `contract_gate_decode_errors_total`.
pub const DECODE_ERRORS: Metric = Metric { name: "contract_gate_decode_errors_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Records whose payload could not be decoded (they are quarantined), by binding and reason.", labels: &["binding", "reason"] };

/// `contract_gate_schema_fetches_total`.
pub const SCHEMA_FETCHES: Metric = Metric { name: "contract_gate_schema_fetches_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Writer schema fetches from the Schema Registry by outcome (ok, not_found, unreachable, unusable).", labels: &["outcome"] };

/// `contract_gate_source_paused_ratio`.
pub const SOURCE_PAUSED: Metric = Metric { name: "contract_gate_source_paused_ratio", kind: Kind::Gauge, unit: None, help: "1 while a partition of the source topic is paused by fallback: pause (breaker open or probing), 0 once it flows.", labels: &["topic"] };

/// `contract_gate_strict_diverted_flushes_total`.
pub const STRICT_DIVERTED: Metric = Metric { name: "contract_gate_strict_diverted_flushes_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Strict mode: flushes whose own records breached a rate rule by more than chance and took the open route.", labels: &["binding"] };

/// `contract_gate_released_records_total`.
pub const RELEASED_RECORDS: Metric = Metric { name: "contract_gate_released_records_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Records of a paused backlog an operator released, by binding and action (skip-pending, quarantine-pending).", labels: &["binding", "action"] };

/// `contract_gate_produce_failures_total`.
pub const PRODUCE_FAILURES: Metric = Metric { name: "contract_gate_produce_failures_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Output writes that failed after the producer's retries, by output and what the gate did (stubbed, retried, partition_stopped, stopped).", labels: &["output", "outcome"] };

/// `contract_gate_records_stubbed_total`.
pub const RECORDS_STUBBED: Metric = Metric { name: "contract_gate_records_stubbed_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Records no output would take whole, quarantined as a stub with their coordinates.", labels: &["binding"] };

/// `contract_gate_breaker_transitions_total`.
pub const BREAKER_TRANSITIONS: Metric = Metric { name: "contract_gate_breaker_transitions_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Breaker transitions this replica saw, by binding and from/to state.", labels: &["binding", "from", "to"] };

/// `contract_gate_breaker_state_ratio`.
pub const BREAKER_STATE: Metric = Metric { name: "contract_gate_breaker_state_ratio", kind: Kind::Gauge, unit: None, help: "1 for the breaker's current state, 0 for the others (closed, open, half_open, forced_open, forced_closed, metrics_only).", labels: &["binding", "state"] };

/// `contract_gate_flush_duration_seconds`.
pub const FLUSH_DURATION: Metric = Metric { name: "contract_gate_flush_duration_seconds", kind: Kind::Histogram(FLUSH_BUCKETS), unit: Some(Unit::Seconds), help: "Time of one flush of a binding's window deltas to the breaker store (one Redis script call, or the local fallback).", labels: &["binding"] };

/// `contract_gate_breaker_store_degraded_ratio`.
pub const STORE_DEGRADED: Metric = Metric { name: "contract_gate_breaker_store_degraded_ratio", kind: Kind::Gauge, unit: None, help: "1 while the binding's breaker runs on its local fallback because the shared store is unreachable, else 0.", labels: &["binding"] };

/// `contract_gate_window_rule_value_ratio`.
pub const WINDOW_RULE_RATIO: Metric = Metric { name: "contract_gate_window_rule_value_ratio", kind: Kind::Gauge, unit: None, help: "Value of each percent window rule over the breaker window at the last flush, as a 0-1 ratio (the contract's 3 percent is 0.03).", labels: &["binding", "rule"] };

/// `contract_gate_window_rule_value_rows`.
pub const WINDOW_RULE_ROWS: Metric = Metric { name: "contract_gate_window_rule_value_rows", kind: Kind::Gauge, unit: Some(Unit::Count), help: "Value of each window rule counted in records (rowCount, absolute counts) over the breaker window at the last flush.", labels: &["binding", "rule"] };

/// `contract_gate_window_rule_value_seconds`.
pub const WINDOW_RULE_SECONDS: Metric = Metric { name: "contract_gate_window_rule_value_seconds", kind: Kind::Gauge, unit: Some(Unit::Seconds), help: "Value of each window rule measured in seconds (freshness, latency SLAs) at the last flush.", labels: &["binding", "rule"] };

/// `contract_gate_window_rule_value_score`.
pub const WINDOW_RULE_SCORE: Metric = Metric { name: "contract_gate_window_rule_value_score", kind: Kind::Gauge, unit: None, help: "Value of each distribution-drift window rule (population stability index against the contract's baseline) at the last flush.", labels: &["binding", "rule"] };

/// `contract_gate_record_age_p95_seconds`.
pub const RECORD_AGE_P95: Metric = Metric {
    name: "contract_gate_record_age_p95_seconds",
    kind: Kind::Gauge,
    unit: Some(Unit::Seconds),
    help: "95th percentile of the records' own event-time age when the gate judged them, over the breaker window at the last flush (merged over every replica), per latency SLA (rule: the SLA's recordAge rule). Above the SLA exactly when the SLA's staleRecords share is above 5 percent.",
    labels: &["binding", "rule"],
};

/// `contract_gate_probe_records`.
pub const PROBE_RECORDS: Metric = Metric { name: "contract_gate_probe_records", kind: Kind::Gauge, unit: Some(Unit::Count), help: "Records the binding's current half-open probe has judged, over every replica, at the last flush (they are held until its verdict); 0 outside half-open.", labels: &["binding"] };

/// `contract_gate_source_idle_seconds`.
pub const SOURCE_IDLE: Metric = Metric { name: "contract_gate_source_idle_seconds", kind: Kind::Gauge, unit: Some(Unit::Seconds), help: "Seconds since the binding last received a record from its source topic.", labels: &["binding"] };

/// `contract_gate_consumer_lag_records`.
pub const CONSUMER_LAG: Metric = Metric { name: "contract_gate_consumer_lag_records", kind: Kind::Gauge, unit: Some(Unit::Count), help: "Records of a source partition the gate's consumer group has not committed (high watermark minus committed offset), sampled every 5 s.", labels: &["binding", "partition"] };

/// `contract_gate_contract_reloads_total`.
pub const CONTRACT_RELOADS: Metric = Metric { name: "contract_gate_contract_reloads_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Contract hot reloads by binding and outcome (applied, failed: the new version does not compile for the binding).", labels: &["binding", "outcome"] };

/// `contract_gate_build_info`.
pub const BUILD_INFO: Metric = Metric { name: "contract_gate_build_info", kind: Kind::Gauge, unit: None, help: "Always 1; the labels say what this binary is: its version, the librdkafka it was built with and librdkafka's compiled-in features.", labels: &["version", "librdkafka", "librdkafka_features"] };

/// `contract_gate_registry_pushes_total` (emitted by `registry::events`).
pub const REGISTRY_PUSHES: Metric = Metric { name: "contract_gate_registry_pushes_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Contract pushes to the registry API (POST /v1/contracts) by outcome.", labels: &["outcome"] };

/// `contract_gate_registry_schema_requests_total` (emitted by `registry::events`).
pub const REGISTRY_SCHEMA_REQUESTS: Metric = Metric { name: "contract_gate_registry_schema_requests_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Requests to the registry's Schema Registry API by operation and outcome.", labels: &["operation", "outcome"] };

/// `contract_gate_registry_schema_registrations_total` (emitted by `registry::events`).
pub const REGISTRY_SCHEMA_REGISTRATIONS: Metric = Metric { name: "contract_gate_registry_schema_registrations_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Schema registrations through the registry's Schema Registry API by outcome.", labels: &["outcome"] };

/// `contract_gate_shadow_records_total`.
pub const SHADOW_RECORDS: Metric = Metric { name: "contract_gate_shadow_records_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Records a shadow contract version judged beside the active one, by binding and outcome (both_valid, both_invalid, would_quarantine: invalid under the shadow only, would_pass: valid under the shadow only), and records it skipped because its queue was full (skipped).", labels: &["binding", "outcome"] };

/// `contract_gate_shadow_rule_violations_total`.
pub const SHADOW_RULE_VIOLATIONS: Metric = Metric { name: "contract_gate_shadow_rule_violations_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Records a shadow contract version would have quarantined, by binding and blocking rule id.", labels: &["binding", "rule"] };

/// `contract_gate_shadow_breaker_transitions_total`.
pub const SHADOW_TRANSITIONS: Metric = Metric { name: "contract_gate_shadow_breaker_transitions_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Transitions of a shadow contract version's simulated breaker (this replica's records only), by binding and from/to state.", labels: &["binding", "from", "to"] };

/// `contract_gate_shadow_evaluations_total`.
pub const SHADOW_EVALUATIONS: Metric = Metric { name: "contract_gate_shadow_evaluations_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Shadow evaluations by binding and outcome (started, stopped: promoted, withdrawn or overtaken, refused: the version does not compile for the binding, failed).", labels: &["binding", "outcome"] };

/// Buckets of a canary's trip from the source topic to the validated topic: a few milliseconds
/// on a quiet gate, up to the deadline (a minute by default) when something is stuck.
const CANARY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// `contract_gate_canary_records_total`.
pub const CANARY_RECORDS: Metric = Metric { name: "contract_gate_canary_records_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Canary records of a binding by outcome: sent (written to the source topic), send_failed, delivered (seen on the validated topic in time), late (seen after its deadline), missed (not seen by its deadline), invalid (the canary failed the contract and went to quarantine).", labels: &["binding", "outcome"] };

/// `contract_gate_canary_latency_seconds`.
pub const CANARY_LATENCY: Metric = Metric { name: "contract_gate_canary_latency_seconds", kind: Kind::Histogram(CANARY_BUCKETS), unit: Some(Unit::Seconds), help: "Time from writing a canary record to the source topic to reading it on the validated topic: the gate's whole path, end to end.", labels: &["binding"] };

/// `contract_gate_pattern_refreshes_total`.
pub const PATTERN_REFRESHES: Metric = Metric { name: "contract_gate_pattern_refreshes_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Listings of the cluster's topics for pattern bindings (a source starting with ^) by outcome: listed, failed (tried again at the next kafka.pattern_refresh).", labels: &["outcome"] };

/// `contract_gate_pattern_topics_total`.
pub const PATTERN_TOPICS: Metric = Metric { name: "contract_gate_pattern_topics_total", kind: Kind::Counter, unit: Some(Unit::Count), help: "Topics a pattern binding matched, by the config binding and outcome: bound (its binding, outputs and tasks are running), refused (it could not be bound; tried again at each refresh, counted once per distinct reason).", labels: &["binding", "outcome"] };

/// Every metric the gate process exports.
pub const ALL: [Metric; 34] = [
    RECORDS,
    RULE_VIOLATIONS,
    DECODE_ERRORS,
    SCHEMA_FETCHES,
    SOURCE_PAUSED,
    STRICT_DIVERTED,
    RELEASED_RECORDS,
    PRODUCE_FAILURES,
    RECORDS_STUBBED,
    BREAKER_TRANSITIONS,
    BREAKER_STATE,
    FLUSH_DURATION,
    STORE_DEGRADED,
    WINDOW_RULE_RATIO,
    WINDOW_RULE_ROWS,
    WINDOW_RULE_SECONDS,
    WINDOW_RULE_SCORE,
    RECORD_AGE_P95,
    PROBE_RECORDS,
    SOURCE_IDLE,
    CONSUMER_LAG,
    CONTRACT_RELOADS,
    BUILD_INFO,
    REGISTRY_PUSHES,
    REGISTRY_SCHEMA_REQUESTS,
    REGISTRY_SCHEMA_REGISTRATIONS,
    SHADOW_RECORDS,
    SHADOW_RULE_VIOLATIONS,
    SHADOW_TRANSITIONS,
    SHADOW_EVALUATIONS,
    CANARY_RECORDS,
    CANARY_LATENCY,
    PATTERN_REFRESHES,
    PATTERN_TOPICS,
];

/// The gauge that carries a window rule's value in `unit`, and the factor from the rule's
/// unit to the gauge's (percent → ratio: 0.01).
#[must_use]
pub const fn window_rule_gauge(unit: RuleUnit) -> (&'static Metric, f64) {
    match unit {
        RuleUnit::Percent => (&WINDOW_RULE_RATIO, 0.01),
        RuleUnit::Rows => (&WINDOW_RULE_ROWS, 1.0),
        RuleUnit::Seconds => (&WINDOW_RULE_SECONDS, 1.0),
        RuleUnit::Score => (&WINDOW_RULE_SCORE, 1.0),
    }
}

/// The Prometheus exporter configured for these metrics: every histogram with its buckets
/// (without them the exporter renders summaries, whose quantiles cannot be aggregated over
/// replicas).
///
/// # Errors
/// A histogram listed without buckets.
pub fn builder() -> Result<PrometheusBuilder, BuildError> {
    ALL.iter().try_fold(PrometheusBuilder::new(), |b, m| match m.kind {
        Kind::Histogram(buckets) => b.set_buckets_for_metric(Matcher::Full(m.name.to_string()), buckets),
        Kind::Counter | Kind::Gauge => Ok(b),
    })
}

/// How often the installed recorder folds histogram samples into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder ([`builder`]), registers every metric's HELP text and
/// sets `contract_gate_build_info`. Call once at startup, before anything is emitted.
///
/// # Errors
/// A recorder is already installed.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = builder()?.install_recorder()?;
    describe();
    record_build_info();
    // Histogram samples wait in the recorder until a scrape or an upkeep folds them into
    // buckets: without a scraper (no Prometheus yet, or one that stopped) they would pile up
    // for as long as the gate runs. A thread, not a task: the demo installs the recorder
    // before its runtime exists.
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
        std::thread::sleep(UPKEEP_EVERY);
        upkeep.run_upkeep();
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started: histogram samples are folded at each scrape only");
    }
    Ok(handle)
}

/// Registers the HELP text and unit of every metric in [`ALL`] with the current recorder.
pub fn describe() {
    metrics::with_recorder(|r| {
        for m in ALL {
            let (name, help) = (KeyName::from_const_str(m.name), SharedString::const_str(m.help));
            match m.kind {
                Kind::Counter => r.describe_counter(name, m.unit, help),
                Kind::Gauge => r.describe_gauge(name, m.unit, help),
                Kind::Histogram(_) => r.describe_histogram(name, m.unit, help),
            }
        }
    });
}

/// Sets `contract_gate_build_info` to 1 with this binary's labels.
pub fn record_build_info() {
    let [version, librdkafka, features] = build_info_labels();
    gauge!(BUILD_INFO.name, "version" => version, "librdkafka" => librdkafka, "librdkafka_features" => features).set(1.0);
}

/// The label values of `contract_gate_build_info`, fixed when the binary was built: the crate
/// version, the version of the librdkafka headers it was compiled against, and the features
/// compiled into that librdkafka (`builtin.features`).
#[must_use]
pub fn build_info_labels() -> [String; 3] {
    // 0xMMmmrrpp: major, minor, revision, pre-release (0xff for a release).
    let v = rdkafka::bindings::RD_KAFKA_VERSION;
    let librdkafka = format!("{}.{}.{}", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
    let features = crate::kafka::librdkafka_features();
    [env!("CARGO_PKG_VERSION").to_string(), librdkafka, features]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit a name's last word promises, and the kinds it fits.
    fn suffix_unit(name: &str) -> Option<(Option<Unit>, &'static [&'static str])> {
        let word = name.rsplit('_').next()?;
        Some(match word {
            "total" => (Some(Unit::Count), &["counter"]),
            "seconds" => (Some(Unit::Seconds), &["gauge", "histogram"]),
            "records" | "rows" => (Some(Unit::Count), &["gauge"]),
            "ratio" | "score" | "info" => (None, &["gauge"]),
            _ => return None,
        })
    }

    #[test]
    fn every_name_ends_in_the_unit_it_carries() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "names are distinct");
        for m in ALL {
            assert!(m.name.starts_with("contract_gate_"), "{}", m.name);
            assert!(!m.help.trim().is_empty(), "{} has HELP text", m.name);
            let (unit, kinds) = suffix_unit(m.name).unwrap_or_else(|| panic!("{}: no unit suffix", m.name));
            assert_eq!(m.unit, unit, "{}: described unit", m.name);
            assert!(kinds.contains(&m.kind.type_name()), "{}: a {} cannot end so", m.name, m.kind.type_name());
            if let Kind::Histogram(b) = m.kind {
                assert!(!b.is_empty() && b.windows(2).all(|w| w[0] < w[1]), "{}: buckets ascend", m.name);
            }
        }
    }

    #[test]
    fn each_rule_unit_has_a_gauge_of_its_own() {
        // (rule unit, gauge, factor to the base unit)
        let cases = [(RuleUnit::Percent, "contract_gate_window_rule_value_ratio", 0.01), (RuleUnit::Rows, "contract_gate_window_rule_value_rows", 1.0), (RuleUnit::Seconds, "contract_gate_window_rule_value_seconds", 1.0), (RuleUnit::Score, "contract_gate_window_rule_value_score", 1.0)];
        for (unit, name, factor) in cases {
            let (m, f) = window_rule_gauge(unit);
            assert_eq!((m.name, f), (name, factor), "{unit}");
            assert!(ALL.iter().any(|a| a.name == m.name), "{name} is listed");
        }
    }

    #[test]
    fn build_info_labels_are_the_compiled_versions() {
        let [version, librdkafka, features] = build_info_labels();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(librdkafka, rdkafka::util::get_rdkafka_version().1, "headers and library agree");
        assert!(features.contains("ssl"), "{features}");
    }
}
