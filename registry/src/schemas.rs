//! Avro schemas by subject, the Confluent Schema Registry's model, kept in the registry's log
//! beside the contracts so every replica assigns the same ids and a restart keeps them.
//!
//! Two record kinds (see [`SchemaRecord`]): a schema version, keyed
//! `schema/<subject>/<version>/<nonce>`, and a compatibility level, keyed `srconfig` (global)
//! or `srconfig/<subject>` (latest wins). A version record carries its version and its global
//! id; applying accepts it only if the version is the subject's next one and the id is the
//! schema's existing id (same canonical text registered before, under any subject) or else the
//! next free id. Like contract versions (see [`super::catalog`]), two replicas racing cannot
//! both win, the loser's record is ignored on every replica, and accepted records are never
//! superseded (the nonce keeps the key unique even when two writers race with the same
//! schema), so replaying the compacted log reaches the same ids.
//!
//! A subject may be bound to contracts (see [`bound_contracts`]); a schema registered under a
//! bound subject must carry the contract's records ([`super::avro_rules::contract_gaps`]).

use super::avro_rules::{self, InvalidSchema, Level};
use super::catalog::{Applied, Catalog};
use super::{now, Registry, RegistryError, WRITE_ATTEMPTS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tracing::{debug, info};

/// Top-level ODCS custom property of a contract that lists the subjects bound to it.
pub const SUBJECTS_PROPERTY: &str = "schemaRegistrySubjects";

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
        /// Its identity ([`avro_rules::canonical`]).
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

/// A registered schema (one id).
#[derive(Debug, Clone)]
pub struct StoredSchema {
    /// Global id.
    pub id: u32,
    /// Text as first registered.
    pub text: Arc<str>,
}

/// One version of a subject.
#[derive(Debug, Clone)]
pub struct SubjectVersion {
    /// Version, from 1.
    pub version: u32,
    /// Schema id.
    pub id: u32,
    /// When it was registered.
    pub registered_at: String,
    nonce: String,
}

/// Every subject, schema and level.
#[derive(Debug, Default)]
pub struct SchemaStore {
    subjects: BTreeMap<String, Vec<SubjectVersion>>,
    by_id: BTreeMap<u32, StoredSchema>,
    by_canonical: HashMap<String, u32>,
    global: Option<Level>,
    levels: BTreeMap<String, Level>,
}

impl SchemaStore {
    /// Applies one schema record (`value` already checked non-empty).
    pub(super) fn apply(&mut self, key: &str, value: &[u8]) -> Applied {
        let record: SchemaRecord = match serde_json::from_slice(value) {
            Ok(r) => r,
            Err(e) => return Applied::Ignored(format!("unreadable record {key}: {e}")),
        };
        match record {
            SchemaRecord::Schema { subject, version, id, schema, canonical, nonce, registered_at } => {
                let versions = self.subjects.get(&subject).map_or(&[][..], Vec::as_slice);
                if version as usize != versions.len() + 1 {
                    return Applied::Ignored(format!("{key}: written as version {version}, the subject has {} versions now", versions.len()));
                }
                let expected = self.by_canonical.get(&canonical).copied().unwrap_or_else(|| self.next_id());
                if id != expected {
                    return Applied::Ignored(format!("{key}: written with id {id}, the schema's id is {expected} now"));
                }
                if versions.iter().any(|v| v.id == id) {
                    return Applied::Ignored(format!("{key}: schema {id} is in subject {subject} already"));
                }
                self.by_canonical.insert(canonical, id);
                self.by_id.entry(id).or_insert_with(|| StoredSchema { id, text: schema.into() });
                self.subjects.entry(subject.clone()).or_default().push(SubjectVersion { version, id, registered_at, nonce });
                Applied::Schema { subject, version, id }
            }
            SchemaRecord::Compatibility { subject, level, .. } => {
                match (&subject, level) {
                    (None, l) => self.global = l,
                    (Some(s), Some(l)) => {
                        self.levels.insert(s.clone(), l);
                    }
                    (Some(s), None) => {
                        self.levels.remove(s);
                    }
                }
                Applied::Compatibility { subject }
            }
        }
    }

    fn next_id(&self) -> u32 {
        self.by_id.keys().next_back().map_or(1, |m| m + 1)
    }

    /// Subjects, sorted.
    pub fn subjects(&self) -> impl Iterator<Item = (&String, &Vec<SubjectVersion>)> {
        self.subjects.iter()
    }

    /// Versions of a subject, oldest first.
    #[must_use]
    pub fn versions(&self, subject: &str) -> Option<&[SubjectVersion]> {
        self.subjects.get(subject).map(Vec::as_slice)
    }

    /// One version (`None` = latest).
    #[must_use]
    pub fn version(&self, subject: &str, version: Option<u32>) -> Option<&SubjectVersion> {
        let vs = self.subjects.get(subject)?;
        match version {
            None => vs.last(),
            Some(v) => vs.get(usize::try_from(v).ok()?.checked_sub(1)?),
        }
    }

    /// A schema by id.
    #[must_use]
    pub fn schema(&self, id: u32) -> Option<&StoredSchema> {
        self.by_id.get(&id)
    }

    /// The id of a schema with this identity, if any.
    #[must_use]
    pub fn id_of(&self, canonical: &str) -> Option<u32> {
        self.by_canonical.get(canonical).copied()
    }

    /// Every (subject, version) that holds schema `id`.
    #[must_use]
    pub fn uses(&self, id: u32) -> Vec<(&str, u32)> {
        self.subjects.iter().flat_map(|(s, vs)| vs.iter().filter(|v| v.id == id).map(move |v| (s.as_str(), v.version))).collect()
    }

    /// The global level (BACKWARD unless set).
    #[must_use]
    pub fn global_level(&self) -> Level {
        self.global.unwrap_or_default()
    }

    /// A subject's own level, if it has one.
    #[must_use]
    pub fn subject_level(&self, subject: &str) -> Option<Level> {
        self.levels.get(subject).copied()
    }

    /// The level that applies to a subject.
    #[must_use]
    pub fn level(&self, subject: &str) -> Level {
        self.subject_level(subject).unwrap_or_else(|| self.global_level())
    }
}

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
    /// Not a usable Avro schema, or not Avro (Confluent 42201).
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

/// A parsed registration request.
#[derive(Debug)]
pub struct Candidate {
    /// The text as sent.
    pub text: String,
    /// Its identity.
    pub canonical: String,
    /// Parsed.
    pub parsed: apache_avro::Schema,
}

impl Candidate {
    /// Parses a schema text.
    ///
    /// # Errors
    /// [`InvalidSchema`].
    pub fn new(text: &str) -> Result<Self, InvalidSchema> {
        Ok(Self { canonical: avro_rules::canonical(text)?, parsed: avro_rules::parse(text)?, text: text.to_string() })
    }
}

/// Parsed schemas of a subject's versions, oldest first. A stored schema that no longer
/// parses is skipped (it was valid when registered; the check cannot use it).
fn parsed_versions(store: &SchemaStore, subject: &str) -> Vec<(u32, apache_avro::Schema)> {
    store.versions(subject).unwrap_or_default().iter().filter_map(|v| Some((v.version, avro_rules::parse(&store.schema(v.id)?.text).ok()?))).collect()
}

/// Checks `c` against the subject's versions at `level` (all versions when `version` is
/// `None`, else only that one, as Confluent's test endpoint does). Returns every reason.
#[must_use]
pub fn check_compatibility(store: &SchemaStore, subject: &str, c: &Candidate, level: Level, version: Option<u32>) -> Vec<String> {
    let all = parsed_versions(store, subject);
    let chosen: Vec<(u32, &apache_avro::Schema)> = all.iter().filter(|(v, _)| version.is_none_or(|x| x == *v)).map(|(v, s)| (*v, s)).collect();
    // A single chosen version is checked whatever the level's transitivity.
    let level = if version.is_some() { non_transitive(level) } else { level };
    avro_rules::incompatibilities(level, &c.parsed, &chosen)
}

fn non_transitive(l: Level) -> Level {
    match l {
        Level::BackwardTransitive => Level::Backward,
        Level::ForwardTransitive => Level::Forward,
        Level::FullTransitive => Level::Full,
        other => other,
    }
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
        let gaps = avro_rules::contract_gaps(&entry.contract, &c.parsed);
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
        canonical: c.canonical.clone(),
        nonce: nonce.to_string(),
        registered_at: at.to_string(),
    }))
}

/// A nonce unique to one write (time and a per-process random hasher state).
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{:016x}", h.finish())
}

/// Failures of a schema registration.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Refused (422 or 409).
    #[error(transparent)]
    Refused(#[from] SchemaRefusal),
    /// The log failed (503).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// Schema id.
    pub id: u32,
    /// Version in the subject.
    pub version: u32,
    /// False when the subject held the schema already.
    pub created: bool,
}

impl Registry {
    /// Registers an Avro schema under `subject` after the contract and compatibility checks.
    /// The same schema again returns its id and version without writing.
    ///
    /// # Errors
    /// [`SchemaError`].
    pub async fn register_schema(&self, subject: &str, c: &Candidate) -> Result<Registered, SchemaError> {
        let _w = self.write.lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let n = nonce();
            let record = match admit(&self.catalog(), subject, c, &n, &now())? {
                SchemaAdmission::Existing { id, version } => return Ok(Registered { id, version, created: false }),
                SchemaAdmission::Write(r) => r,
            };
            let SchemaRecord::Schema { version, id, .. } = &record else { unreachable!("admit writes schemas") };
            let (version, id) = (*version, *id);
            let key = record.key();
            let value = serde_json::to_vec(&record).map_err(|e| RegistryError::Unavailable(e.to_string()))?;
            self.append_raw(&key, &value).await?;
            let won = self.catalog().schemas().version(subject, Some(version)).map(|v| v.nonce == n);
            if won == Some(true) {
                info!(subject, version, id, "registry: schema registered");
                return Ok(Registered { id, version, created: true });
            }
            // Another replica wrote this version (or took this id) first: check again.
            self.tombstone(&key);
            debug!(subject, version, id, "registry schema write lost a race; retrying");
        }
        Err(RegistryError::Unavailable("the subject kept changing under this write; try again".into()).into())
    }

    /// Sets (or, with `None` for a subject, removes) a compatibility level.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`].
    pub async fn set_compatibility(&self, subject: Option<&str>, level: Option<Level>) -> Result<(), RegistryError> {
        let _w = self.write.lock().await;
        let record = SchemaRecord::Compatibility { subject: subject.map(str::to_string), level, at: now() };
        let value = serde_json::to_vec(&record).map_err(|e| RegistryError::Unavailable(e.to_string()))?;
        self.append_raw(&record.key(), &value).await?;
        info!(subject = subject.unwrap_or("(global)"), level = level.map_or("(global default)", |l| l.as_str()), "registry: compatibility level set");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let super::super::catalog::Admission::Write { record, .. } = cat.admit(text, "t").expect("admit") else { panic!("unchanged") };
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
