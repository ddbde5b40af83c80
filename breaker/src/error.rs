//! Errors of the breaker crate.

use std::time::Duration;

/// A configuration value is not usable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `field` (a dotted path inside the breaker or redis section) is invalid.
    #[error("breaker config: `{field}` {message}")]
    Invalid {
        /// Path of the field, e.g. `window.bucket`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// A store operation failed. The breaker turns these into the local fallback; they never
/// stop routing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis answered with an error or the connection failed.
    #[cfg(feature = "redis")]
    #[error("redis {op} on {prefix}: {source}")]
    Redis {
        /// Which operation (`flush`, `transition`, `load`, `connect`).
        op: &'static str,
        /// The store's key prefix.
        prefix: String,
        /// The client error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis did not answer in time.
    #[error("redis {op} on {prefix}: no answer within {after:?}")]
    Timeout {
        /// Which operation.
        op: &'static str,
        /// The store's key prefix.
        prefix: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// A window delta does not have the shape of the store's rules (a caller bug, or rules
    /// changed without changing the key prefix).
    #[error("window shape mismatch at {what}: expected {expected}, got {got}")]
    Shape {
        /// Which part differs.
        what: &'static str,
        /// Expected length or kind.
        expected: String,
        /// Actual length or kind.
        got: String,
    },
    /// Stored data could not be read back.
    #[error("corrupt stored {what} under {prefix}: {detail}")]
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// The store's key prefix.
        prefix: String,
        /// Decoder message.
        detail: String,
    },
    /// Other replicas kept changing the state while a command was being applied.
    #[error("breaker {prefix}: state kept changing under {op}; try again")]
    Contended {
        /// Which operation.
        op: &'static str,
        /// The breaker's name.
        prefix: String,
    },
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
