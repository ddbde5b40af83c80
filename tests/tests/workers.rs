//! Several record loops in one process (`workers`), on real Kafka: the group spreads the
//! source partitions over the loops, every source record reaches exactly one output once and
//! in its partition's order (at-least-once and exactly-once, one transactional producer per
//! loop), and an operator's release reaches every loop that holds paused partitions. Outputs
//! with fewer partitions than their source, or made by others, keep each source partition's
//! order too.

use e2e::sidecar::{self, header_str, keyed, read_until};
use gate::config::{DeliveryMode, Fallback, GateConfig};
use gate::serve::headers as h;
use gate::serve::pending::PendingAction;
use rdkafka::Message;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);
const PARTS: i32 = 4;
const WORKERS: usize = 2;

/// A source topic of `PARTS` partitions named after `name`, the flights contract in a
/// directory of its own (kept alive by the caller) and a config with `WORKERS` loops.
async fn setup(brokers: &str, name: &str, fallback: Fallback, mode: DeliveryMode) -> anyhow::Result<(String, tempfile::TempDir, GateConfig)> {
    let src = e2e::unique_name(name);
    e2e::create_topic(brokers, &src, PARTS).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(brokers, dir.path(), &src, fallback, None);
    cfg.workers = Some(WORKERS);
    cfg.delivery.mode = mode;
    Ok((src, dir, cfg))
}

/// Every source record of `src` once in its `outputs` (short names), in partition order
/// ([`sidecar::account`]).
async fn account(brokers: &str, src: &str, outputs: &[&str], n: usize) -> anyhow::Result<sidecar::Accounted> {
    sidecar::account(brokers, &outputs.iter().map(|o| format!("{src}.{o}")).collect::<Vec<_>>(), n, T).await
}

/// The output a record was accounted to, by its short name.
fn output_of(topic: &str) -> &str {
    topic.rsplit('.').next().unwrap_or_default()
}

async fn every_record_once_in_order(mode: DeliveryMode) -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, cfg) = setup(&brokers, "workers", Fallback::Hold, mode).await?;
    let running = gate::serve::start(&cfg).await?;
    let group = cfg.kafka.group_id.clone();
    e2e::wait_until("both loops own two partitions", T, || async {
        let owned = e2e::group_assignments(&brokers, &group).ok()?;
        (owned == [2, 2]).then_some(())
    })
    .await?;
    let mut sample = sidecar::flights_sample();
    // Every 25th flight of an unknown carrier: quarantined, so two outputs are accounted for.
    for r in sample.iter_mut().step_by(25) {
        r["carrier"] = serde_json::Value::from("ZZ");
    }
    let p = e2e::producer(&brokers)?;
    for chunk in keyed(&sample).chunks(500) {
        sidecar::produce(&p, &src, chunk).await?;
    }
    let seen = account(&brokers, &src, &["validated", "quarantine", "held"], sample.len()).await?;
    let per_part = (0..PARTS).map(|part| seen.keys().filter(|(_, p, _)| *p == part).count()).collect::<Vec<_>>();
    anyhow::ensure!(per_part.iter().all(|n| *n > 0), "every partition carried records: {per_part:?}");
    let quarantined = seen.values().filter(|(o, _)| output_of(o) == "quarantine").count();
    anyhow::ensure!(quarantined >= sample.len() / 25, "{quarantined} quarantined");
    sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loops_deliver_every_record_once_in_order_at_least_once() -> anyhow::Result<()> {
    every_record_once_in_order(DeliveryMode::AtLeastOnce).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loops_deliver_every_record_once_in_order_exactly_once() -> anyhow::Result<()> {
    every_record_once_in_order(DeliveryMode::ExactlyOnce).await
}

/// `fallback: pause` forced open: both loops pause their partitions; one operator request
/// releases all of them, each partition's backlog in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_release_reaches_every_loop() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, cfg) = setup(&brokers, "workers-release", Fallback::Pause, DeliveryMode::AtLeastOnce).await?;
    let running = gate::serve::start(&cfg).await?;
    let group = cfg.kafka.group_id.clone();
    e2e::wait_until("both loops own two partitions", T, || async { (e2e::group_assignments(&brokers, &group).ok()? == [2, 2]).then_some(()) }).await?;
    let b = std::sync::Arc::clone(&running.bindings[0]);
    b.breaker.command(breaker::Command::ForceOpen, None, chrono::Utc::now().timestamp_millis()).await?;
    let sample = sidecar::flights_sample();
    let n = 200;
    sidecar::produce(&e2e::producer(&brokers)?, &src, &keyed(&sample[..n])).await?;
    let paused = e2e::wait_until("every partition paused", T, || async {
        let p = b.paused_at();
        (p.len() == usize::try_from(PARTS).ok()?).then_some(p)
    })
    .await?;
    anyhow::ensure!(paused.values().all(|at| *at == 0), "paused at their first record: {paused:?}");
    let asked = b.request(PendingAction::Quarantine);
    anyhow::ensure!(asked == paused, "the request covers every loop's partitions: {asked:?}");
    let seen = account(&brokers, &src, &["validated", "quarantine", "held"], n).await?;
    anyhow::ensure!(seen.values().all(|(o, _)| output_of(o) == "quarantine"), "{} not released to quarantine", seen.values().filter(|(o, _)| output_of(o) != "quarantine").count());
    e2e::wait_until("no partition paused", T, || async { b.paused_at().is_empty().then_some(()) }).await?;
    sidecar::stop(running).await
}

/// Two loops read partitions of their own, yet a copy of a record the other loop has seen is
/// a duplicate (`flights_unique`, a window rule: the copies flow, marked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_read_by_the_other_loop_is_one() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, cfg) = setup(&brokers, "workers-dups", Fallback::Hold, DeliveryMode::AtLeastOnce).await?;
    let running = gate::serve::start(&cfg).await?;
    let group = cfg.kafka.group_id.clone();
    e2e::wait_until("both loops own two partitions", T, || async { (e2e::group_assignments(&brokers, &group).ok()? == [2, 2]).then_some(()) }).await?;
    let sample = sidecar::flights_sample();
    let p = e2e::producer(&brokers)?;
    // The same flight into every partition: one loop sees it first, the other's copies are
    // duplicates all the same.
    let flight = serde_json::to_vec(&sample[0])?;
    for part in 0..PARTS {
        p.send(rdkafka::producer::FutureRecord::to(&src).key("same").payload(&flight).partition(part), Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    }
    let seen = account(&brokers, &src, &["validated", "quarantine", "held"], usize::try_from(PARTS)?).await?;
    let marked = seen.values().filter(|(_, m)| header_str(m, h::VIOLATIONS).is_some_and(|v| v.contains("flights_unique"))).count();
    anyhow::ensure!(marked == seen.len() - 1, "{marked} of {} copies marked duplicate; the first is not one", seen.len());
    sidecar::stop(running).await
}

/// Loops joining and leaving the group mid-stream (a second replica with two loops, started
/// then stopped while records flow): every partition that moves is handed over only once what
/// was sent from it is acknowledged and its offset stored, so its new owner starts after those
/// records and none is written twice (at-least-once, where a moved partition used to repeat
/// its in-flight records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_moving_mid_stream_write_no_record_twice() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, cfg) = setup(&brokers, "workers-handover", Fallback::Hold, DeliveryMode::AtLeastOnce).await?;
    let group = cfg.kafka.group_id.clone();
    let members = |want: usize| {
        let (brokers, group) = (brokers.clone(), group.clone());
        async move {
            e2e::wait_until(&format!("{want} loops share the {PARTS} partitions"), T, || {
                let owned = e2e::group_assignments(&brokers, &group).ok();
                async move { owned.filter(|o| o.len() == want && o.iter().all(|n| *n > 0) && o.iter().sum::<usize>() == PARTS as usize).map(|_| ()) }
            })
            .await
        }
    };
    let a = gate::serve::start(&GateConfig { workers: Some(1), ..cfg.clone() }).await?;
    members(1).await?;
    // A steady stream until the group has moved partitions six times (three joins, three
    // leaves): records are in flight whenever a partition moves.
    let moving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let producing = {
        let (p, src, moving) = (e2e::producer(&brokers)?, src.clone(), std::sync::Arc::clone(&moving));
        let recs = keyed(&sidecar::flights_sample());
        tokio::spawn(async move {
            let mut sent = 0;
            for chunk in recs.chunks(50).cycle() {
                if !moving.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                sidecar::produce(&p, &src, chunk).await?;
                sent += chunk.len();
                tokio::time::sleep(Duration::from_millis(20)).await; // pacing the stream
            }
            anyhow::Ok(sent)
        })
    };
    let reader = sidecar::reader(&brokers, &format!("{src}.validated"))?;
    for _ in 0..3 {
        read_until(&reader, T, |m| m.len() >= 200).await?;
        let b = gate::serve::start(&cfg).await?;
        members(1 + WORKERS).await?;
        read_until(&reader, T, |m| m.len() >= 200).await?;
        sidecar::stop(b).await?;
        members(1).await?;
    }
    moving.store(false, std::sync::atomic::Ordering::Relaxed);
    let n = producing.await??;
    account(&brokers, &src, &["validated", "quarantine", "held"], n).await?;
    sidecar::stop(a).await
}

/// Keyless flights written to every partition of `src` in turn (`per_partition` each), as a
/// producer without keys spreads them; waits for every acknowledgement.
async fn produce_keyless(brokers: &str, src: &str, partitions: i32, per_partition: usize) -> anyhow::Result<usize> {
    let p = e2e::producer(brokers)?;
    let sample = sidecar::flights_sample();
    let bodies: Vec<String> = sample.iter().cycle().take(per_partition * usize::try_from(partitions)?).map(ToString::to_string).collect();
    let mut futs = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let part = i32::try_from(i)? % partitions;
        futs.push(p.send(rdkafka::producer::FutureRecord::<(), _>::to(src).payload(body).partition(part), Duration::from_secs(10)));
    }
    let n = futs.len();
    for f in futs {
        f.await.map_err(|(e, _)| e)?;
    }
    Ok(n)
}

/// Reads `n` records of `topic` and checks that each source partition's records sit in one
/// output partition, `source mod output_partitions`, in source order.
async fn each_source_partition_in_one_output_partition(brokers: &str, topic: &str, n: usize, output_partitions: i32) -> anyhow::Result<()> {
    let reader = sidecar::reader(brokers, topic)?;
    let msgs = read_until(&reader, T, |m| m.len() >= n).await?;
    anyhow::ensure!(msgs.len() == n, "{} records on {topic}, {n} sent", msgs.len());
    let mut last: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    for m in &msgs {
        let part: i32 = header_str(m, h::SOURCE_PARTITION).ok_or_else(|| anyhow::anyhow!("no source partition"))?.parse()?;
        let off: i64 = header_str(m, h::SOURCE_OFFSET).ok_or_else(|| anyhow::anyhow!("no source offset"))?.parse()?;
        anyhow::ensure!(m.partition() == part % output_partitions, "source partition {part} written to {topic} partition {} (of {output_partitions})", m.partition());
        if let Some(prev) = last.insert(part, off) {
            anyhow::ensure!(prev < off, "source partition {part}: offset {off} after {prev}");
        }
    }
    Ok(())
}

/// An output made (by hand, or before its source grew) with fewer partitions than its source:
/// keyless records of each source partition still land in one output partition, in order,
/// instead of being scattered by the producer's partitioner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_with_fewer_partitions_keeps_each_source_partitions_order() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, cfg) = setup(&brokers, "workers-narrow", Fallback::Hold, DeliveryMode::AtLeastOnce).await?;
    e2e::create_topic(&brokers, &format!("{src}.validated"), 2).await?;
    let running = gate::serve::start(&cfg).await?;
    let n = produce_keyless(&brokers, &src, PARTS, 100).await?;
    each_source_partition_in_one_output_partition(&brokers, &format!("{src}.validated"), n, 2).await?;
    sidecar::stop(running).await
}

/// `kafka.create_topics: false`, the outputs made by others with the source's count: the
/// gate still reads their counts and writes each record to its source partition, keyless
/// ones included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_made_by_others_keep_the_source_partition() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (src, _dir, mut cfg) = setup(&brokers, "workers-made", Fallback::Hold, DeliveryMode::AtLeastOnce).await?;
    cfg.kafka.create_topics = false;
    for out in ["validated", "quarantine", "held", "degraded"] {
        e2e::create_topic(&brokers, &format!("{src}.{out}"), PARTS).await?;
    }
    for events in [&cfg.events.breaker_topic, &cfg.events.violations_topic] {
        e2e::create_topic(&brokers, events, 1).await?;
    }
    let running = gate::serve::start(&cfg).await?;
    let n = produce_keyless(&brokers, &src, PARTS, 100).await?;
    each_source_partition_in_one_output_partition(&brokers, &format!("{src}.validated"), n, PARTS).await?;
    sidecar::stop(running).await
}
