//! The registry's state — every version of every contract — and the rules for admitting a new
//! version. Pure: the log (Kafka or memory) feeds [`Catalog::apply`] in log order, and every
//! replica that applies the same log reaches the same catalog.
//!
//! Concurrency between replicas is optimistic: a version record carries `seq`, the number of
//! versions of its contract the writer saw plus one. Applying accepts it only if that is still
//! true and its `id@version` is new, so of two writers racing on the same contract exactly one
//! wins, on every replica, whatever the log's compaction later removes (accepted version
//! records are never superseded: their keys are unique).
//!
//! Shadow versions ([`Entry::shadow`]) stand beside this order: they are checked against the
//! live versions as a push would be, but do not count in `seq`, are never resolved for a
//! binding, and are not neighbours in the breaking-change check, so a gate that does not know
//! them (it skips their records) reaches the same live catalog. Promoting one is a plain push
//! of its document, checked again against the live versions of that moment.

use contracts::diff::{compare, Change};
use contracts::{Contract, Problem, Severity};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::record::{is_schema_key, Applied, Record, Status, VersionRecord};
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
    /// Registered as a shadow version and not promoted: gates evaluate it (while its status
    /// is [`Status::Shadow`]) and never route by it.
    pub shadow: bool,
}

impl Entry {
    /// A live version: one bindings may run.
    #[must_use]
    pub fn is_live(&self) -> bool {
        !self.shadow
    }

    /// A shadow version gates should evaluate now.
    #[must_use]
    pub fn is_evaluated_shadow(&self) -> bool {
        self.shadow && self.status == Status::Shadow
    }
}

/// The newest live version of a contract below `version` (a shadow is nobody's predecessor).
#[must_use]
pub fn live_before<'a>(vs: &'a BTreeMap<semver::Version, Entry>, version: &semver::Version) -> Option<&'a Entry> {
    vs.range(..version.clone()).map(|(_, e)| e).rev().find(|e| e.is_live())
}

/// Live versions of one contract (the count `seq` is written against).
fn live(vs: &BTreeMap<semver::Version, Entry>) -> u64 {
    vs.values().filter(|e| e.is_live()).count() as u64
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

/// The status a status record gives a version: a shadow is evaluated (`Shadow`; `Active`, as
/// a hand-written record would say, means the same) or withdrawn (`Deprecated`); a live
/// version never becomes a shadow (`None`: the record is ignored).
fn shadow_status(shadow: bool, status: Status) -> Option<Status> {
    match (shadow, status) {
        (true, Status::Deprecated) => Some(Status::Deprecated),
        (true, _) => Some(Status::Shadow),
        (false, Status::Shadow) => None,
        (false, s) => Some(s),
    }
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
    /// `now` is the RFC 3339 registration time to record; `shadow` registers it as a shadow
    /// version. A plain push of a shadow version's exact document promotes it.
    ///
    /// # Errors
    /// A [`Refusal`].
    pub fn admit(&self, text: &str, now: &str, shadow: bool) -> Result<Admission, Refusal> {
        let (c, version, notices) = vet(text)?;
        let d = digest(&c);
        let versions = self.by_id.get(&c.id);
        if let Some(existing) = versions.and_then(|vs| vs.get(&version)) {
            if existing.digest != d && *existing.contract != c {
                return Err(Refusal::VersionExists { id: c.id.clone(), version: c.version.clone() });
            }
            // Identical and live already, or identical and already a shadow: nothing to write.
            // Only a plain push of a shadow version goes on, to promote it.
            if existing.is_live() || shadow {
                return Ok(Admission::Unchanged { id: c.id.clone(), version: c.version.clone() });
            }
        }
        let mut previous = None;
        if let Some(vs) = versions {
            // The live version just below must not be broken without a major bump…
            if let Some(p) = live_before(vs, &version) {
                let verdict = compare(&p.contract, &c);
                if !verdict.compatible {
                    return Err(Refusal::Breaking { id: c.id.clone(), version: c.version.clone(), against: p.version.to_string(), changes: verdict.breaking_changes().cloned().collect() });
                }
                previous = Some((p.version.to_string(), verdict.changes));
            }
            // …and a version inserted below an existing one must not make that one a breaking
            // successor without a major bump.
            if let Some(n) = vs.range(version.clone()..).map(|(_, e)| e).filter(|e| e.version != version).find(|e| e.is_live()) {
                let verdict = compare(&c, &n.contract);
                if !verdict.compatible {
                    return Err(Refusal::Breaking { id: c.id.clone(), version: c.version.clone(), against: n.version.to_string(), changes: verdict.breaking_changes().cloned().collect() });
                }
            }
        }
        let seq = versions.map_or(0, live) + 1;
        let body = VersionRecord { id: c.id.clone(), version: c.version.clone(), seq, digest: d, document: text.to_string(), registered_at: now.to_string() };
        let record = if shadow { Record::ShadowVersion(body) } else { Record::Version(body) };
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
            Record::Version(body) => self.add(offset, key, false, body),
            Record::ShadowVersion(body) => self.add(offset, key, true, body),
            Record::Status { id, version, status, reason, at } => {
                let entry = semver::Version::parse(&version).ok().and_then(|v| self.by_id.get_mut(&id).and_then(|vs| vs.get_mut(&v)));
                match entry {
                    Some(e) => match shadow_status(e.shadow, status) {
                        Some(s) => {
                            e.status = s;
                            e.status_reason = reason;
                            e.status_at = Some(at);
                            Applied::Status { id, version }
                        }
                        None => Applied::Ignored(format!("{key}: a live version cannot become a shadow")),
                    },
                    None => {
                        self.pending.insert((id, version), (status, reason, at));
                        Applied::Ignored(format!("{key}: status for a version not seen yet"))
                    }
                }
            }
        }
    }

    /// Adds a version (live or shadow) from its record. Of two records for one `id@version`
    /// the first wins, except that a live record with a current `seq` takes the place of a
    /// shadow (its promotion, or a plain version a gate without shadows accepts as well).
    fn add(&mut self, offset: i64, key: &str, shadow: bool, r: VersionRecord) -> Applied {
        let VersionRecord { id, version, seq, digest: d, document, registered_at } = r;
        let Ok(v) = semver::Version::parse(&version) else { return Applied::Ignored(format!("{key}: version {version:?} is not semantic")) };
        let contract = match contracts::parse(&document) {
            Ok(c) if c.id == id && c.version == version => c,
            Ok(_) => return Applied::Ignored(format!("{key}: document id/version differ from the record")),
            Err(e) => return Applied::Ignored(format!("{key}: document does not parse: {e}")),
        };
        let versions = self.by_id.entry(id.clone()).or_default();
        if let Some(existing) = versions.get(&v) {
            if shadow || existing.is_live() {
                return Applied::Ignored(format!("{id}@{version} is registered already (first write wins)"));
            }
        }
        let live_now = live(versions);
        if seq != live_now + 1 {
            return Applied::Ignored(format!("{id}@{version}: written against {} live versions, there are {live_now} now", seq.saturating_sub(1)));
        }
        let status = if shadow { Status::Shadow } else { Status::Active };
        let mut entry = Entry { id: id.clone(), version: v.clone(), document: document.into(), contract: Arc::new(contract), digest: d, registered_at, status, status_reason: None, status_at: None, offset, shadow };
        if let Some((s, reason, at)) = self.pending.remove(&(id.clone(), version.clone())) {
            if let Some(s) = shadow_status(shadow, s) {
                entry.status = s;
                entry.status_reason = reason;
                entry.status_at = Some(at);
            }
        }
        versions.insert(v, entry);
        if shadow {
            Applied::Shadow { id, version }
        } else {
            Applied::Added { id, version }
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

    /// One version; `latest` names the newest live one.
    #[must_use]
    pub fn get(&self, id: &str, version: &str) -> Option<&Entry> {
        let vs = self.by_id.get(id)?;
        if version == "latest" {
            return vs.values().rev().find(|e| e.is_live());
        }
        vs.get(&semver::Version::parse(version).ok()?)
    }

    /// The version a binding following `req` should run: the newest active one matching, else
    /// the newest live one matching at all (a deprecated version still beats no contract; a
    /// shadow version is never run).
    #[must_use]
    pub fn resolve(&self, id: &str, req: Option<&semver::VersionReq>) -> Option<&Entry> {
        let vs = self.by_id.get(id)?;
        let matching = || vs.values().rev().filter(|e| e.is_live() && req.is_none_or(|r| r.matches(&e.version)));
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
        match cat.admit(text, "2026-01-01T00:00:00Z", false)? {
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
            match cat.admit(&text, "t", false) {
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
        let a = match base.admit(&doc("1.0.0", ""), "t", false).expect("a") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let b = match base.admit(&doc("1.0.0", "      - name: x\n        logicalType: string\n"), "t", false).expect("b") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let c = match base.admit(&doc("1.1.0", ""), "t", false).expect("c") { Admission::Write { record, .. } => record, Admission::Unchanged { .. } => unreachable!() };
        let log: Vec<(String, Vec<u8>)> = [&a, &b, &c].iter().map(|r| (r.key(), serde_json::to_vec(r).expect("json"))).collect();
        let mut one = Catalog::default();
        let results: Vec<Applied> = log.iter().enumerate().map(|(i, (k, v))| one.apply(i as i64, k, Some(v))).collect();
        assert!(matches!(results[0], Applied::Added { .. }));
        assert!(matches!(results[1], Applied::Ignored(_)), "same id@version: first wins");
        assert!(matches!(results[2], Applied::Ignored(_)), "stale seq: written against an older view");
        assert_eq!(one.get("orders", "1.0.0").expect("1.0.0").digest, match &a { Record::Version(v) => v.digest.clone(), Record::ShadowVersion(_) | Record::Status { .. } => unreachable!() });
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

    fn log_of(cat: &Catalog, text: &str, shadow: bool) -> Record {
        match cat.admit(text, "t", shadow).expect("admitted") {
            Admission::Write { record, .. } => record,
            Admission::Unchanged { .. } => panic!("unchanged"),
        }
    }

    fn apply_record(cat: &mut Catalog, r: &Record) -> Applied {
        let off = cat.applied() + 1;
        cat.apply(off, &r.key(), Some(&serde_json::to_vec(r).expect("json")))
    }

    /// What a gate built before shadow versions makes of a record: a `shadowVersion` is an
    /// unknown type to it, read as unreadable and skipped.
    fn apply_as_old_gate(cat: &mut Catalog, r: &Record) -> Applied {
        match r {
            Record::ShadowVersion(_) => {
                let off = cat.applied() + 1;
                cat.apply(off, &r.key(), Some(br#"{"type":"somethingNew"}"#))
            }
            _ => apply_record(cat, r),
        }
    }

    fn live_view(cat: &Catalog) -> Vec<(String, Status)> {
        cat.versions("orders").into_iter().flat_map(|vs| vs.values()).filter(|e| e.is_live()).map(|e| (e.version.to_string(), e.status)).collect()
    }

    #[test]
    fn shadow_versions_stand_beside_the_live_order() {
        let note = "      - name: note\n        logicalType: string\n";
        let mut cat = Catalog::default();
        let mut old = Catalog::default();
        let mut log = Vec::new();
        let mut step = |cat: &mut Catalog, old: &mut Catalog, r: Record| {
            let applied = apply_record(cat, &r);
            apply_as_old_gate(old, &r);
            log.push(r);
            applied
        };
        let r = log_of(&cat, &doc("1.0.0", ""), false);
        assert!(matches!(step(&mut cat, &mut old, r), Applied::Added { .. }));
        // A shadow 1.1.0: registered, evaluated, never resolved, not `latest`.
        let r = log_of(&cat, &doc("1.1.0", note), true);
        assert!(matches!(&r, Record::ShadowVersion(v) if v.seq == 2));
        let shadow_key = r.key();
        assert!(matches!(step(&mut cat, &mut old, r), Applied::Shadow { .. }));
        let e = cat.get("orders", "1.1.0").expect("shadow");
        assert!(e.is_evaluated_shadow() && e.status == Status::Shadow);
        assert_eq!(cat.resolve("orders", None).expect("r").version.to_string(), "1.0.0");
        assert_eq!(cat.get("orders", "latest").expect("l").version.to_string(), "1.0.0");
        // Pushing it again, shadow or not, with other content: refused; identical shadow: unchanged.
        assert!(matches!(cat.admit(&doc("1.1.0", ""), "t", true), Err(Refusal::VersionExists { .. })));
        assert!(matches!(cat.admit(&doc("1.1.0", note), "t", true), Ok(Admission::Unchanged { .. })));
        // A plain 1.2.0 meanwhile: written against one live version, compared with 1.0.0 (a
        // shadow is no neighbour), accepted by new and old gates alike.
        let Ok(Admission::Write { record, previous, .. }) = cat.admit(&doc("1.2.0", note), "t", false) else { panic!("1.2.0") };
        assert_eq!(previous.map(|p| p.0).as_deref(), Some("1.0.0"));
        assert!(matches!(&record, Record::Version(v) if v.seq == 2));
        assert!(matches!(step(&mut cat, &mut old, record), Applied::Added { .. }));
        assert_eq!(live_view(&cat), live_view(&old));
        // Promotion is a plain push of the shadow's document, checked against the live
        // versions of now (1.2.0 keeps everything 1.1.0 has), with a current seq.
        let r = log_of(&cat, &doc("1.1.0", note), false);
        assert!(matches!(&r, Record::Version(v) if v.seq == 3));
        assert_eq!(r.key(), shadow_key, "compaction keeps the promotion in the shadow's place");
        assert!(matches!(step(&mut cat, &mut old, r), Applied::Added { .. }));
        let e = cat.get("orders", "1.1.0").expect("promoted");
        assert!(e.is_live() && e.status == Status::Active);
        assert_eq!(live_view(&cat), live_view(&old), "a gate without shadows converges on the same live versions");
        assert_eq!(live_view(&cat).len(), 3);
        // Replaying the log from the start reaches the same catalog.
        let mut again = Catalog::default();
        for r in &log {
            apply_record(&mut again, r);
        }
        assert_eq!(live_view(&again), live_view(&cat));
    }

    #[test]
    fn shadow_status_changes() {
        // (status record, on a shadow?, resulting status or ignored)
        let cases = [
            (Status::Deprecated, true, Some(Status::Deprecated)),
            (Status::Active, true, Some(Status::Shadow)),
            (Status::Shadow, true, Some(Status::Shadow)),
            (Status::Shadow, false, None),
            (Status::Deprecated, false, Some(Status::Deprecated)),
            (Status::Active, false, Some(Status::Active)),
        ];
        for (status, shadow, want) in cases {
            assert_eq!(shadow_status(shadow, status), want, "{status:?} on shadow={shadow}");
        }
        let mut cat = Catalog::default();
        let r = log_of(&cat, &doc("1.0.0", ""), true);
        apply_record(&mut cat, &r);
        let withdraw = Record::Status { id: "orders".into(), version: "1.0.0".into(), status: Status::Deprecated, reason: Some("wrong enum".into()), at: "t".into() };
        assert!(matches!(apply_record(&mut cat, &withdraw), Applied::Status { .. }));
        let e = cat.get("orders", "1.0.0").expect("e");
        assert!(!e.is_evaluated_shadow() && e.shadow);
        assert!(cat.resolve("orders", None).is_none(), "a shadow, even withdrawn and alone, is never run");
        // A shadow push that breaks the live version below without a major bump is refused.
        let mut cat = Catalog::default();
        let r = log_of(&cat, &doc("1.0.0", ""), false);
        apply_record(&mut cat, &r);
        let narrowed = doc("1.1.0", "").replace("logicalType: number", "logicalType: integer");
        assert!(matches!(cat.admit(&narrowed, "t", true), Err(Refusal::Breaking { .. })));
        assert!(matches!(cat.admit(&narrowed.replace("1.1.0", "2.0.0"), "t", true), Ok(Admission::Write { record: Record::ShadowVersion(_), .. })));
    }
}
