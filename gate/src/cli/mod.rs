//! Command-line interface definitions and the commands that need no services.

pub mod backtest_cmd;
pub mod breaker_report;
pub mod calibrate_cmd;
pub mod check_cmd;
pub mod completions;
pub mod config_cmd;
pub mod contracts_cmd;
pub mod diff_cmd;
pub mod diff_junit;
pub mod drill_cmd;
pub mod http_client;
pub mod infer_cmd;
pub mod infer_topic;
pub mod output;
pub mod registry_cmd;
pub mod serve_cmd;

use crate::batch::input::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Data-contract quality gate with a circuit breaker, run as a Kafka sidecar.
#[derive(Debug, Parser)]
// `about` spelled out: a bare `about` would show the crate's description (Cargo.toml), which
// describes the code, not the product.
#[command(name = "contract-gate", version, about = "Data-contract quality gate with a circuit breaker, run as a Kafka sidecar.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a batch of records against a contract. Exit 0: holds; 1: violated; 2: error.
    Check(CheckArgs),
    /// Work with contract files.
    #[command(subcommand)]
    Contracts(ContractsCommand),
    /// Run the sidecar: consume, validate, route, with the circuit breaker.
    Serve(ServeArgs),
    /// Inspect or override the breakers of a running gate.
    Breaker(BreakerArgs),
    /// Re-validate held records after a fix: valid ones go to validated, others to quarantine.
    Replay(ReplayArgs),
    /// Data chaos drill: inject a fault into a binding's source and check how the gate reacts.
    /// Exit 0: every hypothesis held; 1: a drill failed; 2: error.
    Drill(Box<drill_cmd::DrillArgs>),
    /// Check a config file as `serve` would at startup, offline.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one per command into a directory.
    Man(completions::ManArgs),
    /// See the gate work in one command, no services needed: an in-process Kafka cluster, the
    /// bundled flights contract, a null burst that trips the breaker, and the recovery.
    Demo(DemoArgs),
}

/// `demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Summary format and destination.
    #[command(flatten)]
    pub output: output::OutputArgs,
    /// Deprecated spelling of `--output json`.
    #[arg(long, hide = true, conflicts_with = "output")]
    pub json: bool,
    /// Plain log lines instead of the live view, even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Also serve /health, /ready, /metrics and /v1/breakers at this address while it runs.
    #[arg(long)]
    pub listen: Option<String>,
}

/// `serve` arguments.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// Brokers, Redis and listen address from flags or environment.
    #[command(flatten)]
    pub overrides: serve_cmd::Overrides,
}

/// `replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The gate's config file (for brokers, contracts and the binding's topics).
    #[arg(long)]
    pub config: PathBuf,
    /// Binding whose held records to replay.
    #[arg(long)]
    pub binding: String,
    /// Topic to replay (default: the binding's held topic).
    #[arg(long)]
    pub from: Option<String>,
    /// Kafka bootstrap servers (overrides kafka.brokers).
    #[arg(long, env = "CONTRACT_GATE_BROKERS", hide_env_values = true)]
    pub brokers: Option<String>,
    /// Summary format and destination.
    #[command(flatten)]
    pub output: output::ScriptOutputArgs,
}

/// `breaker` arguments.
#[derive(Debug, clap::Args)]
pub struct BreakerArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BreakerAction,
    /// Base URL of the gate's HTTP endpoint.
    #[arg(long, env = "CONTRACT_GATE_URL", hide_env_values = true, default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Admin bearer token.
    #[arg(long, env = "CONTRACT_GATE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// TLS options for an https URL.
    #[command(flatten)]
    pub tls: http_client::TlsArgs,
    /// Report format and destination.
    #[command(flatten)]
    pub output: output::ScriptOutputArgs,
}

/// Breaker actions.
#[derive(Debug, Subcommand)]
pub enum BreakerAction {
    /// Show the state of one binding's breaker, or of all.
    Status {
        /// Binding name.
        binding: Option<String>,
    },
    /// Force the breaker open (kill switch): every valid record goes to the fallback.
    Open {
        /// Binding name.
        binding: String,
    },
    /// Force the breaker closed (disable it): data always flows.
    Close {
        /// Binding name.
        binding: String,
    },
    /// Evaluate and report only; never divert.
    MetricsOnly {
        /// Binding name.
        binding: String,
    },
    /// Back to automatic operation with a fresh window.
    Reset {
        /// Binding name.
        binding: String,
    },
    /// Under `fallback: pause`: commit past the records waiting in the paused partitions (up
    /// to their end now) without writing them anywhere.
    SkipPending {
        /// Binding name.
        binding: String,
    },
    /// Under `fallback: pause`: send the records waiting in the paused partitions (up to
    /// their end now) to quarantine, then go on consuming.
    QuarantinePending {
        /// Binding name.
        binding: String,
    },
}

/// `check` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Contract file (ODCS v3.0/v3.1 YAML or JSON).
    #[arg(long)]
    pub contract: PathBuf,
    /// Records to check; `-` reads standard input.
    #[arg(long)]
    pub input: PathBuf,
    /// Input format (default: from the file extension, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Report format and destination.
    #[command(flatten)]
    pub output: output::OutputArgs,
    /// Deprecated spelling of `--output`.
    #[arg(long, value_enum, hide = true, value_name = "FORMAT", conflicts_with = "output")]
    pub report: Option<output::OutputFormat>,
    /// Time to measure freshness against (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<String>,
    /// Schema object of the contract to check against (default: the first).
    #[arg(long)]
    pub object: Option<String>,
    /// CSV cell values read as null (repeatable). Default: `NA` and the empty string.
    #[arg(long = "null-token")]
    pub null_tokens: Vec<String>,
    /// Largest record accepted, in bytes; larger ones fail as decode errors.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_record_bytes: usize,
    /// Threads for JSON Lines (default: the cores this process may use): one checks records in
    /// input order, the others decode them, so the report is the same for any value.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `contracts` subcommands that work on files.
#[derive(Debug, Subcommand)]
pub enum ContractsCommand {
    /// Report errors (with locations), warnings and rules the gate does not enforce.
    /// Exit 0: usable; 1: errors found; 2: unreadable.
    Lint {
        /// Contract file.
        file: PathBuf,
        /// Report format and destination.
        #[command(flatten)]
        output: output::OutputArgs,
    },
    /// Record a distribution baseline for one field from known-good data and print the
    /// `gateDistribution` custom property to paste under that property.
    Baseline {
        /// Contract file (used to type CSV input and to check the field exists).
        #[arg(long)]
        contract: PathBuf,
        /// Known-good records.
        #[arg(long)]
        input: PathBuf,
        /// Input format (default: from the file extension, else jsonl).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Field to profile (dotted path for nested fields).
        #[arg(long)]
        field: String,
        /// Number of bins (numbers: quantiles; strings: most frequent categories + other).
        #[arg(long, default_value_t = 10)]
        bins: usize,
        /// Largest population stability index the rule will allow.
        #[arg(long, default_value_t = 0.2)]
        max_psi: f64,
    },
    /// Write a draft contract inferred from sample records (a file, or the start of a topic):
    /// types, required fields, ranges, formats, enumerations, null-rate, duplicate and
    /// distribution rules, each marked `gateInferred` with its evidence for review.
    /// Exit 0: written; 2: unreadable input, unreachable topic or no records.
    Infer(Box<infer_cmd::InferArgs>),
    /// How often known-good records would trip a binding's breaker by chance (per window
    /// rule, at a given rate) and fail its half-open probe, with the thresholds and
    /// `probe_records` that meet a false-trip target. Exit 0; 2: unusable input or config.
    Calibrate(Box<calibrate_cmd::CalibrateArgs>),
    /// Replay a time or offset range of a topic (or a file) through a contract version's
    /// checks and a simulated breaker, writing nothing, and report the routing it would have
    /// produced per rule and per time bucket, beside the active version's.
    /// Exit 0: reported; 2: unusable flags, contracts or source.
    Backtest(Box<backtest_cmd::BacktestArgs>),
    /// Register a contract version with the registry, which lints and compiles it and refuses
    /// breaking changes without a major version bump. Exit 0: registered (or identical already
    /// there); 1: refused (invalid, breaking, conflicting version, no token); 2: usage or
    /// transport error.
    Push {
        /// Contract file (ODCS YAML or JSON).
        file: PathBuf,
        /// Run every check, register nothing.
        #[arg(long)]
        dry_run: bool,
        /// Register it as a shadow version: running gates judge live records by it beside the
        /// active version and report what it would have done (`contracts shadow`), routing
        /// nothing by it, until `contracts promote`.
        #[arg(long)]
        shadow: bool,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// List the registered contracts, or the versions of one.
    List {
        /// Contract id.
        id: Option<String>,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// Print one registered version (default: the latest).
    Show {
        /// Contract id.
        id: String,
        /// Version, or `latest`.
        version: Option<String>,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// Structured diff, breaking changes marked, judged by the registry's rule (breaking
    /// changes need a major version bump). Two files (`diff OLD NEW`): offline, each file
    /// checked as a push would be. One contract id (`diff ID [--from V] [--to V]`): two
    /// registered versions (default: the latest and the one before). Exit with files: 0 the
    /// registry would take NEW after OLD; 1 breaking without a major bump (with --strict: any
    /// breaking change); 2 unreadable or invalid.
    #[command(after_help = "Examples:\n  contract-gate contracts diff flights-1.yaml flights-2.yaml\n  contract-gate contracts diff flights --from 1.0.0 --to 2.0.0 --registry http://gate:8080")]
    Diff {
        /// Registered contract id, or the old contract file when NEW is given.
        #[arg(value_name = "ID|OLD")]
        id: String,
        /// New contract file: compares two files, no registry.
        #[arg(value_name = "NEW")]
        new: Option<PathBuf>,
        /// Old version (registry form).
        #[arg(long, conflicts_with = "new")]
        from: Option<String>,
        /// New version (registry form; default: latest).
        #[arg(long, conflicts_with = "new")]
        to: Option<String>,
        /// Exit 1 on any breaking change, even with a major version bump (files only).
        #[arg(long, requires = "new")]
        strict: bool,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// A Markdown changelog from OLD to NEW (two contract files): properties, types,
    /// constraints, quality rules and SLAs, breaking changes marked, and whether the version
    /// bump is the one the registry asks for. Exit 0; 2 unreadable or invalid.
    Changelog {
        /// Old contract file.
        old: PathBuf,
        /// New contract file.
        new: PathBuf,
    },
    /// Make a shadow version live: registered as a plain version (checked again against the
    /// live versions), bindings in its range move to it. Exit 0: promoted; 1: not a shadow
    /// version, unknown, refused; 2: transport error.
    Promote {
        /// Contract id.
        id: String,
        /// The shadow version.
        version: String,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// What each binding's shadow version would have done to the live records so far, on one
    /// gate (`--gate URL`): verdicts against the active version's, quarantines per rule, its
    /// routes and whether its breaker would have tripped. Withdraw a shadow with `deprecate`.
    Shadow {
        /// Gate connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
    /// Deprecate a registered version: history is kept, bindings stop moving to it (a shadow
    /// version is withdrawn from evaluation).
    Deprecate {
        /// Contract id.
        id: String,
        /// Version.
        version: String,
        /// Why (recorded with the status).
        #[arg(long)]
        reason: Option<String>,
        /// Registry connection and output.
        #[command(flatten)]
        registry: registry_cmd::RegistryArgs,
    },
}

impl ContractsCommand {
    /// The registry call of a registry subcommand (`None` for the file-based ones).
    #[must_use]
    pub fn registry_call(&self) -> Option<(registry_cmd::Call, &registry_cmd::RegistryArgs)> {
        use registry_cmd::Call;
        Some(match self {
            Self::Push { file, dry_run, shadow, registry } => (Call::Push { file: file.clone(), dry_run: *dry_run, shadow: *shadow }, registry),
            Self::Promote { id, version, registry } => (Call::Promote { id: id.clone(), version: version.clone() }, registry),
            Self::Shadow { registry } => (Call::Shadows, registry),
            Self::List { id, registry } => (Call::List { id: id.clone() }, registry),
            Self::Show { id, version, registry } => (Call::Show { id: id.clone(), version: version.clone() }, registry),
            Self::Diff { id, new: None, from, to, registry, .. } => (Call::Diff { id: id.clone(), from: from.clone(), to: to.clone() }, registry),
            Self::Deprecate { id, version, reason, registry } => (Call::Deprecate { id: id.clone(), version: version.clone(), reason: reason.clone() }, registry),
            Self::Lint { .. } | Self::Baseline { .. } | Self::Infer(_) | Self::Calibrate(_) | Self::Backtest(_) | Self::Diff { new: Some(_), .. } | Self::Changelog { .. } => return None,
        })
    }
}

/// Picks the input format from the flag or the file extension.
#[must_use]
pub fn format_for(flag: Option<Format>, input: &std::path::Path) -> Format {
    flag.unwrap_or_else(|| match input.extension().and_then(|e| e.to_str()) {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some("avro") => Format::Avro,
        _ => Format::Jsonl,
    })
}
