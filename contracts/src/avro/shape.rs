//! The part of a contract that Avro conformance and rendering need: each property's name,
//! logical type, nullability, date/time format and nested properties or items.
//!
//! Read either from the contract's properties or from a compiled contract (its JSON Schema
//! and date/time checks), so a binding that only holds the compiled version needs nothing
//! else.

use crate::compile::schema::TimeFormat;
use crate::model::{LogicalType, Property};
use crate::CompiledContract;
use serde_json::Value;

/// One property as Avro sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    /// Field name (empty for array items and the top level).
    pub name: String,
    /// Logical type; `None` accepts anything.
    pub ty: Option<LogicalType>,
    /// Must not be null.
    pub required: bool,
    /// How a date or timestamp is written.
    pub time: Option<TimeFormat>,
    /// Nested properties of an object.
    pub props: Vec<Shape>,
    /// Item definition of an array.
    pub items: Option<Box<Shape>>,
}

impl Shape {
    /// The top level: an object holding `props`.
    pub fn top(props: Vec<Shape>) -> Self {
        Self { name: String::new(), ty: Some(LogicalType::Object), required: true, time: None, props, items: None }
    }

    pub fn from_property(p: &Property) -> Self {
        Self {
            name: p.name.clone(),
            ty: p.logical_type,
            required: p.required,
            time: TimeFormat::of(p),
            props: p.properties.iter().map(Self::from_property).collect(),
            items: p.items.as_deref().map(|i| Box::new(Self::from_property(i))),
        }
    }

    /// The checked object's properties of a compiled contract.
    pub fn from_contract(c: &CompiledContract) -> Vec<Self> {
        object(c, c.json_schema(), &[])
    }
}

fn object(c: &CompiledContract, node: &Value, keys: &[String]) -> Vec<Shape> {
    let Some(Value::Object(props)) = node.get("properties") else { return Vec::new() };
    let required: Vec<&str> = node.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    props
        .iter()
        .map(|(name, n)| {
            let mut k = keys.to_vec();
            k.push(name.clone());
            let mut s = property(c, n, &k);
            s.name.clone_from(name);
            s.required = required.contains(&name.as_str());
            s
        })
        .collect()
}

fn property(c: &CompiledContract, n: &Value, keys: &[String]) -> Shape {
    let ty = match n.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    };
    let custom = c.post.iter().find(|pc| pc.path == keys).map(|pc| pc.format.clone());
    let format = n.get("format").and_then(Value::as_str);
    let (ty, time) = match ty {
        Some("string") => match (custom, format) {
            (Some(f), _) if f.time_of_day() => (Some(LogicalType::Time), None),
            (Some(f), _) if f.date_only() => (Some(LogicalType::Date), Some(f)),
            (Some(f), _) => (Some(LogicalType::Timestamp), Some(f)),
            (None, Some("date")) => (Some(LogicalType::Date), Some(TimeFormat::Date)),
            (None, Some("date-time")) => (Some(LogicalType::Timestamp), Some(TimeFormat::Rfc3339)),
            (None, Some("time")) => (Some(LogicalType::Time), None),
            _ => (Some(LogicalType::String), None),
        },
        Some("integer") => (Some(LogicalType::Integer), None),
        Some("number") => (Some(LogicalType::Number), None),
        Some("boolean") => (Some(LogicalType::Boolean), None),
        Some("object") => (Some(LogicalType::Object), None),
        Some("array") => (Some(LogicalType::Array), None),
        _ => (None, None),
    };
    let items = n.get("items").map(|i| {
        let mut k = keys.to_vec();
        if let Some(last) = k.last_mut() {
            last.push_str("[]");
        }
        Box::new(property(c, i, &k))
    });
    Shape { name: String::new(), ty, required: false, time, props: object(c, n, keys), items }
}
