//! The registry log's record formats, keys and values, and what applying one did. The log
//! holds contract records ([`Record`]: versions and status changes) and Schema Registry
//! records ([`SchemaRecord`]: schema versions and compatibility levels) on one compacted
//! topic; the key says which kind a record is ([`is_schema_key`]), and every key is chosen so
//! that compaction keeps what a replay needs (see each `key`).

use crate::avro_rules::Level;
use crate::schema_type::SchemaType;
use serde::{Deserialize, Serialize};

/// Lifecycle of a registered version. Deprecation never removes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable; bindings may move to it.
    #[default]
    Active,
    /// Kept for history and for gates pinned to it; bindings do not move to it.
    Deprecated,
    /// A shadow version under evaluation: running gates check live records against it beside
    /// the version they route by, and route nothing by it. Only a shadow version has it
    /// (written by [`Record::ShadowVersion`]); a withdrawn shadow is `Deprecated`.
    Shadow,
}

impl Status {
    /// Name in JSON and tables.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Shadow => "shadow",
        }
    }
}

/// A registered version as the log holds it: the body of [`Record::Version`] and of
/// [`Record::ShadowVersion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRecord {
    /// Contract id.
    pub id: String,
    /// Semantic version.
    pub version: String,
    /// Live (non-shadow) versions of `id` the writer saw, plus one.
    pub seq: u64,
    /// Content digest of the parsed document.
    pub digest: String,
    /// The document exactly as pushed (YAML or JSON).
    pub document: String,
    /// RFC 3339 time of registration.
    pub registered_at: String,
}

/// One record of the registry log (the value; the key is [`Record::key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Record {
    /// A new version.
    Version(VersionRecord),
    /// A shadow version: registered to be evaluated beside the active version and never
    /// routed by. A record type of its own, not a status field on `Version`, because gates
    /// built before shadows existed read an unknown `type` as unreadable and skip it, while
    /// they would ignore an unknown field and activate the version. Promoting it writes a
    /// plain `Version` record with the same key, which compaction then keeps in its place.
    ShadowVersion(VersionRecord),
    /// A status change of an existing version.
    #[serde(rename_all = "camelCase")]
    Status {
        /// Contract id.
        id: String,
        /// Version.
        version: String,
        /// New status.
        status: Status,
        /// Why, as given by the caller.
        #[serde(default)]
        reason: Option<String>,
        /// RFC 3339 time of the change.
        at: String,
    },
}

impl Record {
    /// The log key: `version/<id>@<version>/<digest>` (unique per content, so compaction never
    /// replaces an accepted version; a shadow version's promotion shares its key) or
    /// `status/<id>@<version>` (latest status wins).
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Version(v) | Self::ShadowVersion(v) => format!("version/{}@{}/{}", v.id, v.version, v.digest),
            Self::Status { id, version, .. } => format!("status/{id}@{version}"),
        }
    }
}

/// One schema record of the registry log (the value; the key is [`SchemaRecord::key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SchemaRecord {
    /// A new version of a subject.
    #[serde(rename_all = "camelCase")]
    Schema {
        /// Subject.
        subject: String,
        /// The subject's version this writes (its version count, plus one, as the writer saw).
        version: u32,
        /// Global schema id the writer assigned.
        id: u32,
        /// The schema text as registered.
        schema: String,
        /// Its type. Absent for Avro, so Avro records keep the bytes they had before other
        /// types existed and those records read as Avro.
        #[serde(default, skip_serializing_if = "SchemaType::is_avro")]
        schema_type: SchemaType,
        /// Its identity ([`crate::schema_type::parse`]): the type is part of it for non-Avro
        /// types, so a replica that predates them still gives each schema its own id.
        canonical: String,
        /// Makes the key unique per write.
        nonce: String,
        /// RFC 3339 time of registration.
        registered_at: String,
    },
    /// A compatibility level, global (`subject` absent) or of one subject; `level` absent
    /// removes a subject's own level.
    #[serde(rename_all = "camelCase")]
    Compatibility {
        /// Subject, or global.
        #[serde(default)]
        subject: Option<String>,
        /// The level.
        #[serde(default)]
        level: Option<Level>,
        /// RFC 3339 time of the change.
        at: String,
    },
}

impl SchemaRecord {
    /// The log key.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Schema { subject, version, nonce, .. } => format!("schema/{subject}/{version}/{nonce}"),
            Self::Compatibility { subject: None, .. } => "srconfig".into(),
            Self::Compatibility { subject: Some(s), .. } => format!("srconfig/{s}"),
        }
    }
}

/// Whether a log key is a schema record's.
#[must_use]
pub fn is_schema_key(key: &str) -> bool {
    key.starts_with("schema/") || key == "srconfig" || key.starts_with("srconfig/")
}

/// What applying one log record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A version was added.
    Added {
        /// Id.
        id: String,
        /// Version.
        version: String,
    },
    /// A shadow version was added.
    Shadow {
        /// Id.
        id: String,
        /// Version.
        version: String,
    },
    /// A status changed.
    Status {
        /// Id.
        id: String,
        /// Version.
        version: String,
    },
    /// A schema version was added to a subject.
    Schema {
        /// Subject.
        subject: String,
        /// Version in the subject.
        version: u32,
        /// Global schema id.
        id: u32,
    },
    /// A compatibility level changed (global when `subject` is `None`).
    Compatibility {
        /// Subject.
        subject: Option<String>,
    },
    /// Nothing changed, and why (a lost race, a stale write, a tombstone, an unreadable record).
    Ignored(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_record_keeps_its_wire_format() {
        let body = VersionRecord { id: "orders".into(), version: "1.0.0".into(), seq: 1, digest: "ab".into(), document: "d".into(), registered_at: "t".into() };
        let json = serde_json::to_value(Record::Version(body.clone())).expect("json");
        assert_eq!(json, serde_json::json!({"type": "version", "id": "orders", "version": "1.0.0", "seq": 1, "digest": "ab", "document": "d", "registeredAt": "t"}));
        let shadow = serde_json::to_value(Record::ShadowVersion(body)).expect("json");
        assert_eq!(shadow["type"], "shadowVersion");
    }

    #[test]
    fn a_schema_record_names_its_type_unless_avro() {
        let record = |t| SchemaRecord::Schema { subject: "s".into(), version: 1, id: 1, schema: "x".into(), schema_type: t, canonical: "c".into(), nonce: "n".into(), registered_at: "t".into() };
        let avro = serde_json::json!({"type": "schema", "subject": "s", "version": 1, "id": 1, "schema": "x", "canonical": "c", "nonce": "n", "registeredAt": "t"});
        // (type, the field in JSON)
        let cases = [(SchemaType::Avro, None), (SchemaType::Json, Some("JSON")), (SchemaType::Protobuf, Some("PROTOBUF"))];
        for (t, field) in cases {
            let json = serde_json::to_value(record(t)).expect("json");
            assert_eq!(json.get("schemaType").and_then(serde_json::Value::as_str), field, "{t:?}");
            assert_eq!(serde_json::from_value::<SchemaRecord>(json).expect("read back"), record(t));
        }
        assert_eq!(serde_json::to_value(record(SchemaType::Avro)).expect("json"), avro, "Avro records keep their bytes");
        assert_eq!(serde_json::from_value::<SchemaRecord>(avro).expect("old record"), record(SchemaType::Avro), "records without a type are Avro");
    }
}
