//! `contract-gate demo`: the whole gate on one machine with no services — rdkafka's
//! in-process mock cluster, the memory breaker store, the bundled flights contract and sample.
//!
//! Script: steady real flights → a burst of `dep_time = null` → good flights again. The gate
//! (the same `serve::start` as production) trips its breaker on the contract's
//! `dep_time_nulls` rule, serves last-good snapshots while open, probes in half-open and
//! closes. The demo watches it the way an operator would: breaker events from the
//! `contract-gate.breaker-events` topic, numbers from the gate's own Prometheus metrics.

pub mod data;
pub mod prom;
mod summary;
pub mod view;

pub use summary::{render, BreachSeen, Records, Summary, TransitionSeen};

use crate::output::Output;
use crate::serve::telemetry::RouteLabel;
use crate::config::GateConfig;
use crate::serve;
use anyhow::Context as _;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt as _;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use view::{Phase, RuleLine, Frame, View};

/// The demo's gate configuration (see the file for the tuning).
pub const CONFIG: &str = include_str!("demo.yaml");

/// Records per second the demo producer writes.
const RATE: u64 = 200;
/// Producer tick.
const TICK: Duration = Duration::from_millis(50);
/// Records with `dep_time = null` in the burst (2 s at `RATE`).
const BURST: u64 = 400;
/// Steady state before the burst: records the gate must have routed, and for how long.
const WARM_ROUTED: u64 = 700;
const WARM_FOR: Duration = Duration::from_secs(3);
/// Normal flow shown after the close.
const TAIL: Duration = Duration::from_secs(3);
/// The demo gives up (and fails) after this long.
const DEADLINE: Duration = Duration::from_secs(55);
/// Rules shown in the window line, in this order when present.
const SHOWN_RULES: [&str; 3] = ["dep_time_nulls", "$.recordFailures", "$.decodeErrors"];

/// Options of `contract-gate demo`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Draw the live view even if stderr is not a terminal (`Some(false)`: never).
    pub live: Option<bool>,
    /// Also serve `/health`, `/ready`, `/metrics` and `/v1/breakers` here while it runs.
    pub listen: Option<String>,
}


/// The demo's gate configuration with the in-process cluster and contract directory filled in.
///
/// # Errors
/// Only if the embedded YAML were broken (a unit test guards it).
pub fn config(brokers: &str, contracts_dir: &std::path::Path) -> anyhow::Result<GateConfig> {
    let mut cfg: GateConfig = serde_saphyr::from_str_with_options(CONFIG, serde_saphyr::options! { strict_booleans: true }).context("demo.yaml")?;
    cfg.kafka.brokers = brokers.to_string();
    cfg.contracts.dir = contracts_dir.to_path_buf();
    cfg.validate()?;
    Ok(cfg)
}

/// Runs the demo on its own runtime. `metrics` must be the process's installed recorder.
///
/// # Errors
/// Setup failures (cluster, gate, clients). A scenario that does not go as scripted is not an
/// error: it comes back as a summary with `passed: false`.
pub fn run(opts: &Options, metrics: &PrometheusHandle) -> anyhow::Result<Summary> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the async runtime")?;
    let out = rt.block_on(scenario(opts, metrics));
    rt.shutdown_timeout(Duration::from_secs(5));
    out
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Sum of `contract_gate_records_total` by route for the binding.
fn routes(samples: &[prom::Sample]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == crate::serve::telemetry::catalog::RECORDS.name && s.label("binding") == Some("flights")) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = s.value as u64;
        *m.entry(s.label("route").unwrap_or("?").to_string()).or_insert(0) += v;
    }
    m
}

/// The route of records that flowed to validated.
const VALIDATED: RouteLabel = RouteLabel::To(Output::Validated);

/// Records counted under `label` in the routes read from the metrics.
pub(crate) fn count(r: &BTreeMap<String, u64>, label: RouteLabel) -> u64 {
    r.get(label.as_str()).copied().unwrap_or(0)
}

/// Records the gate consumed: each ends in exactly one route that settles it (stale and
/// last-good re-sends come on top).
fn consumed(r: &BTreeMap<String, u64>) -> u64 {
    RouteLabel::ALL.into_iter().filter(|l| l.settles()).map(|l| count(r, l)).sum()
}

async fn scenario(opts: &Options, metrics: &PrometheusHandle) -> anyhow::Result<Summary> {
    use std::io::IsTerminal as _;
    let started = Instant::now();
    let t0 = now_ms();
    let at = |ms: i64| {
        #[allow(clippy::cast_precision_loss)]
        let s = (ms - t0) as f64 / 1000.0;
        s
    };
    let mut view = View::new(opts.live.unwrap_or_else(|| std::io::stderr().is_terminal()));
    let mut snap = Frame {
        elapsed_s: 0.0,
        phase: Phase::Starting,
        gate_consuming: false,
        produced: 0,
        routes: BTreeMap::new(),
        mode: "closed".into(),
        trips: 0,
        breach: None,
        half_open_in_s: None,
        probe: None,
        rules: Vec::new(),
        lag: None,
        states: vec!["closed".into()],
    };
    view.update(&snap);

    // The cluster and every topic the gate writes (the mock has no CreateTopics API).
    let cluster = MockCluster::new(1).context("starting the in-process Kafka cluster")?;
    let brokers = cluster.bootstrap_servers();
    let contracts = TempDir::new()?;
    std::fs::write(contracts.0.join("flights.odcs.yaml"), data::CONTRACT).context("writing the bundled contract")?;
    let cfg = config(&brokers, &contracts.0)?;
    let b = &cfg.bindings[0];
    let t = b.topics();
    for topic in [b.source.as_str(), cfg.events.breaker_topic.as_str(), cfg.events.violations_topic.as_str()].into_iter().chain(t.iter().map(|(_, t)| t)) {
        cluster.create_topic(topic, 1, 1).with_context(|| format!("creating topic {topic}"))?;
    }
    view.log(started.elapsed().as_secs_f64(), &format!("in-process Kafka cluster at {brokers}; topics {} and {}.{{validated,quarantine,held,last-good}}", b.source, b.source));

    let running = serve::start(&cfg).await.context("starting the gate")?;
    let binding = Arc::clone(&running.bindings[0]);
    let contract = binding.contract();
    let rule_lines: Vec<(String, contracts::Unit, String)> = SHOWN_RULES
        .iter()
        .filter_map(|id| contract.rules.iter().find(|r| r.id == *id))
        .map(|r| (r.id.clone(), r.unit, r.operator.to_string()))
        .collect();
    view.log(
        started.elapsed().as_secs_f64(),
        &format!("gate started: contract {} {} on topic {}, fallback {}, memory breaker store", contract.id, contract.version, b.source, b.fallback.as_str()),
    );
    let one = vec![(b.source.clone(), b.name.clone())];
    let lag_task = tokio::spawn(crate::lag::run(crate::kafka::client_config(&cfg), cfg.kafka.group_id.clone(), Box::new(move || one.clone()), Duration::from_secs(1), running.shutdown.subscribe()));
    let http = match &opts.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            let app = crate::http::router(running.ready.clone(), running.topology.clone(), metrics.clone(), None, running.transitions.clone());
            view.log(started.elapsed().as_secs_f64(), &format!("serving /metrics, /ready, /v1/breakers at http://{}", listener.local_addr()?));
            Some(tokio::spawn(async move { axum::serve(listener, app).await }))
        }
        None => None,
    };

    // Breaker events, read like any consumer would (no group: assigned from the start).
    let events: Arc<StreamConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "contract-gate-demo-viewer")
            .set("enable.auto.commit", "false")
            .create()
            .context("events reader")?,
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&cfg.events.breaker_topic, 0, Offset::Beginning).context("events partition")?;
    events.assign(&tpl).context("assigning the events topic")?;
    drop(tpl);
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reader = {
        let events = Arc::clone(&events);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(m) => {
                        if let Some(v) = m.payload().and_then(|p| serde_json::from_slice::<Value>(p).ok()) {
                            if ev_tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "events reader"),
                }
            }
        })
    };

    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &brokers).set("linger.ms", "5").create().context("producer")?;
    let flights = data::ordered();
    let mut acks: FuturesUnordered<DeliveryFuture> = FuturesUnordered::new();
    let mut produce_errors = 0u64;
    let mut records = Records::default();
    let mut seq = 0u64;
    let mut transitions: Vec<TransitionSeen> = Vec::new();
    let mut breach: Option<BreachSeen> = None;
    let (mut burst_first_ms, mut burst_last_ms) = (None::<i64>, None::<i64>);
    let (mut opened_ms, mut closed_ms) = (None::<i64>, None::<i64>);
    let mut phase = Phase::Steady;
    let mut phase_since = Instant::now();
    let mut consuming_since: Option<Instant> = None;
    let mut burst_left = BURST;
    let mut problems = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let per_tick = RATE * u64::try_from(TICK.as_millis()).unwrap_or(50) / 1000;
    view.log(started.elapsed().as_secs_f64(), &format!("producing {RATE} flights/s to {} (key: route, e.g. JFK-LAX)", b.source));

    loop {
        tick.tick().await;
        let elapsed = started.elapsed();
        if elapsed > DEADLINE {
            problems.push(format!("gave up after {}s in phase {phase:?}", DEADLINE.as_secs()));
            break;
        }
        // What the gate has done so far.
        let samples = prom::parse(&metrics.render());
        let r = routes(&samples);
        let routed = consumed(&r);
        if routed > 0 && consuming_since.is_none() {
            consuming_since = Some(Instant::now());
            view.log(elapsed.as_secs_f64(), "the gate joined its consumer group and is routing records");
        }
        while let Ok(ev) = ev_rx.try_recv() {
            let from = ev["from"].as_str().unwrap_or("?").to_string();
            let to = ev["to"].as_str().unwrap_or("?").to_string();
            let time_ms = ev["time"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map_or_else(now_ms, |d| d.timestamp_millis());
            let reason = ev["reason"].clone();
            let why = match reason["kind"].as_str() {
                Some("breach") => {
                    if breach.is_none() {
                        breach = Some(BreachSeen {
                            rule: reason["rule"].as_str().unwrap_or("?").to_string(),
                            field: reason["field"].as_str().map(str::to_string),
                            value: reason["value"].as_f64(),
                            threshold: reason["threshold"].clone(),
                            unit: reason["unit"].as_str().unwrap_or("").to_string(),
                            records: reason["records"].as_u64(),
                        });
                    }
                    describe_breach(&reason)
                }
                Some("cooled_down") => "open wait over: admitting a probe of records".to_string(),
                Some("probe_passed") => format!("probe of {} records passed every rule", reason["records"]),
                Some("probe_starved") => "no probe records arrived in time".to_string(),
                Some(k) => k.to_string(),
                None => String::new(),
            };
            if to == "open" && opened_ms.is_none() {
                opened_ms = Some(time_ms);
            }
            if to == "closed" && opened_ms.is_some() && closed_ms.is_none() {
                closed_ms = Some(time_ms);
            }
            view.log(at(time_ms), &format!("breaker {from} → {to}: {why}"));
            snap.states.push(to.clone());
            transitions.push(TransitionSeen { from, to, at_s: at(time_ms), reason });
        }
        let st = binding.breaker.status().await.state;
        let mode = st.mode.as_str();

        // The script.
        match phase {
            Phase::Steady if routed >= WARM_ROUTED && consuming_since.is_some_and(|t| t.elapsed() >= WARM_FOR) => {
                phase = Phase::Burst;
                phase_since = Instant::now();
                view.log(elapsed.as_secs_f64(), &format!("injecting a null burst: the next {BURST} flights have dep_time = null"));
            }
            Phase::Burst if burst_left == 0 => {
                phase = Phase::Recovery;
                phase_since = Instant::now();
                view.log(elapsed.as_secs_f64(), "burst over: the upstream sends good flights again");
            }
            Phase::Recovery if closed_ms.is_some() => {
                phase = Phase::Tail;
                phase_since = Instant::now();
            }
            Phase::Tail if phase_since.elapsed() >= TAIL => {
                phase = Phase::Draining;
                phase_since = Instant::now();
            }
            Phase::Draining if routed >= records.produced || phase_since.elapsed() >= Duration::from_secs(5) => {
                if routed < records.produced {
                    problems.push(format!("the gate routed {routed} of {} records before the demo stopped", records.produced));
                }
                break;
            }
            _ => {}
        }
        if phase != Phase::Draining {
            for _ in 0..per_tick {
                let in_burst = phase == Phase::Burst && burst_left > 0;
                let (key, payload, kind) = data::record(&flights, seq, in_burst);
                seq += 1;
                match producer.send_result(FutureRecord::to(&b.source).key(&key).payload(&payload)) {
                    Ok(f) => acks.push(f),
                    Err((e, _)) => {
                        produce_errors += 1;
                        tracing::debug!(error = %e, "demo produce");
                        continue;
                    }
                }
                records.produced += 1;
                if in_burst {
                    burst_left -= 1;
                    let t = now_ms();
                    burst_first_ms.get_or_insert(t);
                    burst_last_ms = Some(t);
                }
                match kind {
                    data::Kind::NullDepTime => records.burst += 1,
                    data::Kind::Good => {}
                    _ => records.broken += 1,
                }
            }
        }
        while let Some(Some(res)) = acks.next().now_or_never() {
            if !matches!(res, Ok(Ok(_))) {
                produce_errors += 1;
            }
        }

        // Redraw.
        // The gauge of the rule's unit, scaled back to the unit its threshold is written in.
        let value = |id: &str, unit: contracts::Unit| {
            let (gauge, factor) = crate::serve::telemetry::catalog::window_rule_gauge(unit);
            samples.iter().find(|s| s.name == gauge.name && s.label("binding") == Some("flights") && s.label("rule") == Some(id)).map(|s| s.value / factor)
        };
        let mut rules: Vec<RuleLine> = rule_lines.iter().map(|(id, unit, thr)| RuleLine { id: id.clone(), value: value(id, *unit), unit: unit.to_string(), threshold: thr.clone() }).collect();
        if let Some(br) = st.breach() {
            if let Some(i) = rules.iter().position(|x| x.id == br.rule) {
                let x = rules.remove(i);
                rules.insert(0, x);
            }
        }
        snap.elapsed_s = elapsed.as_secs_f64();
        snap.phase = phase;
        snap.gate_consuming = consuming_since.is_some();
        snap.produced = records.produced;
        snap.mode = mode.to_string();
        snap.trips = st.trips;
        if let Some(text) = st.breach().map(|b| format!("{}: {}({}) {} {} over {} records, must be {}", b.rule, b.metric.as_str(), b.field.as_deref().unwrap_or("record"), b.value.map_or_else(|| "–".into(), |v| format!("{v:.2}")), b.unit, b.records, b.threshold)) {
            snap.breach = Some(text);
        }
        #[allow(clippy::cast_precision_loss)]
        let until = st.open_until_ms.map(|u| ((u - now_ms()).max(0)) as f64 / 1000.0);
        snap.half_open_in_s = until;
        // Probe records are held until the verdict, so validated does not move while they are
        // judged: the gate's own count of the probe's records does.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let judged = samples.iter().find(|s| s.name == crate::serve::telemetry::catalog::PROBE_RECORDS.name && s.label("binding") == Some("flights")).map_or(0, |s| s.value.max(0.0) as u64);
        snap.probe = (st.mode == breaker::Mode::HalfOpen).then(|| (judged.min(st.probe_budget.max(1)), st.probe_budget));
        snap.rules = rules;
        snap.lag = {
            let l: Vec<f64> = samples.iter().filter(|s| s.name == crate::serve::telemetry::catalog::CONSUMER_LAG.name && s.label("binding") == Some("flights")).map(|s| s.value).collect();
            (!l.is_empty()).then(|| l.iter().sum())
        };
        snap.routes = r;
        view.update(&snap);
    }

    // Stop the gate the way `serve` does on SIGTERM: drain, commit, final flush.
    let _ = running.shutdown.send(true);
    let pipeline = running.pipeline;
    match pipeline.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("the gate stopped with an error: {e}")),
        Err(e) => problems.push(format!("the gate's record loop failed: {e}")),
    }
    for f in running.flushers {
        let _ = f.await;
    }
    let _ = lag_task.await;
    reader.abort();
    let _ = reader.await;
    if let Some(h) = http {
        h.abort();
    }
    while let Some(res) = acks.next().await {
        if !matches!(res, Ok(Ok(_))) {
            produce_errors += 1;
        }
    }
    if produce_errors > 0 {
        problems.push(format!("{produce_errors} records could not be produced to the in-process cluster"));
    }
    let final_routes = routes(&prom::parse(&metrics.render()));
    let route = |l: RouteLabel| count(&final_routes, l);
    records.validated = route(VALIDATED);
    records.quarantined = route(RouteLabel::To(Output::Quarantine));
    records.held = route(RouteLabel::To(Output::Held));
    records.stale = route(RouteLabel::Stale);
    records.degraded = route(RouteLabel::To(Output::Degraded));
    records.last_good = route(RouteLabel::To(Output::LastGood));
    snap.routes = final_routes.clone();
    snap.elapsed_s = started.elapsed().as_secs_f64();
    view.update(&snap);
    view.finish();

    // Clients go before the cluster they talk to; their drops block briefly, so off the workers.
    let ready = running.ready;
    let bindings = running.bindings;
    let topology = running.topology;
    let transitions_sink = running.transitions;
    drop(binding);
    tokio::task::spawn_blocking(move || {
        drop(events);
        drop(producer);
        drop(transitions_sink);
        drop(ready);
        drop(bindings);
        drop(topology);
    })
    .await
    .context("stopping the demo's Kafka clients")?;
    // The cluster is not Send; its drop joins its broker thread.
    tokio::task::block_in_place(|| drop(cluster));
    drop(contracts);

    let states: Vec<String> = std::iter::once("closed".to_string()).chain(transitions.iter().map(|t| t.to.clone())).collect();
    let expected = ["closed", "open", "half_open", "closed"];
    let mut it = states.iter();
    if !expected.iter().all(|e| it.any(|s| s == e)) {
        problems.push(format!("expected the breaker to go {} but saw {}", expected.join(" → "), states.join(" → ")));
    }
    if states.last().map(String::as_str) != Some("closed") {
        problems.push(format!("the breaker ended {}", states.last().map_or("?", String::as_str)));
    }
    if transitions.first().is_some_and(|t| t.at_s < at(burst_first_ms.unwrap_or(i64::MAX))) {
        problems.push("the breaker moved before the burst (steady traffic tripped it)".into());
    }
    if breach.as_ref().is_some_and(|b| b.rule != "dep_time_nulls") {
        problems.push(format!("the breaker tripped on {} instead of dep_time_nulls", breach.as_ref().map_or("?", |b| b.rule.as_str())));
    }
    for (n, what) in [(records.quarantined, "quarantined"), (records.held, "held"), (records.stale, "stale")] {
        if n == 0 {
            problems.push(format!("no records were {what}"));
        }
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Summary {
        passed: problems.is_empty(),
        problems,
        states,
        transitions,
        breach,
        records,
        time_to_detect_ms: opened_ms.zip(burst_first_ms).map(|(o, f)| o - f),
        time_to_recover_ms: closed_ms.zip(burst_last_ms).map(|(c, l)| c - l),
        duration_ms,
        breaker: serde_json::to_value(&cfg.bindings[0].breaker).unwrap_or(Value::Null),
    })
}

/// A private directory for the bundled contract, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("contract-gate-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn describe_breach(reason: &Value) -> String {
    let threshold = reason["threshold"].as_object().and_then(|o| o.iter().next()).map_or_else(String::new, |(k, v)| format!("{k} {v}"));
    format!(
        "{} ({} of {}) was {} {} over {} records; the contract says {}",
        reason["rule"].as_str().unwrap_or("?"),
        reason["metric"].as_str().unwrap_or("?"),
        reason["field"].as_str().unwrap_or("the record"),
        reason["value"].as_f64().map_or_else(|| "–".into(), |v| format!("{v:.2}")),
        reason["unit"].as_str().unwrap_or(""),
        reason["records"],
        threshold
    )
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_is_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config("127.0.0.1:9092", dir.path()).expect("demo.yaml");
        let b = &cfg.bindings[0];
        assert_eq!(b.fallback, crate::config::Fallback::LastGood);
        assert!(!cfg.kafka.create_topics);
        assert_eq!(b.breaker.probe_records, 300, "data::tests checks windows of this size stay under the thresholds");
        assert!(b.breaker.min_records <= WARM_ROUTED);
    }
}
