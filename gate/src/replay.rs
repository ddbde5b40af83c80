//! `contract-gate replay`: re-validate held records after a fix and route them again.
//!
//! Reads `--from` (normally `<src>.held`) with its own consumer group, up to the end the topic
//! had when the replay started, checks every record with the binding's current contract, and
//! sends it to validated or quarantine with fresh verdict headers and its original source
//! coordinates. Offsets are committed only after the outputs are acknowledged, so an
//! interrupted replay resumes where it stopped.

use crate::config::GateConfig;
use crate::serve::headers::{self, HeaderValues, SourceCoords};
use crate::serve::plan::VerdictTag;
use crate::kafka::{consumer_config, producer_config};
use crate::serve::ServeError;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a replay did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReplaySummary {
    /// Records read from the held topic.
    pub read: u64,
    /// Sent to validated.
    pub validated: u64,
    /// Sent to quarantine.
    pub quarantined: u64,
}

impl ReplaySummary {
    /// One line for people: what was read and where it went.
    #[must_use]
    pub fn table(&self) -> String {
        format!("replayed {} records: {} to validated, {} to quarantine\n", self.read, self.validated, self.quarantined)
    }
}

fn kerr(what: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> ServeError + '_ {
    crate::serve::kafka_err(what)
}

/// Replays `from` for binding `name`.
///
/// # Errors
/// Unknown binding, contract or Kafka failures.
pub async fn replay(cfg: &GateConfig, name: &str, from: Option<&str>) -> Result<ReplaySummary, ServeError> {
    let b = crate::config::pattern::concrete(cfg, name).map_err(|message| ServeError::Config(crate::config::ConfigError::Invalid { field: "--binding".into(), message }))?;
    let b = &b;
    let topics = b.topics();
    let from = from.unwrap_or(topics.get(crate::output::Output::Held)).to_string();
    let source = crate::contract_source::ContractSource::open(cfg).await?;
    let contract = std::sync::Arc::new(source.compile(&b.contract, b.object.as_deref(), b.version_req()?.as_ref()).map_err(|source| ServeError::BindingContract { binding: b.name.clone(), source: Box::new(source) })?);
    // Replay judges by the same object `serve` would, or refuses as `serve` does.
    crate::serve::binding::object_named_if_ambiguous(cfg, b, &contract)?;
    // Held records are in the binding's own format (Avro ones need their writer schemas).
    let decoder = crate::serve::decode::Decoder::new(cfg)?;
    let producer: FutureProducer = producer_config(cfg).create().map_err(kerr("replay producer"))?;
    let group = format!("{}-replay-{}", cfg.kafka.group_id, b.name);
    let consumer: BaseConsumer = consumer_config(cfg).set("group.id", &group).set("enable.auto.commit", "false").set("auto.offset.reset", "earliest").set("isolation.level", "read_committed").create().map_err(kerr("replay consumer"))?;

    // The end of each partition now: a replay is bounded, records held later wait for the next one.
    let md = consumer.fetch_metadata(None, Duration::from_secs(10)).map_err(kerr("listing topics"))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == from) else {
        return Err(ServeError::Config(crate::config::ConfigError::Invalid { field: "--from".into(), message: format!("topic {from:?} does not exist") }));
    };
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        let (_, high) = consumer.fetch_watermarks(&from, p.id(), Duration::from_secs(10)).map_err(kerr("replay"))?;
        ends.push((p.id(), high));
        tpl.add_partition(&from, p.id());
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).map_err(kerr("replay"))?;
    let mut assign = TopicPartitionList::new();
    let mut pending: Vec<(i32, i64)> = Vec::new();
    for (p, high) in &ends {
        let start = committed.find_partition(&from, *p).and_then(|e| e.offset().to_raw()).filter(|o| *o >= 0);
        if start.is_some_and(|s| s >= *high) || *high == 0 {
            continue;
        }
        assign.add_partition_offset(&from, *p, start.map_or(Offset::Beginning, Offset::Offset)).map_err(kerr("replay"))?;
        pending.push((*p, *high));
    }
    let mut summary = ReplaySummary::default();
    if pending.is_empty() {
        return Ok(summary);
    }
    consumer.assign(&assign).map_err(kerr("replay"))?;
    let mut obs = contract.observer();
    let mut acks = Vec::new();
    let mut done_offsets: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !pending.is_empty() && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
        let msg = msg.map_err(kerr("replay"))?;
        summary.read += 1;
        let payload = msg.payload().unwrap_or_default();
        let (valid, ids, reason) = match decoder.decode_for(&b.name, || std::sync::Arc::clone(&contract), payload).await {
            Ok(v) => {
                let verdict = contract.check(&v, &mut obs);
                (verdict.is_valid(), serde_json::to_string(&verdict.rule_ids()).unwrap_or_default(), verdict.violations.iter().find(|x| x.blocking).map(|x| format!("{}: {}", x.rule, x.expected)))
            }
            Err(rejected) => (false, rejected.rule_ids().to_string(), Some(rejected.reason())),
        };
        // Keep where the record first came from: the held copy's own source headers.
        let h = |k: &str| msg.headers().and_then(|hs| hs.iter().find(|x| x.key == k).and_then(|x| x.value).and_then(|v| std::str::from_utf8(v).ok()).map(String::from));
        let src_topic = h(headers::SOURCE_TOPIC).unwrap_or_else(|| b.source.clone());
        let source = SourceCoords {
            topic: &src_topic,
            partition: h(headers::SOURCE_PARTITION).and_then(|s| s.parse().ok()).unwrap_or(msg.partition()),
            offset: h(headers::SOURCE_OFFSET).and_then(|s| s.parse().ok()).unwrap_or(msg.offset()),
            timestamp: h(headers::SOURCE_TIMESTAMP).and_then(|s| s.parse().ok()),
        };
        let hv = HeaderValues { contract: &contract.id, version: &contract.version, verdict: if valid { VerdictTag::Valid } else { VerdictTag::Invalid }, breaker_state: "replay", violations: &ids, source, reason: if valid { None } else { reason.as_deref() }, probe_passed: false, canary: None, lean: false };
        let output = if valid { crate::output::Output::Validated } else { crate::output::Output::Quarantine };
        let out = topics.get(output);
        let mut rec = FutureRecord::to(out).payload(payload).headers(headers::build(&hv, None));
        if let Some(k) = msg.key() {
            rec = rec.key(k);
        }
        let fut = producer.send_result(rec).map_err(|(source, _)| ServeError::Produce { topic: from.clone(), partition: msg.partition(), offset: msg.offset(), output: output.name(), source: Box::new(source) })?;
        acks.push(fut);
        if valid {
            summary.validated += 1;
        } else {
            summary.quarantined += 1;
        }
        done_offsets.insert(msg.partition(), msg.offset() + 1);
        if let Some(i) = pending.iter().position(|(p, high)| *p == msg.partition() && msg.offset() + 1 >= *high) {
            pending.swap_remove(i);
        }
    }
    for a in acks {
        match a.await {
            Ok(Ok(_)) => {}
            Ok(Err((source, m))) => return Err(ServeError::Produce { topic: from.clone(), partition: m.partition(), offset: m.offset(), output: "replay", source: Box::new(source) }),
            Err(_) => return Err(ServeError::Produce { topic: from.clone(), partition: -1, offset: -1, output: "replay", source: Box::new(rdkafka::error::KafkaError::Canceled) }),
        }
    }
    if !done_offsets.is_empty() {
        let mut commit = TopicPartitionList::new();
        for (p, o) in &done_offsets {
            commit.add_partition_offset(&from, *p, Offset::Offset(*o)).map_err(kerr("replay"))?;
        }
        consumer.commit(&commit, CommitMode::Sync).map_err(kerr("replay"))?;
    }
    drop(assign);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::{golden, json};

    #[test]
    fn replay_outputs_match_their_golden_files() {
        let s = ReplaySummary { read: 12, validated: 10, quarantined: 2 };
        golden::assert("replay.txt", &s.table());
        golden::assert("replay.json", &json(&s).expect("json"));
    }
}
