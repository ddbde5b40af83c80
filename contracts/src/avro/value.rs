//! Decoded Avro values → the JSON records the contract checks.
//!
//! The payload itself is never rewritten (outputs carry the original bytes); this view only
//! feeds the checks, so it renders each value the way the contract expects to read it:
//! - `timestamp-*` and `local-timestamp-*` (taken as UTC): RFC 3339 with a `Z` and only the
//!   fraction digits needed, or the property's own `format` pattern; the raw epoch number when
//!   the property is a number or integer;
//! - `date`: `YYYY-MM-DD` (or the property's pattern; days since the epoch for a number);
//! - `time-millis` / `time-micros`: `HH:MM:SS[.fff]Z` (RFC 3339 full-time, what JSON Schema's
//!   `time` format reads); the raw number for a number property;
//! - `decimal`: a JSON number (nearest double; an integer when the scale is 0 and it fits i64)
//!   or, for a string property, the exact decimal text;
//! - enums and UUIDs: strings; unions: the branch's value (null stays null); bytes and fixed:
//!   lowercase hex; duration: `{months, days, millis}`; NaN and infinities: strings, so a
//!   number rule fails instead of a null slipping through an optional field.

use super::Schema;
use crate::compile::schema::TimeFormat;
use super::shape::Shape;
use crate::model::{LogicalType, Property};
use apache_avro::schema::{Name, NamespaceRef, ResolvedSchema};
use apache_avro::types::Value as Avro;
use chrono::{DateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// How a value of one writer schema becomes a contract record. Built once per (schema,
/// contract version) and reused for every record written with that schema.
#[derive(Debug, Clone)]
pub struct Projection {
    root: usize,
    nodes: Vec<Node>,
}

/// What the contract wants a time-like or decimal value to look like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// No property says: the default rendering.
    Default,
    /// A number or integer property: the raw number.
    Number,
    /// A string property.
    Text,
    /// A date or timestamp property written in this format.
    Time(TimeFormat),
}

#[derive(Debug, Clone)]
enum Node {
    /// Values whose JSON form needs no hint.
    Plain(Target),
    /// Field nodes, by field position.
    Record(Vec<usize>),
    /// Item node.
    Array(usize),
    /// Value node.
    Map(usize),
    /// Branch nodes, by branch index.
    Union(Vec<usize>),
    /// A decimal with its scale.
    Decimal { scale: usize, target: Target },
}

pub(crate) fn target(p: Option<&Shape>) -> Target {
    match p.and_then(|p| p.ty.map(|t| (p, t))) {
        Some((_, LogicalType::Integer | LogicalType::Number)) => Target::Number,
        Some((_, LogicalType::String)) => Target::Text,
        Some((p, LogicalType::Date | LogicalType::Timestamp)) => p.time.clone().map_or(Target::Default, Target::Time),
        _ => Target::Default,
    }
}

struct Builder<'a> {
    nodes: Vec<Node>,
    names: HashMap<Name, &'a Schema>,
    /// Records already built for a (name, property) pair: recursive and reused named types.
    seen: HashMap<(Name, usize), usize>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn build(&mut self, s: &'a Schema, p: Option<&Shape>, ns: NamespaceRef<'_>, depth: usize) -> usize {
        // Past any sane nesting, fall back to hint-free rendering rather than recurse further.
        if depth > 64 {
            return self.push(Node::Plain(Target::Default));
        }
        match s {
            Schema::Ref { name } => match self.names.get(name.fully_qualified_name(ns).as_ref()).copied() {
                Some(t) => self.build(t, p, ns, depth + 1),
                None => self.push(Node::Plain(Target::Default)),
            },
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns).into_owned();
                let key = (full.clone(), p.map_or(0, |p| std::ptr::from_ref(p) as usize));
                if let Some(i) = self.seen.get(&key) {
                    return *i;
                }
                let at = self.push(Node::Record(Vec::new()));
                self.seen.insert(key, at);
                let props: &[Shape] = p.map_or(&[], |p| &p.props);
                let fields = r.fields.iter().map(|f| self.build(&f.schema, props.iter().find(|q| q.name == f.name), full.namespace(), depth + 1)).collect();
                self.nodes[at] = Node::Record(fields);
                at
            }
            Schema::Array(a) => {
                let item = self.build(&a.items, p.and_then(|p| p.items.as_deref()), ns, depth + 1);
                self.push(Node::Array(item))
            }
            Schema::Map(m) => {
                let item = self.build(&m.types, None, ns, depth + 1);
                self.push(Node::Map(item))
            }
            Schema::Union(u) => {
                let branches = u.variants().iter().map(|b| self.build(b, p, ns, depth + 1)).collect();
                self.push(Node::Union(branches))
            }
            Schema::Decimal(d) => self.push(Node::Decimal { scale: d.scale, target: target(p) }),
            _ => self.push(Node::Plain(target(p))),
        }
    }
}

impl Projection {
    /// The projection of `schema` onto the contract properties `props` (the top level of a
    /// schema object). Fields the contract does not name get the default rendering.
    #[must_use]
    pub fn new(schema: &Schema, props: &[Property]) -> Self {
        Self::of(schema, &Shape::top(props.iter().map(Shape::from_property).collect()))
    }

    /// The projection for the schema object a contract was compiled for.
    #[must_use]
    pub fn for_contract(schema: &Schema, contract: &crate::CompiledContract) -> Self {
        Self::of(schema, &Shape::top(Shape::from_contract(contract)))
    }

    fn of(schema: &Schema, top: &Shape) -> Self {
        // Named types for references; a schema whose references do not resolve renders them
        // without hints (the decoder refuses such a schema anyway).
        let names = ResolvedSchema::try_from(schema).map(|r| r.get_names().clone()).unwrap_or_default();
        let mut b = Builder { nodes: Vec::new(), names, seen: HashMap::new() };
        let root = b.build(schema, Some(top), None, 0);
        Self { root, nodes: b.nodes }
    }

    /// The record the contract checks for one decoded value.
    #[must_use]
    pub fn to_json(&self, v: Avro) -> Value {
        self.convert(Some(self.root), v)
    }

    fn node(&self, at: Option<usize>) -> Option<&Node> {
        at.and_then(|i| self.nodes.get(i))
    }

    fn convert(&self, at: Option<usize>, v: Avro) -> Value {
        let node = self.node(at);
        let tgt = match node {
            Some(Node::Plain(t) | Node::Decimal { target: t, .. }) => t.clone(),
            _ => Target::Default,
        };
        match v {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => Value::Bool(b),
            Avro::Int(i) => Value::from(i),
            Avro::Long(i) => Value::from(i),
            Avro::Float(f) => float(f64::from(f)),
            Avro::Double(f) => float(f),
            Avro::String(s) | Avro::Enum(_, s) => Value::String(s),
            Avro::Bytes(b) | Avro::Fixed(_, b) => Value::String(hex(&b)),
            Avro::Uuid(u) => Value::String(u.to_string()),
            Avro::Union(i, inner) => {
                let branch = match node {
                    Some(Node::Union(bs)) => usize::try_from(i).ok().and_then(|i| bs.get(i).copied()),
                    _ => None,
                };
                self.convert(branch, *inner)
            }
            Avro::Array(items) => {
                let item = match node {
                    Some(Node::Array(i)) => Some(*i),
                    _ => None,
                };
                Value::Array(items.into_iter().map(|x| self.convert(item, x)).collect())
            }
            Avro::Map(m) => {
                let item = match node {
                    Some(Node::Map(i)) => Some(*i),
                    _ => None,
                };
                Value::Object(m.into_iter().map(|(k, x)| (k, self.convert(item, x))).collect())
            }
            Avro::Record(fields) => {
                let nodes: &[usize] = match node {
                    Some(Node::Record(f)) => f,
                    _ => &[],
                };
                let mut out = Map::new();
                for (i, (k, x)) in fields.into_iter().enumerate() {
                    let child = self.convert(nodes.get(i).copied(), x);
                    out.insert(k, child);
                }
                Value::Object(out)
            }
            Avro::Date(days) => match tgt {
                Target::Number => Value::from(days),
                // Seconds, not nanoseconds: an i32 of days in nanoseconds overflows an i64.
                t => instant(DateTime::from_timestamp(i64::from(days) * 86_400, 0), i64::from(days), &t, true),
            },
            Avro::TimestampMillis(ms) | Avro::LocalTimestampMillis(ms) => epoch(ms, 1_000_000, &tgt),
            Avro::TimestampMicros(us) | Avro::LocalTimestampMicros(us) => epoch(us, 1_000, &tgt),
            Avro::TimestampNanos(ns) | Avro::LocalTimestampNanos(ns) => epoch(ns, 1, &tgt),
            Avro::TimeMillis(ms) => match tgt {
                Target::Number => Value::from(ms),
                _ => time_of_day(i64::from(ms) * 1_000_000),
            },
            Avro::TimeMicros(us) => match tgt {
                Target::Number => Value::from(us),
                _ => time_of_day(us.saturating_mul(1_000)),
            },
            Avro::Decimal(d) => {
                let scale = match node {
                    Some(Node::Decimal { scale, .. }) => *scale,
                    _ => 0,
                };
                let text = Vec::<u8>::try_from(&d).map_or_else(|_| String::from("NaN"), |bytes| decimal_text(&bytes, scale));
                decimal_value(text, &tgt)
            }
            Avro::BigDecimal(d) => decimal_value(d.to_string(), &tgt),
            Avro::Duration(d) => {
                let mut m = Map::new();
                m.insert("months".into(), Value::from(u32::from(d.months())));
                m.insert("days".into(), Value::from(u32::from(d.days())));
                m.insert("millis".into(), Value::from(u32::from(d.millis())));
                Value::Object(m)
            }
        }
    }
}

pub(crate) fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// An epoch count in units of `unit_ns` nanoseconds (a divisor of a second).
fn epoch(n: i64, unit_ns: i64, t: &Target) -> Value {
    match t {
        Target::Number => Value::from(n),
        _ => instant(at(n, unit_ns), n, t, false),
    }
}

/// The instant `n` units of `unit_ns` nanoseconds after the epoch; `None` outside the
/// calendar's range. Whole seconds and the rest apart, so no count in any unit overflows
/// (nanoseconds in an i64 end in 2262; a timestamp in milliseconds can say year 200,000).
pub(crate) fn at(n: i64, unit_ns: i64) -> Option<DateTime<Utc>> {
    let unit_ns = unit_ns.clamp(1, 1_000_000_000);
    let per_sec = 1_000_000_000 / unit_ns;
    let nanos = n.rem_euclid(per_sec) * unit_ns;
    DateTime::from_timestamp(n.div_euclid(per_sec), u32::try_from(nanos).ok()?)
}

/// Renders an instant as the contract wants; `date_value` — the Avro value was a date, so the
/// default rendering is a date too. An instant outside the calendar (`None`) stays the number
/// `raw`, which a date or timestamp check reports instead of a wrong date passing.
pub(crate) fn instant(dt: Option<DateTime<Utc>>, raw: i64, t: &Target, date_value: bool) -> Value {
    let Some(dt) = dt else { return Value::from(raw) };
    let mut s = String::new();
    let ok = match t {
        Target::Time(TimeFormat::Date) => write!(s, "{}", dt.format("%Y-%m-%d")).is_ok(),
        Target::Time(TimeFormat::Rfc3339) => {
            s = dt.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            true
        }
        // A pattern the contract compiled; `None` when a field does not fit its width.
        Target::Time(TimeFormat::Pattern(p)) => match p.format(&dt) {
            Some(text) => {
                s = text;
                true
            }
            None => false,
        },
        Target::Default | Target::Text | Target::Number => false,
    };
    if ok {
        return Value::String(s);
    }
    Value::String(if date_value { dt.format("%Y-%m-%d").to_string() } else { dt.to_rfc3339_opts(SecondsFormat::AutoSi, true) })
}

fn time_of_day(ns: i64) -> Value {
    let secs = u32::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(u32::MAX);
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    match NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos) {
        Some(t) => Value::String(format!("{}Z", t.format("%H:%M:%S%.f"))),
        // Out of a day's range: keep the number so the `time` format check reports it.
        None => Value::from(ns),
    }
}

/// The exact decimal text of a big-endian two's-complement unscaled value and its scale.
pub(super) fn decimal_text(bytes: &[u8], scale: usize) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    // Magnitude: two's complement negated for negative numbers.
    let mut mag: Vec<u8> = if negative {
        let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        bytes.to_vec()
    };
    // Repeated division by 10 of the big-endian magnitude.
    let mut digits = Vec::new();
    while mag.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in &mut mag {
            let cur = (rem << 8) | u32::from(*b);
            *b = u8::try_from(cur / 10).unwrap_or(0);
            rem = cur % 10;
        }
        digits.push(char::from(b'0' + u8::try_from(rem).unwrap_or(0)));
    }
    while digits.len() <= scale {
        digits.push('0');
    }
    digits.reverse();
    let mut s: String = digits.into_iter().collect();
    if scale > 0 {
        s.insert(s.len() - scale, '.');
    }
    if negative {
        s.insert(0, '-');
    }
    s
}

fn decimal_value(text: String, t: &Target) -> Value {
    if *t == Target::Text {
        return Value::String(text);
    }
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
    }
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::String(text),
    }
}
