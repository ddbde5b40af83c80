//! `contracts lint` and `contracts baseline`.

use crate::batch::{self, input, BatchError};
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
    let problems = match contracts::parse(&text) {
        Ok(c) => contracts::lint(&c),
        Err(e) => e.problems(),
    };
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    Ok(LintOutcome { problems, has_errors })
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
        input::Format::Csv => input::csv(r, compiled.top_level_types(), &["NA".into(), String::new()], limits, &mut each)?,
        input::Format::Avro => crate::batch::avro_file::read(r, &compiled, &mut each)?,
    }
    prof.baseline(bins, max_psi).ok_or_else(|| BatchError::Read { reason: format!("field {field:?} has no non-null values in the input") })
}
