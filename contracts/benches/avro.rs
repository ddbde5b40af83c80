//! Avro (Confluent wire format) decode and validate beside the JSON path, for the same flights:
//! the 3,007 sample records of `examples/flights`, as JSON text and as framed Avro written with
//! `examples/flights/flights.avsc`. Each iteration runs the whole sample; throughput is in
//! records, and the payload sizes are printed so MB/s follows.
//! Run: `cargo bench -p contracts --bench avro`

use contracts::avro::{decode_body, frame, from_json, parse_wire, GenericDatumReader, Projection, Schema};
use contracts::decode::{decode_json, DecodeLimits};
use contracts::{compile, parse};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const CONTRACT: &str = include_str!("../../examples/flights/flights.odcs.yaml");
const AVSC: &str = include_str!("../../examples/flights/flights.avsc");
const SAMPLE: &str = include_str!("../../examples/flights/sample.jsonl");

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
    let (jb, ab): (usize, usize) = (json.iter().map(Vec::len).sum(), avro.iter().map(Vec::len).sum());
    eprintln!("payloads: {} records; JSON {jb} bytes ({:.1} per record); Avro {ab} bytes ({:.1} per record)", json.len(), jb as f64 / json.len() as f64, ab as f64 / avro.len() as f64);
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
    g.finish();
}

criterion_group!(avro, benches);
criterion_main!(avro);
