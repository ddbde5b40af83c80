//! The registry side of a wire-format drill: the baseline's writer schema (the one registered
//! under the source topic's value subject, or a file registered there), and a subject of its
//! own for each drifted schema.
//!
//! Drifted schemas never go under the topic's subject: a drifted schema that the subject's
//! compatibility accepted would become its latest version, the one the next producer (and the
//! next drill) picks up; one the compatibility (or, on the gate's own registry, the bound
//! contract) refuses could not be registered there at all. A subject per drifted schema
//! (`<topic>-value-drill-<fingerprint>`: Avro's Rabin fingerprint, a SHA-256 prefix of the
//! registered text for JSON Schema and Protobuf) holds it as its first and only version, which
//! no compatibility level checks, and leaves every registry setting alone. The gate reads
//! writer schemas by id, whatever their subject, so it meets the drift as it would from a
//! producer that registered it.

use super::{Base, Doc, Format, Writer};
use crate::config::{Binding, GateConfig};
use contracts::CompiledContract;
use schema_registry_converter::async_impl::schema_registry::{get_schema_by_subject, post_schema, SrSettings};
use schema_registry_converter::schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema};
use std::path::Path;
use std::sync::Arc;

/// The binding's registry, as the drill's producer uses it.
pub struct Registry {
    settings: SrSettings,
    topic: String,
    format: Format,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("topic", &self.topic).field("format", &self.format).finish_non_exhaustive()
    }
}

impl Registry {
    /// The registry of `cfg` (`schema_registry`) for binding `b`, which reads `format`.
    ///
    /// # Errors
    /// No registry configured, or settings that cannot be used.
    pub fn new(cfg: &GateConfig, b: &Binding, format: Format) -> Result<Self, String> {
        let sr = cfg.schema_registry.as_ref().ok_or_else(|| format!("binding {:?} reads {}: set schema_registry.url", b.name, format.name()))?;
        let settings = crate::serve::decode::avro::settings(sr).map_err(|e| e.to_string())?;
        Ok(Self { settings, topic: b.source.clone(), format })
    }

    fn schema_type(&self) -> SchemaType {
        match self.format {
            Format::Avro => SchemaType::Avro,
            Format::JsonSchema => SchemaType::Json,
            Format::Protobuf => SchemaType::Protobuf,
        }
    }

    /// The subject producers of the source topic register under (topic name strategy).
    #[must_use]
    pub fn subject(&self) -> String {
        format!("{}-value", self.topic)
    }

    /// The baseline's writer schema: `file` registered under the topic's subject (an existing
    /// identical schema keeps its id), or else the subject's latest version.
    ///
    /// # Errors
    /// An unreadable file, a refused registration, no schema under the subject, or one the
    /// gate would refuse.
    pub async fn base(&self, file: Option<&Path>, contract: Arc<CompiledContract>, allowed: Option<Vec<u32>>) -> Result<Base, String> {
        let subject = self.subject();
        let registered = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read writer schema {}: {e}", path.display()))?;
                post_schema(&self.settings, subject.clone(), SuppliedSchema::new(None, self.schema_type(), text)).await.map_err(|e| format!("registering {} under {subject}: {e}", path.display()))?
            }
            None => get_schema_by_subject(&self.settings, &SubjectNameStrategy::TopicNameStrategy(self.topic.clone(), false))
                .await
                .map_err(|e| format!("no writer schema for the baseline: the latest version of subject {subject} could not be read ({e}); register the producers' schema there or give one with --schema FILE"))?,
        };
        // A subject of another type would have every record read by the wrong reader.
        if registered.schema_type != self.schema_type() {
            return Err(format!("schema id {} under {subject} is {:?}, but the binding reads {}", registered.id, registered.schema_type, self.format.name()));
        }
        Base::new(self.format, registered.id, &registered.schema, contract, allowed)
    }

    /// Registers a drifted schema under a subject of its own; the same schema again keeps its
    /// id.
    ///
    /// # Errors
    /// A schema that does not parse or a refused registration.
    pub async fn register_drift(&self, schema: &Doc) -> Result<Writer, String> {
        // Avro keeps the Rabin fingerprint its subjects were named by before.
        let fingerprint = match schema {
            Doc::Avro(v) => contracts::avro::Schema::parse(v).map_err(|e| format!("the drifted writer schema does not parse: {e}"))?.fingerprint::<apache_avro::rabin::Rabin>().to_string(),
            _ => schema.fingerprint(),
        };
        let subject = format!("{}-drill-{fingerprint}", self.subject());
        let r = post_schema(&self.settings, subject.clone(), SuppliedSchema::new(None, self.schema_type(), schema.text())).await.map_err(|e| format!("registering the drifted writer schema under {subject}: {e}"))?;
        schema.writer(r.id)
    }
}
