//! The exposition as Prometheus scrapes it: one of each event emitted into a recorder built as
//! `serve` builds it, rendered, and read back. Every `contract_gate_` family must be in the
//! catalog with its HELP, TYPE and label keys, latencies must be histograms with buckets, and
//! every window rule value must land in the gauge of its unit.

use super::catalog::{self, Kind, ALL};
use super::*;
use crate::demo::prom;
use contracts::{MetricKind, Operator, RuleResult, Unit};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::{BTreeMap, BTreeSet};

/// What the `# HELP` and `# TYPE` lines say about one family.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
}

/// Families by name from the comment lines.
fn families(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(4, ' ');
        let (Some("#"), Some(what), Some(name), Some(rest)) = (words.next(), words.next(), words.next(), words.next()) else { continue };
        let f = out.entry(name.to_string()).or_default();
        match what {
            "HELP" => f.help = Some(rest.to_string()),
            "TYPE" => f.kind = Some(rest.to_string()),
            _ => {}
        }
    }
    out
}

/// The family a sample belongs to: its name, or its name without a histogram series suffix.
fn family_of<'a>(sample: &'a str, fams: &BTreeMap<String, Family>) -> Option<&'a str> {
    if fams.contains_key(sample) {
        return Some(sample);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| sample.strip_suffix(s)).filter(|f| fams.get(*f).is_some_and(|f| f.kind.as_deref() == Some("histogram")))
}

fn rule(id: &str, unit: Unit, value: Option<f64>) -> RuleResult {
    RuleResult { id: id.into(), metric: MetricKind::NullValues, field: None, value, operator: Operator::MustBeLessThan(3.0), unit, passed: true, sample: None, enforcement: contracts::Enforcement::Window }
}

fn report(results: Vec<RuleResult>) -> breaker::FlushReport {
    // A probe of 40 records so far: every record is in scope of `$.recordFailures`.
    let failures = RuleResult { metric: MetricKind::RecordFailures, sample: Some(contracts::Sample { hits: 1, total: 40 }), ..rule("$.recordFailures", Unit::Percent, Some(2.5)) };
    let nulls = RuleResult { sample: Some(contracts::Sample { hits: 0, total: 38 }), ..rule("dep_time_nulls", Unit::Percent, Some(0.0)) };
    breaker::FlushReport { state: breaker::BreakerState::initial(0), source: breaker::Source::Shared, records: 10, warm: true, results, probe_results: Some(vec![nulls, failures]), breach: None, transition: None, error: None }
}

/// Emits one of each event (the sidecar's and the registry's) and renders the exposition.
fn render_one_of_each() -> String {
    let recorder = catalog::builder().expect("builder").build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        catalog::describe();
        catalog::record_build_info();
        let (b, topic) = ("flights", "flights");
        let kafka_error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        RouteCounters::new(b).routed(RouteLabel::To(Output::Validated));
        RuleViolated { binding: b, rule: "dep_time_nulls" }.emit();
        RecordRejected { binding: b, kind: DecodeFailure::Json }.emit();
        SchemaFetched { outcome: "ok" }.emit();
        PartitionFlowChanged { topic, partition: 0, before: Flow::Flowing, after: Flow::Paused { at: 5 }, moved: false }.emit();
        let r = rule("dep_time_nulls", Unit::Percent, Some(25.0));
        StrictFlushDiverted { binding: b, generation: 1, result: &r, records: 10 }.emit();
        BacklogReleased { binding: b, topic, partition: 0, from: 5, to: 9, action: PendingAction::Skip }.emit();
        BacklogReleaseFailed { binding: b, topic, partition: 0, action: PendingAction::Skip, error: &kafka_error }.emit();
        ProduceFailed { outcome: "stubbed", topic, partition: 0, offset: 7, output: Output::Validated, error: &kafka_error }.emit();
        RecordStubbed { binding: b, topic, partition: 0, offset: 7, size: 10, error: "too large" }.emit();
        let from = breaker::BreakerState::initial(0);
        let to = breaker::BreakerState { mode: Mode::Open, epoch: 2, ..from.clone() };
        BreakerTransitioned { binding: b, transition: &breaker::Transition { from, to } }.emit();
        let age = RuleResult { metric: MetricKind::RecordAge, enforcement: contracts::Enforcement::Report, ..rule("at.latency.recordAge", Unit::Seconds, Some(3_600.0)) };
        let results = vec![r, rule("rows", Unit::Rows, Some(500.0)), rule("fresh", Unit::Seconds, Some(12.0)), rule("psi", Unit::Score, Some(0.3)), rule("unmeasured", Unit::Percent, None), age];
        Flushed { binding: b, took: Duration::from_millis(3), report: &report(results), idle_seconds: 1.5 }.emit();
        ConsumerLag { binding: b, partition: 0, records: 42 }.emit();
        ContractReloaded { binding: b, contract: "flights", from: "1.0.0", to: "1.1.0", window_restarted: false }.emit();
        ContractReloadRefused { binding: b, contract: "flights", version: "2.0.0", staying_on: "1.1.0", error: "does not compile" }.emit();
        let rules = ["carrier_known".to_string()];
        shadow::ShadowCounters::new(b).judged(shadow::ShadowOutcome::WouldQuarantine, &rules);
        shadow::ShadowSkips::new(b).skipped();
        shadow::ShadowTransition { binding: b, version: "1.1.0", from: "closed", to: "open", reason: "breach" }.emit();
        shadow::ShadowStarted { binding: b, contract: "flights", version: "1.1.0", active: "1.0.0" }.emit();
        canary::CanaryEvent { binding: b, id: "r/1/0", outcome: canary::CanaryOutcome::Delivered, latency_ms: Some(12), detail: None }.emit();
        super::patterns::TopicsListed { failure: None }.emit();
        super::patterns::TopicMatched { pattern_binding: b, binding: "flights:t", topic: "t", refused: None }.emit();
        registry::events::ContractPushed { outcome: "created" }.emit();
        registry::events::SchemaRequested { operation: "register", outcome: "ok" }.emit();
        registry::events::SchemaRegistered { subject: "flights-value", outcome: "created", detail: None }.emit();
    });
    handle.render()
}

#[test]
fn every_family_is_listed_with_help_type_and_labels() {
    let text = render_one_of_each();
    let fams = families(&text);
    let listed: BTreeMap<&str, &Metric> = ALL.iter().map(|m| (m.name, m)).collect();
    let rendered: BTreeSet<&str> = fams.keys().map(String::as_str).filter(|n| n.starts_with("contract_gate_")).collect();
    assert_eq!(rendered, listed.keys().copied().collect::<BTreeSet<_>>(), "rendered families vs the catalog (an event missing here, or a metric missing from catalog::ALL)\n{text}");
    for (name, m) in &listed {
        let f = &fams[*name];
        assert_eq!(f.help.as_deref(), Some(m.help), "{name}: HELP");
        assert_eq!(f.kind.as_deref(), Some(m.kind.type_name()), "{name}: TYPE");
    }
    let mut buckets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for s in prom::parse(&text) {
        let fam = family_of(&s.name, &fams).unwrap_or_else(|| panic!("{}: a sample without TYPE", s.name));
        let m = listed[fam];
        let mut keys: BTreeSet<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
        if s.name.ends_with("_bucket") {
            assert!(keys.remove("le"), "{}: bucket without le", s.name);
            buckets.entry(m.name).or_default().insert(s.label("le").unwrap_or_default().to_string());
        }
        assert_eq!(keys, m.labels.iter().copied().collect(), "{}: label keys", s.name);
    }
    for m in ALL {
        if let Kind::Histogram(bounds) = m.kind {
            let les = buckets.get(m.name).unwrap_or_else(|| panic!("{}: no _bucket lines (rendered as a summary?)", m.name));
            assert_eq!(les.len(), bounds.len() + 1, "{}: one line per bucket and +Inf: {les:?}", m.name);
            assert!(les.contains("+Inf"), "{}", m.name);
        }
    }
    assert!(!text.contains(" summary\n") && !text.contains("quantile="), "no summaries:\n{text}");
}

#[test]
fn window_rule_values_land_in_the_gauge_of_their_unit() {
    let samples = prom::parse(&render_one_of_each());
    let value = |name: &str, rule: &str| samples.iter().find(|s| s.name == name && s.label("rule") == Some(rule)).map(|s| s.value);
    // (gauge, rule, value): percent as a 0-1 ratio, the others as they are.
    let cases = [
        ("contract_gate_window_rule_value_ratio", "dep_time_nulls", Some(0.25)),
        ("contract_gate_window_rule_value_rows", "rows", Some(500.0)),
        ("contract_gate_window_rule_value_seconds", "fresh", Some(12.0)),
        ("contract_gate_window_rule_value_score", "psi", Some(0.3)),
        // A latency SLA's p95 record age: reported in a gauge of its own.
        ("contract_gate_record_age_p95_seconds", "at.latency.recordAge", Some(3_600.0)),
    ];
    for (name, rule, want) in cases {
        assert_eq!(value(name, rule), want, "{name} {rule}");
        for other in cases.iter().map(|c| c.0).filter(|n| *n != name) {
            assert_eq!(value(other, rule), None, "{rule} only in {name}, not in {other}");
        }
    }
    assert!(samples.iter().all(|s| s.label("rule") != Some("unmeasured")), "a rule without a value sets no gauge");
    let probe = samples.iter().find(|s| s.name == "contract_gate_probe_records").map(|s| s.value);
    assert_eq!(probe, Some(40.0), "the probe's records: the most in scope of any rule");
}

#[test]
fn build_info_is_one_with_the_compiled_versions() {
    let samples = prom::parse(&render_one_of_each());
    let info: Vec<&prom::Sample> = samples.iter().filter(|s| s.name == "contract_gate_build_info").collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].value, 1.0);
    assert_eq!(info[0].label("version"), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(info[0].label("librdkafka"), Some(rdkafka::util::get_rdkafka_version().1.as_str()));
}
