//! The built-in scenarios: each turns a step into a [`Fault`], a blast radius and a default
//! hypothesis, reading from the contract which field to break and what the gate should do.

use super::faults::Fault;
use super::hypothesis::{Expect, Hypothesis};
use super::plan::Step;
use super::wire;
use breaker::BreakerConfig;
use contracts::model::{Contract, LogicalType};
use contracts::{CompiledContract, MetricKind, Operator, Unit, WindowRule};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Whether the gate catches a fault per record or only over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Every bad record fails a record check: quarantined, never validated.
    Record,
    /// Each record passes; a window metric breaches and trips the breaker.
    Window,
}

impl Class {
    /// Name for reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Window => "window",
        }
    }
}

/// Built-in scenarios: name and what it does.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("schema-drift-type", "a number arrives as a string (alias: schema-drift)"),
    ("schema-drift-rename", "a field is renamed (value: the new name)"),
    ("schema-drift-drop", "a required field disappears"),
    ("schema-drift-add", "an undeclared field appears (field: its name)"),
    ("enum-drift", "a new category value (value: the category)"),
    ("enum-as-number", "categories replaced by numbers 1-100"),
    ("epoch-timestamps", "ISO-8601 timestamps replaced by epoch milliseconds"),
    ("null-burst", "a burst of nulls in a field"),
    ("stale-timestamps", "event timestamps older than the latency SLA (value: the age)"),
    ("silence", "the producer stops"),
    ("distribution-shift", "a numeric field shifts within its valid range (value: the shift)"),
    ("duplicate-burst", "records sent twice"),
    ("malformed-bytes", "torn records and binary garbage (wire formats: truncated bodies, wrong magic bytes, unknown schema ids)"),
];

/// What a drill needs to know about one top-level property.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// Name.
    pub name: String,
    /// Logical type.
    pub logical_type: Option<LogicalType>,
    /// Must be present and non-null.
    pub required: bool,
    /// Lowest valid number.
    pub min: Option<f64>,
    /// Highest valid number.
    pub max: Option<f64>,
    /// Allowed categories (from an `invalidValues` rule with `validValues`).
    pub valid_values: Vec<String>,
    /// Bin edges of a numeric `gateDistribution`.
    pub edges: Option<Vec<f64>>,
}

/// The contract as a drill sees it.
#[derive(Debug, Clone)]
pub struct ContractInfo {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Top-level properties of the bound object, in contract order.
    pub fields: Vec<FieldInfo>,
    /// Whether undeclared fields are allowed.
    pub allow_extra: bool,
    /// Compiled window rules.
    pub rules: Vec<WindowRule>,
}

fn num(v: Option<&serde_json::Value>) -> Option<f64> {
    v.and_then(serde_json::Value::as_f64)
}

impl ContractInfo {
    /// Builds the view from the parsed contract and its compiled form.
    #[must_use]
    pub fn new(raw: &Contract, compiled: &CompiledContract) -> Self {
        let obj = raw.schema.iter().find(|o| o.name == *compiled.object);
        let fields = obj
            .map(|o| {
                o.properties
                    .iter()
                    .map(|p| {
                        let lto = p.logical_type_options.clone().unwrap_or_default();
                        let valid_values = p
                            .quality
                            .iter()
                            .filter(|q| q.metric.as_deref() == Some("invalidValues"))
                            .filter_map(|q| q.arguments.as_ref()?.get("validValues")?.as_array().cloned())
                            .flatten()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect();
                        let edges = p.custom_properties.iter().find(|c| c.property == "gateDistribution").and_then(|c| c.value.get("edges")?.as_array()?.iter().map(serde_json::Value::as_f64).collect());
                        FieldInfo {
                            name: p.name.clone(),
                            logical_type: p.logical_type,
                            required: p.required,
                            min: num(lto.minimum.as_ref()).or(num(lto.exclusive_minimum.as_ref())),
                            max: num(lto.maximum.as_ref()).or(num(lto.exclusive_maximum.as_ref())),
                            valid_values,
                            edges,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { id: compiled.id.to_string(), version: compiled.version.to_string(), fields, allow_extra: compiled.allows_extra_fields(), rules: compiled.rules.clone() }
    }

    /// Loads the newest version of contract `id` from a contracts directory.
    ///
    /// # Errors
    /// Unreadable directory, invalid contract, or no such id.
    pub fn load(dir: &Path, id: &str, object: Option<&str>) -> Result<Self, String> {
        Self::load_compiled(dir, id, object).map(|(info, _)| info)
    }

    /// [`ContractInfo::load`], and the compiled contract (a wire-format drill judges its
    /// writer schemas with it, as the gate does).
    ///
    /// # Errors
    /// Unreadable directory, invalid contract, or no such id.
    pub fn load_compiled(dir: &Path, id: &str, object: Option<&str>) -> Result<(Self, CompiledContract), String> {
        let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read contracts dir {}: {e}", dir.display()))?;
        let mut best: Option<(semver::Version, Contract)> = None;
        for path in rd.filter_map(Result::ok).map(|e| e.path()) {
            if !path.extension().and_then(|x| x.to_str()).is_some_and(|x| matches!(x, "yaml" | "yml" | "json")) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            if !text.contains("DataContract") {
                continue;
            }
            let c = contracts::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let Ok(v) = semver::Version::parse(&c.version) else { continue };
            if c.id == id && best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, c));
            }
        }
        let (_, raw) = best.ok_or_else(|| format!("no contract {id:?} in {}", dir.display()))?;
        let compiled = contracts::compile(&raw, object).map_err(|e| format!("contract {id}: {e}"))?;
        Ok((Self::new(&raw, &compiled), compiled))
    }

    fn field(&self, name: &str) -> Result<&FieldInfo, String> {
        self.fields.iter().find(|f| f.name == name).ok_or_else(|| format!("contract {} has no top-level property {name:?}", self.id))
    }

    fn rule(&self, metric: MetricKind, field: Option<&str>) -> Option<&WindowRule> {
        self.rules.iter().find(|r| r.metric == metric && (field.is_none() || r.field.as_deref() == field))
    }

    /// The field of the first latency, freshness or frequency SLA: the natural one to restamp.
    #[must_use]
    pub fn time_field(&self) -> Option<&str> {
        self.rules.iter().filter(|r| matches!(r.metric, MetricKind::Freshness | MetricKind::NoData)).find_map(|r| r.field.as_deref())
    }
}

/// A rule in rows that one bad record already breaches: enforced per record.
fn zero_tolerance(r: &WindowRule) -> bool {
    r.unit == Unit::Rows && r.operator.accepts_only_zero()
}

/// The number a `<=`/`<` threshold allows, for time-based rules (seconds).
fn limit(op: Operator) -> f64 {
    match op {
        Operator::MustBe(x) | Operator::MustBeLessThan(x) | Operator::MustBeLessOrEqualTo(x) | Operator::MustBeGreaterThan(x) | Operator::MustBeGreaterOrEqualTo(x) | Operator::MustNotBe(x) => x,
        Operator::MustBeBetween(_, hi) | Operator::MustNotBeBetween(_, hi) => hi,
    }
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

/// A category of the usual length that is not allowed: `ZZ`, `YY`, … for two-letter codes.
#[must_use]
pub fn new_category(valid: &[String]) -> String {
    let mut lens: Vec<usize> = valid.iter().map(|v| v.chars().count()).collect();
    lens.sort_unstable();
    let len = lens.get(lens.len() / 2).copied().unwrap_or(5).max(1);
    ('A'..='Z').rev().map(|c| c.to_string().repeat(len)).find(|c| !valid.contains(c)).unwrap_or_else(|| "DRILL".into())
}

/// A step made concrete.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Canonical scenario name.
    pub scenario: String,
    /// The injector.
    pub fault: Fault,
    /// How the gate should catch it.
    pub class: Class,
    /// Field broken, if any.
    pub field: Option<String>,
    /// Share of records broken while the fault lasts.
    pub share: f64,
    /// How long the fault lasts.
    pub duration: Duration,
    /// Cap on injected records.
    pub records: Option<u64>,
    /// The hypothesis, defaults and overrides applied.
    pub hypothesis: Hypothesis,
    /// Wire-format bindings: the writer schema the fault's records are written with, when the
    /// binding's schema cannot carry them.
    pub writer: Option<wire::Doc>,
    /// Wire-format bindings: why the gate refuses [`Resolved::writer`] as schema drift.
    pub drift: Option<String>,
}

fn pick<'a>(info: &'a ContractInfo, step: &Step, what: &str, ok: impl Fn(&FieldInfo) -> bool) -> Result<&'a FieldInfo, String> {
    match &step.field {
        Some(f) => {
            let fi = info.field(f)?;
            if ok(fi) {
                Ok(fi)
            } else {
                Err(format!("{}: field {f:?} is not {what}", step.scenario))
            }
        }
        None => info.fields.iter().find(|f| ok(f)).ok_or_else(|| format!("{}: contract {} has no {what}; name one with --field", step.scenario, info.id)),
    }
}

fn is_num(f: &FieldInfo) -> bool {
    matches!(f.logical_type, Some(LogicalType::Number | LogicalType::Integer))
}

/// Turns a step into a concrete drill for this contract and breaker on a JSON binding.
///
/// # Errors
/// An unknown scenario, or one the contract cannot catch (with what to add).
pub fn resolve(step: &Step, info: &ContractInfo, brk: &BreakerConfig) -> Result<Resolved, String> {
    resolve_for(step, info, brk, None)
}

/// [`resolve`] for a binding in a Confluent wire format (Avro, JSON Schema, Protobuf) whose
/// producers write with `base`: a fault that changes a field's type or the record's fields
/// gets a writer schema of its own ([`wire::drift`]); when the gate would refuse that schema
/// (drift, `$.schema`), every injected record is caught on its own, whatever the JSON form of
/// the fault would have been caught by.
///
/// # Errors
/// As [`resolve`], and a fault that cannot be written in the binding's format.
#[allow(clippy::too_many_lines)]
pub fn resolve_for(step: &Step, info: &ContractInfo, brk: &BreakerConfig, base: Option<&wire::Base>) -> Result<Resolved, String> {
    let name = if step.scenario == "schema-drift" { "schema-drift-type" } else { step.scenario.as_str() };
    let rec = Class::Record;
    let win = Class::Window;
    // (fault, class, field, default share, default duration, extra detection time)
    let ten = Duration::from_secs(10);
    let (fault, class, field, share, duration, detect_extra): (Fault, Class, Option<String>, f64, Duration, Duration) = match name {
        "schema-drift-type" => {
            let f = pick(info, step, "a number", |f| f.logical_type == Some(LogicalType::Number)).or_else(|_| pick(info, step, "a number or integer", is_num))?;
            (Fault::NumberAsString { field: f.name.clone() }, rec, Some(f.name.clone()), 0.1, ten, Duration::ZERO)
        }
        "schema-drift-rename" | "schema-drift-drop" => {
            let caught = |f: &FieldInfo| f.required || (name == "schema-drift-rename" && !info.allow_extra);
            let f = pick(info, step, "a required string property", |f| f.required && f.logical_type == Some(LogicalType::String)).or_else(|_| pick(info, step, "caught per record when missing (required)", caught))?;
            let fault = if name == "schema-drift-drop" { Fault::Drop { field: f.name.clone() } } else { Fault::Rename { from: f.name.clone(), to: step.value.clone().unwrap_or_else(|| format!("{}_v2", f.name)) } };
            (fault, rec, Some(f.name.clone()), 0.1, ten, Duration::ZERO)
        }
        "schema-drift-add" => {
            if info.allow_extra {
                return Err(format!("{name}: contract {} allows extra fields (gateAllowExtraFields), so an added field is counted, not caught", info.id));
            }
            let field = step.field.clone().unwrap_or_else(|| "drill_extra".into());
            if info.fields.iter().any(|f| f.name == field) {
                return Err(format!("{name}: {field:?} is declared by the contract; name a new field"));
            }
            let value = step.value.clone().map_or(serde_json::Value::Bool(true), serde_json::Value::String);
            (Fault::Add { field: field.clone(), value }, rec, Some(field), 0.1, ten, Duration::ZERO)
        }
        "enum-drift" | "enum-as-number" => {
            let f = pick(info, step, "a property with validValues", |f| !f.valid_values.is_empty())?;
            let tolerant = info.rule(MetricKind::InvalidValues, Some(&f.name)).is_some_and(|r| !zero_tolerance(r));
            if name == "enum-as-number" {
                (Fault::CategoryAsNumber { field: f.name.clone() }, rec, Some(f.name.clone()), 0.1, ten, Duration::ZERO)
            } else {
                let value = step.value.clone().unwrap_or_else(|| new_category(&f.valid_values));
                if f.valid_values.contains(&value) {
                    return Err(format!("{name}: {value:?} is one of the valid values of {}", f.name));
                }
                (Fault::NewCategory { field: f.name.clone(), value }, if tolerant { win } else { rec }, Some(f.name.clone()), if tolerant { 0.5 } else { 0.1 }, ten, Duration::ZERO)
            }
        }
        "epoch-timestamps" => {
            let f = pick(info, step, "a timestamp", |f| matches!(f.logical_type, Some(LogicalType::Timestamp | LogicalType::Date)))?;
            (Fault::EpochMillis { field: f.name.clone() }, rec, Some(f.name.clone()), 0.1, ten, Duration::ZERO)
        }
        "null-burst" => {
            let watched = |f: &FieldInfo| f.required || info.rule(MetricKind::NullValues, Some(&f.name)).is_some();
            let f = pick(info, step, "a property whose nulls the contract watches (nullValues rule or required)", |f| !f.required && watched(f)).or_else(|_| pick(info, step, "a property whose nulls the contract watches (nullValues rule or required)", watched))?;
            let per_record = f.required || info.rule(MetricKind::NullValues, Some(&f.name)).is_some_and(zero_tolerance);
            (Fault::Null { field: f.name.clone() }, if per_record { rec } else { win }, Some(f.name.clone()), if per_record { 0.1 } else { 0.5 }, ten, Duration::ZERO)
        }
        "stale-timestamps" => {
            let r = info.rule(MetricKind::Freshness, None).ok_or_else(|| format!("{name}: contract {} has no latency/freshness SLA; add slaProperties latency on a timestamp element", info.id))?;
            let field = r.field.clone().unwrap_or_default();
            let thr = limit(r.operator);
            let by = match &step.value {
                Some(v) => humantime_serde::re::humantime::parse_duration(v).map_err(|e| format!("{name}: value {v:?} is not a duration: {e}"))?,
                None => secs((2.0 * thr).max(thr + 60.0)),
            };
            let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            (Fault::Stale { field: field.clone(), by_ms }, win, Some(field), 1.0, ten.max(secs(thr) * 2), secs(thr))
        }
        "silence" => {
            let r = info.rule(MetricKind::NoData, None).ok_or_else(|| format!("{name}: contract {} has no frequency SLA, so silence is not watched", info.id))?;
            let thr = limit(r.operator);
            (Fault::Silence, win, r.field.clone(), 1.0, secs(thr + thr.max(5.0)), secs(thr))
        }
        "distribution-shift" => {
            let f = pick(info, step, "a numeric property with a gateDistribution baseline", |f| is_num(f) && f.edges.as_ref().is_some_and(|e| !e.is_empty()) && info.rule(MetricKind::Distribution, Some(&f.name)).is_some())?;
            let edges = f.edges.clone().unwrap_or_default();
            let delta = match &step.value {
                Some(v) => v.parse::<f64>().map_err(|e| format!("{name}: value {v:?} is not a number: {e}"))?,
                None => (edges.last().copied().unwrap_or(1.0) - edges.first().copied().unwrap_or(0.0)).max(1.0),
            };
            let fault = Fault::Shift { field: f.name.clone(), delta, min: f.min, max: f.max, integer: f.logical_type == Some(LogicalType::Integer) };
            (fault, win, Some(f.name.clone()), 1.0, ten, Duration::ZERO)
        }
        "duplicate-burst" => {
            let r = info.rule(MetricKind::DuplicateValues, None).ok_or_else(|| format!("{name}: contract {} has no duplicateValues rule", info.id))?;
            (Fault::Duplicate, if zero_tolerance(r) { rec } else { win }, r.field.clone(), 0.2, ten, Duration::ZERO)
        }
        "malformed-bytes" => (Fault::Malformed, rec, None, 0.1, ten, Duration::ZERO),
        other => {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.0).collect();
            return Err(format!("unknown scenario {other:?}; built in: {}", names.join(", ")));
        }
    };
    let writer = match base {
        Some(base) => wire::drift(&base.doc, &fault).map_err(|e| format!("{name}: {e}"))?,
        None => None,
    };
    let drift = match (base, &writer) {
        (Some(base), Some(w)) => base.refuses(w).map_err(|e| format!("{name}: {e}"))?,
        _ => None,
    };
    let (class, share) = if drift.is_some() && class == Class::Window { (Class::Record, 0.1) } else { (class, share) };
    let share = step.share.unwrap_or(share);
    if !(share > 0.0 && share <= 1.0) {
        return Err(format!("{name}: share {share} must be in (0, 1]"));
    }
    let recover_within = brk.max_open_wait + brk.probe_timeout + Duration::from_secs(15);
    let defaults = match class {
        Class::Record => Hypothesis { detect_within: ten, max_leaked: Some(0), trip: Expect::Any, recover_within, abort_leaked: Some(0), max_probe_leaked: Some(0), max_retrips: Some(0) },
        Class::Window => Hypothesis { detect_within: Duration::from_secs(15) + detect_extra, max_leaked: None, trip: Expect::Expected, recover_within, abort_leaked: None, max_probe_leaked: Some(0), max_retrips: Some(0) },
    };
    Ok(Resolved {
        scenario: name.to_string(),
        fault,
        class,
        field,
        share,
        duration: step.duration.unwrap_or(duration),
        records: step.records,
        hypothesis: step.hypothesis.apply(defaults),
        writer,
        drift,
    })
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
