//! Avro source records: writer schemas fetched from the Schema Registry by the id in each
//! payload (`schema_registry_converter`, async), parsed once, each with a datum reader kept for
//! every later record with that id; each schema judged once per contract version (conforms,
//! pinned) and projected onto the contract.

use super::rejected::{DecodeFailure, Decoded, Rejected};
use crate::serve::telemetry::{Emit, SchemaFetched};
use crate::serve::ServeError;
use crate::config::SchemaRegistrySection;
use contracts::avro::{self, GenericDatumReader, Projection, Schema};
use contracts::CompiledContract;
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::RawError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Why a writer schema could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The registry answered that the id does not exist.
    #[error("schema id {id} is not in the schema registry")]
    NotFound {
        /// Schema id.
        id: u32,
    },
    /// No answer, a timeout, a server error or refused credentials.
    #[error("schema registry unreachable while fetching schema id {id}: {reason}")]
    Unreachable {
        /// Schema id.
        id: u32,
        /// What happened.
        reason: String,
    },
    /// The registry's schema is not an Avro schema this gate can read.
    #[error("schema id {id} is not a usable Avro schema: {reason}")]
    Unusable {
        /// Schema id.
        id: u32,
        /// Parser's or reader's message.
        reason: String,
    },
}

impl FetchError {
    /// The record's refusal when its writer schema cannot be had.
    fn rejected(&self) -> Rejected {
        let kind = match self {
            Self::NotFound { .. } => DecodeFailure::UnknownSchema,
            Self::Unreachable { .. } => DecodeFailure::RegistryUnavailable,
            Self::Unusable { .. } => DecodeFailure::UnusableSchema,
        };
        Rejected::decode(kind, self)
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Unreachable { .. } => "unreachable",
            Self::Unusable { .. } => "unusable",
        }
    }
}

/// A writer schema ready to read records with.
pub struct Writer {
    /// Schema id.
    pub id: u32,
    /// The parsed schema (kept for the life of the process, like the registry client's own
    /// cache: the reader borrows it, and ids are few).
    pub schema: &'static Schema,
    /// The reader, with the schema's named types resolved once.
    pub reader: GenericDatumReader<'static>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("id", &self.id).finish_non_exhaustive()
    }
}

enum Entry {
    Ready(Arc<Writer>),
    /// A fetch failed: records with this id are refused with the same error until `until`.
    Failed { until: Instant, error: FetchError },
}

/// Writer schemas by id, shared by every Avro binding of the process.
pub struct SchemaCache {
    client: AvroDecoder,
    timeout: Duration,
    retry_after: Duration,
    entries: Mutex<HashMap<u32, Entry>>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCache").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn env(field: &str, var: &str) -> Result<String, ServeError> {
    std::env::var(var).map_err(|_| ServeError::Config(crate::config::ConfigError::Invalid { field: field.into(), message: format!("environment variable {var} is not set") }))
}

impl SchemaCache {
    /// A cache over the registry at `cfg.url`.
    ///
    /// # Errors
    /// [`ServeError::Config`] for an unset credential variable or a client that cannot be built.
    pub fn new(cfg: &SchemaRegistrySection) -> Result<Self, ServeError> {
        Ok(Self { client: AvroDecoder::new(settings(cfg)?), timeout: cfg.timeout, retry_after: cfg.retry_after, entries: Mutex::new(HashMap::new()) })
    }

    /// The writer schema `id`: from the cache, or fetched (at most `timeout`).
    ///
    /// # Errors
    /// [`FetchError`]; a failure is remembered for `retry_after`.
    pub async fn get(&self, id: u32) -> Result<Arc<Writer>, FetchError> {
        match lock(&self.entries).get(&id) {
            Some(Entry::Ready(w)) => return Ok(Arc::clone(w)),
            Some(Entry::Failed { until, error }) if Instant::now() < *until => return Err(error.clone()),
            _ => {}
        }
        let started = Instant::now();
        let res = match tokio::time::timeout(self.timeout, self.client.get_schema(id)).await {
            Err(_) => Err(FetchError::Unreachable { id, reason: format!("no answer within {:?}", self.timeout) }),
            Ok(Err(e)) => Err(classify(id, &e)),
            Ok(Ok(s)) => reader(id, &s.parsed).map(|w| (w, s.subject.clone(), s.version)),
        };
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut entries = lock(&self.entries);
        match res {
            Ok((w, subject, version)) => {
                SchemaFetched { outcome: "ok" }.emit();
                info!(schema_id = id, subject = subject.as_deref().unwrap_or(""), version = version.unwrap_or(0), ms, "writer schema fetched");
                let w = Arc::new(w);
                entries.insert(id, Entry::Ready(Arc::clone(&w)));
                Ok(w)
            }
            Err(error) => {
                SchemaFetched { outcome: error.outcome() }.emit();
                warn!(schema_id = id, error = %error, ms, retry_after = ?self.retry_after, "writer schema fetch failed; records with this id are quarantined until a fetch succeeds");
                // The client keeps its own copy of non-retriable errors (a 404) forever; this
                // cache decides when to ask again, so drop it.
                self.client.remove_errors_from_cache();
                entries.insert(id, Entry::Failed { until: Instant::now() + self.retry_after, error: error.clone() });
                Err(error)
            }
        }
    }
}

/// The registry client's settings for `cfg`: URL, timeout, credentials and TLS. Drills use
/// them too, to read and register writer schemas as producers do.
///
/// # Errors
/// [`ServeError::Config`] for an unset credential variable or a client that cannot be built.
pub fn settings(cfg: &SchemaRegistrySection) -> Result<SrSettings, ServeError> {
    let mut b = SrSettings::new_builder(cfg.url.trim_end_matches('/').to_string());
    b.set_timeout(cfg.timeout);
    if let (Some(user), Some(var)) = (&cfg.username, &cfg.password_env) {
        let password = env("schema_registry.password_env", var)?;
        b.set_basic_authorization(user, Some(&password));
    }
    if let Some(var) = &cfg.token_env {
        b.set_token_authorization(&env("schema_registry.token_env", var)?);
    }
    let invalid = |field: &str, message: String| ServeError::Config(crate::config::ConfigError::Invalid { field: field.into(), message });
    // The client is built here so that a custom CA and a client certificate can be added;
    // the builder's timeout is set again by the settings.
    let mut client = reqwest::Client::builder();
    if let Some(tls) = &cfg.tls {
        let pem = tls.load("schema_registry.tls").map_err(ServeError::Config)?;
        if let Some(ca) = &pem.ca {
            let certs = reqwest::Certificate::from_pem_bundle(ca).map_err(|e| invalid("schema_registry.tls.ca_file", e.to_string()))?;
            client = client.tls_certs_only(certs);
        }
        if let Some((cert, key)) = &pem.identity {
            let id = reqwest::Identity::from_pkcs8_pem(cert, key).map_err(|e| invalid("schema_registry.tls.key_file", format!("a PKCS#8 PEM key is needed: {e}")))?;
            client = client.identity(id);
        }
    }
    b.build_with(client).map_err(|e| invalid("schema_registry", e.error))
}

fn reader(id: u32, parsed: &Schema) -> Result<Writer, FetchError> {
    let schema: &'static Schema = Box::leak(Box::new(parsed.clone()));
    let reader = GenericDatumReader::builder(schema).build().map_err(|e| FetchError::Unusable { id, reason: e.to_string() })?;
    Ok(Writer { id, schema, reader })
}

/// Sorts a client error: a 404 (Confluent error codes 404xx, or a bare 404) is an unknown id;
/// a schema that did not parse is unusable; everything else means the registry could not be
/// asked properly and the record is not at fault.
fn classify(id: u32, e: &SRCError) -> FetchError {
    let raw = std::error::Error::source(e).and_then(|s| s.downcast_ref::<RawError>());
    let not_found = raw.is_some_and(|r| r.error_code / 100 == 404) || e.error.contains("status 404");
    if not_found {
        return FetchError::NotFound { id };
    }
    let reason = match &e.cause {
        Some(c) => format!("{}: {c}", e.error),
        None => e.error.clone(),
    };
    // The client's messages for a schema that arrived but is not Avro or does not parse.
    const UNUSABLE: [&str; 4] = ["is not supported", "is not correct", "failed to parse Avro schema", "cant be turned into a Schema"];
    if UNUSABLE.iter().any(|m| e.error.contains(m)) {
        return FetchError::Unusable { id, reason };
    }
    FetchError::Unreachable { id, reason }
}

/// How one binding judges one writer schema under one contract version.
struct Judged {
    contract: Arc<CompiledContract>,
    /// The projection, or why the schema is drift.
    verdict: Result<Arc<Projection>, String>,
}

/// Avro decoding for one binding.
pub struct AvroSource {
    cache: Arc<SchemaCache>,
    allowed: Option<Vec<u32>>,
    judged: Mutex<HashMap<u32, Judged>>,
}

impl std::fmt::Debug for AvroSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroSource").field("allowed", &self.allowed).finish_non_exhaustive()
    }
}

impl AvroSource {
    /// A binding's decoder over the shared cache; `allowed` pins schema ids.
    #[must_use]
    pub fn new(cache: Arc<SchemaCache>, allowed: Option<Vec<u32>>) -> Self {
        Self { cache, allowed, judged: Mutex::new(HashMap::new()) }
    }

    /// Wire header → writer schema → body → the record the contract checks.
    pub async fn decode(&self, binding: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8]) -> Decoded {
        let (id, body) = avro::parse_wire(payload).map_err(|e| {
            let kind = match e {
                avro::WireError::Short { .. } => DecodeFailure::Short,
                avro::WireError::Magic { .. } => DecodeFailure::MagicByte,
            };
            Rejected::decode(kind, e)
        })?;
        let writer = self.cache.get(id).await.map_err(|e| e.rejected())?;
        let projection = self.judge(binding, contract, &writer)?;
        let value = avro::decode_body(&writer.reader, id, body).map_err(|e| Rejected::decode(DecodeFailure::CorruptBody, e))?;
        Ok(projection.to_json(value))
    }

    /// The binding's judgement of a writer schema under the contract version running now,
    /// computed on the first record of each (schema id, version) and logged once.
    fn judge(&self, binding: &str, contract: impl FnOnce() -> Arc<CompiledContract>, w: &Writer) -> Result<Arc<Projection>, Rejected> {
        let contract = contract();
        let mut judged = lock(&self.judged);
        if let Some(j) = judged.get(&w.id).filter(|j| Arc::ptr_eq(&j.contract, &contract)) {
            return j.verdict.clone().map_err(|detail| Rejected::Drift { schema_id: w.id, detail });
        }
        let verdict = if self.allowed.as_ref().is_some_and(|ids| !ids.contains(&w.id)) {
            Err(format!("is not among bindings[{binding}].allowed_schema_ids {:?}", self.allowed.as_deref().unwrap_or_default()))
        } else {
            let mismatches = avro::conforms(&contract, w.schema);
            if mismatches.is_empty() {
                Ok(Arc::new(Projection::for_contract(w.schema, &contract)))
            } else {
                Err(format!("does not conform to {} {}: {}", contract.id, contract.version, mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
            }
        };
        match &verdict {
            Ok(_) => info!(binding, schema_id = w.id, contract = %contract.id, version = %contract.version, "writer schema accepted"),
            Err(detail) => warn!(binding, schema_id = w.id, contract = %contract.id, version = %contract.version, detail = %detail, "writer schema refused: its records are schema drift"),
        }
        judged.insert(w.id, Judged { contract, verdict: verdict.clone() });
        verdict.map_err(|detail| Rejected::Drift { schema_id: w.id, detail })
    }
}
