//! A decoded Protobuf message as the JSON value the contract checks, the same shapes a JSON
//! producer would send: messages are objects keyed by field name, enums their symbol's name,
//! 64-bit integers numbers (not the proto3 JSON mapping's strings, which an integer property
//! would refuse), bytes hex, maps objects, `google.protobuf.Timestamp` the instant in the
//! property's date/time format and the wrapper types their inner value.
//!
//! Presence: a field that can tell "not set" from its default (a message, a proto3 `optional`,
//! a oneof member, a proto2 field) is left out when not set, so `required` fails as it does for
//! a JSON record without the field; a plain proto3 scalar always has a value (its default).

use crate::avro::shape::Shape;
use crate::avro::value::{at, float, instant, target, Target};
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value as Pv};
use serde_json::{Map, Value};

/// How a binding renders the messages of one contract version.
#[derive(Debug, Clone)]
pub struct Projection {
    top: Shape,
}

impl Projection {
    /// For the checked object of `contract`.
    #[must_use]
    pub fn for_contract(contract: &crate::CompiledContract) -> Self {
        Self { top: Shape::top(Shape::from_contract(contract)) }
    }

    /// The record the contract checks.
    #[must_use]
    pub fn to_json(&self, msg: &DynamicMessage) -> Value {
        message(msg, Some(&self.top))
    }
}

/// [`Projection::to_json`] without a contract (default renderings).
#[must_use]
pub fn to_json(msg: &DynamicMessage) -> Value {
    message(msg, None)
}

fn message(msg: &DynamicMessage, shape: Option<&Shape>) -> Value {
    let desc = msg.descriptor();
    let mut out = Map::new();
    for f in desc.fields() {
        if f.supports_presence() && !msg.has_field(&f) {
            continue;
        }
        let sub = shape.and_then(|s| s.props.iter().find(|p| p.name == f.name()));
        let v = msg.get_field(&f);
        out.insert(f.name().to_string(), value(&v, &f.kind(), sub));
    }
    Value::Object(out)
}

fn value(v: &Pv, kind: &Kind, shape: Option<&Shape>) -> Value {
    match v {
        Pv::Bool(b) => Value::Bool(*b),
        Pv::I32(n) => Value::from(*n),
        Pv::I64(n) => Value::from(*n),
        Pv::U32(n) => Value::from(*n),
        Pv::U64(n) => Value::from(*n),
        Pv::F32(n) => float(f64::from(*n)),
        Pv::F64(n) => float(*n),
        Pv::String(s) => Value::String(s.clone()),
        Pv::Bytes(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        Pv::EnumNumber(n) => match kind {
            // A number the writer's enum does not name stays a number: a string check fails it.
            Kind::Enum(e) => e.get_value(*n).map_or_else(|| Value::from(*n), |ev| Value::String(ev.name().to_string())),
            _ => Value::from(*n),
        },
        Pv::Message(m) => special(m, shape).unwrap_or_else(|| message(m, shape)),
        Pv::List(items) => {
            let item = shape.and_then(|s| s.items.as_deref());
            Value::Array(items.iter().map(|i| value(i, kind, item)).collect())
        }
        Pv::Map(entries) => {
            let vk = match kind {
                Kind::Message(m) if m.is_map_entry() => m.map_entry_value_field().kind(),
                other => other.clone(),
            };
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(key(k), value(v, &vk, None));
            }
            Value::Object(out)
        }
    }
}

fn key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Well-known types with a JSON form of their own.
fn special(m: &DynamicMessage, shape: Option<&Shape>) -> Option<Value> {
    let name = m.descriptor().full_name().to_string();
    match name.as_str() {
        "google.protobuf.Timestamp" => {
            let secs = match m.get_field_by_name("seconds").as_deref() {
                Some(Pv::I64(s)) => *s,
                _ => 0,
            };
            let nanos = match m.get_field_by_name("nanos").as_deref() {
                Some(Pv::I32(n)) => i64::from(*n),
                _ => 0,
            };
            let t = match target(shape) {
                Target::Default | Target::Text => Target::Time(crate::compile::schema::TimeFormat::Rfc3339),
                t => t,
            };
            let total = secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos));
            Some(match (total, &t) {
                (_, Target::Number) => Value::from(secs),
                (Some(ns), _) => instant(at(ns, 1), secs, &t, false),
                (None, _) => instant(at(secs, 1_000_000_000), secs, &t, false),
            })
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" | "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" | "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" | "google.protobuf.BoolValue" | "google.protobuf.StringValue" | "google.protobuf.BytesValue" => {
            let f = m.descriptor().get_field_by_name("value")?;
            Some(value(&m.get_field(&f), &f.kind(), shape))
        }
        _ => None,
    }
}
