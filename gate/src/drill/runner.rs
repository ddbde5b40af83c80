//! Running one drill against a live gate: a paced producer replaying the baseline (and the
//! fault while it lasts), a reader of the binding's outputs and breaker events, and the
//! phases — warm-up, steady state, fault, recovery — driven from here.

use super::faults::{restamp, Ctx, Fault, Out};
use super::hypothesis::{evaluate, Check, Measured};
use super::ledger::{Kind, Ledger, Seen};
use super::plan::TrafficSpec;
use super::report::{DrillReport, Steady};
use super::scenario::{ContractInfo, Resolved};
use super::wire::Writers;
use crate::config::{Binding, GateConfig};
use crate::output::Output;
use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The gate and binding under drill.
#[derive(Debug, Clone)]
pub struct Target {
    /// The gate's configuration (brokers, client properties, event topics).
    pub cfg: GateConfig,
    /// The binding drilled.
    pub binding: Binding,
    /// Its contract.
    pub info: ContractInfo,
    /// Its contract compiled, as the gate judges records and writer schemas with it.
    pub compiled: Arc<contracts::CompiledContract>,
}

impl Target {
    /// Picks the binding (by name, or the only one) and loads its contract.
    ///
    /// # Errors
    /// No such binding, several to choose from, or an unusable contract.
    pub fn new(cfg: GateConfig, binding: Option<&str>) -> Result<Self, String> {
        let names: Vec<&str> = cfg.bindings.iter().map(|b| b.name.as_str()).collect();
        let b = match binding {
            Some(n) => crate::config::pattern::concrete(&cfg, n)?,
            None if cfg.bindings.len() == 1 && cfg.bindings[0].pattern().is_none() => cfg.bindings[0].clone(),
            None => return Err(format!("the config has several bindings or a pattern; pick one with --binding ({})", names.join(", "))),
        };
        let (info, compiled) = ContractInfo::load_compiled(&cfg.contracts.dir, &b.contract, b.object.as_deref())?;
        Ok(Self { binding: b, info, compiled: Arc::new(compiled), cfg })
    }
}

/// Steady traffic, resolved.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Baseline records in replay order.
    pub records: Arc<Vec<Value>>,
    /// Wire-format bindings: the baseline's writer schema file, if not the subject's latest.
    pub schema: Option<std::path::PathBuf>,
    /// Records per second.
    pub rate: f64,
    /// Steady-state measurement.
    pub steady: Duration,
    /// Key fields.
    pub key: Vec<String>,
    /// Field restamped to "now".
    pub restamp: Option<String>,
    /// Seed.
    pub seed: u64,
    /// Watch time after recovery.
    pub settle: Duration,
}

impl Traffic {
    /// Loads the baseline and applies defaults: 100 records/s, 5 s steady state, shuffled with
    /// seed 1, restamping the contract's SLA field, 3 s settle.
    ///
    /// # Errors
    /// No or unreadable baseline, a bad line, a bad rate.
    pub fn from_spec(spec: &TrafficSpec, info: &ContractInfo) -> Result<Self, String> {
        let path = spec.baseline.as_deref().ok_or("a baseline is needed: --baseline FILE (JSON Lines of known-good records) or traffic.baseline in the plan")?;
        let mut records = load_jsonl(path)?;
        let seed = spec.seed.unwrap_or(1);
        if spec.shuffle.unwrap_or(true) {
            shuffle(&mut records, seed);
        }
        let rate = spec.rate.unwrap_or(100.0);
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err(format!("rate {rate} must be between 0 and 100000 records per second"));
        }
        let restamp = match spec.restamp.as_deref() {
            Some("none") => None,
            Some(f) => Some(f.to_string()),
            None => info.time_field().map(String::from),
        };
        Ok(Self { records: Arc::new(records), schema: spec.schema.clone(), rate, steady: spec.steady.unwrap_or(Duration::from_secs(5)), key: spec.key.clone().unwrap_or_default(), restamp, seed, settle: spec.settle.unwrap_or(Duration::from_secs(3)) })
    }
}

fn load_jsonl(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read baseline {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("baseline {} line {}: {e}", path.display(), i + 1))?;
        if !v.is_object() {
            return Err(format!("baseline {} line {}: expected a JSON object", path.display(), i + 1));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(format!("baseline {} holds no records", path.display()));
    }
    Ok(out)
}

/// Fisher–Yates with the drill's seeded generator.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    for i in (1..v.len()).rev() {
        #[allow(clippy::cast_possible_truncation)]
        let j = (super::faults::mix(seed, i as u64) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Whether the `i`-th record of the fault is broken: exactly `share` of them, evenly spread.
#[must_use]
pub fn selected(i: u64, share: f64) -> bool {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = |k: u64| (k as f64 * share).floor() as u64;
    n(i + 1) > n(i)
}

/// How a drill is shown and stopped.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Show progress on stderr: live lines when it is a terminal, a plain line per step,
    /// phase and breaker change otherwise ([`show`]).
    pub progress: bool,
    /// Turns true to interrupt (Ctrl-C): injection stops, recovery is still awaited.
    pub cancel: Option<watch::Receiver<bool>>,
    /// Prefix of the progress line (e.g. `[2/5]`).
    pub label: String,
}

const STEADY: u8 = 0;
const FAULT: u8 = 1;
const STOP: u8 = 2;

#[derive(Debug, Default)]
struct Control {
    phase: AtomicU8,
    injected: AtomicU64,
    sent: AtomicU64,
}

fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn elapsed_ms(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

struct Feed {
    producer: FutureProducer,
    topic: String,
    traffic: Traffic,
    fault: Fault,
    /// Wire-format bindings: the writer schemas; JSON otherwise.
    wire: Option<Writers>,
    share: f64,
    cap: Option<u64>,
    ledger: Arc<Mutex<Ledger>>,
    ctl: Arc<Control>,
    t0: Instant,
}

impl Feed {
    async fn run(self) {
        let recs = Arc::clone(&self.traffic.records);
        let rate = self.traffic.rate;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut tokens, mut last) = (0.0_f64, Instant::now());
        let (mut cursor, mut considered, mut last_us) = (0usize, 0u64, 0i64);
        let mut previous: Option<Vec<u8>> = None;
        loop {
            tick.tick().await;
            let phase = self.ctl.phase.load(Relaxed);
            if phase == STOP {
                break;
            }
            let now = Instant::now();
            tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate * 0.2 + 1.0);
            last = now;
            while tokens >= 1.0 {
                tokens -= 1.0;
                let mut rec = recs[cursor % recs.len()].clone();
                cursor += 1;
                // Avro timestamps are often millis: a millisecond apart keeps them distinct.
                let now_us = chrono::Utc::now().timestamp_micros().max(last_us + if self.wire.is_some() { 1000 } else { 1 });
                last_us = now_us;
                if let Some(f) = &self.traffic.restamp {
                    let stamped = restamp(rec.get(f), now_us);
                    if let Some(o) = rec.as_object_mut() {
                        o.insert(f.clone(), stamped);
                    }
                }
                let inject = if phase == FAULT && self.cap.is_none_or(|c| self.ctl.injected.load(Relaxed) < c) {
                    considered += 1;
                    selected(considered - 1, self.share)
                } else {
                    false
                };
                let kind = if inject { Kind::Injected } else { Kind::Steady };
                let payload = if inject {
                    let ctx = Ctx { index: self.ctl.injected.fetch_add(1, Relaxed), seed: self.traffic.seed, now_ms: now_us / 1000, previous: previous.as_deref() };
                    let out = match &self.wire {
                        None => Ok(self.fault.inject(&rec, &ctx)),
                        Some(w) => w.inject(&self.fault, &rec, &ctx),
                    };
                    match out {
                        Ok(Out::Send(b)) => b,
                        Ok(Out::Skip) => continue,
                        Err(e) => {
                            self.unwritable(&e);
                            continue;
                        }
                    }
                } else {
                    let b = match &self.wire {
                        None => Ok(serde_json::to_vec(&rec).unwrap_or_default()),
                        Some(w) => w.baseline(&rec),
                    };
                    let Ok(b) = b.map_err(|e| self.unwritable(&e)) else { continue };
                    previous = Some(b.clone());
                    b
                };
                let key = (!self.traffic.key.is_empty()).then(|| self.traffic.key.iter().map(|k| rec.get(k).map_or_else(String::new, |v| v.as_str().map_or_else(|| v.to_string(), String::from))).collect::<Vec<_>>().join("|"));
                self.send(payload, key, kind).await;
            }
        }
        let p = self.producer.clone();
        let _ = tokio::task::spawn_blocking(move || p.flush(Duration::from_secs(10))).await;
    }

    /// A record the writer schema cannot carry: counted as a failed send (checked up front
    /// for the baseline, so only a fault's odd value gets here).
    fn unwritable(&self, e: &str) {
        tracing::warn!(error = e, "drill record not written");
        lock(&self.ledger).failed += 1;
    }

    async fn send(&self, payload: Vec<u8>, key: Option<String>, kind: Kind) {
        let at = elapsed_ms(self.t0);
        let fut = loop {
            let mut rec = FutureRecord::<str, [u8]>::to(&self.topic).payload(&payload);
            if let Some(k) = &key {
                rec = rec.key(k.as_str());
            }
            match self.producer.send_result(rec) {
                Ok(f) => break Some(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => break None,
            }
        };
        self.ctl.sent.fetch_add(1, Relaxed);
        let ledger = Arc::clone(&self.ledger);
        let Some(fut) = fut else {
            lock(&ledger).failed += 1;
            return;
        };
        tokio::spawn(async move {
            match fut.await {
                Ok(Ok(d)) => lock(&ledger).sent((d.partition, d.offset), kind, at),
                _ => lock(&ledger).failed += 1,
            }
        });
    }
}

/// Assigns every partition of the existing `topics` at its current end, so that only what
/// happens from now on is read. The `source` topic must exist: a drill never creates it
/// (auto-creation would pick the broker's partition count, and the gate would not be reading
/// it yet).
fn assign_at_end(cfg: &GateConfig, consumer: &StreamConsumer, topics: &[&str], source: &str) -> anyhow::Result<()> {
    let meta: BaseConsumer = crate::kafka::client_config(cfg).create().context("metadata client")?;
    let md = meta.fetch_metadata(None, Duration::from_secs(10)).context("listing topics")?;
    if !md.topics().iter().any(|t| t.name() == source && t.error().is_none()) {
        anyhow::bail!("source topic {source:?} does not exist on {}: create it and start the gate on it first", cfg.kafka.brokers);
    }
    let mut tpl = TopicPartitionList::new();
    for t in md.topics().iter().filter(|t| t.error().is_none() && topics.contains(&t.name())) {
        for p in t.partitions() {
            let (_, high) = meta.fetch_watermarks(t.name(), p.id(), Duration::from_secs(10)).with_context(|| format!("offsets of {}[{}]", t.name(), p.id()))?;
            tpl.add_partition_offset(t.name(), p.id(), Offset::Offset(high)).context("partition list")?;
        }
    }
    consumer.assign(&tpl).context("assigning the outputs")?;
    Ok(())
}

/// Runs one drill and reports it, its progress shown on `show` under `label` (`[2/5]`) and
/// stopped early when `cancel` turns true. Injection always stops before this returns.
///
/// # Errors
/// Kafka clients that cannot be created or topics that cannot be listed.
pub async fn run(target: &Target, traffic: &Traffic, r: &Resolved, wire: Option<Writers>, label: &str, cancel: Option<watch::Receiver<bool>>, show: &Show) -> anyhow::Result<DrillReport> {
    let cfg = &target.cfg;
    let topics = target.binding.topics();
    let w = Watch {
        source: target.binding.source.clone(),
        validated: topics.get(Output::Validated).to_string(),
        quarantine: topics.get(Output::Quarantine).to_string(),
        diverted: topics.iter().filter(|(o, _)| o.diverts()).map(|(_, t)| t.to_string()).collect(),
        events: cfg.events.breaker_topic.clone(),
        gate: GateKey { binding: target.binding.name.clone(), source: target.binding.source.clone(), group: cfg.kafka.group_id.clone() },
    };
    // Never joined or committed (the reader assigns partitions), but unique all the same.
    let group = format!("contract-gate-drill-{}-{}-{}", target.binding.name, std::process::id(), chrono::Utc::now().timestamp_micros());
    let consumer: StreamConsumer = crate::kafka::client_config(cfg)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "50")
        .create()
        .context("drill reader")?;
    let consumer = {
        let (cfg, w) = (cfg.clone(), w.clone());
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = [w.validated.as_str(), w.quarantine.as_str(), w.events.as_str()].into_iter().chain(w.diverted.iter().map(String::as_str)).collect();
            assign_at_end(&cfg, &consumer, &names, &w.source).map(|()| consumer)
        })
        .await
        .context("assign task")??
    };
    let producer: FutureProducer = crate::kafka::client_config(cfg).set("linger.ms", "5").set("enable.idempotence", "true").create().context("drill producer")?;
    let t0 = Instant::now();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let reader = tokio::spawn(read(consumer, w, Arc::clone(&ledger), t0, stop_rx));
    let ctl = Arc::new(Control::default());
    let feed = Feed { producer, topic: target.binding.source.clone(), traffic: traffic.clone(), fault: r.fault.clone(), wire, share: r.share, cap: r.records, ledger: Arc::clone(&ledger), ctl: Arc::clone(&ctl), t0 };
    let feeder = tokio::spawn(feed.run());
    let mut d = Driver { r, traffic, ledger: &ledger, ctl: &ctl, t0, show, label, cancel };
    let outcome = d.drive().await;
    // Whatever happened, injection is over and the producer stops.
    ctl.phase.store(STOP, Relaxed);
    let _ = feeder.await;
    let _ = stop_tx.send(true);
    if let Ok(c) = reader.await {
        let _ = tokio::task::spawn_blocking(move || drop(c)).await;
    }
    show.finish();
    let l = lock(&ledger);
    Ok(report(target, r, &outcome, &l))
}

/// What the phases produced, times in ms since the drill started.
#[derive(Debug, Default)]
struct Outcome {
    steady: Steady,
    fault_start: Option<u64>,
    fault_end: Option<u64>,
    aborted: Option<String>,
    recovered: bool,
}

struct Driver<'a> {
    r: &'a Resolved,
    traffic: &'a Traffic,
    ledger: &'a Arc<Mutex<Ledger>>,
    ctl: &'a Arc<Control>,
    t0: Instant,
    show: &'a Show,
    label: &'a str,
    cancel: Option<watch::Receiver<bool>>,
}

impl Driver<'_> {
    fn now(&self) -> u64 {
        elapsed_ms(self.t0)
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| *c.borrow())
    }

    fn show(&self, phase: &str) {
        let l = lock(self.ledger);
        #[allow(clippy::cast_precision_loss)]
        let t = self.now() as f64 / 1000.0;
        self.show.status(&Status { label: self.label, scenario: &self.r.scenario, phase, at_s: t, counts: [self.ctl.sent.load(Relaxed), l.injected, l.quarantined, l.leaked], breaker: l.mode().unwrap_or("closed") });
    }

    async fn pause(&self, phase: &str) {
        self.show(phase);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn drive(&mut self) -> Outcome {
        let mut out = Outcome::default();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        // Warm-up: a steady record validated with the breaker closed (an open breaker left by
        // earlier traffic gets the time a recovery gets).
        let deadline = self.now() + ms(self.r.hypothesis.recover_within);
        while lock(self.ledger).flowing_since(0).is_none() {
            if self.now() > deadline || self.cancelled() {
                let mode = lock(self.ledger).mode().unwrap_or("unknown").to_string();
                out.steady.problem = Some(format!("no steady record reached validated with the breaker closed within {:?} (breaker {mode})", self.r.hypothesis.recover_within));
                return out;
            }
            self.pause("warming up").await;
        }
        // Steady state.
        let from = self.now();
        while self.now() < from + ms(self.traffic.steady) && !self.cancelled() {
            self.pause("steady").await;
        }
        let to = self.now();
        {
            let l = lock(self.ledger);
            let (records, lat) = l.steady_between(from, to);
            let moved = l.transitions_since(from);
            let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1))).copied();
            #[allow(clippy::cast_precision_loss)]
            let rate = records as f64 / ((to - from).max(1) as f64 / 1000.0);
            out.steady = Steady { records, rate_per_s: (rate * 10.0).round() / 10.0, validated: lat.len() as u64, latency_p50_ms: pct(50), latency_p95_ms: pct(95), transitions: moved.len() as u64, problem: None };
            if let Some(t) = moved.first() {
                out.steady.problem = Some(format!("the breaker went {} → {}{} on the baseline alone", t.from, t.to, t.rule.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()));
            } else if lat.is_empty() {
                out.steady.problem = Some("no steady record was validated during the steady state".into());
            } else if self.cancelled() {
                out.steady.problem = Some("interrupted".into());
            }
        }
        if out.steady.problem.is_some() {
            return out;
        }
        // Fault.
        let start = self.now();
        out.fault_start = Some(start);
        self.ctl.phase.store(FAULT, Relaxed);
        let h = &self.r.hypothesis;
        while self.now() < start + ms(self.r.duration) {
            if self.r.records.is_some_and(|c| self.ctl.injected.load(Relaxed) >= c) {
                break;
            }
            let (leaked, mode) = {
                let l = lock(self.ledger);
                (l.leaked, l.mode().map(String::from))
            };
            if let Some(limit) = h.abort_leaked.filter(|n| leaked > *n) {
                out.aborted = Some(format!("{leaked} injected records reached validated (abort limit {limit})"));
            } else if let Some(m) = mode.filter(|m| m.starts_with("forced") || m == "metrics_only") {
                out.aborted = Some(format!("the breaker was put in {m} by an operator"));
            } else if self.cancelled() {
                out.aborted = Some("interrupted".into());
            }
            if out.aborted.is_some() {
                break;
            }
            self.pause("FAULT").await;
        }
        self.ctl.phase.store(STEADY, Relaxed);
        let end = self.now();
        out.fault_end = Some(end);
        // Recovery: closed again, good records flowing, then quiet for the settle time.
        let deadline = end + ms(h.recover_within);
        let settle = ms(self.traffic.settle);
        let mut since: Option<u64> = None;
        loop {
            let now = self.now();
            let (ok, unaccounted) = {
                let l = lock(self.ledger);
                let last = l.transitions.last().map_or(0, |t| t.at);
                (l.mode().is_none_or(|m| m == "closed") && l.flowing_since(end.max(last)).is_some(), l.unaccounted())
            };
            if ok {
                let s = *since.get_or_insert(now);
                if now >= s + settle && (unaccounted == 0 || now >= s + 3 * settle) {
                    out.recovered = true;
                    break;
                }
            } else {
                since = None;
            }
            if now > deadline + settle {
                break;
            }
            self.pause(if ok { "settling" } else { "recovering" }).await;
        }
        out
    }
}

fn report(target: &Target, r: &Resolved, o: &Outcome, l: &Ledger) -> DrillReport {
    let mut checks = vec![Check { name: "steady", passed: o.steady.problem.is_none(), detail: o.steady.problem.clone().unwrap_or_else(|| "breaker closed and records validated before the fault".into()) }];
    let mut measured = Measured::default();
    if let (Some(start), Some(end)) = (o.fault_start, o.fault_end) {
        let since = l.transitions_since(start);
        let trip = since.iter().find(|t| t.to == "open");
        let before = l.transitions.iter().rev().find(|t| t.at < start).map_or_else(|| "closed".to_string(), |t| t.to.clone());
        let detect = [l.first_quarantined.filter(|q| *q >= start), trip.map(|t| t.at)].into_iter().flatten().min();
        let recover = if !o.recovered {
            None
        } else if let Some(last) = since.last() {
            Some(last.at.saturating_sub(end))
        } else {
            l.flowing_since(end).map(|t| t - end)
        };
        measured = Measured {
            injected: l.injected,
            quarantined: l.quarantined,
            leaked: l.leaked,
            leaked_through_probes: l.leaked_through_probes,
            leaked_after_trip: trip.map_or(0, |t| l.leaked_since(t.at)),
            diverted: l.diverted,
            unaccounted: l.unaccounted(),
            time_to_detect_ms: detect.map(|t| t - start),
            time_to_trip_ms: trip.map(|t| t.at - start),
            time_to_recover_ms: recover,
            breaker_sequence: std::iter::once(before).chain(since.iter().map(|t| t.to.clone())).collect(),
            retrips: retrips(&since, end),
            trip_rule: trip.and_then(|t| t.rule.clone()),
            aborted: o.aborted.clone(),
        };
        checks.extend(evaluate(&r.hypothesis, &measured));
    }
    let fault_ms = o.fault_end.zip(o.fault_start).map_or(0, |(e, s)| e - s);
    DrillReport {
        scenario: r.scenario.clone(),
        binding: target.binding.name.clone(),
        contract: format!("{} {}", target.info.id, target.info.version),
        class: r.class,
        field: r.field.clone(),
        share: r.share,
        fault_ms,
        steady: o.steady.clone(),
        measured,
        steady_quarantined: l.steady_quarantined,
        hypothesis: r.hypothesis.clone(),
        passed: checks.iter().all(|c| c.passed),
        checks,
    }
}

/// Trips after the first close seen once the fault ended.
fn retrips(since: &[&Seen], fault_end: u64) -> u64 {
    let after = since.iter().skip_while(|t| t.at < fault_end || t.to != "closed");
    after.filter(|t| t.to == "open" && t.from == "closed").count() as u64
}

mod read;
pub mod show;

use read::{read, GateKey, Watch};
use show::{Show, Status};

#[cfg(test)]
mod tests;
