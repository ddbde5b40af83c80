//! Avro in the Confluent wire format through the sidecar on real Kafka. The writer schemas come
//! from a small in-test registry stub serving `GET /schemas/ids/{id}` (what the decoder asks),
//! so routing, drift and every failure path are tested without depending on the gate's own
//! registry. The last test is the proof with a client nobody here wrote: Confluent's Python
//! `SchemaRegistryClient` and `AvroSerializer` (tests/python/produce_flights_avro.py) register
//! with the gate's own Schema Registry API and produce flights; the sidecar, reading writer
//! schemas from that registry, validates them and catches a drifted schema.

use contracts::avro::{frame, from_json, Schema};
use e2e::schema_stub::SchemaStub as Stub;
use e2e::sidecar::{self, header_str, http, json_of, read_until, RegistryServer};
use gate::config::PayloadFormat;
use gate::serve::headers as h;
use rdkafka::message::{Message, OwnedMessage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const AVSC: &str = include_str!("../../examples/flights/flights.avsc");


/// The flights schema with one field's type replaced.
fn drifted(field: &str, ty: &Value) -> String {
    let mut v: Value = serde_json::from_str(AVSC).expect("avsc");
    if let Some(Value::Array(fields)) = v.get_mut("fields") {
        for f in fields.iter_mut().filter(|f| f["name"] == field) {
            *f = json!({"name": field, "type": ty});
        }
    }
    v.to_string()
}

/// A flight as a wire-format payload written with `schema` under `id`.
fn encode(schema: &str, id: u32, flight: &Value) -> Vec<u8> {
    let s = Schema::parse_str(schema).expect("schema");
    let value = from_json(&s, flight).expect("flight fits the schema");
    let w = apache_avro::writer::datum::GenericDatumWriter::builder(&s).build().expect("writer");
    frame(id, &w.write_value_to_vec(value).expect("encodes"))
}

fn by_offset(msgs: &[OwnedMessage]) -> HashMap<i64, &OwnedMessage> {
    msgs.iter().filter_map(|m| Some((header_str(m, h::SOURCE_OFFSET)?.parse().ok()?, m))).collect()
}

async fn stop(running: gate::serve::Running) -> anyhow::Result<()> {
    e2e::sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_are_checked_and_every_failure_is_quarantined_with_its_reason() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put(1, AVSC);
    let dep_time_text = drifted("dep_time", &json!(["null", "string"]));
    stub.put(2, &dep_time_text);
    let src = e2e::unique_name("avro");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &stub.url, PayloadFormat::Avro)).await?;

    let sample = sidecar::flights_sample();
    let mut recs: Vec<(String, Vec<u8>)> = sample[..20].iter().map(|f| (format!("k{}", f["flight"]), encode(AVSC, 1, f))).collect();
    let valid: Vec<Vec<u8>> = recs.iter().map(|(_, v)| v.clone()).collect();
    let mut late = sample[30].clone();
    late["dep_delay"] = json!(5000.0);
    let mut text = sample[31].clone();
    text["dep_time"] = json!("517");
    let truncated = encode(AVSC, 1, &sample[32]);
    // offset → (violations header, words the reason must contain)
    let expected: Vec<(Vec<u8>, &str, &str)> = vec![
        (encode(AVSC, 1, &late), "[\"dep_delay.maximum\"]", "dep_delay"),
        (encode(&dep_time_text, 2, &text), "[\"$.schema\"]", "writer schema id 2 does not conform to flights 1.0.0: dep_time: contract integer, writer union [null, string]"),
        (sample[33].to_string().into_bytes(), "[\"$.decode\"]", "magic byte is 0x7b"),
        (truncated[..12].to_vec(), "[\"$.decode\"]", "does not decode with schema id 1"),
        (encode(AVSC, 3, &sample[34]), "[\"$.decode\"]", "schema id 3 is not in the schema registry"),
        (vec![0, 0, 1], "[\"$.decode\"]", "shorter than the 5-byte wire-format header"),
    ];
    recs.extend(expected.iter().map(|(p, _, _)| ("bad".to_string(), p.clone())));
    let p = e2e::producer(&brokers)?;
    sidecar::produce(&p, &src, &recs).await?;

    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| m.len() >= 20).await?;
    assert_eq!(v.len(), 20);
    for (m, sent) in v.iter().zip(&valid) {
        assert_eq!(header_str(m, h::VERDICT).as_deref(), Some("valid"));
        assert_eq!(m.payload(), Some(&sent[..]), "outputs carry the Avro bytes as produced");
    }
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= expected.len()).await?;
    let q = by_offset(&q);
    for (i, (payload, rules, words)) in expected.iter().enumerate() {
        let m = q.get(&(20 + i64::try_from(i)?)).unwrap_or_else(|| panic!("record {i} not quarantined"));
        assert_eq!(header_str(m, h::VERDICT).as_deref(), Some("invalid"));
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some(*rules), "record {i}");
        let reason = header_str(m, h::REASON).unwrap_or_default();
        assert!(reason.contains(words), "record {i}: {reason:?} lacks {words:?}");
        assert_eq!(m.payload(), Some(&payload[..]));
    }
    let viol = read_until(&sidecar::reader(&brokers, &format!("{src}.violations"))?, T, |m| m.iter().any(|x| json_of(x)["rule"] == "$.schema")).await?;
    let drift = viol.iter().map(json_of).find(|x| x["rule"] == "$.schema").unwrap_or_default();
    assert_eq!(drift["value"], "schema id 2", "{drift}");
    assert_eq!(drift["source"]["offset"], 21, "{drift}");
    stop(running).await
}

/// A writer schema that refers back to itself (`next: [null, Flight]`) and a record nested
/// 1,500 deep with it: schema drift, quarantined with the recursion as its reason, without
/// decoding the value (on a tokio worker's 2 MiB stack it used to abort the process). The
/// contract allows extra fields, so recursion is the only reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_writer_schema_is_drift_and_the_gate_goes_on() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put(1, AVSC);
    // The flights schema plus `next: [null, Flight]`: every field the contract names is there.
    let mut recursive: Value = serde_json::from_str(AVSC)?;
    if let Some(Value::Array(fields)) = recursive.get_mut("fields") {
        fields.push(json!({"name": "next", "type": ["null", "Flight"], "default": null}));
    }
    let recursive = recursive.to_string();
    stub.put(9, &recursive);
    let src = e2e::unique_name("avrodeep");
    e2e::create_topic(&brokers, &src, 1).await?;
    let contract = sidecar::flights_contract().replacen("    physicalType: topic\n", "    physicalType: topic\n    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n", 1);
    let dir = sidecar::contracts_dir(&contract);
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &stub.url, PayloadFormat::Avro)).await?;
    // 1,500 nested flights, encoded by hand: `next` is the last field, so a record is a flight's
    // bytes and the union branch of `next` (1: a record follows; 0: null).
    let sample = sidecar::flights_sample();
    let flight = encode(AVSC, 1, &sample[0]).split_off(5);
    let mut body = Vec::new();
    for _ in 0..1500 {
        body.extend(&flight);
        body.push(2);
    }
    body.extend(&flight);
    body.push(0);
    let recs = vec![("deep".to_string(), frame(9, &body)), ("good".to_string(), encode(AVSC, 1, &sample[0]))];
    sidecar::produce(&e2e::producer(&brokers)?, &src, &recs).await?;
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    let reason = header_str(&q[0], h::REASON).unwrap_or_default();
    assert!(reason.contains("next") && reason.contains("recursive"), "{reason}");
    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&v[0], h::SOURCE_OFFSET).as_deref(), Some("1"), "the record after it flows");
    assert!(!running.pipeline.is_finished());
    stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_ids_refuse_other_conforming_schemas_as_drift() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put(5, AVSC);
    stub.put(6, AVSC);
    let src = e2e::unique_name("avropin");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::wire_config(&brokers, dir.path(), &src, &stub.url, PayloadFormat::Avro);
    cfg.bindings[0].allowed_schema_ids = Some(vec![5]);
    let running = gate::serve::start(&cfg).await?;
    let sample = sidecar::flights_sample();
    let recs = vec![("a".to_string(), encode(AVSC, 5, &sample[0])), ("b".to_string(), encode(AVSC, 6, &sample[1]))];
    sidecar::produce(&e2e::producer(&brokers)?, &src, &recs).await?;
    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&v[0], h::SOURCE_OFFSET).as_deref(), Some("0"));
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    assert!(header_str(&q[0], h::REASON).is_some_and(|r| r.contains("is not among bindings[flights].allowed_schema_ids [5]")), "{:?}", header_str(&q[0], h::REASON));
    stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_quarantines_and_counts_as_decode_errors_for_the_breaker() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    // A port nobody listens on: connections are refused at once.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };
    let src = e2e::unique_name("avrodown");
    e2e::create_topic(&brokers, &src, 1).await?;
    // Record failures may reach 100 % here: only the decode-error rate (1 %) can trip, so a
    // trip proves registry outages are counted as decode errors.
    let contract = format!("{}customProperties:\n  - property: gateMaxRecordFailurePercent\n    value: 100\n", sidecar::flights_contract());
    let dir = sidecar::contracts_dir(&contract);
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &url, PayloadFormat::Avro)).await?;
    let sample = sidecar::flights_sample();
    let recs: Vec<(String, Vec<u8>)> = sample[..80].iter().map(|f| (format!("k{}", f["flight"]), encode(AVSC, 1, f))).collect();
    sidecar::produce(&e2e::producer(&brokers)?, &src, &recs).await?;
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= 80).await?;
    assert!(q.iter().all(|m| header_str(m, h::VIOLATIONS).as_deref() == Some("[\"$.decode\"]")));
    let reason = header_str(&q[0], h::REASON).unwrap_or_default();
    assert!(reason.contains("schema registry unreachable while fetching schema id 1"), "{reason}");
    let ev = read_until(&sidecar::reader(&brokers, &format!("{src}.breaker-events"))?, T, |m| m.iter().any(|x| json_of(x)["to"] == "open")).await?;
    let open = ev.iter().map(json_of).find(|x| x["to"] == "open").unwrap_or_default();
    assert_eq!(open["reason"]["rule"], "$.decodeErrors", "{open}");
    stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_producer_through_the_gate_registry_and_sidecar() -> anyhow::Result<()> {
    const TOKEN: &str = "e2e-avro-token";
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Some(python) = e2e::python() else { return Ok(()) };
    let src = e2e::unique_name("avropy");
    e2e::create_topic(&brokers, &src, 1).await?;
    // The registry log exists before the registry opens it: opening creates a missing topic
    // but can read its metadata before the partition shows (seen once as "it has 0").
    let log = e2e::unique_name("avropy-log");
    e2e::create_topic(&brokers, &log, 1).await?;
    let registry = RegistryServer::start(&brokers, &log, TOKEN, 1 << 20).await?;
    // The flights contract, bound to the subject the serializer uses for `src`.
    let contract = sidecar::flights_contract().replacen("\nschema:\n", &format!("\ncustomProperties:\n  - property: schemaRegistrySubjects\n    value: [\"{src}-value\"]\nschema:\n"), 1);
    let (code, v) = http("POST", &format!("{}/v1/contracts", registry.url), Some(TOKEN), Some(contract.clone().into_bytes())).await?;
    assert_eq!(code, 201, "{v}");
    let dir = sidecar::contracts_dir(&contract);
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &registry.url, PayloadFormat::Avro)).await?;

    let (n, d) = (40_usize, 5_usize);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let args: Vec<String> = vec![
        registry.url.clone(),
        TOKEN.into(),
        brokers.clone(),
        src.clone(),
        root.join("examples/flights/flights.avsc").display().to_string(),
        root.join("examples/flights/sample.jsonl").display().to_string(),
        n.to_string(),
        d.to_string(),
    ];
    let summary = e2e::run_python(&python, "produce_flights_avro.py", args).await?;
    let (id, drift_id) = (summary["schema_id"].as_u64().unwrap_or(0), summary["drift_id"].as_u64().unwrap_or(0));
    assert!(summary["refused"].as_str().is_some_and(|r| r.contains("dep_time")), "the bound subject refused the drift: {summary}");

    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| m.len() >= n).await?;
    assert_eq!(v.len(), n);
    sidecar::assert_valid_framed(&v, id);
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= d).await?;
    assert_eq!(q.len(), d);
    for m in &q {
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
        let reason = header_str(m, h::REASON).unwrap_or_default();
        assert!(reason.contains(&format!("writer schema id {drift_id} does not conform")) && reason.contains("dep_time: contract integer"), "{reason}");
    }
    registry.stop();
    stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reads_held_avro_records_with_their_writer_schemas() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put(1, AVSC);
    stub.put(2, &drifted("carrier", &json!("int")));
    let src = e2e::unique_name("avroreplay");
    let held = format!("{src}.held");
    e2e::create_topic(&brokers, &held, 1).await?;
    // Held records as the gate wrote them: the producer's Avro bytes, unchanged.
    let sample = sidecar::flights_sample();
    let mut recs: Vec<(String, Vec<u8>)> = sample[..5].iter().map(|f| (format!("k{}", f["flight"]), encode(AVSC, 1, f))).collect();
    let mut numeric = sample[5].clone();
    numeric["carrier"] = json!(9);
    recs.push(("drift".into(), encode(&drifted("carrier", &json!("int")), 2, &numeric)));
    sidecar::produce(&e2e::producer(&brokers)?, &held, &recs).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::wire_config(&brokers, dir.path(), &src, &stub.url, PayloadFormat::Avro);
    let s = gate::replay::replay(&cfg, "flights", None).await?;
    assert_eq!((s.read, s.validated, s.quarantined), (6, 5, 1));
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
    assert!(header_str(&q[0], h::REASON).is_some_and(|r| r.contains("carrier: contract string, writer int")), "{:?}", header_str(&q[0], h::REASON));
    Ok(())
}
