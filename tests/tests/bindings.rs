//! Several bindings in one gate process, sharing its consumer, record loop and event topic:
//! two source topics with different contracts and fallbacks. A null burst on one trips only
//! that binding's breaker (its events name it); the other keeps validating; every source
//! record of both topics lands exactly once on its own binding's outputs.

use e2e::sidecar::{self, header_str, json_of, keyed, read_until};
use gate::config::{Binding, Fallback};
use gate::serve::headers as h;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(45);

/// The flights contract as a second, independent contract under another id.
fn departures_contract() -> String {
    let c = sidecar::flights_contract().replacen("id: flights\n", "id: departures\n", 1);
    assert!(c.contains("id: departures\n"), "the example contract changed shape");
    c
}

fn outputs(src: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|o| format!("{src}.{o}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_one_binding_trips_only_its_breaker() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let (a, b) = (e2e::unique_name("bind-a"), e2e::unique_name("bind-b"));
    e2e::create_topic(&brokers, &a, 1).await?;
    e2e::create_topic(&brokers, &b, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    std::fs::write(dir.path().join("departures.odcs.yaml"), departures_contract())?;
    let mut cfg = sidecar::config(&brokers, dir.path(), &a, Fallback::Hold, None);
    cfg.bindings[0].name = "alpha".into();
    let beta = Binding { name: "beta".into(), source: b.clone(), contract: "departures".into(), fallback: Fallback::Degrade, ..cfg.bindings[0].clone() };
    // Alpha stays open for the rest of the test: what is sent to it after the trip is held.
    cfg.bindings[0].breaker.open_wait = T;
    cfg.bindings[0].breaker.max_open_wait = T;
    cfg.bindings.push(beta);
    let running = gate::serve::start(&cfg).await?;
    let runtime = |name: &str| running.bindings.iter().find(|r| r.cfg.name == name).cloned().ok_or_else(|| anyhow::anyhow!("binding {name} is not running"));
    let (alpha, beta) = (runtime("alpha")?, runtime("beta")?);

    let sample = sidecar::flights_sample();
    let p = e2e::producer(&brokers)?;
    // Steady state on both topics, then a null burst in dep_time on alpha's topic only.
    sidecar::produce(&p, &a, &keyed(&sample[..100])).await?;
    sidecar::produce(&p, &b, &keyed(&sample[..100])).await?;
    let burst: Vec<Value> = sample[100..300].iter().map(|r| {
        let mut r = r.clone();
        r["dep_time"] = Value::Null;
        r
    }).collect();
    sidecar::produce(&p, &a, &keyed(&burst)).await?;
    let ev = sidecar::reader(&brokers, &cfg.events.breaker_topic)?;
    let opened = read_until(&ev, T, |m| m.iter().map(json_of).any(|e| e["to"] == "open")).await?;
    let trip = opened.iter().map(json_of).find(|e| e["to"] == "open").unwrap_or_default();
    assert_eq!((trip["binding"].as_str(), trip["source"].as_str(), trip["reason"]["rule"].as_str()), (Some("alpha"), Some(a.as_str()), Some("dep_time_nulls")), "{trip}");

    // While alpha is open, its good records are held and beta's still go to validated.
    sidecar::produce(&p, &a, &keyed(&sample[300..350])).await?;
    sidecar::produce(&p, &b, &keyed(&sample[100..200])).await?;
    let seen_b = sidecar::account(&brokers, &outputs(&b, &["validated", "quarantine", "degraded"]), 200, T).await?;
    let seen_a = sidecar::account(&brokers, &outputs(&a, &["validated", "quarantine", "held"]), 350, T).await?;
    assert_eq!(alpha.breaker.status().await.state.mode, breaker::Mode::Open);
    assert_eq!(beta.breaker.status().await.state.mode, breaker::Mode::Closed);

    // Each source record once, on its own binding's outputs, judged by its own contract.
    for (src, seen, contract) in [(&a, &seen_a, "flights"), (&b, &seen_b, "departures")] {
        assert!(seen.keys().all(|(t, _, _)| t == src), "{src}: a record of another topic");
        assert!(seen.values().all(|(_, m)| header_str(m, h::CONTRACT).as_deref() == Some(contract)), "{src}: judged by {contract}");
        let offsets: std::collections::BTreeSet<i64> = seen.keys().map(|(_, _, o)| *o).collect();
        assert_eq!(offsets.len(), seen.len());
        assert_eq!((offsets.first(), offsets.last()), (Some(&0), Some(&(i64::try_from(seen.len())? - 1))), "{src}: offsets 0..n, none missing");
    }
    assert!(seen_b.values().all(|(out, _)| *out == format!("{b}.validated")), "beta validated every record");
    let held = seen_a.values().filter(|(out, _)| *out == format!("{a}.held")).count();
    assert!(held > 0 && seen_a.values().all(|(out, _)| !out.ends_with(".quarantine")), "alpha held what came after its trip ({held})");

    // No event about beta: every transition on the shared event topic is alpha's.
    let mut events: Vec<Value> = opened.iter().map(json_of).collect();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), ev.recv()).await {
        events.push(json_of(&m.detach()));
    }
    for e in &events {
        assert_eq!(e["binding"], "alpha", "{e}");
    }
    sidecar::stop(running).await
}
