//! Payload → record, per binding format: JSON, or Avro in the Confluent wire format (writer
//! schemas fetched by id and cached, see [`super::avro`]). Every refusal is a value that the
//! router quarantines with its reason; none stops the loop.

use super::avro::{AvroSource, FetchError, SchemaCache};
use super::binding::BindingRuntime;
use super::metrics as m;
use super::ServeError;
use crate::config::{GateConfig, PayloadFormat};
use contracts::avro::DRIFT_RULE;
use contracts::decode::{decode_json_into, DecodeLimits};
use contracts::{CompiledContract, Observer, Violation};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

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

    pub(crate) fn fetch(e: &FetchError) -> Self {
        let kind = match e {
            FetchError::NotFound { .. } => DecodeFailure::UnknownSchema,
            FetchError::Unreachable { .. } => DecodeFailure::RegistryUnavailable,
            FetchError::Unusable { .. } => DecodeFailure::UnusableSchema,
        };
        Self::decode(kind, e)
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

/// A decoded record, or why there is none.
pub type Decoded = Result<Value, Rejected>;

/// Decoding for every binding of the loop.
#[derive(Debug)]
pub struct Decoder {
    limits: DecodeLimits,
    /// Avro state by binding name; JSON bindings have none.
    avro: HashMap<String, AvroSource>,
    /// The last record, handed back by [`Decoder::recycle`]: the next JSON record is parsed
    /// into it, reusing its keys, nodes and string buffers (records of a topic share a shape).
    spare: Mutex<Value>,
}

impl Decoder {
    /// JSON only: no registry.
    #[must_use]
    pub fn json(limits: DecodeLimits) -> Self {
        Self { limits, avro: HashMap::new(), spare: Mutex::new(Value::Null) }
    }

    /// The decoders of `cfg`'s bindings; Avro bindings share one schema cache.
    ///
    /// # Errors
    /// [`ServeError::Config`] when the registry settings cannot be used (a credential variable
    /// unset, a client that cannot be built).
    pub fn new(cfg: &GateConfig) -> Result<Self, ServeError> {
        let mut d = Self::json(DecodeLimits { max_record_bytes: cfg.max_record_bytes });
        let avro: Vec<_> = cfg.bindings.iter().filter(|b| b.format == PayloadFormat::Avro).collect();
        if avro.is_empty() {
            return Ok(d);
        }
        let Some(sr) = &cfg.schema_registry else {
            return Err(ServeError::Config(crate::config::ConfigError::Invalid { field: "schema_registry.url".into(), message: "Avro bindings need a schema registry".into() }));
        };
        let cache = Arc::new(SchemaCache::new(sr)?);
        for b in avro {
            d.avro.insert(b.name.clone(), AvroSource::new(Arc::clone(&cache), b.allowed_schema_ids.clone()));
        }
        Ok(d)
    }

    /// Decodes one payload for binding `b`; awaits a schema fetch when an Avro record names a
    /// schema id not cached yet (bounded by the registry timeout).
    pub async fn decode(&self, b: &BindingRuntime, payload: &[u8]) -> Decoded {
        self.decode_for(&b.cfg.name, || b.contract(), payload).await
    }

    /// [`Decoder::decode`] for binding `name` judged by `contract`; `replay` uses it without a
    /// running binding.
    pub async fn decode_for(&self, name: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8]) -> Decoded {
        let out = if payload.len() > self.limits.max_record_bytes {
            Err(Rejected::decode(DecodeFailure::TooLarge, format_args!("record is {} bytes, over the {}-byte limit", payload.len(), self.limits.max_record_bytes)))
        } else {
            match self.avro.get(name) {
                None => {
                    let mut v = std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner));
                    match decode_json_into(payload, self.limits, &mut v) {
                        Ok(()) => Ok(v),
                        Err(e) => Err(Rejected::decode(DecodeFailure::Json, e)),
                    }
                }
                Some(a) => a.decode(name, contract, payload).await,
            }
        };
        if let Err(Rejected::Decode { kind, .. }) = &out {
            m::decode_error(name, kind.as_str());
        }
        out
    }

    /// Hands a decoded record back once it was routed, for the next record to be parsed into.
    pub fn recycle(&self, decoded: Decoded) {
        if let Ok(v) = decoded {
            *self.spare.lock().unwrap_or_else(PoisonError::into_inner) = v;
        }
    }
}
