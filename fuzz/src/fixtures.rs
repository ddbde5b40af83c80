//! The contracts and writer schemas the targets decode against, built once per process.

use contracts::avro::Schema;
use contracts::CompiledContract;
use serde_json::Value;
use std::sync::OnceLock;

const FLIGHTS_ODCS: &str = include_str!("../../examples/flights/flights.odcs.yaml");
const FLIGHTS_AVSC: &str = include_str!("../../examples/flights/flights.avsc");
const SAMPLE: &str = include_str!("../../examples/flights/sample.jsonl");

/// Every Avro type and logical type the projection renders, nested records, arrays and maps.
const ALL_TYPES_AVSC: &str = r#"{"type":"record","name":"All","namespace":"t","fields":[
 {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
 {"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"by","type":"bytes"},
 {"name":"s","type":"string"},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
 {"name":"fx","type":{"type":"fixed","name":"F4","size":4}},
 {"name":"u","type":["null","string","long",{"type":"array","items":"int"}]},
 {"name":"arr","type":{"type":"array","items":{"type":"map","values":"double"}}},
 {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":3}},
 {"name":"decn","type":{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":18,"scale":0}},
 {"name":"bigdec","type":{"type":"bytes","logicalType":"big-decimal"}},
 {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
 {"name":"date","type":{"type":"int","logicalType":"date"}},
 {"name":"tms","type":{"type":"int","logicalType":"time-millis"}},
 {"name":"tus","type":{"type":"long","logicalType":"time-micros"}},
 {"name":"tsms","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"tsus","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"tsns","type":{"type":"long","logicalType":"timestamp-nanos"}},
 {"name":"ltsms","type":{"type":"long","logicalType":"local-timestamp-millis"}},
 {"name":"ltsus","type":{"type":"long","logicalType":"local-timestamp-micros"}},
 {"name":"ltsns","type":{"type":"long","logicalType":"local-timestamp-nanos"}},
 {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
 {"name":"inner","type":{"type":"record","name":"Inner","fields":[
   {"name":"when","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
   {"name":"tags","type":{"type":"array","items":"string"}}]}}
]}"#;

/// The contract read against [`ALL_TYPES_AVSC`]: time-like and decimal fields as the contract's
/// types the projection renders them for (text, number, a custom format).
const ALL_TYPES_ODCS: &str = r#"apiVersion: v3.1.0
kind: DataContract
id: all
version: 1.0.0
status: active
schema:
  - name: all
    customProperties:
      - property: gateAllowExtraFields
        value: true
    properties:
      - { name: i, logicalType: integer, logicalTypeOptions: { minimum: 0 } }
      - { name: s, logicalType: string, logicalTypeOptions: { pattern: '^[a-z]*$', maxLength: 8 } }
      - { name: dec, logicalType: number }
      - { name: decn, logicalType: integer }
      - { name: bigdec, logicalType: number }
      - { name: date, logicalType: date, logicalTypeOptions: { format: "dd/MM/yyyy" } }
      - { name: tms, logicalType: time }
      - { name: tus, logicalType: time }
      - { name: tsms, logicalType: timestamp, required: true }
      - { name: tsus, logicalType: timestamp }
      - { name: tsns, logicalType: timestamp, logicalTypeOptions: { format: "yyyy-MM-dd HH:mm:ss.SSS" } }
      - { name: ltsms, logicalType: timestamp }
      - name: inner
        logicalType: object
        properties:
          - { name: when, logicalType: timestamp }
          - name: tags
            logicalType: array
            items: { name: tag, logicalType: string }
"#;

/// Values nested far deeper than any record (records inside arrays inside maps), but without
/// recursion: depth bounded by the schema.
fn deep_avsc() -> String {
    let mut t = String::from(r#""long""#);
    for i in 0..40 {
        t = match i % 3 {
            0 => format!(r#"{{"type":"record","name":"N{i}","fields":[{{"name":"v","type":{t}}},{{"name":"n","type":"int"}}]}}"#),
            1 => format!(r#"{{"type":"array","items":{t}}}"#),
            _ => format!(r#"["null",{{"type":"map","values":{t}}}]"#),
        };
    }
    format!(r#"{{"type":"record","name":"Deep","fields":[{{"name":"id","type":"long"}},{{"name":"v","type":{t}}}]}}"#)
}

/// A writer schema that refers to itself: every contract refuses it before a body is read.
const RECURSIVE_AVSC: &str = r#"{"type":"record","name":"Flight","fields":[{"name":"id","type":"long"},{"name":"next","type":["null","Flight"]}]}"#;

/// Items that take no bytes: the count alone says how many there are.
const EMPTY_ITEMS_AVSC: &str = r#"{"type":"record","name":"Z","fields":[{"name":"id","type":"long"},
 {"name":"nulls","type":{"type":"array","items":"null"}},
 {"name":"empties","type":{"type":"array","items":{"type":"record","name":"Nothing","fields":[]}}},
 {"name":"zero","type":{"type":"map","values":{"type":"fixed","name":"F0","size":0}}}]}"#;

const ONLY_ID_ODCS: &str = "apiVersion: v3.1.0
kind: DataContract
id: only-id
version: 1.0.0
status: active
schema:
  - name: r
    customProperties:
      - property: gateAllowExtraFields
        value: true
    properties:
      - { name: id, logicalType: integer, required: true }
";

/// A writer schema with the contract its records are checked against.
#[derive(Debug)]
pub struct Writer {
    /// The parsed writer schema.
    pub schema: Schema,
    /// The contract.
    pub contract: CompiledContract,
}

fn compiled(yaml: &str) -> CompiledContract {
    #[allow(clippy::expect_used)] // fixtures written here: a failure is a bug in this file
    contracts::compile(&contracts::parse(yaml).expect("fixture contract parses"), None).expect("fixture contract compiles")
}

/// The flights contract (examples/flights).
pub fn flights() -> &'static CompiledContract {
    static C: OnceLock<CompiledContract> = OnceLock::new();
    C.get_or_init(|| compiled(FLIGHTS_ODCS))
}

/// The writer schemas, in schema-id order (id 1 is the first).
pub fn writers() -> &'static [Writer] {
    static W: OnceLock<Vec<Writer>> = OnceLock::new();
    W.get_or_init(|| {
        let deep = deep_avsc();
        [(FLIGHTS_AVSC, FLIGHTS_ODCS), (ALL_TYPES_AVSC, ALL_TYPES_ODCS), (deep.as_str(), ONLY_ID_ODCS), (RECURSIVE_AVSC, ONLY_ID_ODCS), (EMPTY_ITEMS_AVSC, ONLY_ID_ODCS)]
            .into_iter()
            .map(|(avsc, odcs)| {
                #[allow(clippy::expect_used)] // as above
                let schema = Schema::parse_str(avsc).expect("fixture schema parses");
                Writer { schema, contract: compiled(odcs) }
            })
            .collect()
    })
}

/// The first flights of the sample, as JSON records.
pub fn sample_records() -> &'static [Value] {
    static S: OnceLock<Vec<Value>> = OnceLock::new();
    S.get_or_init(|| SAMPLE.lines().take(4).filter_map(|l| serde_json::from_str(l).ok()).collect())
}
