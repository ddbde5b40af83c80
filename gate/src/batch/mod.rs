//! `contract-gate check`: a batch of records against a contract, one report.

pub mod avro_file;
pub mod input;
pub mod junit;
pub mod parallel;
pub mod report;

use contracts::batch::{Batch, BatchReport};
use contracts::decode::DecodeLimits;
use contracts::{compile, ContractError, CompiledContract};
use indicatif::{ProgressBar, ProgressStyle};
use input::Format;
use std::io::{BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Failures of a batch run (exit code 2). A violated contract is not an error: it is a report.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The contract file could not be read.
    #[error("cannot read contract {path}: {reason}")]
    ContractFile {
        /// Path given.
        path: PathBuf,
        /// OS reason.
        reason: String,
    },
    /// The contract is malformed.
    #[error("contract {path}: {error}")]
    Contract {
        /// Path given.
        path: PathBuf,
        /// What is wrong (shown inline, so not also chained as a source).
        error: ContractError,
    },
    /// The input could not be opened or read.
    #[error("input: {reason}")]
    Read {
        /// Why.
        reason: String,
    },
}

/// Options of one `check` run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Contract file (ODCS YAML or JSON).
    pub contract: PathBuf,
    /// Schema object to check against (default: the first).
    pub object: Option<String>,
    /// Input file, or `-` for standard input.
    pub input: PathBuf,
    /// Input format.
    pub format: Format,
    /// CSV cells read as null.
    pub null_tokens: Vec<String>,
    /// Payload limits.
    pub limits: DecodeLimits,
    /// Time freshness is measured against, ms since the epoch.
    pub now_ms: i64,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Threads for JSON Lines: one checks the records in input order, the others decode them
    /// (so the report does not depend on the count); 1 decodes and checks on one thread.
    pub threads: usize,
}

/// Loads and compiles a contract file.
///
/// # Errors
/// [`BatchError::ContractFile`] or [`BatchError::Contract`].
pub fn load_contract(path: &Path, object: Option<&str>) -> Result<CompiledContract, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BatchError::ContractFile { path: path.to_path_buf(), reason: e.to_string() })?;
    let contract = contracts::parse(&text).map_err(|error| BatchError::Contract { path: path.to_path_buf(), error })?;
    compile(&contract, object).map_err(|error| BatchError::Contract { path: path.to_path_buf(), error })
}

/// Runs a batch check.
///
/// # Errors
/// A [`BatchError`] when the contract or input cannot be used.
pub fn run(opts: &CheckOptions) -> Result<BatchReport, BatchError> {
    let compiled = load_contract(&opts.contract, opts.object.as_deref())?;
    let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if opts.input.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&opts.input).map_err(|e| BatchError::Read { reason: format!("{}: {e}", opts.input.display()) })?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let bar = (opts.progress && std::io::stderr().is_terminal()).then(|| progress_bar(size));
    let reader: Box<dyn Read + Send> = match &bar {
        Some(b) => Box::new(b.wrap_read(reader)),
        None => reader,
    };
    let mut batch = Batch::new(&compiled, opts.now_ms);
    let mut each = |(line, item): input::Item<'_>| match item {
        Ok(v) => {
            batch.record(line, v);
        }
        Err(reason) => batch.decode_error(line, &reason),
    };
    let reader = BufReader::with_capacity(1 << 16, reader);
    match opts.format {
        // This thread checks; the others decode.
        Format::Jsonl if opts.threads > 1 => parallel::jsonl(reader, opts.limits, opts.threads - 1, &mut each)?,
        Format::Jsonl => input::jsonl(reader, opts.limits, &mut each)?,
        Format::Json => input::json_array(reader, opts.limits, &mut each)?,
        Format::Csv => input::csv(reader, compiled.top_level_types(), &opts.null_tokens, opts.limits, &mut each)?,
        Format::Avro => avro_file::read(reader, &compiled, &mut each)?,
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(batch.finish(opts.now_ms))
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    match size {
        Some(n) => {
            let b = ProgressBar::new(n);
            if let Ok(style) = ProgressStyle::with_template("{spinner} checking [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})") {
                b.set_style(style.progress_chars("=> "));
            }
            b
        }
        None => ProgressBar::new_spinner(),
    }
}
