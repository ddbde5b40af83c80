//! The breaker's promise on real Kafka: a half-open probe is judged before any of it flows.
//! A failed probe's records take the open route, a passed probe's reach validated, and every
//! source record ends in exactly one output.

use e2e::sidecar::{self, header_str, keyed, read_until};
use gate::config::Fallback;
use gate::serve::headers as h;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The fault: `dep_time` null, keyed `inj-…` so that the outputs tell injected records from
/// the real data's own cancelled flights.
fn injected(records: &[Value]) -> Vec<(String, Vec<u8>)> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["dep_time"] = Value::Null;
            r
        })
        .zip(0..)
        .map(|(r, i)| (format!("inj-{i}"), r.to_string().into_bytes()))
        .collect()
}

/// A gate on a new one-partition topic named after `prefix` (`fallback: hold`, the test
/// helper's breaker: 2 s open wait, 30-record probes, 20 s probe timeout) that has already
/// passed 100 good flights.
struct Setup {
    brokers: String,
    src: String,
    probe_timeout: Duration,
    running: gate::serve::Running,
    binding: Arc<gate::serve::binding::BindingRuntime>,
    sample: Vec<Value>,
    producer: rdkafka::producer::FutureProducer,
    _dir: tempfile::TempDir,
}

async fn setup(brokers: String, prefix: &str) -> anyhow::Result<Setup> {
    let src = e2e::unique_name(prefix);
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    let running = gate::serve::start(&cfg).await?;
    let binding = Arc::clone(&running.bindings[0]);
    let sample = sidecar::flights_sample();
    let producer = e2e::producer(&brokers)?;
    sidecar::produce(&producer, &src, &keyed(&sample[..100])).await?;
    Ok(Setup { probe_timeout: cfg.bindings[0].breaker.probe_timeout, brokers, src, running, binding, sample, producer, _dir: dir })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_leaks_nothing_to_validated() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Setup { brokers, src, running, binding, sample, producer: p, _dir, .. } = setup(brokers, "probeleak").await?;
    let mut produced = 100;

    // The fault goes on through open and half-open, so a probe fails: the breaker trips, cools
    // down, probes, and opens again (its second trip).
    let deadline = tokio::time::Instant::now() + T;
    let mut i = 100;
    while binding.breaker.status().await.state.trips < 2 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no failed probe: {:?}", binding.breaker.status().await.state);
        sidecar::produce(&p, &src, &injected(&sample[i..i + 20])).await?;
        produced += 20;
        i = if i + 40 < sample.len() { i + 20 } else { 100 };
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing the producer
    }
    // Good data again until a probe passes and the breaker closes: every record deferred as a
    // probe is then out.
    while binding.breaker.status().await.state.mode != breaker::Mode::Closed {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "did not close: {:?}", binding.breaker.status().await.state);
        sidecar::produce(&p, &src, &keyed(&sample[i..i + 20])).await?;
        produced += 20;
        i = if i + 40 < sample.len() { i + 20 } else { 100 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every source offset in exactly one of validated and held (nothing is quarantined here).
    let reader: StreamConsumer = e2e::consumer_config(&brokers, &e2e::unique_name("reader")).set("isolation.level", "read_committed").create()?;
    reader.subscribe(&[&format!("{src}.validated"), &format!("{src}.held")])?;
    let out = read_until(&reader, T, |m| m.len() >= produced).await?;
    let mut seen: HashMap<i64, (String, bool)> = HashMap::new();
    for m in &out {
        let offset: i64 = header_str(m, h::SOURCE_OFFSET).unwrap_or_default().parse()?;
        let output = if rdkafka::message::Message::topic(m).ends_with(".held") { "held" } else { "validated" };
        let injected = rdkafka::message::Message::key(m).is_some_and(|k| k.starts_with(b"inj-"));
        anyhow::ensure!(seen.insert(offset, (output.to_string(), injected)).is_none(), "source offset {offset} written twice");
    }
    anyhow::ensure!(seen.len() == produced, "{} of {produced} source records in the outputs", seen.len());

    // After the first record held (the breaker open), no injected record reached validated:
    // not the records of the failed probe either.
    let first_held = seen.iter().filter(|(_, (o, _))| o == "held").map(|(off, _)| *off).min().unwrap_or(i64::MAX);
    let leaked: Vec<i64> = seen.iter().filter(|(off, (o, injected))| **off > first_held && o == "validated" && *injected).map(|(off, _)| *off).collect();
    anyhow::ensure!(leaked.is_empty(), "{} injected records reached validated after the breaker opened (e.g. offset {:?})", leaked.len(), leaked.iter().min());
    // Passed probes did flow: validated holds good records from after the trip.
    anyhow::ensure!(seen.iter().any(|(off, (o, injected))| *off > first_held && o == "validated" && !*injected), "no record reached validated after the close");
    // Nothing reaches validated while half-open: a probe's records go out with the verdict.
    let validated_while_half_open = out.iter().filter(|m| !rdkafka::message::Message::topic(*m).ends_with(".held")).filter(|m| header_str(m, h::BREAKER_STATE).as_deref() == Some("half_open")).count();
    anyhow::ensure!(validated_while_half_open == 0, "{validated_while_half_open} records reached validated while half-open");
    // The passed probe's records say so.
    let probed = out.iter().filter(|m| header_str(m, h::PROBE).as_deref() == Some("passed")).count();
    anyhow::ensure!(probed > 0, "no validated record carries {}: passed", h::PROBE);
    sidecar::stop(running).await
}

/// A record-level fault (every record quarantined) fails the probe on `$.recordFailures`
/// instead of leaving the breaker half-open until the probe times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_level_fault_fails_the_probe_instead_of_starving_it() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Setup { src, probe_timeout, running, binding, sample, producer: p, _dir, .. } = setup(brokers, "probestarve").await?;
    // From here every record fails a record check: its carrier is a number.
    let broken: Vec<Value> = sample[100..].iter().map(|r| {
        let mut r = r.clone();
        r["carrier"] = Value::from(7);
        r
    }).collect();
    let deadline = tokio::time::Instant::now() + T;
    let (mut i, mut half_open_since, mut reopened) = (0, None, None);
    while reopened.is_none() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never left half-open: {:?}", binding.breaker.status().await.state);
        sidecar::produce(&p, &src, &keyed(&broken[i..i + 20])).await?;
        i = if i + 40 < broken.len() { i + 20 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing the producer
        let st = binding.breaker.status().await.state;
        match (st.mode, half_open_since) {
            (breaker::Mode::HalfOpen, None) => half_open_since = Some(tokio::time::Instant::now()),
            (breaker::Mode::Open, Some(t)) => reopened = Some((t.elapsed(), st.reason)),
            _ => {}
        }
    }
    let Some((stayed, reason)) = reopened else { anyhow::bail!("the loop ends only once reopened") };
    // Judged and failed (on `$.recordFailures`, or on the first rule in order that the
    // probe's records breach), not starved.
    anyhow::ensure!(matches!(reason, breaker::Reason::Breach(_)), "the probe was not judged: {reason:?}");
    anyhow::ensure!(stayed < probe_timeout / 2, "half-open for {stayed:?} (probe timeout {probe_timeout:?})");
    sidecar::stop(running).await
}

/// Records read after a probe's verdict never overtake that probe's records: in each round the
/// router goes half-open, probe records are deferred, the verdict (closed) comes, and records
/// produced at once after it reach validated after the probe records, in source order. (The
/// resume tick released probe records up to 100 ms after the verdict, and records routed
/// meanwhile went first; a hand-over in between had the next owner write them again.) The
/// test drives the router itself, with the flusher kept out of it after its first flush, so
/// every verdict finds probe records deferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_after_a_verdict_never_overtake_its_probe_records() -> anyhow::Result<()> {
    use breaker::route::testing;
    const ROUNDS: usize = 5;
    const PROBES: usize = 5;
    const AFTER: usize = 20;
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("probeorder");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    // One flush at startup, then none: a flush sets the router to the breaker's own state.
    cfg.bindings[0].breaker.flush_interval = Duration::from_secs(3600);
    let running = gate::serve::start(&cfg).await?;
    let router = Arc::clone(&running.bindings[0].router);
    let sample = keyed(&sidecar::flights_sample());
    let p = e2e::producer(&brokers)?;
    let reader: StreamConsumer = e2e::consumer_config(&brokers, &e2e::unique_name("reader")).set("isolation.level", "read_committed").create()?;
    reader.subscribe(&[&format!("{src}.validated"), &format!("{src}.quarantine")])?;
    let mut out = Vec::new();
    // Records flow (and the startup flush is long done) before the router is driven.
    let mut next = 10;
    sidecar::produce(&p, &src, &sample[..next]).await?;
    out.extend(read_until(&reader, T, |m| m.len() >= next).await?);
    for round in 0..ROUNDS {
        testing::set_half_open(&router);
        testing::grant(&router, PROBES as u64);
        sidecar::produce(&p, &src, &sample[next..next + PROBES]).await?;
        next += PROBES;
        // Every slot taken: the probe records are deferred (a slot given back is granted again).
        let mut used = 0;
        e2e::wait_until(&format!("round {round}: {PROBES} probe records deferred"), T, || {
            used += testing::take_allowance(&router);
            let done = used >= PROBES as u64;
            if !done {
                testing::grant(&router, PROBES as u64 - used);
            }
            async move { done.then_some(()) }
        })
        .await?;
        // The verdict, and records at once.
        testing::set(&router, breaker::Mode::Closed, false, breaker::StoreOutagePolicy::Local);
        sidecar::produce(&p, &src, &sample[next..next + AFTER]).await?;
        next += AFTER;
        let seen = out.len();
        out.extend(read_until(&reader, T, |m| seen + m.len() >= next).await?);
    }
    // Each output in source order, every record once.
    let mut last: HashMap<String, i64> = HashMap::new();
    for m in &out {
        let offset: i64 = header_str(m, h::SOURCE_OFFSET).unwrap_or_default().parse()?;
        let output = rdkafka::message::Message::topic(m).rsplit('.').next().unwrap_or_default().to_string();
        if let Some(prev) = last.insert(output.clone(), offset) {
            anyhow::ensure!(prev < offset, "{output}: source offset {offset} after {prev}");
        }
    }
    anyhow::ensure!(out.len() == next, "{} outputs of {next} records", out.len());
    sidecar::stop(running).await
}
