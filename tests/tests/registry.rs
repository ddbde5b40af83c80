//! The contract registry on real Kafka: versions evolve under the breaking-change check, every
//! replica converges on the compacted topic, a restart loses nothing, writes need the token,
//! bad bodies get 4xx, the CLI speaks the API, and a running gate hot-reloads new versions
//! mid-stream without losing or repeating a record.

use e2e::sidecar::{self, flights_version, header_str, http, keyed, RegistryServer};
use gate::cli::registry_cmd::{self, Call, RegistryArgs};
use gate::cli::output::OutputFormat;
use gate::config::{ContractsSource, Fallback, RegistrySource};
use gate::serve::headers as h;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const TOKEN: &str = "e2e-registry-token";
const T: Duration = Duration::from_secs(60);
const MAX_BODY: usize = 64 * 1024;

/// 1.1.0: an optional field and a looser null threshold (compatible; same rule layout).
fn v1_1(version: &str) -> String {
    flights_version(version, |t| t.replacen("mustBeLessThan: 2.4\n", "mustBeLessThan: 5\n", 1).replacen("      - name: time_hour\n", "      - name: note\n        logicalType: string\n      - name: time_hour\n", 1))
}

/// A compatible version with a rule removed (the breaker's window layout changes).
fn v1_2_rule_removed(version: &str) -> String {
    v1_1(version).replacen("      - id: flights_row_count\n        metric: rowCount\n        mustBeGreaterThan: 0\n", "", 1)
}

/// Breaking: LGA is no longer an allowed origin.
fn breaking(version: &str) -> String {
    v1_1(version).replacen("validValues: [EWR, JFK, LGA]", "validValues: [EWR, JFK]", 1)
}

async fn push(url: &str, token: Option<&str>, body: &str) -> anyhow::Result<(u16, Value)> {
    http("POST", &format!("{url}/v1/contracts"), token, Some(body.as_bytes().to_vec())).await
}

async fn versions(url: &str) -> anyhow::Result<Vec<(String, String)>> {
    let (code, v) = http("GET", &format!("{url}/v1/contracts/flights/versions"), None, None).await?;
    anyhow::ensure!(code == 200, "versions: {code} {v}");
    Ok(v["versions"].as_array().into_iter().flatten().map(|x| (x["version"].as_str().unwrap_or("").to_string(), x["status"].as_str().unwrap_or("").to_string())).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_evolve_under_the_breaking_change_check_and_survive_a_restart() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let topic = e2e::unique_name("registry");
    let a = RegistryServer::start(&brokers, &topic, TOKEN, MAX_BODY).await?;
    // A second replica on the same topic, started before any write.
    let b = RegistryServer::start(&brokers, &topic, TOKEN, MAX_BODY).await?;

    let (code, v) = push(&a.url, Some(TOKEN), &sidecar::flights_contract()).await?;
    assert_eq!(code, 201, "v1.0.0: {v}");
    let (code, v) = push(&a.url, Some(TOKEN), &v1_1("1.1.0")).await?;
    assert_eq!(code, 201, "compatible v1.1.0: {v}");
    assert_eq!(v["comparedWith"], "1.0.0");
    let kinds: Vec<&str> = v["changes"].as_array().into_iter().flatten().filter_map(|c| c["kind"].as_str()).collect();
    assert!(kinds.contains(&"fieldAdded") && kinds.contains(&"threshold"), "{v}");

    let (code, v) = push(&a.url, Some(TOKEN), &breaking("1.2.0")).await?;
    assert_eq!(code, 409, "breaking v1.2.0: {v}");
    assert_eq!((v["reason"].as_str(), v["against"].as_str()), (Some("breaking"), Some("1.1.0")), "{v}");
    let change = &v["changes"][0];
    assert_eq!(change["path"], "flights.origin.quality[origin_nyc].arguments.validValues", "{v}");
    assert_eq!(change["breaking"], true);
    assert_eq!(change["from"], serde_json::json!(["LGA"]), "{v}");

    let (code, v) = push(&a.url, Some(TOKEN), &breaking("2.0.0")).await?;
    assert_eq!(code, 201, "breaking with a major bump: {v}");
    let (code, v) = push(&a.url, Some(TOKEN), &breaking("2.0.0")).await?;
    assert_eq!((code, v["created"].as_bool()), (200, Some(false)), "identical push is idempotent: {v}");
    let (code, v) = push(&a.url, Some(TOKEN), &v1_1("2.0.0")).await?;
    assert_eq!((code, v["reason"].as_str()), (409, Some("versionExists")), "same version, other content: {v}");

    // Writes need the token; bodies are checked for size and shape.
    assert_eq!(push(&a.url, None, &v1_1("2.1.0")).await?.0, 401);
    assert_eq!(push(&a.url, Some("not-the-token"), &v1_1("2.1.0")).await?.0, 401);
    let (code, v) = push(&a.url, Some(TOKEN), "apiVersion: v3.1.0\nkind: DataContract\nid: [unclosed\n").await?;
    assert_eq!(code, 400, "malformed YAML: {v}");
    assert!(v["problems"][0]["message"].as_str().is_some_and(|m| m.contains("not valid YAML")), "{v}");
    let (code, v) = push(&a.url, Some(TOKEN), &flights_version("2.1.0", |t| t.replacen("logicalType: integer", "logicalType: int", 1))).await?;
    assert_eq!(code, 400, "unknown type: {v}");
    assert!(v["problems"][0]["path"].as_str().is_some_and(|p| p.ends_with(".logicalType")), "{v}");
    let huge = format!("{}\n# {}\n", v1_1("2.1.0"), "x".repeat(MAX_BODY));
    let (code, v) = push(&a.url, Some(TOKEN), &huge).await?;
    assert_eq!(code, 413, "oversized: {v}");
    assert_eq!(push(&a.url, Some(TOKEN), "").await?.0, 400, "empty body");

    let (code, v) = http("POST", &format!("{}/v1/contracts/flights/versions/1.0.0/deprecate", a.url), None, Some(b"{}".to_vec())).await?;
    assert_eq!(code, 401, "deprecate needs the token: {v}");
    let (code, v) = http("POST", &format!("{}/v1/contracts/flights/versions/1.0.0/deprecate", a.url), Some(TOKEN), Some(br#"{"reason": "superseded"}"#.to_vec())).await?;
    assert_eq!((code, v["status"].as_str()), (200, Some("deprecated")), "{v}");

    let want = vec![("1.0.0".to_string(), "deprecated".to_string()), ("1.1.0".into(), "active".into()), ("2.0.0".into(), "active".into())];
    assert_eq!(versions(&a.url).await?, want);
    // The other replica converges by following the topic.
    let url_b = b.url.clone();
    let want_b = want.clone();
    e2e::wait_until("replica b has every version", T, || {
        let (u, w) = (url_b.clone(), want_b.clone());
        async move { versions(&u).await.ok().filter(|v| *v == w) }
    })
    .await?;

    // Diff and validate.
    let (code, d) = http("GET", &format!("{}/v1/contracts/flights/diff?from=1.1.0&to=2.0.0", b.url), None, None).await?;
    assert_eq!(code, 200, "{d}");
    assert_eq!((d["breaking"].as_bool(), d["majorBump"].as_bool(), d["compatible"].as_bool()), (Some(true), Some(true), Some(true)), "{d}");
    let sample: String = sidecar::flights_sample()[..50].iter().map(|r| format!("{r}\n")).collect();
    let (code, val) = http("POST", &format!("{}/v1/contracts/flights/validate?version=1.1.0", b.url), None, Some(sample.into_bytes())).await?;
    assert_eq!((code, val["records"].as_u64(), val["version"].as_str()), (200, Some(50), Some("1.1.0")), "{val}");

    // The CLI against the same API: exit codes and outputs.
    let dir = tempfile::tempdir()?;
    let file = |name: &str, text: &str| -> anyhow::Result<std::path::PathBuf> {
        let p = dir.path().join(name);
        std::fs::write(&p, text)?;
        Ok(p)
    };
    let args = || RegistryArgs { registry: a.url.clone(), token: Some(TOKEN.into()), output: Default::default(), tls: Default::default() };
    // What the command prints: the answer rendered in the format, and its stderr.
    struct CliOut {
        code: u8,
        stdout: String,
        stderr: String,
    }
    let cli = |call: Call, output: OutputFormat| {
        let a = args();
        tokio::task::spawn_blocking(move || {
            let out = registry_cmd::run(&call, &a, output);
            let stdout = out.answer.as_ref().map(|v| registry_cmd::render(&call, v, output).unwrap_or_default()).unwrap_or_default();
            CliOut { code: out.code, stdout, stderr: out.stderr }
        })
    };
    let out = cli(Call::Push { shadow: false, file: file("bad.yaml", &breaking("2.0.1").replacen("validValues: [EWR, JFK]", "validValues: [EWR]", 1))?, dry_run: false }, OutputFormat::Table).await?;
    assert_eq!(out.code, 1, "refused push exits 1: {}", out.stderr);
    assert!(out.stderr.contains("BREAKING") && out.stderr.contains("validValues"), "{}", out.stderr);
    let out = cli(Call::Push { shadow: false, file: file("ok.yaml", &breaking("2.1.0"))?, dry_run: true }, OutputFormat::Json).await?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(serde_json::from_str::<Value>(&out.stdout)?["dryRun"], true);
    let out = cli(Call::List { id: Some("flights".into()) }, OutputFormat::Table).await?;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("1.0.0") && out.stdout.contains("deprecated") && !out.stdout.contains("2.1.0"), "a dry run registers nothing:\n{}", out.stdout);
    let out = cli(Call::Diff { id: "flights".into(), from: Some("1.0.0".into()), to: Some("1.1.0".into()) }, OutputFormat::Table).await?;
    assert!(out.code == 0 && out.stdout.contains("compatible"), "{}", out.stdout);
    let out = cli(Call::Show { id: "nope".into(), version: None }, OutputFormat::Table).await?;
    assert_eq!(out.code, 1, "unknown contract exits 1");
    let out = registry_cmd::run(&Call::List { id: None }, &RegistryArgs { registry: "http://127.0.0.1:9".into(), token: None, output: Default::default(), tls: Default::default() }, OutputFormat::Table);
    assert_eq!(out.code, 2, "transport error exits 2");

    // Restart: a fresh replica reads the compacted topic and has every version back.
    let posted = v1_1("1.1.0");
    a.stop();
    b.stop();
    let c = RegistryServer::start(&brokers, &topic, TOKEN, MAX_BODY).await?;
    assert_eq!(versions(&c.url).await?, want);
    let (code, one) = http("GET", &format!("{}/v1/contracts/flights/versions/1.1.0", c.url), None, None).await?;
    assert_eq!((code, one["document"].as_str()), (200, Some(posted.as_str())), "documents survive byte for byte");
    let (_, one) = http("GET", &format!("{}/v1/contracts/flights/versions/1.0.0", c.url), None, None).await?;
    assert_eq!(one["statusReason"], "superseded");
    c.stop();
    Ok(())
}

/// Reads `topics` until `n` distinct source coordinates were seen (or `T` passes).
async fn read_outputs(brokers: &str, topics: &[String], n: usize) -> anyhow::Result<Vec<rdkafka::message::OwnedMessage>> {
    let c: StreamConsumer = e2e::consumer_config(brokers, &e2e::unique_name("reader")).create()?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names)?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + T;
    while seen.len() < n {
        match tokio::time::timeout_at(deadline, c.recv()).await {
            Ok(Ok(m)) => {
                let m = m.detach();
                seen.insert((header_str(&m, h::SOURCE_PARTITION), header_str(&m, h::SOURCE_OFFSET)));
                out.push(m);
            }
            Ok(Err(e)) => anyhow::bail!("consume: {e}"),
            Err(_) => anyhow::bail!("timed out with {} of {n} source records routed", seen.len()),
        }
    }
    // Anything routed twice would arrive close behind; give it a moment.
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), c.recv()).await {
        out.push(m.detach());
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_gate_hot_reloads_new_versions_mid_stream_without_losing_records() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let topic = e2e::unique_name("registry-reload");
    let src = e2e::unique_name("reload-src");
    e2e::create_topic(&brokers, &src, 2).await?;
    let reg = RegistryServer::start(&brokers, &topic, TOKEN, MAX_BODY).await?;
    assert_eq!(push(&reg.url, Some(TOKEN), &sidecar::flights_contract()).await?.0, 201);

    // The gate reads contracts from the registry topic and follows ^1; Redis when available,
    // so that the breaker's window relayout runs through the shared store too.
    let redis = e2e::redis_url();
    let prefix = e2e::unique_name("reload");
    let mut cfg = sidecar::config(&brokers, std::path::Path::new(""), &src, Fallback::Hold, redis.as_deref().map(|u| (u, prefix.as_str())));
    cfg.contracts = ContractsSource { dir: std::path::PathBuf::new(), registry: Some(RegistrySource { topic: topic.clone(), ..RegistrySource::default() }) };
    cfg.bindings[0].version = Some("^1".into());
    let running = gate::serve::start(&cfg).await?;
    let binding = std::sync::Arc::clone(&running.bindings[0]);
    assert_eq!(&*binding.contract().version, "1.0.0");

    // A producer streams 2,100 flights in small chunks while versions are registered.
    let sample = sidecar::flights_sample();
    let total = 2100;
    let records = keyed(&sample[..total]);
    let produced = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = e2e::producer(&brokers)?;
    let (src2, produced2) = (src.clone(), std::sync::Arc::clone(&produced));
    let producer = tokio::spawn(async move {
        for chunk in records.chunks(30) {
            sidecar::produce(&p, &src2, chunk).await?;
            produced2.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        anyhow::Ok(())
    });
    let at_least = |n: usize| {
        let produced = std::sync::Arc::clone(&produced);
        move || {
            let p = std::sync::Arc::clone(&produced);
            async move { (p.load(std::sync::atomic::Ordering::Relaxed) >= n).then_some(()) }
        }
    };
    e2e::wait_until("600 records produced", T, at_least(600)).await?;
    // 1.1.0: thresholds only — the window is kept.
    assert_eq!(push(&reg.url, Some(TOKEN), &v1_1("1.1.0")).await?.0, 201);
    let b2 = std::sync::Arc::clone(&binding);
    e2e::wait_until("the gate runs 1.1.0", T, move || {
        let b = std::sync::Arc::clone(&b2);
        async move { (&*b.contract().version == "1.1.0").then_some(()) }
    })
    .await?;
    let at_swap = produced.load(std::sync::atomic::Ordering::Relaxed);
    e2e::wait_until("600 more records produced", T, at_least(at_swap + 600)).await?;
    // 1.2.0: a rule removed — compatible, and the breaker's window restarts on a new layout.
    assert_eq!(push(&reg.url, Some(TOKEN), &v1_2_rule_removed("1.2.0")).await?.0, 201);
    let b3 = std::sync::Arc::clone(&binding);
    e2e::wait_until("the gate runs 1.2.0", T, move || {
        let b = std::sync::Arc::clone(&b3);
        async move { (&*b.contract().version == "1.2.0").then_some(()) }
    })
    .await?;
    // 2.0.0 is a major bump: a binding following ^1 stays where it is.
    assert_eq!(push(&reg.url, Some(TOKEN), &breaking("2.0.0")).await?.0, 201);
    producer.await??;

    let outs: Vec<String> = ["validated", "quarantine", "held", "degraded"].iter().map(|s| format!("{src}.{s}")).collect();
    let msgs = read_outputs(&brokers, &outs, total).await?;
    assert_eq!(&*binding.contract().version, "1.2.0", "^1 does not follow 2.0.0");

    // Every source record routed exactly once, judged by one version, versions never going
    // back within a partition.
    let mut by_source: BTreeMap<(i32, i64), Vec<String>> = BTreeMap::new();
    for m in &msgs {
        let part = header_str(m, h::SOURCE_PARTITION).and_then(|x| x.parse().ok()).unwrap_or(-1);
        let off = header_str(m, h::SOURCE_OFFSET).and_then(|x| x.parse().ok()).unwrap_or(-1);
        by_source.entry((part, off)).or_default().push(header_str(m, h::CONTRACT_VERSION).unwrap_or_default());
    }
    assert_eq!(by_source.len(), total, "every produced record reached an output");
    let twice: Vec<_> = by_source.iter().filter(|(_, v)| v.len() != 1).collect();
    assert!(twice.is_empty(), "routed more than once: {twice:?}");
    let mut per_version: HashMap<String, usize> = HashMap::new();
    let mut last: HashMap<i32, semver::Version> = HashMap::new();
    for ((part, off), v) in &by_source {
        let ver = semver::Version::parse(&v[0])?;
        if let Some(prev) = last.get(part) {
            assert!(ver >= *prev, "partition {part} offset {off}: {ver} after {prev}");
        }
        last.insert(*part, ver);
        *per_version.entry(v[0].clone()).or_default() += 1;
    }
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        assert!(per_version.get(v).is_some_and(|n| *n > 0), "no record judged by {v}: {per_version:?}");
    }
    eprintln!("records per version: {per_version:?}");

    let _ = running.shutdown.send(true);
    running.pipeline.await??;
    for f in running.flushers {
        f.await?;
    }
    reg.stop();
    if let Some(url) = redis {
        let mut conn = e2e::redis_connection(&url).await?;
        e2e::redis_delete_prefix(&mut conn, &prefix).await?;
    }
    Ok(())
}
