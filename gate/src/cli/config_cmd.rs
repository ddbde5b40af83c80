//! `config validate FILE`: every check `serve` makes at startup that needs no network
//! ([`crate::serve::startup::offline`], the function `serve` itself runs first), and a short
//! summary of what was checked and what each binding would run. Exit 0 valid, 2 invalid.

use super::output::{self, OutputArgs, OutputError, OutputFormat, Verb};
use crate::cli::serve_cmd::{self, Overrides};
use crate::config::GateConfig;
use crate::serve::startup::{self, Prepared};
use crate::serve::ServeError;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a config file as `serve` does at startup, without connecting to Kafka, Redis or
    /// the registry: fields (unknown keys refused, with lines), cross-field rules, `${…}`
    /// references and secret files, Kafka properties, TLS files (a key must match its
    /// certificate), the contracts each binding runs (read, linted, compiled, version range
    /// resolved) and the registry's seed files. Exit 0: valid; 2: invalid (the field is named).
    Validate(ValidateArgs),
}

/// `config validate` arguments.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Config file (YAML).
    pub file: PathBuf,
    /// Brokers, Redis and listen address from flags or environment, as for `serve`.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Report format (table or json) and destination.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `config validate` for the shared `--output` flag.
pub const VALIDATE: Verb = Verb { path: &["config", "validate"], formats: &[OutputFormat::Table, OutputFormat::Json] };

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The config field at fault (`bindings[0].contract`, `http.tls.key_file`, …); `None` for
    /// a file that does not parse (the message has the line).
    pub field: Option<String>,
    /// What is wrong, with every cause.
    pub message: String,
}

/// What a binding would run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingSummary {
    /// Binding name.
    pub name: String,
    /// Source topic.
    pub source: String,
    /// Contract id.
    pub contract: String,
    /// The version it runs (from `contracts.dir`), or `None` when the registry chooses it at
    /// start.
    pub version: Option<String>,
    /// The configured version range, if any.
    pub range: Option<String>,
    /// Schema object checked against (when known).
    pub object: Option<String>,
    /// Window rules of the compiled contract (when known).
    pub rules: Option<usize>,
    /// `json` or `avro`.
    pub format: &'static str,
    /// Fallback while the breaker is open.
    pub fallback: &'static str,
}

/// The report of `config validate`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file checked.
    pub file: PathBuf,
    /// Whether `serve` would get past its offline checks.
    pub valid: bool,
    /// The first problem, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Finding>,
    /// Where contracts come from: `dir` or `registry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contracts: Option<&'static str>,
    /// Per binding, what it runs.
    pub bindings: Vec<BindingSummary>,
    /// Seed files of the registry that passed its checks (`file: id version`).
    pub seeds: Vec<String>,
    /// Findings that do not stop `serve` (probes too small to judge a rule).
    pub warnings: Vec<String>,
    /// What was checked.
    pub checked: Vec<String>,
}

/// The field an error of the startup checks is about.
fn field_of(e: &ServeError, cfg: Option<&GateConfig>) -> Option<String> {
    let binding = |name: &str, what: &str| cfg?.bindings.iter().position(|b| b.name == name).map(|i| format!("bindings[{i}].{what}"));
    match e {
        ServeError::Config(crate::config::ConfigError::Invalid { field, .. }) => Some(field.clone()),
        ServeError::BindingContract { binding: name, .. } => binding(name, "contract"),
        ServeError::Breaker { binding: name, .. } => binding(name, "breaker"),
        ServeError::Contracts(_) => Some("contracts.dir".into()),
        _ => None,
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(out, ": {c}");
        cause = c.source();
    }
    out
}

fn finding(e: &ServeError, cfg: Option<&GateConfig>) -> Finding {
    let message = match e {
        // The field is reported apart; the message need not repeat it.
        ServeError::Config(crate::config::ConfigError::Invalid { message, .. }) => message.clone(),
        other => chain(other),
    };
    Finding { field: field_of(e, cfg), message }
}

fn summary(cfg: &GateConfig, prepared: &Prepared) -> Vec<BindingSummary> {
    cfg.bindings
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let compiled = prepared.contracts.get(i).and_then(Option::as_ref);
            BindingSummary {
                name: b.name.clone(),
                source: b.source.clone(),
                contract: b.contract.clone(),
                version: compiled.map(|c| c.version.to_string()),
                range: b.version.clone(),
                object: compiled.map(|c| c.object.to_string()).or_else(|| b.object.clone()),
                rules: compiled.map(|c| c.rules.len()),
                format: b.format.as_str(),
                fallback: b.fallback.as_str(),
            }
        })
        .collect()
}

fn checked(cfg: &GateConfig, prepared: &Prepared) -> Vec<String> {
    let mut out = vec!["fields (unknown keys refused) and cross-field rules".to_string(), "${…} references and secret files".into()];
    let props = cfg.kafka.properties.len() + cfg.kafka.consumer_properties.len() + cfg.kafka.producer_properties.len();
    out.push(format!("{props} Kafka propert{} as librdkafka reads {}", if props == 1 { "y" } else { "ies" }, if props == 1 { "it" } else { "them" }));
    let tls: Vec<&str> = [(cfg.redis.as_ref().and_then(|r| r.tls.as_ref()).is_some(), "redis.tls"), (cfg.schema_registry.as_ref().and_then(|s| s.tls.as_ref()).is_some(), "schema_registry.tls"), (cfg.http.tls.is_some(), "http.tls")]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
    if !tls.is_empty() {
        out.push(format!("TLS files of {} (read, keys matched to certificates)", tls.join(", ")));
    }
    if cfg.redis.is_some() {
        out.push("redis settings".into());
    }
    if cfg.contracts.registry.is_some() {
        out.push(format!("{} registry seed file(s) in contracts.dir through the registry's checks; bindings' versions are chosen from the registry at start", prepared.seeds.len()));
    } else {
        out.push(format!("contracts of {} binding(s) read from {}, linted and compiled; version ranges resolved; per-binding checks (Avro object, stale_records)", cfg.bindings.len(), cfg.contracts.dir.display()));
    }
    out
}

/// Checks `path` with `serve`'s overrides applied.
#[must_use]
pub fn validate(path: &Path, o: &Overrides) -> Report {
    let mut report = Report { file: path.to_path_buf(), valid: false, error: None, contracts: None, bindings: Vec::new(), seeds: Vec::new(), warnings: Vec::new(), checked: Vec::new() };
    let cfg = match serve_cmd::load(path, o) {
        Ok(c) => c,
        Err(e) => {
            // A parse error has the line and key in its message; the cross-field checks that
            // `load` runs name their field.
            report.error = Some(finding(&e, None));
            return report;
        }
    };
    report.contracts = Some(if cfg.contracts.registry.is_some() { "registry" } else { "dir" });
    match startup::offline(&cfg) {
        Ok(prepared) => {
            report.valid = true;
            report.bindings = summary(&cfg, &prepared);
            report.seeds = prepared.seeds.iter().map(|s| format!("{}: {} {}", s.path.display(), s.id, s.version)).collect();
            for (b, undersized) in cfg.bindings.iter().zip(&prepared.undersized) {
                report.warnings.extend(undersized.iter().map(|u| format!("binding {}: rule {}: breaker.probe_records {} is too small to judge it ({}); raise it to {} or more", b.name, u.rule, b.breaker.probe_records, u.why, u.needed)));
            }
            report.checked = checked(&cfg, &prepared);
        }
        Err(e) => report.error = Some(finding(&e, Some(&cfg))),
    }
    report
}

/// The report as a table.
#[must_use]
pub fn table(r: &Report) -> String {
    let mut out = format!("{}: {}\n", r.file.display(), if r.valid { "valid" } else { "INVALID" });
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  {}{}", e.field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(), e.message);
        return out;
    }
    for b in &r.bindings {
        let runs = match (&b.version, &b.range) {
            (Some(v), _) => format!("{} {v}", b.contract),
            (None, Some(range)) => format!("{} {range} (from the registry at start)", b.contract),
            (None, None) => format!("{} newest (from the registry at start)", b.contract),
        };
        let detail = match (&b.object, b.rules) {
            (Some(o), Some(n)) => format!(", object {o}, {n} rule{}", if n == 1 { "" } else { "s" }),
            (Some(o), None) => format!(", object {o}"),
            _ => String::new(),
        };
        // A pattern binds each topic it matches at run time, as `<name>:<topic>`.
        let source = if b.source.starts_with('^') { format!("topics matching {} (each bound as {}:<topic>)", b.source, b.name) } else { b.source.clone() };
        let _ = writeln!(out, "  binding {}: {source} -> {runs}{detail}, {}, fallback {}", b.name, b.format, b.fallback);
    }
    for s in &r.seeds {
        let _ = writeln!(out, "  seed {s}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for c in &r.checked {
        let _ = writeln!(out, "  checked: {c}");
    }
    out
}

/// Runs `config validate` with the report where `--output` says; returns the exit code (0
/// valid, 2 invalid).
///
/// # Errors
/// A format this verb does not write, or the report unwritable.
pub fn main(a: &ValidateArgs) -> Result<u8, OutputError> {
    let sink = a.output.resolve(&VALIDATE, None)?;
    let r = validate(&a.file, &a.overrides);
    sink.write(|f| if f == OutputFormat::Json { output::json(&r) } else { Ok(table(&r)) })?;
    Ok(if r.valid { 0 } else { 2 })
}

#[cfg(test)]
mod tests;
