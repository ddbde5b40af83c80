//! The topic form of `contracts infer`: up to N records from the beginning of every partition,
//! read with a throwaway consumer. It is assigned the partitions by hand, so it never joins a
//! consumer group, and with `enable.auto.commit=false` it commits no offsets: sampling leaves
//! no trace on the cluster.

use contracts::decode::{decode_json_into, DecodeLimits};
use contracts::infer::Inferrer;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What to read.
#[derive(Debug, Clone)]
pub struct TopicSample {
    /// Topic.
    pub topic: String,
    /// Bootstrap servers.
    pub brokers: String,
    /// Extra client properties (security settings and the like).
    pub properties: Vec<(String, String)>,
    /// Records to read at most.
    pub records: u64,
    /// Longest time to read.
    pub timeout: Duration,
    /// Record size limit.
    pub limits: DecodeLimits,
}

/// How a read ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicRead {
    /// Partitions that held records.
    pub partitions: usize,
    /// Tombstones (no payload) skipped.
    pub tombstones: u64,
    /// The timeout ended the read before the records or the partitions' ends did.
    pub timed_out: bool,
}

/// Why a topic could not be sampled.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// A Kafka call failed.
    #[error("{what}")]
    Kafka {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The cluster has no such topic.
    #[error("topic {topic:?} does not exist on {brokers}")]
    NoTopic {
        /// Topic.
        topic: String,
        /// Brokers asked.
        brokers: String,
    },
    /// The payloads are in the Confluent wire format, which this form does not decode.
    #[error(
        "{topic} partition {partition} offset {offset}: the payload is in the Confluent wire format (schema id {schema_id}: \
         Avro, JSON Schema or Protobuf); `contracts infer --topic` reads JSON payloads only. For Avro, write a sample to an \
         Avro container file and run `contract-gate contracts infer --input FILE --format avro`"
    )]
    Avro {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Schema id in the payload.
        schema_id: u32,
    },
    /// Nothing arrived in time.
    #[error("no records read from {topic} within {timeout:?} (partitions with records: {partitions})")]
    Nothing {
        /// Topic.
        topic: String,
        /// The timeout.
        timeout: Duration,
        /// Partitions that had records to read.
        partitions: usize,
    },
}

fn kafka(what: impl Into<String>) -> impl FnOnce(KafkaError) -> TopicError {
    let what = what.into();
    move |source| TopicError::Kafka { what, source }
}

/// Reads the sample into `inf`.
///
/// # Errors
/// [`TopicError`]: unreachable brokers, no such topic, Avro payloads, nothing read in time.
pub fn read(s: &TopicSample, inf: &mut Inferrer) -> Result<TopicRead, TopicError> {
    let deadline = Instant::now() + s.timeout;
    let consumer = crate::kafka::groupless_consumer(&s.brokers, &s.properties, "infer").map_err(kafka("creating the sampling consumer"))?;
    let Some(partitions) = crate::kafka::topic_partitions(&consumer, &s.topic, s.timeout).map_err(kafka(format!("listing topics on {}", s.brokers)))? else {
        return Err(TopicError::NoTopic { topic: s.topic.clone(), brokers: s.brokers.clone() });
    };
    let mut assignment = TopicPartitionList::new();
    let mut pending: Vec<(i32, i64)> = Vec::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(&s.topic, p, s.timeout).map_err(kafka(format!("reading the offsets of {} partition {p}", s.topic)))?;
        if high > low {
            assignment.add_partition_offset(&s.topic, p, Offset::Offset(low)).map_err(kafka("assigning partitions"))?;
            pending.push((p, high));
        }
    }
    let mut out = TopicRead { partitions: pending.len(), ..TopicRead::default() };
    if !pending.is_empty() {
        consumer.assign(&assignment).map_err(kafka("assigning partitions"))?;
    }
    let mut rec = Value::Null;
    while inf.records() < s.records && !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            out.timed_out = true;
            break;
        }
        let Some(msg) = consumer.poll(left.min(Duration::from_millis(200))) else { continue };
        let msg = msg.map_err(kafka(format!("reading {}", s.topic)))?;
        // The end each partition had when sampling began: records written later are not waited for.
        if let Some(i) = pending.iter().position(|(p, high)| *p == msg.partition() && msg.offset() + 1 >= *high) {
            pending.swap_remove(i);
        }
        let Some(payload) = msg.payload() else {
            out.tombstones += 1;
            continue;
        };
        // No JSON text starts with a zero byte; a Confluent-framed payload always does.
        if let Ok((schema_id, _)) = contracts::avro::parse_wire(payload) {
            return Err(TopicError::Avro { topic: s.topic.clone(), partition: msg.partition(), offset: msg.offset(), schema_id });
        }
        match decode_json_into(payload, s.limits, &mut rec) {
            Ok(()) => inf.add(&rec),
            Err(_) => inf.add_undecodable(),
        }
    }
    if inf.records() == 0 {
        return Err(TopicError::Nothing { topic: s.topic.clone(), timeout: s.timeout, partitions: out.partitions });
    }
    Ok(out)
}
