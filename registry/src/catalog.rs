//! The registry's state — every version of every contract — and the rules for admitting a new
//! version. Pure: the log (Kafka or memory) feeds [`Catalog::apply`] in log order, and every
//! replica that applies the same log reaches the same catalog.
//!
//! Concurrency between replicas is optimistic: a version record carries `seq`, the number of
//! versions of its contract the writer saw plus one. Applying accepts it only if that is still
//! true and its `id@version` is new, so of two writers racing on the same contract exactly one
//! wins, on every replica, whatever the log's compaction later removes (accepted version
//! records are never superseded: their keys are unique).

use contracts::diff::{compare, Change};
use contracts::{Contract, Problem, Severity};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::record::{is_schema_key, Applied, Record, Status};
use crate::schema_store::SchemaStore;

/// A registered version.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: semver::Version,
    /// The document as pushed.
    pub document: Arc<str>,
    /// Parsed.
    pub contract: Arc<Contract>,
    /// Content digest.
    pub digest: String,
    /// When it was registered.
    pub registered_at: String,
    /// Status.
    pub status: Status,
    /// Reason of the last status change.
    pub status_reason: Option<String>,
    /// When the status last changed.
    pub status_at: Option<String>,
    /// Position in the log.
    pub offset: i64,
}

/// Why a push is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not a usable contract: parse, lint or compile errors (HTTP 400).
    #[error("invalid contract: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// Every error with its path.
        problems: Vec<Problem>,
    },
    /// The same id and version exist with different content (HTTP 409).
    #[error("contract {id} version {version} is already registered with different content; publish a new version")]
    VersionExists {
        /// Id.
        id: String,
        /// Version.
        version: String,
    },
    /// A breaking change without a major version bump (HTTP 409).
    #[error("contract {id} {version} has breaking changes against {against} without a major version bump: {}", changes.iter().map(|c| format!("{}: {}", c.path, c.message)).collect::<Vec<_>>().join("; "))]
    Breaking {
        /// Id.
        id: String,
        /// The refused version.
        version: String,
        /// The version it was compared with.
        against: String,
        /// The breaking changes.
        changes: Vec<Change>,
    },
}

/// What a successful push check decided.
#[derive(Debug, Clone)]
pub enum Admission {
    /// The identical version is registered already: nothing to write.
    Unchanged {
        /// Id.
        id: String,
        /// Version.
        version: String,
    },
    /// Write this record.
    Write {
        /// The record.
        record: Record,
        /// The version it was compared with, and the changes.
        previous: Option<(String, Vec<Change>)>,
        /// Warnings and rules not enforced, for the caller.
        notices: Vec<Problem>,
    },
}

/// Every contract version, by id and version.
#[derive(Debug, Default)]
pub struct Catalog {
    by_id: BTreeMap<String, BTreeMap<semver::Version, Entry>>,
    /// Status records that arrived before their version (cannot happen in one log; kept so a
    /// hand-edited topic still converges).
    pending: HashMap<(String, String), (Status, Option<String>, String)>,
    /// Schema Registry subjects, schemas and levels (their records share the log).
    schemas: SchemaStore,
    applied: i64,
}

/// A stable digest of a contract's content (FNV-1a 64 over its canonical JSON): two documents
/// that parse to the same contract have the same digest, whatever their formatting.
#[must_use]
pub fn digest(c: &Contract) -> String {
    let canonical = serde_json::to_string(c).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Contract ids appear in URL paths and log keys: no `/`, no spaces or control characters.
fn check_id(id: &str) -> Result<(), Problem> {
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(Problem::error("id", "a registry contract id must be 1–200 characters without '/', spaces or control characters"));
    }
    Ok(())
}

/// Parses, lints and compiles a pushed document. Returns the contract, its version and the
/// non-error findings.
///
/// # Errors
/// [`Refusal::Invalid`] with every error and its path.
pub fn vet(text: &str) -> Result<(Contract, semver::Version, Vec<Problem>), Refusal> {
    let c = contracts::parse(text).map_err(|e| Refusal::Invalid { problems: e.problems() })?;
    let mut errors = Vec::new();
    if let Err(p) = check_id(&c.id) {
        errors.push(p);
    }
    let version = match semver::Version::parse(&c.version) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(Problem::error("version", format!("{:?} is not a semantic version (MAJOR.MINOR.PATCH): {e}", c.version)));
            None
        }
    };
    let (errs, mut notices): (Vec<Problem>, Vec<Problem>) = contracts::lint(&c).into_iter().partition(|p| p.severity == Severity::Error);
    errors.extend(errs);
    if c.schema.is_empty() {
        errors.push(Problem::error("schema", "the registry needs at least one schema object: gates check records against one"));
    }
    // The lines, for whoever edits the file the registry refused.
    contracts::compile::locate::locate(text, &mut errors);
    contracts::compile::locate::locate(text, &mut notices);
    match version {
        Some(v) if errors.is_empty() => Ok((c, v, notices)),
        _ => Err(Refusal::Invalid { problems: errors }),
    }
}

impl Catalog {
    /// Offset of the last record applied (-1: none).
    #[must_use]
    pub fn applied(&self) -> i64 {
        self.applied
    }

    /// Decides what to do with a pushed document, against the versions registered now.
    /// `now` is the RFC 3339 registration time to record.
    ///
    /// # Errors
    /// A [`Refusal`].
    pub fn admit(&self, text: &str, now: &str) -> Result<Admission, Refusal> {
        let (c, version, notices) = vet(text)?;
        let d = digest(&c);
        let versions = self.by_id.get(&c.id);
        if let Some(existing) = versions.and_then(|vs| vs.get(&version)) {
            if existing.digest == d || *existing.contract == c {
                return Ok(Admission::Unchanged { id: c.id.clone(), version: c.version.clone() });
            }
            return Err(Refusal::VersionExists { id: c.id.clone(), version: c.version.clone() });
        }
        let mut previous = None;
        if let Some(vs) = versions {
            // The version just below must not be broken without a major bump…
            if let Some((pv, p)) = vs.range(..version.clone()).next_back() {
                let verdict = compare(&p.contract, &c);
                if !verdict.compatible {
                    return Err(Refusal::Breaking { id: c.id.clone(), version: c.version.clone(), against: pv.to_string(), changes: verdict.breaking_changes().cloned().collect() });
                }
                previous = Some((pv.to_string(), verdict.changes));
            }
            // …and a version inserted below an existing one must not make that one a breaking
            // successor without a major bump.
            if let Some((nv, n)) = vs.range(version.clone()..).next() {
                let verdict = compare(&c, &n.contract);
                if !verdict.compatible {
                    return Err(Refusal::Breaking { id: c.id.clone(), version: c.version.clone(), against: nv.to_string(), changes: verdict.breaking_changes().cloned().collect() });
                }
            }
        }
        let seq = versions.map_or(0, BTreeMap::len) as u64 + 1;
        let record = Record::Version { id: c.id.clone(), version: c.version.clone(), seq, digest: d, document: text.to_string(), registered_at: now.to_string() };
        Ok(Admission::Write { record, previous, notices })
    }

    /// Applies one log record at `offset`. `value` is `None` for a tombstone.
    pub fn apply(&mut self, offset: i64, key: &str, value: Option<&[u8]>) -> Applied {
        self.applied = self.applied.max(offset);
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            // Writers tombstone only their own lost records; history is never deleted.
            return Applied::Ignored(format!("tombstone for {key}"));
        };
        if is_schema_key(key) {
            return self.schemas.apply(key, value);
        }
        let record: Record = match serde_json::from_slice(value) {
            Ok(r) => r,
            Err(e) => return Applied::Ignored(format!("unreadable record {key}: {e}")),
        };
        match record {
            Record::Version { id, version, seq, digest: d, document, registered_at } => {
                let Ok(v) = semver::Version::parse(&version) else { return Applied::Ignored(format!("{key}: version {version:?} is not semantic")) };
                let contract = match contracts::parse(&document) {
                    Ok(c) if c.id == id && c.version == version => c,
                    Ok(_) => return Applied::Ignored(format!("{key}: document id/version differ from the record")),
                    Err(e) => return Applied::Ignored(format!("{key}: document does not parse: {e}")),
                };
                let versions = self.by_id.entry(id.clone()).or_default();
                if versions.contains_key(&v) {
                    return Applied::Ignored(format!("{id}@{version} is registered already (first write wins)"));
                }
                if seq != versions.len() as u64 + 1 {
                    return Applied::Ignored(format!("{id}@{version}: written against {} versions, there are {} now", seq - 1, versions.len()));
                }
                let mut entry = Entry { id: id.clone(), version: v.clone(), document: document.into(), contract: Arc::new(contract), digest: d, registered_at, status: Status::Active, status_reason: None, status_at: None, offset };
                if let Some((s, reason, at)) = self.pending.remove(&(id.clone(), version.clone())) {
                    entry.status = s;
                    entry.status_reason = reason;
                    entry.status_at = Some(at);
                }
                versions.insert(v, entry);
                Applied::Added { id, version }
            }
            Record::Status { id, version, status, reason, at } => {
                let entry = semver::Version::parse(&version).ok().and_then(|v| self.by_id.get_mut(&id).and_then(|vs| vs.get_mut(&v)));
                match entry {
                    Some(e) => {
                        e.status = status;
                        e.status_reason = reason;
                        e.status_at = Some(at);
                        Applied::Status { id, version }
                    }
                    None => {
                        self.pending.insert((id, version), (status, reason, at));
                        Applied::Ignored(format!("{key}: status for a version not seen yet"))
                    }
                }
            }
        }
    }

    /// The Schema Registry state.
    #[must_use]
    pub fn schemas(&self) -> &SchemaStore {
        &self.schemas
    }

    /// Every contract id with its versions, newest last.
    pub fn contracts(&self) -> impl Iterator<Item = (&String, &BTreeMap<semver::Version, Entry>)> {
        self.by_id.iter()
    }

    /// Versions of one contract, oldest first.
    #[must_use]
    pub fn versions(&self, id: &str) -> Option<&BTreeMap<semver::Version, Entry>> {
        self.by_id.get(id)
    }

    /// One version; `latest` names the newest.
    #[must_use]
    pub fn get(&self, id: &str, version: &str) -> Option<&Entry> {
        let vs = self.by_id.get(id)?;
        if version == "latest" {
            return vs.values().next_back();
        }
        vs.get(&semver::Version::parse(version).ok()?)
    }

    /// The version a binding following `req` should run: the newest active one matching, else
    /// the newest matching at all (a deprecated version still beats no contract).
    #[must_use]
    pub fn resolve(&self, id: &str, req: Option<&semver::VersionReq>) -> Option<&Entry> {
        let vs = self.by_id.get(id)?;
        let matching = || vs.values().rev().filter(|e| req.is_none_or(|r| r.matches(&e.version)));
        matching().find(|e| e.status == Status::Active).or_else(|| matching().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn doc(version: &str, extra: &str) -> String {
        format!(
            "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: {version}\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n        required: true\n      - name: amount\n        logicalType: number\n{extra}"
        )
    }

    fn write(cat: &mut Catalog, text: &str) -> Result<Applied, Refusal> {
        match cat.admit(text, "2026-01-01T00:00:00Z")? {
            Admission::Unchanged { id, version } => Ok(Applied::Ignored(format!("unchanged {id}@{version}"))),
            Admission::Write { record, .. } => {
                let off = cat.applied() + 1;
                Ok(cat.apply(off, &record.key(), Some(&serde_json::to_vec(&record).expect("json"))))
            }
        }
    }

    #[test]
    fn evolution_rules() {
        let mut cat = Catalog::default();
        assert!(matches!(write(&mut cat, &doc("1.0.0", "")), Ok(Applied::Added { .. })));
        // Same content, other formatting: unchanged.
        assert!(matches!(write(&mut cat, &format!("{}\n# comment\n", doc("1.0.0", ""))), Ok(Applied::Ignored(_))));
        // Same version, other content.
        assert!(matches!(write(&mut cat, &doc("1.0.0", "      - name: note\n        logicalType: string\n")), Err(Refusal::VersionExists { .. })));
        // Compatible: optional field added.
        assert!(matches!(write(&mut cat, &doc("1.1.0", "      - name: note\n        logicalType: string\n")), Ok(Applied::Added { .. })));
        // Breaking without a major bump: field made narrower.
        let narrowed = doc("1.2.0", "      - name: note\n        logicalType: string\n").replace("logicalType: number", "logicalType: integer");
        match write(&mut cat, &narrowed) {
            Err(Refusal::Breaking { against, changes, .. }) => {
                assert_eq!(against, "1.1.0");
                assert_eq!(changes[0].path, "orders.amount.logicalType");
            }
            other => panic!("{other:?}"),
        }
        // The same change with a major bump is fine.
        assert!(matches!(write(&mut cat, &narrowed.replace("version: 1.2.0", "version: 2.0.0")), Ok(Applied::Added { .. })));
        // A backport between 1.0.0 and 1.1.0 must not make 1.1.0 a breaking successor: a field
        // only 1.0.5 has would be removed by 1.1.0.
        match write(&mut cat, &doc("1.0.5", "      - name: legacy\n        logicalType: string\n")) {
            Err(Refusal::Breaking { against, .. }) => assert_eq!(against, "1.1.0"),
            other => panic!("{other:?}"),
        }
        let versions: Vec<String> = cat.versions("orders").expect("orders").keys().map(ToString::to_string).collect();
        assert_eq!(versions, ["1.0.0", "1.1.0", "2.0.0"]);
    }

    #[test]
    fn invalid_documents_name_path_and_reason() {
        let cat = Catalog::default();
        let cases = [
            (doc("1.0.0", "        logicalTypeOptions: { maximum: lots }\n"), "schema[0].properties[1].logicalTypeOptions"),
            (doc("one", ""), "version"),
            (doc("1.0.0", "").replace("id: orders", "id: a/b"), "id"),
            ("not: [valid".to_string(), ""),
        ];
        for (text, path) in cases {
            match cat.admit(&text, "t") {
                Err(Refusal::Invalid { problems }) => assert!(problems.iter().any(|p| p.path.starts_with(path)), "{path}: {problems:?}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn racing_writers_converge_first_write_wins() {
        let base = Catalog::default();
        // Two replicas both saw zero versions and write different 1.0.0s, and a third writes
        // 1.1.0 against the same (empty) view.
        let a = match base.admit(&doc("1.0.0", ""), "t").expect("a") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let b = match base.admit(&doc("1.0.0", "      - name: x\n        logicalType: string\n"), "t").expect("b") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let c = match base.admit(&doc("1.1.0", ""), "t").expect("c") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let log: Vec<(String, Vec<u8>)> = [&a, &b, &c].iter().map(|r| (r.key(), serde_json::to_vec(r).expect("json"))).collect();
        let mut one = Catalog::default();
        let results: Vec<Applied> = log.iter().enumerate().map(|(i, (k, v))| one.apply(i as i64, k, Some(v))).collect();
        assert!(matches!(results[0], Applied::Added { .. }));
        assert!(matches!(results[1], Applied::Ignored(_)), "same id@version: first wins");
        assert!(matches!(results[2], Applied::Ignored(_)), "stale seq: written against an older view");
        assert_eq!(one.get("orders", "1.0.0").expect("1.0.0").digest, match &a { Record::Version { digest, .. } => digest.clone(), Record::Status { .. } => unreachable!() });
        assert_eq!(one.applied(), 2);
    }

    #[test]
    fn status_changes_keep_history_and_steer_resolution() {
        let mut cat = Catalog::default();
        write(&mut cat, &doc("1.0.0", "")).expect("1.0.0");
        write(&mut cat, &doc("1.1.0", "")).expect("1.1.0");
        write(&mut cat, &doc("2.0.0", "").replace("required: true", "required: false")).expect("2.0.0");
        let req = semver::VersionReq::parse("^1").expect("req");
        assert_eq!(cat.resolve("orders", Some(&req)).expect("r").version.to_string(), "1.1.0");
        let st = Record::Status { id: "orders".into(), version: "1.1.0".into(), status: Status::Deprecated, reason: Some("bad".into()), at: "t".into() };
        let off = cat.applied() + 1;
        assert!(matches!(cat.apply(off, &st.key(), Some(&serde_json::to_vec(&st).expect("json"))), Applied::Status { .. }));
        assert_eq!(cat.resolve("orders", Some(&req)).expect("r").version.to_string(), "1.0.0");
        assert_eq!(cat.resolve("orders", None).expect("r").version.to_string(), "2.0.0");
        assert_eq!(cat.versions("orders").expect("v").len(), 3, "nothing removed");
        assert_eq!(cat.get("orders", "1.1.0").expect("e").status, Status::Deprecated);
        assert_eq!(cat.get("orders", "latest").expect("e").version.to_string(), "2.0.0");
    }
}
