//! `check --format avro`: an Avro object container file (the writer schema is in its header),
//! each record rendered for the contract exactly as the sidecar renders a wire-format record.

use super::input::{lend, Item};
use super::BatchError;
use contracts::avro::{conforms, Projection};
use contracts::CompiledContract;
use std::io::Read;

/// Reads every record of the file. A writer schema that cannot carry the contract makes every
/// record an item with the `$.schema` reason (schema drift, as in the sidecar); a block that
/// does not decode is an item with its reason, and reading goes on with the next one.
///
/// # Errors
/// [`BatchError::Read`] when the input is not an Avro object container file.
pub fn read(r: impl Read, contract: &CompiledContract, mut each: impl FnMut(Item<'_>)) -> Result<(), BatchError> {
    let reader = apache_avro::Reader::new(r).map_err(|e| BatchError::Read { reason: format!("not an Avro object container file: {e}") })?;
    let schema = reader.writer_schema().clone();
    // Its values could nest without bound, or claim any number of items that take no bytes:
    // refused before one is decoded.
    if let Some(m) = contracts::avro::unreadable(&schema) {
        return Err(BatchError::Read { reason: format!("the file's writer schema cannot be read: {m}") });
    }
    let drift: Vec<String> = conforms(contract, &schema).iter().map(ToString::to_string).collect();
    let projection = Projection::for_contract(&schema, contract);
    for (n, value) in (1u64..).zip(reader) {
        let item = match value {
            Ok(_) if !drift.is_empty() => Err(format!("$.schema: the file's writer schema does not conform to {} {}: {}", contract.id, contract.version, drift.join("; "))),
            Ok(v) => Ok(projection.to_json(v)),
            Err(e) => Err(format!("Avro record does not decode: {e}")),
        };
        lend(&mut each, n, item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_files_are_read_and_judged() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/");
        let contract = contracts::compile(&contracts::parse(&std::fs::read_to_string(format!("{dir}flights.odcs.yaml")).expect("contract")).expect("parses"), None).expect("compiles");
        let sample = std::fs::read_to_string(format!("{dir}sample.jsonl")).expect("sample");
        let write = |avsc: &str, edit: &dyn Fn(&mut serde_json::Value)| {
            let schema = apache_avro::Schema::parse_str(avsc).expect("schema");
            let mut w = apache_avro::Writer::new(&schema, Vec::new()).expect("writer");
            for line in sample.lines().take(3) {
                let mut v: serde_json::Value = serde_json::from_str(line).expect("line");
                edit(&mut v);
                w.append_value(contracts::avro::from_json(&schema, &v).expect("fits")).expect("append");
            }
            w.into_inner().expect("file")
        };
        let avsc = std::fs::read_to_string(format!("{dir}flights.avsc")).expect("avsc");
        let mut items = Vec::new();
        read(&write(&avsc, &|_| {})[..], &contract, |(n, i)| items.push((n, i.cloned()))).expect("reads");
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|(_, r)| r.as_ref().is_ok_and(|v| v["time_hour"].is_string() && v["origin"].is_string())), "{items:?}");
        let drifted = avsc.replace(r#"{"name": "flight", "type": "int"}"#, r#"{"name": "flight", "type": "string"}"#);
        let mut items = Vec::new();
        read(&write(&drifted, &|v| v["flight"] = serde_json::json!(v["flight"].to_string()))[..], &contract, |(n, i)| items.push((n, i.cloned()))).expect("reads");
        assert!(items.iter().all(|(_, r)| r.as_ref().is_err_and(|e| e.contains("$.schema") && e.contains("flight: contract integer, writer string"))), "{items:?}");
        assert!(read(&b"{\"not\": \"avro\"}"[..], &contract, |_| {}).is_err());
    }

    #[test]
    fn a_recursive_writer_schema_is_refused_before_a_value_is_read() {
        let contract = contracts::compile(&contracts::parse("apiVersion: v3.1.0\nkind: DataContract\nid: r\nversion: 1.0.0\nstatus: active\nschema:\n  - name: r\n    properties:\n      - name: id\n        logicalType: integer\n    customProperties:\n      - property: gateAllowExtraFields\n        value: true\n").expect("parses"), None).expect("compiles");
        // A value 1,500 records deep: written on a thread with room for the writer's recursion.
        let file = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let schema = apache_avro::Schema::parse_str(r#"{"type":"record","name":"Flight","fields":[{"name":"id","type":"long"},{"name":"next","type":["null","Flight"]}]}"#).expect("schema");
                let mut v = apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null));
                for i in 0..1500 {
                    v = apache_avro::types::Value::Union(1, Box::new(apache_avro::types::Value::Record(vec![("id".into(), apache_avro::types::Value::Long(i)), ("next".into(), v)])));
                }
                let apache_avro::types::Value::Union(_, top) = v else { unreachable!("built as a union") };
                let mut w = apache_avro::Writer::new(&schema, Vec::new()).expect("writer");
                w.append_value(*top).expect("append");
                w.into_inner().expect("file")
            })
            .expect("thread")
            .join()
            .expect("written");
        // Read on this thread's ordinary stack: decoding it would overflow, so it must not.
        let err = read(&file[..], &contract, |_| panic!("no record may be read")).expect_err("refused");
        assert!(err.to_string().contains("recursive"), "{err}");
    }
}
