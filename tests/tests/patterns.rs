//! A binding whose `source` is a topic pattern (`^…`, a regular expression on whole topic
//! names), through the real `contract-gate serve` binary on real Kafka and Redis. Each matching
//! topic is bound on its own as `<binding>:<topic>`, with its own outputs, window and breaker
//! (its own Redis keys): a null burst on one tenant's topic trips only that tenant's breaker
//! while the other keeps validating, and the same records on both tenants are no duplicates of
//! each other. A matching topic created while the gate runs is picked up within
//! `kafka.pattern_refresh` and read from its start (records written before the pick-up are not
//! lost). A topic the pattern does not match gets no outputs, and the gate never binds its own
//! outputs or event topics (both match the pattern here): no `<t>.validated.validated` ever.
//! Every source offset of every matched topic lands exactly once on its own outputs.
//!
//! The binary is `<target>/<profile>/contract-gate`, built first (or `CG_GATE_BIN`), as in the
//! `serve_resilience` tests, whose process helpers this file shares.

use anyhow::{bail, ensure, Context as _};
use e2e::sidecar::{self, header_str, http, json_of, read_until};
use gate::serve::headers as h;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

// The `contract-gate serve` child process (spawn, `/ready`, SIGTERM, log tail) and a plain
// HTTP GET, shared with the serve_resilience tests; that module reads its imports and `T` from
// here (`use super::*`). Not every helper of it is used in this file.
#[path = "serve_resilience/process.rs"]
#[allow(dead_code, unused_imports)]
mod process;
use process::{gate_binary, http_get, GateProcess};

/// Upper bound of every wait (a loaded 2-core CI box); waits return as soon as they hold.
const T: Duration = Duration::from_secs(120);

/// Source partitions of each matched topic, and the gate's record loops: each loop subscribes
/// to the topics the pattern picks up.
const PARTS: i32 = 2;

/// The pattern binding's name; its concrete bindings are `tenants:<topic>`.
const BINDING: &str = "tenants";

/// How often the gate lists the cluster's topics.
const REFRESH: Duration = Duration::from_secs(1);

/// The example contract with its `frequency` SLA (30 s) widened to an hour and its rowCount
/// rule removed: a tenant left idle while the test works on another must not trip on silence
/// (a 10 s window empties), which is not what this test is about.
fn contract() -> String {
    let text = sidecar::flights_contract();
    let widened = text.replace("  - property: frequency\n    value: 30\n    unit: s\n", "  - property: frequency\n    value: 1\n    unit: h\n");
    let out = widened.replace("      - id: flights_row_count\n        metric: rowCount\n        mustBeGreaterThan: 0\n", "");
    assert!(out != widened && widened != text, "the example contract changed shape; adjust this test");
    out
}

/// Flights without the sample's own cancellations or missing tail numbers: no window rule of
/// the contract breaches on them, so the only trip is the burst's.
fn clean() -> Vec<Value> {
    sidecar::flights_sample().into_iter().filter(|r| !r["dep_time"].is_null() && !r["tailnum"].is_null()).collect()
}

/// `rows` as records keyed `<tag>-<i>` (keys tell the batches apart on the outputs), each
/// passed through `edit`.
fn records(tag: &str, rows: &[Value], edit: impl Fn(&mut Value)) -> Vec<(String, Vec<u8>)> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            edit(&mut r);
            (format!("{tag}-{i}"), r.to_string().into_bytes())
        })
        .collect()
}

/// `s` as a regular expression matching it literally (`unique_name` gives `[A-Za-z0-9._-]`,
/// of which only `.` means something in a pattern).
fn literal(s: &str) -> String {
    s.replace('.', "\\.")
}

/// The gate's config: one pattern binding over `<p>.tenant.*`, with the breaker settings of the
/// other trip tests (`serve_resilience::gate_yaml`) except a long open wait (a tripped tenant
/// stays open for the rest of the test), a shared breaker in Redis, and event topics that match
/// the pattern too (the gate must not bind them).
fn gate_yaml(brokers: &str, contracts: &Path, p: &str, redis: &str, key_prefix: &str) -> String {
    let refresh = REFRESH.as_millis();
    format!(
        "kafka:
  brokers: {brokers}
  group_id: {p}-gate
  pattern_refresh: {refresh}ms
  properties:
    session.timeout.ms: \"6000\"
redis:
  url: {redis}
  key_prefix: {key_prefix}
contracts:
  dir: {contracts}
events:
  breaker_topic: {p}.tenant.breaker-events
  violations_topic: {p}.tenant.violations
workers: {PARTS}
bindings:
  - name: {BINDING}
    source: '^{pattern}\\.tenant\\..*'
    contract: flights
    format: json
    fallback: hold
    breaker:
      min_records: 50
      window: {{ kind: time, length: 10s, bucket: 500ms }}
      open_wait: 120s
      max_open_wait: 120s
      probe_records: 30
      probe_timeout: 20s
      flush_interval: 250ms
",
        contracts = contracts.display(),
        pattern = literal(p),
    )
}

/// `what`, with the last lines of the gate's log.
fn with_log(gate: &GateProcess, what: &str) -> String {
    format!("{what}; gate log:\n{}", gate.log_tail())
}

/// Names for a failure message: the first few, and how many more (a cascade of outputs bound
/// as sources makes hundreds).
fn show<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&String> = names.into_iter().collect();
    let more = names.len().saturating_sub(8);
    let head: Vec<&str> = names.iter().take(8).map(|n| n.as_str()).collect();
    if more == 0 { format!("{head:?}") } else { format!("{head:?} and {more} more") }
}

/// The concrete binding of `topic`.
fn bound(topic: &str) -> String {
    format!("{BINDING}:{topic}")
}

/// The outputs a record of `topic` can settle in under `fallback: hold`.
fn outputs(topic: &str) -> Vec<String> {
    ["validated", "quarantine", "held"].iter().map(|o| format!("{topic}.{o}")).collect()
}

/// `GET /v1/breakers`: every binding's status.
async fn breakers(addr: &str) -> anyhow::Result<Vec<Value>> {
    let (code, body) = http("GET", &format!("http://{addr}/v1/breakers"), None, None).await?;
    ensure!(code == 200, "GET /v1/breakers answered {code}: {body}");
    body.as_array().cloned().with_context(|| format!("GET /v1/breakers is not a list: {body}"))
}

/// The names of the concrete bindings of the pattern binding, as `/v1/breakers` lists them.
async fn tenants(addr: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(breakers(addr).await?.iter().filter_map(|b| b["binding"].as_str()).filter(|n| n.starts_with(&format!("{BINDING}:"))).map(str::to_string).collect())
}

/// `GET /v1/breakers/<name>`.
async fn breaker(addr: &str, name: &str) -> anyhow::Result<Value> {
    let (code, body) = http("GET", &format!("http://{addr}/v1/breakers/{name}"), None, None).await?;
    ensure!(code == 200, "GET /v1/breakers/{name} answered {code}: {body}");
    Ok(body)
}

/// Every (topic, partition, offset) written to `topic` so far, from its partitions' watermarks.
async fn written(brokers: &str, topic: &str) -> anyhow::Result<BTreeSet<(String, i32, i64)>> {
    let c: BaseConsumer = e2e::consumer_config(brokers, &e2e::unique_name("ends")).create()?;
    let t = topic.to_string();
    let marks = tokio::task::spawn_blocking(move || (0..PARTS).map(|p| c.fetch_watermarks(&t, p, Duration::from_secs(10)).map(|w| (p, w))).collect::<Result<Vec<_>, _>>()).await??;
    Ok(marks.into_iter().flat_map(|(p, (lo, hi))| (lo..hi).map(move |o| (topic.to_string(), p, o))).collect())
}

/// Every topic on the broker whose name starts with `prefix`.
async fn topics_under(brokers: &str, prefix: &str) -> anyhow::Result<BTreeSet<String>> {
    let all = e2e::topic_partition_leaders(std::sync::Arc::new(e2e::admin(brokers)?), None).await?;
    Ok(all.into_iter().map(|(name, _)| name).filter(|n| n.starts_with(prefix)).collect())
}

/// Partitions the gate's group holds, per member.
fn assigned(brokers: &str, group: &str) -> Option<Vec<usize>> {
    e2e::group_assignments(brokers, group).ok()
}

/// Redis keys matching `pattern` (SCAN, never KEYS: other tests share the server).
async fn redis_keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> anyhow::Result<Vec<String>> {
    let (mut cursor, mut out) = (0_u64, Vec::new());
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(500).query_async(conn).await.context("SCAN")?;
        out.extend(keys);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// The value of `contract_gate_records_total{binding=…, route=…}` in a Prometheus text page.
fn records_total(page: &str, binding: &str, route: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("contract_gate_records_total{") && l.contains(&format!("binding=\"{binding}\"")) && l.contains(&format!("route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_binds_each_matching_topic_with_its_own_breaker_and_picks_up_new_ones() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Some(redis) = e2e::redis_url() else { return Ok(()) };
    let bin = tokio::task::spawn_blocking(gate_binary).await??;
    let p = e2e::unique_name("pattern");
    let (a, b, c, other) = (format!("{p}.tenant.a"), format!("{p}.tenant.b"), format!("{p}.tenant.c"), format!("{p}.other"));
    let key_prefix = e2e::unique_name("pattern-keys");
    let group = format!("{p}-gate");
    e2e::create_topic(&brokers, &a, PARTS).await?;
    e2e::create_topic(&brokers, &b, PARTS).await?;
    e2e::create_topic(&brokers, &other, PARTS).await?;
    let rows = clean();
    let producer = e2e::producer(&brokers)?;
    // A topic beside the pattern, with records waiting: nothing may read it.
    sidecar::produce(&producer, &other, &records("other", &rows[..20], |_| {})).await?;

    let contracts = sidecar::contracts_dir(&contract());
    let work = tempfile::tempdir()?;
    let config = work.path().join("gate.yaml");
    std::fs::write(&config, gate_yaml(&brokers, contracts.path(), &p, &redis, &key_prefix))?;
    let mut gate = GateProcess::spawn(&bin, &config, &work.path().join("gate.log"))?;
    gate.wait_ready().await?;
    let addr = gate.addr.clone();

    // Both existing tenants are bound, under their own names, and nothing else is.
    let want: BTreeSet<String> = [bound(&a), bound(&b)].into();
    let listed = e2e::wait_until("/v1/breakers lists both tenants", T, || async { tenants(&addr).await.ok().filter(|t| t.is_superset(&want)) }).await;
    match listed {
        Ok(listed) => ensure!(listed == want, "{}", with_log(&gate, &format!("bindings beside the tenants: {}", show(listed.difference(&want))))),
        Err(e) => bail!("{}", with_log(&gate, &format!("{e}; listed {}", show(&tenants(&addr).await?)))),
    }
    for t in [&a, &b] {
        for o in outputs(t) {
            e2e::wait_for_topic(&brokers, &o, PARTS, T).await.with_context(|| with_log(&gate, &format!("output {o} of {t}")))?;
        }
    }
    // Each loop holds one partition of each tenant before records flow (a hand-over of a
    // partition with records in flight is not what this test is about); `other` is not
    // subscribed (it would make 6).
    let both = e2e::wait_until("the gate's two loops hold a's and b's 4 partitions", T, || async { assigned(&brokers, &group).filter(|x| x.len() == 2 && x.iter().sum::<usize>() == 4 && x.iter().all(|n| *n > 0)) }).await;
    if let Err(e) = both {
        bail!("{}", with_log(&gate, &format!("{e}; the group holds {:?}", assigned(&brokers, &group))));
    }

    // The same good flights to both tenants. Separate windows: in one shared window every
    // record would be a duplicate of another (flights_unique) and trip the breaker.
    sidecar::produce(&producer, &a, &records("a-good", &rows[..100], |_| {})).await?;
    sidecar::produce(&producer, &b, &records("b-good", &rows[..100], |_| {})).await?;
    let first = sidecar::account(&brokers, &[outputs(&a), outputs(&b)].concat(), 200, T).await.with_context(|| with_log(&gate, "a's and b's first records"))?;
    for (src, (out, m)) in &first {
        ensure!(*out == format!("{}.validated", src.0), "{src:?} went to {out}, not its own validated");
        ensure!(header_str(m, h::BREAKER_STATE).as_deref() == Some("closed"), "{src:?}: breaker {:?}", header_str(m, h::BREAKER_STATE));
    }

    // A null burst on a only: a's breaker opens, b's stays closed.
    sidecar::produce(&producer, &a, &records("a-null", &rows[100..300], |r| r["dep_time"] = Value::Null)).await?;
    let opened = e2e::wait_until("a's breaker is open", T, || async { breaker(&addr, &bound(&a)).await.ok().filter(|s| s["state"]["mode"] == "open") }).await;
    let opened = match opened {
        Ok(s) => s,
        Err(e) => bail!("{}", with_log(&gate, &format!("{e}; a: {:?}, b: {:?}", breaker(&addr, &bound(&a)).await, breaker(&addr, &bound(&b)).await))),
    };
    ensure!(opened["binding"] == bound(&a) && opened["store"] == "redis", "a's breaker: {opened}");
    ensure!(opened["state"]["reason"].to_string().contains("dep_time_nulls"), "a tripped on its null burst: {opened}");
    let b_state = breaker(&addr, &bound(&b)).await?;
    ensure!(b_state["state"]["mode"] == "closed" && b_state["store"] == "redis", "b's breaker while a's is open: {b_state}");
    // The trip event names a's concrete binding and topic.
    let events_topic = format!("{p}.tenant.breaker-events");
    e2e::wait_for_topic(&brokers, &events_topic, 1, T).await?;
    let events = sidecar::reader(&brokers, &events_topic)?;
    let trip = read_until(&events, T, |m| m.iter().map(json_of).any(|e| e["to"] == "open")).await.with_context(|| with_log(&gate, "a's trip event"))?;
    let trip = trip.iter().map(json_of).find(|e| e["to"] == "open").unwrap_or_default();
    ensure!(trip["binding"] == bound(&a) && trip["source"] == a.as_str(), "trip event: {trip}");

    // While a is open its good records are held; b's go on to b's validated.
    sidecar::produce(&producer, &a, &records("a-after", &rows[300..350], |_| {})).await?;
    sidecar::produce(&producer, &b, &records("b-more", &rows[100..200], |_| {})).await?;
    let seen_a = sidecar::account(&brokers, &outputs(&a), 350, T).await.with_context(|| with_log(&gate, "a's records"))?;
    let seen_b = sidecar::account(&brokers, &outputs(&b), 200, T).await.with_context(|| with_log(&gate, "b's records"))?;
    for (key, out, state) in seen_b.values().map(|(out, m)| (String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(), out, header_str(m, h::BREAKER_STATE))) {
        ensure!(*out == format!("{b}.validated") && state.as_deref() == Some("closed"), "b's {key} went to {out} with the breaker {state:?}");
    }
    let after: Vec<&String> = seen_a.values().filter(|(_, m)| m.key().is_some_and(|k| k.starts_with(b"a-after-"))).map(|(out, _)| out).collect();
    ensure!(after.len() == 50 && after.iter().all(|o| **o == format!("{a}.held")), "a's records after its trip: {after:?}");
    ensure!(breaker(&addr, &bound(&b)).await?["state"]["mode"] == "closed", "b's breaker after b's further records");

    // A tenant created while the gate runs, with records written before the gate can have
    // picked it up: they are read from the start, on the new binding's own outputs.
    e2e::create_topic(&brokers, &c, PARTS).await?;
    sidecar::produce(&producer, &c, &records("c-early", &rows[..50], |_| {})).await?;
    let want: BTreeSet<String> = [bound(&a), bound(&b), bound(&c)].into();
    let listed = e2e::wait_until("/v1/breakers lists the new tenant", T, || async { tenants(&addr).await.ok().filter(|t| t.is_superset(&want)) }).await;
    match listed {
        Ok(listed) => ensure!(listed == want, "{}", with_log(&gate, &format!("bindings beside the tenants: {}", show(listed.difference(&want))))),
        Err(e) => bail!("{}", with_log(&gate, &format!("{e}; listed {}", show(&tenants(&addr).await?)))),
    }
    for o in outputs(&c) {
        e2e::wait_for_topic(&brokers, &o, PARTS, T).await.with_context(|| with_log(&gate, &format!("output {o} of the new tenant")))?;
    }
    sidecar::produce(&producer, &c, &records("c-late", &rows[50..100], |_| {})).await?;
    let seen_c = sidecar::account(&brokers, &outputs(&c), 100, T).await.with_context(|| with_log(&gate, "c's records"))?;
    ensure!(seen_c.values().all(|(out, _)| *out == format!("{c}.validated")), "c's records: {:?}", seen_c.values().map(|(o, _)| o).collect::<BTreeSet<_>>());
    let c_state = breaker(&addr, &bound(&c)).await?;
    ensure!(c_state["state"]["mode"] == "closed" && c_state["store"] == "redis", "c's breaker: {c_state}");
    let six = e2e::wait_until("the gate's loops hold a's, b's and c's 6 partitions", T, || async { assigned(&brokers, &group).filter(|x| x.iter().sum::<usize>() == 6) }).await;
    if let Err(e) = six {
        bail!("{}", with_log(&gate, &format!("{e}; the group holds {:?}", assigned(&brokers, &group))));
    }

    // Every source offset of each tenant, exactly once, on that tenant's own outputs.
    for (t, seen) in [(&a, &seen_a), (&b, &seen_b), (&c, &seen_c)] {
        let coords: BTreeSet<(String, i32, i64)> = seen.keys().cloned().collect();
        ensure!(coords == written(&brokers, t).await?, "{t}: the outputs hold other offsets than the source's");
        ensure!(seen.values().all(|(out, _)| out.starts_with(&format!("{t}."))), "{t}: a record on another tenant's output");
    }

    // Each tenant has its own breaker state in Redis, and its own metrics label.
    let mut conn = e2e::redis_connection(&redis).await?;
    for t in [&a, &b, &c] {
        let keys = redis_keys(&mut conn, &format!("{key_prefix}:{}:*", bound(t))).await?;
        ensure!(!keys.is_empty(), "no Redis key of {}: {:?}", bound(t), redis_keys(&mut conn, &format!("{key_prefix}*")).await?);
    }
    let (code, page) = http_get(&addr, "/metrics").await?;
    ensure!(code == 200, "/metrics answered {code}");
    let counted = [(bound(&a), "held", 50.0), (bound(&b), "validated", 200.0), (bound(&c), "validated", 100.0)];
    for (name, route, at_least) in counted {
        let n = records_total(&page, &name, route);
        ensure!(n >= at_least, "contract_gate_records_total{{binding={name:?}, route={route:?}}} is {n}, expected at least {at_least}");
    }

    // What the gate must never bind. Its outputs, its event topics (all matching the pattern)
    // and the unmatched topic exist now; a wrong match would show at the next listing, so wait
    // for three more listings (`contract_gate_pattern_refreshes_total`).
    let listings = |page: &str| page.lines().filter(|l| l.starts_with("contract_gate_pattern_refreshes_total{") && l.contains("outcome=\"listed\"")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>();
    let before = listings(&page);
    ensure!(before >= 1.0, "no listing counted in /metrics");
    e2e::wait_until("three more listings of the cluster's topics", T, || async { http_get(&addr, "/metrics").await.ok().filter(|(_, p)| listings(p) >= before + 3.0) }).await?;
    let listed = tenants(&addr).await?;
    ensure!(listed == want, "bindings after a few more listings: {}", show(&listed));
    ensure!(assigned(&brokers, &group).is_some_and(|x| x.iter().sum::<usize>() == 6), "the group holds {:?}, not just the three tenants' 6 partitions", assigned(&brokers, &group));
    let ours = topics_under(&brokers, &p).await?;
    let mut allowed: BTreeSet<String> = [a.clone(), b.clone(), c.clone(), other.clone(), format!("{p}.tenant.breaker-events"), format!("{p}.tenant.violations")].into();
    for t in [&a, &b, &c] {
        allowed.extend(["validated", "quarantine", "held", "degraded", "last-good"].iter().map(|o| format!("{t}.{o}")));
    }
    let stray: Vec<&String> = ours.difference(&allowed).collect();
    let cascaded: Vec<&String> = ours.iter().filter(|t| t.ends_with(".validated.validated")).collect();
    ensure!(cascaded.is_empty(), "an output was taken as a source: {}", show(cascaded.iter().copied()));
    let unmatched: Vec<&String> = ours.iter().filter(|t| t.starts_with(&format!("{other}."))).collect();
    ensure!(unmatched.is_empty(), "the unmatched topic got outputs: {}", show(unmatched.iter().copied()));
    ensure!(stray.is_empty(), "{}", with_log(&gate, &format!("topics the gate should not have made: {}", show(stray.iter().copied()))));

    let st = gate.terminate().await?;
    ensure!(st.success(), "{}", with_log(&gate, &format!("contract-gate exited with {st} after SIGTERM")));
    e2e::redis_delete_prefix(&mut conn, &key_prefix).await?;
    Ok(())
}
