//! Schemas by subject (Avro, JSON Schema, Protobuf), the Confluent Schema Registry's model,
//! kept in the registry's log beside the contracts so every replica assigns the same ids and a
//! restart keeps them: the rules that need both the contracts and the schemas. Pure; the state
//! is the catalog's [`SchemaStore`](crate::schema_store::SchemaStore), the records are
//! [`SchemaRecord`]s.
//!
//! Two record kinds: a schema version, keyed `schema/<subject>/<version>/<nonce>`, and a
//! compatibility level, keyed `srconfig` (global) or `srconfig/<subject>` (latest wins). A
//! version record carries its version and its global id; applying accepts it only if the
//! version is the subject's next one and the id is the schema's existing id (same canonical
//! text registered before, under any subject) or else the next free id. Like contract versions
//! (see [`crate::catalog`]), two replicas racing cannot both win, the loser's record is ignored
//! on every replica, and accepted records are never superseded (the nonce keeps the key unique
//! even when two writers race with the same schema), so replaying the compacted log reaches the
//! same ids.
//!
//! A subject may be bound to contracts (see [`bound_contracts`]); a schema registered under a
//! bound subject must carry the contract's records ([`crate::schema_type::contract_gaps`]).

use crate::avro_rules::{InvalidSchema, Level};
use crate::catalog::Catalog;
use crate::record::SchemaRecord;
use crate::schema_store::{check_compatibility, Candidate, SubjectVersion};

/// Top-level ODCS custom property of a contract that lists the subjects bound to it.
pub const SUBJECTS_PROPERTY: &str = "schemaRegistrySubjects";

/// Contract ids a subject is bound to: contracts whose newest version lists it in the
/// top-level custom property `schemaRegistrySubjects` (a list of subject names), and the
/// contract whose id is the subject minus a `-value` suffix (Confluent's default
/// TopicNameStrategy for a topic named like the contract) unless that contract lists subjects
/// of its own.
#[must_use]
pub fn bound_contracts(cat: &Catalog, subject: &str) -> Vec<String> {
    cat.contracts()
        .filter_map(|(id, vs)| {
            let latest = vs.values().next_back()?;
            let listed = contracts::model::custom(&latest.contract.custom_properties, SUBJECTS_PROPERTY);
            let bound = match listed {
                Some(v) => v.as_array().is_some_and(|a| a.iter().any(|s| s.as_str() == Some(subject))),
                None => subject.strip_suffix("-value") == Some(id.as_str()),
            };
            bound.then(|| id.clone())
        })
        .collect()
}

/// How a contract's subjects are named: listed in `schemaRegistrySubjects`, or the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Listed in the contract's `schemaRegistrySubjects`.
    CustomProperty,
    /// `<contract id>-value`.
    DefaultName,
}

impl Binding {
    /// Name in JSON.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CustomProperty => "customProperty",
            Self::DefaultName => "defaultName",
        }
    }
}

/// The subjects bound to contract `id` (the converse of [`bound_contracts`]), or `None` when
/// there is no such contract.
#[must_use]
pub fn contract_subjects(cat: &Catalog, id: &str) -> Option<(Vec<String>, Binding)> {
    let latest = cat.versions(id)?.values().next_back()?;
    Some(match contracts::model::custom(&latest.contract.custom_properties, SUBJECTS_PROPERTY) {
        Some(v) => (v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect(), Binding::CustomProperty),
        None => (vec![format!("{id}-value")], Binding::DefaultName),
    })
}

/// Every schema id registered under a subject bound to contract `id`: the ids a record of
/// that contract may carry in the Confluent wire format (another id is schema drift).
#[must_use]
pub fn contract_schema_ids(cat: &Catalog, id: &str) -> std::collections::BTreeSet<u32> {
    let Some((subjects, _)) = contract_subjects(cat, id) else { return std::collections::BTreeSet::new() };
    subjects.iter().flat_map(|s| cat.schemas().versions(s).unwrap_or_default().iter().map(|v| v.id)).collect()
}

/// Why a schema registration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaRefusal {
    /// Not a usable schema of its type, or references (Confluent 42201).
    #[error(transparent)]
    Invalid(#[from] InvalidSchema),
    /// Incompatible with earlier versions at the subject's level (409).
    #[error("schema being registered is incompatible with an earlier schema for subject {subject:?} (compatibility {}): {}", level.as_str(), messages.join("; "))]
    Incompatible {
        /// Subject.
        subject: String,
        /// The level checked.
        level: Level,
        /// Every reason.
        messages: Vec<String>,
    },
    /// The subject is bound to a contract whose records the schema cannot carry (409).
    #[error("subject {subject:?} is bound to contract {contract}: {}", gaps.join("; "))]
    Contract {
        /// Subject.
        subject: String,
        /// Contract id.
        contract: String,
        /// Every gap, naming the field.
        gaps: Vec<String>,
    },
}

/// What a registration check decided.
#[derive(Debug)]
pub enum SchemaAdmission {
    /// The subject holds this schema already.
    Existing {
        /// Schema id.
        id: u32,
        /// Version in the subject.
        version: u32,
    },
    /// Write this record.
    Write(SchemaRecord),
}

/// Decides what registering `c` under `subject` does, against the catalog now.
///
/// # Errors
/// A [`SchemaRefusal`].
pub fn admit(cat: &Catalog, subject: &str, c: &Candidate, nonce: &str, at: &str) -> Result<SchemaAdmission, SchemaRefusal> {
    let store = cat.schemas();
    let known = store.id_of(&c.canonical);
    if let Some(v) = known.and_then(|id| store.versions(subject).unwrap_or_default().iter().find(|v| v.id == id)) {
        return Ok(SchemaAdmission::Existing { id: v.id, version: v.version });
    }
    for contract_id in bound_contracts(cat, subject) {
        let Some(entry) = cat.resolve(&contract_id, None) else { continue };
        let gaps = crate::schema_type::contract_gaps(&entry.contract, &c.parsed);
        if !gaps.is_empty() {
            return Err(SchemaRefusal::Contract { subject: subject.to_string(), contract: format!("{contract_id} {}", entry.version), gaps });
        }
    }
    let level = store.level(subject);
    let messages = check_compatibility(store, subject, c, level, None);
    if !messages.is_empty() {
        return Err(SchemaRefusal::Incompatible { subject: subject.to_string(), level, messages });
    }
    let version = u32::try_from(store.versions(subject).map_or(0, <[SubjectVersion]>::len)).unwrap_or(u32::MAX).saturating_add(1);
    let id = known.unwrap_or_else(|| store.next_id());
    Ok(SchemaAdmission::Write(SchemaRecord::Schema {
        subject: subject.to_string(),
        version,
        id,
        schema: c.text.clone(),
        schema_type: c.schema_type(),
        canonical: c.canonical.clone(),
        nonce: nonce.to_string(),
        registered_at: at.to_string(),
    }))
}

/// A nonce unique to one write (time and a per-process random hasher state).
pub(crate) fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Admission;
    use crate::record::Applied;

    fn schema(fields: &str) -> Candidate {
        Candidate::new(&format!(r#"{{"type":"record","name":"flights","fields":[{fields}]}}"#)).expect("schema")
    }

    fn write(cat: &mut Catalog, subject: &str, c: &Candidate) -> Result<(u32, u32, bool), SchemaRefusal> {
        match admit(cat, subject, c, &nonce(), "t")? {
            SchemaAdmission::Existing { id, version } => Ok((id, version, false)),
            SchemaAdmission::Write(r) => {
                let off = cat.applied() + 1;
                let applied = cat.apply(off, &r.key(), Some(&serde_json::to_vec(&r).expect("json")));
                match applied {
                    Applied::Schema { id, version, .. } => Ok((id, version, true)),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn ids_are_global_and_stable() {
        let mut cat = Catalog::default();
        let a = schema(r#"{"name":"a","type":"long"}"#);
        let b = schema(r#"{"name":"a","type":"long"},{"name":"b","type":"string","default":""}"#);
        assert_eq!(write(&mut cat, "x-value", &a), Ok((1, 1, true)));
        assert_eq!(write(&mut cat, "x-value", &a), Ok((1, 1, false)), "same schema: same id, no new version");
        let reformatted = Candidate::new("{\"fields\": [{\"type\": \"long\", \"name\": \"a\"}], \"name\": \"flights\", \"type\": \"record\"}").expect("schema");
        assert_eq!(write(&mut cat, "x-value", &reformatted), Ok((1, 1, false)), "formatting is not identity");
        assert_eq!(write(&mut cat, "x-value", &b), Ok((2, 2, true)));
        assert_eq!(write(&mut cat, "y-value", &a), Ok((1, 1, true)), "the same schema under another subject keeps its id");
        // Going back to an earlier schema of the subject is not a new version.
        assert_eq!(write(&mut cat, "x-value", &a), Ok((1, 1, false)));
        assert_eq!(cat.schemas().uses(1), vec![("x-value", 1), ("y-value", 1)]);
    }

    #[test]
    fn racing_writers_converge() {
        let base = Catalog::default();
        let a = schema(r#"{"name":"a","type":"long"}"#);
        let b = schema(r#"{"name":"b","type":"long"}"#);
        let rec = |c: &Candidate, s: &str| match admit(&base, s, c, &nonce(), "t").expect("admit") {
            SchemaAdmission::Write(r) => r,
            SchemaAdmission::Existing { .. } => unreachable!(),
        };
        // Three replicas saw an empty store: two write version 1 of one subject, a third
        // writes another subject; all three chose id 1.
        let log = [rec(&a, "s"), rec(&b, "s"), rec(&b, "t")];
        let mut one = Catalog::default();
        let results: Vec<Applied> = log.iter().enumerate().map(|(i, r)| one.apply(i as i64, &r.key(), Some(&serde_json::to_vec(r).expect("json")))).collect();
        assert!(matches!(results[0], Applied::Schema { id: 1, version: 1, .. }), "{results:?}");
        assert!(matches!(results[1], Applied::Ignored(_)), "same version: first wins");
        assert!(matches!(results[2], Applied::Ignored(_)), "id 1 is taken by another schema");
        assert_ne!(log[0].key(), rec(&a, "s").key(), "the same write twice has two keys: compaction never replaces a winner");
    }

    #[test]
    fn levels_apply_and_steer_the_check() {
        let mut cat = Catalog::default();
        let v1 = schema(r#"{"name":"a","type":"long"}"#);
        let no_default = schema(r#"{"name":"a","type":"long"},{"name":"b","type":"string"}"#);
        write(&mut cat, "s", &v1).expect("v1");
        assert!(matches!(write(&mut cat, "s", &no_default), Err(SchemaRefusal::Incompatible { level: Level::Backward, .. })));
        let set = |cat: &mut Catalog, subject: Option<&str>, level: Option<Level>| {
            let r = SchemaRecord::Compatibility { subject: subject.map(str::to_string), level, at: "t".into() };
            let off = cat.applied() + 1;
            cat.apply(off, &r.key(), Some(&serde_json::to_vec(&r).expect("json")));
        };
        set(&mut cat, None, Some(Level::Forward));
        assert_eq!(cat.schemas().level("s"), Level::Forward);
        set(&mut cat, Some("s"), Some(Level::Full));
        assert_eq!((cat.schemas().level("s"), cat.schemas().level("other")), (Level::Full, Level::Forward));
        assert!(write(&mut cat, "s", &no_default).is_err(), "FULL refuses it too");
        set(&mut cat, Some("s"), None);
        assert_eq!(write(&mut cat, "s", &no_default), Ok((2, 2, true)), "back to the global FORWARD");
        assert!(!check_compatibility(cat.schemas(), "s", &v1, Level::Forward, Some(2)).is_empty(), "version 2 (b without a default) cannot read v1's data");
        assert!(check_compatibility(cat.schemas(), "s", &v1, Level::Backward, Some(2)).is_empty(), "v1 reads version 2's data (it skips b)");
    }

    #[test]
    fn bound_subjects_must_carry_the_contract() {
        let mut cat = Catalog::default();
        let doc = |extra: &str| format!("apiVersion: v3.1.0\nkind: DataContract\nid: flights\nversion: 1.0.0\nstatus: active\n{extra}schema:\n  - name: flights\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n");
        let add = |cat: &mut Catalog, text: &str| {
            let Admission::Write { record, .. } = cat.admit(text, "t", false).expect("admit") else { panic!("unchanged") };
            let off = cat.applied() + 1;
            cat.apply(off, &record.key(), Some(&serde_json::to_vec(&record).expect("json")));
        };
        add(&mut cat, &doc(""));
        let missing = schema(r#"{"name":"a","type":"long"}"#);
        match write(&mut cat, "flights-value", &missing) {
            Err(SchemaRefusal::Contract { contract, gaps, .. }) => {
                assert_eq!(contract, "flights 1.0.0");
                assert!(gaps.iter().any(|g| g.contains("carrier: missing from the writer schema")), "{gaps:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(write(&mut cat, "other-value", &missing).is_ok(), "unbound subject");
        let (id, _, _) = write(&mut cat, "flights-value", &schema(r#"{"name":"carrier","type":"string"}"#)).expect("carries the contract");
        assert_eq!(contract_schema_ids(&cat, "flights").into_iter().collect::<Vec<_>>(), [id]);
        assert_eq!(contract_subjects(&cat, "flights"), Some((vec!["flights-value".to_string()], Binding::DefaultName)));
        // An explicit list replaces the default name.
        let listed = doc("customProperties:\n  - property: schemaRegistrySubjects\n    value: [nyc.flights-value]\n").replace("1.0.0", "1.1.0");
        add(&mut cat, &listed);
        assert_eq!(bound_contracts(&cat, "nyc.flights-value"), ["flights"]);
        assert!(bound_contracts(&cat, "flights-value").is_empty());
        assert!(contract_schema_ids(&cat, "flights").is_empty(), "flights-value is no longer bound");
    }
}
