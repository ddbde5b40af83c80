//! Structured difference between two versions of a contract, with every change marked
//! breaking or not.
//!
//! "Breaking" is judged from the producer's side: a change is breaking when a record (or a
//! window of records) that the old version accepted can be refused by the new one — a field
//! removed or made required, a type narrowed, allowed values removed, a range, length or
//! pattern tightened, a rule added or its threshold made stricter, extra fields disallowed.
//! Removing a field is breaking too, from the consumer's side: readers of the validated topic
//! relied on it. A breaking change needs a major version bump ([`is_major_bump`]).
//!
//! Fields and objects are matched by name, quality rules by their rule id (the ODCS `id`, else
//! the derived `field.metric` id the gate uses everywhere else), so reordering a contract is
//! not a change. Paths are by name too: `flights.dep_time.logicalTypeOptions.maximum`,
//! `flights.dep_time.quality[dep_time.nullValues]`, `flights.quality[$.recordFailures]`.

use crate::compile::compile;
use crate::model::{custom, Contract, LogicalType, LogicalTypeOptions, Property, Quality, SchemaObject};
use crate::window::{MetricKind, WindowRule};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub mod changelog;
mod verdict;

pub use verdict::{compare, is_major_bump, requires_major, Comparison};

/// What aspect of the contract changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// A schema object appeared.
    ObjectAdded,
    /// A schema object disappeared.
    ObjectRemoved,
    /// A property appeared.
    FieldAdded,
    /// A property disappeared.
    FieldRemoved,
    /// `required` changed.
    Required,
    /// `unique` changed.
    Unique,
    /// `logicalType` changed.
    LogicalType,
    /// A lower or upper bound (`minimum`, `maximum`, exclusive forms) changed.
    Range,
    /// `minLength`/`maxLength`, `minItems`/`maxItems` or `minProperties`/`maxProperties` changed.
    Length,
    /// `pattern` changed.
    Pattern,
    /// `format` changed.
    Format,
    /// `multipleOf` changed.
    MultipleOf,
    /// Another type option (`uniqueItems`, `required` keys of an object, `timezone`) changed.
    TypeOption,
    /// The `validValues` of an `invalidValues` rule changed.
    ValidValues,
    /// Other arguments of a rule (`pattern`, `missingValues`, `properties`) changed.
    RuleArguments,
    /// A window rule appeared.
    RuleAdded,
    /// A window rule disappeared.
    RuleRemoved,
    /// A rule's threshold changed.
    Threshold,
    /// A rule's unit changed (rows ↔ percent).
    Unit,
    /// A distribution baseline changed.
    Baseline,
    /// Fields the contract does not name became allowed or disallowed.
    ExtraFields,
}

/// Which part of the contract a change belongs to (the sections of a changelog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Area {
    /// Schema objects added or removed.
    Objects,
    /// Properties added or removed, `required`, `unique`.
    Properties,
    /// Logical types.
    Types,
    /// `logicalTypeOptions` and whether unnamed fields are allowed.
    Constraints,
    /// Quality rules (and the gate's own window rules).
    Quality,
    /// Rules from `slaProperties` (latency, freshness, frequency).
    Sla,
}

impl Area {
    /// Every area, in changelog order.
    pub const ALL: [Self; 6] = [Self::Objects, Self::Properties, Self::Types, Self::Constraints, Self::Quality, Self::Sla];

    /// The area of a change of `kind`; rule changes start as quality and SLA rules are
    /// re-marked where the rule's metric is known.
    fn of(kind: ChangeKind) -> Self {
        use ChangeKind as K;
        match kind {
            K::ObjectAdded | K::ObjectRemoved => Self::Objects,
            K::FieldAdded | K::FieldRemoved | K::Required | K::Unique => Self::Properties,
            K::LogicalType => Self::Types,
            K::Range | K::Length | K::Pattern | K::Format | K::MultipleOf | K::TypeOption | K::ExtraFields => Self::Constraints,
            K::ValidValues | K::RuleArguments | K::RuleAdded | K::RuleRemoved | K::Threshold | K::Unit | K::Baseline => Self::Quality,
        }
    }

    /// The area of a compiled window rule: the SLA metrics come only from `slaProperties`.
    fn of_rule(r: &WindowRule) -> Self {
        if matches!(r.metric, MetricKind::Freshness | MetricKind::StaleRecords | MetricKind::RecordAge | MetricKind::NoData) {
            Self::Sla
        } else {
            Self::Quality
        }
    }
}

/// One difference between two versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Where, by name: `object.field[.sub][].aspect`.
    pub path: String,
    /// What changed.
    pub kind: ChangeKind,
    /// Which part of the contract it is in.
    pub area: Area,
    /// Whether data the old version accepted may be refused now (or a field readers relied
    /// on is gone).
    pub breaking: bool,
    /// A sentence saying what changed.
    pub message: String,
    /// Old value, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// New value, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// Every change from one version to the next, in document order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// The changes.
    pub changes: Vec<Change>,
}

impl Diff {
    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.breaking)
    }

    /// Whether any change is breaking.
    #[must_use]
    pub fn is_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.breaking)
    }

    fn push(&mut self, path: impl Into<String>, kind: ChangeKind, breaking: bool, message: impl Into<String>, from: Option<Value>, to: Option<Value>) {
        self.changes.push(Change { path: path.into(), kind, area: Area::of(kind), breaking, message: message.into(), from, to });
    }

    /// Marks the change just pushed as being about window rule `r`.
    fn about_rule(&mut self, r: &WindowRule) {
        if let Some(c) = self.changes.last_mut() {
            c.area = Area::of_rule(r);
        }
    }
}

/// The changes from `old` to `new`. Both should be the same contract id; the diff does not
/// check that (the registry does).
#[must_use]
pub fn diff(old: &Contract, new: &Contract) -> Diff {
    let mut d = Diff::default();
    for o in &old.schema {
        match new.schema.iter().find(|n| n.name == o.name) {
            None => d.push(&o.name, ChangeKind::ObjectRemoved, true, format!("schema object {:?} removed", o.name), None, None),
            Some(n) => object(&mut d, old, o, new, n),
        }
    }
    for n in &new.schema {
        if !old.schema.iter().any(|o| o.name == n.name) {
            d.push(&n.name, ChangeKind::ObjectAdded, false, format!("schema object {:?} added", n.name), None, None);
        }
    }
    d
}

fn object(d: &mut Diff, oc: &Contract, o: &SchemaObject, nc: &Contract, n: &SchemaObject) {
    let extra = |c: &Contract, s: &SchemaObject| custom(&s.custom_properties, "gateAllowExtraFields").or_else(|| custom(&c.custom_properties, "gateAllowExtraFields")).and_then(Value::as_bool).unwrap_or(false);
    let (oe, ne) = (extra(oc, o), extra(nc, n));
    if oe != ne {
        let msg = if ne { "fields the contract does not name are now allowed" } else { "fields the contract does not name are no longer allowed" };
        d.push(format!("{}.customProperties[gateAllowExtraFields]", o.name), ChangeKind::ExtraFields, oe && !ne, msg, Some(json!(oe)), Some(json!(ne)));
    }
    properties(d, &o.name, &o.properties, &n.properties, !ne);
    quality_arguments(d, &o.name, &collect_quality(&o.properties, &o.quality), &collect_quality(&n.properties, &n.quality));
    rules(d, &o.name, oc, nc);
}

/// Compares properties matched by name. `strict` says unknown fields fail records (then a
/// removed field also breaks producers that still send it).
fn properties(d: &mut Diff, base: &str, old: &[Property], new: &[Property], strict: bool) {
    for o in old {
        let path = format!("{base}.{}", o.name);
        match new.iter().find(|n| n.name == o.name) {
            None => {
                let why = if strict { "readers lose it, and records that still carry it fail as unknown fields" } else { "readers lose it" };
                d.push(&path, ChangeKind::FieldRemoved, true, format!("field {:?} removed: {why}", o.name), None, None);
            }
            Some(n) => property(d, &path, o, n, strict),
        }
    }
    for n in new {
        if !old.iter().any(|o| o.name == n.name) {
            let path = format!("{base}.{}", n.name);
            if n.required {
                d.push(&path, ChangeKind::FieldAdded, true, format!("required field {:?} added: records without it now fail", n.name), None, Some(json!({"required": true})));
            } else {
                d.push(&path, ChangeKind::FieldAdded, false, format!("optional field {:?} added", n.name), None, None);
            }
        }
    }
}

fn property(d: &mut Diff, path: &str, o: &Property, n: &Property, strict: bool) {
    if o.required != n.required {
        let msg = if n.required { "made required: null or absent values now fail" } else { "made optional: readers may now see nulls" };
        d.push(format!("{path}.required"), ChangeKind::Required, n.required, msg, Some(json!(o.required)), Some(json!(n.required)));
    }
    if o.unique != n.unique {
        let msg = if n.unique { "made unique: repeated values now fail" } else { "no longer unique" };
        d.push(format!("{path}.unique"), ChangeKind::Unique, n.unique, msg, Some(json!(o.unique)), Some(json!(n.unique)));
    }
    if o.logical_type != n.logical_type {
        let breaking = !widens(o.logical_type, n.logical_type);
        let show = |t: Option<LogicalType>| t.map_or_else(|| "any".to_string(), |t| t.as_str().to_string());
        let how = if breaking { "narrowed or changed: values of the old type may now fail" } else { "widened" };
        d.push(format!("{path}.logicalType"), ChangeKind::LogicalType, breaking, format!("type {} → {}: {how}", show(o.logical_type), show(n.logical_type)), Some(json!(show(o.logical_type))), Some(json!(show(n.logical_type))));
    }
    let default = LogicalTypeOptions::default();
    let oo = o.logical_type_options.as_ref().unwrap_or(&default);
    let no = n.logical_type_options.as_ref().unwrap_or(&default);
    options(d, &format!("{path}.logicalTypeOptions"), oo, no);
    properties(d, path, &o.properties, &n.properties, strict);
    match (&o.items, &n.items) {
        (Some(oi), Some(ni)) => property(d, &format!("{path}[]"), oi, ni, strict),
        (None, Some(ni)) if ni.logical_type.is_some() || !ni.properties.is_empty() => {
            d.push(format!("{path}.items"), ChangeKind::LogicalType, true, "array items now have a definition: items that do not fit it fail", None, None);
        }
        (Some(_), None) => d.push(format!("{path}.items"), ChangeKind::LogicalType, false, "array item definition removed", None, None),
        _ => {}
    }
}

/// Whether every value of type `old` is a value of type `new`.
fn widens(old: Option<LogicalType>, new: Option<LogicalType>) -> bool {
    use LogicalType as T;
    match (old, new) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a == b || matches!((a, b), (T::Integer, T::Number) | (T::Date | T::Timestamp | T::Time, T::String)),
    }
}

/// A bound compared on one scale: numbers as numbers, dates and timestamps as epoch ms,
/// anything else as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Scalar {
    Num(f64),
    Text(String),
}

fn scalar(v: &Value) -> Scalar {
    if let Some(x) = v.as_f64() {
        return Scalar::Num(x);
    }
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s) {
        #[allow(clippy::cast_precision_loss)]
        return Scalar::Num(t.timestamp_millis() as f64);
    }
    if let Some(t) = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
        #[allow(clippy::cast_precision_loss)]
        return Scalar::Num(t.and_utc().timestamp_millis() as f64);
    }
    Scalar::Text(s)
}

/// Effective bound from the inclusive and the exclusive form: (value, exclusive, source).
fn bound(incl: Option<&Value>, excl: Option<&Value>, lower: bool) -> Option<(Scalar, bool, Value)> {
    let a = incl.map(|v| (scalar(v), false, v.clone()));
    let b = excl.map(|v| (scalar(v), true, v.clone()));
    match (a, b) {
        (Some(a), Some(b)) => {
            // The tighter of the two applies.
            let b_tighter = if lower { b.0 >= a.0 } else { b.0 <= a.0 };
            Some(if b_tighter { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// Whether bound `n` refuses something `o` accepted. `None` old bound: anything was allowed.
fn tighter(o: Option<&(Scalar, bool, Value)>, n: Option<&(Scalar, bool, Value)>, lower: bool) -> bool {
    match (o, n) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some((ov, oex, _)), Some((nv, nex, _))) => match ov.partial_cmp(nv) {
            // Incomparable (number vs text): any change counts as tightening.
            None => ov != nv || oex != nex,
            Some(std::cmp::Ordering::Equal) => *nex && !*oex,
            Some(std::cmp::Ordering::Less) => lower,
            Some(std::cmp::Ordering::Greater) => !lower,
        },
    }
}

fn options(d: &mut Diff, path: &str, o: &LogicalTypeOptions, n: &LogicalTypeOptions) {
    for (lower, name) in [(true, "minimum"), (false, "maximum")] {
        let (ob, nb) = if lower {
            (bound(o.minimum.as_ref(), o.exclusive_minimum.as_ref(), true), bound(n.minimum.as_ref(), n.exclusive_minimum.as_ref(), true))
        } else {
            (bound(o.maximum.as_ref(), o.exclusive_maximum.as_ref(), false), bound(n.maximum.as_ref(), n.exclusive_maximum.as_ref(), false))
        };
        let same = match (&ob, &nb) {
            (Some(a), Some(b)) => a.0 == b.0 && a.1 == b.1,
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        let breaking = tighter(ob.as_ref(), nb.as_ref(), lower);
        let show = |b: &Option<(Scalar, bool, Value)>| b.as_ref().map(|(_, ex, v)| json!({ if *ex { if lower { "exclusiveMinimum" } else { "exclusiveMaximum" } } else { name }: v }));
        let word = if breaking { "tightened" } else { "relaxed" };
        let fmt = |b: &Option<(Scalar, bool, Value)>| b.as_ref().map_or_else(|| "none".to_string(), |(_, ex, v)| format!("{}{}", if *ex { if lower { ">" } else { "<" } } else if lower { ">=" } else { "<=" }, v));
        d.push(format!("{path}.{name}"), ChangeKind::Range, breaking, format!("{name} {word}: {} → {}", fmt(&ob), fmt(&nb)), show(&ob), show(&nb));
    }
    let counts: [(&str, Option<u64>, Option<u64>, bool); 6] = [
        ("minLength", o.min_length, n.min_length, true),
        ("maxLength", o.max_length, n.max_length, false),
        ("minItems", o.min_items, n.min_items, true),
        ("maxItems", o.max_items, n.max_items, false),
        ("minProperties", o.min_properties, n.min_properties, true),
        ("maxProperties", o.max_properties, n.max_properties, false),
    ];
    for (name, ov, nv, lower) in counts {
        if ov == nv {
            continue;
        }
        let breaking = match (ov, nv) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => if lower { b > a } else { b < a },
        };
        let show = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
        d.push(format!("{path}.{name}"), ChangeKind::Length, breaking, format!("{name} {}: {} → {}", if breaking { "tightened" } else { "relaxed" }, show(ov), show(nv)), ov.map(|v| json!(v)), nv.map(|v| json!(v)));
    }
    text_option(d, path, "pattern", ChangeKind::Pattern, o.pattern.as_deref(), n.pattern.as_deref());
    text_option(d, path, "format", ChangeKind::Format, o.format.as_deref(), n.format.as_deref());
    if o.multiple_of != n.multiple_of {
        // Every multiple of a is a multiple of b when a is a multiple of b.
        let breaking = match (o.multiple_of, n.multiple_of) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b == 0.0 || ((a / b).round() - a / b).abs() > 1e-9,
        };
        d.push(format!("{path}.multipleOf"), ChangeKind::MultipleOf, breaking, format!("multipleOf {}", if breaking { "tightened" } else { "relaxed" }), o.multiple_of.map(|v| json!(v)), n.multiple_of.map(|v| json!(v)));
    }
    if o.unique_items.unwrap_or(false) != n.unique_items.unwrap_or(false) {
        let now = n.unique_items.unwrap_or(false);
        d.push(format!("{path}.uniqueItems"), ChangeKind::TypeOption, now, if now { "array items must now be distinct" } else { "array items may now repeat" }, Some(json!(!now)), Some(json!(now)));
    }
    let (ok, nk) = (o.required.clone().unwrap_or_default(), n.required.clone().unwrap_or_default());
    let added: Vec<&String> = nk.iter().filter(|k| !ok.contains(k)).collect();
    let removed: Vec<&String> = ok.iter().filter(|k| !nk.contains(k)).collect();
    if !added.is_empty() {
        d.push(format!("{path}.required"), ChangeKind::TypeOption, true, format!("object keys now required: {added:?}"), Some(json!(ok)), Some(json!(nk)));
    }
    if !removed.is_empty() {
        d.push(format!("{path}.required"), ChangeKind::TypeOption, false, format!("object keys no longer required: {removed:?}"), Some(json!(ok)), Some(json!(nk)));
    }
    if o.timezone != n.timezone || o.default_timezone != n.default_timezone {
        d.push(format!("{path}.timezone"), ChangeKind::TypeOption, true, "timezone handling changed: timestamps may be read differently", Some(json!([o.timezone, o.default_timezone])), Some(json!([n.timezone, n.default_timezone])));
    }
}

/// `pattern` or `format`: adding or changing one is breaking (no regular expression inclusion
/// test is attempted), removing one is not.
fn text_option(d: &mut Diff, path: &str, name: &str, kind: ChangeKind, o: Option<&str>, n: Option<&str>) {
    if o == n {
        return;
    }
    let (breaking, msg) = match (o, n) {
        (Some(_), None) => (false, format!("{name} removed")),
        (None, Some(x)) => (true, format!("{name} {x:?} added: values that do not fit it now fail")),
        (Some(a), Some(b)) => (true, format!("{name} changed from {a:?} to {b:?}: values that fit the old one may now fail")),
        (None, None) => return,
    };
    d.push(format!("{path}.{name}"), kind, breaking, msg, o.map(|v| json!(v)), n.map(|v| json!(v)));
}

/// Library quality rules by rule id (the same ids `compile` gives), with the path of the
/// property they sit on.
fn collect_quality(props: &[Property], object_rules: &[Quality]) -> BTreeMap<String, (String, Quality)> {
    fn walk(out: &mut BTreeMap<String, (String, Quality)>, props: &[Property], keys: &[String]) {
        for p in props {
            let mut k = keys.to_vec();
            k.push(p.name.clone());
            let field = k.join(".");
            for q in &p.quality {
                insert(out, q, &field);
            }
            walk(out, &p.properties, &k);
        }
    }
    fn insert(out: &mut BTreeMap<String, (String, Quality)>, q: &Quality, field: &str) {
        if !matches!(q.kind.as_deref(), None | Some("library")) {
            return;
        }
        let metric = q.metric.as_deref().or(q.rule.as_deref()).unwrap_or("?");
        let id = q.id.clone().unwrap_or_else(|| {
            let derived = format!("{field}.{metric}");
            let mut id = derived.clone();
            let mut n = 2;
            while out.contains_key(&id) {
                id = format!("{derived}#{n}");
                n += 1;
            }
            id
        });
        out.insert(id, (field.to_string(), q.clone()));
    }
    let mut out = BTreeMap::new();
    walk(&mut out, props, &[]);
    for q in object_rules {
        insert(&mut out, q, "$");
    }
    out
}

fn rule_path(object: &str, field: Option<&str>, id: &str) -> String {
    match field {
        Some(f) if f != "$" => format!("{object}.{f}.quality[{id}]"),
        _ => format!("{object}.quality[{id}]"),
    }
}

/// Arguments of rules present in both versions: `validValues`, `pattern`, `missingValues`,
/// `properties`.
fn quality_arguments(d: &mut Diff, object: &str, old: &BTreeMap<String, (String, Quality)>, new: &BTreeMap<String, (String, Quality)>) {
    let empty = serde_json::Map::new();
    for (id, (field, oq)) in old {
        let Some((_, nq)) = new.get(id) else { continue };
        let path = rule_path(object, Some(field), id);
        let oa = oq.arguments.as_ref().unwrap_or(&empty);
        let na = nq.arguments.as_ref().unwrap_or(&empty);
        let list = |m: &serde_json::Map<String, Value>, k: &str| m.get(k).and_then(Value::as_array).cloned();
        // validValues: a value outside the list counts as invalid, so removing one tightens.
        match (list(oa, "validValues"), list(na, "validValues")) {
            (Some(ov), Some(nv)) => {
                let removed: Vec<&Value> = ov.iter().filter(|v| !nv.contains(v)).collect();
                let added: Vec<&Value> = nv.iter().filter(|v| !ov.contains(v)).collect();
                if !removed.is_empty() {
                    d.push(format!("{path}.arguments.validValues"), ChangeKind::ValidValues, true, format!("allowed values removed: {}", join(&removed)), Some(json!(removed)), None);
                }
                if !added.is_empty() {
                    d.push(format!("{path}.arguments.validValues"), ChangeKind::ValidValues, false, format!("allowed values added: {}", join(&added)), None, Some(json!(added)));
                }
            }
            (None, Some(nv)) => d.push(format!("{path}.arguments.validValues"), ChangeKind::ValidValues, true, "a list of allowed values was added", None, Some(json!(nv))),
            (Some(ov), None) => d.push(format!("{path}.arguments.validValues"), ChangeKind::ValidValues, false, "the list of allowed values was removed", Some(json!(ov)), None),
            (None, None) => {}
        }
        let text = |m: &serde_json::Map<String, Value>| m.get("pattern").and_then(Value::as_str).map(str::to_string);
        text_option(d, &format!("{path}.arguments"), "pattern", ChangeKind::RuleArguments, text(oa).as_deref(), text(na).as_deref());
        // missingValues: more tokens counted as missing tightens.
        let (om, nm) = (list(oa, "missingValues").unwrap_or_default(), list(na, "missingValues").unwrap_or_default());
        let more: Vec<&Value> = nm.iter().filter(|v| !om.contains(v)).collect();
        let fewer: Vec<&Value> = om.iter().filter(|v| !nm.contains(v)).collect();
        if !more.is_empty() {
            d.push(format!("{path}.arguments.missingValues"), ChangeKind::RuleArguments, true, format!("more values count as missing: {}", join(&more)), Some(json!(om)), Some(json!(nm)));
        } else if !fewer.is_empty() {
            d.push(format!("{path}.arguments.missingValues"), ChangeKind::RuleArguments, false, format!("fewer values count as missing: {}", join(&fewer)), Some(json!(om)), Some(json!(nm)));
        }
        // properties of a multi-field duplicate rule: a sub-tuple repeats more often.
        let (op, np) = (list(oa, "properties").unwrap_or_default(), list(na, "properties").unwrap_or_default());
        if op != np {
            let looser = op.iter().all(|v| np.contains(v));
            d.push(format!("{path}.arguments.properties"), ChangeKind::RuleArguments, !looser, if looser { "duplicates are judged on more properties" } else { "duplicates are judged on other or fewer properties" }, Some(json!(op)), Some(json!(np)));
        }
    }
}

fn join(vs: &[&Value]) -> String {
    vs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Window rules as compiled (quality, SLA and gate rules alike), compared by id.
fn rules(d: &mut Diff, object: &str, oc: &Contract, nc: &Contract) {
    // A reported-only rule (an SLA's record-age percentile) judges nothing: its reference
    // moves with the SLA, which is diffed already.
    let compiled = |c: &Contract| compile(c, Some(object)).ok().map(|c| c.rules.into_iter().filter(|r| r.enforcement != crate::window::Enforcement::Report).collect::<Vec<_>>());
    let (Some(or), Some(nr)) = (compiled(oc), compiled(nc)) else {
        // A version that does not compile never gets this far in the registry; a diff of one
        // by hand still shows the schema changes above.
        return;
    };
    let by_id = |rs: &[WindowRule]| rs.iter().map(|r| (r.id.clone(), r.clone())).collect::<BTreeMap<_, _>>();
    let (om, nm) = (by_id(&or), by_id(&nr));
    for r in &or {
        let path = rule_path(object, r.field.as_deref(), &r.id);
        let Some(n) = nm.get(&r.id) else {
            d.push(path, ChangeKind::RuleRemoved, false, format!("rule {} ({} {} {}) removed", r.id, r.metric.as_str(), r.operator, r.unit), Some(rule_json(r)), None);
            d.about_rule(r);
            continue;
        };
        if n.metric != r.metric || n.field != r.field {
            d.push(&path, ChangeKind::Threshold, true, format!("rule {} now measures {} on {} instead of {} on {}", r.id, n.metric.as_str(), n.field.as_deref().unwrap_or("the record"), r.metric.as_str(), r.field.as_deref().unwrap_or("the record")), Some(rule_json(r)), Some(rule_json(n)));
            d.about_rule(n);
            continue;
        }
        if n.unit != r.unit {
            d.push(format!("{path}.unit"), ChangeKind::Unit, true, format!("rule {} unit {} → {}: thresholds are not comparable", r.id, r.unit, n.unit), Some(json!(r.unit)), Some(json!(n.unit)));
            d.about_rule(r);
        } else if n.operator != r.operator {
            let stricter = n.operator.is_stricter_than(&r.operator);
            let word = if stricter { "stricter" } else { "looser" };
            d.push(format!("{path}.threshold"), ChangeKind::Threshold, stricter, format!("rule {} threshold made {word}: {} {} → {} {}", r.id, r.operator, r.unit, n.operator, n.unit), Some(json!(r.operator)), Some(json!(n.operator)));
            d.about_rule(r);
        }
        if n.baseline != r.baseline {
            d.push(format!("{path}.baseline"), ChangeKind::Baseline, false, format!("rule {} baseline re-recorded", r.id), r.baseline.as_ref().map(|b| json!(b)), n.baseline.as_ref().map(|b| json!(b)));
            d.about_rule(r);
        }
    }
    for n in &nr {
        if !om.contains_key(&n.id) {
            let path = rule_path(object, n.field.as_deref(), &n.id);
            d.push(path, ChangeKind::RuleAdded, true, format!("rule {} ({} {} {}) added: data that passed may now breach it", n.id, n.metric.as_str(), n.operator, n.unit), None, Some(rule_json(n)));
            d.about_rule(n);
        }
    }
}

fn rule_json(r: &WindowRule) -> Value {
    json!({ "id": r.id, "metric": r.metric.as_str(), "field": r.field, "operator": r.operator, "unit": r.unit })
}

#[cfg(test)]
mod tests;
