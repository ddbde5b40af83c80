//! One replica of the registry: the catalog, fed from the log in log order by a follower
//! thread (the compacted Kafka topic) or kept in memory, and the contract writes, each
//! produced, acknowledged and answered only once this replica has applied it.

use crate::catalog::{Admission, Catalog, Entry, Refusal};
use crate::dir::{self, DirError};
use crate::record::{Applied, Record, Status};
use contracts::diff::Change;
use contracts::{CompiledContract, Problem};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// How long a write waits for Kafka's acknowledgement and for this replica to apply it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a write is retried when another replica registered a version of the same
/// contract between this replica's check and its write.
pub(crate) const WRITE_ATTEMPTS: usize = 5;

/// Failures of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The push is refused (400 or 409).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such contract or version (404).
    #[error("{0}")]
    NotFound(String),
    /// Kafka failed or did not answer in time (503).
    #[error("registry log unavailable: {0}")]
    Unavailable(String),
}

/// Why the registry has no version of a contract a binding can run.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// No registered version matches.
    #[error("no registered version of contract {id:?}{} (registered: {})", range.as_ref().map(|r| format!(" matching {r}")).unwrap_or_default(), known.join(", "))]
    NotRegistered {
        /// Contract id.
        id: String,
        /// The binding's version range.
        range: Option<semver::VersionReq>,
        /// The contracts the registry has.
        known: Vec<String>,
    },
    /// The selected version does not compile for the binding's schema object.
    #[error("contract {id} {version}")]
    Invalid {
        /// Contract id.
        id: String,
        /// The version selected.
        version: String,
        /// Why.
        #[source]
        source: contracts::ContractError,
    },
}

/// A contract file of the seed directory the registry refused or could not take.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The directory or a file could not be read.
    #[error(transparent)]
    Dir(#[from] DirError),
    /// A file was refused or could not be written.
    #[error("{}", path.display())]
    Push {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: RegistryError,
    },
}

/// What a successful push did.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: String,
    /// False when the identical version was registered already (or for a dry run).
    pub created: bool,
    /// The version it was compared with and every change (breaking ones are absent, else it
    /// would have been refused).
    pub previous: Option<(String, Vec<Change>)>,
    /// Warnings and rules the gate does not enforce.
    pub notices: Vec<Problem>,
    /// Registered (or, dry, would be) as a shadow version.
    pub shadow: bool,
    /// A shadow version became live.
    pub promoted: bool,
}

#[derive(Debug)]
struct Shared {
    catalog: RwLock<Catalog>,
    /// Offset of the last record applied; changes on every applied record.
    applied: watch::Sender<i64>,
}

impl Shared {
    fn apply(&self, offset: i64, key: &str, value: Option<&[u8]>) {
        let result = self.catalog.write().unwrap_or_else(std::sync::PoisonError::into_inner).apply(offset, key, value);
        match &result {
            Applied::Added { id, version } => info!(contract = %id, version = %version, offset, "registry: version added"),
            Applied::Shadow { id, version } => info!(contract = %id, version = %version, offset, "registry: shadow version added"),
            Applied::Status { id, version } => info!(contract = %id, version = %version, offset, "registry: status changed"),
            Applied::Schema { subject, version, id } => info!(subject = %subject, version, schema_id = id, offset, "registry: schema version added"),
            Applied::Compatibility { subject } => info!(subject = subject.as_deref().unwrap_or("(global)"), offset, "registry: compatibility level changed"),
            Applied::Ignored(why) => debug!(offset, why = %why, "registry: record ignored"),
        }
        self.applied.send_replace(offset);
    }
}

enum Backend {
    /// In this process only (tests, the embedded demo).
    Memory,
    /// The compacted topic.
    Kafka { producer: FutureProducer, topic: String, stop: Arc<AtomicBool> },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Kafka { topic, .. } => f.debug_struct("Kafka").field("topic", topic).finish_non_exhaustive(),
        }
    }
}

/// The contract registry of one replica.
#[derive(Debug)]
pub struct Registry {
    shared: Arc<Shared>,
    backend: Backend,
    /// One write at a time per replica (writes of several replicas race through `seq`).
    pub(crate) write: tokio::sync::Mutex<()>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Backend::Kafka { stop, .. } = &self.backend {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn kafka(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(e.to_string())
}

impl Registry {
    /// A registry kept in this process's memory only.
    #[must_use]
    pub fn memory() -> Self {
        let shared = Arc::new(Shared { catalog: RwLock::new(Catalog::default()), applied: watch::channel(-1).0 });
        Self { shared, backend: Backend::Memory, write: tokio::sync::Mutex::new(()) }
    }

    /// Opens the registry on `topic` (creating it, compacted with one partition, when `create`
    /// and missing), reads it to the end, and keeps following it.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`] when Kafka cannot be reached, the topic is missing (and
    /// not to be created) or has more than one partition, or the catch-up does not finish.
    pub async fn kafka(client: &ClientConfig, topic: &str, create: bool) -> Result<Self, RegistryError> {
        if create {
            ensure_topic(client, topic).await?;
        }
        let producer: FutureProducer = client.clone().set("enable.idempotence", "true").set("acks", "all").set("linger.ms", "0").create().map_err(kafka)?;
        let shared = Arc::new(Shared { catalog: RwLock::new(Catalog::default()), applied: watch::channel(-1).0 });
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let consumer_cfg = client.clone();
        let (t, s, st) = (topic.to_string(), Arc::clone(&shared), Arc::clone(&stop));
        std::thread::Builder::new().name("registry-follow".into()).spawn(move || follow(&consumer_cfg, &t, &s, &st, ready_tx)).map_err(kafka)?;
        match tokio::time::timeout(Duration::from_secs(120), ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(RegistryError::Unavailable(e)),
            Ok(Err(_)) => return Err(RegistryError::Unavailable("registry follower stopped".into())),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err(RegistryError::Unavailable(format!("reading {topic} to its end took more than 120 s")));
            }
        }
        let n = shared.catalog.read().unwrap_or_else(std::sync::PoisonError::into_inner).contracts().map(|(_, v)| v.len()).sum::<usize>();
        info!(topic, versions = n, "registry caught up");
        Ok(Self { shared, backend: Backend::Kafka { producer, topic: topic.to_string(), stop }, write: tokio::sync::Mutex::new(()) })
    }

    /// Read access to the catalog. Do not hold it across an await.
    pub fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.shared.catalog.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes whenever a record is applied (for hot reload).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.shared.applied.subscribe()
    }

    /// Whether the log is Kafka (false: memory).
    #[must_use]
    pub fn is_durable(&self) -> bool {
        matches!(self.backend, Backend::Kafka { .. })
    }

    /// Registers a document (YAML or JSON) after lint, compile and the compatibility check
    /// against its neighbouring versions. `dry_run` checks without writing.
    ///
    /// # Errors
    /// [`RegistryError::Refused`] or [`RegistryError::Unavailable`].
    pub async fn push(&self, text: &str, dry_run: bool) -> Result<PushOutcome, RegistryError> {
        self.push_as(text, dry_run, false).await
    }

    /// [`Registry::push`], as a shadow version when `shadow`: checked the same way, evaluated
    /// by running gates beside the active version, never routed by until promoted. A plain
    /// push of a shadow version's exact document promotes it.
    ///
    /// # Errors
    /// [`RegistryError::Refused`] or [`RegistryError::Unavailable`].
    pub async fn push_as(&self, text: &str, dry_run: bool, shadow: bool) -> Result<PushOutcome, RegistryError> {
        let _w = self.write.lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let admission = self.catalog().admit(text, &now(), shadow)?;
            let (record, previous, notices) = match admission {
                Admission::Unchanged { id, version } => return Ok(PushOutcome { id, version, created: false, previous: None, notices: Vec::new(), shadow, promoted: false }),
                Admission::Write { record, previous, notices } => (record, previous, notices),
            };
            let (Record::Version(body) | Record::ShadowVersion(body)) = &record else { unreachable!("admit writes versions") };
            let (id, version, digest) = (body.id.clone(), body.version.clone(), body.digest.clone());
            // A plain record for a version the catalog holds as a shadow is its promotion.
            let promotes = !shadow && self.catalog().get(&id, &version).is_some_and(|e| e.shadow);
            let outcome = |created: bool| PushOutcome { id: id.clone(), version: version.clone(), created, previous: previous.clone(), notices: notices.clone(), shadow, promoted: created && promotes };
            if dry_run {
                return Ok(outcome(false));
            }
            self.append(&record).await?;
            // Whether this record took: the version is there with this content, as the kind
            // written. A record sharing its key with an accepted one (same content) is never
            // tombstoned: that would delete the accepted record under compaction.
            let now_there = self.catalog().get(&id, &version).map(|e| (e.digest == digest, e.shadow));
            match now_there {
                Some((true, s)) if s == shadow => return Ok(outcome(true)),
                // Went live under this shadow push (another writer promoted it): nothing to add.
                Some((true, _)) if shadow => return Ok(outcome(false)),
                // Still a shadow: this promotion was written against a stale view; check again.
                Some((true, _)) => debug!(contract = %id, version = %version, "registry promotion lost a race; retrying"),
                Some((false, _)) => {
                    self.tombstone(&record.key());
                    return Err(Refusal::VersionExists { id, version }.into());
                }
                None => {
                    // Another replica registered a version of this contract first: check again.
                    self.tombstone(&record.key());
                    debug!(contract = %id, version = %version, "registry write lost a race; retrying");
                }
            }
        }
        Err(RegistryError::Unavailable("the contract kept changing under this write; try again".into()))
    }

    /// Makes a shadow version live: a plain push of its document, checked again against the
    /// live versions of now. A shadow that was withdrawn gets an `active` status record as
    /// well, so a gate that never saw the shadow (and kept the withdrawal pending) agrees.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when it is not a shadow version, else as [`Registry::push`].
    pub async fn promote(&self, id: &str, version: &str) -> Result<PushOutcome, RegistryError> {
        let (document, withdrawn) = {
            let cat = self.catalog();
            match cat.get(id, version) {
                Some(e) if e.shadow => (e.document.to_string(), e.status_at.is_some()),
                Some(e) => return Err(RegistryError::NotFound(format!("{id} {} is not a shadow version", e.version))),
                None => return Err(RegistryError::NotFound(format!("no version {version} of contract {id:?}"))),
            }
        };
        let outcome = self.push_as(&document, false, false).await?;
        if withdrawn && outcome.promoted {
            let _w = self.write.lock().await;
            self.append(&Record::Status { id: outcome.id.clone(), version: outcome.version.clone(), status: Status::Active, reason: Some("promoted".into()), at: now() }).await?;
        }
        Ok(outcome)
    }

    /// Changes the status of a version (deprecate, or back to active). History is kept.
    /// Activating a shadow version promotes it ([`Registry::promote`]); deprecating one
    /// withdraws it from evaluation.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] or [`RegistryError::Unavailable`].
    pub async fn set_status(&self, id: &str, version: &str, status: Status, reason: Option<String>) -> Result<Entry, RegistryError> {
        let shadow = self.catalog().get(id, version).is_some_and(|e| e.shadow);
        if shadow && status == Status::Active {
            let o = self.promote(id, version).await?;
            return self.catalog().get(&o.id, &o.version).cloned().ok_or_else(|| RegistryError::NotFound(format!("no version {} of contract {id:?}", o.version)));
        }
        let _w = self.write.lock().await;
        let exact = self.catalog().get(id, version).map(|e| e.version.to_string()).ok_or_else(|| RegistryError::NotFound(format!("no version {version} of contract {id:?}")))?;
        let record = Record::Status { id: id.to_string(), version: exact.clone(), status, reason, at: now() };
        self.append(&record).await?;
        self.catalog().get(id, &exact).cloned().ok_or_else(|| RegistryError::NotFound(format!("no version {exact} of contract {id:?}")))
    }

    /// Compiles the version of `id` a binding following `req` should run, for `object`.
    ///
    /// # Errors
    /// [`CompileError`] naming the contract and the problem.
    pub fn compile(&self, id: &str, object: Option<&str>, req: Option<&semver::VersionReq>) -> Result<CompiledContract, CompileError> {
        let cat = self.catalog();
        let Some(e) = cat.resolve(id, req) else {
            return Err(CompileError::NotRegistered { id: id.to_string(), range: req.cloned(), known: cat.contracts().map(|(k, _)| k.clone()).collect() });
        };
        contracts::compile(&e.contract, object).map_err(|source| CompileError::Invalid { id: id.to_string(), version: e.version.to_string(), source })
    }

    /// Writes a record and waits until this replica has applied it.
    async fn append(&self, record: &Record) -> Result<(), RegistryError> {
        let value = serde_json::to_vec(record).map_err(|e| RegistryError::Unavailable(e.to_string()))?;
        self.append_raw(&record.key(), &value).await
    }

    /// Writes a key and value (a contract or schema record) and waits until this replica has
    /// applied it.
    pub(crate) async fn append_raw(&self, key: &str, value: &[u8]) -> Result<(), RegistryError> {
        match &self.backend {
            Backend::Memory => {
                let off = self.catalog().applied() + 1;
                self.shared.apply(off, key, Some(value));
                Ok(())
            }
            Backend::Kafka { producer, topic, .. } => {
                let rec = FutureRecord::to(topic).partition(0).key(key).payload(value);
                let delivery = producer.send(rec, WRITE_TIMEOUT).await.map_err(|(e, _)| kafka(format!("produce to {topic}: {e}")))?;
                let mut rx = self.shared.applied.subscribe();
                let applied = tokio::time::timeout(WRITE_TIMEOUT, rx.wait_for(|a| *a >= delivery.offset)).await.is_ok_and(|r| r.is_ok());
                match applied {
                    true => Ok(()),
                    false => Err(RegistryError::Unavailable(format!("written to {topic} at offset {} but not read back within {WRITE_TIMEOUT:?}", delivery.offset))),
                }
            }
        }
    }

    /// Deletes a record this replica wrote and lost with (housekeeping only: the catalog
    /// ignores lost records anyway).
    pub(crate) fn tombstone(&self, key: &str) {
        if let Backend::Kafka { producer, topic, .. } = &self.backend {
            let rec: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).partition(0).key(key);
            if let Err((e, _)) = producer.send_result(rec) {
                warn!(key, error = %e, "registry: could not delete a lost record");
            }
        }
    }

    /// Registers every contract in `dir` that is not registered yet (GitOps seeding). An
    /// identical version is skipped; a refused one fails the whole seed.
    ///
    /// # Errors
    /// [`SeedError`] naming the file and the refusal.
    pub async fn seed(&self, dir: &std::path::Path) -> Result<usize, SeedError> {
        let files = dir::contract_files(dir)?;
        let mut added = 0;
        for (path, text) in files {
            match self.push(&text, false).await {
                Ok(o) if o.created => {
                    added += 1;
                    info!(file = %path.display(), contract = %o.id, version = %o.version, "registry: seeded");
                }
                Ok(_) => {}
                Err(source) => return Err(SeedError::Push { path, source }),
            }
        }
        Ok(added)
    }
}

/// Creates the topic when missing; checks that it has exactly one partition (the log's order
/// is what makes every replica converge).
async fn ensure_topic(client: &ClientConfig, topic: &str) -> Result<(), RegistryError> {
    let admin: AdminClient<DefaultClientContext> = client.create().map_err(kafka)?;
    let nt = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let results = admin.create_topics(&[nt], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))).await.map_err(kafka)?;
    for r in results {
        match r {
            Ok(t) => info!(topic = %t, "created the registry topic"),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(RegistryError::Unavailable(format!("creating topic {t}: {e}"))),
        }
    }
    let cfg = client.clone();
    let t = topic.to_string();
    let partitions = tokio::task::spawn_blocking(move || -> Result<usize, KafkaError> {
        let c: BaseConsumer = cfg.create()?;
        // A topic created a moment ago may not be in the metadata yet (or without its
        // partitions): look again for a while before calling it wrong.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let md = c.fetch_metadata(None, Duration::from_secs(10))?;
            let n = md.topics().iter().find(|x| x.name() == t && x.error().is_none()).map_or(0, |x| x.partitions().len());
            if n > 0 || std::time::Instant::now() >= deadline {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .map_err(kafka)?
    .map_err(kafka)?;
    if partitions != 1 {
        return Err(RegistryError::Unavailable(format!("the registry topic {topic} must have exactly one partition, it has {partitions}")));
    }
    Ok(())
}

/// The follower: reads the topic from the beginning, signals `ready` once it has reached the
/// end the topic had when it started, then applies every new record until `stop`.
fn follow(client: &ClientConfig, topic: &str, shared: &Shared, stop: &AtomicBool, ready: tokio::sync::oneshot::Sender<Result<(), String>>) {
    let mut ready = Some(ready);
    let fail = |ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), String>>>, e: String| {
        if let Some(r) = ready.take() {
            let _ = r.send(Err(e));
        }
    };
    let consumer: BaseConsumer = match client.clone().set("group.id", "contract-gate-registry").set("enable.auto.commit", "false").set("auto.offset.reset", "earliest").create() {
        Ok(c) => c,
        Err(e) => return fail(&mut ready, e.to_string()),
    };
    let high = match watermarks(&consumer, topic) {
        Ok((low, high)) => (high > low).then_some(high),
        Err(e) => return fail(&mut ready, format!("{topic}: {e}")),
    };
    let mut tpl = TopicPartitionList::new();
    if let Err(e) = tpl.add_partition_offset(topic, 0, Offset::Beginning).and_then(|()| consumer.assign(&tpl)) {
        return fail(&mut ready, e.to_string());
    }
    drop(tpl);
    let signal = |ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), String>>>| {
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
    };
    if high.is_none() {
        signal(&mut ready);
    }
    let mut last_error = String::new();
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                shared.apply(msg.offset(), std::str::from_utf8(msg.key().unwrap_or_default()).unwrap_or_default(), msg.payload());
                if high.is_some_and(|h| msg.offset() + 1 >= h) {
                    signal(&mut ready);
                }
            }
            None if ready.is_some() => {
                // Compaction may have removed the records just below the end: ask where we are.
                let pos = consumer.position().ok().and_then(|p| p.find_partition(topic, 0).and_then(|e| e.offset().to_raw()));
                if pos.zip(high).is_some_and(|(p, h)| p >= h) {
                    signal(&mut ready);
                }
            }
            None => {}
            Some(Err(e)) => {
                let s = e.to_string();
                if s != last_error {
                    warn!(topic, error = %s, "registry follower");
                    last_error = s;
                }
            }
        }
    }
    debug!(topic, "registry follower stopped");
}

/// Watermarks of partition 0, retried while a fresh topic has no leader yet.
fn watermarks(consumer: &BaseConsumer, topic: &str) -> Result<(i64, i64), KafkaError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)) {
            Ok(w) => return Ok(w),
            Err(e) if std::time::Instant::now() < deadline && e.rdkafka_error_code().is_some_and(|c| matches!(c, rdkafka::types::RDKafkaErrorCode::NotLeaderForPartition | rdkafka::types::RDKafkaErrorCode::LeaderNotAvailable | rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_registry_push_dry_run_and_status() {
        let r = Registry::memory();
        let v1 = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: integer\n";
        let dry = r.push(v1, true).await.expect("dry run");
        assert!(!dry.created);
        assert!(r.catalog().get("t", "1.0.0").is_none(), "a dry run writes nothing");
        assert!(r.push(v1, false).await.expect("push").created);
        assert!(!r.push(v1, false).await.expect("again").created, "identical push is idempotent");
        let e = r.set_status("t", "1.0.0", Status::Deprecated, Some("old".into())).await.expect("deprecate");
        assert_eq!(e.status, Status::Deprecated);
        assert!(matches!(r.set_status("t", "9.0.0", Status::Deprecated, None).await, Err(RegistryError::NotFound(_))));
        assert!(r.compile("t", None, None).is_ok(), "a deprecated version still compiles for a binding that has nothing else");
    }
}
