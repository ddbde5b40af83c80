//! The Schema Registry's state, pure: every subject's versions, every schema by its global
//! id, and the compatibility levels, built by applying the log's schema records
//! ([`SchemaRecord`]) in log order; and the compatibility check of a new schema against a
//! subject's versions.
//!
//! A version record is accepted only if its version is the subject's next one and its id is
//! the schema's existing id (same canonical text registered before, under any subject) or else
//! the next free id: two replicas racing cannot both win, the loser's record is ignored on every
//! replica, so replaying the compacted log reaches the same ids.
//!
//! Every schema keeps its type ([`SchemaType`]); the check parses each version by its own
//! type and hands the pair to that type's rules ([`schema_type::incompatibilities`]).

use crate::avro_rules::{InvalidSchema, Level};
use crate::record::{Applied, SchemaRecord};
use crate::schema_type::{self, Parsed, SchemaType};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A registered schema (one id).
#[derive(Debug, Clone)]
pub struct StoredSchema {
    /// Global id.
    pub id: u32,
    /// Text as first registered.
    pub text: Arc<str>,
    /// Its type.
    pub schema_type: SchemaType,
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
    /// The nonce of the record that wrote it (a writer checks it to know whether it won).
    pub(crate) nonce: String,
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
    pub(crate) fn apply(&mut self, key: &str, value: &[u8]) -> Applied {
        let record: SchemaRecord = match serde_json::from_slice(value) {
            Ok(r) => r,
            Err(e) => return Applied::Ignored(format!("unreadable record {key}: {e}")),
        };
        match record {
            SchemaRecord::Schema { subject, version, id, schema, schema_type, canonical, nonce, registered_at } => {
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
                self.by_id.entry(id).or_insert_with(|| StoredSchema { id, text: schema.into(), schema_type });
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

    /// The id a schema not registered yet would get.
    pub(crate) fn next_id(&self) -> u32 {
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

/// A parsed registration request.
#[derive(Debug)]
pub struct Candidate {
    /// The text as sent.
    pub text: String,
    /// Its identity ([`schema_type::parse`]).
    pub canonical: String,
    /// Parsed, of its type.
    pub parsed: Parsed,
}

impl Candidate {
    /// Parses an Avro schema text.
    ///
    /// # Errors
    /// [`InvalidSchema`].
    pub fn new(text: &str) -> Result<Self, InvalidSchema> {
        Self::of(SchemaType::Avro, text)
    }

    /// Parses a schema text of type `t`.
    ///
    /// # Errors
    /// [`InvalidSchema`].
    pub fn of(t: SchemaType, text: &str) -> Result<Self, InvalidSchema> {
        let (parsed, canonical) = schema_type::parse(t, text)?;
        Ok(Self { text: text.to_string(), canonical, parsed })
    }

    /// Its type.
    #[must_use]
    pub fn schema_type(&self) -> SchemaType {
        self.parsed.schema_type()
    }
}

/// Parsed schemas of a subject's versions, oldest first, each by its stored type. A stored
/// schema that no longer parses is skipped (it was valid when registered; the check cannot
/// use it).
fn parsed_versions(store: &SchemaStore, subject: &str) -> Vec<(u32, Parsed)> {
    store
        .versions(subject)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            let s = store.schema(v.id)?;
            Some((v.version, schema_type::parse(s.schema_type, &s.text).ok()?.0))
        })
        .collect()
}

/// Checks `c` against the subject's versions at `level` (all versions when `version` is
/// `None`, else only that one, as Confluent's test endpoint does). Returns every reason.
#[must_use]
pub fn check_compatibility(store: &SchemaStore, subject: &str, c: &Candidate, level: Level, version: Option<u32>) -> Vec<String> {
    let all = parsed_versions(store, subject);
    let chosen: Vec<(u32, &Parsed)> = all.iter().filter(|(v, _)| version.is_none_or(|x| x == *v)).map(|(v, s)| (*v, s)).collect();
    // A single chosen version is checked whatever the level's transitivity.
    let level = if version.is_some() { non_transitive(level) } else { level };
    schema_type::incompatibilities(level, &c.parsed, &chosen)
}

fn non_transitive(l: Level) -> Level {
    match l {
        Level::BackwardTransitive => Level::Backward,
        Level::ForwardTransitive => Level::Forward,
        Level::FullTransitive => Level::Full,
        other => other,
    }
}
