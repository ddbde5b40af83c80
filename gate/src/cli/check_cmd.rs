//! `check`: options from the flags, the batch run, the report where `--output` says.

use super::output::{self, OutputFormat};
use super::{format_for, CheckArgs};
use crate::batch::{self, junit, report, CheckOptions};
use anyhow::Context as _;
use contracts::batch::BatchReport;
use std::process::ExitCode;

/// The batch report in `format`; `schema_rules` are the record checks JUnit lists
/// ([`contracts::check::schema_rule_ids`]; unused by the other formats).
///
/// # Errors
/// A serializer's message.
pub fn render(r: &BatchReport, schema_rules: &[String], format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(report::table(r)),
        OutputFormat::Json => output::json(r),
        OutputFormat::Junit => output::junit(&junit::report(r, schema_rules)),
    }
}

/// Runs `check`. Exit 0: the contract holds; 1: violated; errors are exit 2 (the caller's).
///
/// # Errors
/// A format `check` does not write, an unusable contract or input, an unwritable report.
pub fn main(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let sink = a.output.resolve(&output::CHECK, a.report.map(|f| ("--report", f)))?;
    let now_ms = match &a.now {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s).with_context(|| format!("--now {s:?} is not an RFC 3339 time"))?.timestamp_millis(),
        None => chrono::Utc::now().timestamp_millis(),
    };
    let opts = CheckOptions {
        format: format_for(a.format, &a.input),
        contract: a.contract,
        object: a.object,
        input: a.input,
        null_tokens: crate::batch::input::null_tokens(&a.null_tokens),
        limits: contracts::decode::DecodeLimits { max_record_bytes: a.max_record_bytes },
        now_ms,
        progress: true,
        threads: a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)).max(1),
    };
    let r = batch::run(&opts)?;
    // The schema's record checks are listed only for JUnit; compiling again costs milliseconds.
    let schema_rules = match sink.format {
        OutputFormat::Junit => contracts::check::schema_rule_ids(batch::load_contract(&opts.contract, opts.object.as_deref())?.json_schema()),
        _ => Vec::new(),
    };
    sink.write(|f| render(&r, &schema_rules, f))?;
    Ok(if r.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::golden;
    use std::path::PathBuf;

    fn golden_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
    }

    /// The golden fixture checked at a fixed time on one thread: the same report every run.
    fn fixture_report() -> (BatchReport, Vec<String>) {
        let dir = golden_dir();
        let opts = CheckOptions {
            contract: dir.join("orders.odcs.yaml"),
            object: None,
            input: dir.join("orders.jsonl"),
            format: batch::input::Format::Jsonl,
            null_tokens: Vec::new(),
            limits: contracts::decode::DecodeLimits::default(),
            now_ms: chrono::DateTime::parse_from_rfc3339("2024-05-01T10:10:00Z").map(|t| t.timestamp_millis()).unwrap_or_default(),
            progress: false,
            threads: 1,
        };
        let r = batch::run(&opts).expect("fixture runs");
        let rules = contracts::check::schema_rule_ids(batch::load_contract(&opts.contract, None).expect("fixture compiles").json_schema());
        (r, rules)
    }

    #[test]
    fn check_outputs_match_their_golden_files() {
        let (r, rules) = fixture_report();
        assert!(!r.passed);
        for (format, file) in [(OutputFormat::Table, "check.txt"), (OutputFormat::Json, "check.json"), (OutputFormat::Junit, "check.xml")] {
            golden::assert(file, &render(&r, &rules, format).expect("renders"));
        }
    }

    #[test]
    fn junit_lists_every_rule_with_failures_and_skips() {
        let (r, rules) = fixture_report();
        let xml = render(&r, &rules, OutputFormat::Junit).expect("renders");
        // (needle, why)
        let cases = [
            ("<testsuite name=\"orders 1.2.0 / orders\"", "one suite for the object"),
            ("testcase name=\"id.minimum\" classname=\"schema\"", "a schema check"),
            ("1 record breaks id.minimum: field id = 0, expected", "failure with field, value, expected, count"),
            ("testcase name=\"status_known\" classname=\"quality\"", "a quality rule"),
            ("testcase name=\"at.latency\" classname=\"sla\"", "an SLA rule"),
            ("classname=\"not enforced\"", "a rule not enforced"),
            ("<skipped message=\"not enforced:", "skipped with the reason"),
            ("1 record breaks $.decode", "decode errors"),
            ("&lt;&amp;&gt;", "values escaped"),
        ];
        for (needle, why) in cases {
            assert!(xml.contains(needle), "{why}: {needle} not in\n{xml}");
        }
    }
}
