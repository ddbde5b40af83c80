//! The gate's Confluent Schema Registry subset on real Kafka, driven by a client nobody here
//! wrote: Confluent's Python `SchemaRegistryClient`, `AvroSerializer` and `AvroDeserializer`
//! (tests/python/schema_registry_client.py) register, look up, test and configure schemas over
//! HTTP, get refused by a contract-bound subject, and round-trip a flight through Kafka. Then a
//! second replica and a restarted one serve the same subjects, versions and ids from the log.

use e2e::sidecar::{self, http, RegistryServer};
use serde_json::Value;
use std::time::Duration;

const TOKEN: &str = "e2e-schema-registry-token";
const MAX_BODY: usize = 64 * 1024;

/// Runs the Python client; its last stdout line is a JSON summary.
async fn run_python(python: &str, args: Vec<String>) -> anyhow::Result<Value> {
    e2e::run_python(python, "schema_registry_client.py", args).await
}

/// `(version, id)` of every version of a subject, as one replica serves them.
async fn versions(url: &str, subject: &str) -> anyhow::Result<Vec<(u64, u64)>> {
    let (code, list) = http("GET", &format!("{url}/subjects/{subject}/versions"), None, None).await?;
    anyhow::ensure!(code == 200, "{subject} versions: {code} {list}");
    let mut out = Vec::new();
    for v in list.as_array().into_iter().flatten().filter_map(Value::as_u64) {
        let (code, one) = http("GET", &format!("{url}/subjects/{subject}/versions/{v}"), None, None).await?;
        anyhow::ensure!(code == 200, "{subject} version {v}: {code} {one}");
        out.push((v, one["id"].as_u64().unwrap_or(0)));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_client_against_the_gate_registry() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Some(python) = e2e::python() else { return Ok(()) };
    let log = e2e::unique_name("sr-log");
    let topic = e2e::unique_name("sr-flights");
    e2e::create_topic(&brokers, &topic, 1).await?;
    let a = RegistryServer::start(&brokers, &log, TOKEN, MAX_BODY).await?;
    let b = RegistryServer::start(&brokers, &log, TOKEN, MAX_BODY).await?;

    // The flights contract binds the serializer's subject for `topic` explicitly.
    let contract = sidecar::flights_contract().replacen("\nschema:\n", &format!("\ncustomProperties:\n  - property: schemaRegistrySubjects\n    value: [\"{topic}-value\"]\nschema:\n"), 1);
    let (code, v) = http("POST", &format!("{}/v1/contracts", a.url), Some(TOKEN), Some(contract.into_bytes())).await?;
    assert_eq!(code, 201, "{v}");

    let prefix = e2e::unique_name("sr");
    let summary = run_python(&python, vec![a.url.clone(), TOKEN.into(), prefix.clone(), brokers.clone(), topic.clone()]).await?;
    let subject = summary["subject"].as_str().unwrap_or_default().to_string();
    let bound = summary["bound"].as_str().unwrap_or_default().to_string();
    let ids: Vec<u64> = summary["ids"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    assert_eq!(ids.len(), 3, "{summary}");
    let expected = vec![(1, ids[0]), (2, ids[1]), (3, ids[2])];
    assert_eq!(versions(&a.url, &subject).await?, expected);

    // The other replica follows the log: same versions and ids, and the schema by id.
    e2e::wait_until("replica b serves the subject", Duration::from_secs(30), || {
        let (url, subject, expected) = (b.url.clone(), subject.clone(), expected.clone());
        async move { versions(&url, &subject).await.ok().filter(|v| *v == expected) }
    })
    .await?;
    let flights_id = summary["flights"].as_u64().unwrap_or(0);
    let (code, v) = http("GET", &format!("{}/schemas/ids/{flights_id}", b.url), None, None).await?;
    assert!(code == 200 && v["schema"].as_str().is_some_and(|s| s.contains("time_hour")), "{code} {v}");
    let (code, v) = http("GET", &format!("{}/config/{subject}", b.url), None, None).await?;
    assert_eq!((code, v["compatibilityLevel"].as_str()), (200, Some("BACKWARD")), "the level set with Basic auth: {v}");

    // The contract's view names its subject and the schema registered under it.
    let (code, v) = http("GET", &format!("{}/v1/contracts/flights/schemas", b.url), None, None).await?;
    assert_eq!(code, 200, "{v}");
    assert_eq!((v["subjects"][0]["subject"].as_str(), v["subjects"][0]["versions"][0]["id"].as_u64()), (Some(bound.as_str()), Some(flights_id)), "{v}");

    // A restart reads the same ids from the compacted topic, and the next new schema gets
    // the next id (nothing reused).
    a.stop();
    b.stop();
    let c = RegistryServer::start(&brokers, &log, TOKEN, MAX_BODY).await?;
    assert_eq!(versions(&c.url, &subject).await?, expected, "after a restart");
    assert_eq!(versions(&c.url, &bound).await?, vec![(1, flights_id)]);
    let schema = serde_json::json!({ "schema": r#"{"type":"record","name":"after","fields":[{"name":"x","type":"int"}]}"# }).to_string();
    let (code, v) = http("POST", &format!("{}/subjects/{prefix}-after/versions", c.url), Some(TOKEN), Some(schema.into_bytes())).await?;
    let max = ids.iter().copied().chain([flights_id]).max().unwrap_or(0);
    assert_eq!((code, v["id"].as_u64()), (200, Some(max + 1)), "{v}");
    c.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_racing_on_one_subject_agree_on_versions_and_ids() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let log = e2e::unique_name("sr-race");
    let a = RegistryServer::start(&brokers, &log, TOKEN, MAX_BODY).await?;
    let b = RegistryServer::start(&brokers, &log, TOKEN, MAX_BODY).await?;
    let subject = e2e::unique_name("race");
    // Under NONE every schema is accepted, so only the log's order decides versions and ids.
    let (code, v) = put(&format!("{}/config/{subject}", a.url), "{\"compatibility\": \"NONE\"}").await?;
    assert_eq!(code, 200, "{v}");
    let schema = |i: usize| serde_json::json!({ "schema": format!(r#"{{"type":"record","name":"r","fields":[{{"name":"f{i}","type":"int"}}]}}"#) }).to_string();
    // Ten registrations, alternating replicas, all in flight at once; schema 0 twice (once on
    // each replica) and schema 1 under a second subject too.
    let mut calls = Vec::new();
    for i in 0..10usize {
        let url = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
        let (target, body) = match i {
            9 => (format!("{url}/subjects/{subject}/versions"), schema(0)),
            8 => (format!("{url}/subjects/{subject}-other/versions"), schema(1)),
            _ => (format!("{url}/subjects/{subject}/versions"), schema(i)),
        };
        calls.push(tokio::spawn(async move { http("POST", &target, Some(TOKEN), Some(body.into_bytes())).await }));
    }
    let mut ids = Vec::new();
    for c in calls {
        let (code, v) = c.await??;
        assert_eq!(code, 200, "{v}");
        ids.push(v["id"].as_u64().unwrap_or(0));
    }
    assert_eq!(ids[9], ids[0], "the same schema has one id, whichever replica registered it");
    assert_eq!(ids[8], ids[1], "ids are global across subjects");
    // Each replica answers a write once it has applied it itself; the other follows the log,
    // so `a` may still be applying `b`'s last writes when all calls have returned.
    let on_a = e2e::wait_until("replica a has applied all eight versions", Duration::from_secs(30), || {
        let (url, subject) = (a.url.clone(), subject.clone());
        async move { versions(&url, &subject).await.ok().filter(|v| v.len() >= 8) }
    })
    .await?;
    assert_eq!(on_a.len(), 8, "schemas 0..8 once each: {on_a:?}");
    let mut distinct: Vec<u64> = on_a.iter().map(|(_, id)| *id).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "one id per schema: {on_a:?}");
    e2e::wait_until("both replicas agree", Duration::from_secs(30), || {
        let (url, subject, want) = (b.url.clone(), subject.clone(), on_a.clone());
        async move { versions(&url, &subject).await.ok().filter(|v| *v == want) }
    })
    .await?;
    a.stop();
    b.stop();
    Ok(())
}

/// A PUT with the token (the shared helper sends GET and POST only).
async fn put(url: &str, body: &str) -> anyhow::Result<(u16, Value)> {
    let (url, body) = (url.to_string(), body.to_string());
    tokio::task::spawn_blocking(move || -> anyhow::Result<(u16, Value)> {
        let agent = ureq::Agent::new_with_defaults();
        let mut resp = agent.put(&url).config().http_status_as_error(false).build().header("authorization", &format!("Bearer {TOKEN}")).send(body.as_bytes())?;
        let code = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        Ok((code, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
    .await?
}
