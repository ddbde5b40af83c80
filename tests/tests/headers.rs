//! `headers: lean` on real Kafka: validated records carry the source's own headers and the
//! four a model's consumer needs (contract, version, verdict, breaker state); quarantine
//! keeps the full set, source coordinates included. A binding without `fallback: last_good`
//! keeps no last-good index and creates no topic for it.

use e2e::sidecar::{self, header_str, read_until};
use gate::config::{Fallback, HeaderProfile};
use gate::serve::headers as h;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lean_validated_records_carry_four_gate_headers_and_quarantine_all() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("lean");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    cfg.bindings[0].headers = HeaderProfile::Lean;
    let running = gate::serve::start(&cfg).await?;
    let sample = sidecar::flights_sample();
    let mut bad = sample[1].clone();
    bad["carrier"] = serde_json::Value::from("ZZ");
    let p = e2e::producer(&brokers)?;
    for (key, rec) in [("good", &sample[0]), ("bad", &bad)] {
        let payload = serde_json::to_vec(rec)?;
        let carried = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some("00-abc-01") });
        p.send(FutureRecord::to(&src).key(key).payload(&payload).headers(carried), Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    }
    let names = |m: &rdkafka::message::OwnedMessage| -> Vec<String> { m.headers().map(|hs| hs.iter().map(|x| x.key.to_string()).collect()).unwrap_or_default() };
    let validated = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(names(&validated[0]), ["traceparent", h::CONTRACT, h::CONTRACT_VERSION, h::VERDICT, h::BREAKER_STATE]);
    assert_eq!(header_str(&validated[0], h::VERDICT).as_deref(), Some("valid"));
    let quarantine = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    let full = names(&quarantine[0]);
    for name in [h::VIOLATIONS, h::SOURCE_TOPIC, h::SOURCE_PARTITION, h::SOURCE_OFFSET, h::SOURCE_TIMESTAMP, h::REASON] {
        assert!(full.iter().any(|n| n == name), "quarantine keeps {name}: {full:?}");
    }
    assert_eq!(header_str(&quarantine[0], h::SOURCE_OFFSET).as_deref(), Some("1"));
    // Under `hold` no last-good index is kept: no topic for it either.
    let meta = e2e::admin(&brokers)?.inner().fetch_metadata(None, Duration::from_secs(10))?;
    let names: Vec<&str> = meta.topics().iter().map(|t| t.name()).collect();
    assert!(names.contains(&format!("{src}.validated").as_str()), "{names:?}");
    assert!(!names.contains(&format!("{src}.last-good").as_str()), "a last-good topic under fallback: hold");
    sidecar::stop(running).await
}
