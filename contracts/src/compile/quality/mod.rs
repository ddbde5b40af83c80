//! ODCS quality rules, SLA properties and gate custom properties → window rules and probes.

use crate::error::Problem;
use crate::model::{custom, CustomProperty, LogicalType, Property, Quality};
use crate::threshold::{Operator, Unit};
use crate::window::{Enforcement, MetricKind, WindowRule};
use serde_json::Value;

mod sla;

pub use sla::{sla_rules, unit_seconds};

/// How one record feeds one window rule.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Null or absent at `path`.
    Null { path: Vec<String> },
    /// Absent, null, or equal to one of `tokens`.
    Missing { path: Vec<String>, tokens: Vec<Value> },
    /// Present, non-null, and outside `valid` / not matching `pattern`.
    Invalid { path: Vec<String>, valid: Option<ValidSet>, pattern: Option<regex::Regex> },
    /// The tuple of values at `paths` was seen before; `slot` indexes the observer's sets.
    Duplicate { paths: Vec<Vec<String>>, slot: usize },
    /// Every record counts.
    RowCount,
    /// Records failing a blocking check.
    RecordFailures,
    /// Payloads that did not decode.
    DecodeErrors,
    /// Newest date/timestamp at `path`.
    Freshness { path: Vec<String>, format: crate::compile::schema::TimeFormat },
    /// Whether the date/timestamp at `path` is older than `max_age_ms` at the observer's clock.
    Stale { path: Vec<String>, format: crate::compile::schema::TimeFormat, max_age_ms: i64 },
    /// The age of the date/timestamp at `path` at the observer's clock, into an age histogram.
    Age { path: Vec<String>, format: crate::compile::schema::TimeFormat },
    /// Newest arrival time, fed by the streaming shell.
    NoData,
    /// Histogram of the value at `path`.
    Distribution { path: Vec<String>, bins: Bins },
}

/// `validValues`, with string members hashed: a new enum value is checked in constant time.
#[derive(Debug, Clone)]
pub struct ValidSet {
    /// The values as written, for messages.
    pub listed: Vec<Value>,
    strings: std::collections::HashSet<String, foldhash::fast::RandomState>,
    others: Vec<Value>,
}

impl ValidSet {
    /// Builds the set.
    #[must_use]
    pub fn new(listed: Vec<Value>) -> Self {
        let strings = listed.iter().filter_map(|v| v.as_str().map(String::from)).collect();
        let others = listed.iter().filter(|v| !v.is_string()).cloned().collect();
        Self { listed, strings, others }
    }

    /// Whether `v` is one of the valid values.
    #[must_use]
    pub fn contains(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => self.strings.contains(s.as_str()),
            other => self.others.iter().any(|o| same_value(o, other)),
        }
    }
}

/// JSON equality with numbers compared by value, not by how they are written: `2.0` is the
/// listed `2` (JSON has one number type, and the gate already reads `2.0` as an integer).
#[must_use]
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Two integers compare exactly (past 2^53 an f64 would merge neighbours); a float on
        // either side compares as f64.
        (Value::Number(x), Value::Number(y)) if !x.is_f64() && !y.is_f64() => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y),
        _ => a == b,
    }
}

/// Bins of a distribution profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Bins {
    /// Ascending edges e1..ek: bins (-inf,e1), [e1,e2) … [ek,inf).
    Numeric(Vec<f64>),
    /// Categories c1..ck, then one bin for anything else.
    Categorical(Vec<String>),
}

impl Bins {
    /// Number of bins.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Numeric(e) => e.len() + 1,
            Self::Categorical(c) => c.len() + 1,
        }
    }

    /// Whether there are no edges or categories (a single bin).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 1
    }

    /// Bin of a value; `None` for nulls and values of the wrong kind.
    #[must_use]
    pub fn bin_of(&self, v: &Value) -> Option<usize> {
        match self {
            Self::Numeric(edges) => {
                let x = v.as_f64()?;
                Some(edges.partition_point(|e| *e <= x))
            }
            Self::Categorical(cats) => {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some(cats.iter().position(|c| *c == s).unwrap_or(cats.len()))
            }
        }
    }
}

/// Rules and probes of one object, in the same order.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Window rules.
    pub rules: Vec<WindowRule>,
    /// One probe per rule.
    pub probes: Vec<Probe>,
    /// Problems found.
    pub problems: Vec<Problem>,
    dup_slots: usize,
    ids: std::collections::HashSet<String>,
}

impl Compiled {
    /// Number of duplicate-detection sets the observer must keep.
    #[must_use]
    pub fn dup_slots(&self) -> usize {
        self.dup_slots
    }

    fn push(&mut self, mut rule: WindowRule, probe: Probe) {
        // A rule that a single bad record breaches whatever else the window holds (rows, only
        // zero accepted) is enforced per record: the record is quarantined instead of leaking
        // while the window fills. Its window value then only trips a breaker if the rule asked
        // for it (`gateTripOnAny`). Any other rule is judged on the window or batch only.
        let countable = matches!(rule.metric, MetricKind::NullValues | MetricKind::MissingValues | MetricKind::InvalidValues | MetricKind::DuplicateValues);
        let blocking = countable && rule.unit == Unit::Rows && rule.operator.accepts_only_zero();
        rule.enforcement = match (blocking, rule.enforcement) {
            (_, Enforcement::Report) => Enforcement::Report,
            (false, _) => Enforcement::Window,
            (true, Enforcement::RecordAndWindow) => Enforcement::RecordAndWindow,
            (true, _) => Enforcement::Record,
        };
        self.rules.push(rule);
        self.probes.push(probe);
    }

    fn unique_id(&mut self, wanted: Option<&str>, derived: String, path: &str) -> String {
        if let Some(id) = wanted {
            if !self.ids.insert(id.to_string()) {
                self.problems.push(Problem::error(format!("{path}.id"), format!("duplicate rule id {id:?}")));
            }
            return id.to_string();
        }
        let mut id = derived.clone();
        let mut n = 2;
        while !self.ids.insert(id.clone()) {
            id = format!("{derived}#{n}");
            n += 1;
        }
        id
    }
}

/// The schema object rules are compiled for: a rule or SLA naming a property is checked
/// against it, so that a rule on a property the object lacks (one that could never fire) is a
/// lint error instead of a silent no-op.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The object's name.
    pub object: &'a str,
    /// Its properties.
    pub properties: &'a [Property],
    /// Names of every schema object of the contract (an SLA element may name another one).
    pub objects: &'a [&'a str],
    /// Whether the object allows fields outside its properties (`gateAllowExtraFields`): a
    /// rule may then read a field it does not declare.
    pub allow_extra: bool,
}

impl Scope<'_> {
    /// The property at a dotted path (`a.b`: `b` inside object property `a`).
    #[must_use]
    pub fn find(&self, dotted: &str) -> Option<&Property> {
        let mut props = self.properties;
        let mut found = None;
        for name in dotted.split('.') {
            let p = props.iter().find(|p| p.name == name)?;
            props = &p.properties;
            found = Some(p);
        }
        found
    }
}

const QUALITY_KEYS: &[&str] = &[
    "id", "authoritativeDefinitions", "businessImpact", "customProperties", "description", "dimension", "method", "name",
    "schedule", "scheduler", "severity", "tags", "type", "unit", "metric", "rule", "arguments", "mustBe", "mustNotBe",
    "mustBeGreaterThan", "mustBeGreaterOrEqualTo", "mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween",
    "mustNotBeBetween", "query", "engine", "implementation",
];

/// Compiles the quality rules of one property (`field` is its dotted name, `keys` its path).
pub fn property_rules(out: &mut Compiled, p: &Property, keys: &[String], path: &str, in_array: bool, scope: &Scope<'_>) {
    let field = keys.join(".");
    for (i, q) in p.quality.iter().enumerate() {
        let qpath = format!("{path}.quality[{i}]");
        if in_array {
            out.problems.push(Problem::not_enforced(qpath, "quality rules on fields inside arrays are not enforced"));
            continue;
        }
        quality_rule(out, q, Some((&field, keys, p)), scope, &qpath);
    }
    if p.unique && !in_array {
        let id = out.unique_id(None, format!("{field}.unique"), path);
        let slot = out.dup_slots;
        out.dup_slots += 1;
        out.push(
            WindowRule { id, metric: MetricKind::DuplicateValues, field: Some(field.clone()), operator: Operator::MustBe(0.0), unit: Unit::Rows, baseline: None, enforcement: Enforcement::Window },
            Probe::Duplicate { paths: vec![keys.to_vec()], slot },
        );
    }
    distribution(out, &p.custom_properties, p.logical_type, keys, path, in_array);
}

/// Compiles one quality rule; `target` is the property it sits on, `None` at object level.
pub fn quality_rule(out: &mut Compiled, q: &Quality, target: Option<(&str, &[String], &Property)>, scope: &Scope<'_>, qpath: &str) {
    for k in q.other.keys() {
        if !QUALITY_KEYS.contains(&k.as_str()) {
            out.problems.push(Problem::error(format!("{qpath}.{k}"), format!("unknown key in a quality rule; known keys: {}", QUALITY_KEYS.join(", "))));
        }
    }
    let kind = q.kind.as_deref().unwrap_or("library");
    match kind {
        "library" => {}
        "sql" | "custom" | "text" => {
            let named = q.id.as_deref().or(q.other.get("name").and_then(Value::as_str)).map_or(String::new(), |n| format!("rule {n:?}: "));
            out.problems.push(Problem::not_enforced(qpath, format!("{named}quality rule of type {kind} is not enforced by the gate (it cannot run {})", match kind { "sql" => "SQL", "custom" => "vendor engines", _ => "prose" })));
            return;
        }
        other => {
            out.problems.push(Problem::error(format!("{qpath}.type"), format!("unknown quality type {other:?}; expected library, sql, custom or text")));
            return;
        }
    }
    let Some(metric_name) = q.metric.as_deref().or(q.rule.as_deref()) else {
        out.problems.push(Problem::error(qpath, "a library rule needs a metric"));
        return;
    };
    let metric = match metric_name {
        "nullValues" => MetricKind::NullValues,
        "missingValues" => MetricKind::MissingValues,
        "invalidValues" => MetricKind::InvalidValues,
        "duplicateValues" => MetricKind::DuplicateValues,
        "rowCount" => MetricKind::RowCount,
        other => {
            out.problems.push(Problem::error(format!("{qpath}.metric"), format!("unknown metric {other:?}; expected nullValues, missingValues, invalidValues, duplicateValues or rowCount")));
            return;
        }
    };
    let Some(operator) = operator_of(q, qpath, &mut out.problems) else { return };
    let unit = match q.unit.as_deref() {
        None | Some("rows") => Unit::Rows,
        Some("percent") => Unit::Percent,
        Some(u) => {
            out.problems.push(Problem::error(format!("{qpath}.unit"), format!("unit {u:?} is not supported; expected rows or percent")));
            return;
        }
    };
    if metric == MetricKind::RowCount && unit == Unit::Percent {
        out.problems.push(Problem::error(format!("{qpath}.unit"), "rowCount is a number of rows; unit percent makes no sense"));
        return;
    }
    let args = q.arguments.clone().unwrap_or_default();
    let (field, keys) = match target {
        Some((f, k, _)) => (Some(f.to_string()), k.to_vec()),
        None => (None, Vec::new()),
    };
    let probe = match metric {
        MetricKind::RowCount => Probe::RowCount,
        MetricKind::NullValues | MetricKind::MissingValues | MetricKind::InvalidValues if target.is_none() => {
            out.problems.push(Problem::error(qpath, format!("{metric_name} needs a property: put the rule under the property it measures")));
            return;
        }
        MetricKind::NullValues => Probe::Null { path: keys.clone() },
        MetricKind::MissingValues => {
            let tokens = match args.get("missingValues") {
                None => vec![Value::Null],
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    out.problems.push(Problem::error(format!("{qpath}.arguments.missingValues"), "expected a list of values"));
                    return;
                }
            };
            Probe::Missing { path: keys.clone(), tokens }
        }
        MetricKind::InvalidValues => {
            let valid = match args.get("validValues") {
                None => None,
                Some(Value::Array(a)) => Some(a.clone()),
                Some(_) => {
                    out.problems.push(Problem::error(format!("{qpath}.arguments.validValues"), "expected a list of values"));
                    return;
                }
            };
            let pattern = match args.get("pattern") {
                None => None,
                Some(Value::String(p)) => match regex::Regex::new(p) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        out.problems.push(Problem::error(format!("{qpath}.arguments.pattern"), format!("invalid regular expression: {e}")));
                        return;
                    }
                },
                Some(_) => {
                    out.problems.push(Problem::error(format!("{qpath}.arguments.pattern"), "expected a string"));
                    return;
                }
            };
            if valid.is_none() && pattern.is_none() {
                out.problems.push(Problem::error(format!("{qpath}.arguments"), "invalidValues needs validValues or pattern"));
                return;
            }
            Probe::Invalid { path: keys.clone(), valid: valid.map(ValidSet::new), pattern }
        }
        MetricKind::DuplicateValues => {
            let paths = if let Some(props) = args.get("properties") {
                match props.as_array().map(|a| a.iter().map(|v| v.as_str().map(|s| s.split('.').map(String::from).collect::<Vec<_>>())).collect::<Option<Vec<_>>>()) {
                    Some(Some(p)) if !p.is_empty() => p,
                    _ => {
                        out.problems.push(Problem::error(format!("{qpath}.arguments.properties"), "expected a non-empty list of property names"));
                        return;
                    }
                }
            } else if target.is_some() {
                vec![keys.clone()]
            } else {
                out.problems.push(Problem::error(format!("{qpath}.arguments"), "an object-level duplicateValues rule needs arguments.properties"));
                return;
            };
            let absent: Vec<String> = paths.iter().map(|p| p.join(".")).filter(|p| scope.find(p).is_none()).collect();
            if !absent.is_empty() {
                let rule = q.id.as_deref().map_or_else(|| format!("{}.duplicateValues", field.as_deref().unwrap_or("$")), String::from);
                let names = absent.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
                let at = format!("{qpath}.arguments.properties");
                if !scope.allow_extra {
                    // No accepted record carries the field: the rule compares nothing there.
                    out.problems.push(Problem::error(at, format!("rule {rule} names {names}, not a property of object {:?}: it could never fire", scope.object)));
                    return;
                }
                out.problems.push(Problem::warning(at, format!("rule {rule} names {names}, not a property of object {:?}; it reads the field only when a record carries it as an extra field", scope.object)));
            }
            let slot = out.dup_slots;
            out.dup_slots += 1;
            Probe::Duplicate { paths, slot }
        }
        _ => return,
    };
    let derived = format!("{}.{metric_name}", field.as_deref().unwrap_or("$"));
    let id = out.unique_id(q.id.as_deref(), derived, qpath);
    let opted = trip_on_any(out, q, qpath);
    let enforcement = if opted { Enforcement::RecordAndWindow } else { Enforcement::Window };
    out.push(WindowRule { id, metric, field, operator, unit, baseline: None, enforcement }, probe);
    // `push` decides whether one record breaches the rule; the opt-in only means something then.
    if opted && out.rules.last().is_some_and(|r| r.enforcement == Enforcement::Window) {
        out.problems.push(Problem::warning(format!("{qpath}.customProperties[gateTripOnAny]"), "gateTripOnAny applies to rules one record breaches (unit rows, tolerance 0); this rule is judged on its window value anyway"));
    }
}

/// The rule's `gateTripOnAny` custom property: a zero-tolerance rule whose first hit also
/// trips a streaming breaker, instead of being judged by the rate of record failures.
fn trip_on_any(out: &mut Compiled, q: &Quality, qpath: &str) -> bool {
    let Some(props) = q.other.get("customProperties") else { return false };
    let Ok(props) = serde_json::from_value::<Vec<CustomProperty>>(props.clone()) else {
        out.problems.push(Problem::error(format!("{qpath}.customProperties"), "expected a list of {property, value}"));
        return false;
    };
    match custom(&props, "gateTripOnAny") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            out.problems.push(Problem::error(format!("{qpath}.customProperties[gateTripOnAny]"), format!("expected true or false, found {v}")));
            false
        }
    }
}

fn operator_of(q: &Quality, qpath: &str, problems: &mut Vec<Problem>) -> Option<Operator> {
    let mut found = Vec::new();
    let num = |v: &Value, key: &str, problems: &mut Vec<Problem>| -> Option<f64> {
        let n = v.as_f64();
        if n.is_none() {
            problems.push(Problem::error(format!("{qpath}.{key}"), format!("expected a number, found {v}")));
        }
        n
    };
    let pair = |v: &[f64], key: &str, problems: &mut Vec<Problem>| -> Option<(f64, f64)> {
        match v {
            [lo, hi] if lo <= hi => Some((*lo, *hi)),
            [_, _] => {
                problems.push(Problem::error(format!("{qpath}.{key}"), "expected the smaller number first"));
                None
            }
            _ => {
                problems.push(Problem::error(format!("{qpath}.{key}"), format!("expected two numbers, found {}", v.len())));
                None
            }
        }
    };
    if let Some(v) = &q.must_be {
        found.push(num(v, "mustBe", problems).map(Operator::MustBe));
    }
    if let Some(v) = &q.must_not_be {
        found.push(num(v, "mustNotBe", problems).map(Operator::MustNotBe));
    }
    if let Some(v) = q.must_be_greater_than {
        found.push(Some(Operator::MustBeGreaterThan(v)));
    }
    if let Some(v) = q.must_be_greater_or_equal_to {
        found.push(Some(Operator::MustBeGreaterOrEqualTo(v)));
    }
    if let Some(v) = q.must_be_less_than {
        found.push(Some(Operator::MustBeLessThan(v)));
    }
    if let Some(v) = q.must_be_less_or_equal_to {
        found.push(Some(Operator::MustBeLessOrEqualTo(v)));
    }
    if let Some(v) = &q.must_be_between {
        found.push(pair(v, "mustBeBetween", problems).map(|(a, b)| Operator::MustBeBetween(a, b)));
    }
    if let Some(v) = &q.must_not_be_between {
        found.push(pair(v, "mustNotBeBetween", problems).map(|(a, b)| Operator::MustNotBeBetween(a, b)));
    }
    match found.as_slice() {
        [one] => *one,
        [] => {
            problems.push(Problem::error(qpath, format!("a library rule needs exactly one operator ({})", Operator::KEYS.join(", "))));
            None
        }
        _ => {
            problems.push(Problem::error(qpath, "a library rule takes exactly one operator; found several"));
            None
        }
    }
}

/// Parses `gateDistribution` on a property.
fn distribution(out: &mut Compiled, props: &[CustomProperty], ty: Option<LogicalType>, keys: &[String], path: &str, in_array: bool) {
    let Some(v) = custom(props, "gateDistribution") else { return };
    let dpath = format!("{path}.customProperties[gateDistribution]");
    if in_array {
        out.problems.push(Problem::not_enforced(dpath, "distribution checks inside arrays are not enforced"));
        return;
    }
    let f = |k: &str| v.get(k);
    let Some(max_psi) = f("maxPsi").and_then(Value::as_f64) else {
        out.problems.push(Problem::error(format!("{dpath}.maxPsi"), "expected a number (the largest population stability index allowed, e.g. 0.2)"));
        return;
    };
    let bins = if let Some(edges) = f("edges") {
        let Some(edges) = edges.as_array().and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>()) else {
            out.problems.push(Problem::error(format!("{dpath}.edges"), "expected a list of numbers"));
            return;
        };
        if edges.windows(2).any(|w| w[0] >= w[1]) || edges.is_empty() {
            out.problems.push(Problem::error(format!("{dpath}.edges"), "expected strictly ascending numbers"));
            return;
        }
        if !matches!(ty, Some(LogicalType::Number | LogicalType::Integer)) {
            out.problems.push(Problem::error(format!("{dpath}.edges"), "numeric edges need logicalType number or integer"));
            return;
        }
        Bins::Numeric(edges)
    } else if let Some(cats) = f("categories") {
        let Some(cats) = cats.as_array().map(|a| a.iter().map(|c| c.as_str().map_or_else(|| c.to_string(), String::from)).collect::<Vec<_>>()) else {
            out.problems.push(Problem::error(format!("{dpath}.categories"), "expected a list"));
            return;
        };
        Bins::Categorical(cats)
    } else {
        out.problems.push(Problem::error(dpath, "expected edges (numeric) or categories"));
        return;
    };
    let Some(baseline) = f("baseline").and_then(Value::as_array).and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>()) else {
        out.problems.push(Problem::error(format!("{dpath}.baseline"), "expected a list of shares; record one with `contract-gate contracts baseline`"));
        return;
    };
    if baseline.len() != bins.len() {
        out.problems.push(Problem::error(format!("{dpath}.baseline"), format!("expected {} shares (one per bin, the last for values beyond the edges or other categories), found {}", bins.len(), baseline.len())));
        return;
    }
    let field = keys.join(".");
    let id = out.unique_id(None, format!("{field}.distribution"), path);
    out.push(
        WindowRule { id, metric: MetricKind::Distribution, field: Some(field), operator: Operator::MustBeLessOrEqualTo(max_psi), unit: Unit::Score, baseline: Some(baseline), enforcement: Enforcement::Window },
        Probe::Distribution { path: keys.to_vec(), bins },
    );
}

/// A percentage among the gate's custom properties (object level first, then contract level):
/// `default` when absent, `None` (with an error naming `<qpath>.customProperties[<key>]`) when
/// it is not a number between 0 and 100.
pub fn percent_setting(out: &mut Compiled, contract_props: &[CustomProperty], object_props: &[CustomProperty], key: &str, default: f64, qpath: &str) -> Option<f64> {
    match custom(object_props, key).or_else(|| custom(contract_props, key)) {
        None => Some(default),
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=100.0).contains(&x) => Some(x),
            _ => {
                out.problems.push(Problem::error(format!("{qpath}.customProperties[{key}]"), format!("expected a percentage between 0 and 100, found {v}")));
                None
            }
        },
    }
}

/// Adds the gate's own object-level rules: record failure and decode error rates.
pub fn gate_rules(out: &mut Compiled, contract_props: &[CustomProperty], object_props: &[CustomProperty], qpath: &str) {
    for (key, metric, id, default) in [
        ("gateMaxRecordFailurePercent", MetricKind::RecordFailures, "$.recordFailures", 5.0),
        ("gateMaxDecodeErrorPercent", MetricKind::DecodeErrors, "$.decodeErrors", 1.0),
    ] {
        let Some(limit) = percent_setting(out, contract_props, object_props, key, default, qpath) else { continue };
        let id = out.unique_id(None, id.to_string(), qpath);
        let probe = if metric == MetricKind::RecordFailures { Probe::RecordFailures } else { Probe::DecodeErrors };
        out.push(WindowRule { id, metric, field: None, operator: Operator::MustBeLessOrEqualTo(limit), unit: Unit::Percent, baseline: None, enforcement: Enforcement::Window }, probe);
    }
}
