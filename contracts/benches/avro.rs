//! Avro and Protobuf (Confluent wire format) decode and validate beside the JSON path, for the
//! same flights: the 3,007 sample records of `examples/flights`, as JSON text, as framed Avro
//! written with `examples/flights/flights.avsc` and as framed Protobuf written with
//! `examples/flights/flights.proto`. Each iteration runs the whole sample; throughput is in
//! records, and the payload sizes are printed so MB/s follows.
//! Run: `cargo bench -p contracts --bench avro`

use contracts::avro::{decode_body, frame, from_json, parse_wire, GenericDatumReader, Projection, Schema};
use contracts::decode::{decode_json, DecodeLimits};
use contracts::{compile, parse, protobuf};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const CONTRACT: &str = include_str!("../../examples/flights/flights.odcs.yaml");
const AVSC: &str = include_str!("../../examples/flights/flights.avsc");
const SAMPLE: &str = include_str!("../../examples/flights/sample.jsonl");
const PROTO: &str = include_str!("../../examples/flights/flights.proto");

/// A flight as a framed `Flight` message (the flights schema's field kinds only).
fn protobuf(m: &protobuf::MessageDescriptor, f: &serde_json::Value) -> Vec<u8> {
    use prost_reflect::{DynamicMessage, Kind, Value as Pv};
    let mut msg = DynamicMessage::new(m.clone());
    for field in m.fields() {
        let v = &f[field.name()];
        let value = match field.kind() {
            _ if v.is_null() => continue,
            Kind::Int32 => Pv::I32(v.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or_default()),
            Kind::Double => Pv::F64(v.as_f64().unwrap_or_default()),
            Kind::String => Pv::String(v.as_str().unwrap_or_default().into()),
            Kind::Enum(e) => Pv::EnumNumber(e.get_value_by_name(v.as_str().unwrap_or_default()).map_or(0, |x| x.number())),
            Kind::Message(ts) => {
                let mut t = DynamicMessage::new(ts);
                let secs = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).map(|d| d.timestamp()).unwrap_or_default();
                t.set_field_by_name("seconds", Pv::I64(secs));
                Pv::Message(t)
            }
            other => panic!("no {other:?} field in the flights schema"),
        };
        msg.set_field(&field, value);
    }
    let mut out = frame(2, &protobuf::encode_indexes(&[0]));
    out.extend(prost_reflect::prost::Message::encode_to_vec(&msg));
    out
}

fn benches(c: &mut Criterion) {
    let contract = compile(&parse(CONTRACT).expect("contract"), None).expect("compiles");
    let schema = Schema::parse_str(AVSC).expect("schema");
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema).build().expect("writer");
    let json: Vec<Vec<u8>> = SAMPLE.lines().map(|l| l.as_bytes().to_vec()).collect();
    let avro: Vec<Vec<u8>> = SAMPLE
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("sample line");
            frame(1, &writer.write_value_to_vec(from_json(&schema, &v).expect("fits")).expect("encodes"))
        })
        .collect();
    let proto = protobuf::ProtoSchema::parse(PROTO).expect("proto compiles");
    let flight = proto.first_message().expect("Flight");
    let pb: Vec<Vec<u8>> = SAMPLE.lines().map(|l| protobuf(&flight, &serde_json::from_str(l).expect("sample line"))).collect();
    let pb_projection = protobuf::Projection::for_contract(&contract);
    let (jb, ab, pbb): (usize, usize, usize) = (json.iter().map(Vec::len).sum(), avro.iter().map(Vec::len).sum(), pb.iter().map(Vec::len).sum());
    eprintln!("payloads: {} records; JSON {jb} bytes ({:.1} per record); Avro {ab} bytes ({:.1} per record); Protobuf {pbb} bytes ({:.1} per record)", json.len(), jb as f64 / json.len() as f64, ab as f64 / avro.len() as f64, pbb as f64 / pb.len() as f64);
    let reader = GenericDatumReader::builder(&schema).build().expect("reader");
    let projection = Projection::for_contract(&schema, &contract);
    let limits = DecodeLimits::default();
    let mut obs = contract.observer();

    let mut g = c.benchmark_group("flights_sample");
    g.throughput(Throughput::Elements(json.len() as u64));
    g.bench_function("json_decode", |b| {
        b.iter(|| {
            for p in &json {
                black_box(decode_json(black_box(p), limits).expect("json"));
            }
        });
    });
    g.bench_function("avro_decode", |b| {
        b.iter(|| {
            for p in &avro {
                let (id, body) = parse_wire(black_box(p)).expect("framed");
                black_box(projection.to_json(decode_body(&reader, id, body).expect("avro")));
            }
        });
    });
    let protobuf_decode = |p: &[u8]| {
        let (id, rest) = parse_wire(p).expect("framed");
        let (indexes, body) = protobuf::split_indexes(rest).expect("indexes");
        let m = proto.message_at(&indexes).expect("message");
        pb_projection.to_json(&protobuf::decode_body(&m, id, body).expect("protobuf"))
    };
    g.bench_function("protobuf_decode", |b| {
        b.iter(|| {
            for p in &pb {
                black_box(protobuf_decode(black_box(p)));
            }
        });
    });
    g.bench_function("json_decode_check", |b| {
        b.iter(|| {
            // Each pass sees the sample once: duplicates are judged within a pass.
            obs.clear_duplicates();
            for p in &json {
                let v = decode_json(black_box(p), limits).expect("json");
                black_box(contract.check(&v, &mut obs));
            }
        });
    });
    g.bench_function("avro_decode_check", |b| {
        b.iter(|| {
            obs.clear_duplicates();
            for p in &avro {
                let (id, body) = parse_wire(black_box(p)).expect("framed");
                let v = projection.to_json(decode_body(&reader, id, body).expect("avro"));
                black_box(contract.check(&v, &mut obs));
            }
        });
    });
    g.bench_function("protobuf_decode_check", |b| {
        b.iter(|| {
            obs.clear_duplicates();
            for p in &pb {
                black_box(contract.check(&protobuf_decode(black_box(p)), &mut obs));
            }
        });
    });
    g.finish();
}

criterion_group!(avro, benches);
criterion_main!(avro);
