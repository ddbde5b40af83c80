//! Errors and lint findings of the contracts crate.

use serde::Serialize;
use std::fmt;

/// How serious a lint finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The contract cannot be used.
    Error,
    /// Usable, but probably not what the author meant.
    Warning,
    /// A rule the gate reads but cannot enforce (sql, custom, text, some SLA properties).
    NotEnforced,
}

/// One finding about a contract, located by its path (`schema[0].properties[3].quality[0]`)
/// and, where the YAML parser reported it, its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Severity.
    pub severity: Severity,
    /// Path into the document, in the same notation as the ODCS keys.
    pub path: String,
    /// 1-based line in the source, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong and, where it helps, what is expected.
    pub message: String,
}

impl Problem {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, path: path.into(), line: None, message: message.into() }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, path: path.into(), line: None, message: message.into() }
    }

    /// A rule the gate does not enforce.
    pub fn not_enforced(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::NotEnforced,
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a contract could not be loaded or compiled.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The text is not YAML/JSON, or does not fit the ODCS model.
    #[error("{problem}")]
    Parse {
        /// The first problem found.
        problem: Problem,
    },
    /// The document parsed but breaks rules the gate needs to hold.
    #[error("{} (and {} more)", problems.first().map_or_else(String::new, ToString::to_string), problems.len().saturating_sub(1))]
    Invalid {
        /// Every error found, in document order.
        problems: Vec<Problem>,
    },
}

impl ContractError {
    /// All error-level problems.
    #[must_use]
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Parse { problem } => vec![problem.clone()],
            Self::Invalid { problems } => problems.clone(),
        }
    }
}
