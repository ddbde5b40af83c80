//! Two replicas in one consumer group share one breaker.

use super::*;

/// Decodes a classic consumer-protocol assignment: the partitions of `topic` it holds.
pub(crate) fn assigned_partitions(bytes: &[u8], topic: &str) -> Option<Vec<i32>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let i16_of = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let i32_of = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let _version = i16_of(take(2)?);
    let topics = i32_of(take(4)?);
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(i16_of(take(2)?)).ok()?;
        let name = String::from_utf8_lossy(take(len)?).into_owned();
        let n = i32_of(take(4)?);
        for _ in 0..n.max(0) {
            let p = i32_of(take(4)?);
            if name == topic {
                out.push(p);
            }
        }
    }
    Some(out)
}

/// The members' partitions of `topic` once `group` is stable with `members` members that
/// hold every one of `partitions` partitions between them.
pub(crate) async fn wait_group_spread(
    brokers: &str,
    group: &str,
    topic: &str,
    members: usize,
    partitions: i32,
) -> anyhow::Result<Vec<Vec<i32>>> {
    let client: Arc<BaseConsumer> = Arc::new(e2e::kafka_config(brokers).create()?);
    e2e::wait_until(
        &format!("group {group} is stable with {members} members sharing {partitions} partitions"),
        T,
        || {
            let (client, group, topic) =
                (Arc::clone(&client), group.to_string(), topic.to_string());
            async move {
                let spread = tokio::task::spawn_blocking(move || {
                    let list = client
                        .fetch_group_list(Some(&group), Duration::from_secs(5))
                        .ok()?;
                    let g = list.groups().first()?;
                    if g.state() != "Stable" || g.members().len() != members {
                        return None;
                    }
                    Some(
                        g.members()
                            .iter()
                            .map(|m| {
                                m.assignment()
                                    .and_then(|a| assigned_partitions(a, &topic))
                                    .unwrap_or_default()
                            })
                            .collect::<Vec<Vec<i32>>>(),
                    )
                })
                .await
                .ok()??;
                let mut all: Vec<i32> = spread.iter().flatten().copied().collect();
                all.sort_unstable();
                (spread.iter().all(|s| !s.is_empty()) && all == (0..partitions).collect::<Vec<_>>())
                    .then_some(spread)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn two_replicas_in_one_group_share_one_breaker() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    let Some(redis) = e2e::redis_url() else {
        return Ok(());
    };
    let src = e2e::unique_name("replicas");
    let prefix = e2e::unique_name("replicas-key");
    const PARTS: i32 = 4;
    const PER_PARTITION: usize = 15;
    e2e::create_topic(&brokers, &src, PARTS).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::config(
        &brokers,
        dir.path(),
        &src,
        Fallback::Hold,
        Some((&redis, &prefix)),
    );
    // One record loop per replica: the burst is split between the two replicas' windows,
    // which only the shared breaker sees whole.
    let cfg = gate::config::GateConfig { workers: Some(1), ..cfg };
    let min_records = cfg.bindings[0].breaker.min_records;
    let flush = cfg.bindings[0].breaker.flush_interval;
    let a = gate::serve::start(&cfg).await?;
    let b = gate::serve::start(&cfg).await?;
    let spread = wait_group_spread(&brokers, &cfg.kafka.group_id, &src, 2, PARTS).await?;
    // Neither replica alone sees enough records to judge the window: only the shared window does.
    let per_member: Vec<usize> = spread.iter().map(|s| s.len() * PER_PARTITION).collect();
    ensure!(
        per_member.iter().all(|n| (*n as u64) < min_records)
            && per_member.iter().sum::<usize>() as u64 >= min_records,
        "burst split {per_member:?} vs min_records {min_records}"
    );
    let events = sidecar::reader(&brokers, &format!("{src}.breaker-events"))?;

    // A burst of nulls in dep_time (valid records; the window rule allows < 3 %), to every partition.
    let pool = clean_flights();
    let p = e2e::producer(&brokers)?;
    let mut burst = Vec::new();
    for part in 0..PARTS {
        for i in 0..PER_PARTITION {
            let mut r = pool[usize::try_from(part)? * PER_PARTITION + i].clone();
            r["dep_time"] = Value::Null;
            burst.push((part, format!("k{part}-{i}"), r.to_string()));
        }
    }
    let mut futs = Vec::new();
    for (part, key, body) in &burst {
        futs.push(
            p.send_result(
                FutureRecord::to(&src)
                    .key(key)
                    .partition(*part)
                    .payload(body),
            )
            .map_err(|(e, _)| anyhow::anyhow!("queue: {e}"))?,
        );
    }
    for f in futs {
        f.await
            .context("producer dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    }

    // Both replicas see the breaker open; the second within a couple of flush intervals of the first.
    let mut opened: [Option<Instant>; 2] = [None, None];
    let start = Instant::now();
    while opened.iter().any(Option::is_none) {
        for (i, r) in [&a.bindings[0], &b.bindings[0]].into_iter().enumerate() {
            if opened[i].is_none() && r.breaker.status().await.state.mode == breaker::Mode::Open {
                opened[i] = Some(Instant::now());
            }
        }
        ensure!(
            start.elapsed() < T,
            "the shared breaker did not open for both replicas: {opened:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (t0, t1) = (opened[0].context("a")?, opened[1].context("b")?);
    let lag = if t0 > t1 { t0 - t1 } else { t1 - t0 };
    // 8 flush intervals: 2 nominal (flush + subscription), the rest for a loaded 2-core machine.
    ensure!(lag <= flush * 8, "the second replica saw the open breaker {lag:?} after the first (flush interval {flush:?})");

    // One event per transition, not one per replica: wait until both are past open_wait
    // (half-open, a second transition), give a duplicate time to appear, then read them all.
    e2e::wait_until("both replicas see the breaker half-open", T, || async {
        for r in [&a.bindings[0], &b.bindings[0]] {
            if r.breaker.status().await.state.mode != breaker::Mode::HalfOpen {
                return None;
            }
        }
        Some(())
    })
    .await?;
    tokio::time::sleep(flush * 4).await; // a duplicate event would be emitted by the next flushes
    let (_, high) = tokio::task::block_in_place(|| {
        events.fetch_watermarks(&format!("{src}.breaker-events"), 0, Duration::from_secs(10))
    })?;
    let all = sidecar::read_until(&events, T, |m| {
        i64::try_from(m.len()).unwrap_or(i64::MAX) >= high
    })
    .await?;
    let seq: Vec<(String, String, i64)> = all
        .iter()
        .map(sidecar::json_of)
        .map(|v| {
            (
                v["from"].as_str().unwrap_or("").into(),
                v["to"].as_str().unwrap_or("").into(),
                v["epoch"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let opens: Vec<&(String, String, i64)> = seq
        .iter()
        .filter(|(f, t, _)| f == "closed" && t == "open")
        .collect();
    ensure!(
        opens.len() == 1,
        "one closed→open event expected, got {seq:?}"
    );
    ensure!(
        seq.iter()
            .filter(|(f, t, _)| f == "open" && t == "half_open")
            .count()
            == 1,
        "one open→half_open event expected, got {seq:?}"
    );
    let epochs: HashSet<i64> = seq.iter().map(|(_, _, e)| *e).collect();
    ensure!(
        epochs.len() == seq.len(),
        "two events share an epoch: {seq:?}"
    );
    let ev = sidecar::json_of(&all[0]);
    ensure!(ev["reason"]["rule"] == "dep_time_nulls", "{ev}");
    eprintln!("replicas: partitions {spread:?}, second replica saw open {lag:?} after the first, events {seq:?}");

    e2e::close_consumer(events).await;
    let (ra, rb) = tokio::join!(stop(a), stop(b));
    ra?;
    rb?;
    let mut conn = e2e::redis_connection(&redis).await?;
    e2e::redis_delete_prefix(&mut conn, &prefix).await?;
    Ok(())
}
