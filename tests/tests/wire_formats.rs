//! JSON Schema and Protobuf in the Confluent wire format through the sidecar on real Kafka.
//! The first test reads writer schemas from a small in-test registry stub, so each failure
//! path of a Protobuf binding is tested on its own. The others are the proof with clients
//! nobody here wrote: Confluent's Python `JSONSerializer` and `ProtobufSerializer`
//! (tests/python/produce_flights_wire.py) register with the gate's own Schema Registry API and
//! produce flights; the sidecar, reading writer schemas from that registry, routes the valid
//! ones, quarantines the invalid ones with the same rule ids as JSON and Avro, and catches a
//! drifted schema.

use contracts::protobuf::{encode_indexes, MessageDescriptor, ProtoSchema};
use e2e::schema_stub::SchemaStub as Stub;
use e2e::sidecar::{self, header_str, http, json_of, read_until, RegistryServer};
use gate::config::PayloadFormat;
use gate::serve::headers as h;
use prost_reflect::{DynamicMessage, Value as Pv};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const PROTO: &str = include_str!("../../examples/flights/flights.proto");


/// A sample flight as a `Flight` message of `m`.
fn message(m: &MessageDescriptor, f: &Value) -> DynamicMessage {
    let mut msg = DynamicMessage::new(m.clone());
    for field in m.fields() {
        let v = &f[field.name()];
        let value = match (field.kind(), v) {
            (_, Value::Null) => continue,
            (prost_reflect::Kind::Int32, v) => Pv::I32(v.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or_default()),
            (prost_reflect::Kind::Double, v) => Pv::F64(v.as_f64().unwrap_or_default()),
            (prost_reflect::Kind::String, v) => Pv::String(v.as_str().unwrap_or_default().to_string()),
            (prost_reflect::Kind::Enum(e), v) => Pv::EnumNumber(e.get_value_by_name(v.as_str().unwrap_or_default()).map_or(99, |x| x.number())),
            (prost_reflect::Kind::Message(ts), v) => {
                let secs = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).map(|d| d.timestamp()).unwrap_or_default();
                let mut t = DynamicMessage::new(ts);
                t.set_field_by_name("seconds", Pv::I64(secs));
                Pv::Message(t)
            }
            (k, _) => panic!("the flights schema has no {k:?} field"),
        };
        msg.set_field(&field, value);
    }
    msg
}

/// A flight as a Protobuf wire-format payload under schema `id`.
fn encode(m: &MessageDescriptor, id: u32, f: &Value) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend(encode_indexes(&[0]));
    out.extend(prost_reflect::prost::Message::encode_to_vec(&message(m, f)));
    out
}

fn by_offset(msgs: &[OwnedMessage]) -> HashMap<i64, &OwnedMessage> {
    msgs.iter().filter_map(|m| Some((header_str(m, h::SOURCE_OFFSET)?.parse().ok()?, m))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_records_are_checked_and_every_failure_is_quarantined_with_its_reason() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put_typed(1, PROTO, Some("PROTOBUF"));
    let drifted = PROTO.replace("optional int32 dep_time = 4;", "optional string dep_time = 4;");
    stub.put_typed(2, &drifted, Some("PROTOBUF"));
    stub.put_typed(4, include_str!("../../examples/flights/flights.schema.json"), Some("JSON"));
    let flight = ProtoSchema::parse(PROTO)?.first_message().ok_or_else(|| anyhow::anyhow!("no message"))?;
    let drift = ProtoSchema::parse(&drifted)?.first_message().ok_or_else(|| anyhow::anyhow!("no message"))?;
    let src = e2e::unique_name("proto");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &stub.url, PayloadFormat::Protobuf)).await?;

    let sample = sidecar::flights_sample();
    let mut recs: Vec<(String, Vec<u8>)> = sample[..20].iter().map(|f| (format!("k{}", f["flight"]), encode(&flight, 1, f))).collect();
    let valid: Vec<Vec<u8>> = recs.iter().map(|(_, v)| v.clone()).collect();
    let mut late = sample[30].clone();
    late["dep_delay"] = json!(5000.0);
    let mut text = sample[31].clone();
    text["dep_time"] = json!("517");
    let mut nested = encode(&flight, 1, &sample[35]);
    nested.splice(5..6, [2, 2]); // indexes [1]: the schema has one top-level message
    let mut garbage = encode(&flight, 1, &sample[36]);
    garbage.truncate(6);
    garbage.extend([0xff, 0xff, 0xff]);
    // offset → (violations header, words the reason must contain)
    let expected: Vec<(Vec<u8>, &str, &str)> = vec![
        (encode(&flight, 1, &late), "[\"dep_delay.maximum\"]", "dep_delay"),
        (encode(&drift, 2, &text), "[\"$.schema\"]", "writer schema id 2 does not conform to flights 1.0.0: dep_time: contract integer, writer string"),
        (sample[33].to_string().into_bytes(), "[\"$.decode\"]", "magic byte is 0x7b"),
        (encode(&flight, 3, &sample[34]), "[\"$.decode\"]", "schema id 3 is not in the schema registry"),
        (nested, "[\"$.decode\"]", "the schema has no top-level message 1"),
        (garbage, "[\"$.decode\"]", "does not decode as nyc.flights.Flight (schema id 1)"),
        (encode(&flight, 4, &sample[37]), "[\"$.decode\"]", "schema id 4 is not a usable Protobuf schema: the registry holds it as JSON"),
    ];
    recs.extend(expected.iter().map(|(p, _, _)| ("bad".to_string(), p.clone())));
    let p = e2e::producer(&brokers)?;
    sidecar::produce(&p, &src, &recs).await?;

    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| m.len() >= 20).await?;
    assert_eq!(v.len(), 20);
    for (m, sent) in v.iter().zip(&valid) {
        assert_eq!(header_str(m, h::VERDICT).as_deref(), Some("valid"));
        assert_eq!(m.payload(), Some(&sent[..]), "outputs carry the Protobuf bytes as produced");
    }
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= expected.len()).await?;
    assert_eq!(q.len(), expected.len(), "every source offset accounted for: 20 validated, the rest quarantined");
    let q = by_offset(&q);
    for (i, (payload, rules, words)) in expected.iter().enumerate() {
        let m = q.get(&(20 + i64::try_from(i)?)).unwrap_or_else(|| panic!("record {i} not quarantined"));
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some(*rules), "record {i}");
        let reason = header_str(m, h::REASON).unwrap_or_default();
        assert!(reason.contains(words), "record {i}: {reason:?} lacks {words:?}");
        assert_eq!(m.payload(), Some(&payload[..]));
    }
    sidecar::stop(running).await
}

/// Confluent's Python serializer of `format` against the gate's registry, through the sidecar.
async fn python_producer_through_the_gate_registry(format: PayloadFormat, script_format: &str, schema_file: &str) -> anyhow::Result<()> {
    const TOKEN: &str = "e2e-wire-token";
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let Some(python) = e2e::python() else { return Ok(()) };
    let src = e2e::unique_name(&format!("{script_format}py"));
    e2e::create_topic(&brokers, &src, 1).await?;
    let log = e2e::unique_name(&format!("{script_format}py-log"));
    e2e::create_topic(&brokers, &log, 1).await?;
    let registry = RegistryServer::start(&brokers, &log, TOKEN, 1 << 20).await?;
    // The flights contract, bound to the subject the serializer uses for `src`.
    let contract = sidecar::flights_contract().replacen("\nschema:\n", &format!("\ncustomProperties:\n  - property: schemaRegistrySubjects\n    value: [\"{src}-value\"]\nschema:\n"), 1);
    let (code, v) = http("POST", &format!("{}/v1/contracts", registry.url), Some(TOKEN), Some(contract.clone().into_bytes())).await?;
    assert_eq!(code, 201, "{v}");
    let dir = sidecar::contracts_dir(&contract);
    let running = gate::serve::start(&sidecar::wire_config(&brokers, dir.path(), &src, &registry.url, format)).await?;

    let (n, bad, d) = (40_usize, 4_usize, 5_usize);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let args: Vec<String> = vec![
        registry.url.clone(),
        TOKEN.into(),
        brokers.clone(),
        src.clone(),
        script_format.into(),
        root.join("examples/flights").join(schema_file).display().to_string(),
        root.join("examples/flights/sample.jsonl").display().to_string(),
        n.to_string(),
        bad.to_string(),
        d.to_string(),
    ];
    let summary = e2e::run_python(&python, "produce_flights_wire.py", args).await?;
    let (id, drift_id) = (summary["schema_id"].as_u64().unwrap_or(0), summary["drift_id"].as_u64().unwrap_or(0));
    assert!(summary["refused"].as_str().is_some_and(|r| r.contains("dep_time")), "the bound subject refused the drift: {summary}");

    let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, T, |m| m.len() >= n).await?;
    assert_eq!(v.len(), n);
    sidecar::assert_valid_framed(&v, id);
    let q = read_until(&sidecar::reader(&brokers, &format!("{src}.quarantine"))?, T, |m| m.len() >= bad + d).await?;
    assert_eq!(q.len(), bad + d, "every source offset accounted for");
    let q = by_offset(&q);
    for off in n..n + bad {
        let m = q.get(&i64::try_from(off)?).unwrap_or_else(|| panic!("offset {off} not quarantined"));
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some("[\"month.maximum\"]"), "the same rule id as a JSON or Avro record");
    }
    for off in n + bad..n + bad + d {
        let m = q.get(&i64::try_from(off)?).unwrap_or_else(|| panic!("offset {off} not quarantined"));
        assert_eq!(header_str(m, h::VIOLATIONS).as_deref(), Some("[\"$.schema\"]"));
        let reason = header_str(m, h::REASON).unwrap_or_default();
        assert!(reason.contains(&format!("writer schema id {drift_id} does not conform")) && reason.contains("dep_time: contract integer"), "{reason}");
    }
    registry.stop();
    sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_json_schema_producer_through_the_gate_registry_and_sidecar() -> anyhow::Result<()> {
    python_producer_through_the_gate_registry(PayloadFormat::JsonSchema, "json", "flights.schema.json").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_protobuf_producer_through_the_gate_registry_and_sidecar() -> anyhow::Result<()> {
    python_producer_through_the_gate_registry(PayloadFormat::Protobuf, "protobuf", "flights.proto").await
}

/// A flight as an Avro wire-format payload under schema `id`.
fn avro(id: u32, f: &Value) -> Vec<u8> {
    use contracts::avro::{frame, from_json, Schema};
    let s = Schema::parse_str(AVSC).expect("schema");
    let value = from_json(&s, f).expect("flight fits the schema");
    let w = apache_avro::writer::datum::GenericDatumWriter::builder(&s).build().expect("writer");
    frame(id, &w.write_value_to_vec(value).expect("encodes"))
}

const AVSC: &str = include_str!("../../examples/flights/flights.avsc");

/// Three bindings in one process, one per format: JSON, Avro and Protobuf, each under its own
/// contract id. A null burst on the Protobuf topic trips only that binding; good records close
/// it again; a burst on the Avro topic then trips only that one. The JSON binding validates
/// throughout, no event names it, and every source record of the three topics lands once on
/// its own binding's outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_avro_and_protobuf_bindings_trip_and_recover_independently() -> anyhow::Result<()> {
    use gate::config::Binding;
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let stub = Stub::start().await?;
    stub.put(1, AVSC);
    stub.put_typed(2, PROTO, Some("PROTOBUF"));
    let flight = ProtoSchema::parse(PROTO)?.first_message().ok_or_else(|| anyhow::anyhow!("no message"))?;
    let (a, b, c) = (e2e::unique_name("fmt-json"), e2e::unique_name("fmt-avro"), e2e::unique_name("fmt-proto"));
    for t in [&a, &b, &c] {
        e2e::create_topic(&brokers, t, 1).await?;
    }
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    for id in ["flights_avro", "flights_proto"] {
        std::fs::write(dir.path().join(format!("{id}.odcs.yaml")), sidecar::flights_contract().replacen("id: flights\n", &format!("id: {id}\n"), 1))?;
    }
    let mut cfg = sidecar::wire_config(&brokers, dir.path(), &a, &stub.url, PayloadFormat::Json);
    cfg.bindings[0].name = "alpha".into();
    let base = cfg.bindings[0].clone();
    cfg.bindings.push(Binding { name: "beta".into(), source: b.clone(), contract: "flights_avro".into(), format: PayloadFormat::Avro, ..base.clone() });
    cfg.bindings.push(Binding { name: "gamma".into(), source: c.clone(), contract: "flights_proto".into(), format: PayloadFormat::Protobuf, ..base });
    let running = gate::serve::start(&cfg).await?;
    let runtime = |name: &str| running.bindings.iter().find(|r| r.cfg.name == name).cloned().ok_or_else(|| anyhow::anyhow!("binding {name} is not running"));
    let (alpha, beta, gamma) = (runtime("alpha")?, runtime("beta")?, runtime("gamma")?);
    let modes = || async { (alpha.breaker.status().await.state.mode, beta.breaker.status().await.state.mode, gamma.breaker.status().await.state.mode) };

    let sample = sidecar::flights_sample();
    let nulls = |from: usize, to: usize| -> Vec<Value> { sample[from..to].iter().map(|r| { let mut r = r.clone(); r["dep_time"] = Value::Null; r }).collect() };
    let as_json = |rs: &[Value]| sidecar::keyed(rs);
    let as_avro = |rs: &[Value]| rs.iter().map(|r| (format!("k{}", r["flight"]), avro(1, r))).collect::<Vec<_>>();
    let as_proto = |rs: &[Value]| rs.iter().map(|r| (format!("k{}", r["flight"]), encode(&flight, 2, r))).collect::<Vec<_>>();
    let p = e2e::producer(&brokers)?;
    let (mut sent_a, mut sent_b, mut sent_c) = (0, 0, 0);
    sidecar::produce(&p, &a, &as_json(&sample[..100])).await?;
    sidecar::produce(&p, &b, &as_avro(&sample[..100])).await?;
    sidecar::produce(&p, &c, &as_proto(&sample[..100])).await?;
    (sent_a, sent_b, sent_c) = (sent_a + 100, sent_b + 100, sent_c + 100);

    // The Protobuf binding trips on a burst of absent dep_time (an unset optional field).
    sidecar::produce(&p, &c, &as_proto(&nulls(100, 300))).await?;
    sent_c += 200;
    let ev = sidecar::reader(&brokers, &cfg.events.breaker_topic)?;
    let mut events: Vec<Value> = read_until(&ev, T, |m| m.iter().map(json_of).any(|e| e["to"] == "open")).await?.iter().map(json_of).collect();
    let trip = events.iter().find(|e| e["to"] == "open").cloned().unwrap_or_default();
    assert_eq!((trip["binding"].as_str(), trip["reason"]["rule"].as_str()), (Some("gamma"), Some("dep_time_nulls")), "{trip}");
    // Open, or already probing after its open wait: not closed, and the others untouched.
    let tripped = |m: breaker::Mode| matches!(m, breaker::Mode::Open | breaker::Mode::HalfOpen);
    let (ma, mb, mc) = modes().await;
    assert!(ma == breaker::Mode::Closed && mb == breaker::Mode::Closed && tripped(mc), "{:?}", (ma, mb, mc));

    // Good Protobuf records until the probe closes it again.
    let deadline = tokio::time::Instant::now() + T;
    let mut next = 300;
    while !events.iter().any(|e| e["binding"] == "gamma" && e["to"] == "closed") {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "gamma did not close: {events:?}");
        sidecar::produce(&p, &c, &as_proto(&sample[next..next + 20])).await?;
        (next, sent_c) = (next + 20, sent_c + 20);
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), ev.recv()).await {
            events.push(json_of(&m.detach()));
        }
    }

    // Then the Avro binding trips; the Protobuf one stays closed.
    sidecar::produce(&p, &b, &as_avro(&nulls(100, 300))).await?;
    sent_b += 200;
    sidecar::produce(&p, &a, &as_json(&sample[100..200])).await?;
    sent_a += 100;
    let more = read_until(&ev, T, |m| m.iter().map(json_of).any(|e| e["binding"] == "beta" && e["to"] == "open")).await?;
    events.extend(more.iter().map(json_of));
    let (ma, mb, mc) = modes().await;
    assert!(ma == breaker::Mode::Closed && tripped(mb) && mc == breaker::Mode::Closed, "{:?}", (ma, mb, mc));
    assert!(events.iter().all(|e| e["binding"] != "alpha"), "no event names the JSON binding: {events:?}");

    for (src, n, contract) in [(&a, sent_a, "flights"), (&b, sent_b, "flights_avro"), (&c, sent_c, "flights_proto")] {
        let seen = sidecar::account(&brokers, &[format!("{src}.validated"), format!("{src}.quarantine"), format!("{src}.held")], n, T).await?;
        assert_eq!(seen.len(), n, "{src}: every source record once");
        assert!(seen.values().all(|(_, m)| header_str(m, h::CONTRACT).as_deref() == Some(contract)), "{src}: judged by {contract}");
    }
    sidecar::stop(running).await
}
