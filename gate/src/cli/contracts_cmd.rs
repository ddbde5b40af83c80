//! `contracts lint` and `contracts baseline`.

use super::output::OutputFormat;
use crate::batch::{self, input, report, BatchError};
use contracts::decode::DecodeLimits;
use contracts::profile::Profiler;
use contracts::{Problem, Severity};
use serde_json::Value;
use std::io::BufReader;
use std::path::Path;

/// Outcome of linting: findings, and whether any is an error.
#[derive(Debug)]
pub struct LintOutcome {
    /// Every finding.
    pub problems: Vec<Problem>,
    /// True when an error-level finding exists.
    pub has_errors: bool,
}

/// Lints a contract file.
///
/// # Errors
/// [`BatchError::ContractFile`] when the file cannot be read. A malformed contract is a finding.
pub fn lint(path: &Path) -> Result<LintOutcome, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BatchError::ContractFile { path: path.to_path_buf(), reason: e.to_string() })?;
    let problems = contracts::compile::lint_source(&text);
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    Ok(LintOutcome { problems, has_errors })
}

/// Runs `contracts lint`: the findings where `--output` says; exit 0 usable, 1 errors found.
///
/// # Errors
/// A format lint does not write, an unreadable file, an unwritable report.
pub fn lint_main(file: &Path, out: &super::output::OutputArgs) -> anyhow::Result<std::process::ExitCode> {
    let sink = out.resolve(&super::output::LINT, None)?;
    let l = lint(file)?;
    sink.write(|f| render_lint(file, &l, f))?;
    Ok(if l.has_errors { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}

/// Lint findings in `format`.
///
/// # Errors
/// A serializer's message.
pub fn render_lint(file: &Path, l: &LintOutcome, format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(report::lint_table(file, &l.problems, l.has_errors)),
        OutputFormat::Json => super::output::json(&report::lint_json(file, &l.problems, l.has_errors)),
        OutputFormat::Junit => super::output::junit(&report::lint_junit(file, &l.problems)),
    }
}

/// Profiles `field` over the input and returns the `gateDistribution` value.
///
/// # Errors
/// Contract or input errors, or a field with no values.
pub fn baseline(contract: &Path, input_path: &Path, format: input::Format, field: &str, bins: usize, max_psi: f64) -> Result<Value, BatchError> {
    let compiled = batch::load_contract(contract, None)?;
    let keys: Vec<&str> = field.split('.').collect();
    let mut prof = Profiler::default();
    let mut each = |(_, item): input::Item<'_>| {
        if let Ok(v) = item {
            prof.add(keys.iter().try_fold(v, |v, k| v.get(*k)));
        }
    };
    let f = std::fs::File::open(input_path).map_err(|e| BatchError::Read { reason: format!("{}: {e}", input_path.display()) })?;
    let r = BufReader::new(f);
    let limits = DecodeLimits::default();
    match format {
        input::Format::Jsonl => input::jsonl(r, limits, &mut each)?,
        input::Format::Json => input::json_array(r, limits, &mut each)?,
        input::Format::Csv => input::csv(r, compiled.top_level_types(), &input::null_tokens(&[]), limits, &mut each)?,
        input::Format::Avro => crate::batch::avro_file::read(r, &compiled, &mut each)?,
    }
    prof.baseline(bins, max_psi).ok_or_else(|| BatchError::Read { reason: format!("field {field:?} has no non-null values in the input") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::golden;
    use std::path::PathBuf;

    #[test]
    fn lint_outputs_match_their_golden_files() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        // Shown relative, as a user types it: the report names the file given.
        let file = Path::new("orders.odcs.yaml");
        let l = lint(&dir.join(file)).expect("fixture reads");
        assert!(!l.has_errors, "{:?}", l.problems);
        for (format, name) in [(OutputFormat::Table, "lint.txt"), (OutputFormat::Json, "lint.json"), (OutputFormat::Junit, "lint.xml")] {
            golden::assert(name, &render_lint(file, &l, format).expect("renders"));
        }
        let clean = LintOutcome { problems: Vec::new(), has_errors: false };
        golden::assert("lint-clean.xml", &render_lint(file, &clean, OutputFormat::Junit).expect("renders"));
        let mut error = contracts::Problem::error("schema[0].properties[1].logicalType", "unknown logical type \"money\"");
        error.line = Some(17);
        let problems = vec![error, contracts::Problem::warning("schema", "no <description> & no owner"), contracts::Problem::not_enforced("slaProperties[1]", "SLA property \"retention\" is not enforced on streams")];
        let broken = LintOutcome { problems, has_errors: true };
        for (format, name) in [(OutputFormat::Table, "lint-problems.txt"), (OutputFormat::Json, "lint-problems.json"), (OutputFormat::Junit, "lint-problems.xml")] {
            golden::assert(name, &render_lint(file, &broken, format).expect("renders"));
        }
        let xml = render_lint(file, &broken, OutputFormat::Junit).expect("renders");
        assert!(xml.contains("tests=\"3\" skipped=\"1\" failures=\"1\"") && xml.contains("unknown logical type &quot;money&quot;"), "{xml}");
    }
}
