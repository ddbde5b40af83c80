//! The seed corpus and every regression input, replayed through the targets without the
//! fuzzer; the binary Avro seeds are golden files written by [`seeds`].

use super::fixtures;
use apache_avro::types::Value as A;
use apache_avro::writer::datum::GenericDatumWriter;
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [("json", super::json), ("avro_body", super::avro_body), ("wire", super::wire), ("contract", super::contract)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()).unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_seed_and_regression_input_runs_clean() {
    for (name, target) in TARGETS {
        let seeds = files(&root().join("corpus").join(name));
        assert!(!seeds.is_empty(), "corpus/{name} has no seeds");
        let total: u64 = seeds.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
        // Seeds stay small: the fuzzer mutates them, and they are kept in git.
        assert!(total <= 16 * 1024, "corpus/{name} holds {total} bytes");
        for p in seeds.iter().chain(&files(&root().join("regressions").join(name))) {
            let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            target(&data);
        }
    }
}

/// (file name, writer schema id, value): one valid body per fixture schema that a contract
/// accepts (the recursive one is refused before decoding, so a short list is seed enough).
fn bodies() -> Vec<(&'static str, u32, A)> {
    let opt = |i: u32, v: A| A::Union(i, Box::new(v));
    let flights = serde_json::from_str::<serde_json::Value>(include_str!("../../examples/flights/sample.jsonl").lines().next().unwrap_or_default()).unwrap_or_default();
    let schemas = fixtures::writers();
    let flight = contracts::avro::from_json(&schemas[0].schema, &flights).unwrap_or(A::Null);
    let bigdec = "12345.678".parse().map_or(A::Null, A::BigDecimal);
    let all = A::Record(vec![
        ("b".into(), A::Boolean(true)),
        ("i".into(), A::Int(-7)),
        ("l".into(), A::Long(1 << 40)),
        ("f".into(), A::Float(1.5)),
        ("d".into(), A::Double(-0.25)),
        ("by".into(), A::Bytes(vec![0, 255, 16])),
        ("s".into(), A::String("abc".into())),
        ("e".into(), A::Enum(1, "B".into())),
        ("fx".into(), A::Fixed(4, vec![1, 2, 3, 4])),
        ("u".into(), opt(3, A::Array(vec![A::Int(1), A::Int(2)]))),
        ("arr".into(), A::Array(vec![A::Map([("k".to_string(), A::Double(2.0))].into_iter().collect())])),
        ("dec".into(), A::Decimal(apache_avro::Decimal::from(vec![0x01, 0xe2, 0x40]))),
        ("decn".into(), A::Decimal(apache_avro::Decimal::from(vec![0, 0, 0, 0, 0, 0, 0x30, 0x39]))),
        ("bigdec".into(), bigdec),
        ("uuid".into(), A::Uuid(apache_avro::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0))),
        ("date".into(), A::Date(15_706)),
        ("tms".into(), A::TimeMillis(3_600_000)),
        ("tus".into(), A::TimeMicros(1)),
        ("tsms".into(), A::TimestampMillis(1_357_034_400_000)),
        ("tsus".into(), A::TimestampMicros(1_357_034_400_000_123)),
        ("tsns".into(), A::TimestampNanos(1_357_034_400_000_123_456)),
        ("ltsms".into(), A::LocalTimestampMillis(0)),
        ("ltsus".into(), A::LocalTimestampMicros(-1)),
        ("ltsns".into(), A::LocalTimestampNanos(i64::MAX)),
        ("dur".into(), A::Duration(apache_avro::Duration::new(apache_avro::Months::new(1), apache_avro::Days::new(2), apache_avro::Millis::new(3)))),
        ("inner".into(), A::Record(vec![("when".into(), opt(1, A::TimestampMillis(86_400_000))), ("tags".into(), A::Array(vec![A::String("x".into())]))])),
    ]);
    // The deep schema's value: every level present once, down to the long at the bottom.
    let mut deep = A::Long(42);
    for i in 0..40 {
        deep = match i % 3 {
            0 => A::Record(vec![("v".into(), deep), ("n".into(), A::Int(i))]),
            1 => A::Array(vec![deep]),
            _ => opt(1, A::Map([("k".to_string(), deep)].into_iter().collect())),
        };
    }
    let deep = A::Record(vec![("id".into(), A::Long(7)), ("v".into(), deep)]);
    let empty = A::Record(vec![
        ("id".into(), A::Long(1)),
        ("nulls".into(), A::Array(vec![A::Null; 3])),
        ("empties".into(), A::Array(vec![A::Record(vec![])])),
        ("zero".into(), A::Map([("k".to_string(), A::Fixed(0, vec![]))].into_iter().collect())),
    ]);
    vec![("flight", 1, flight), ("all-types", 2, all), ("deep", 3, deep), ("empty-items", 5, empty)]
}

/// Writes the Avro seeds when `CG_UPDATE_SEEDS=1`; otherwise checks that the files in the
/// corpus are what the fixtures encode to (a changed fixture schema must update its seeds).
#[test]
fn seeds() {
    let update = std::env::var_os("CG_UPDATE_SEEDS").is_some_and(|v| v == "1");
    let schemas = fixtures::writers();
    for (name, id, value) in bodies() {
        let Some(w) = usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).and_then(|i| schemas.get(i)) else { panic!("{name}: no schema id {id}") };
        let writer = GenericDatumWriter::builder(&w.schema).build().unwrap_or_else(|e| panic!("{name}: {e}"));
        let body = writer.write_value_to_vec(value).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The seed must reach the checks, not stop at the conformance judgement or the decoder.
        // (Except the schema with weightless items, which every contract refuses.)
        let drift = contracts::avro::conforms(&w.contract, &w.schema);
        assert_eq!(drift.is_empty(), name != "empty-items", "{name}: {drift:?}");
        let reader = contracts::avro::GenericDatumReader::builder(&w.schema).build().unwrap_or_else(|e| panic!("{name}: {e}"));
        contracts::avro::decode_body(&reader, id, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        // `avro_body` picks schema `first byte % count`, from 0.
        let pick = u8::try_from(id - 1).unwrap_or_default();
        let files = [("avro_body", [&[pick][..], &body].concat()), ("wire", contracts::avro::frame(id, &body))];
        for (target, bytes) in files {
            let path = root().join("corpus").join(target).join(format!("{name}.bin"));
            if update {
                std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            } else {
                let kept = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (CG_UPDATE_SEEDS=1 writes it)", path.display()));
                assert_eq!(kept, bytes, "{} is stale: CG_UPDATE_SEEDS=1 cargo test rewrites it", path.display());
            }
        }
    }
}
