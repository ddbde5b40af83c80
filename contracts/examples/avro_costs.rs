//! Runs one operation N times over the flights sample, for instruction counts under callgrind
//! (the difference between two N's is the per-record cost, independent of machine load):
//!
//! `avro_costs json|avro|json_check|avro_check N`
//!
//! json: `decode_json`; avro: wire header + Avro body with a cached reader + projection onto
//! the contract; `_check` adds the contract's record check.

use contracts::avro::{decode_body, frame, from_json, parse_wire, GenericDatumReader, Projection, Schema};
use contracts::decode::{decode_json, DecodeLimits};
use contracts::{compile, parse};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: avro_costs json|avro|json_check|avro_check N");
        std::process::exit(2);
    };
    let contract = compile(&parse(include_str!("../../examples/flights/flights.odcs.yaml")).expect("contract"), None).expect("compiles");
    let schema = Schema::parse_str(include_str!("../../examples/flights/flights.avsc")).expect("schema");
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema).build().expect("writer");
    let sample = include_str!("../../examples/flights/sample.jsonl");
    let json: Vec<&[u8]> = sample.lines().map(str::as_bytes).collect();
    let avro: Vec<Vec<u8>> = sample
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("line");
            frame(1, &writer.write_value_to_vec(from_json(&schema, &v).expect("fits")).expect("encodes"))
        })
        .collect();
    let reader = GenericDatumReader::builder(&schema).build().expect("reader");
    let projection = Projection::for_contract(&schema, &contract);
    let mut obs = contract.observer();
    let limits = DecodeLimits::default();
    let check = mode.ends_with("_check");
    for i in 0..n {
        let k = i % json.len();
        if k == 0 {
            obs.clear_duplicates();
        }
        let v = if mode.starts_with("json") {
            decode_json(black_box(json[k]), limits).expect("json")
        } else {
            let (id, body) = parse_wire(black_box(&avro[k])).expect("framed");
            projection.to_json(decode_body(&reader, id, body).expect("avro"))
        };
        if check {
            black_box(contract.check(&v, &mut obs));
        } else {
            black_box(v);
        }
    }
}
