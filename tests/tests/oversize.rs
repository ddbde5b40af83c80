//! Records no output takes, on real Kafka: a 2 MB record on a source that allows it, and a
//! record the broker refuses after the send. Each goes to quarantine as a stub naming it (source
//! coordinates, size, SHA-256), the gate keeps running, and every record after it is routed.
//! If not even the stub is taken, that partition stops and the others go on.

use e2e::sidecar::{self, header_str, read_until};
use gate::config::{DeliveryMode, Fallback};
use gate::serve::headers as h;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Flights without cancellations or missing tail numbers, keyed `<prefix>-<i>`: no window rule
/// of the example contract can breach on them.
fn good(prefix: &str, n: usize, skip: usize) -> Vec<(String, Vec<u8>)> {
    let clean: Vec<Value> = sidecar::flights_sample().into_iter().filter(|r| !r["dep_time"].is_null() && !r["tailnum"].is_null()).collect();
    clean.iter().skip(skip).take(n).enumerate().map(|(i, r)| (format!("{prefix}-{i}"), r.to_string().into_bytes())).collect()
}

/// Reads `outputs` of `src` until `n` distinct (partition, offset) pairs were seen.
async fn outputs(brokers: &str, src: &str, names: &[&str], n: usize) -> anyhow::Result<HashMap<(i32, i64), (String, OwnedMessage)>> {
    let reader: StreamConsumer = e2e::consumer_config(brokers, &e2e::unique_name("reader")).set("fetch.max.bytes", "10000000").create()?;
    let topics: Vec<String> = names.iter().map(|o| format!("{src}.{o}")).collect();
    reader.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut seen = HashMap::new();
    let _ = read_until(&reader, T, |ms| {
        seen.clear();
        for m in ms {
            let coord = header_str(m, h::SOURCE_PARTITION).and_then(|p| p.parse().ok()).zip(header_str(m, h::SOURCE_OFFSET).and_then(|o| o.parse().ok()));
            if let Some(c) = coord {
                seen.insert(c, (m.topic().rsplit('.').next().unwrap_or_default().to_string(), m.clone()));
            }
        }
        seen.len() >= n
    })
    .await?;
    anyhow::ensure!(seen.len() == n, "{} of {n} source records in {names:?}", seen.len());
    Ok(seen)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets a topic's `max.message.bytes` and waits until the broker reports it.
async fn limit_topic(brokers: &str, topic: &str, bytes: &str) -> anyhow::Result<()> {
    let admin = e2e::admin(brokers)?;
    let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set("max.message.bytes", bytes);
    admin.alter_configs([&alter], &AdminOptions::new()).await?.into_iter().map(|r| r.map_err(|(_, e)| anyhow::anyhow!("alter {topic}: {e}"))).collect::<anyhow::Result<Vec<_>>>()?;
    e2e::wait_until(&format!("{topic} max.message.bytes = {bytes}"), T, || async {
        let got = admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()).await.ok()?;
        let value = got.into_iter().flatten().next()?.get("max.message.bytes")?.value.clone()?;
        (value == bytes).then_some(())
    })
    .await
}

/// An invalid flight (unknown carrier) padded to about `pad` bytes with an extra field of
/// letters that do not compress (the gate's producer compresses, and the broker judges the
/// compressed batch).
fn padded_invalid(pad: usize) -> Vec<u8> {
    let mut r = good("x", 1, 0).remove(0).1;
    let mut v: Value = serde_json::from_slice(&r).unwrap_or_default();
    v["carrier"] = Value::from("ZZ");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..pad)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + u8::try_from(x % 26).unwrap_or(0))
        })
        .collect();
    v["note"] = Value::from(noise);
    r.clear();
    r.extend(v.to_string().into_bytes());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2mb_record_is_quarantined_as_a_stub_and_the_records_after_it_flow() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("twomb");
    // The source allows it; the gate's outputs (1 MiB limit plus headroom) do not.
    e2e::create_topic_with(&brokers, &src, 1, &[("max.message.bytes", "4194304")]).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    let running = gate::serve::start(&cfg).await?;
    let p: rdkafka::producer::FutureProducer = e2e::producer_config(&brokers).set("message.max.bytes", "4194304").create()?;
    sidecar::produce(&p, &src, &good("before", 100, 0)).await?;
    let mut big: Value = serde_json::from_slice(&good("big", 1, 100)[0].1)?;
    big["note"] = Value::from("x".repeat(2 * 1024 * 1024));
    let big = big.to_string().into_bytes();
    sidecar::produce(&p, &src, &[("big".to_string(), big.clone())]).await?;
    sidecar::produce(&p, &src, &good("after", 100, 101)).await?;

    let seen = outputs(&brokers, &src, &["validated", "quarantine", "held"], 201).await?;
    let (output, stub) = seen.get(&(0, 100)).ok_or_else(|| anyhow::anyhow!("offset 100 in no output"))?;
    anyhow::ensure!(output == "quarantine", "the 2 MB record went to {output}");
    anyhow::ensure!(header_str(stub, h::STUB).as_deref() == Some("true"), "not marked as a stub");
    let body = sidecar::json_of(stub);
    anyhow::ensure!(body["sha256"] == sha256_hex(&big) && body["size_bytes"] == big.len() && body["source_offset"] == 100, "stub body: {body}");
    anyhow::ensure!(stub.payload().map_or(0, <[u8]>::len) < 4096, "the stub carries the payload");
    anyhow::ensure!(header_str(stub, h::REASON).is_some_and(|r| r.contains("bytes")), "reason: {:?}", header_str(stub, h::REASON));
    let validated = seen.values().filter(|(o, m)| o == "validated" && m.key().is_some_and(|k| k.starts_with(b"after-"))).count();
    anyhow::ensure!(validated == 100, "{validated} of the 100 records after it validated");
    anyhow::ensure!(!running.pipeline.is_finished(), "the record loop stopped");
    sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_broker_refuses_after_the_send_is_stubbed() -> anyhow::Result<()> {
    refused_after_the_send(DeliveryMode::AtLeastOnce).await
}

/// Inside a transaction the refusal makes the whole batch abortable: the batch is aborted and
/// read again, the refused record as its stub, and every record lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_a_record_the_broker_refuses_after_the_send_is_stubbed() -> anyhow::Result<()> {
    refused_after_the_send(DeliveryMode::ExactlyOnce).await
}

async fn refused_after_the_send(mode: DeliveryMode) -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("refused");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    cfg.delivery.mode = mode;
    let running = gate::serve::start(&cfg).await?;
    // Lowered after the gate read its outputs' limits: only the broker knows.
    limit_topic(&brokers, &format!("{src}.quarantine"), "3000").await?;
    let p = e2e::producer(&brokers)?;
    sidecar::produce(&p, &src, &good("before", 50, 0)).await?;
    let bad = padded_invalid(10_000);
    sidecar::produce(&p, &src, &[("bad".to_string(), bad.clone())]).await?;
    sidecar::produce(&p, &src, &good("after", 50, 51)).await?;
    let seen = outputs(&brokers, &src, &["validated", "quarantine", "held"], 101).await?;
    let (output, stub) = seen.get(&(0, 50)).ok_or_else(|| anyhow::anyhow!("offset 50 in no output"))?;
    anyhow::ensure!(output == "quarantine" && header_str(stub, h::STUB).as_deref() == Some("true"), "the refused record: {output}, stub {:?}", header_str(stub, h::STUB));
    let body = sidecar::json_of(stub);
    anyhow::ensure!(body["sha256"] == sha256_hex(&bad) && body["error"].as_str().is_some_and(|e| e.contains("quarantine")), "stub body: {body}");
    // Under exactly-once an aborted batch is judged again when read again, so its records
    // count twice in the window: the invalid one may trip the breaker and hold the rest.
    let routed = if mode == DeliveryMode::ExactlyOnce { &["validated", "held"][..] } else { &["validated"][..] };
    let validated = seen.values().filter(|(o, m)| routed.contains(&o.as_str()) && m.key().is_some_and(|k| k.starts_with(b"after-"))).count();
    anyhow::ensure!(validated == 50, "{validated} of the 50 records after it reached {routed:?}");
    anyhow::ensure!(!running.pipeline.is_finished(), "the record loop stopped");
    if mode == DeliveryMode::ExactlyOnce {
        // Each source record once, the aborted batch's outputs invisible.
        let names: Vec<String> = ["validated", "quarantine", "held"].iter().map(|o| format!("{src}.{o}")).collect();
        sidecar::account(&brokers, &names, 101, T).await?;
    }
    sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_stub_is_refused_stops_its_partition_only() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("stubless");
    e2e::create_topic(&brokers, &src, 2).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    let running = gate::serve::start(&cfg).await?;
    // Too small for any quarantine record, a stub included.
    limit_topic(&brokers, &format!("{src}.quarantine"), "200").await?;
    let p = e2e::producer(&brokers)?;
    let send = |key: String, value: Vec<u8>, partition: i32| {
        let p = p.clone();
        let src = src.clone();
        async move {
            let rec = rdkafka::producer::FutureRecord::to(&src).key(&key).payload(&value).partition(partition);
            p.send(rec, Duration::from_secs(10)).await.map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))
        }
    };
    send("bad".into(), padded_invalid(10), 0).await?;
    for (i, (k, v)) in good("p1", 40, 0).into_iter().enumerate() {
        send(k, v, 1).await?;
        anyhow::ensure!(i < 40);
    }
    // Partition 1 flows on; partition 0 stopped at its first record.
    let seen = outputs(&brokers, &src, &["validated", "quarantine", "held"], 40).await?;
    anyhow::ensure!(seen.keys().all(|(part, _)| *part == 1), "partition 0 wrote: {:?}", seen.keys().filter(|(p, _)| *p == 0).collect::<Vec<_>>());
    anyhow::ensure!(!running.pipeline.is_finished(), "the record loop stopped");
    sidecar::stop(running).await?;
    // Nothing of partition 0 was committed past the record.
    let probe: rdkafka::consumer::BaseConsumer = e2e::consumer_config(&brokers, &format!("{src}-gate")).create()?;
    let committed = probe.committed_offsets(tpl_for(&src, 0), Duration::from_secs(10))?;
    let at = committed.find_partition(&src, 0).map(|e| e.offset());
    anyhow::ensure!(matches!(at, Some(rdkafka::Offset::Invalid | rdkafka::Offset::Offset(0)) | None), "partition 0 committed at {at:?}");
    // Once the topic takes it, a restart delivers the record whole and commits past it.
    limit_topic(&brokers, &format!("{src}.quarantine"), "1048588").await?;
    let again = gate::serve::start(&cfg).await?;
    let seen = outputs(&brokers, &src, &["quarantine"], 1).await?;
    let (_, rec) = seen.get(&(0, 0)).ok_or_else(|| anyhow::anyhow!("partition 0 offset 0 not delivered after the restart: {:?}", seen.keys()))?;
    anyhow::ensure!(header_str(rec, h::STUB).is_none() && rec.payload() == Some(padded_invalid(10).as_slice()), "not delivered whole");
    sidecar::stop(again).await?;
    let committed = probe.committed_offsets(tpl_for(&src, 0), Duration::from_secs(10))?;
    let at = committed.find_partition(&src, 0).map(|e| e.offset());
    anyhow::ensure!(at == Some(rdkafka::Offset::Offset(1)), "partition 0 committed at {at:?} after the restart");
    Ok(())
}

fn tpl_for(topic: &str, partition: i32) -> rdkafka::TopicPartitionList {
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    tpl
}
