//! Checking one record: a verdict listing every violation, and the window deltas it feeds.

mod expected;
mod rule_ids;

pub use rule_ids::schema_rule_ids;
use rule_ids::{keyword_rule, schema_rule};

use crate::compile::fast::Walk;
use crate::compile::quality::Probe;
use crate::compile::CompiledContract;
use crate::timefmt::Misfit;
use crate::window::{Accumulator, WindowState};
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Lookups held on the stack during a check; contracts reading more fields use the heap.
const STACK_LOOKUPS: usize = 32;

/// Longest observed value kept in a violation, in characters.
pub const MAX_VALUE_CHARS: usize = 80;

/// One broken rule in one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Rule id (`dep_time.logicalType`, `tailnum.invalidValues`, an ODCS `id`, …).
    pub rule: Arc<str>,
    /// Field path (`a.b[2].c`); empty for the record itself.
    pub field: String,
    /// Observed value, JSON-encoded and truncated.
    pub value: String,
    /// What the contract expects.
    pub expected: String,
    /// Whether the record fails because of it. Non-blocking violations count towards a
    /// tolerant window rule (e.g. `invalidValues < 5 percent`) without failing the record.
    pub blocking: bool,
}

impl Violation {
    /// The violation as one sentence (`amount is -1, expected at least 0`): a quarantine
    /// reason, a report's example.
    #[must_use]
    pub fn sentence(&self) -> String {
        sentence(&self.field, &self.value, &self.expected)
    }
}

/// `field is value, expected …`; an empty field is the record itself.
#[must_use]
pub fn sentence(field: &str, value: &str, expected: &str) -> String {
    format!("{} is {value}, expected {expected}", if field.is_empty() { "record" } else { field })
}

/// The result of checking one record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every violation, blocking or not.
    pub violations: Vec<Violation>,
    /// The record's event timestamp was older than the contract's latency SLA when it was
    /// judged (only with an observer clock, [`Observer::set_clock`]). Not a failure by itself:
    /// a binding may route stale records on their own (`stale_records`).
    pub stale: bool,
}

impl Verdict {
    /// True when no violation is blocking: the record may flow downstream.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        !self.violations.iter().any(|v| v.blocking)
    }

    /// Distinct rule ids, in order of first appearance.
    #[must_use]
    pub fn rule_ids(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.violations.iter().map(|v| &*v.rule).filter(|r| seen.insert(*r)).collect()
    }
}

/// Per-stream state a contract's checks update: the window delta, duplicate sets, drift.
#[derive(Debug, Clone)]
pub struct Observer {
    /// Window counts accumulated since the last [`Observer::take_window`].
    pub window: WindowState,
    /// Unknown fields seen, by dotted name.
    pub drift: BTreeMap<String, u64>,
    /// Seen-sets of the duplicate rules, one per slot, shared with the observer's siblings
    /// ([`Observer::sibling`]): records judged on several threads still see each other's
    /// values, so a duplicate is one whichever thread reads it.
    dups: Arc<[Mutex<SeenSet>]>,
    /// "Now" for per-record staleness; `None`: records are not judged for staleness.
    clock: Option<i64>,
}

impl Observer {
    /// Sets the time records are judged at (milliseconds since the Unix epoch): a streaming
    /// shell sets it to each record's arrival, a batch to its `--now`.
    pub fn set_clock(&mut self, now_ms: i64) {
        self.clock = Some(now_ms);
    }

    /// Takes the accumulated window, leaving an empty one (the flush of a delta).
    pub fn take_window(&mut self) -> WindowState {
        let empty = WindowState { records: 0, accumulators: self.window.accumulators.iter().map(empty_like).collect() };
        std::mem::replace(&mut self.window, empty)
    }

    /// Forgets seen values (the duplicate scope ended, e.g. the window rolled).
    pub fn clear_duplicates(&mut self) {
        self.dups.iter().for_each(|s| lock(s).clear());
    }

    /// A fresh observer of the same stream for another thread: its own window and drift,
    /// the same duplicate seen-sets.
    #[must_use]
    pub fn sibling(&self) -> Self {
        let empty = WindowState { records: 0, accumulators: self.window.accumulators.iter().map(empty_like).collect() };
        Self { window: empty, drift: BTreeMap::new(), dups: Arc::clone(&self.dups), clock: None }
    }

    /// Records an arrival at `ms` for `noData` rules.
    pub fn arrival(&mut self, contract: &CompiledContract, ms: i64) {
        for (i, p) in contract.probes.iter().enumerate() {
            if matches!(p, Probe::NoData) {
                self.window.accumulators[i].merge(&Accumulator::Newest { ms: Some(ms) });
            }
        }
    }
}

/// Digests of the value tuples one duplicate rule has seen.
type SeenSet = HashSet<u64, foldhash::fast::RandomState>;

/// Locks a seen-set; a thread that panicked while holding it left a set that is still a set.
fn lock(m: &Mutex<SeenSet>) -> std::sync::MutexGuard<'_, SeenSet> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn empty_like(a: &Accumulator) -> Accumulator {
    match a {
        Accumulator::Count { .. } => Accumulator::Count { hits: 0, total: 0 },
        Accumulator::Newest { .. } => Accumulator::Newest { ms: None },
        Accumulator::Histogram { bins } => Accumulator::Histogram { bins: vec![0; bins.len()] },
    }
}

fn get<'v>(rec: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(rec, |v, k| v.get(k))
}

/// Truncates a value's JSON form for reports and headers.
#[must_use]
pub fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= MAX_VALUE_CHARS {
        return s;
    }
    let cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
    format!("{cut}… ({} bytes)", s.len())
}

fn hash_into<H: Hasher>(v: &Value, h: &mut H) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.as_f64().map(f64::to_bits)).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(a) => {
            4u8.hash(h);
            a.iter().for_each(|x| hash_into(x, h));
        }
        Value::Object(m) => {
            5u8.hash(h);
            m.iter().for_each(|(k, x)| {
                k.hash(h);
                hash_into(x, h);
            });
        }
    }
}

/// JSON pointer `/a/0/b` → `a[0].b`.
fn pointer_to_field(ptr: &str) -> String {
    let mut out = String::new();
    for seg in ptr.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

impl CompiledContract {
    /// A fresh observer for this contract.
    #[must_use]
    pub fn observer(&self) -> Observer {
        Observer { window: WindowState::new(&self.rules), drift: BTreeMap::new(), dups: (0..self.dup_slots).map(|_| Mutex::new(SeenSet::default())).collect(), clock: None }
    }

    /// Checks one decoded record, feeding `obs`. Every violation is listed.
    pub fn check(&self, rec: &Value, obs: &mut Observer) -> Verdict {
        self.check_with(rec, Vec::new(), obs)
    }

    /// [`CompiledContract::check`] of a record that already broke the rules in `prior`, found
    /// outside the record's value (its key): they lead the verdict and a blocking one makes
    /// the record count as a record failure in the window.
    pub fn check_with(&self, rec: &Value, prior: Vec<Violation>, obs: &mut Observer) -> Verdict {
        let mut verdict = Verdict { violations: prior, stale: false };
        // Values the probes read, looked up once; on the stack for the usual handful of fields.
        let mut stack = [None; STACK_LOOKUPS];
        let mut heap = Vec::new();
        let vals: &mut [Option<&Value>] = match stack.get_mut(..self.lookups.len()) {
            Some(s) => s,
            None => {
                heap.resize(self.lookups.len(), None);
                &mut heap
            }
        };
        let walk = match &self.fast {
            Some(fast) => fast.walk(rec, vals),
            None => {
                self.lookup(rec, vals);
                Walk { valid: false, unknown: true }
            }
        };
        for &i in &self.nested {
            vals[i] = get(rec, &self.lookups[i]);
        }
        if !walk.valid && !self.validator.is_valid(rec) {
            for e in self.validator.iter_errors(rec) {
                self.push_schema_error(&e, &mut verdict, obs);
            }
        }
        for pc in &self.post {
            let Some(Value::String(s)) = get(rec, &pc.path) else { continue };
            let ms = match pc.format.read(s) {
                Ok(ms) => ms,
                Err(Misfit::Format) => {
                    if pc.check_format {
                        verdict.violations.push(Violation { rule: format!("{}.format", pc.field).into(), field: pc.field.clone(), value: show(&Value::String(s.clone())), expected: format!("a value in the format {}", pc.format), blocking: true });
                    }
                    continue; // otherwise the schema's format check already reported it
                }
                Err(m @ (Misfit::ZoneMissing | Misfit::ZoneCarried)) => {
                    let expected = if m == Misfit::ZoneMissing { "a value with its offset (timezone: true)" } else { "a value without an offset (timezone: false)" };
                    verdict.violations.push(Violation { rule: format!("{}.timezone", pc.field).into(), field: pc.field.clone(), value: show(&Value::String(s.clone())), expected: expected.into(), blocking: true });
                    continue;
                }
            };
            let low = pc.min.is_some_and(|(m, ex)| if ex { ms <= m } else { ms < m });
            let high = pc.max.is_some_and(|(m, ex)| if ex { ms >= m } else { ms > m });
            if low || high {
                verdict.violations.push(Violation { rule: pc.rule.as_str().into(), field: pc.field.clone(), value: show(&Value::String(s.clone())), expected: pc.expected.clone(), blocking: true });
            }
        }
        if self.allow_extra && walk.unknown {
            if let Value::Object(m) = rec {
                for k in m.keys() {
                    if !self.known_top.contains(k) {
                        *obs.drift.entry(k.clone()).or_insert(0) += 1;
                    }
                }
            }
        }
        obs.window.records += 1;
        let mut failure_slot = None;
        // The age the stale probe just read, for the age probe of the same SLA that follows
        // it: one timestamp parse per record.
        let mut last_age: Option<(&[String], i64)> = None;
        for (i, probe) in self.probes.iter().enumerate() {
            let acc = &mut obs.window.accumulators[i];
            let at = &self.probe_at[i];
            let val = |n: usize| at.get(n).and_then(|j| vals.get(*j).copied().flatten());
            let hit: Option<(String, String, Value)> = match probe {
                Probe::Null { path } => match val(0) {
                    None | Some(Value::Null) => Some((path.join("."), "a non-null value".into(), Value::Null)),
                    _ => None,
                },
                Probe::Missing { path, tokens } => match val(0) {
                    None => Some((path.join("."), "a value".into(), Value::Null)),
                    Some(v) if v.is_null() || tokens.iter().any(|t| crate::compile::quality::same_value(t, v)) => Some((path.join("."), format!("a value other than {}", Value::Array(tokens.clone())), v.clone())),
                    _ => None,
                },
                Probe::Invalid { path, valid, pattern } => match val(0) {
                    None | Some(Value::Null) => None,
                    Some(v) => {
                        let bad_set = valid.as_ref().is_some_and(|set| !set.contains(v));
                        let bad_pat = pattern.as_ref().is_some_and(|re| match v {
                            Value::String(s) => !re.is_match(s),
                            other => !re.is_match(&other.to_string()),
                        });
                        (bad_set || bad_pat).then(|| {
                            let exp = match (valid, pattern) {
                                (Some(set), None) => format!("one of {}", show(&Value::Array(set.listed.clone()))),
                                (None, Some(re)) => format!("a value matching {}", re.as_str()),
                                (Some(set), Some(re)) => format!("one of {}, matching {}", show(&Value::Array(set.listed.clone())), re.as_str()),
                                (None, None) => String::new(), // lint refuses the rule
                            };
                            (path.join("."), exp, v.clone())
                        })
                    }
                },
                Probe::Duplicate { paths, slot } => {
                    if (0..paths.len()).all(|n| val(n).is_none_or(Value::is_null)) {
                        None
                    } else {
                        // A fast keyed hash: seen-sets hold 64-bit digests, one per distinct tuple.
                        let mut h = self.dup_hasher.build_hasher();
                        (0..paths.len()).for_each(|n| hash_into(val(n).unwrap_or(&Value::Null), &mut h));
                        let fresh = obs.dups.get(*slot).is_some_and(|s| lock(s).insert(h.finish()));
                        (!fresh).then(|| {
                            let fields: Vec<String> = paths.iter().map(|p| p.join(".")).collect();
                            let shown = if paths.len() == 1 { val(0).cloned().unwrap_or(Value::Null) } else { Value::Array((0..paths.len()).map(|n| val(n).cloned().unwrap_or(Value::Null)).collect()) };
                            (fields.join(","), "a value not seen before".into(), shown)
                        })
                    }
                }
                Probe::RowCount | Probe::DecodeErrors | Probe::NoData => {
                    if let Accumulator::Count { total, .. } = acc {
                        *total += 1;
                    }
                    continue;
                }
                Probe::RecordFailures => {
                    failure_slot = Some(i);
                    continue;
                }
                Probe::Freshness { path, format } => {
                    let _ = path;
                    if let Some(ms) = val(0).and_then(Value::as_str).and_then(|s| format.parse(s)) {
                        acc.merge(&Accumulator::Newest { ms: Some(ms) });
                    }
                    continue;
                }
                Probe::Stale { path, format, max_age_ms } => {
                    let (Some(now), Some(ms)) = (obs.clock, val(0).and_then(Value::as_str).and_then(|s| format.parse(s))) else { continue };
                    let Accumulator::Count { hits, total } = acc else { continue };
                    *total += 1;
                    let age = now.saturating_sub(ms);
                    last_age = Some((path, age));
                    if age > *max_age_ms {
                        *hits += 1;
                        verdict.stale = true;
                        #[allow(clippy::cast_precision_loss)]
                        let (age_s, max_s) = (age as f64 / 1000.0, *max_age_ms as f64 / 1000.0);
                        verdict.violations.push(Violation { rule: self.rule_ids[i].clone(), field: path.join("."), value: format!("{age_s} s old"), expected: format!("at most {max_s} s old (latency SLA)"), blocking: false });
                    }
                    continue;
                }
                Probe::Age { path, format } => {
                    let age = match last_age {
                        Some((p, age)) if p == path.as_slice() => Some(age),
                        _ => obs.clock.zip(val(0).and_then(Value::as_str).and_then(|s| format.parse(s))).map(|(now, ms)| now.saturating_sub(ms)),
                    };
                    if let (Some(age), Accumulator::Histogram { bins }) = (age, acc) {
                        crate::window::age::count(bins, age);
                    }
                    continue;
                }
                Probe::Distribution { path, bins } => {
                    let _ = path;
                    if let (Some(b), Accumulator::Histogram { bins: counts }) = (val(0).and_then(|v| bins.bin_of(v)), acc) {
                        if let Some(c) = counts.get_mut(b) {
                            *c += 1;
                        }
                    }
                    continue;
                }
            };
            if let Accumulator::Count { hits, total } = acc {
                *total += 1;
                if hit.is_some() {
                    *hits += 1;
                }
            }
            if let Some((field, expected, value)) = hit {
                verdict.violations.push(Violation { rule: self.rule_ids[i].clone(), field, value: show(&value), expected, blocking: self.rules[i].enforcement.per_record() });
            }
        }
        if let Some(i) = failure_slot {
            if let Accumulator::Count { hits, total } = &mut obs.window.accumulators[i] {
                *total += 1;
                if !verdict.is_valid() {
                    *hits += 1;
                }
            }
        }
        verdict
    }

    /// The top-level values the probes read when there is no fast walk: one merge pass over
    /// the record's keys (both sides sorted).
    fn lookup<'v>(&self, rec: &'v Value, vals: &mut [Option<&'v Value>]) {
        if let Value::Object(m) = rec {
            let mut want = self.top_sorted.iter().peekable();
            'keys: for (k, v) in m {
                while let Some((key, idx)) = want.peek() {
                    match key.as_str().cmp(k.as_str()) {
                        std::cmp::Ordering::Less => {
                            want.next();
                        }
                        std::cmp::Ordering::Equal => {
                            vals[*idx] = Some(v);
                            want.next();
                            continue 'keys;
                        }
                        std::cmp::Ordering::Greater => continue 'keys,
                    }
                }
                break;
            }
        }
    }

    /// Counts a payload that could not be decoded: a record in the window, a decode error and
    /// a record failure.
    pub fn decode_error(&self, obs: &mut Observer) {
        obs.window.records += 1;
        for (i, probe) in self.probes.iter().enumerate() {
            if let Accumulator::Count { hits, total } = &mut obs.window.accumulators[i] {
                *total += 1;
                if matches!(probe, Probe::DecodeErrors | Probe::RecordFailures) {
                    *hits += 1;
                }
            }
        }
    }

    fn push_schema_error(&self, e: &jsonschema::ValidationError<'_>, verdict: &mut Verdict, obs: &mut Observer) {
        let instance_field = pointer_to_field(&e.instance_path().to_string());
        let (schema_field, keyword) = schema_rule(&e.schema_path().to_string());
        let value = e.instance();
        let (rule, field, expected, shown) = match e.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().map_or_else(|| property.to_string(), String::from);
                let f = if schema_field.is_empty() { name } else { format!("{schema_field}.{name}") };
                let fi = if instance_field.is_empty() { property.as_str().unwrap_or_default().to_string() } else { format!("{instance_field}.{}", property.as_str().unwrap_or_default()) };
                (format!("{f}.required"), fi, "the field to be present".to_string(), "absent".to_string())
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let f = if instance_field.is_empty() { name.clone() } else { format!("{instance_field}.{name}") };
                    *obs.drift.entry(f.clone()).or_insert(0) += 1;
                    let shown = value.get(name).map_or_else(String::new, show);
                    verdict.violations.push(Violation {
                        rule: format!("{}extraFields", if schema_field.is_empty() { "$.".to_string() } else { format!("{schema_field}.") }).into(),
                        field: f,
                        value: shown,
                        expected: "no field outside the contract".into(),
                        blocking: true,
                    });
                }
                return;
            }
            ValidationErrorKind::Type { .. } if value.is_null() && self.required.contains(&schema_field) => {
                (format!("{schema_field}.required"), instance_field, "a non-null value".to_string(), "null".to_string())
            }
            _ => {
                let kw = keyword_rule(&keyword);
                let expected = expected::expected(e.kind(), || {
                    // The crate's message starts with the value itself; keep what follows it.
                    let msg = e.to_string();
                    msg.strip_prefix(&value.to_string()).map_or(msg.clone(), |s| s.trim_start().to_string())
                });
                (format!("{schema_field}.{kw}"), instance_field, expected, show(value))
            }
        };
        verdict.violations.push(Violation { rule: rule.into(), field, value: shown, expected, blocking: true });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_table() {
        assert_eq!(pointer_to_field("/a/0/b"), "a[0].b");
        assert_eq!(pointer_to_field(""), "");
        assert_eq!(schema_rule("/properties/dep_time/type"), ("dep_time".into(), "type".into()));
        assert_eq!(schema_rule("/properties/a/items/properties/b/minimum"), ("a[].b".into(), "minimum".into()));
        assert_eq!(schema_rule("/properties/a/required"), ("a".into(), "required".into()));
        assert_eq!(schema_rule("/required"), (String::new(), "required".into()));
        assert_eq!(schema_rule("/properties/x/type/0"), ("x".into(), "type".into()));
    }

    #[test]
    fn prior_violations_lead_the_verdict_and_count_as_record_failures() {
        let model: crate::Contract = serde_saphyr::from_str(include_str!("../../examples/flights/flights.odcs.yaml")).expect("contract parses");
        let c = crate::compile(&model, None).expect("compiles");
        let valid: Value = serde_json::from_str(include_str!("../../examples/flights/sample.jsonl").lines().next().expect("a sample line")).expect("json");
        let prior = |blocking| Violation { rule: "$.key.pattern".into(), field: "key".into(), value: "\"x\"".into(), expected: "a key".into(), blocking };
        let failures = |obs: &Observer| {
            let i = c.rules.iter().position(|r| r.id == "$.recordFailures").expect("rule");
            match &obs.window.accumulators[i] {
                crate::window::Accumulator::Count { hits, total } => (*hits, *total),
                other => panic!("{other:?}"),
            }
        };
        // (prior violations, valid, rule ids, record failures counted)
        let cases = [(vec![], true, vec![], (0, 1)), (vec![prior(true)], false, vec!["$.key.pattern"], (1, 1)), (vec![prior(false)], true, vec!["$.key.pattern"], (0, 1))];
        for (before, want_valid, ids, want_failures) in cases {
            let mut obs = c.observer();
            let verdict = c.check_with(&valid, before, &mut obs);
            assert_eq!((verdict.is_valid(), verdict.rule_ids()), (want_valid, ids));
            assert_eq!(failures(&obs), want_failures);
        }
    }
}
