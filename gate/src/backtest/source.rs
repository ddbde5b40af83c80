//! The records a backtest replays: a time or offset range of a topic, read with a throwaway
//! consumer (partitions assigned by hand, so it joins no group; nothing committed, nothing
//! written), or a JSON Lines file.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use std::io::BufRead;
use std::time::{Duration, Instant};

/// One source record, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Record timestamp (ms), `LogAppendTime` or `CreateTime` as the topic keeps it.
    pub ts: i64,
    /// Partition (-1 for a file).
    pub partition: i32,
    /// Offset (the line number for a file).
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload (empty for a tombstone, which the gate quarantines as undecodable).
    pub payload: Vec<u8>,
}

/// Where a range starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The first record at or after this time (ms).
    Time(i64),
    /// These partitions from these offsets (other partitions are not read).
    Offsets(Vec<(i32, i64)>),
}

/// A topic range to read.
#[derive(Debug, Clone)]
pub struct TopicRange {
    /// Topic.
    pub topic: String,
    /// Bootstrap servers.
    pub brokers: String,
    /// Extra client properties.
    pub properties: Vec<(String, String)>,
    /// Start.
    pub start: Start,
    /// End time (ms, exclusive); default: the end each partition has when reading starts.
    pub until: Option<i64>,
    /// Longest time to read.
    pub timeout: Duration,
    /// Most records to hold (the range is sorted by timestamp in memory).
    pub max_records: usize,
}

/// Why records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A Kafka call failed.
    #[error("{what}")]
    Kafka {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// No such topic.
    #[error("topic {topic:?} does not exist on {brokers}")]
    NoTopic {
        /// Topic.
        topic: String,
        /// Brokers asked.
        brokers: String,
    },
    /// `--from-offsets` names a partition the topic does not have.
    #[error("--from-offsets: topic {topic:?} has no partition {partition}")]
    NoPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// The range did not arrive in time.
    #[error("reading {topic}: the range was not read within {timeout:?} ({read} records so far)")]
    Timeout {
        /// Topic.
        topic: String,
        /// Timeout.
        timeout: Duration,
        /// Records read.
        read: usize,
    },
    /// The range holds more records than the limit.
    #[error("the range holds more than {limit} records; narrow it or raise --max-records")]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// The file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
}

fn kafka(what: impl Into<String>) -> impl FnOnce(KafkaError) -> SourceError {
    let what = what.into();
    move |source| SourceError::Kafka { what, source }
}

/// Reads a topic range, sorted by timestamp (then partition and offset).
///
/// # Errors
/// [`SourceError`].
pub fn read_topic(r: &TopicRange) -> Result<Vec<RawRecord>, SourceError> {
    let deadline = Instant::now() + r.timeout;
    let consumer = crate::kafka::groupless_consumer(&r.brokers, &r.properties, "backtest").map_err(kafka("creating the backtest consumer"))?;
    let Some(partitions) = crate::kafka::topic_partitions(&consumer, &r.topic, r.timeout).map_err(kafka(format!("listing topics on {}", r.brokers)))? else {
        return Err(SourceError::NoTopic { topic: r.topic.clone(), brokers: r.brokers.clone() });
    };
    let starts: Vec<(i32, Offset)> = match &r.start {
        Start::Offsets(list) => {
            if let Some((p, _)) = list.iter().find(|(p, _)| !partitions.contains(p)) {
                return Err(SourceError::NoPartition { topic: r.topic.clone(), partition: *p });
            }
            list.iter().map(|(p, o)| (*p, Offset::Offset(*o))).collect()
        }
        Start::Time(ms) => offsets_at(&consumer, &r.topic, &partitions, *ms, r.timeout)?,
    };
    let ends: Vec<(i32, Offset)> = match r.until {
        Some(ms) => offsets_at(&consumer, &r.topic, &partitions, ms, r.timeout)?,
        None => partitions.iter().map(|p| (*p, Offset::End)).collect(),
    };
    let mut assignment = TopicPartitionList::new();
    let mut pending: Vec<(i32, i64)> = Vec::new();
    for (p, start) in &starts {
        let (low, high) = consumer.fetch_watermarks(&r.topic, *p, r.timeout).map_err(kafka(format!("reading the offsets of {} partition {p}", r.topic)))?;
        let start = match start {
            Offset::Offset(o) => (*o).max(low),
            _ => high,
        };
        let end = match ends.iter().find(|(q, _)| q == p).map(|(_, e)| *e) {
            Some(Offset::Offset(o)) => o.min(high),
            _ => high,
        };
        if end > start {
            assignment.add_partition_offset(&r.topic, *p, Offset::Offset(start)).map_err(kafka("assigning partitions"))?;
            pending.push((*p, end));
        }
    }
    let mut out = Vec::new();
    if pending.is_empty() {
        return Ok(out);
    }
    consumer.assign(&assignment).map_err(kafka("assigning partitions"))?;
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SourceError::Timeout { topic: r.topic.clone(), timeout: r.timeout, read: out.len() });
        }
        let Some(msg) = consumer.poll(left.min(Duration::from_millis(200))) else { continue };
        let msg = msg.map_err(kafka(format!("reading {}", r.topic)))?;
        let Some(i) = pending.iter().position(|(p, _)| *p == msg.partition()) else { continue };
        let end = pending[i].1;
        if msg.offset() >= end {
            pending.swap_remove(i);
            continue;
        }
        if msg.offset() + 1 >= end {
            pending.swap_remove(i);
        }
        if out.len() >= r.max_records {
            return Err(SourceError::TooMany { limit: r.max_records });
        }
        let ts = match msg.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            Timestamp::NotAvailable => 0,
        };
        out.push(RawRecord { ts, partition: msg.partition(), offset: msg.offset(), key: msg.key().map(<[u8]>::to_vec), payload: msg.payload().unwrap_or_default().to_vec() });
    }
    sort(&mut out);
    Ok(out)
}

/// The first offset at or after `ms` in every partition (the end where none is).
fn offsets_at(consumer: &BaseConsumer, topic: &str, partitions: &[i32], ms: i64, timeout: Duration) -> Result<Vec<(i32, Offset)>, SourceError> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, Offset::Offset(ms)).map_err(kafka("asking offsets for a time"))?;
    }
    let found = consumer.offsets_for_times(tpl, timeout).map_err(kafka(format!("finding the offsets of {topic} at {}", super::report::rfc3339(ms))))?;
    Ok(partitions.iter().map(|p| (*p, found.find_partition(topic, *p).map_or(Offset::End, |e| e.offset()))).collect())
}

/// Record-time order; ties keep partition and offset order, so a run is reproducible.
pub fn sort(records: &mut [RawRecord]) {
    records.sort_by_key(|r| (r.ts, r.partition, r.offset));
}

/// Reads JSON Lines: each line a payload, timed by `time_field` (epoch ms or RFC 3339) when
/// given, else spaced `1000 / rate` ms apart starting at the time of the call (so the report's
/// times read as a replay started now, not as dates in 1970).
///
/// # Errors
/// [`SourceError::File`]: unreadable file.
pub fn read_file(path: &std::path::Path, time_field: Option<&str>, rate: f64, max_records: usize) -> Result<Vec<RawRecord>, SourceError> {
    let err = |e: &dyn std::fmt::Display| SourceError::File { path: path.display().to_string(), reason: e.to_string() };
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let step = if rate > 0.0 && rate.is_finite() { 1000.0 / rate } else { 10.0 };
    let keys: Vec<&str> = time_field.map(|f| f.split('.').collect()).unwrap_or_default();
    let mut out = Vec::new();
    let start = chrono::Utc::now().timestamp_millis();
    let mut last = start;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| err(&e))?;
        if line.trim().is_empty() {
            continue;
        }
        if out.len() >= max_records {
            return Err(SourceError::TooMany { limit: max_records });
        }
        let n = out.len();
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let synthetic = start.saturating_add((n as f64 * step) as i64);
        let ts = if keys.is_empty() {
            synthetic
        } else {
            // A record without a readable time takes the previous one's: it was written then.
            serde_json::from_str::<serde_json::Value>(&line).ok().and_then(|v| keys.iter().try_fold(v, |v, k| v.get(*k).cloned()).and_then(|t| time_of(&t))).unwrap_or(last)
        };
        last = ts;
        out.push(RawRecord { ts, partition: -1, offset: i64::try_from(i + 1).unwrap_or(i64::MAX), key: None, payload: line.into_bytes() });
    }
    sort(&mut out);
    Ok(out)
}

fn time_of(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// A time given as a duration before `now` (`1h`) or as RFC 3339.
///
/// # Errors
/// The text is neither.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d = humantime_serde::re::humantime::parse_duration(s).map_err(|e| format!("{s:?} is neither a duration (1h, 30m) nor an RFC 3339 time: {e}"))?;
    Ok(now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// `--from-offsets 0:120,1:98`.
///
/// # Errors
/// A pair that is not `partition:offset`.
pub fn parse_offsets(s: &str) -> Result<Vec<(i32, i64)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (p, o) = pair.trim().split_once(':').ok_or_else(|| format!("{pair:?} is not partition:offset"))?;
            let p = p.parse::<i32>().ok().filter(|p| *p >= 0).ok_or_else(|| format!("{pair:?}: partition is not a number"))?;
            let o = o.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(|| format!("{pair:?}: offset is not a number"))?;
            Ok((p, o))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_offsets_parse() {
        let now = 10_000_000;
        // (text, expected)
        let times: [(&str, Result<i64, ()>); 4] = [("1h", Ok(now - 3_600_000)), ("90s", Ok(now - 90_000)), ("2024-05-01T10:00:00Z", Ok(1_714_557_600_000)), ("yesterday", Err(()))];
        for (text, want) in times {
            assert_eq!(parse_time(text, now).map_err(|_| ()), want, "{text}");
        }
        type Parsed = Result<Vec<(i32, i64)>, ()>;
        let offsets: [(&str, Parsed); 4] = [("0:5,1:7", Ok(vec![(0, 5), (1, 7)])), ("2:0", Ok(vec![(2, 0)])), ("0-5", Err(())), ("0:-1", Err(()))];
        for (text, want) in offsets {
            assert_eq!(parse_offsets(text).map_err(|_| ()), want, "{text}");
        }
    }
}
