//! The last-good index: latest valid record per key, rebuilt from the compacted
//! `<src>.last-good` topic so that a restarted gate can serve stale snapshots at once.

use super::binding::{BindingRuntime, LastGoodRecord};
use crate::kafka::client_config;
use crate::config::GateConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::warn;

/// Reads the binding's last-good topic from the beginning to its current end and fills the
/// index. Returns the number of keys.
///
/// # Errors
/// Kafka errors other than "no such topic yet".
pub async fn rebuild(cfg: &GateConfig, b: &BindingRuntime) -> Result<usize, KafkaError> {
    let cfg = client_config(cfg);
    let topic = b.topics.get(crate::output::Output::LastGood).to_string();
    // The blocking consumer runs off the async runtime (its calls block).
    let entries = match tokio::task::spawn_blocking(move || read_all(&cfg, &topic)).await {
        Ok(r) => r?,
        Err(e) => {
            tracing::warn!(binding = %b.cfg.name, error = %e, "last-good rebuild task failed; starting with an empty index");
            Vec::new()
        }
    };
    for (key, snap) in entries {
        b.remember(key, snap);
    }
    Ok(b.last_good_len())
}

type Entry = (Vec<u8>, Option<LastGoodRecord>);

fn read_all(cfg: &rdkafka::ClientConfig, topic: &str) -> Result<Vec<Entry>, KafkaError> {
    // read_committed: in exactly-once mode an aborted batch's snapshots were never served.
    // partition EOF: a transactional topic ends in a commit marker that is never delivered, so
    // "reached the last offset" would never come and the rebuild would wait out its deadline.
    let consumer: BaseConsumer = cfg
        .clone()
        .set("group.id", "contract-gate-last-good-rebuild")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) else { return Ok(Vec::new()) };
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in t.partitions() {
        let (low, high) = watermarks(&consumer, topic, p.id())?;
        if high > low {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
            ends.push((p.id(), high));
        }
    }
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let mut done = vec![false; ends.len()];
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.iter().any(|d| !d) && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
        let msg = match msg {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(p)) => {
                if let Some(i) = ends.iter().position(|(q, _)| *q == p) {
                    done[i] = true;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(i) = ends.iter().position(|(p, _)| *p == msg.partition()) {
            if msg.offset() + 1 >= ends[i].1 {
                done[i] = true;
            }
        }
        let Some(key) = msg.key() else { continue };
        let header = |name: &str| msg.headers().and_then(|h| h.iter().find(|x| x.key == name).and_then(|x| x.value).and_then(|v| std::str::from_utf8(v).ok()).and_then(|s| s.parse::<i64>().ok()));
        let snap = msg.payload().filter(|p| !p.is_empty()).map(|p| LastGoodRecord {
            payload: p.to_vec(),
            partition: header(super::headers::SOURCE_PARTITION).and_then(|x| i32::try_from(x).ok()).unwrap_or(msg.partition()),
            offset: header(super::headers::SOURCE_OFFSET).unwrap_or(msg.offset()),
            timestamp: header(super::headers::SOURCE_TIMESTAMP),
        });
        out.push((key.to_vec(), snap));
    }
    // Drop the list-holding assignment before the consumer (dropping in the other order can hang).
    drop(tpl);
    drop(consumer);
    Ok(out)
}

/// Watermarks, retried while a freshly created topic has no leader yet.
fn watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            Ok(w) => return Ok(w),
            Err(e) if Instant::now() < deadline && e.rdkafka_error_code().is_some_and(|c| matches!(c, rdkafka::types::RDKafkaErrorCode::NotLeaderForPartition | rdkafka::types::RDKafkaErrorCode::LeaderNotAvailable | rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes changed snapshots to `<src>.last-good` every `interval` (and once more at shutdown):
/// each changed key once per pass, with the snapshot's source coordinates as headers, in the
/// source partition when the topic has it. A failed write is logged and retried with the
/// key's next change or the next pass's: the index topic only serves restarts and replicas.
pub async fn writer(b: std::sync::Arc<BindingRuntime>, producer: rdkafka::producer::FutureProducer, partitions: Option<i32>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.changed() => true,
        };
        let staged = b.take_staged();
        let mut acks = Vec::with_capacity(staged.len());
        for (key, snap) in &staged {
            let source = super::headers::SourceCoords { topic: &b.cfg.source, partition: snap.partition, offset: snap.offset, timestamp: snap.timestamp };
            let headers = super::headers::with_coordinates(rdkafka::message::OwnedHeaders::new_with_capacity(4), &source);
            let mut rec = rdkafka::producer::FutureRecord::to(b.topics.get(crate::output::Output::LastGood)).key(key.as_slice()).payload(snap.payload.as_slice()).headers(headers);
            if let Some(t) = snap.timestamp {
                rec = rec.timestamp(t);
            }
            if let Some(p) = super::topology::output_partition(partitions, snap.partition) {
                rec = rec.partition(p);
            }
            match producer.send_result(rec) {
                Ok(f) => acks.push(f),
                Err((e, _)) => warn!(binding = %b.cfg.name, error = %e, "last-good write not queued"),
            }
        }
        for f in acks {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => warn!(binding = %b.cfg.name, error = %e, "last-good write failed"),
                Err(_) => warn!(binding = %b.cfg.name, "last-good write dropped"),
            }
        }
        if stop {
            return;
        }
    }
}
