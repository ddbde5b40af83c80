//! The outcome of decoding one payload: a record, or why there is none (a value the router
//! quarantines with its reason and the window counts).

use contracts::avro::DRIFT_RULE;
use contracts::{CompiledContract, Observer, Violation};
use serde_json::Value;

/// Why a payload did not become a record to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The payload cannot be read: a decode error for the breaker (rule `$.decode`).
    Decode {
        /// Closed label of the cause.
        kind: DecodeFailure,
        /// Words for the reason header.
        reason: String,
    },
    /// Readable, but written with a writer schema the binding does not accept (rule
    /// `$.schema`): a record failure, not a decode error.
    Drift {
        /// Writer schema id.
        schema_id: u32,
        /// Why the schema is refused.
        detail: String,
    },
}

/// Causes of decode errors (the `reason` label of `contract_gate_decode_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeFailure {
    /// Not JSON (or not UTF-8, or empty).
    Json,
    /// Over `max_record_bytes`.
    TooLarge,
    /// Shorter than the 5-byte wire-format header.
    Short,
    /// First byte not 0.
    MagicByte,
    /// The registry does not know the schema id.
    UnknownSchema,
    /// The registry could not be asked (down, timeout, 5xx, refused credentials).
    RegistryUnavailable,
    /// The registry's schema is not a usable Avro schema.
    UnusableSchema,
    /// The body does not decode with its writer schema (truncated, corrupt, trailing bytes).
    CorruptBody,
}

impl DecodeFailure {
    /// Label value.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::TooLarge => "too_large",
            Self::Short => "short",
            Self::MagicByte => "magic_byte",
            Self::UnknownSchema => "unknown_schema",
            Self::RegistryUnavailable => "registry_unavailable",
            Self::UnusableSchema => "unusable_schema",
            Self::CorruptBody => "corrupt_body",
        }
    }
}

impl Rejected {
    pub(crate) fn decode(kind: DecodeFailure, reason: impl std::fmt::Display) -> Self {
        Self::Decode { kind, reason: reason.to_string() }
    }

    /// The rule id.
    #[must_use]
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Decode { .. } => "$.decode",
            Self::Drift { .. } => "$.schema",
        }
    }

    /// The violations header value.
    #[must_use]
    pub fn rule_ids(&self) -> &'static str {
        match self {
            Self::Decode { .. } => "[\"$.decode\"]",
            Self::Drift { .. } => "[\"$.schema\"]",
        }
    }

    /// The reason header value.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::Decode { reason, .. } => format!("$.decode: {reason}"),
            Self::Drift { schema_id, detail } => format!("{DRIFT_RULE}: writer schema id {schema_id} {detail}"),
        }
    }

    /// Counts the refused record into the window (a decode error, or a record failure for
    /// drift) and returns the violation to publish, if it is one.
    pub fn account(&self, contract: &CompiledContract, obs: &mut Observer) -> Option<Violation> {
        match self {
            Self::Decode { .. } => {
                contract.decode_error(obs);
                None
            }
            Self::Drift { schema_id, detail } => {
                contract.record_refused(obs);
                Some(Violation { rule: DRIFT_RULE.into(), field: String::new(), value: format!("schema id {schema_id}"), expected: format!("a writer schema the binding accepts ({detail})"), blocking: true })
            }
        }
    }
}

impl From<&Rejected> for crate::serve::key::Unread {
    fn from(r: &Rejected) -> Self {
        match r {
            Rejected::Decode { reason, .. } => Self::Decode(reason.clone()),
            Rejected::Drift { schema_id, detail } => Self::Drift { schema_id: *schema_id, detail: detail.clone() },
        }
    }
}

/// A decoded record, or why there is none.
pub type Decoded = Result<Value, Rejected>;
