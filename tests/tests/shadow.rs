//! Shadow versions on real Kafka: a version pushed with `?shadow=true` is judged beside the
//! active one on the live records and routes nothing — every source record is routed once, by
//! the active version, exactly as without it — while its report says what it would have
//! quarantined, per rule, and that its breaker would have tripped; promoting it makes the
//! running gate route by it.

use e2e::sidecar::{self, flights_version, header_str, http, keyed, RegistryServer};
use gate::config::{ContractsSource, Fallback, RegistrySource};
use gate::serve::headers as h;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "e2e-shadow-token";
const T: Duration = Duration::from_secs(60);

/// 2.0.0: LGA is no longer an allowed origin (breaking, hence the major version).
fn without_lga() -> String {
    flights_version("2.0.0", |t| t.replacen("validValues: [EWR, JFK, LGA]", "validValues: [EWR, JFK]", 1))
}

fn origin(v: &Value) -> &str {
    v.get("origin").and_then(Value::as_str).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_version_reports_what_it_would_quarantine_while_the_active_one_routes_and_promotion_applies_it() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let topic = e2e::unique_name("registry-shadow");
    let src = e2e::unique_name("shadow-src");
    e2e::create_topic(&brokers, &src, 2).await?;
    let reg = RegistryServer::start(&brokers, &topic, TOKEN, 64 * 1024).await?;
    let push = |body: String, query: &'static str| {
        let url = format!("{}/v1/contracts{query}", reg.url);
        async move { http("POST", &url, Some(TOKEN), Some(body.into_bytes())).await }
    };
    assert_eq!(push(sidecar::flights_contract(), "").await?.0, 201);

    let redis = e2e::redis_url();
    let prefix = e2e::unique_name("shadow");
    let mut cfg = sidecar::config(&brokers, std::path::Path::new(""), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
    cfg.contracts = ContractsSource { dir: std::path::PathBuf::new(), registry: Some(RegistrySource { topic: topic.clone(), ..RegistrySource::default() }) };
    cfg.bindings[0].version = Some(">=1".into());
    let running = gate::serve::start(&cfg).await?;
    let binding = Arc::clone(&running.bindings[0]);

    // The shadow: registered, listed as such, never run.
    let (code, v) = push(without_lga(), "?shadow=true").await?;
    assert_eq!((code, v["shadow"].as_bool()), (201, Some(true)), "{v}");
    let b = Arc::clone(&binding);
    e2e::wait_until("the gate evaluates shadow 2.0.0", T, move || {
        let b = Arc::clone(&b);
        async move { (b.shadow.version().as_deref() == Some("2.0.0")).then_some(()) }
    })
    .await?;
    assert_eq!(&*binding.contract().version, "1.0.0", "a shadow version is never routed by");

    // Real flights: about a third leave from LGA, valid under 1.0.0, invalid under 2.0.0.
    let sample = sidecar::flights_sample();
    let first = &sample[..600];
    let p = e2e::producer(&brokers)?;
    sidecar::produce(&p, &src, &keyed(first)).await?;
    let outs: Vec<String> = ["validated", "quarantine", "held", "degraded"].iter().map(|s| format!("{src}.{s}")).collect();
    let routed = sidecar::account(&brokers, &outs, first.len(), T).await?;

    // The active version routed every record, once, and judged each by itself.
    let mut valid_lga = 0u64;
    let mut invalid = 0u64;
    for (out, m) in routed.values() {
        assert_eq!(header_str(m, h::CONTRACT_VERSION).as_deref(), Some("1.0.0"), "judged by the active version");
        let valid = header_str(m, h::VERDICT).as_deref() == Some("valid");
        if valid && origin(&sidecar::json_of(m)) == "LGA" {
            valid_lga += 1;
        }
        if !valid {
            invalid += 1;
            assert!(!header_str(m, h::VIOLATIONS).unwrap_or_default().contains("origin_nyc"), "1.0.0 takes LGA: {out}");
        }
    }
    assert!(valid_lga > 100, "the sample has LGA departures: {valid_lga}");

    // The shadow saw every record and says what it would have done.
    let b = Arc::clone(&binding);
    let want = first.len() as u64;
    let report = e2e::wait_until("the shadow judged every record", T, move || {
        let b = Arc::clone(&b);
        async move {
            let r = b.shadow.report("1.0.0").await?;
            let a = r.agreement;
            // Records behind a shadow probe are judged at its next flush: wait for all.
            (a.both_valid + a.both_invalid + a.would_quarantine + a.would_pass == want).then_some(r)
        }
    })
    .await?;
    let a = report.agreement;
    assert_eq!(report.skipped, 0);
    assert_eq!(a.would_quarantine, valid_lga, "{report:?}");
    assert_eq!((a.both_invalid, a.would_pass), (invalid, 0), "{report:?}");
    assert_eq!(report.records, want);
    let by_origin: u64 = report.quarantine_by_rule.iter().filter(|(k, _)| k.contains("origin_nyc")).map(|(_, n)| *n).sum();
    assert!(by_origin >= valid_lga, "{:?}", report.quarantine_by_rule);
    assert!(report.would_have_tripped, "a third of the records failing trips $.recordFailures: {report:?}");
    assert_eq!(report.shadow_version, "2.0.0");

    // Promotion: the version goes live, the gate routes by it, the evaluation ends.
    let (code, v) = http("POST", &format!("{}/v1/contracts/flights/versions/2.0.0/activate", reg.url), Some(TOKEN), None).await?;
    assert_eq!((code, v["status"].as_str(), v["shadow"].as_bool()), (200, Some("active"), Some(false)), "{v}");
    let b = Arc::clone(&binding);
    e2e::wait_until("the gate routes by 2.0.0", T, move || {
        let b = Arc::clone(&b);
        async move { (&*b.contract().version == "2.0.0" && b.shadow.version().is_none()).then_some(()) }
    })
    .await?;
    let second = &sample[600..900];
    sidecar::produce(&p, &src, &keyed(second)).await?;
    let all = sidecar::account(&brokers, &outs, first.len() + second.len(), T).await?;
    let mut lga_quarantined = 0;
    for (out, m) in all.values().filter(|(_, m)| header_str(m, h::CONTRACT_VERSION).as_deref() == Some("2.0.0")) {
        if origin(&sidecar::json_of(m)) == "LGA" {
            assert!(out.ends_with(".quarantine"), "LGA under 2.0.0 went to {out}");
            lga_quarantined += 1;
        }
    }
    assert!(lga_quarantined > 50, "2.0.0 quarantined the LGA departures: {lga_quarantined}");

    sidecar::stop(running).await?;
    reg.stop();
    if let Some(url) = redis {
        let mut conn = e2e::redis_connection(&url).await?;
        e2e::redis_delete_prefix(&mut conn, &prefix).await?;
    }
    Ok(())
}
