//! The one report flag of every verb that reports: `--output table|json|junit` and
//! `--output-file PATH`, the formats each verb writes, the old spellings kept as deprecated
//! aliases, and writing the report where it was asked for.
//!
//! The verbs render; this module only decides which rendering goes where. A report written to
//! a file in a machine format (json, junit) leaves the table on standard output, so a CI log
//! still shows what a person needs while the CI system reads the file.

use clap::ValueEnum;
use std::io::Write as _;
use std::path::PathBuf;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable table.
    Table,
    /// One JSON object.
    Json,
    /// JUnit XML: a test case per rule, hypothesis, problem or change.
    Junit,
}

impl OutputFormat {
    /// The flag value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Junit => "junit",
        }
    }
}

/// `--output` and `--output-file` where the default is `table`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Report format [default: table]. A command that cannot write a format says which it can.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Write the report to this file instead of standard output (a json or junit report written
    /// to a file leaves the table on standard output, for the log).
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}

/// `--output` and `--output-file` of the verbs that printed JSON only before the flag existed
/// (`breaker`, `replay`): their default follows standard output, so scripts keep working.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ScriptOutputArgs {
    /// Report format [default: table when standard output is a terminal, json otherwise, as
    /// before this flag existed, so scripts reading the JSON keep working].
    #[arg(long, value_enum, value_name = "FORMAT", global = true)]
    pub output: Option<OutputFormat>,
    /// Write the report to this file instead of standard output (a json report written to a
    /// file leaves the table on standard output, for the log).
    #[arg(long, value_name = "PATH", global = true)]
    pub output_file: Option<PathBuf>,
}

/// A verb that reports: where it sits in the command tree (for the usage line of an error)
/// and the formats it writes.
#[derive(Debug, Clone, Copy)]
pub struct Verb {
    /// Subcommand names from the top (`["contracts", "show"]`), then a flag whose mode writes
    /// other formats (`["drill", "--list"]`): the error names the whole path, the usage line
    /// the subcommand.
    pub path: &'static [&'static str],
    /// The formats it writes; the first is its default.
    pub formats: &'static [OutputFormat],
}

use OutputFormat::{Json, Junit, Table};

/// `check`.
pub const CHECK: Verb = Verb { path: &["check"], formats: &[Table, Json, Junit] };
/// `drill`.
pub const DRILL: Verb = Verb { path: &["drill"], formats: &[Table, Json, Junit] };
/// `drill --list`.
pub const DRILL_LIST: Verb = Verb { path: &["drill", "--list"], formats: &[Table, Json] };
/// `contracts lint`.
pub const LINT: Verb = Verb { path: &["contracts", "lint"], formats: &[Table, Json, Junit] };
/// `contracts diff`.
pub const DIFF: Verb = Verb { path: &["contracts", "diff"], formats: &[Table, Json, Junit] };
/// `contracts push`.
pub const PUSH: Verb = Verb { path: &["contracts", "push"], formats: &[Table, Json] };
/// `contracts list`.
pub const LIST: Verb = Verb { path: &["contracts", "list"], formats: &[Table, Json] };
/// `contracts show`.
pub const SHOW: Verb = Verb { path: &["contracts", "show"], formats: &[Table, Json] };
/// `contracts deprecate`.
pub const DEPRECATE: Verb = Verb { path: &["contracts", "deprecate"], formats: &[Table, Json] };
/// `contracts promote`.
pub const PROMOTE: Verb = Verb { path: &["contracts", "promote"], formats: &[Table, Json] };
/// `contracts shadow`.
pub const SHADOWS: Verb = Verb { path: &["contracts", "shadow"], formats: &[Table, Json] };
/// `demo`.
pub const DEMO: Verb = Verb { path: &["demo"], formats: &[Table, Json] };
/// `breaker`.
pub const BREAKER: Verb = Verb { path: &["breaker"], formats: &[Table, Json] };
/// `replay`.
pub const REPLAY: Verb = Verb { path: &["replay"], formats: &[Table, Json] };

/// Failures of writing a report (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The format was refused; the clap error carries the usage line.
    #[error("{0}")]
    Usage(#[from] Box<clap::Error>),
    /// The renderer failed (JUnit serialization).
    #[error("rendering the {format} report: {reason}")]
    Render {
        /// Format asked for.
        format: &'static str,
        /// Why.
        reason: String,
    },
    /// The file could not be written.
    #[error("writing the report to {path}")]
    File {
        /// `--output-file`.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Standard output could not be written (other than a reader that went away).
    #[error("writing to stdout")]
    Stdout(#[source] std::io::Error),
}

/// The resolved destination of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// Format to write.
    pub format: OutputFormat,
    /// File instead of standard output.
    pub file: Option<PathBuf>,
}

impl OutputArgs {
    /// The format and destination for `verb`, with an old flag's value (`--report`) taken when
    /// `--output` is absent (clap refuses both at once).
    ///
    /// # Errors
    /// [`OutputError::Usage`] when `verb` does not write the format.
    pub fn resolve(&self, verb: &Verb, deprecated: Option<(&str, OutputFormat)>) -> Result<Sink, OutputError> {
        let asked = self.output.or_else(|| deprecated.map(|(flag, f)| note_deprecated(flag, f)));
        check(verb, asked.unwrap_or(verb.formats[0]), self.output_file.clone())
    }
}

impl ScriptOutputArgs {
    /// The format and destination for `verb`; without `--output`, table when standard output
    /// is a terminal and json otherwise.
    ///
    /// # Errors
    /// [`OutputError::Usage`] when `verb` does not write the format.
    pub fn resolve(&self, verb: &Verb) -> Result<Sink, OutputError> {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        check(verb, self.output.unwrap_or(if terminal { Table } else { Json }), self.output_file.clone())
    }
}

/// Prints the one-line deprecation note of an old flag and returns its value.
fn note_deprecated(flag: &str, f: OutputFormat) -> OutputFormat {
    eprintln!("contract-gate: {flag} is deprecated; use --output {}", f.as_str());
    f
}

/// The demo's old `--json`: `Some(Json)` with the deprecation note when it was given.
#[must_use]
pub fn deprecated_json(given: bool) -> Option<(&'static str, OutputFormat)> {
    given.then_some(("--json", Json))
}

fn check(verb: &Verb, format: OutputFormat, file: Option<PathBuf>) -> Result<Sink, OutputError> {
    if verb.formats.contains(&format) {
        return Ok(Sink { format, file });
    }
    Err(OutputError::Usage(Box::new(usage_error(verb, format))))
}

/// A clap usage error (exit 2) for a format `verb` does not write, naming those it does.
#[must_use]
pub fn usage_error(verb: &Verb, format: OutputFormat) -> clap::Error {
    let supported: Vec<&str> = verb.formats.iter().map(|f| f.as_str()).collect();
    let msg = format!("`{}` does not write {} output; use --output {}", verb.path.join(" "), format.as_str(), supported.join(" or --output "));
    let mut cmd = <super::Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut at = cmd;
    for name in verb.path {
        // The paths are this module's constants, each a subcommand that exists; built, each
        // carries its full name for the usage line.
        match at.find_subcommand(name).cloned() {
            Some(sub) => at = sub,
            None => break,
        }
    }
    at.error(clap::error::ErrorKind::InvalidValue, msg)
}

impl Sink {
    /// Writes the report: `render(format)` to the file or standard output, and with a file
    /// and a machine format, `render(Table)` on standard output too (when the verb has one).
    ///
    /// # Errors
    /// A renderer failure, or the file or standard output unwritable.
    pub fn write<F>(&self, render: F) -> Result<(), OutputError>
    where
        F: Fn(OutputFormat) -> Result<String, String>,
    {
        let text = render(self.format).map_err(|reason| OutputError::Render { format: self.format.as_str(), reason })?;
        match &self.file {
            None => stdout(&text),
            Some(path) => {
                std::fs::write(path, text.as_bytes()).map_err(|source| OutputError::File { path: path.clone(), source })?;
                if self.format != Table {
                    let table = render(Table).map_err(|reason| OutputError::Render { format: "table", reason })?;
                    stdout(&table)?;
                }
                Ok(())
            }
        }
    }
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
///
/// # Errors
/// [`OutputError::Stdout`] for any other failure.
pub fn stdout(text: &str) -> Result<(), OutputError> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(OutputError::Stdout(e)),
        _ => Ok(()),
    }
}

/// Pretty JSON with a trailing newline, as every verb prints it.
///
/// # Errors
/// The serializer's message (a map with non-string keys; none of the reports have one).
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, String> {
    serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(|e| e.to_string())
}

/// A JUnit report as XML.
///
/// # Errors
/// The serializer's message.
pub fn junit(report: &quick_junit::Report) -> Result<String, String> {
    report.to_string().map_err(|e| e.to_string())
}

/// Golden files of the report formats, under `gate/tests/golden/`.
#[cfg(test)]
pub(crate) mod golden {
    use std::path::PathBuf;

    /// Compares `actual` with the golden file `name`; `UPDATE_GOLDEN=1` (re)writes it instead.
    pub(crate) fn assert(name: &str, actual: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert!(actual == want, "{} differs (UPDATE_GOLDEN=1 rewrites it); got:\n{actual}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser as _;

    #[test]
    fn each_verb_takes_its_formats_and_refuses_the_others_naming_them() {
        // (verb, format, accepted)
        let cases = [
            (CHECK, Junit, true),
            (DRILL, Junit, true),
            (LINT, Junit, true),
            (DIFF, Junit, true),
            (SHOW, Json, true),
            (SHOW, Junit, false),
            (PUSH, Junit, false),
            (LIST, Junit, false),
            (DEPRECATE, Junit, false),
            (PROMOTE, Junit, false),
            (SHADOWS, Junit, false),
            (DEMO, Junit, false),
            (DRILL_LIST, Junit, false),
            (BREAKER, Junit, false),
            (REPLAY, Junit, false),
        ];
        for (verb, format, accepted) in cases {
            let args = OutputArgs { output: Some(format), output_file: None };
            match args.resolve(&verb, None) {
                Ok(_) => assert!(accepted, "{:?} took {format:?}", verb.path),
                Err(OutputError::Usage(e)) => {
                    assert!(!accepted, "{:?} refused {format:?}", verb.path);
                    assert_eq!(e.exit_code(), 2);
                    let text = e.to_string();
                    assert!(text.contains("--output table or --output json"), "{text}");
                    assert!(text.contains(&format!("`{}`", verb.path.join(" "))), "{text}");
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn the_default_is_the_first_format_and_an_old_flag_counts_when_output_is_absent() {
        let none = OutputArgs::default();
        assert_eq!(none.resolve(&CHECK, None).map(|s| s.format).ok(), Some(Table));
        assert_eq!(none.resolve(&CHECK, Some(("--report", Json))).map(|s| s.format).ok(), Some(Json));
        let given = OutputArgs { output: Some(Junit), output_file: Some("r.xml".into()) };
        let sink = given.resolve(&CHECK, None).ok();
        assert_eq!(sink, Some(Sink { format: Junit, file: Some("r.xml".into()) }));
    }

    #[test]
    fn old_and_new_spellings_parse_and_cannot_be_mixed() {
        let ok = ["check --contract c --input i --report json", "check --contract c --input i --output junit --output-file r.xml", "demo --json", "demo --output json"];
        for args in ok {
            assert!(Cli::try_parse_from(std::iter::once("contract-gate").chain(args.split_whitespace())).is_ok(), "{args}");
        }
        let bad = ["check --contract c --input i --report json --output json", "demo --json --output table", "check --contract c --input i --output xml"];
        for args in bad {
            assert!(Cli::try_parse_from(std::iter::once("contract-gate").chain(args.split_whitespace())).is_err(), "{args}");
        }
    }

    #[test]
    fn a_file_gets_the_format_and_stdout_keeps_nothing_but_the_table() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("r.json");
        let sink = Sink { format: Json, file: Some(path.clone()) };
        sink.write(|f| Ok(format!("{}\n", f.as_str()))).expect("write");
        assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("json\n"));
        let missing = Sink { format: Junit, file: Some(dir.path().join("no/such/dir/r.xml")) };
        let e = missing.write(|f| Ok(f.as_str().to_string())).expect_err("no directory");
        assert!(e.to_string().contains("no/such/dir/r.xml"), "{e}");
    }
}
