//! Canary records on real Kafka: the gate writes its heartbeat to the source topic, judges it
//! like any record without counting it as data, delivers it to validated marked with
//! `contract-gate-canary` and measures its trip; when the gate stops consuming (forced open
//! under `fallback: pause`) the next canary misses its deadline and a `canary_missed` event is
//! published. Every source offset, canaries included, is accounted for.

use e2e::sidecar::{self, header_str, json_of, keyed, read_until};
use gate::config::canary::CanaryConfig;
use gate::config::Fallback;
use gate::serve::headers as h;
use rdkafka::message::Message;
use std::time::Duration;

const T: Duration = Duration::from_secs(45);

/// Records written to `topic` so far (the sum of its partitions' high watermarks).
async fn end_offsets(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = e2e::consumer_config(brokers, &e2e::unique_name("ends")).create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || (0..partitions).map(|p| c.fetch_watermarks(&topic, p, Duration::from_secs(10)).map(|(_, hi)| hi)).sum::<Result<i64, _>>()).await?.map_err(Into::into)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_prove_the_path_and_a_stuck_gate_misses_them() -> anyhow::Result<()> {
    let metrics = gate::serve::telemetry::install()?;
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("canary");
    e2e::create_topic(&brokers, &src, 2).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Pause, None);
    let sample = sidecar::flights_sample();
    cfg.bindings[0].canary = Some(CanaryConfig { interval: Duration::from_millis(300), deadline: Duration::from_secs(3), record: Some(sample[0].clone()), payload_file: None, key: "canary".into() });
    let running = gate::serve::start(&cfg).await?;
    let b = running.bindings[0].clone();

    // Real records and canaries side by side on validated; only canaries carry the header.
    let p = e2e::producer(&brokers)?;
    sidecar::produce(&p, &src, &keyed(&sample[..50])).await?;
    let validated = sidecar::reader(&brokers, &format!("{src}.validated"))?;
    // Until 50 real records and 4 canaries on both partitions: under load canaries may come
    // before the last records, and one partition's may wait while the loops hand partitions
    // over at the start (two loops join one after the other).
    let seen = read_until(&validated, T, |m| {
        let canaries: Vec<_> = m.iter().filter(|x| header_str(x, h::CANARY).is_some()).collect();
        let partitions: std::collections::BTreeSet<i32> = canaries.iter().map(|x| x.partition()).collect();
        m.len() - canaries.len() >= 50 && canaries.len() >= 4 && partitions.len() == 2
    })
    .await?;
    let (canaries, real): (Vec<_>, Vec<_>) = seen.iter().partition(|m| header_str(m, h::CANARY).is_some());
    assert_eq!(real.len(), 50, "every real record validated once");
    for c in &canaries {
        assert_eq!(header_str(c, h::VERDICT).as_deref(), Some("valid"));
        assert_eq!(c.key(), Some(&b"canary"[..]));
        assert_eq!(json_of(c), sample[0], "the canary's body as configured");
        let id = header_str(c, h::CANARY).unwrap_or_default();
        assert!(gate::serve::canary::parse_id(&id).is_some(), "{id}");
    }
    let partitions: std::collections::BTreeSet<i32> = canaries.iter().map(|m| m.partition()).collect();
    assert_eq!(partitions.len(), 2, "the partitions take turns: {partitions:?}");

    // Canaries are not upstream data: the time of the last arrival stays the last real record's.
    let last = b.last_arrival_ms.load(std::sync::atomic::Ordering::Relaxed);
    read_until(&validated, T, |m| m.iter().filter(|x| header_str(x, h::CANARY).is_some()).count() >= 3).await?;
    assert_eq!(b.last_arrival_ms.load(std::sync::atomic::Ordering::Relaxed), last, "a canary is not a sign of upstream life");

    let text = metrics.render();
    let delivered = text.lines().find(|l| l.starts_with("contract_gate_canary_records_total") && l.contains("outcome=\"delivered\"")).unwrap_or_default().to_string();
    assert!(delivered.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()).is_some_and(|n| n >= 4.0), "{delivered}");
    assert!(text.lines().any(|l| l.starts_with("contract_gate_canary_latency_seconds_count") && !l.ends_with(" 0")), "the trip is measured");

    // A gate that stops consuming: forced open under pause, the partitions stop; the next
    // canary is not read, misses its deadline and says so on the breaker topic.
    b.breaker.command(breaker::Command::ForceOpen, Some("test"), chrono::Utc::now().timestamp_millis()).await?;
    let events = sidecar::reader(&brokers, &cfg.events.breaker_topic)?;
    let missed = read_until(&events, T, |m| m.iter().map(json_of).any(|e| e["event"] == "canary_missed")).await?;
    let e = missed.iter().map(json_of).find(|e| e["event"] == "canary_missed").unwrap_or_default();
    assert_eq!((e["binding"].as_str(), e["source"].as_str(), e["deadline_ms"].as_u64()), (Some("flights"), Some(src.as_str()), Some(3000)), "{e}");
    assert!(metrics.render().lines().any(|l| l.starts_with("contract_gate_canary_records_total") && l.contains("outcome=\"missed\"")), "the miss is counted");

    // Reset, the gate consumes again: every record written to the source so far — the
    // canaries sent while it was stuck included — lands once on validated or quarantine.
    b.breaker.command(breaker::Command::Reset, Some("test"), chrono::Utc::now().timestamp_millis()).await?;
    let written = end_offsets(&brokers, &src, 2).await?;
    let all = sidecar::account(&brokers, &[format!("{src}.validated"), format!("{src}.quarantine")], usize::try_from(written)?, T).await?;
    assert!(all.len() >= usize::try_from(written)?, "{} of {written}", all.len());
    sidecar::stop(running).await
}
