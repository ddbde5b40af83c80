//! `contracts backtest` against a live gate on real Kafka: clean flights, an enum drift burst,
//! clean flights again, paced so that record timestamps track arrival. The live gate routes
//! them; the backtest replays the same source topic. Quarantine counts must be equal (record
//! checks are deterministic); breaker-driven routes (held) within a tolerance, since the gate
//! flushes on its wall clock and the simulation on record time.

use e2e::sidecar;
use gate::backtest::sim::Settings;
use gate::backtest::source::{self, Start, TopicRange};
use gate::backtest::Backtest;
use gate::config::Fallback;
use gate::serve::headers as h;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_reproduces_the_live_gates_routing_of_an_enum_drift_burst() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("backtest");
    e2e::create_topic(&brokers, &src, 1).await?;
    // The example contract with its frequency SLA widened: the gate idles while outputs are read.
    let text = sidecar::flights_contract().replace("  - property: frequency\n    value: 30\n    unit: s\n", "  - property: frequency\n    value: 1\n    unit: h\n");
    let dir = sidecar::contracts_dir(&text);
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    cfg.workers = Some(1);
    let running = gate::serve::start(&cfg).await?;
    let group = cfg.kafka.group_id.clone();
    e2e::wait_until("the loop owns the partition", T, || async { (e2e::group_assignments(&brokers, &group).ok()? == [1]).then_some(()) }).await?;

    // 24 slices of 100 ms: 8 clean, 4 drifted (unknown carrier), 12 clean; 40 records each.
    let base: Vec<Value> = sidecar::flights_sample().into_iter().filter(|r| !r["dep_time"].is_null() && !r["tailnum"].is_null()).collect();
    let p = e2e::producer(&brokers)?;
    let (slices, per) = (24usize, 40usize);
    let mut bad = 0u64;
    for s in 0..slices {
        let drift = (8..12).contains(&s);
        let batch: Vec<(String, Vec<u8>)> = (0..per)
            .map(|j| {
                let i = s * per + j;
                let mut r = base[i % base.len()].clone();
                // Unique (carrier, flight, time_hour, origin): no duplicate rule in play.
                r["flight"] = Value::from(i % 9000 + 1);
                if drift {
                    r["carrier"] = Value::from("ZZ");
                }
                (format!("k-{i}"), r.to_string().into_bytes())
            })
            .collect();
        if drift {
            bad += u64::try_from(per)?;
        }
        sidecar::produce(&p, &src, &batch).await?;
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing: record time is the test's subject
    }
    let n = slices * per;

    // The live gate's routing, by source offset.
    let reader: StreamConsumer = e2e::consumer_config(&brokers, &e2e::unique_name("reader")).create()?;
    let outs = ["validated", "quarantine", "held"];
    let topics: Vec<String> = outs.iter().map(|o| format!("{src}.{o}")).collect();
    reader.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut seen: HashMap<i64, String> = HashMap::new();
    let deadline = tokio::time::Instant::now() + T;
    while seen.len() < n {
        let m = tokio::time::timeout_at(deadline, reader.recv()).await.map_err(|_| anyhow::anyhow!("live outputs: {} of {n} records", seen.len()))??;
        let off = m.headers().and_then(|hs| hs.iter().find(|x| x.key == h::SOURCE_OFFSET).and_then(|x| x.value)).and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
        if let Some(off) = off {
            seen.insert(off, m.topic().rsplit('.').next().unwrap_or_default().to_string());
        }
    }
    let live = |o: &str| u64::try_from(seen.values().filter(|x| *x == o).count()).unwrap_or(0);
    sidecar::stop(running).await?;

    // The backtest of the same contract over the same source range.
    let b = &cfg.bindings[0];
    let contract = Arc::new(contracts::compile(&contracts::parse(&text)?, None)?);
    let range = TopicRange { topic: src.clone(), brokers: brokers.clone(), properties: Vec::new(), start: Start::Offsets(vec![(0, 0)]), until: None, timeout: T, max_records: 100_000 };
    let records = source::read_topic(&range)?;
    anyhow::ensure!(records.len() == n, "read {} of {n}", records.len());
    let decoder = gate::serve::decode::Decoder::json(contracts::decode::DecodeLimits::default());
    let settings = Settings { breaker: b.breaker.clone(), fallback: b.fallback, stale_records: b.stale_records, bucket_ms: 1000 };
    let bt = Backtest { candidate: Arc::clone(&contract), active: Some(contract), settings, binding: Some(b.name.clone()), decoder: &decoder, source: src.clone() };
    let report = gate::backtest::run(&bt, &records).await?;
    let sim = report.candidate.totals;

    // Record checks are deterministic: equal exactly, and equal to the drift injected.
    anyhow::ensure!(sim.quarantine == live("quarantine") && sim.quarantine == bad, "quarantine: backtest {} live {} injected {bad}", sim.quarantine, live("quarantine"));
    anyhow::ensure!(report.candidate.quarantine_by_rule.get("carrier_known") == Some(&bad), "{:?}", report.candidate.quarantine_by_rule);
    // Both tripped on the burst.
    anyhow::ensure!(report.candidate.transitions.first().is_some_and(|t| t.to == "open"), "no trip: {:?}", report.candidate.transitions);
    anyhow::ensure!(live("held") > 0 && sim.held > 0, "held: backtest {} live {}", sim.held, live("held"));
    // Held within a tolerance: the gate's flushes fall on its wall clock 250 ms apart and its
    // open wait runs while it idles between produce calls; the simulation flushes on record
    // time. Each transition may shift by a flush (here up to 100 records), and the probe
    // (30 records) may be admitted a flush earlier or later.
    let tolerance = 4 * u64::try_from(per)? * 3 + 30;
    anyhow::ensure!(sim.held.abs_diff(live("held")) <= tolerance, "held: backtest {} live {} (tolerance {tolerance})", sim.held, live("held"));
    anyhow::ensure!(sim.validated + sim.held + sim.quarantine + sim.unresolved == u64::try_from(n)?, "{sim:?}");
    // The active version beside it, identical here.
    anyhow::ensure!(report.active.as_ref().is_some_and(|a| a.totals == sim), "active differs");
    Ok(())
}
