//! Protobuf writer schemas for drills: records as dynamic messages of the schema's first
//! message (message indexes `[0]`, what a producer of one message type writes), and the
//! drifted schema a fault needs, edited in the schema's `FileDescriptorProto` and registered
//! as its base64 serialized form.
//!
//! JSON → message follows what the gate reads back (`contracts::protobuf::Projection`):
//! numbers into the field's numeric type (an integer field refuses a fraction), enum symbols
//! by name, `google.protobuf.Timestamp` from RFC 3339 text or epoch milliseconds, the wrapper
//! types from their value, bytes from hex, nested objects, lists and maps. A null or absent
//! value leaves a field unset, which only a field with presence can be: a plain proto3 scalar
//! always has a value (its default) that the gate would then judge, so the record is refused
//! instead, and a null-burst on such a field makes it `optional` in a drifted schema.

use crate::drill::faults::{parse_time_us, Fault};
use contracts::avro::frame;
use contracts::protobuf::{encode_indexes, MessageDescriptor};
use prost_reflect::prost::Message as _;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto, OneofDescriptorProto};
use prost_reflect::{DynamicMessage, Kind, MapKey, Value as Pv};
use serde_json::Value;
use std::collections::HashMap;

/// `rec` in the wire format: header with schema `id`, message indexes `[0]`, the message.
///
/// # Errors
/// A field the message does not have, or a value its field cannot hold, named.
pub fn encode(id: u32, m: &MessageDescriptor, rec: &Value) -> Result<Vec<u8>, String> {
    let msg = message(m, rec, "").map_err(|e| format!("schema id {id}: {e}"))?;
    let mut body = encode_indexes(&[0]);
    msg.encode(&mut body).map_err(|e| e.to_string())?;
    Ok(frame(id, &body))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// The message of type `m` that carries the JSON object `v`.
///
/// # Errors
/// As [`encode`].
pub fn message(m: &MessageDescriptor, v: &Value, path: &str) -> Result<DynamicMessage, String> {
    let obj = v.as_object().ok_or_else(|| format!("{}: {v} is not an object for message {}", if path.is_empty() { "record" } else { path }, m.full_name()))?;
    if let Some(k) = obj.keys().find(|k| m.get_field_by_name(k).is_none()) {
        return Err(format!("{}: message {} has no such field", join(path, k), m.full_name()));
    }
    let mut msg = DynamicMessage::new(m.clone());
    for field in m.fields() {
        let at = join(path, field.name());
        match obj.get(field.name()) {
            None | Some(Value::Null) if field.supports_presence() || field.is_list() || field.is_map() => {}
            None | Some(Value::Null) => return Err(format!("{at}: null or absent, but a plain proto3 field always has a value (make it optional to leave it unset)")),
            Some(x) => {
                let value = if field.is_map() {
                    let kind = field.kind();
                    let Some(entry) = kind.as_message() else { return Err(format!("{at}: a map without an entry type")) };
                    let (kf, vf) = (entry.map_entry_key_field(), entry.map_entry_value_field());
                    let o = x.as_object().ok_or_else(|| format!("{at}: {x} is not an object for a map"))?;
                    let mut out = HashMap::with_capacity(o.len());
                    for (k, item) in o {
                        out.insert(map_key(&kf.kind(), k).ok_or_else(|| format!("{at}: key {k:?} does not fit {:?}", kf.kind()))?, scalar(&vf.kind(), item, &format!("{at}[{k}]"))?);
                    }
                    Pv::Map(out)
                } else if field.is_list() {
                    let items = x.as_array().ok_or_else(|| format!("{at}: {x} is not a list"))?;
                    Pv::List(items.iter().enumerate().map(|(i, item)| scalar(&field.kind(), item, &format!("{at}[{i}]"))).collect::<Result<_, _>>()?)
                } else {
                    scalar(&field.kind(), x, &at)?
                };
                msg.try_set_field(&field, value).map_err(|e| format!("{at}: {e}"))?;
            }
        }
    }
    Ok(msg)
}

fn map_key(kind: &Kind, k: &str) -> Option<MapKey> {
    Some(match kind {
        Kind::String => MapKey::String(k.to_string()),
        Kind::Bool => MapKey::Bool(k.parse().ok()?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(k.parse().ok()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(k.parse().ok()?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(k.parse().ok()?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(k.parse().ok()?),
        _ => return None,
    })
}

/// An integer value: a JSON integer, or a float without a fraction (`5.0`).
fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)).or_else(|| {
            #[allow(clippy::cast_possible_truncation)]
            n.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9.0e18).map(|x| x as i128)
        }),
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation)]
fn scalar(kind: &Kind, v: &Value, at: &str) -> Result<Pv, String> {
    let no = |what: &str| format!("{at}: {v} is not {what}");
    let int = |what: &str| integer(v).ok_or_else(|| no(what));
    Ok(match kind {
        Kind::Double => Pv::F64(v.as_f64().ok_or_else(|| no("a number"))?),
        Kind::Float => Pv::F32(v.as_f64().ok_or_else(|| no("a number"))? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Pv::I32(i32::try_from(int("an integer")?).map_err(|_| no("a 32-bit integer"))?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Pv::I64(i64::try_from(int("an integer")?).map_err(|_| no("a 64-bit integer"))?),
        Kind::Uint32 | Kind::Fixed32 => Pv::U32(u32::try_from(int("an integer")?).map_err(|_| no("an unsigned 32-bit integer"))?),
        Kind::Uint64 | Kind::Fixed64 => Pv::U64(u64::try_from(int("an integer")?).map_err(|_| no("an unsigned 64-bit integer"))?),
        Kind::Bool => Pv::Bool(v.as_bool().ok_or_else(|| no("a boolean"))?),
        Kind::String => Pv::String(v.as_str().ok_or_else(|| no("a string"))?.to_string()),
        Kind::Bytes => Pv::Bytes(hex(v.as_str().ok_or_else(|| no("hex text"))?).ok_or_else(|| no("hex text"))?.into()),
        Kind::Enum(e) => match v {
            Value::String(s) => Pv::EnumNumber(e.get_value_by_name(s).ok_or_else(|| format!("{at}: {s:?} is no symbol of enum {}", e.full_name()))?.number()),
            // A number the enum does not name is what the gate shows as a number.
            _ => Pv::EnumNumber(i32::try_from(int("an enum symbol or number")?).map_err(|_| no("an enum number"))?),
        },
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => {
                let us = parse_time_us(v).ok_or_else(|| no("a timestamp (RFC 3339 or epoch ms)"))?;
                let mut t = DynamicMessage::new(m.clone());
                t.set_field_by_name("seconds", Pv::I64(us.div_euclid(1_000_000)));
                t.set_field_by_name("nanos", Pv::I32(i32::try_from(us.rem_euclid(1_000_000) * 1000).unwrap_or(0)));
                Pv::Message(t)
            }
            name if name.starts_with("google.protobuf.") && name.ends_with("Value") && m.get_field_by_name("value").is_some() && m.fields().len() == 1 => {
                let f = m.get_field_by_name("value").ok_or_else(|| no("a wrapped value"))?;
                let mut w = DynamicMessage::new(m.clone());
                w.try_set_field(&f, scalar(&f.kind(), v, at)?).map_err(|e| format!("{at}: {e}"))?;
                Pv::Message(w)
            }
            _ => Pv::Message(message(m, v, at)?),
        },
    })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

/// The schema `file`'s descriptor, as a drift starts from it.
#[must_use]
pub fn descriptor(file: &contracts::protobuf::FileDescriptor) -> FileDescriptorProto {
    let mut d = file.file_descriptor_proto().clone();
    d.source_code_info = None;
    d
}

/// `d` as the registry takes it: base64 of the serialized descriptor.
#[must_use]
pub fn serialized(d: &FileDescriptorProto) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(d.encode_to_vec())
}

/// The schema a producer sending `fault`'s records would register: the first message's field
/// retyped, renamed, dropped, added or made `optional`, or its enum given a symbol more;
/// `None` when the base schema carries them.
///
/// # Errors
/// A fault on a field the message does not have, or a schema without a message.
pub fn drift(base: &FileDescriptorProto, fault: &Fault) -> Result<Option<FileDescriptorProto>, String> {
    let mut d = base.clone();
    let proto3 = d.syntax.as_deref() == Some("proto3");
    let msg = d.message_type.first_mut().ok_or("the writer schema has no message")?;
    match fault {
        Fault::NumberAsString { field } => retype(field_mut(msg, field)?, Type::String),
        Fault::CategoryAsNumber { field } => retype(field_mut(msg, field)?, Type::Int32),
        // A plain int64: the Timestamp message is gone, as with a producer sending epoch ms.
        Fault::EpochMillis { field } => retype(field_mut(msg, field)?, Type::Int64),
        Fault::Rename { from, to } => {
            let f = field_mut(msg, from)?;
            f.name = Some(to.clone());
            f.json_name = Some(to.clone());
            if let Some(o) = f.oneof_index.and_then(|i| usize::try_from(i).ok()).filter(|_| f.proto3_optional == Some(true)) {
                if let Some(decl) = msg.oneof_decl.get_mut(o) {
                    decl.name = Some(format!("_{to}"));
                }
            }
        }
        Fault::Drop { field } => {
            let i = position(msg, field)?;
            let gone = msg.field.remove(i);
            if gone.proto3_optional == Some(true) {
                if let Some(o) = gone.oneof_index {
                    remove_oneof(msg, o);
                }
            }
        }
        Fault::Add { field, value } => {
            let ty = match value {
                Value::Bool(_) => Type::Bool,
                Value::Number(n) if n.is_i64() || n.is_u64() => Type::Int64,
                Value::Number(_) => Type::Double,
                _ => Type::String,
            };
            let number = msg.field.iter().filter_map(|f| f.number).max().unwrap_or(0) + 1;
            msg.field.push(FieldDescriptorProto { name: Some(field.clone()), json_name: Some(field.clone()), number: Some(number), label: Some(Label::Optional as i32), r#type: Some(ty as i32), ..FieldDescriptorProto::default() });
        }
        Fault::NewCategory { field, value } => {
            let f = field_mut(msg, field)?;
            if f.r#type != Some(Type::Enum as i32) {
                return Ok(None);
            }
            let full = f.type_name.clone().unwrap_or_default();
            let e = enum_mut(&mut d, &full).ok_or_else(|| format!("the writer schema does not define enum {full}"))?;
            if e.value.iter().any(|x| x.name.as_deref() == Some(value)) {
                return Ok(None);
            }
            let number = e.value.iter().filter_map(|x| x.number).max().unwrap_or(0) + 1;
            e.value.push(EnumValueDescriptorProto { name: Some(value.clone()), number: Some(number), options: None });
        }
        Fault::Null { field } => {
            let f = field_mut(msg, field)?;
            let presence = f.r#type == Some(Type::Message as i32) || f.oneof_index.is_some() || f.label == Some(Label::Repeated as i32) || (!proto3 && f.label != Some(Label::Required as i32));
            if presence {
                return Ok(None);
            }
            if !proto3 {
                f.label = Some(Label::Optional as i32);
                return Ok(Some(d));
            }
            // proto3 `optional`: a synthetic oneof of its own, after every real one.
            let at = i32::try_from(msg.oneof_decl.len()).map_err(|e| e.to_string())?;
            let f = field_mut(msg, field)?;
            f.proto3_optional = Some(true);
            f.oneof_index = Some(at);
            msg.oneof_decl.push(OneofDescriptorProto { name: Some(format!("_{field}")), options: None });
        }
        Fault::Stale { .. } | Fault::Silence | Fault::Shift { .. } | Fault::Duplicate | Fault::Malformed => return Ok(None),
    }
    Ok(Some(d))
}

fn position(msg: &DescriptorProto, name: &str) -> Result<usize, String> {
    msg.field.iter().position(|f| f.name.as_deref() == Some(name)).ok_or_else(|| format!("message {} of the writer schema has no field {name:?}", msg.name.as_deref().unwrap_or("?")))
}

fn field_mut<'a>(msg: &'a mut DescriptorProto, name: &str) -> Result<&'a mut FieldDescriptorProto, String> {
    let i = position(msg, name)?;
    Ok(&mut msg.field[i])
}

/// The field's type replaced by the scalar `to`. A message field (a `Timestamp`) becomes a
/// plain scalar without presence: the gate refuses the schema for its type before any
/// record's presence matters.
fn retype(f: &mut FieldDescriptorProto, to: Type) {
    f.r#type = Some(to as i32);
    f.type_name = None;
    f.default_value = None;
}

/// Removes oneof `o` (a dropped field's synthetic one) and renumbers the fields after it.
fn remove_oneof(msg: &mut DescriptorProto, o: i32) {
    if msg.field.iter().any(|f| f.oneof_index == Some(o)) {
        return;
    }
    if let Ok(i) = usize::try_from(o) {
        if i < msg.oneof_decl.len() {
            msg.oneof_decl.remove(i);
        }
    }
    for f in &mut msg.field {
        if let Some(x) = f.oneof_index.filter(|x| *x > o) {
            f.oneof_index = Some(x - 1);
        }
    }
}

/// The enum named `full` (`.pkg.Msg.Enum`) in `d`, at the top level or nested in messages.
fn enum_mut<'a>(d: &'a mut FileDescriptorProto, full: &str) -> Option<&'a mut EnumDescriptorProto> {
    fn walk<'a>(scope: &str, msgs: &'a mut [DescriptorProto], enums: &'a mut [EnumDescriptorProto], full: &str) -> Option<&'a mut EnumDescriptorProto> {
        if let Some(e) = enums.iter_mut().find(|e| format!("{scope}.{}", e.name.as_deref().unwrap_or_default()) == full) {
            return Some(e);
        }
        for m in msgs {
            let inner = format!("{scope}.{}", m.name.as_deref().unwrap_or_default());
            if full.starts_with(&format!("{inner}.")) {
                return walk(&inner, &mut m.nested_type, &mut m.enum_type, full);
            }
        }
        None
    }
    let scope = d.package.as_deref().filter(|p| !p.is_empty()).map_or_else(String::new, |p| format!(".{p}"));
    walk(&scope, &mut d.message_type, &mut d.enum_type, full)
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
