//! The bodies of contract-gate's fuzz targets, one function per target. Each takes arbitrary
//! bytes and runs them through the path a hostile producer (or contract author) reaches in the
//! gate; a panic, an overflow or an abort is the finding. The `afl` binaries in `src/bin/` only
//! call these, so `cargo test` here replays the seed corpus and every regression input through
//! the same code without the fuzzer.
//!
//! Beyond "no crash", the JSON target checks one property: parsing into the previous record
//! (the sidecar's reuse path) gives exactly what a fresh parse gives.

pub mod fixtures;
#[cfg(test)]
mod tests;

use contracts::avro::{self, GenericDatumReader, Projection};
use contracts::decode::{decode_json, decode_json_into, DecodeLimits};
use serde_json::Value;
use std::cell::RefCell;

/// The sidecar's default record limit.
const LIMITS: DecodeLimits = DecodeLimits { max_record_bytes: 1024 * 1024 };

thread_local! {
    /// The record the previous input decoded to: the sidecar parses each record into the one
    /// before it, so the fuzzer does too (AFL runs many inputs in one process).
    static SPARE: RefCell<Value> = const { RefCell::new(Value::Null) };
}

/// JSON records: `decode_json_into` over the previous record must equal `decode_json`, and a
/// record is checked against the flights contract as the sidecar and `check` do.
///
/// # Panics
/// When the two parses disagree (the finding), never on the input otherwise.
pub fn json(data: &[u8]) {
    let fresh = decode_json(data, LIMITS);
    let reused = SPARE.with(|s| {
        let mut place = std::mem::take(&mut *s.borrow_mut());
        let r = decode_json_into(data, LIMITS, &mut place).map(|()| place.clone());
        *s.borrow_mut() = place;
        r
    });
    assert_eq!(fresh, reused, "parsing into the previous record differs from a fresh parse");
    if let Ok(record) = fresh {
        let c = fixtures::flights();
        let mut obs = c.observer();
        let verdict = c.check(&record, &mut obs);
        for v in &verdict.violations {
            // The quarantine reason is built from every violation.
            let _ = v.sentence();
        }
    }
}

/// An Avro body read with a writer schema chosen by the first byte (flights, every type and
/// logical type, deep nesting), projected onto a contract and checked, as the sidecar does
/// once the wire header has named the schema.
pub fn avro_body(data: &[u8]) {
    let Some((pick, body)) = data.split_first() else { return };
    let writers = fixtures::writers();
    let w = &writers[usize::from(*pick) % writers.len()];
    decode_and_check(w, u32::from(*pick), body);
}

/// A whole Confluent wire-format payload: header, writer schema by id (ids 1..=N are the
/// fixtures' writer schemas, others are unknown), the conformance judgement, then the body.
pub fn wire(data: &[u8]) {
    let Ok((id, body)) = avro::parse_wire(data) else { return };
    let writers = fixtures::writers();
    let Some(w) = usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).and_then(|i| writers.get(i)) else { return };
    decode_and_check(w, id, body);
}

fn decode_and_check(w: &fixtures::Writer, id: u32, body: &[u8]) {
    // The sidecar judges the schema before it reads a body: a drifted schema's records are
    // refused without being decoded (a recursive one must never reach the decoder).
    if !avro::conforms(&w.contract, &w.schema).is_empty() {
        return;
    }
    let Ok(reader) = GenericDatumReader::builder(&w.schema).build() else { return };
    let Ok(value) = avro::decode_body(&reader, id, body) else { return };
    let record = Projection::for_contract(&w.schema, &w.contract).to_json(value);
    let mut obs = w.contract.observer();
    let _ = w.contract.check(&record, &mut obs);
}

/// Contract source text: `contracts lint` (parse, lint, locate every finding in the text),
/// then compile each schema object and check the flights sample records against it.
pub fn contract(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = contracts::compile::lint_source(text);
    let Ok(parsed) = contracts::parse(text) else { return };
    for obj in &parsed.schema {
        let Ok(c) = contracts::compile(&parsed, Some(&obj.name)) else { continue };
        let mut obs = c.observer();
        for record in fixtures::sample_records() {
            let _ = c.check(record, &mut obs);
        }
    }
}

