//! `contract_gate_consumer_lag_records{binding,partition}`: how far the gate's consumer group
//! is behind each source partition — the partition's high watermark minus the group's
//! committed offset, as `kafka-consumer-groups.sh --describe` reports it.
//!
//! Measured from outside the record loop by a separate client that never joins the group
//! (reading committed offsets needs no membership): it costs the pipeline nothing, and it
//! keeps reporting while the loop is paused (`fallback: pause`) or stuck, which is exactly
//! when lag matters.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::debug;

/// How often the partition list of the source topics is re-read (partitions can be added).
const METADATA_EVERY: Duration = Duration::from_secs(60);
/// Deadline of one broker request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One source partition: topic, binding name, partition.
type Part = (String, String, i32);

/// The `(source topic, binding)` pairs to sample, asked again at each partition listing (a
/// pattern binding adds topics while the gate runs).
pub type Sources = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Samples the lag of `group` on every `(source topic, binding)` of `sources` every `every`
/// until `shutdown` turns true. Errors (a broker away, a group with no coordinator yet) skip a
/// sample and are logged at debug level: lag is an observation, never a reason to stop.
pub async fn run(kafka: ClientConfig, group: String, sources: Sources, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let cfg = kafka.clone().set("group.id", &group).set("enable.auto.commit", "false").clone();
    let consumer = match tokio::task::spawn_blocking(move || cfg.create::<BaseConsumer>()).await {
        Ok(Ok(c)) => Arc::new(c),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "consumer lag: cannot create a client; lag is not reported");
            return;
        }
        Err(_) => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut parts: Vec<Part> = Vec::new();
    let mut listed: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let refresh = parts.is_empty() || listed.is_none_or(|t| t.elapsed() >= METADATA_EVERY);
        let c = Arc::clone(&consumer);
        let srcs = if refresh { sources() } else { Vec::new() };
        let known = parts.clone();
        let res = tokio::task::spawn_blocking(move || {
            let parts = if refresh { partitions(&c, &srcs) } else { known };
            let lags = sample(&c, &parts);
            (parts, lags)
        })
        .await;
        let Ok((p, lags)) = res else { break };
        if refresh && !p.is_empty() {
            listed = Some(Instant::now());
        }
        parts = p;
        for (binding, partition, lag) in lags {
            crate::serve::telemetry::Emit::emit(crate::serve::telemetry::ConsumerLag { binding: &binding, partition, records: lag });
        }
    }
    // A consumer's drop talks to the broker: keep it off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

/// Partitions of the source topics, from one listing of all topics (a metadata request that
/// names a topic would create it on brokers with auto-creation on).
fn partitions(c: &BaseConsumer, sources: &[(String, String)]) -> Vec<Part> {
    let md = match c.fetch_metadata(None, TIMEOUT) {
        Ok(m) => m,
        Err(e) => {
            debug!(error = %e, "consumer lag: metadata");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (topic, binding) in sources {
        if let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) {
            out.extend(t.partitions().iter().map(|p| (topic.clone(), binding.clone(), p.id())));
        }
    }
    out
}

/// `(binding, partition, lag)` for every partition whose watermarks could be read. Before the
/// group's first commit the lag counts from the low watermark (the gate reads from the
/// earliest offset).
fn sample(c: &BaseConsumer, parts: &[Part]) -> Vec<(String, i32, i64)> {
    if parts.is_empty() {
        return Vec::new();
    }
    let mut tpl = TopicPartitionList::new();
    for (t, _, p) in parts {
        tpl.add_partition(t, *p);
    }
    let committed = match c.committed_offsets(tpl, TIMEOUT) {
        Ok(list) => list,
        Err(e) => {
            debug!(error = %e, "consumer lag: committed offsets");
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (t, b, p) in parts {
        let (low, high) = match c.fetch_watermarks(t, *p, TIMEOUT) {
            Ok(w) => w,
            Err(e) => {
                debug!(topic = %t, partition = p, error = %e, "consumer lag: watermarks");
                continue;
            }
        };
        let done = committed.find_partition(t, *p).and_then(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        });
        out.push((b.clone(), *p, lag(low, high, done)));
    }
    out
}

/// Records between the committed position (or the low watermark before any commit) and the
/// high watermark; never negative.
#[must_use]
pub fn lag(low: i64, high: i64, committed: Option<i64>) -> i64 {
    (high - committed.unwrap_or(low).max(low)).max(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lag_counts_from_the_commit_or_the_low_watermark() {
        assert_eq!(super::lag(0, 100, Some(40)), 60);
        assert_eq!(super::lag(10, 100, None), 90);
        assert_eq!(super::lag(50, 100, Some(20)), 50, "a commit before retention counts from the oldest record");
        assert_eq!(super::lag(0, 100, Some(100)), 0);
        assert_eq!(super::lag(0, 100, Some(120)), 0);
    }
}
