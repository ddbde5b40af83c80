//! The Avro rules of the Schema Registry subset, pure: schema identity, the Confluent
//! compatibility levels (over `apache-avro`'s schema resolution), and whether an Avro record
//! schema can carry the records a contract describes. The levels' walk ([`by_level`]), the
//! refusal of a schema text ([`InvalidSchema`]) and the choice of the contract's object
//! ([`compiled_object`]) serve the JSON Schema and Protobuf rules too.

use apache_avro::schema::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use contracts::Contract;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Confluent compatibility level. Serialized as Confluent spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// No check.
    None,
    /// The new schema reads data written with the latest one.
    #[default]
    Backward,
    /// The new schema reads data written with every earlier one.
    BackwardTransitive,
    /// The latest schema reads data written with the new one.
    Forward,
    /// Every earlier schema reads data written with the new one.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every earlier one.
    FullTransitive,
}

impl Level {
    /// Every level, for messages and tests.
    pub const ALL: [Self; 7] = [Self::None, Self::Backward, Self::BackwardTransitive, Self::Forward, Self::ForwardTransitive, Self::Full, Self::FullTransitive];

    /// Name as Confluent spells it.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses a level, case-insensitively (clients upper-case it, people may not).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the level checks against every earlier version, not only the latest.
    #[must_use]
    pub fn transitive(&self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }

    fn backward(&self) -> bool {
        matches!(self, Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive)
    }

    fn forward(&self) -> bool {
        matches!(self, Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive)
    }
}

/// Why a schema text is not a usable schema of its type (Confluent 42201). Here rather than
/// beside each type's rules because Avro's module is the first of the core, and every other
/// schema module builds on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchema {
    /// Not JSON at all (an Avro or JSON Schema schema is a JSON document).
    #[error("the schema is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not Avro.
    #[error("invalid Avro schema: {0}")]
    Avro(String),
    /// JSON, but not a JSON Schema.
    #[error("invalid JSON Schema: {0}")]
    Json(String),
    /// Not a `.proto` file (or descriptor) that compiles.
    #[error("invalid Protobuf schema: {0}")]
    Protobuf(String),
    /// An unknown schema type, or references.
    #[error("{0}")]
    Unsupported(String),
}

/// Parses an Avro schema text.
///
/// # Errors
/// [`InvalidSchema`] with apache-avro's reason.
pub fn parse(text: &str) -> Result<Schema, InvalidSchema> {
    serde_json::from_str::<Value>(text).map_err(|e| InvalidSchema::NotJson(e.to_string()))?;
    Schema::parse_str(text).map_err(|e| InvalidSchema::Avro(e.to_string()))
}

/// The identity of a schema: its JSON with every object's keys sorted and no whitespace. Two
/// texts that differ only in formatting or key order are the same schema (same id, no new
/// version). Avro's Parsing Canonical Form is not used here because it drops defaults, docs
/// and aliases, and a changed default changes what a reader does with old data.
///
/// # Errors
/// [`InvalidSchema::NotJson`].
pub fn canonical(text: &str) -> Result<String, InvalidSchema> {
    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let v: Value = serde_json::from_str(text).map_err(|e| InvalidSchema::NotJson(e.to_string()))?;
    // serde_json keeps insertion order when its preserve_order feature is on (another crate in
    // the build may turn it on), so the sort is explicit.
    Ok(sorted(v).to_string())
}

/// One reason a new schema is incompatible with an existing version.
fn reads(writer: &Schema, reader: &Schema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        // Partial means some data would fail to resolve (a union or enum that does not cover
        // the writer's): a registry that promises compatibility cannot accept that.
        Ok(Compatibility::Partial) => Err("only some data written with one can be read with the other (a union or enum does not cover every branch or symbol)".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks `new` against `existing` (oldest first, `(version, schema)`) at `level`: against
/// the latest only, or every one for transitive levels. Returns every reason it is not
/// compatible, naming the version.
#[must_use]
pub fn incompatibilities(level: Level, new: &Schema, existing: &[(u32, &Schema)]) -> Vec<String> {
    by_level(level, new, existing, |writer, reader| reads(writer, reader).err().into_iter().collect())
}

/// The level's walk, for every schema type: which versions a new schema is checked against
/// and in which direction. `reads(writer, reader)` returns every reason the reader cannot read
/// the writer's data (empty when it can); each becomes one message naming the version.
pub fn by_level<S>(level: Level, new: &S, existing: &[(u32, &S)], reads: impl Fn(&S, &S) -> Vec<String>) -> Vec<String> {
    if level == Level::None {
        return Vec::new();
    }
    let against: &[(u32, &S)] = if level.transitive() { existing } else { existing.last().map_or(&[], std::slice::from_ref) };
    let mut out = Vec::new();
    for (v, old) in against {
        if level.backward() {
            for e in reads(old, new) {
                out.push(format!("{} check against version {v}: the new schema cannot read data written with it: {e}", level.as_str()));
            }
        }
        if level.forward() {
            for e in reads(new, old) {
                out.push(format!("{} check against version {v}: it cannot read data written with the new schema: {e}", level.as_str()));
            }
        }
    }
    out
}

/// The contract compiled for the schema object named `name` (else its first object); `None`
/// when the contract has no object. Every schema type picks the object this way, so one
/// subject's versions are judged against the same object whatever their type.
///
/// # Errors
/// The compile error, as a gap naming the contract.
pub fn compiled_object(contract: &Contract, name: Option<&str>) -> Result<Option<contracts::CompiledContract>, String> {
    let Some(object) = contract.schema.iter().find(|o| Some(o.name.as_str()) == name).or_else(|| contract.schema.first()) else { return Ok(None) };
    contracts::compile(contract, Some(&object.name)).map(Some).map_err(|e| format!("contract {} does not compile: {e}", contract.id))
}

fn kind(s: &Schema) -> String {
    let k = apache_avro::schema::SchemaKind::from(s);
    format!("{k:?}").to_lowercase()
}

/// Checks that the Avro schema can carry records of `contract`, judged against the schema
/// object named like the record (else the contract's first object). The rules are the
/// sidecar's (`contracts::avro::conforms`: every property a field of a type its logicalType
/// accepts, no fields outside the contract unless it allows extra fields), so a schema the
/// registry admits is never schema drift in the gate; registration adds one rule, that a
/// required property is a field that cannot be null (`conforms_never_null`). Returns every
/// problem, each naming the field.
#[must_use]
pub fn contract_gaps(contract: &Contract, avro: &Schema) -> Vec<String> {
    let Schema::Record(r) = avro else {
        return vec![format!("contract {} describes records, but this Avro schema is a {}, not a record", contract.id, kind(avro))];
    };
    match compiled_object(contract, Some(r.name.name())) {
        Ok(Some(compiled)) => contracts::avro::conforms_never_null(&compiled, avro).iter().map(ToString::to_string).collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![e],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &str) -> Schema {
        parse(&format!(r#"{{"type":"record","name":"flight","fields":[{fields}]}}"#)).expect("schema")
    }

    const A: &str = r#"{"name":"a","type":"long"}"#;
    const B_DEFAULT: &str = r#"{"name":"b","type":"string","default":""}"#;
    const B_REQUIRED: &str = r#"{"name":"b","type":"string"}"#;

    #[test]
    fn levels_by_direction_and_transitivity() {
        let v1 = rec(A);
        let v2 = rec(&format!("{A},{B_DEFAULT}"));
        // Adding a field without a default: new readers cannot read old data (no value for b),
        // old readers can read new data (they skip b).
        let no_default = rec(&format!("{A},{B_REQUIRED}"));
        // Removing a field that has no default: old readers cannot read new data.
        let removed = parse(r#"{"type":"record","name":"flight","fields":[]}"#).expect("schema");
        // v1 <- v2 (a, b with default) <- a-only with b dropped: against v2 (latest) removing b
        // is backward (the new one ignores b) and forward (the old one defaults b); v1 is fine.
        type Case<'a> = (Level, &'a Schema, Vec<(u32, &'a Schema)>, bool);
        let cases: [Case<'_>; 12] = [
            (Level::Backward, &no_default, vec![(1, &v1)], false),
            (Level::Forward, &no_default, vec![(1, &v1)], true),
            (Level::Full, &no_default, vec![(1, &v1)], false),
            (Level::Backward, &v2, vec![(1, &v1)], true),
            (Level::Full, &v2, vec![(1, &v1)], true),
            (Level::Forward, &removed, vec![(1, &v1)], false),
            (Level::Backward, &removed, vec![(1, &v1)], true),
            (Level::None, &removed, vec![(1, &v1)], true),
            // Latest only: v2 then no_default (b without default: reads v2's data, which has b).
            (Level::Backward, &no_default, vec![(1, &v1), (2, &v2)], true),
            // Transitive: also against v1, whose data has no b.
            (Level::BackwardTransitive, &no_default, vec![(1, &v1), (2, &v2)], false),
            (Level::ForwardTransitive, &no_default, vec![(1, &v1), (2, &v2)], true),
            (Level::FullTransitive, &no_default, vec![(1, &v1), (2, &v2)], false),
        ];
        for (i, (level, new, existing, ok)) in cases.iter().enumerate() {
            let problems = incompatibilities(*level, new, existing);
            assert_eq!(problems.is_empty(), *ok, "case {i} {}: {problems:?}", level.as_str());
        }
        let msgs = incompatibilities(Level::BackwardTransitive, &no_default, &[(1, &v1), (2, &v2)]);
        assert!(msgs.len() == 1 && msgs[0].contains("version 1"), "{msgs:?}");
    }

    #[test]
    fn levels_parse_and_print_as_confluent() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).expect("json"), Value::String(l.as_str().into()));
        }
        assert_eq!(Level::parse("full_transitive"), Some(Level::FullTransitive));
        assert_eq!(Level::parse("SIDEWAYS"), None);
        assert_eq!(Level::default(), Level::Backward);
    }

    #[test]
    fn identity_ignores_formatting_and_key_order_only() {
        let a = canonical(r#"{"type": "record", "name": "r", "fields": [{"name": "x", "type": "int"}]}"#).expect("a");
        let b = canonical("{\n \"name\":\"r\",\"fields\":[{\"type\":\"int\",\"name\":\"x\"}],\"type\":\"record\"}").expect("b");
        assert_eq!(a, b);
        let with_default = canonical(r#"{"type": "record", "name": "r", "fields": [{"name": "x", "type": "int", "default": 1}]}"#).expect("c");
        assert_ne!(a, with_default, "a default changes what a reader does");
        assert!(matches!(canonical("{nope"), Err(InvalidSchema::NotJson(_))));
        assert!(matches!(parse(r#"{"type":"record","name":"r"}"#), Err(InvalidSchema::Avro(_))));
    }

    fn contract_text(props: &str) -> String {
        format!("apiVersion: v3.1.0\nkind: DataContract\nid: flights\nversion: 1.0.0\nstatus: active\nschema:\n  - name: flights\n    properties:\n{props}")
    }

    fn contract(props: &str) -> Contract {
        contracts::parse(&contract_text(props)).expect("contract")
    }

    #[test]
    fn contract_coverage_names_the_field() {
        let c = contract(
            "      - name: carrier\n        logicalType: string\n        required: true\n      - name: dep_time\n        logicalType: integer\n      - name: time_hour\n        logicalType: timestamp\n        required: true\n",
        );
        let ok = rec(r#"{"name":"carrier","type":"string"},{"name":"dep_time","type":["null","int"]},{"name":"time_hour","type":{"type":"long","logicalType":"timestamp-millis"}}"#);
        assert!(contract_gaps(&c, &ok).is_empty(), "{:?}", contract_gaps(&c, &ok));
        // Every schema the registry admits must conform in the sidecar too (no drift there):
        // the sidecar's reasons, plus the registry's own on nullable required fields.
        let cases = [
            (r#"{"name":"dep_time","type":"int"},{"name":"time_hour","type":"string"}"#, "carrier: missing from the writer schema"),
            (r#"{"name":"carrier","type":"string"},{"name":"time_hour","type":"string"}"#, "dep_time: missing from the writer schema"),
            (r#"{"name":"carrier","type":["null","string"]},{"name":"dep_time","type":"int"},{"name":"time_hour","type":"string"}"#, "\"carrier\" is required by the contract (never null)"),
            (r#"{"name":"carrier","type":"string"},{"name":"dep_time","type":"string"},{"name":"time_hour","type":"string"}"#, "dep_time: contract integer, writer string"),
            (r#"{"name":"carrier","type":"string"},{"name":"dep_time","type":"int"},{"name":"time_hour","type":"boolean"}"#, "time_hour: contract timestamp, writer boolean"),
            (r#"{"name":"carrier","type":"string"},{"name":"dep_time","type":"int"},{"name":"time_hour","type":"long"}"#, "time_hour: contract timestamp, writer long"),
            (r#"{"name":"carrier","type":"string"},{"name":"dep_time","type":"int"},{"name":"time_hour","type":"string"},{"name":"extra","type":"bytes"}"#, "extra: not in the contract"),
        ];
        for (fields, want) in cases {
            let schema = rec(fields);
            let gaps = contract_gaps(&c, &schema);
            assert!(gaps.iter().any(|g| g.contains(want)), "{want}: {gaps:?}");
        }
        // Extra fields are fine where the contract allows them, as in the sidecar.
        let open = contracts::parse(&format!("{}customProperties:\n  - property: gateAllowExtraFields\n    value: true\n", contract_text("      - name: carrier\n        logicalType: string\n"))).expect("contract");
        let with_extra = rec(r#"{"name":"carrier","type":"string"},{"name":"extra","type":"bytes"}"#);
        assert!(contract_gaps(&open, &with_extra).is_empty(), "{:?}", contract_gaps(&open, &with_extra));
        assert!(contract_gaps(&c, &parse(r#""string""#).expect("s"))[0].contains("not a record"));
    }

    #[test]
    fn nested_objects_and_named_references() {
        let c = contract("      - name: leg\n        logicalType: object\n        required: true\n        properties:\n          - name: origin\n            logicalType: string\n            required: true\n      - name: back\n        logicalType: object\n        properties:\n          - name: origin\n            logicalType: string\n            required: true\n");
        let leg = r#"{"name":"leg","type":{"type":"record","name":"Leg","fields":[{"name":"origin","type":"string"}]}}"#;
        // `back` reuses the named type Leg by reference.
        let ok = rec(&format!(r#"{leg},{{"name":"back","type":["null","Leg"]}}"#));
        assert!(contract_gaps(&c, &ok).is_empty(), "{:?}", contract_gaps(&c, &ok));
        let bad = rec(r#"{"name":"leg","type":{"type":"record","name":"Leg","fields":[{"name":"origin","type":"int"}]}}"#);
        let gaps = contract_gaps(&c, &bad);
        assert!(gaps.iter().any(|g| g.contains("leg.origin: contract string, writer int")), "{gaps:?}");
        let nullable_inside = rec(r#"{"name":"leg","type":{"type":"record","name":"Leg","fields":[{"name":"origin","type":["null","string"]}]}},{"name":"back","type":["null","Leg"]}"#);
        let gaps = contract_gaps(&c, &nullable_inside);
        assert!(gaps.iter().any(|g| g.contains("\"leg.origin\" is required by the contract (never null)")), "{gaps:?}");
    }
}
