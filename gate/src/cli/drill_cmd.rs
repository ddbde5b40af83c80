//! The `drill` command: flags, plan loading, Ctrl-C, output and exit code.

use super::output::{self, OutputArgs, OutputFormat};
use crate::drill::hypothesis::{Expect, HypothesisSpec};
use crate::drill::plan::{Plan, Step, TrafficSpec};
use crate::drill::{report, run_plan, scenario, RunOptions, Target, Traffic};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// `drill` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["scenario", "plan", "list"]).required(true)))]
pub struct DrillArgs {
    /// The gate's config file (brokers, the binding's topics, its contract and breaker).
    #[arg(long, required_unless_present = "list")]
    pub config: Option<PathBuf>,
    /// Binding to drill (default: the only one).
    #[arg(long)]
    pub binding: Option<String>,
    /// Built-in scenario to run (see --list).
    #[arg(long)]
    pub scenario: Option<String>,
    /// YAML plan: a list of steps, or `traffic:` settings and `steps:`.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Field to break (default: picked from the contract).
    #[arg(long, conflicts_with = "plan")]
    pub field: Option<String>,
    /// Scenario parameter (new category, new field name, shift, staleness).
    #[arg(long, conflicts_with = "plan")]
    pub value: Option<String>,
    /// Share of records broken while the fault lasts, 0–1.
    #[arg(long, conflicts_with = "plan")]
    pub share: Option<f64>,
    /// How long the fault lasts (e.g. 10s).
    #[arg(long, value_parser = duration, conflicts_with = "plan")]
    pub duration: Option<Duration>,
    /// At most this many injected records.
    #[arg(long, conflicts_with = "plan")]
    pub records: Option<u64>,
    /// Hypothesis: detected within this time of the fault's start.
    #[arg(long, value_parser = duration, conflicts_with = "plan")]
    pub detect_within: Option<Duration>,
    /// Hypothesis: at most this many injected records on validated.
    #[arg(long, conflicts_with = "plan")]
    pub max_leaked: Option<u64>,
    /// Hypothesis: whether the breaker must trip.
    #[arg(long, value_enum, conflicts_with = "plan")]
    pub expect_trip: Option<Expect>,
    /// Hypothesis: closed again, good records flowing, within this time of the fault's end.
    #[arg(long, value_parser = duration, conflicts_with = "plan")]
    pub recover_within: Option<Duration>,
    /// Abort injection as soon as more injected records than this reached validated.
    #[arg(long, conflicts_with = "plan")]
    pub abort_leaked: Option<u64>,
    /// Hypothesis: at most this many injected records sent after the trip on validated
    /// (through probes) [default: 0].
    #[arg(long, conflicts_with = "plan")]
    pub max_probe_leaked: Option<u64>,
    /// Hypothesis: at most this many trips after the close that follows the fault [default: 0].
    #[arg(long, conflicts_with = "plan")]
    pub max_retrips: Option<u64>,
    /// Known-good records (JSON Lines) replayed as the steady state.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Avro, JSON Schema and Protobuf bindings: writer schema (.avsc, .json, .proto) of the
    /// baseline, registered under the source topic's value subject [default: that subject's
    /// latest version].
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Records per second [default: 100].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Steady state measured before the fault [default: 5s].
    #[arg(long, value_parser = duration)]
    pub steady: Option<Duration>,
    /// Message key fields, comma-separated (default: no key).
    #[arg(long, value_delimiter = ',')]
    pub key: Option<Vec<String>>,
    /// Timestamp field set to "now" on every record, or `none` (default: the contract's SLA field).
    #[arg(long)]
    pub restamp: Option<String>,
    /// Replay the baseline in file order instead of a seeded shuffle.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Seed of the shuffle and of the injectors [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// After recovery, watch this long for late records and transitions [default: 3s].
    #[arg(long, value_parser = duration)]
    pub settle: Option<Duration>,
    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Deprecated spelling of `--output`.
    #[arg(long, value_enum, hide = true, value_name = "FORMAT", conflicts_with = "output")]
    pub report: Option<OutputFormat>,
    /// Kafka bootstrap servers (overrides kafka.brokers).
    #[arg(long, env = "CONTRACT_GATE_BROKERS", hide_env_values = true)]
    pub brokers: Option<String>,
}

impl DrillArgs {
    fn traffic(&self) -> TrafficSpec {
        TrafficSpec {
            baseline: self.baseline.clone(),
            schema: self.schema.clone(),
            rate: self.rate,
            steady: self.steady,
            key: self.key.clone(),
            restamp: self.restamp.clone(),
            shuffle: self.no_shuffle.then_some(false),
            seed: self.seed,
            settle: self.settle,
        }
    }

    fn step(&self, scenario: &str) -> Step {
        Step {
            scenario: scenario.to_string(),
            field: self.field.clone(),
            value: self.value.clone(),
            share: self.share,
            duration: self.duration,
            records: self.records,
            hypothesis: HypothesisSpec { detect_within: self.detect_within, max_leaked: self.max_leaked, trip: self.expect_trip, recover_within: self.recover_within, abort_leaked: self.abort_leaked, max_probe_leaked: self.max_probe_leaked, max_retrips: self.max_retrips },
        }
    }
}

/// Runs the command. Exit 0: every drill passed; 1: a drill failed; errors are exit 2 (the
/// caller's).
///
/// # Errors
/// Unusable config, plan, baseline or scenario, or Kafka failures.
pub fn main(a: &DrillArgs) -> anyhow::Result<ExitCode> {
    // Refuse a format before minutes of drilling, not after.
    let verb = if a.list { output::DRILL_LIST } else { output::DRILL };
    let sink = a.output.resolve(&verb, a.report.map(|f| ("--report", f)))?;
    if a.list {
        sink.write(|f| match f {
            OutputFormat::Json => output::json(&scenario::SCENARIOS.iter().map(|(name, about)| serde_json::json!({ "name": name, "about": about })).collect::<Vec<_>>()),
            _ => Ok(scenario::SCENARIOS.iter().map(|(name, about)| format!("{name:<22} {about}\n")).collect()),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = a.config.as_ref().context("--config is required")?;
    let o = super::serve_cmd::Overrides { brokers: a.brokers.clone(), ..Default::default() };
    let cfg = super::serve_cmd::load(config, &o)?;
    let target = Target::new(cfg, a.binding.as_deref()).map_err(anyhow::Error::msg)?;
    let (traffic, steps) = match (&a.plan, &a.scenario) {
        (Some(p), _) => {
            let plan = Plan::load(p).map_err(anyhow::Error::msg)?;
            (a.traffic().or(&plan.traffic), plan.steps)
        }
        (None, Some(s)) => (a.traffic(), vec![a.step(s)]),
        (None, None) => anyhow::bail!("give --scenario NAME or --plan FILE"),
    };
    let traffic = Traffic::from_spec(&traffic, &target.info).map_err(anyhow::Error::msg)?;
    let single = a.plan.is_none();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let reports = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping injection, waiting for recovery (Ctrl-C again to quit)");
                let _ = tx.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        let opts = RunOptions { progress: true, cancel: Some(rx), label: String::new() };
        run_plan(&target, &traffic, &steps, &opts).await
    })?;
    let passed = !reports.is_empty() && reports.iter().all(|r| r.passed);
    sink.write(|f| render(&reports, single, f))?;
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The drills' report in `format`: JSON is the one drill's object for a single `--scenario`,
/// else `{passed, drills}`.
///
/// # Errors
/// A serializer's message.
pub fn render(reports: &[report::DrillReport], single: bool, format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(report::table(reports)),
        OutputFormat::Json => match reports {
            [one] if single => output::json(one),
            _ => output::json(&serde_json::json!({ "passed": !reports.is_empty() && reports.iter().all(|r| r.passed), "drills": reports })),
        },
        OutputFormat::Junit => output::junit(&report::junit(reports)),
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn parse(args: &str) -> Result<super::DrillArgs, String> {
        let argv = std::iter::once("contract-gate").chain(args.split_whitespace());
        match Cli::try_parse_from(argv).map_err(|e| e.to_string())?.command {
            Command::Drill(a) => Ok(*a),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags() {
        let a = parse("drill --config g.yaml --scenario null-burst --share 0.5 --duration 4s --key carrier,flight --expect-trip expected --report json").expect("parse");
        assert_eq!(a.duration, Some(std::time::Duration::from_secs(4)));
        assert_eq!(a.key, Some(vec!["carrier".to_string(), "flight".to_string()]));
        let s = a.step("null-burst");
        assert_eq!((s.share, s.hypothesis.trip), (Some(0.5), Some(crate::drill::hypothesis::Expect::Expected)));
        assert!(parse("drill --list").is_ok_and(|a| a.list));
        let cases = [
            ("drill --config g.yaml", "required"),
            ("drill --config g.yaml --scenario silence --plan p.yaml", "cannot be used"),
            ("drill --config g.yaml --plan p.yaml --field x", "cannot be used"),
            ("drill --config g.yaml --scenario silence --duration soon", "soon"),
            ("drill --scenario silence", "--config"),
        ];
        for (args, needle) in cases {
            let e = parse(args).expect_err(args);
            assert!(e.contains(needle), "{args}: {e}");
        }
    }
}
