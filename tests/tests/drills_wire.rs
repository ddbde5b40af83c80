//! Drills on JSON Schema and Protobuf bindings against real Kafka, with the gate's own Schema
//! Registry API: the drill registers the example writer schema as the producers' schema,
//! writes the baseline in the Confluent wire format, and for a type change registers a
//! drifted writer schema under a subject of its own; the gate, reading writer schemas by id
//! from the same registry, must quarantine every injected record as schema drift.

use e2e::drill_rig::{drill_contract, Rig};
use e2e::sidecar::{self, header_str, read_until};
use gate::config::PayloadFormat;
use gate::drill::hypothesis::{Expect, HypothesisSpec};
use gate::drill::Step;
use std::time::Duration;

/// A type drift on `dep_delay` at 4 % of records for 4 s, under the 5 % record-failure rate:
/// every injected record quarantined as `$.schema` by its new writer schema, none leaked, the
/// breaker never moved.
async fn type_drift_is_quarantined_as_schema_drift(name: &str, format: PayloadFormat, schema: &str, writer_words: &str) -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, name, &drill_contract(), Some((format, schema))).await?;
    let step = Step {
        scenario: "schema-drift-type".into(),
        share: Some(0.04),
        duration: Some(Duration::from_secs(4)),
        hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() },
        ..Step::default()
    };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(r.measured.breaker_sequence, vec!["closed".to_string()]);
    // Caught by the writer schema's id, as a producer's new schema would be.
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    assert!(!q.is_empty(), "nothing quarantined");
    assert_eq!(header_str(&q[0], gate::serve::headers::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    let reason = header_str(&q[0], gate::serve::headers::REASON).unwrap_or_default();
    assert!(reason.contains(writer_words), "{reason}");
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    type_drift_is_quarantined_as_schema_drift("drill-jsonschema", PayloadFormat::JsonSchema, "flights/flights.schema.json", "dep_delay: contract number, writer [string, null]").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    type_drift_is_quarantined_as_schema_drift("drill-protobuf", PayloadFormat::Protobuf, "flights/flights.proto", "dep_delay: contract number, writer").await
}

/// Enum drift on a Protobuf enum: the drill registers the enum with a symbol more, which the
/// gate accepts as a writer schema (an enum is the contract's string), so each record with the
/// new symbol fails `origin`'s validValues rule, record by record, as on JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_enum_drift_is_a_new_symbol_caught_by_the_valid_values_rule() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-protobuf-enum", &drill_contract(), Some((PayloadFormat::Protobuf, "flights/flights.proto"))).await?;
    let step = Step {
        scenario: "enum-drift".into(),
        field: Some("origin".into()),
        share: Some(0.04),
        duration: Some(Duration::from_secs(4)),
        hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() },
        ..Step::default()
    };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    // The drill rewrites `origin` on a real flight; a cancelled one also carries its own nulls
    // (`dep_time_nulls`, `tailnum_nulls`), which the verdict lists beside the injected fault.
    let listed: Vec<String> = serde_json::from_str(&header_str(&q[0], gate::serve::headers::VIOLATIONS).unwrap_or_default())?;
    assert!(listed.iter().any(|r| r == "origin_nyc"), "{listed:?}");
    assert!(listed.iter().all(|r| r == "origin_nyc" || r.ends_with("_nulls")), "{listed:?}");
    rig.stop().await
}

/// Torn bodies, a wrong magic byte and an unknown schema id in the JSON Schema wire format:
/// every one a decode error, none validated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_malformed_bytes_never_reach_validated() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-jsonschema-bytes", &drill_contract(), Some((PayloadFormat::JsonSchema, "flights/flights.schema.json"))).await?;
    let step = Step { scenario: "malformed-bytes".into(), share: Some(0.1), duration: Some(Duration::from_secs(5)), records: Some(30), ..Step::default() };
    let r = rig.drill(step).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!((r.measured.injected, r.measured.leaked, r.measured.quarantined), (30, 0, 30));
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| m.len() >= 3).await?;
    let reasons: Vec<String> = q.iter().filter_map(|m| header_str(m, gate::serve::headers::REASON)).collect();
    for words in ["magic byte", "is not in the schema registry"] {
        assert!(reasons.iter().any(|r| r.contains(words)), "no {words:?} among {reasons:#?}");
    }
    rig.stop().await
}
