//! The Schema Registry's state, pure: every subject's versions, every schema by its global
//! id, and the compatibility levels, built by applying the log's schema records
//! ([`SchemaRecord`]) in log order; and the compatibility check of a new schema against a
//! subject's versions.
//!
//! A version record is accepted only if its version is the subject's next one and its id is
//! the schema's existing id (same canonical text registered before, under any subject) or else
//! the next free id: two replicas racing cannot both win, the loser's record is ignored on every
//! replica, so replaying the compacted log reaches the same ids.

use crate::avro_rules::{self, InvalidSchema, Level};
use crate::record::{Applied, SchemaRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
