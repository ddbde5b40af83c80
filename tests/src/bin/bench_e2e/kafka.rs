//! Topic set-up, pre-fill and the broker-side measurements (append times, totals).

use super::*;

pub(crate) fn admin(brokers: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(e2e::kafka_config(brokers).create()?)
}

/// Creates topics with `partitions` partitions; `log_append` stamps records with the broker's
/// append time; `compact` for last-good topics.
pub(crate) async fn create_topics(
    brokers: &str,
    topics: &[(String, bool, bool)],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin = admin(brokers)?;
    let news: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(t, log_append, compact)| {
            let mut nt = NewTopic::new(t, partitions, TopicReplication::Fixed(1));
            if *log_append {
                nt = nt.set("message.timestamp.type", "LogAppendTime");
            }
            if *compact {
                nt = nt.set("cleanup.policy", "compact");
            }
            nt
        })
        .collect();
    for r in admin
        .create_topics(
            &news,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await?
    {
        if let Err((t, e)) = r {
            bail!("create topic {t}: {e}");
        }
    }
    for (t, _, _) in topics {
        e2e::wait_for_topic(brokers, t, partitions, Duration::from_secs(60)).await?;
    }
    Ok(())
}

pub(crate) async fn delete_topics(brokers: &str, topics: &[String]) {
    if let Ok(admin) = admin(brokers) {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
    }
}

/// Producer of the source records (what an upstream service would run).
pub(crate) fn source_producer(brokers: &str, linger_ms: &str) -> anyhow::Result<FutureProducer> {
    Ok(e2e::kafka_config(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms)
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "60000")
        .create()?)
}

/// Writes the same records to every topic in `topics`.
pub(crate) async fn prefill(
    brokers: &str,
    topics: &[String],
    records: &[(String, String)],
) -> anyhow::Result<()> {
    let p = source_producer(brokers, "20")?;
    for t in topics {
        let mut pending = FuturesUnordered::new();
        for (k, v) in records {
            loop {
                match p.send_result(FutureRecord::to(t).key(k).payload(v)) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((e, _))
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                    {
                        if let Some(done) = pending.next().await {
                            done?.map_err(|(e, _)| anyhow::anyhow!("prefill {t}: {e}"))?;
                        }
                    }
                    Err((e, _)) => bail!("prefill {t}: {e}"),
                }
            }
        }
        while let Some(done) = pending.next().await {
            done?.map_err(|(e, _)| anyhow::anyhow!("prefill {t}: {e}"))?;
        }
    }
    Ok(())
}

/// High watermarks summed over `topics`.
pub(crate) fn total_records(client: &BaseConsumer, topics: &[String], partitions: i32) -> anyhow::Result<i64> {
    let mut sum = 0;
    for t in topics {
        for p in 0..partitions {
            sum += client.fetch_watermarks(t, p, Duration::from_secs(10))?.1;
        }
    }
    Ok(sum)
}

/// Waits until `topics` hold `want` records in total.
pub(crate) async fn wait_total(
    brokers: &str,
    topics: &[String],
    partitions: i32,
    want: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client: BaseConsumer = e2e::kafka_config(brokers).create()?;
    let start = Instant::now();
    loop {
        let n = tokio::task::block_in_place(|| total_records(&client, topics, partitions))?;
        if n >= want {
            return Ok(());
        }
        ensure!(
            start.elapsed() < timeout,
            "only {n} of {want} records in {topics:?} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The broker append time (ms) of the first and the last record over every partition of
/// `topics`, and how many records they hold.
pub(crate) fn append_window(
    brokers: &str,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<(i64, i64, i64)> {
    let c: BaseConsumer = e2e::kafka_config(brokers)
        .set("group.id", e2e::unique_name("bench-window"))
        .set("enable.auto.commit", "false")
        .create()?;
    let (mut first, mut last, mut count) = (i64::MAX, i64::MIN, 0);
    for t in topics {
        for p in 0..partitions {
            let (low, high) = c.fetch_watermarks(t, p, Duration::from_secs(10))?;
            if high <= low {
                continue;
            }
            count += high - low;
            for off in [low, high - 1] {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(t, p, Offset::Offset(off))?;
                c.assign(&tpl)?;
                drop(tpl);
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    ensure!(Instant::now() < deadline, "no record at {t}[{p}]@{off}");
                    match c.poll(Duration::from_millis(500)) {
                        Some(Ok(m)) => {
                            let ts = m
                                .timestamp()
                                .to_millis()
                                .context("record without timestamp")?;
                            ensure!(
                                matches!(m.timestamp(), rdkafka::Timestamp::LogAppendTime(_)),
                                "{t} is not LogAppendTime"
                            );
                            first = first.min(ts);
                            last = last.max(ts);
                            break;
                        }
                        Some(Err(e)) => bail!("reading {t}[{p}]@{off}: {e}"),
                        None => {}
                    }
                }
            }
        }
    }
    c.unassign()?;
    Ok((first, last, count))
}


