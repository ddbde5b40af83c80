//! `contracts calibrate`: how often known-good data would trip a binding's breaker or fail its
//! probe, and the thresholds and probe size that meet a false-trip target. The records are read
//! here with the batch readers of `check`; the arithmetic is `contracts::calibrate`, and every
//! verdict in it is the breaker's own (`breaker::core`), through [`GateJudge`].

use super::output::{self, OutputFormat};
use crate::batch::{self, avro_file, input};
use anyhow::Context as _;
use breaker::{step, BreakerConfig, BreakerState, Event, Mode, Observation, ProbeObservation, Reason, Step, WindowConfig};
use contracts::calibrate::{Judge, Report, Sampler, Settings};
use contracts::decode::DecodeLimits;
use contracts::{RuleResult, WindowRule};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `contracts calibrate` writes a table or JSON.
pub const CALIBRATE: output::Verb = output::Verb { path: &["contracts", "calibrate"], formats: &[OutputFormat::Table, OutputFormat::Json] };

/// Records per second assumed when `--rate` is not given.
pub const DEFAULT_RATE: f64 = 100.0;

/// `contracts calibrate` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  contract-gate contracts calibrate --contract examples/flights/flights.odcs.yaml --input flights.csv --config examples/flights/gate.yaml --rate 30\n  contract-gate contracts calibrate --contract c.yaml --input good.jsonl --output json")]
pub struct CalibrateArgs {
    /// Contract file.
    #[arg(long)]
    pub contract: PathBuf,
    /// Known-good records; `-` reads standard input.
    #[arg(long)]
    pub input: PathBuf,
    /// Input format (default: from the file extension, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<input::Format>,
    /// CSV cell values read as null (repeatable). Default: `NA` and the empty string.
    #[arg(long = "null-token")]
    pub null_tokens: Vec<String>,
    /// Schema object of the contract (default: the binding's, else the first).
    #[arg(long)]
    pub object: Option<String>,
    /// The gate's config file, for the binding's window, min_records, probe_records and
    /// confidence (default: the breaker defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Binding of `--config` (default: the only one, or the one using the contract's id).
    #[arg(long, requires = "config")]
    pub binding: Option<String>,
    /// Records per second the binding sees: sizes a time window and counts windows per day.
    #[arg(long, value_name = "RECORDS_PER_S", default_value_t = DEFAULT_RATE)]
    pub rate: f64,
    /// Expected false trips per day the proposal may cause, per rule (default: one a month).
    #[arg(long, value_name = "N", default_value_t = 1.0 / 30.0)]
    pub target_false_trips_per_day: f64,
    /// Chance one half-open probe of clean data may fail, per rule.
    #[arg(long, value_name = "P", default_value_t = 0.01)]
    pub target_probe_false_fail: f64,
    /// Keep the contract's thresholds and size only the probe for them (for limits set by
    /// the faults they must catch rather than by the false-trip target).
    #[arg(long)]
    pub keep_thresholds: bool,
    /// Report format and destination.
    #[command(flatten)]
    pub output: output::OutputArgs,
    /// Largest record accepted, in bytes; larger ones count as decode errors.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_record_bytes: usize,
}

/// The breaker's decisions: the closed breaker's window rule and the half-open probe's,
/// called exactly as a running gate calls them.
#[derive(Debug, Clone)]
pub struct GateJudge(pub BreakerConfig);

impl Judge for GateJudge {
    fn window_trips(&self, records: u64, results: &[RuleResult]) -> bool {
        breaker::core::window_breach(&self.0, &Observation { records, results, warm: true, probe: None }).is_some()
    }

    fn probe_fails(&self, records: u64, results: &[RuleResult]) -> bool {
        // A half-open breaker whose probe budget is exactly these records, given the probe.
        let half = BreakerState { mode: Mode::HalfOpen, since_ms: 0, epoch: 1, trips: 1, reason: Reason::CooledDown, open_until_ms: None, probe_budget: records, window_from_ms: 0 };
        let obs = Observation { records: 0, results: &[], warm: true, probe: Some(ProbeObservation { records, results }) };
        !matches!(step(&self.0, &half, &Event::Observe(obs), 1), Step::Move(s) if s.mode == Mode::Closed)
    }

    fn least_probe(&self, rule: &WindowRule) -> u64 {
        // The startup check's floor: a probe this size passes `sizing::undersized`.
        breaker::sizing::undersized(&BreakerConfig { probe_records: 0, ..self.0.clone() }, std::slice::from_ref(rule)).first().map_or(0, |u| u.needed)
    }
}

/// What `calibrate` prints: the report and where it came from.
#[derive(Debug, Serialize)]
pub struct Calibration {
    /// Contract file.
    pub contract: PathBuf,
    /// Binding name, when a config was given.
    pub binding: Option<String>,
    /// The report.
    #[serde(flatten)]
    pub report: Report,
    /// The proposal as YAML to paste.
    pub snippet: String,
}

/// The binding's breaker settings, and its name and schema object.
fn breaker_of(a: &CalibrateArgs, contract_id: &str) -> anyhow::Result<(BreakerConfig, Option<String>, Option<String>)> {
    let Some(path) = &a.config else { return Ok((BreakerConfig::default(), None, None)) };
    let cfg = crate::config::GateConfig::load(path).with_context(|| format!("loading {}", path.display()))?;
    let b = match &a.binding {
        Some(name) => cfg.bindings.iter().find(|b| &b.name == name).with_context(|| format!("--binding {name:?}: no such binding in {}", path.display()))?,
        None => match cfg.bindings.as_slice() {
            [only] => only,
            many => many.iter().find(|b| b.contract == contract_id).with_context(|| format!("{} has several bindings and none uses contract {contract_id:?}: give --binding", path.display()))?,
        },
    };
    Ok((b.breaker.clone(), Some(b.name.clone()), b.object.clone()))
}

/// Settings from the breaker config and the flags.
///
/// # Errors
/// A rate or target that is not a positive finite number.
pub fn settings(brk: &BreakerConfig, rate: f64, trips: f64, probe: f64, keep_thresholds: bool) -> anyhow::Result<Settings> {
    anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be a positive number of records per second");
    anyhow::ensure!(trips.is_finite() && trips > 0.0, "--target-false-trips-per-day must be positive");
    anyhow::ensure!(probe > 0.0 && probe < 1.0, "--target-probe-false-fail must be between 0 and 1");
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let window_records = match &brk.window {
        WindowConfig::Time { length, .. } => (length.as_secs_f64() * rate).round().max(1.0) as u64,
        WindowConfig::Count { records, .. } => *records,
    };
    Ok(Settings { window_records, min_records: brk.min_records, probe_records: brk.probe_records, confidence: brk.confidence, rate_per_s: rate, target_trips_per_day: trips, target_probe_false_fail: probe, keep_thresholds })
}

/// Runs `contracts calibrate`. Exit 0 whatever it finds: it advises, it does not judge.
///
/// # Errors
/// An unusable contract, config or input, or an unwritable report.
pub fn main(a: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let sink = a.output.resolve(&CALIBRATE, None)?;
    let text = std::fs::read_to_string(&a.contract).with_context(|| format!("reading {}", a.contract.display()))?;
    let id = contracts::parse(&text).map(|c| c.id).unwrap_or_default();
    let (brk, binding, object) = breaker_of(a, &id)?;
    let compiled = batch::load_contract(&a.contract, a.object.as_deref().or(object.as_deref()))?;
    let s = settings(&brk, a.rate, a.target_false_trips_per_day, a.target_probe_false_fail, a.keep_thresholds)?;
    let sampler = sample(&compiled, &a.input, super::format_for(a.format, &a.input), &input::null_tokens(&a.null_tokens), DecodeLimits { max_record_bytes: a.max_record_bytes })?;
    anyhow::ensure!(sampler.records() > 0, "{} holds no records", a.input.display());
    let report = sampler.report(&s, &GateJudge(brk));
    let snippet = snippet(&report, &a.contract, binding.as_deref());
    let c = Calibration { contract: a.contract.clone(), binding, report, snippet };
    sink.write(|f| render(&c, f))?;
    Ok(ExitCode::SUCCESS)
}

/// Judges every record of the input with the contract, keeping the per-record counts.
///
/// # Errors
/// The input cannot be read or is not of its format.
pub fn sample(compiled: &contracts::CompiledContract, path: &Path, format: input::Format, null_tokens: &[String], limits: DecodeLimits) -> Result<Sampler, batch::BatchError> {
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| batch::BatchError::Read { reason: format!("{}: {e}", path.display()) })?)
    };
    let r = BufReader::with_capacity(1 << 16, reader);
    let mut sampler = Sampler::new(&compiled.rules);
    // No clock: record ages are not judged, since a file's records have no arrival time.
    let mut obs = compiled.observer();
    let mut each = |(_, item): input::Item<'_>| {
        match item {
            Ok(v) => {
                let _ = compiled.check(v, &mut obs);
            }
            Err(_) => compiled.decode_error(&mut obs),
        }
        sampler.push(&obs.window);
    };
    match format {
        input::Format::Jsonl => input::jsonl(r, limits, &mut each)?,
        input::Format::Json => input::json_array(r, limits, &mut each)?,
        input::Format::Csv => input::csv(r, compiled.top_level_types(), null_tokens, limits, &mut each)?,
        input::Format::Avro => avro_file::read(r, compiled, &mut each)?,
    }
    Ok(sampler)
}

/// The report in `format`.
///
/// # Errors
/// A serializer's message.
pub fn render(c: &Calibration, format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Json => output::json(c),
        _ => Ok(table(c)),
    }
}

/// A probability or rate as a person reads it: small ones in scientific notation.
fn p(x: f64) -> String {
    match x {
        0.0 => "0".into(),
        x if x < 1e-3 => format!("{x:.1e}"),
        x => format!("{x:.4}"),
    }
}

fn table(c: &Calibration) -> String {
    let r = &c.report;
    let s = &r.settings;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} records of {}{}: window {} records ({:.0} disjoint windows/day at {} records/s), min_records {}, probe_records {}, confidence {}",
        r.records,
        c.contract.display(),
        c.binding.as_ref().map_or(String::new(), |b| format!(", binding {b}")),
        s.window_records,
        r.windows_per_day,
        s.rate_per_s,
        s.min_records,
        s.probe_records,
        s.confidence
    );
    let _ = writeln!(out, "target: {} false trips/day per rule, {} probe false-fail odds; a proposed probe fails a stream at {}x the base rate or {}x the limit, the higher, {:.0} % of the time\n", p(s.target_trips_per_day), s.target_probe_false_fail, r.fault_factor, contracts::calibrate::PROBE_LIMIT_FACTOR, 100.0 * r.power);
    let head = ["rule", "base %", "threshold", "P(window breach)", "false trips/day", "proposed", "trips/day then", "probe false-fail", "proposed probe", "probe false-fail then", "sample windows breached"];
    let rows: Vec<[String; 11]> = r
        .rules
        .iter()
        .map(|x| {
            [
                x.id.clone(),
                format!("{:.4}", x.base_rate),
                format!("{} {}", short(x.operator), x.threshold),
                p(x.window_breach),
                format!("{}{}", p(x.false_trips_per_day), if x.meets_target { "" } else { " !" }),
                format!("{} {}", short(x.operator), x.proposed_threshold),
                p(x.proposed_false_trips_per_day),
                p(x.probe_false_fail),
                x.proposed_probe_records.map_or_else(|| "none".into(), |n| n.to_string()),
                p(x.proposed_probe_false_fail),
                format!("{}/{} (then {})", x.sample_windows_breached, x.sample_windows, x.sample_windows_breached_proposed),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..head.len()).map(|i| rows.iter().map(|row| row[i].len()).chain([head[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string();
    let _ = writeln!(out, "{}", line(&head.map(String::from)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    for x in &r.rules {
        for n in &x.notes {
            let _ = writeln!(out, "  {}: {n}", x.id);
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "\nnot calibrated:");
        for k in &r.skipped {
            let _ = writeln!(out, "  {} ({}): {}", k.id, k.metric.as_str(), k.why);
        }
    }
    let _ = write!(out, "\n{}", c.snippet);
    out
}

fn short(op: &str) -> &'static str {
    if op == "mustBeLessOrEqualTo" {
        "<="
    } else {
        "<"
    }
}

/// The proposal as YAML: the rules' thresholds as comments (they live in the contract, each
/// under its rule) and the binding's probe size as a block to paste under the binding.
#[must_use]
pub fn snippet(r: &Report, contract: &Path, binding: Option<&str>) -> String {
    let mut out = format!("# {}: set each rule's threshold (find the rule by its id)\n", contract.display());
    for x in &r.rules {
        let _ = writeln!(out, "#   - id: {}\n#     {}: {}", x.id, x.operator, x.proposed_threshold);
    }
    if let Some(n) = r.proposed_probe_records() {
        let _ = writeln!(out, "# gate.yaml, binding {}:\nbreaker:\n  probe_records: {n}", binding.unwrap_or("<name>"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_window_is_sized_from_the_config_and_the_rate() {
        // (window, rate, records)
        let cases = [
            (WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::from_secs(1) }, 30.0, 900),
            (WindowConfig::Time { length: Duration::from_secs(1), bucket: Duration::from_secs(1) }, 0.1, 1),
            (WindowConfig::Count { records: 5_000, bucket: Duration::from_secs(1), max_age: Duration::from_secs(60) }, 30.0, 5_000),
        ];
        for (window, rate, want) in cases {
            let brk = BreakerConfig { window, ..BreakerConfig::default() };
            assert_eq!(settings(&brk, rate, 0.1, 0.01, false).map(|s| s.window_records).ok(), Some(want));
        }
        assert!(settings(&BreakerConfig::default(), 0.0, 0.1, 0.01, false).is_err());
        assert!(settings(&BreakerConfig::default(), 1.0, 0.1, 1.0, false).is_err());
    }

    #[test]
    fn the_judge_is_the_breakers() {
        let rule = WindowRule { id: "n".into(), metric: contracts::MetricKind::NullValues, field: None, operator: contracts::Operator::MustBeLessThan(3.0), unit: contracts::Unit::Percent, baseline: None, enforcement: contracts::Enforcement::Window };
        let judge = GateJudge(BreakerConfig { min_records: 100, confidence: 0.99, ..BreakerConfig::default() });
        let eval = |hits, total| contracts::window::evaluate(std::slice::from_ref(&rule), &contracts::WindowState { records: total, accumulators: vec![contracts::Accumulator::Count { hits, total }] }, 0);
        // (hits, records, window trips, probe fails): a window trips on the raw value once it
        // holds min_records; a probe only on a breach its sample supports (9 of 100 at 99 %).
        let cases = [(3, 100, true, false), (2, 100, false, false), (9, 100, true, true), (8, 100, true, false), (3, 99, false, false)];
        for (hits, records, trips, fails) in cases {
            assert_eq!(judge.window_trips(records, &eval(hits, records)), trips, "{hits}/{records}");
            assert_eq!(judge.probe_fails(records, &eval(hits, records)), fails, "{hits}/{records}");
        }
        assert_eq!(judge.least_probe(&rule), breaker::sizing::probe_records_needed(3.0, 0.99));
    }
}
