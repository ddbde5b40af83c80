//! From profiles to the ODCS document: the serializable shape of a draft (only the keys
//! inference sets; the model types in [`crate::model`] write every optional key as null) and
//! the rules of [`super::rules`] applied field by field.

use super::profile::{Field, StringFormat};
use super::rules::{self, End, Spread, BASELINE_BINS, BASELINE_MAX_PSI, BASELINE_MIN_VALUES};
use crate::model::LogicalType;
use crate::profile::Profiler;
use serde::Serialize;
use serde_json::{json, Value};
use serde_saphyr::FlowSeq;

/// The draft document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Doc {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub version: &'static str,
    pub status: &'static str,
    pub description: Description,
    pub schema: Vec<Object>,
}

/// ODCS `description`.
#[derive(Debug, Serialize)]
pub(super) struct Description {
    pub purpose: String,
}

/// The one schema object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Object {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_type: Option<String>,
    pub logical_type: &'static str,
    pub properties: Vec<Prop>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_properties: Vec<Custom>,
}

/// A property.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Prop {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_type: Option<LogicalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_type_options: Option<Opts>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Prop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Prop>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<Rule>,
    pub custom_properties: Vec<Custom>,
}

/// `logicalTypeOptions` inference sets.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct Opts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
}

/// A library quality rule with its threshold.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Rule {
    pub id: String,
    pub metric: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    pub must_be_less_or_equal_to: f64,
    pub unit: &'static str,
    pub custom_properties: Vec<Custom>,
}

/// Arguments of an `invalidValues` rule.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Arguments {
    pub valid_values: FlowSeq<Vec<String>>,
}

/// `gateDistribution` as `contracts baseline` records it, lists written on one line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Distribution {
    pub edges: FlowSeq<Vec<Value>>,
    pub baseline: FlowSeq<Vec<Value>>,
    pub max_psi: f64,
}

impl Distribution {
    /// The numeric baseline `Profiler::baseline` built; `None` for any other shape.
    fn of(v: &Value) -> Option<Self> {
        let list = |k: &str| v.get(k).and_then(Value::as_array).map(|a| a.iter().map(|x| x.as_f64().map_or(Value::Null, |f| number(f, false))).collect::<Vec<_>>());
        Some(Self { edges: FlowSeq(list("edges")?), baseline: FlowSeq(list("baseline")?), max_psi: v.get("maxPsi")?.as_f64()? })
    }
}

/// A custom property.
#[derive(Debug, Serialize)]
pub(super) struct Custom {
    pub property: &'static str,
    pub value: CustomValue,
}

/// What a custom property holds.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum CustomValue {
    /// `gateInferred`.
    Evidence(Box<Evidence>),
    /// `gateDistribution`.
    Distribution(Distribution),
    /// Any other value.
    Raw(Value),
}

/// The `gateInferred` custom property: what an item was inferred from and how. One shape
/// for properties and rules; each key is present only where it applies.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Evidence {
    /// Places the field could have been (records, or enclosing objects / array items).
    pub records: u64,
    /// Non-null values among them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<u64>,
    /// Share of places that were null or absent, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_percent: Option<f64>,
    /// Distinct values (exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Distinct values when there were too many to count: at least this many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_at_least: Option<u64>,
    /// Smallest value (numbers) seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// Largest value (numbers) seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Percentiles 1, 50 and 99 of the numbers seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentiles: Option<FlowSeq<[Value; 3]>>,
    /// Shortest string seen, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest string seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Kinds of values when they mixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<serde_json::Map<String, Value>>,
    /// A rule's observed value, in its unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// How each item was set, and what was left out and why.
    pub notes: Vec<String>,
}

/// Where a field sits, for the rules that depend on it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx<'a> {
    /// Records profiled (the denominator of every window rule).
    pub records: u64,
    /// Dotted path of the enclosing object (empty at the top).
    pub parent: &'a str,
    /// Inside an array's items: no window rules (the gate does not run them there).
    pub in_array: bool,
}

/// What emitting added up to, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub properties: usize,
    /// Fields left out because an empty name cannot be a property.
    pub unnamed: usize,
    pub rules: usize,
    pub distributions: usize,
}

fn number(x: f64, integer: bool) -> Value {
    // Whole bounds as integers (`2013`, not `2013.0`), as a person writes them.
    #[allow(clippy::cast_possible_truncation)]
    if (integer || x.fract() == 0.0) && x.abs() < 9.0e15 {
        return json!(x as i64);
    }
    json!(x)
}

fn pct(part: u64, whole: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let p = if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
    (p * 100.0).round() / 100.0
}

fn evidence(note: String, records: u64, observed: f64) -> Vec<Custom> {
    vec![Custom { property: "gateInferred", value: CustomValue::Evidence(Box::new(Evidence { records, observed: Some(observed), notes: vec![note], ..Evidence::default() })) }]
}

fn rule(id: String, metric: &'static str, arguments: Option<Arguments>, limit: f64, custom_properties: Vec<Custom>) -> Rule {
    Rule { id, metric, arguments, must_be_less_or_equal_to: limit, unit: "percent", custom_properties }
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn bound_note(end: End, side: &str, observed: f64, s: &Spread) -> String {
    match end {
        End::Edge(_) => format!("{side}: {observed} held by at least {} % of values, taken as the domain's edge", rules::EDGE_SHARE * 100.0),
        End::Tail => format!("no {side}: {observed} lies in a thin tail (percentiles 1/50/99: {}/{}/{}), whose end a sample cannot show", s.p1, s.p50, s.p99),
        End::Widened(b) if b == 0.0 && observed != 0.0 => format!("{side}: {observed} widened by the observed span ({}), stopped at 0 (the sample never crossed zero)", s.max - s.min),
        End::Widened(b) => format!("{side}: {observed} widened by the observed span ({}) and rounded outward to {b}", s.max - s.min),
    }
}

/// The properties of an object's fields; a field with an empty name (which ODCS cannot
/// name) is counted in `tally.unnamed` instead.
pub(super) fn properties(fields: &[Field], ctx: Ctx<'_>, tally: &mut Tally) -> Vec<Prop> {
    let named = fields.iter().filter(|f| !f.name.is_empty());
    tally.unnamed += fields.len() - named.clone().count();
    named.map(|f| property(f, ctx, tally)).collect()
}

/// The property for one profiled field, and what it added.
pub(super) fn property(f: &Field, ctx: Ctx<'_>, tally: &mut Tally) -> Prop {
    let path = if ctx.parent.is_empty() { f.name.clone() } else if f.name.is_empty() { format!("{}[]", ctx.parent) } else { format!("{}.{}", ctx.parent, f.name) };
    let values = f.kinds.total();
    let format = f.format();
    let string_type = match format {
        Some(StringFormat::Date) => LogicalType::Date,
        Some(StringFormat::Timestamp) => LogicalType::Timestamp,
        Some(StringFormat::Time) => LogicalType::Time,
        _ => LogicalType::String,
    };
    let ty = rules::logical_type(&f.kinds, string_type);
    let mut ev = Evidence { records: f.slots, values: Some(values), null_percent: Some(pct(f.slots - values.min(f.slots), f.slots)), ..Evidence::default() };
    if f.distinct.overflow {
        ev.distinct_at_least = Some(f.distinct.count() as u64);
    } else if f.kinds.strings + f.kinds.ints + f.kinds.floats + f.kinds.bools > 0 {
        ev.distinct = Some(f.distinct.count() as u64);
    }
    match ty {
        Some(t) => ev.notes.push(format!("logicalType {}: every non-null value fits", t.as_str())),
        None if values == 0 => ev.notes.push("no logicalType: never a non-null value in the sample".into()),
        None => {
            ev.types = Some(f.kinds.named().into_iter().map(|(k, c)| (k.to_string(), json!(c))).collect());
            ev.notes.push("no logicalType: the values mix types".into());
        }
    }
    let required = values > 0 && f.nulls == 0 && f.absent() == 0;
    if required {
        ev.notes.push("required: never null or absent".into());
    }
    let mut opts = Opts::default();
    let mut quality = Vec::new();
    let mut custom = Vec::new();
    match ty {
        Some(t @ (LogicalType::Integer | LogicalType::Number)) => {
            let s = sorted(&f.numbers);
            if let Some(sp) = Spread::of(&s) {
                let integer = t == LogicalType::Integer;
                ev.min = Some(number(sp.min, false));
                ev.max = Some(number(sp.max, false));
                ev.percentiles = Some(FlowSeq([number(sp.p1, false), number(sp.p50, false), number(sp.p99, false)]));
                let (lo, hi) = rules::range_ends(&sp, integer);
                opts.minimum = lo.bound().map(|b| number(b, integer));
                opts.maximum = hi.bound().map(|b| number(b, integer));
                ev.notes.push(bound_note(lo, "minimum", sp.min, &sp));
                ev.notes.push(bound_note(hi, "maximum", sp.max, &sp));
                if !ctx.in_array && !f.key_like && s.len() >= BASELINE_MIN_VALUES && f.distinct.count() >= 3 {
                    let mut prof = Profiler::default();
                    s.iter().for_each(|x| prof.add(Some(&json!(x))));
                    if let Some(b) = prof.baseline(BASELINE_BINS, BASELINE_MAX_PSI).as_ref().and_then(Distribution::of) {
                        custom.push(Custom { property: "gateDistribution", value: CustomValue::Distribution(b) });
                        ev.notes.push(format!("gateDistribution: {BASELINE_BINS} quantile bins of the sample, maxPsi {BASELINE_MAX_PSI}"));
                        tally.distributions += 1;
                    }
                }
            }
        }
        Some(LogicalType::String) => string_options(f, &path, ctx, format, &mut opts, &mut quality, &mut ev),
        _ => {}
    }
    if !ctx.in_array && !required && values > 0 {
        let observed = pct(ctx.records.saturating_sub(values), ctx.records);
        match rules::null_limit(observed) {
            Some(limit) => {
                let note = format!("null or absent in {observed} % of records; limit max(2 × observed, observed + 1), rounded up: {limit} %");
                quality.push(rule(format!("{path}.nullValues"), "nullValues", None, limit, evidence(note, ctx.records, observed)));
            }
            None => ev.notes.push(format!("no nullValues rule: null or absent in {observed} % of records")),
        }
    }
    if ctx.parent.is_empty() && f.key_like && matches!(ty, Some(LogicalType::String | LogicalType::Integer)) {
        if f.distinct.overflow {
            ev.notes.push("no duplicateValues rule: too many values to count duplicates".into());
        } else if f.distinct.duplicates > 0 {
            ev.notes.push(format!("no duplicateValues rule: looks like a key, but {} values repeat an earlier one", f.distinct.duplicates));
        } else {
            let limit = rules::unseen_limit(ctx.records);
            let note = format!("looks like a key and no value repeats in {} values; limit 3/records (the 95 % bound on a rate seen as zero), rounded up: {limit} %", values);
            quality.push(rule(format!("{path}.duplicateValues"), "duplicateValues", None, limit, evidence(note, ctx.records, 0.0)));
        }
    }
    let mut prop = Prop { name: f.name.clone(), logical_type: ty, logical_type_options: (opts != Opts::default()).then_some(opts), required, properties: Vec::new(), items: None, quality, custom_properties: Vec::new() };
    if ty == Some(LogicalType::Object) {
        if f.too_many_keys {
            ev.notes.push(format!("properties not listed: more than {} distinct keys (a map, not a record)", super::profile::MAX_PROPERTIES));
        } else {
            let inner = Ctx { records: ctx.records, parent: &path, in_array: ctx.in_array };
            prop.properties = properties(&f.children, inner, tally);
        }
    }
    if let (Some(LogicalType::Array), Some(items)) = (ty, &f.items) {
        prop.items = Some(Box::new(property(items, Ctx { records: ctx.records, parent: &path, in_array: true }, tally)));
    }
    tally.properties += 1;
    tally.rules += prop.quality.len();
    custom.insert(0, Custom { property: "gateInferred", value: CustomValue::Evidence(Box::new(ev)) });
    prop.custom_properties = custom;
    prop
}

/// Lengths, string formats and enumerations of a string property.
fn string_options(f: &Field, path: &str, ctx: Ctx<'_>, format: Option<StringFormat>, opts: &mut Opts, quality: &mut Vec<Rule>, ev: &mut Evidence) {
    let lens = sorted(&f.lengths);
    let spread = Spread::of(&lens);
    if let Some(sp) = spread {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            ev.min_length = Some(sp.min as u64);
            ev.max_length = Some(sp.max as u64);
        }
    }
    match format {
        Some(StringFormat::Uuid) => {
            opts.format = Some("uuid");
            ev.notes.push("format uuid: every value is one".into());
            return;
        }
        Some(StringFormat::Email) => {
            opts.format = Some("email");
            ev.notes.push("format email: every value is one".into());
            return;
        }
        _ => {}
    }
    let counts: Vec<(String, u64)> = f.values.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let enumerated = if f.key_like { None } else { rules::enumeration(&counts, f.kinds.strings, f.many_values) };
    if let (Some(valid), false) = (&enumerated, ctx.in_array) {
        let limit = rules::unseen_limit(ctx.records);
        let note = format!(
            "{} values, each seen at least {} times in {} values; values outside them allowed up to 3/records (the 95 % bound on a rate seen as zero), rounded up: {limit} %",
            valid.len(),
            rules::ENUM_MIN_EACH,
            f.kinds.strings
        );
        quality.push(rule(format!("{path}.invalidValues"), "invalidValues", Some(Arguments { valid_values: FlowSeq(valid.clone()) }), limit, evidence(note, ctx.records, 0.0)));
        return;
    }
    if let Some(sp) = spread {
        let (lo, hi) = rules::range_ends(&sp, true);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            opts.min_length = lo.bound().filter(|b| *b > 0.0).map(|b| b as u64);
            opts.max_length = hi.bound().map(|b| b as u64);
        }
        ev.notes.push(bound_note(lo, "minLength", sp.min, &sp));
        ev.notes.push(bound_note(hi, "maxLength", sp.max, &sp));
    }
}
