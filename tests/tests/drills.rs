//! Chaos drills against real Kafka and Redis with an in-process gate: a short suite at small
//! rates. Each drill runs the whole cycle — warm-up, steady state, fault, recovery — and must
//! pass its hypothesis: record-level faults leak nothing, window faults trip and recover. The
//! Avro drills run the same cycle on a binding in the Confluent wire format.

use e2e::drill_rig::{drill_contract, Rig};
use e2e::sidecar::{self, header_str, read_until};
use gate::config::PayloadFormat;
use gate::drill::hypothesis::{Expect, HypothesisSpec};
use gate::drill::{DrillReport, Step};
use std::time::Duration;

/// The Avro rigs' wire format and producers' schema.
const AVRO: Option<(PayloadFormat, &str)> = Some((PayloadFormat::Avro, "flights/flights.avsc"));

fn step(scenario: &str, share: f64, secs: u64) -> Step {
    Step { scenario: scenario.into(), share: Some(share), duration: Some(Duration::from_secs(secs)), ..Step::default() }
}

fn seq(r: &DrillReport) -> Vec<&str> {
    r.measured.breaker_sequence.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_quarantined_without_a_trip() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-schema", &drill_contract(), None).await?;
    // 4 % of records carry dep_delay as a string: under the 5 % record-failure rate, so every
    // one must be quarantined and the breaker must stay closed.
    let s = Step { hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() }, ..step("schema-drift", 0.04, 4) };
    let r = rig.drill(s).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(seq(&r), vec!["closed"]);
    assert!(r.measured.time_to_detect_ms.is_some_and(|t| t < 10_000));
    assert!(r.steady.records > 0 && r.steady.latency_p50_ms.is_some(), "{:?}", r.steady);
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_burst_trips_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-nulls", &drill_contract(), None).await?;
    let r = rig.drill(step("null-burst", 0.5, 3)).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("dep_time_nulls"));
    let s = seq(&r);
    assert_eq!((s.first(), s.get(1), s.last()), (Some(&"closed"), Some(&"open"), Some(&"closed")), "{s:?}");
    // Records after the trip were held, not validated.
    assert!(r.measured.diverted > 0, "{:?}", r.measured);
    assert_eq!(r.measured.quarantined, 0, "nulls in dep_time are valid records");
    // The default hypothesis asserts the breaker's promise: nothing through a failed probe,
    // no re-trip after the close.
    let asserted: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
    assert!(asserted.contains(&"probe leak") && asserted.contains(&"no re-trip"), "{asserted:?}");
    assert_eq!((r.measured.leaked_after_trip, r.measured.retrips), (0, 0), "{:?}", r.measured);
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bytes_never_reach_validated() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-bytes", &drill_contract(), None).await?;
    let r = rig.drill(Step { records: Some(30), ..step("malformed-bytes", 0.1, 5) }).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.injected, 30);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, 30));
    // 30 torn records against a 1 % decode-error limit: the breaker trips too, and recovers.
    assert_eq!(r.measured.trip_rule.as_deref(), Some("$.decodeErrors"));
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_trips_the_watchdog_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let contract = drill_contract().replace("  - property: frequency\n    value: 10\n", "  - property: frequency\n    value: 3\n");
    assert!(contract.contains("frequency\n    value: 3\n"));
    let rig = Rig::start(&brokers, "drill-silence", &contract, None).await?;
    let r = rig.drill(Step { scenario: "silence".into(), duration: Some(Duration::from_secs(6)), ..Step::default() }).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("time_hour.frequency"));
    let trip = r.measured.time_to_trip_ms.unwrap_or(0);
    assert!((3_000..6_000).contains(&trip), "tripped {trip} ms into a 6 s silence with a 3 s SLA");
    assert_eq!(r.measured.injected, 0);
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_type_drift_is_a_new_writer_schema_quarantined_as_schema_drift() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-avro-schema", &drill_contract(), AVRO).await?;
    let s = Step { hypothesis: HypothesisSpec { trip: Some(Expect::Forbidden), ..HypothesisSpec::default() }, ..step("schema-drift-type", 0.04, 4) };
    let r = rig.drill(s).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert!(r.measured.injected >= 8, "{}", r.measured.injected);
    assert_eq!((r.measured.leaked, r.measured.quarantined), (0, r.measured.injected));
    assert_eq!(seq(&r), vec!["closed"]);
    // Caught as the gate catches a producer's new schema: by its id, not field by field.
    let q = read_until(&sidecar::reader(&brokers, rig.target.binding.topics().get(gate::output::Output::Quarantine))?, Duration::from_secs(30), |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], gate::serve::headers::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    let reason = header_str(&q[0], gate::serve::headers::REASON).unwrap_or_default();
    assert!(reason.contains("dep_delay: contract number, writer union [null, string]"), "{reason}");
    rig.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_null_burst_trips_and_recovers() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let rig = Rig::start(&brokers, "drill-avro-nulls", &drill_contract(), AVRO).await?;
    let r = rig.drill(step("null-burst", 0.5, 3)).await?;
    assert!(r.passed, "{:#?}", r.checks);
    assert_eq!(r.measured.trip_rule.as_deref(), Some("dep_time_nulls"));
    let s = seq(&r);
    assert_eq!((s.first(), s.get(1), s.last()), (Some(&"closed"), Some(&"open"), Some(&"closed")), "{s:?}");
    assert_eq!(r.measured.quarantined, 0, "nulls in dep_time are valid records of the producers' schema");
    rig.stop().await
}
