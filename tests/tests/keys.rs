//! Key contracts through the sidecar on real Kafka: a string key with a pattern (a bad or
//! missing key quarantines its record with the key's rule id), and an Avro key whose
//! last-good snapshot is found by the decoded key, so the same key written under another key
//! schema id (and another field order, other bytes) gets the snapshot stored under the first.

use contracts::avro::{frame, from_json, Schema};
use e2e::schema_stub::SchemaStub;
use e2e::sidecar::{self, header_str, json_of, keyed, read_until};
use gate::config::{Fallback, KeyFormat, KeySpec, SchemaRegistrySection};
use gate::serve::headers as h;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The flights contract with a second schema object describing the key.
fn contract_with_key_object() -> String {
    let c = sidecar::flights_contract();
    let key_object = "  - name: flight_key\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n        logicalTypeOptions: { pattern: \"^[A-Z0-9]{2}$\" }\n      - name: flight\n        logicalType: integer\n        required: true\n";
    let out = c.replacen("\nslaProperties:", &format!("\n{key_object}slaProperties:"), 1);
    assert!(out.contains("name: flight_key"), "the example contract changed shape");
    out
}

fn string_key() -> KeySpec {
    KeySpec { format: KeyFormat::String, required: true, pattern: Some("^[A-Z0-9]{2}[0-9]{1,4}$".into()), min_length: None, max_length: None, object: None }
}

/// Produces one record without a key.
async fn produce_keyless(p: &rdkafka::producer::FutureProducer, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
    p.send(FutureRecord::<(), [u8]>::to(topic).payload(payload), Duration::from_secs(10)).await.map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_keys_are_checked_and_bad_or_missing_keys_are_quarantined() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("keys");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    cfg.bindings[0].key = Some(string_key());
    let running = gate::serve::start(&cfg).await?;

    let sample = sidecar::flights_sample();
    let p = e2e::producer(&brokers)?;
    // Offsets 0..10: keys like "UA1545", valid.
    sidecar::produce(&p, &src, &keyed(&sample[..10])).await?;
    let mut bad_value = sample[23].clone();
    bad_value["dep_delay"] = Value::String("12".into());
    // offset → (violations header, words the reason must contain)
    let expected = [
        (10, "[\"$.key.pattern\"]", "$.key.pattern: key is \"ua-1545\", expected a key matching"),
        (11, "[\"$.key.pattern\",\"dep_delay.logicalType\"]", "$.key.pattern"),
        (12, "[\"$.key.required\"]", "$.key.required: key is \"\", expected a key on every record"),
        (13, "[\"$.key.required\"]", "$.key.required: key is absent"),
    ];
    sidecar::produce(&p, &src, &[("ua-1545".into(), sample[20].to_string().into_bytes()), ("x".into(), bad_value.to_string().into_bytes()), (String::new(), sample[21].to_string().into_bytes())]).await?;
    produce_keyless(&p, &src, sample[22].to_string().as_bytes()).await?;

    // Every source offset is accounted for: 10 validated, 4 quarantined, each once.
    let outputs = [format!("{src}.validated"), format!("{src}.quarantine")];
    let seen = sidecar::account(&brokers, &outputs, 14, T).await?;
    for offset in 0..10 {
        let (topic, m) = &seen[&(src.clone(), 0, offset)];
        assert_eq!(topic, &outputs[0], "offset {offset}");
        assert_eq!(header_str(m, h::VERDICT).as_deref(), Some("valid"));
    }
    for (offset, rules, words) in expected {
        let (topic, m) = &seen[&(src.clone(), 0, offset)];
        assert_eq!(topic, &outputs[1], "offset {offset}");
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some(rules), "offset {offset}");
        let reason = header_str(m, h::REASON).unwrap_or_default();
        assert!(reason.contains(words), "offset {offset}: {reason:?} lacks {words:?}");
    }
    assert_eq!(seen[&(src.clone(), 0, 10)].1.key(), Some(&b"ua-1545"[..]), "the key is kept as produced");
    let viol = read_until(&sidecar::reader(&brokers, &format!("{src}.violations"))?, T, |m| m.iter().any(|x| json_of(x)["rule"] == "$.key.required")).await?;
    let pattern = viol.iter().map(json_of).find(|x| x["rule"] == "$.key.pattern").unwrap_or_default();
    assert_eq!(pattern["field"], "key", "{pattern}");
    sidecar::stop(running).await
}

const KEY_V1: &str = r#"{"type": "record", "name": "FlightKey", "fields": [{"name": "carrier", "type": "string"}, {"name": "flight", "type": "int"}]}"#;
/// The same key record with its fields the other way round: other bytes, the same key.
const KEY_V2: &str = r#"{"type": "record", "name": "FlightKey", "fields": [{"name": "flight", "type": "int"}, {"name": "carrier", "type": "string"}]}"#;

fn avro_key(schema: &str, id: u32, key: &Value) -> Vec<u8> {
    let s = Schema::parse_str(schema).expect("schema");
    let value = from_json(&s, key).expect("key fits the schema");
    let w = apache_avro::writer::datum::GenericDatumWriter::builder(&s).build().expect("writer");
    frame(id, &w.write_value_to_vec(value).expect("encodes"))
}

async fn produce_raw(p: &rdkafka::producer::FutureProducer, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
    for (k, v) in records {
        p.send(FutureRecord::to(topic).key(k.as_slice()).payload(v.as_slice()), Duration::from_secs(10)).await.map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_key_under_a_new_schema_id_finds_its_last_good_snapshot() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = SchemaStub::start().await?;
    stub.put(1, KEY_V1);
    stub.put(2, KEY_V2);
    let src = e2e::unique_name("avrokeys");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&contract_with_key_object());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::LastGood, None);
    cfg.bindings[0].key = Some(KeySpec { format: KeyFormat::Avro, required: true, pattern: None, min_length: None, max_length: None, object: Some("flight_key".into()) });
    let mut sr = SchemaRegistrySection::new(&stub.url);
    sr.timeout = Duration::from_millis(500);
    cfg.schema_registry = Some(sr);
    let running = gate::serve::start(&cfg).await?;
    let b = &running.bindings[0];

    let sample = sidecar::flights_sample();
    let p = e2e::producer(&brokers)?;
    let aa1 = json!({"carrier": "AA", "flight": 1});
    let k1_v1 = avro_key(KEY_V1, 1, &aa1);
    let k1_v2 = avro_key(KEY_V2, 2, &aa1);
    assert_ne!(k1_v1, k1_v2, "the two key schemas write the same key differently");
    produce_raw(&p, &src, &[(k1_v1.clone(), sample[0].to_string().into_bytes()), (avro_key(KEY_V1, 1, &json!({"carrier": "UA", "flight": 2})), sample[1].to_string().into_bytes())]).await?;
    let validated = sidecar::reader(&brokers, &format!("{src}.validated"))?;
    let first = read_until(&validated, T, |m| m.len() >= 2).await?;
    assert_eq!(first[0].key(), Some(&k1_v1[..]), "outputs keep the key bytes as produced");
    assert!(b.has_snapshot(br#"{"carrier":"AA","flight":1}"#), "last-good knows the key by its canonical JSON");

    b.breaker.command(breaker::Command::ForceOpen, Some("test"), chrono::Utc::now().timestamp_millis()).await?;
    let bad_key = avro_key(KEY_V1, 1, &json!({"carrier": "a-a", "flight": 3}));
    produce_raw(&p, &src, &[(k1_v2.clone(), sample[2].to_string().into_bytes()), (bad_key, sample[3].to_string().into_bytes()), (vec![0, 0, 0, 0, 9, 1], sample[4].to_string().into_bytes())]).await?;
    let stale = read_until(&validated, T, |m| !m.is_empty()).await?;
    assert_eq!(stale.len(), 1, "only the AA 1 key has a snapshot");
    assert_eq!(header_str(&stale[0], h::VERDICT).as_deref(), Some("stale"));
    assert_eq!(json_of(&stale[0]), sample[0], "the snapshot stored under key schema id 1");
    assert_eq!(stale[0].key(), Some(&k1_v2[..]), "the stale record carries the new record's key bytes");
    let held = read_until(&sidecar::reader(&brokers, &format!("{src}.held"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(held[0].key(), Some(&k1_v2[..]));
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= 2).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"$.key.carrier.pattern\"]"));
    assert_eq!(header_str(&q[1], h::VIOLATIONS).as_deref(), Some("[\"$.key.decode\"]"));
    assert!(header_str(&q[1], h::REASON).is_some_and(|r| r.contains("schema id 9")), "{:?}", header_str(&q[1], h::REASON));
    sidecar::stop(running).await?;

    // The compacted topic holds the snapshot under the same canonical key: a restarted gate
    // rebuilds an index that agrees with the one it served from.
    let running = gate::serve::start(&cfg).await?;
    assert!(running.bindings[0].has_snapshot(br#"{"carrier":"AA","flight":1}"#));
    assert!(!running.bindings[0].has_snapshot(&k1_v1), "not under the key's bytes");
    sidecar::stop(running).await
}
