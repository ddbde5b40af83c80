//! `contracts infer`: a draft contract from a sample file or from the start of a topic. The
//! records are read here (the batch readers of `check`, or [`super::infer_topic`]); what the
//! draft says is decided in `contracts::infer`.

use super::infer_topic::{self, TopicSample};
use crate::batch::{avro_file, input, BatchError};
use anyhow::Context as _;
use contracts::decode::DecodeLimits;
use contracts::infer::rules::CsvColumn;
use contracts::infer::{Inferrer, Options};
use contracts::model::{Contract, CustomProperty, LogicalType, SchemaObject};
use contracts::Severity;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Records read from a topic when `--records` is not given.
pub const TOPIC_RECORDS: u64 = 10_000;

fn duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// `contracts infer` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  contract-gate contracts infer --input examples/flights/sample.jsonl --id flights --output-file flights.draft.yaml\n  contract-gate contracts infer --topic orders --brokers localhost:9092 --records 5000")]
pub struct InferArgs {
    /// Sample records to infer from; `-` reads standard input.
    #[arg(long, conflicts_with = "topic", required_unless_present = "topic")]
    pub input: Option<PathBuf>,
    /// Input format (default: from the file extension, else jsonl).
    #[arg(long, value_enum, requires = "input")]
    pub format: Option<input::Format>,
    /// CSV cell values read as null (repeatable). Default: `NA` and the empty string.
    #[arg(long = "null-token", requires = "input")]
    pub null_tokens: Vec<String>,
    /// Topic to sample, from the beginning of each partition (JSON payloads), with a
    /// throwaway consumer that joins no group and commits nothing.
    #[arg(long)]
    pub topic: Option<String>,
    /// Kafka bootstrap servers, for `--topic`.
    #[arg(long, env = "CONTRACT_GATE_BROKERS", hide_env_values = true)]
    pub brokers: Option<String>,
    /// Client property of the topic's consumer, e.g. `security.protocol=SSL` (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", requires = "topic")]
    pub consumer_properties: Vec<String>,
    /// Longest time to read the topic; inference uses what arrived by then.
    #[arg(long, default_value = "10s", value_parser = duration, requires = "topic")]
    pub timeout: Duration,
    /// Profile at most this many records (default: the whole file; 10000 from a topic).
    #[arg(long)]
    pub records: Option<u64>,
    /// Contract id, also the schema object's name (default: the topic, or the file's name
    /// without its extension).
    #[arg(long)]
    pub id: Option<String>,
    /// Human name of the contract (default: the id).
    #[arg(long)]
    pub name: Option<String>,
    /// Write the draft here instead of standard output.
    #[arg(long)]
    pub output_file: Option<PathBuf>,
    /// Largest record accepted, in bytes; larger ones count as undecodable.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_record_bytes: usize,
}

/// Runs `contracts infer`: the draft to stdout or `--output-file`, a summary on stderr.
///
/// # Errors
/// Unreadable input, an unreachable topic, no records, or a draft that would not lint.
pub fn main(a: &InferArgs) -> anyhow::Result<ExitCode> {
    let limits = DecodeLimits { max_record_bytes: a.max_record_bytes };
    let mut inf = Inferrer::default();
    let (source, physical, default_id) = match (&a.input, &a.topic) {
        (Some(path), _) => {
            let format = super::format_for(a.format, path);
            let nulls = input::null_tokens(&a.null_tokens);
            read_file(path, format, &nulls, limits, a.records.unwrap_or(u64::MAX), &mut inf)?;
            let stem = path.file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty() && *s != "-").unwrap_or("records");
            (path.display().to_string(), "file", stem.to_string())
        }
        (None, Some(topic)) => {
            let brokers = a.brokers.clone().context("--topic needs --brokers (or CONTRACT_GATE_BROKERS)")?;
            let properties = a.consumer_properties.iter().map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).with_context(|| format!("--consumer-property {kv:?}: expected KEY=VALUE"))).collect::<anyhow::Result<Vec<_>>>()?;
            let sample = TopicSample { topic: topic.clone(), brokers, properties, records: a.records.unwrap_or(TOPIC_RECORDS), timeout: a.timeout, limits };
            let read = infer_topic::read(&sample, &mut inf)?;
            if read.timed_out {
                eprintln!("contract-gate: stopped reading {topic} after {} with {} records (--timeout)", humantime_serde::re::humantime::format_duration(a.timeout), inf.records());
            }
            (format!("topic {topic}"), "topic", topic.clone())
        }
        (None, None) => anyhow::bail!("give --input FILE or --topic TOPIC"),
    };
    let opts = Options { id: a.id.clone().unwrap_or(default_id), name: a.name.clone(), physical_type: Some(physical.into()), source };
    let draft = inf.draft(&opts)?;
    let yaml = draft.to_yaml()?;
    // The draft is meant to lint clean; one that does not is a bug here, not the user's.
    let errors: Vec<String> = contracts::compile::lint_source(&yaml).into_iter().filter(|p| p.severity == Severity::Error).map(|p| p.to_string()).collect();
    anyhow::ensure!(errors.is_empty(), "the inferred draft does not lint, which is a bug in `contracts infer`: {}", errors.join("; "));
    match &a.output_file {
        Some(path) => std::fs::write(path, &yaml).with_context(|| format!("writing {}", path.display()))?,
        None => super::output::stdout(&yaml)?,
    }
    let s = draft.summary;
    let skipped = s.undecodable + s.not_objects;
    let target = a.output_file.as_ref().map_or_else(|| "the draft above".to_string(), |p| p.display().to_string());
    eprintln!(
        "contract-gate: drafted {} properties, {} rules and {} distribution baselines from {} records{}. Review every gateInferred entry in {target}, then run `contract-gate contracts lint` and `check` on it.",
        s.properties,
        s.rules,
        s.distributions,
        s.records - skipped,
        if skipped > 0 { format!(" ({skipped} more skipped: not a JSON object or not decodable)") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}

/// Where the sample is: a file (read twice for CSV) or standard input, held in memory.
enum Source {
    File(PathBuf),
    Stdin(Vec<u8>),
}

impl Source {
    fn open(&self) -> Result<Box<dyn std::io::BufRead + '_>, BatchError> {
        match self {
            Self::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| BatchError::Read { reason: format!("{}: {e}", p.display()) })?;
                Ok(Box::new(std::io::BufReader::new(f)))
            }
            Self::Stdin(b) => Ok(Box::new(&b[..])),
        }
    }
}

/// Profiles the first `max` records of a file into `inf`.
///
/// # Errors
/// [`BatchError::Read`] when the input cannot be read or is not of its format.
pub fn read_file(path: &Path, format: input::Format, null_tokens: &[String], limits: DecodeLimits, max: u64, inf: &mut Inferrer) -> Result<(), BatchError> {
    let src = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map_err(|e| BatchError::Read { reason: format!("standard input: {e}") })?;
        Source::Stdin(b)
    } else {
        Source::File(path.to_path_buf())
    };
    let mut seen = 0u64;
    let mut each = |(_, item): input::Item<'_>| {
        if seen >= max {
            return;
        }
        seen += 1;
        match item {
            Ok(v) => inf.add(v),
            Err(_) => inf.add_undecodable(),
        }
    };
    match format {
        input::Format::Jsonl => input::jsonl(src.open()?, limits, &mut each),
        input::Format::Json => input::json_array(src.open()?, limits, &mut each),
        input::Format::Avro => avro_file::read(src.open()?, &any_record()?, &mut each),
        input::Format::Csv => {
            let types = csv_types(&src, null_tokens, limits, max)?;
            input::csv(src.open()?, &types, null_tokens, limits, &mut each)
        }
    }
}

/// The type of each CSV column, from a first pass reading every cell as text: a column is
/// typed so that `check`, reading the file with the draft, types it the same way.
fn csv_types(src: &Source, null_tokens: &[String], limits: DecodeLimits, max: u64) -> Result<Vec<(String, Option<LogicalType>)>, BatchError> {
    let mut columns: BTreeMap<String, CsvColumn> = BTreeMap::new();
    let mut seen = 0u64;
    input::csv(src.open()?, &[], null_tokens, limits, |(_, item)| {
        if seen >= max {
            return;
        }
        seen += 1;
        for (k, v) in item.ok().and_then(Value::as_object).into_iter().flatten() {
            let col = columns.entry(k.clone()).or_default();
            if let Value::String(s) = v {
                col.add(s);
            }
        }
    })?;
    Ok(columns.into_iter().map(|(k, c)| (k, c.logical_type())).collect())
}

/// A contract every record satisfies, to read an Avro container file with no contract yet:
/// no properties and any fields, so values take the reader's default rendering (timestamps
/// as RFC 3339, dates as `YYYY-MM-DD`), the one the draft's types then describe.
fn any_record() -> Result<contracts::CompiledContract, BatchError> {
    let allow = CustomProperty { property: "gateAllowExtraFields".into(), value: Value::Bool(true), other: Map::new() };
    let object = SchemaObject { name: "records".into(), id: None, logical_type: None, properties: Vec::new(), quality: Vec::new(), custom_properties: vec![allow], other: Map::new() };
    let c = Contract { api_version: "v3.1.0".into(), kind: "DataContract".into(), id: "infer".into(), version: "0.0.0".into(), status: "draft".into(), name: None, schema: vec![object], sla_properties: Vec::new(), custom_properties: Vec::new(), other: Map::new() };
    contracts::compile(&c, None).map_err(|e| BatchError::Read { reason: format!("reading Avro without a contract: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::golden;

    fn infer(path: &Path, format: input::Format) -> Inferrer {
        let mut inf = Inferrer::default();
        read_file(path, format, &["NA".into(), String::new()], DecodeLimits::default(), u64::MAX, &mut inf).expect("reads");
        inf
    }

    /// The draft from the flights sample, as a user gets it (the golden file shows what the
    /// rules make of real data), and the same draft from the sample as CSV and as Avro.
    #[test]
    fn flights_sample_draft_matches_its_golden_file() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/flights");
        let opts = Options { id: "flights".into(), name: None, physical_type: Some("file".into()), source: "examples/flights/sample.jsonl".into() };
        let draft = infer(&dir.join("sample.jsonl"), input::Format::Jsonl).draft(&opts).expect("draft");
        let yaml = draft.to_yaml().expect("yaml");
        golden::assert("infer-flights.yaml", &yaml);

        // The same records as CSV (nulls as NA) give the same draft.
        let tmp = tempfile::tempdir().expect("tmp");
        let sample = std::fs::read_to_string(dir.join("sample.jsonl")).expect("sample");
        let rows: Vec<Map<String, Value>> = sample.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let header: Vec<String> = rows[0].keys().cloned().collect();
        let mut csv = header.join(",") + "\n";
        for r in &rows {
            let cells: Vec<String> = header.iter().map(|h| match &r[h] {
                Value::Null => "NA".to_string(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            }).collect();
            csv += &(cells.join(",") + "\n");
        }
        let csv_path = tmp.path().join("sample.csv");
        std::fs::write(&csv_path, csv).expect("write csv");
        let from_csv = infer(&csv_path, input::Format::Csv).draft(&opts).and_then(|d| d.to_yaml()).expect("csv draft");
        assert_eq!(from_csv, yaml, "CSV and JSON Lines of the same records give one draft");

        // As an Avro container file: the same properties, ranges and required fields (the
        // writer schema's doubles make some integers numbers), time_hour still a timestamp.
        let schema = apache_avro::Schema::parse_str(&std::fs::read_to_string(dir.join("flights.avsc")).expect("avsc")).expect("schema");
        let mut w = apache_avro::Writer::new(&schema, Vec::new()).expect("writer");
        for line in sample.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).expect("line");
            w.append_value(contracts::avro::from_json(&schema, &v).expect("fits")).expect("append");
        }
        let avro_path = tmp.path().join("sample.avro");
        std::fs::write(&avro_path, w.into_inner().expect("file")).expect("write avro");
        let from_avro = infer(&avro_path, input::Format::Avro).draft(&opts).and_then(|d| d.to_yaml()).expect("avro draft");
        let shape = |y: &str| -> Vec<String> { y.lines().filter(|l| l.contains("- name:") || l.contains("minimum:") || l.contains("maximum:") || l.contains("required:")).map(String::from).collect() };
        assert_eq!(shape(&from_avro), shape(&yaml));
        assert!(from_avro.contains("  - name: time_hour\n    logicalType: timestamp\n"), "{from_avro}");
    }

    #[test]
    fn a_missing_file_names_itself() {
        let err = read_file(Path::new("/nonexistent/sample.jsonl"), input::Format::Jsonl, &[], DecodeLimits::default(), 10, &mut Inferrer::default()).expect_err("no file");
        assert!(err.to_string().contains("/nonexistent/sample.jsonl"), "{err}");
    }
}
