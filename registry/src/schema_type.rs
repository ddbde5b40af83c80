//! The three schema types of the Schema Registry subset (Avro, JSON Schema, Protobuf), pure:
//! parsing a text by its type, its identity, and the compatibility and contract checks handed
//! to each type's rules ([`crate::avro_rules`], [`crate::json_rules`], [`crate::proto_rules`]).
//!
//! Identity is what makes two registrations one schema (one id). Avro's is its key-sorted,
//! whitespace-free JSON, unchanged since Avro was the only type so that existing logs replay to
//! the same ids; the other types' identity is their type name, a colon and their canonical form
//! (JSON Schema: key-sorted JSON; Protobuf: the serialized descriptor). No Avro identity starts
//! with a type name (it is JSON), so the same text registered as two types gets two ids, as in
//! Confluent's registry.

use crate::avro_rules::{self, InvalidSchema, Level};
use crate::{json_rules, proto_rules};
use contracts::protobuf::ProtoSchema;
use contracts::Contract;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A schema type, as Confluent spells it in `schemaType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// Avro, the default when a request names no type.
    #[default]
    Avro,
    /// JSON Schema.
    Json,
    /// Protobuf.
    Protobuf,
}

impl SchemaType {
    /// Every type, for `/schemas/types` and messages.
    pub const ALL: [Self; 3] = [Self::Avro, Self::Json, Self::Protobuf];

    /// Name as Confluent spells it.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Protobuf => "PROTOBUF",
        }
    }

    /// Parses a type name, case-insensitively (clients upper-case it, people may not).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this is Avro: records and responses leave the type out then, as Confluent's do
    /// and as records written before other types existed are.
    #[must_use]
    pub fn is_avro(&self) -> bool {
        *self == Self::Avro
    }
}

/// A parsed schema of any type.
#[derive(Debug)]
pub enum Parsed {
    /// Avro.
    Avro(apache_avro::Schema),
    /// JSON Schema.
    Json(Value),
    /// Protobuf.
    Protobuf(ProtoSchema),
}

impl Parsed {
    /// Its type.
    #[must_use]
    pub fn schema_type(&self) -> SchemaType {
        match self {
            Self::Avro(_) => SchemaType::Avro,
            Self::Json(_) => SchemaType::Json,
            Self::Protobuf(_) => SchemaType::Protobuf,
        }
    }
}

/// Parses `text` as a schema of type `t`, and returns it with its identity (see the module
/// doc).
///
/// # Errors
/// [`InvalidSchema`] naming what is wrong.
pub fn parse(t: SchemaType, text: &str) -> Result<(Parsed, String), InvalidSchema> {
    Ok(match t {
        SchemaType::Avro => (Parsed::Avro(avro_rules::parse(text)?), avro_rules::canonical(text)?),
        SchemaType::Json => (Parsed::Json(json_rules::parse(text)?), format!("JSON:{}", avro_rules::canonical(text)?)),
        SchemaType::Protobuf => {
            let p = ProtoSchema::parse(text).map_err(|e| InvalidSchema::Protobuf(e.to_string()))?;
            // Without references, a file without a message type could never be used: a
            // subject's schema describes its first message.
            if p.first_message().is_none() {
                return Err(InvalidSchema::Protobuf("the schema declares no message type".into()));
            }
            let identity = format!("PROTOBUF:{}", p.canonical());
            (Parsed::Protobuf(p), identity)
        }
    })
}

/// Checks `new` against `existing` (oldest first) at `level`, by the rules of its type. A
/// version of another type is a reason at every level, NONE included: a subject's consumers
/// read it with one deserializer, and a contract binding judges one format.
#[must_use]
pub fn incompatibilities(level: Level, new: &Parsed, existing: &[(u32, &Parsed)]) -> Vec<String> {
    let t = new.schema_type();
    let mut out: Vec<String> = existing
        .iter()
        .filter(|(_, p)| p.schema_type() != t)
        .map(|(v, p)| format!("version {v} has schema type {}, this schema has type {}: a subject's versions keep one schema type", p.schema_type().as_str(), t.as_str()))
        .collect();
    match new {
        Parsed::Avro(n) => {
            let same: Vec<(u32, &apache_avro::Schema)> = existing.iter().filter_map(|(v, p)| if let Parsed::Avro(s) = p { Some((*v, s)) } else { None }).collect();
            out.extend(avro_rules::incompatibilities(level, n, &same));
        }
        Parsed::Json(n) => {
            let same: Vec<(u32, &Value)> = existing.iter().filter_map(|(v, p)| if let Parsed::Json(s) = p { Some((*v, s)) } else { None }).collect();
            out.extend(avro_rules::by_level(level, n, &same, json_rules::reads));
        }
        Parsed::Protobuf(n) => {
            let same: Vec<(u32, &ProtoSchema)> = existing.iter().filter_map(|(v, p)| if let Parsed::Protobuf(s) = p { Some((*v, s)) } else { None }).collect();
            out.extend(avro_rules::by_level(level, n, &same, proto_rules::reads));
        }
    }
    out
}

/// Whether the schema can carry records of `contract`, by the rules of its type; every gap,
/// naming the field.
#[must_use]
pub fn contract_gaps(contract: &Contract, parsed: &Parsed) -> Vec<String> {
    match parsed {
        Parsed::Avro(s) => avro_rules::contract_gaps(contract, s),
        Parsed::Json(s) => json_rules::contract_gaps(contract, s),
        Parsed::Protobuf(s) => proto_rules::contract_gaps(contract, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_print_as_confluent() {
        for t in SchemaType::ALL {
            assert_eq!(SchemaType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).expect("json"), Value::String(t.as_str().into()));
        }
        assert_eq!(SchemaType::parse("json"), Some(SchemaType::Json));
        assert_eq!(SchemaType::parse("THRIFT"), None);
    }

    #[test]
    fn identity_by_type() {
        let id = |t, text: &str| parse(t, text).map(|(_, i)| i);
        let cases: [(SchemaType, &str, &str, bool); 5] = [
            // Formatting and key order do not change any type's identity.
            (SchemaType::Avro, r#"{"type":"record","name":"r","fields":[]}"#, r#"{ "name": "r", "fields": [], "type": "record" }"#, true),
            (SchemaType::Json, r#"{"type":"object","title":"r"}"#, r#"{ "title": "r", "type": "object" }"#, true),
            (SchemaType::Protobuf, "syntax = \"proto3\"; message M { string a = 1; }", "syntax = \"proto3\";\n// a comment\nmessage M {\n  string a = 1;\n}\n", true),
            (SchemaType::Json, r#"{"type":"object"}"#, r#"{"type":"array"}"#, false),
            (SchemaType::Protobuf, "syntax = \"proto3\"; message M { string a = 1; }", "syntax = \"proto3\"; message M { string a = 2; }", false),
        ];
        for (i, (t, a, b, same)) in cases.into_iter().enumerate() {
            assert_eq!(id(t, a).expect("a") == id(t, b).expect("b"), same, "case {i}");
        }
        // The same text as two types: two identities; Avro's is its canonical JSON unchanged.
        let text = r#"{"type":"string"}"#;
        assert_eq!(id(SchemaType::Avro, text), Ok(text.to_string()));
        assert_eq!(id(SchemaType::Json, text), Ok(format!("JSON:{text}")));
        // Python's serializer registers the descriptor in base64: the same schema as its text.
        let (Parsed::Protobuf(p), from_text) = parse(SchemaType::Protobuf, "syntax = \"proto3\"; message M { string a = 1; }").expect("proto") else { panic!("not protobuf") };
        assert_eq!(id(SchemaType::Protobuf, &p.serialized()), Ok(from_text));
        let bad: [(SchemaType, &str); 4] = [(SchemaType::Json, "[]"), (SchemaType::Protobuf, "message {"), (SchemaType::Protobuf, "syntax = \"proto3\"; enum E { A = 0; }"), (SchemaType::Avro, r#"{"type":"object"}"#)];
        for (t, text) in bad {
            assert!(parse(t, text).is_err(), "{t:?} {text}");
        }
    }

    #[test]
    fn a_subject_keeps_one_type_at_every_level() {
        let (avro, _) = parse(SchemaType::Avro, r#""string""#).expect("avro");
        let (json, _) = parse(SchemaType::Json, r#"{"type":"string"}"#).expect("json");
        for level in Level::ALL {
            let msgs = incompatibilities(level, &json, &[(1, &avro)]);
            assert!(msgs.iter().any(|m| m.contains("version 1 has schema type AVRO, this schema has type JSON")), "{level:?}: {msgs:?}");
        }
        let (narrower, _) = parse(SchemaType::Json, r#"{"type":"string","maxLength":3}"#).expect("json");
        let msgs = incompatibilities(Level::Backward, &narrower, &[(1, &json)]);
        assert!(msgs.len() == 1 && msgs[0].starts_with("BACKWARD check against version 1: the new schema cannot read data written with it: the schema: the reader's maxLength 3"), "{msgs:?}");
        assert!(incompatibilities(Level::Forward, &narrower, &[(1, &json)]).is_empty());
    }
}
