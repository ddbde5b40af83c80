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
    let (mut got, _) = latency_of(a, &[system], size, rate, contracts, pool).await?;
    got.pop().context("one system measured")
}

/// Where `system` writes the records it passes on `src`, and every topic it needs.
fn topics_of(system: System, src: &str) -> (String, Vec<(String, bool, bool)>) {
    match system {
        System::G => {
            let all = gate_outputs(src)
                .into_iter()
                .map(|t| {
                    let compact = t.ends_with(".last-good");
                    (t, false, compact)
                })
                .collect();
            (format!("{src}.validated"), all)
        }
        _ => (format!("{src}.out"), vec![(format!("{src}.out"), false, false)]),
    }
}

/// Writes `rate` records/s to one source for warm-up + `secs` while every system in `systems`
/// reads it (each in its own group, to its own output); the latency of every output record
/// sent after the warm-up, per system. With two systems, also the per-record difference
/// (second − first) over the records both passed.
async fn latency_of(
    a: &Args,
    systems: &[System],
    size: Size,
    rate: u64,
    contracts: &Path,
    pool: &[serde_json::Value],
) -> anyhow::Result<(Vec<Latency>, Option<i64>)> {
    let tag: Vec<String> = systems.iter().map(|s| format!("{s:?}")).collect();
    let src = e2e::unique_name(&format!("bench-lat-{}-{size:?}", tag.join("")));
    let mut topics = vec![(src.clone(), false, false)];
    let mut outs = Vec::new();
    for s in systems {
        let (out, all) = topics_of(*s, &src);
        outs.push(out);
        topics.extend(all);
    }
    create_topics(&a.brokers, &topics, a.partitions).await?;

    // The reader: every partition of every output from the start.
    let reader: StreamConsumer = e2e::kafka_config(&a.brokers)
        .set("group.id", e2e::unique_name("bench-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for out in &outs {
        for p in 0..a.partitions {
            tpl.add_partition_offset(out, p, Offset::Beginning)?;
        }
    }
    reader.assign(&tpl)?;
    drop(tpl);
    let which = |topic: &str| outs.iter().position(|o| o == topic);

    let (tx, rx) = watch::channel(false);
    let mut p_tasks = Vec::new();
    let mut running = None;
    for (s, out) in systems.iter().zip(&outs) {
        match s {
            System::P => p_tasks.push(tokio::spawn(passthrough(
                a.brokers.clone(),
                src.clone(),
                out.clone(),
                rx.clone(),
            ))),
            System::G => {
                let r = gate::serve::start(&gate_config(a, contracts, &src, size)).await?;
                if a.shadow {
                    super::throughput::attach_shadow(&r.bindings[0], &size.contract()?)?;
                }
                running = Some(r);
            }
            other => bail!("latency of {other:?} is not measured"),
        }
    }

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
    // Readiness: a record to every source partition, again each second, until every output
    // partition has carried one, so each system holds its partitions before the clock starts.
    // The fixed warm-up alone measured the group's join: with two loops the gate's assignment
    // took longer than the warm-up, and its p99 at 20k/s was that wait (2.7 s).
    let gen_from = {
        let parts = usize::try_from(a.partitions).unwrap_or(1);
        let mut seen = vec![false; parts * outs.len()];
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut resend = Instant::now();
        let mut k = needed;
        while !seen.iter().all(|s| *s) {
            ensure!(
                Instant::now() < deadline,
                "{tag:?} carried no record through every partition within 60 s"
            );
            if Instant::now() >= resend {
                for p in 0..a.partitions {
                    let (key, v) = record(pool, size, k, now_us());
                    k += 1;
                    producer
                        .send_result(FutureRecord::to(&src).key(&key).payload(&v).partition(p))
                        .map_err(|(e, _)| anyhow::anyhow!("readiness record: {e}"))?;
                }
                resend = Instant::now() + Duration::from_secs(1);
            }
            match tokio::time::timeout(Duration::from_millis(100), reader.recv()).await {
                Ok(Ok(m)) => {
                    let slot = which(m.topic()).zip(usize::try_from(m.partition()).ok());
                    if let Some(s) = slot.and_then(|(o, p)| seen.get_mut(o * parts + p)) {
                        *s = true;
                    }
                }
                Ok(Err(e)) => bail!("latency reader: {e}"),
                Err(_) => {}
            }
        }
        now_us()
    };
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

    // Collect until every record sent after the warm-up arrived on every output (or a grace
    // period passed).
    let mut started_rx = started_rx;
    let mut measure_from: Option<i64> = None;
    let mut lat: Vec<Vec<i64>> = vec![Vec::new(); outs.len()];
    // Per record (by its send time, unique but for two records stamped in one microsecond):
    // its latency through each of two systems, for the per-record difference.
    let mut paired: HashMap<i64, [i64; 2]> = HashMap::new();
    let mut gen = Some(gen);
    let mut total_sent: Option<u64> = None;
    let mut achieved = 0.0;
    let mut received: Vec<u64> = vec![0; outs.len()];
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
        if total_sent.is_some_and(|s| received.iter().all(|r| *r >= s))
            || grace_until.is_some_and(|g| Instant::now() > g)
        {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), reader.recv()).await {
            Ok(Ok(m)) => {
                let arrived = now_us();
                let Some(o) = which(m.topic()) else { continue };
                let sent = m.payload().and_then(sent_us_of);
                // Readiness records still arriving are not the generator's.
                if sent.is_some_and(|s| s >= gen_from) {
                    received[o] += 1;
                }
                if let (Some(from), Some(sent)) = (measure_from, sent) {
                    if sent >= from {
                        lat[o].push(arrived - sent);
                        if outs.len() == 2 {
                            paired.entry(sent).or_insert([-1, -1])[o] = arrived - sent;
                        }
                    }
                }
            }
            Ok(Err(e)) => bail!("latency reader: {e}"),
            Err(_) => {}
        }
    }
    let sent = total_sent.unwrap_or(0);
    let _ = tx.send(true);
    for t in p_tasks {
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
    let mut diffs: Vec<i64> = paired
        .values()
        .filter(|[x, y]| *x >= 0 && *y >= 0)
        .map(|[x, y]| y - x)
        .collect();
    let diff_p99 = (!diffs.is_empty()).then(|| pct(&mut diffs, 0.99));
    let got = lat
        .into_iter()
        .zip(received)
        .map(|(mut l, r)| Latency {
            rate,
            achieved,
            complete: r >= sent,
            samples: l.len(),
            p50: pct(&mut l, 0.50),
            p99: pct(&mut l, 0.99),
            p999: pct(&mut l, 0.999),
        })
        .collect();
    Ok((got, diff_p99))
}

/// P's and G's p50, p99 and p99.9 as six Markdown cells.
pub(crate) fn percentiles(p: &Latency, g: &Latency) -> String {
    format!("{} | {} | {} | {} | {} | {}", p.p50, p.p99, p.p999, g.p50, g.p99, g.p999)
}

/// `--latency-only`: P and G at the fixed load, `rounds` times, both reading one source at
/// once (each in its own group, to its own output). Run one after the other, each system's
/// p99 at 20k/s was set by the broker's young-generation pauses (10–100 ms, every 1–2 s) that
/// fell into its run, and the difference swung ±7 ms between rounds; side by side, both
/// systems meet the same pauses. The table prints one row per round and the medians.
pub(crate) async fn latency_rounds(
    a: &Args,
    size: Size,
    pool: &[serde_json::Value],
    rounds: usize,
) -> anyhow::Result<()> {
    let rate = a.latency_rate.context("--latency-only needs --latency-rate")?;
    let contracts = contracts_dir(size)?;
    let mut rows = Vec::new();
    for round in 1..=rounds {
        let (got, diff) =
            latency_of(a, &[System::P, System::G], size, rate, contracts.path(), pool).await?;
        let [p, g] = <[Latency; 2]>::try_from(got)
            .map_err(|_| anyhow::anyhow!("two systems measured"))?;
        for (s, l) in [("P", &p), ("G", &g)] {
            eprintln!(
                "[{}] round {round} {s} at {rate}/s (achieved {:.0}/s, kept up: {}): p50 {} µs p99 {} µs p99.9 {} µs ({} samples)",
                size.name(), l.achieved, l.complete, l.p50, l.p99, l.p999, l.samples
            );
        }
        rows.push((p, g, diff.unwrap_or(0)));
    }
    println!("{}", latency_table(a, size, rate, &rows));
    Ok(())
}

fn latency_table(a: &Args, size: Size, rate: u64, rows: &[(Latency, Latency, i64)]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Latency of {} records at {rate}/s, P and G side by side on one source, send → output arrival, µs ({} s after readiness and a 2 s warm-up; {} partitions). \"per record\": the p99 of G − P over the same records:\n",
        size.name(),
        a.latency_secs,
        a.partitions
    );
    let _ = writeln!(s, "| round | P p50 | P p99 | P p99.9 | G p50 | G p99 | G p99.9 | added p50 | added p99 | added, per record p99 | both kept up |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, (p, g, d)) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            percentiles(p, g),
            g.p50 - p.p50,
            g.p99 - p.p99,
            d,
            p.complete && g.complete
        );
    }
    let med = |f: &dyn Fn(&(Latency, Latency, i64)) -> i64| {
        let mut v: Vec<i64> = rows.iter().map(f).collect();
        pct(&mut v, 0.5)
    };
    let _ = writeln!(
        s,
        "| median | {} | {} | {} | {} | {} | {} | {} | {} | {} | |",
        med(&|r| r.0.p50),
        med(&|r| r.0.p99),
        med(&|r| r.0.p999),
        med(&|r| r.1.p50),
        med(&|r| r.1.p99),
        med(&|r| r.1.p999),
        med(&|r| r.1.p50 - r.0.p50),
        med(&|r| r.1.p99 - r.0.p99),
        med(&|r| r.2),
    );
    s
}
