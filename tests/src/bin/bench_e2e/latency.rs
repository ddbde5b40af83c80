//! Latency: send → output arrival under a fixed load, for P and G.

use super::*;

// --------------------------------------------------------------- latency ----

/// Percentiles (µs) of `lat`.
pub(crate) fn pct(lat: &mut [i64], q: f64) -> i64 {
    if lat.is_empty() {
        return 0;
    }
    lat.sort_unstable();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
    lat[i]
}

#[derive(Debug, Clone)]
pub(crate) struct Latency {
    /// Records/s asked for.
    pub(crate) rate: u64,
    /// Records/s the generator managed during the measured part.
    pub(crate) achieved: f64,
    /// Every record sent arrived within the grace period (the system kept up).
    pub(crate) complete: bool,
    pub(crate) samples: usize,
    pub(crate) p50: i64,
    pub(crate) p99: i64,
    pub(crate) p999: i64,
}

/// Writes `rate` records/s to `src` for warm-up + `secs`, while `system` runs; latency of every
/// output record sent after the warm-up.
pub(crate) async fn latency(
    a: &Args,
    system: System,
    size: Size,
    rate: u64,
    contracts: &Path,
    pool: &[serde_json::Value],
) -> anyhow::Result<Latency> {
    let src = e2e::unique_name(&format!("bench-lat-{system:?}-{size:?}"));
    let out = match system {
        System::P => format!("{src}.out"),
        _ => format!("{src}.validated"),
    };
    let mut topics = vec![(src.clone(), false, false), (out.clone(), false, false)];
    if system != System::P {
        topics.extend(
            gate_outputs(&src)
                .into_iter()
                .filter(|t| *t != out)
                .map(|t| {
                    let compact = t.ends_with(".last-good");
                    (t, false, compact)
                }),
        );
    }
    create_topics(&a.brokers, &topics, a.partitions).await?;

    // The reader: every partition of the output from the start.
    let reader: StreamConsumer = e2e::kafka_config(&a.brokers)
        .set("group.id", e2e::unique_name("bench-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..a.partitions {
        tpl.add_partition_offset(&out, p, Offset::Beginning)?;
    }
    reader.assign(&tpl)?;
    drop(tpl);

    let (tx, rx) = watch::channel(false);
    let (p_task, running) = match system {
        System::P => (
            Some(tokio::spawn(passthrough(a.brokers.clone(), src.clone(), out.clone(), rx))),
            None,
        ),
        _ => {
            let running = gate::serve::start(&gate_config(a, contracts, &src, size)).await?;
            if a.shadow {
                super::throughput::attach_shadow(&running.bindings[0], &size.contract()?)?;
            }
            (None, Some(running))
        }
    };

    let producer = source_producer(&a.brokers, "1")?;
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<i64>();
    // Records are built before the run and only stamped with their send time when sent: the
    // generator shares this process (and its two cores) with the system under test, and
    // building 1 KB of JSON per record cost it more CPU than stamping. Every record is
    // distinct (a repeated one is a duplicate to the contract's uniqueness rules).
    let warmup = Duration::from_secs(2);
    let run = Duration::from_secs(a.latency_secs);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let needed = ((warmup + run).as_secs_f64() * rate as f64) as usize + 1;
    let templates: Vec<(String, Vec<u8>)> = (0..needed)
        .map(|i| {
            let (k, v) = record(pool, size, i, 0);
            (k, v.into_bytes())
        })
        .collect();
    let gen = {
        let src = src.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut sent: u64 = 0;
            let mut measured: Option<(Instant, u64)> = None;
            let mut started_tx = Some(started_tx);
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // At most 10 ms worth of records per tick: a generator that cannot keep up falls
            // behind (the achieved rate is reported) instead of sending in bursts.
            let per_tick_max = (rate / 100).max(1);
            loop {
                tick.tick().await;
                let el = start.elapsed();
                if measured.is_none() && el >= warmup {
                    measured = Some((Instant::now(), sent));
                    if let Some(s) = started_tx.take() {
                        let _ = s.send(now_us());
                    }
                }
                if el >= warmup + run {
                    break;
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let target = ((el.as_secs_f64() * rate as f64) as u64).min(sent + per_tick_max);
                while sent < target {
                    let i = usize::try_from(sent).unwrap_or(0);
                    let Some((k, t)) = templates.get(i) else { break };
                    let mut v = t.clone();
                    stamp(&mut v, now_us());
                    if let Err((e, _)) =
                        producer.send_result(FutureRecord::to(&src).key(k).payload(&v))
                    {
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        {
                            break; // the next tick catches up
                        }
                        anyhow::bail!("latency producer: {e}");
                    }
                    sent += 1;
                }
            }
            let (from, at) = measured.context("the run ended before the warm-up did")?;
            #[allow(clippy::cast_precision_loss)]
            let achieved = (sent - at) as f64 / from.elapsed().as_secs_f64().max(1e-3);
            tokio::task::block_in_place(|| {
                rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30))
            })?;
            anyhow::Ok((sent, achieved))
        })
    };

    // Collect until every record sent after the warm-up arrived (or a grace period passed).
    let mut started_rx = started_rx;
    let mut measure_from: Option<i64> = None;
    let mut lat: Vec<i64> = Vec::new();
    let mut gen = Some(gen);
    let mut total_sent: Option<u64> = None;
    let mut achieved = 0.0;
    let mut received: u64 = 0;
    let mut grace_until: Option<Instant> = None;
    loop {
        if let Some(g) = gen.as_mut().filter(|g| g.is_finished()) {
            let (n, rate) = g.await??;
            total_sent = Some(n);
            achieved = rate;
            gen = None;
            grace_until = Some(Instant::now() + Duration::from_secs(30));
        }
        if measure_from.is_none() {
            if let Ok(t) = started_rx.try_recv() {
                measure_from = Some(t);
            }
        }
        if total_sent.is_some_and(|s| received >= s)
            || grace_until.is_some_and(|g| Instant::now() > g)
        {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), reader.recv()).await {
            Ok(Ok(m)) => {
                let arrived = now_us();
                received += 1;
                if let (Some(from), Some(sent)) = (measure_from, m.payload().and_then(sent_us_of)) {
                    if sent >= from {
                        lat.push(arrived - sent);
                    }
                }
            }
            Ok(Err(e)) => bail!("latency reader: {e}"),
            Err(_) => {}
        }
    }
    let sent = total_sent.unwrap_or(0);
    let _ = tx.send(true);
    if let Some(t) = p_task {
        t.await??;
    }
    if let Some(r) = running {
        if a.shadow {
            let b = &r.bindings[0];
            if let Some(s) = b.shadow.report(&b.contract().version).await {
                eprintln!("  G shadow at {rate}/s: {} records judged, {} skipped (queue full)", s.records, s.skipped);
            }
        }
        stop_gate(r).await?;
    }
    tokio::task::spawn_blocking(move || drop(reader)).await?;
    let names: Vec<String> = topics.into_iter().map(|(t, _, _)| t).collect();
    delete_topics(&a.brokers, &names).await;
    let samples = lat.len();
    Ok(Latency {
        rate,
        achieved,
        complete: received >= sent,
        samples,
        p50: pct(&mut lat, 0.50),
        p99: pct(&mut lat, 0.99),
        p999: pct(&mut lat, 0.999),
    })
}
