//! The runtime state of one binding: contract, breaker, window observers, last-good index.

use super::pending::{PausedAt, PendingAction};
use super::breaker_store::AnyStore;
use crate::config::{Binding, GateConfig, Topics};
use breaker::{Breaker, Router};
use contracts::{CompiledContract, Observer, WindowState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// Window state fed by the pipeline and drained by the flusher, with the contract version
/// that shapes it: a record is checked with `contract` into `obs` under one lock, so a hot
/// reload (which swaps all three together) can never pair a contract with an observer of
/// another rule layout.
#[derive(Debug)]
pub struct Stats {
    /// The contract version records are judged by now.
    pub contract: Arc<CompiledContract>,
    /// Every record since the last flush.
    pub obs: Observer,
    /// Half-open probe records since the last flush.
    pub probe: Observer,
    /// Which flush will take the deltas gathered now (strict mode waits for it).
    pub generation: u64,
}

/// A key's last valid record, with where it came from (for the stale re-emit's headers).
#[derive(Debug, Clone)]
pub struct LastGoodRecord {
    /// Payload.
    pub payload: Vec<u8>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source timestamp.
    pub timestamp: Option<i64>,
}

/// One binding at run time.
#[derive(Debug)]
pub struct BindingRuntime {
    /// Configuration.
    pub cfg: Binding,
    /// Resolved output topics.
    pub topics: Topics,
    /// The breaker of this binding.
    pub breaker: Breaker<AnyStore>,
    /// Lock-free per-record decision.
    pub router: Arc<Router>,
    /// One shard per record loop (worker): a loop checks records into its own shard, so
    /// loops on different threads never wait for each other; a flush merges them.
    stats: Box<[Mutex<Stats>]>,
    last_good: Mutex<LastGood>,
    /// The source topic's name, shared by every acknowledgement the loop waits for.
    pub source: Arc<str>,
    /// The per-route record counters, registered on first use.
    pub counters: super::telemetry::RouteCounters,
    /// Arrival time of the newest record (ms); seeds "no data" rules even while silent.
    pub last_arrival_ms: AtomicI64,
    /// Held by the flusher from taking the deltas to the end of the flush, and by a hot
    /// reload while it swaps the observers and the breaker's rules: a flush never sees
    /// deltas of one rule layout and a breaker of another.
    reload: tokio::sync::Mutex<()>,
    /// An operator's request for the paused backlog, one slot per record loop, taken by it.
    operator: Mutex<Vec<Option<PendingAction>>>,
    /// Paused partitions and the offset each is held at, published by each record loop.
    paused_at: Mutex<Vec<PausedAt>>,
    /// The latency SLAs' p95 record age over the window at the last flush, for the admin API.
    record_ages: Mutex<Vec<super::telemetry::last_flush::RecordAge>>,
    /// A shadow contract version evaluated beside the active one, when the registry has one.
    pub shadow: super::shadow::ShadowSlot,
    /// The record key's rules (`bindings[].key`), when the binding has them.
    key: Option<super::key::KeyRules>,
    /// The schema object structured keys are checked by, compiled from the contract version
    /// the binding runs (a hot reload swaps it right after the value's version).
    key_object: Mutex<Option<Arc<CompiledContract>>>,
    /// Strict mode: a record loop whose shard has checked this many records since the last
    /// flush wakes the flusher early (`u64::MAX`: never), so that a flush, which strict mode
    /// judges as one, stays a bounded amount of data when the loop reads a backlog.
    pub flush_after: u64,
    /// Wakes the flusher before its interval (see `flush_after`).
    pub flush_soon: tokio::sync::Notify,
}

/// The last-good index and the keys changed since the writer's last pass, under one lock
/// (every valid keyed record updates both).
#[derive(Debug, Default)]
struct LastGood {
    index: HashMap<Vec<u8>, Entry>,
    /// Keys whose entry is marked dirty, each once.
    dirty: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Entry {
    snap: LastGoodRecord,
    /// Changed since the writer's last pass.
    dirty: bool,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the guarded values
/// are counters and caches that stay consistent record by record.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BindingRuntime {
    /// Assembles a binding read by `workers` record loops (at least one).
    #[must_use]
    pub fn new(cfg: Binding, contract: Arc<CompiledContract>, breaker: Breaker<AnyStore>, now_ms: i64, workers: usize) -> Self {
        let topics = cfg.topics();
        let router = breaker.router();
        let workers = workers.max(1);
        let stats = shards(&contract, workers, 1);
        let source = Arc::from(cfg.source.as_str());
        let counters = super::telemetry::RouteCounters::new(&cfg.name);
        let flush_after = cfg.strict_flush_after().unwrap_or(u64::MAX);
        Self {
            cfg,
            topics,
            breaker,
            router,
            stats,
            last_good: Mutex::new(LastGood::default()),
            source,
            counters,
            last_arrival_ms: AtomicI64::new(now_ms),
            reload: tokio::sync::Mutex::new(()),
            operator: Mutex::new(vec![None; workers]),
            paused_at: Mutex::new(vec![PausedAt::new(); workers]),
            record_ages: Mutex::new(Vec::new()),
            shadow: super::shadow::ShadowSlot::default(),
            key: None,
            key_object: Mutex::new(None),
            flush_after,
            flush_soon: tokio::sync::Notify::new(),
        }
    }

    /// Gives the binding its key rules and, for structured keys, the key object compiled
    /// from the contract version it runs.
    #[must_use]
    pub fn with_key(mut self, rules: Option<super::key::KeyRules>, object: Option<Arc<CompiledContract>>) -> Self {
        self.key = rules;
        self.key_object = Mutex::new(object);
        self
    }

    /// The record key's rules, when the binding checks keys.
    #[must_use]
    pub fn key_rules(&self) -> Option<&super::key::KeyRules> {
        self.key.as_ref()
    }

    /// The key object structured keys are checked by now.
    #[must_use]
    pub fn key_object(&self) -> Option<Arc<CompiledContract>> {
        lock(&self.key_object).clone()
    }

    /// Moves the key object to another contract version (a hot reload).
    pub fn set_key_object(&self, object: Arc<CompiledContract>) {
        *lock(&self.key_object) = Some(object);
    }

    /// Record loops reading this binding.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.stats.len()
    }

    /// Paused partitions of this binding's source and the offset each is held at, over every
    /// record loop (a partition belongs to one loop at a time).
    #[must_use]
    pub fn paused_at(&self) -> PausedAt {
        lock(&self.paused_at).iter().flat_map(|p| p.iter().map(|(k, v)| (*k, *v))).collect()
    }

    /// The latency SLAs' p95 record age at the last flush; empty before the first flush that
    /// measured one (or without a latency SLA).
    #[must_use]
    pub fn record_ages(&self) -> Vec<super::telemetry::last_flush::RecordAge> {
        lock(&self.record_ages).clone()
    }

    /// Keeps a flush's record ages (from its window results) for [`Self::record_ages`].
    pub fn remember_record_ages(&self, results: &[contracts::RuleResult]) {
        *lock(&self.record_ages) = super::telemetry::last_flush::record_ages(results);
    }

    /// Publishes record loop `worker`'s paused partitions.
    pub fn set_paused_at(&self, worker: usize, now: PausedAt) {
        if let Some(slot) = lock(&self.paused_at).get_mut(worker) {
            *slot = now;
        }
    }

    /// Asks the record loops holding paused partitions to release their backlog. Returns the
    /// partitions it applies to; none means nothing is paused and nothing was requested.
    pub fn request(&self, action: PendingAction) -> PausedAt {
        let paused = lock(&self.paused_at).clone();
        let mut requests = lock(&self.operator);
        for (slot, held) in requests.iter_mut().zip(&paused) {
            if !held.is_empty() {
                *slot = Some(action);
            }
        }
        paused.into_iter().flatten().collect()
    }

    /// Takes record loop `worker`'s pending operator request.
    pub fn take_request(&self, worker: usize) -> Option<PendingAction> {
        lock(&self.operator).get_mut(worker).and_then(Option::take)
    }

    /// The contract version records are judged by now (it changes on a hot reload).
    #[must_use]
    pub fn contract(&self) -> Arc<CompiledContract> {
        Arc::clone(&self.stats(0).contract)
    }

    /// Hold while taking deltas and flushing them (see the `reload` field).
    pub async fn flush_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reload.lock().await
    }

    /// Switches to another compiled version of the contract without stopping the record loop.
    /// Records checked before the swap keep the version that judged them; records after it
    /// use the new one. When the window rules mean the same slots (thresholds may differ) the
    /// counts gathered so far are kept; otherwise the observers and the breaker's window
    /// start afresh (the breaker state is kept either way). Returns whether the window
    /// restarted.
    pub async fn reload(&self, next: Arc<CompiledContract>) -> bool {
        let _g = self.reload.lock().await;
        let same_slots = {
            // Every shard at once: no record is judged by one version in one loop and
            // another in the next while the shards are swapped.
            let mut held: Vec<_> = self.stats.iter().map(lock).collect();
            let same = held.first().is_some_and(|s| breaker::Layout::tag(&s.contract.rules) == breaker::Layout::tag(&next.rules));
            let (obs0, probe0) = (next.observer(), next.observer());
            for s in &mut held {
                let (mut obs, mut probe) = (obs0.sibling(), probe0.sibling());
                if same {
                    obs.window = s.obs.take_window();
                    obs.drift = std::mem::take(&mut s.obs.drift);
                    probe.window = s.probe.take_window();
                }
                (s.contract, s.obs, s.probe) = (Arc::clone(&next), obs, probe);
            }
            same
        };
        let restarted = self.breaker.reconfigure(next.rules.clone()).await;
        debug_assert_eq!(restarted, !same_slots);
        restarted
    }

    /// Record loop `worker`'s window observers.
    pub fn stats(&self, worker: usize) -> MutexGuard<'_, Stats> {
        lock(&self.stats[worker % self.stats.len()])
    }

    /// Forgets the duplicate rules' seen values (shared by every shard).
    pub fn clear_duplicates(&self) {
        self.stats(0).obs.clear_duplicates();
    }

    /// Takes the deltas of every shard for a flush, merged, with the generation they belong
    /// to (the same in every shard). "No data" rules always see the newest arrival, so
    /// silence longer than the window still counts.
    pub fn take_deltas(&self) -> (WindowState, WindowState, u64) {
        let (mut delta, mut probe, mut generation) = (WindowState::default(), WindowState::default(), 0);
        let last = self.last_arrival_ms.load(Relaxed);
        for (i, shard) in self.stats.iter().enumerate() {
            let mut s = lock(shard);
            if i == 0 {
                let contract = Arc::clone(&s.contract);
                s.obs.arrival(&contract, last);
            }
            delta.merge(&s.obs.take_window());
            probe.merge(&s.probe.take_window());
            generation = s.generation;
            s.generation += 1;
        }
        (delta, probe, generation)
    }

    /// The key's last valid record.
    #[must_use]
    pub fn snapshot(&self, key: &[u8]) -> Option<LastGoodRecord> {
        lock(&self.last_good).index.get(key).map(|e| e.snap.clone())
    }

    /// Whether the key has a last valid record.
    #[must_use]
    pub fn has_snapshot(&self, key: &[u8]) -> bool {
        lock(&self.last_good).index.contains_key(key)
    }

    /// Remembers a key's last valid record; an empty payload (a tombstone) forgets it.
    pub fn remember(&self, key: Vec<u8>, snap: Option<LastGoodRecord>) {
        lock(&self.last_good).remember(key, snap);
    }

    /// Records a key's new last valid record, to be written to `<src>.last-good` by the
    /// writer's next pass.
    pub fn stage(&self, key: &[u8], payload: &[u8], partition: i32, offset: i64, timestamp: Option<i64>) {
        lock(&self.last_good).stage(key, payload, partition, offset, timestamp);
    }

    /// The changed keys' current snapshots, each once, and clears the changes.
    pub fn take_staged(&self) -> Vec<(Vec<u8>, LastGoodRecord)> {
        lock(&self.last_good).take_staged()
    }

    /// Keys in the last-good index.
    #[must_use]
    pub fn last_good_len(&self) -> usize {
        lock(&self.last_good).index.len()
    }
}

/// `workers` shards of one contract version, their observers siblings (one duplicate scope).
fn shards(contract: &Arc<CompiledContract>, workers: usize, generation: u64) -> Box<[Mutex<Stats>]> {
    let (obs, probe) = (contract.observer(), contract.observer());
    (0..workers.max(1)).map(|_| Mutex::new(Stats { contract: Arc::clone(contract), obs: obs.sibling(), probe: probe.sibling(), generation })).collect()
}

impl LastGood {
    fn remember(&mut self, key: Vec<u8>, snap: Option<LastGoodRecord>) {
        match snap {
            Some(snap) => {
                // A rebuilt entry is already in the index topic: not dirty (unless a record
                // staged it meanwhile).
                let dirty = self.index.get(&key).is_some_and(|e| e.dirty);
                self.index.insert(key, Entry { snap, dirty });
            }
            None => {
                self.index.remove(&key);
            }
        }
    }

    /// Called for every valid keyed record, so a known key's buffer is reused rather than
    /// allocated again.
    fn stage(&mut self, key: &[u8], payload: &[u8], partition: i32, offset: i64, timestamp: Option<i64>) {
        if let Some(e) = self.index.get_mut(key) {
            e.snap.payload.clear();
            e.snap.payload.extend_from_slice(payload);
            (e.snap.partition, e.snap.offset, e.snap.timestamp) = (partition, offset, timestamp);
            if !e.dirty {
                e.dirty = true;
                self.dirty.push(key.to_vec());
            }
        } else {
            self.index.insert(key.to_vec(), Entry { snap: LastGoodRecord { payload: payload.to_vec(), partition, offset, timestamp }, dirty: true });
            self.dirty.push(key.to_vec());
        }
    }

    fn take_staged(&mut self) -> Vec<(Vec<u8>, LastGoodRecord)> {
        let Self { index, dirty } = self;
        std::mem::take(dirty)
            .into_iter()
            .filter_map(|k| {
                // A key forgotten and staged again is listed twice: written once.
                let e = index.get_mut(&k).filter(|e| e.dirty)?;
                e.dirty = false;
                let s = e.snap.clone();
                Some((k, s))
            })
            .collect()
    }
}

/// Why a binding cannot take the contract's first schema object by default: it reads Avro
/// and the contract has several objects. The registry admits a subject's Avro schema against
/// the object named like its record, so the first object could judge records by other rules
/// than the ones their schema was admitted under; the binding must say which (`object`).
pub fn ambiguous_object(b: &crate::config::Binding, contract: &contracts::CompiledContract) -> Option<String> {
    (b.format.uses_registry() && b.object.is_none() && contract.objects.len() > 1).then(|| {
        let names: Vec<&str> = contract.objects.iter().map(|o| &**o).collect();
        format!("contract {} {} has {} schema objects ({}); a binding with format: {} must name the one its records carry", contract.id, contract.version, names.len(), names.join(", "), b.format.as_str())
    })
}

/// [`ambiguous_object`] as the startup error of `serve` and `replay`, naming the field.
///
/// # Errors
/// `bindings[i].object` when the binding must name its schema object.
pub fn object_named_if_ambiguous(cfg: &GateConfig, b: &crate::config::Binding, contract: &contracts::CompiledContract) -> Result<(), crate::config::ConfigError> {
    let Some(message) = ambiguous_object(b, contract) else { return Ok(()) };
    Err(crate::config::ConfigError::Invalid { field: crate::config::pattern::field_of(cfg, &b.name, "object"), message })
}

/// `stale_records: divert|quarantine` needs a latency SLA on the binding's object, else no
/// record could ever be judged stale and the setting would silently do nothing.
///
/// # Errors
/// [`crate::config::ConfigError::Invalid`] naming `bindings[i].stale_records`.
pub fn stale_records_judged(cfg: &GateConfig, b: &crate::config::Binding, contract: &contracts::CompiledContract) -> Result<(), crate::config::ConfigError> {
    if b.stale_records == crate::config::StaleRecords::Count || contract.rules.iter().any(|r| r.metric == contracts::MetricKind::StaleRecords) {
        return Ok(());
    }
    Err(crate::config::ConfigError::Invalid {
        field: crate::config::pattern::field_of(cfg, &b.name, "stale_records"),
        message: format!("contract {} has no latency SLA on object {}: add slaProperties latency with element {}.<timestamp property>", contract.id, contract.object, contract.object),
    })
}

/// Warns about rules the binding's probe is too small to judge (`breaker::sizing`).
pub fn warn_undersized_probe(b: &crate::config::Binding, contract: &contracts::CompiledContract) {
    for u in breaker::sizing::undersized(&b.breaker, &contract.rules) {
        tracing::warn!(binding = %b.name, rule = %u.rule, probe_records = b.breaker.probe_records, needed = u.needed, "breaker.probe_records is too small to judge this rule: {}; raise it to {} or more", u.why, u.needed);
    }
}

/// A runtime of `binding` (its YAML) over a one-field contract, for tests of what is built
/// around bindings.
#[cfg(test)]
pub(crate) fn test_runtime(binding: &str, workers: usize) -> BindingRuntime {
    let doc = "apiVersion: v3.1.0\nkind: DataContract\nid: o\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n        required: true\n";
    let model: contracts::Contract = serde_saphyr::from_str(doc).expect("contract parses");
    let compiled = Arc::new(contracts::compile(&model, None).expect("compiles"));
    let binding: Binding = serde_saphyr::from_str(binding).expect("binding");
    let rules = compiled.rules.clone();
    let store = AnyStore::Memory(breaker::MemoryStore::new(binding.breaker.window.clone(), &rules));
    let brk = Breaker::new(binding.breaker.clone(), rules, store, breaker::BreakerOptions::default(), 0).expect("breaker");
    BindingRuntime::new(binding, compiled, brk, 0, workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_avro_binding_names_its_object_when_the_contract_has_several() {
        let one = "apiVersion: v3.1.0\nkind: DataContract\nid: o\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n";
        let two = format!("{one}  - name: refunds\n    properties:\n      - name: id\n        logicalType: string\n");
        let binding = |format: &str, object: Option<&str>| -> crate::config::Binding {
            let object = object.map_or(String::new(), |o| format!("object: {o}\n"));
            serde_saphyr::from_str(&format!("name: b\nsource: s\ncontract: o\nfallback: hold\nformat: {format}\n{object}")).expect("binding parses")
        };
        // (contract, format, object named, refused)
        let cases = [
            (two.as_str(), "avro", None, true),
            (two.as_str(), "avro", Some("refunds"), false),
            (two.as_str(), "json", None, false),
            (one, "avro", None, false),
        ];
        for (doc, format, object, refused) in cases {
            let model: contracts::Contract = serde_saphyr::from_str(doc).expect("contract parses");
            let compiled = contracts::compile(&model, object).expect("compiles");
            let why = ambiguous_object(&binding(format, object), &compiled);
            assert_eq!(why.is_some(), refused, "{format} {object:?} {why:?}");
            if let Some(why) = why {
                assert!(why.contains("orders, refunds") && why.contains("format: avro"), "{why}");
            }
        }
        // As a startup error: the field of the binding at fault.
        let cfg: GateConfig = serde_saphyr::from_str("kafka:\n  brokers: b:9092\ncontracts:\n  dir: c\nbindings:\n  - name: a\n    source: a\n    contract: o\n    fallback: hold\n  - name: b\n    source: b\n    contract: o\n    fallback: hold\n    format: avro\n").expect("config parses");
        let model: contracts::Contract = serde_saphyr::from_str(&two).expect("contract parses");
        let compiled = contracts::compile(&model, None).expect("compiles");
        assert!(object_named_if_ambiguous(&cfg, &cfg.bindings[0], &compiled).is_ok());
        let err = object_named_if_ambiguous(&cfg, &cfg.bindings[1], &compiled).expect_err("ambiguous").to_string();
        assert!(err.contains("bindings[1].object"), "{err}");
    }

    enum Op {
        Stage(&'static str, &'static str, i64),
        Forget(&'static str),
        Rebuilt(&'static str, &'static str),
    }

    fn snap(payload: &str, offset: i64) -> LastGoodRecord {
        LastGoodRecord { payload: payload.as_bytes().to_vec(), partition: 0, offset, timestamp: None }
    }

    #[test]
    fn each_changed_key_is_written_once_with_its_newest_record() {
        use Op::{Forget, Rebuilt, Stage};
        // (case, operations, what the next pass writes: key, payload, offset)
        type Case = (&'static str, Vec<Op>, Vec<(&'static str, &'static str, i64)>);
        let cases: Vec<Case> = vec![
            ("nothing staged", vec![], vec![]),
            ("one key staged thrice: its newest record once", vec![Stage("a", "1", 1), Stage("a", "2", 2), Stage("a", "3", 3)], vec![("a", "3", 3)]),
            ("keys in first-change order", vec![Stage("b", "1", 1), Stage("a", "2", 2), Stage("b", "3", 3)], vec![("b", "3", 3), ("a", "2", 2)]),
            ("a forgotten key is not written", vec![Stage("a", "1", 1), Forget("a")], vec![]),
            ("forgotten and staged again: written once", vec![Stage("a", "1", 1), Forget("a"), Stage("a", "2", 2)], vec![("a", "2", 2)]),
            ("a rebuilt key is already in the topic", vec![Rebuilt("a", "0")], vec![]),
            ("staged, then rebuilt over: still owed", vec![Stage("a", "1", 1), Rebuilt("a", "0")], vec![("a", "0", 0)]),
            ("a shorter record replaces a longer one whole", vec![Stage("a", "long", 1), Stage("a", "x", 2)], vec![("a", "x", 2)]),
        ];
        for (name, ops, want) in cases {
            let mut lg = LastGood::default();
            for op in ops {
                match op {
                    Stage(k, p, o) => lg.stage(k.as_bytes(), p.as_bytes(), 0, o, None),
                    Forget(k) => lg.remember(k.as_bytes().to_vec(), None),
                    Rebuilt(k, p) => lg.remember(k.as_bytes().to_vec(), Some(snap(p, 0))),
                }
            }
            let got: Vec<(Vec<u8>, Vec<u8>, i64)> = lg.take_staged().into_iter().map(|(k, s)| (k, s.payload, s.offset)).collect();
            let want: Vec<(Vec<u8>, Vec<u8>, i64)> = want.into_iter().map(|(k, p, o)| (k.as_bytes().to_vec(), p.as_bytes().to_vec(), o)).collect();
            assert_eq!(got, want, "{name}");
            assert!(lg.take_staged().is_empty(), "{name}: a second pass writes nothing new");
        }
    }

    #[test]
    fn a_flush_takes_every_loops_shard_and_requests_reach_the_loops_that_hold_pauses() {
        let b = super::test_runtime("name: b\nsource: s\ncontract: o\nfallback: pause\n", 3);
        assert_eq!(b.workers(), 3);
        // (worker, records it checks)
        for (worker, n) in [(0, 2), (1, 0), (2, 5)] {
            let mut s = b.stats(worker);
            let contract = Arc::clone(&s.contract);
            for _ in 0..n {
                contract.check(&serde_json::json!({"id": "x"}), &mut s.obs);
            }
        }
        let (delta, _, generation) = b.take_deltas();
        assert_eq!((delta.records, generation), (7, 1), "one delta of every shard");
        assert!((0..3).all(|w| b.stats(w).generation == 2 && b.stats(w).obs.window.records == 0), "every shard moved to the next generation");
        // Partitions 0 and 3 paused in loop 0, partition 5 in loop 2: a request reaches those two.
        b.set_paused_at(0, PausedAt::from([(0, 10), (3, 4)]));
        b.set_paused_at(2, PausedAt::from([(5, 7)]));
        assert_eq!(b.request(PendingAction::Skip), PausedAt::from([(0, 10), (3, 4), (5, 7)]));
        let taken: Vec<Option<PendingAction>> = (0..3).map(|w| b.take_request(w)).collect();
        assert_eq!(taken, vec![Some(PendingAction::Skip), None, Some(PendingAction::Skip)]);
        assert_eq!(b.take_request(0), None, "taken once");
    }
}
