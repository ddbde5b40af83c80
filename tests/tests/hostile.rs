//! The hostile-input corpus (tests/hostile/corpus.rs) through a live `serve` on real Kafka:
//! each hostile record lands in quarantine with its reason, the record loop keeps running, and
//! the good record produced after each one is validated.

#[path = "../hostile/corpus.rs"]
mod corpus;

use e2e::sidecar::{self, header_str, read_until};
use gate::config::Fallback;
use gate::serve::headers as h;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_record_is_quarantined_with_its_reason_and_the_next_flows() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("hostile");
    // The source takes the 11 MB record; the gate refuses it by its own limit (1 MiB).
    e2e::create_topic_with(&brokers, &src, 1, &[("max.message.bytes", "16777216"), ("segment.bytes", "67108864")]).await?;
    // Every second record is hostile: far over the default decode-error and failure limits,
    // so raised here — this test is about each record's fate, not the breaker's.
    let contract = sidecar::flights_contract().replacen(
        "schema:\n",
        "customProperties:\n  - property: gateMaxDecodeErrorPercent\n    value: 100\n  - property: gateMaxRecordFailurePercent\n    value: 100\nschema:\n",
        1,
    );
    let dir = sidecar::contracts_dir(&contract);
    let cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    let running = gate::serve::start(&cfg).await?;

    let hostile = corpus::records();
    let good: Vec<Vec<u8>> = sidecar::flights_sample().into_iter().filter(|r| !r["dep_time"].is_null() && !r["tailnum"].is_null()).take(hostile.len()).map(|r| r.to_string().into_bytes()).collect();
    anyhow::ensure!(good.len() == hostile.len(), "too few clean sample flights");
    let mut records = Vec::new();
    for (i, (bad, ok)) in hostile.iter().zip(&good).enumerate() {
        records.push((format!("bad-{i}"), bad.bytes.clone()));
        records.push((format!("good-{i}"), ok.clone()));
    }
    let p: rdkafka::producer::FutureProducer = e2e::producer_config(&brokers).set("message.max.bytes", "16777216").create()?;
    sidecar::produce(&p, &src, &records).await?;

    let reader: StreamConsumer = e2e::consumer_config(&brokers, &e2e::unique_name("reader")).set("fetch.max.bytes", "20000000").create()?;
    let topics: Vec<String> = ["validated", "quarantine", "held"].iter().map(|o| format!("{src}.{o}")).collect();
    reader.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    let msgs = read_until(&reader, T, |ms| ms.len() >= records.len()).await?;
    // By key: the output topic and the reason header.
    let mut seen: HashMap<String, (String, Option<String>)> = HashMap::new();
    for m in &msgs {
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        let output = m.topic().rsplit('.').next().unwrap_or_default().to_string();
        anyhow::ensure!(seen.insert(key.clone(), (output, header_str(m, h::REASON))).is_none(), "{key} routed twice");
    }
    anyhow::ensure!(seen.len() == records.len(), "{} of {} records routed", seen.len(), records.len());
    for (i, bad) in hostile.iter().enumerate() {
        let (output, reason) = &seen[&format!("bad-{i}")];
        anyhow::ensure!(output == "quarantine", "{}: went to {output}", bad.name);
        let reason = reason.as_deref().unwrap_or_default();
        anyhow::ensure!(reason.contains(bad.reason), "{}: reason {reason:?} lacks {:?}", bad.name, bad.reason);
        let (after, _) = &seen[&format!("good-{i}")];
        anyhow::ensure!(after == "validated", "the good record after {} went to {after}", bad.name);
    }
    anyhow::ensure!(!running.pipeline.is_finished(), "the record loop stopped");
    sidecar::stop(running).await
}
