//! Writer schemas fetched from the Schema Registry by the id in each payload, parsed once and
//! kept for every later record with that id, shared by every binding of the process. Avro
//! schemas come through `schema_registry_converter`'s Avro decoder (which also resolves Avro
//! references); JSON Schema and Protobuf schemas through its raw fetch by id, parsed here. A
//! failed fetch is remembered for `retry_after`, so a registry outage costs one request per id
//! and interval, not one per record.

use super::rejected::{DecodeFailure, Rejected};
use crate::config::SchemaRegistrySection;
use crate::serve::telemetry::{Emit, SchemaFetched};
use crate::serve::ServeError;
use contracts::avro::{GenericDatumReader, Schema};
use contracts::protobuf::ProtoSchema;
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::{get_schema_by_id, SrSettings};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{RawError, SchemaType};
use std::collections::HashMap;
use std::future::Future;
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
    /// The registry's schema is not a schema of the binding's format this gate can read.
    #[error("schema id {id} is not a usable {format} schema: {reason}")]
    Unusable {
        /// Schema id.
        id: u32,
        /// The format the binding reads (`Avro`, `JSON Schema`, `Protobuf`).
        format: &'static str,
        /// Parser's or reader's message.
        reason: String,
    },
}

impl FetchError {
    /// The record's refusal when its writer schema cannot be had.
    pub(super) fn rejected(&self) -> Rejected {
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

/// An Avro writer schema ready to read records with.
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

/// A JSON Schema or Protobuf writer schema.
#[derive(Debug)]
pub enum RawWriter {
    /// A JSON Schema document.
    Json(serde_json::Value),
    /// A compiled `.proto` file.
    Protobuf(ProtoSchema),
}

/// The registry's schema types this gate reads besides Avro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFormat {
    /// `schemaType: JSON`.
    Json,
    /// `schemaType: PROTOBUF`.
    Protobuf,
}

impl RawFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON Schema",
            Self::Protobuf => "Protobuf",
        }
    }
}

enum Entry<W> {
    Ready(Arc<W>),
    /// A fetch failed: records with this id are refused with the same error until `until`.
    Failed { until: Instant, error: FetchError },
}

/// Parsed schemas of one kind by id, with failures remembered.
struct ById<W> {
    entries: Mutex<HashMap<u32, Entry<W>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W> ById<W> {
    fn new() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }

    /// The entry for `id`, or the result of `fetch` (bounded by `timeout`), remembered.
    async fn get<F>(&self, id: u32, timeout: Duration, retry_after: Duration, fetch: F) -> Result<Arc<W>, FetchError>
    where
        F: Future<Output = Result<(W, Option<String>, Option<u32>), FetchError>>,
    {
        match lock(&self.entries).get(&id) {
            Some(Entry::Ready(w)) => return Ok(Arc::clone(w)),
            Some(Entry::Failed { until, error }) if Instant::now() < *until => return Err(error.clone()),
            _ => {}
        }
        let started = Instant::now();
        let res = match tokio::time::timeout(timeout, fetch).await {
            Err(_) => Err(FetchError::Unreachable { id, reason: format!("no answer within {timeout:?}") }),
            Ok(r) => r,
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
                warn!(schema_id = id, error = %error, ms, ?retry_after, "writer schema fetch failed; records with this id are quarantined until a fetch succeeds");
                entries.insert(id, Entry::Failed { until: Instant::now() + retry_after, error: error.clone() });
                Err(error)
            }
        }
    }
}

/// Writer schemas by id, shared by every registry-backed binding of the process.
pub struct SchemaCache {
    client: AvroDecoder,
    settings: SrSettings,
    timeout: Duration,
    retry_after: Duration,
    avro: ById<Writer>,
    raw: ById<RawWriter>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCache").field("timeout", &self.timeout).finish_non_exhaustive()
    }
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
        let settings = settings(cfg)?;
        Ok(Self { client: AvroDecoder::new(settings.clone()), settings, timeout: cfg.timeout, retry_after: cfg.retry_after, avro: ById::new(), raw: ById::new() })
    }

    /// The Avro writer schema `id`: from the cache, or fetched (at most `timeout`).
    ///
    /// # Errors
    /// [`FetchError`]; a failure is remembered for `retry_after`.
    pub async fn get(&self, id: u32) -> Result<Arc<Writer>, FetchError> {
        let fetch = async {
            let res = match self.client.get_schema(id).await {
                Err(e) => Err(classify(id, "Avro", &e)),
                Ok(s) => reader(id, &s.parsed).map(|w| (w, s.subject.clone(), s.version)),
            };
            // The client keeps its own copy of non-retriable errors (a 404) forever; this
            // cache decides when to ask again, so drop it.
            if res.is_err() {
                self.client.remove_errors_from_cache();
            }
            res
        };
        self.avro.get(id, self.timeout, self.retry_after, fetch).await
    }

    /// The JSON Schema or Protobuf writer schema `id`, which must be of `format`.
    ///
    /// # Errors
    /// [`FetchError`]; a failure is remembered for `retry_after`.
    pub async fn get_raw(&self, id: u32, format: RawFormat) -> Result<Arc<RawWriter>, FetchError> {
        let fetch = async {
            let s = get_schema_by_id(id, &self.settings).await.map_err(|e| classify(id, format.name(), &e))?;
            let unusable = |reason: String| FetchError::Unusable { id, format: format.name(), reason };
            let w = match (format, &s.schema_type) {
                _ if !s.references.is_empty() => return Err(unusable("it has schema references, which this gate does not resolve".into())),
                (RawFormat::Json, SchemaType::Json) => RawWriter::Json(serde_json::from_str(&s.schema).map_err(|e| unusable(format!("not JSON: {e}")))?),
                (RawFormat::Protobuf, SchemaType::Protobuf) => RawWriter::Protobuf(ProtoSchema::parse(&s.schema).map_err(|e| unusable(e.to_string()))?),
                (_, other) => return Err(unusable(format!("the registry holds it as {}", type_name(other)))),
            };
            Ok((w, s.subject, s.version))
        };
        self.raw.get(id, self.timeout, self.retry_after, fetch).await
    }
}

fn type_name(t: &SchemaType) -> String {
    match t {
        SchemaType::Avro => "AVRO".into(),
        SchemaType::Json => "JSON".into(),
        SchemaType::Protobuf => "PROTOBUF".into(),
        SchemaType::Other(o) => o.clone(),
        _ => "an unknown type".into(),
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
    let reader = GenericDatumReader::builder(schema).build().map_err(|e| FetchError::Unusable { id, format: "Avro", reason: e.to_string() })?;
    Ok(Writer { id, schema, reader })
}

/// Sorts a client error: a 404 (Confluent error codes 404xx, or a bare 404) is an unknown id;
/// a schema that did not parse is unusable; everything else means the registry could not be
/// asked properly and the record is not at fault.
fn classify(id: u32, format: &'static str, e: &SRCError) -> FetchError {
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
        return FetchError::Unusable { id, format, reason };
    }
    FetchError::Unreachable { id, reason }
}
