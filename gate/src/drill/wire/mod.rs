//! Drills on Avro bindings: records in the Confluent wire format (magic byte 0, 4-byte schema
//! id, Avro body), as a producer with a registry-aware serializer writes them.
//!
//! Pure, like the injectors: [`drift`] derives the writer schema a broken producer would
//! register for a fault (a field retyped, renamed, dropped or added; an enum symbol more; a
//! field made nullable), [`Base::refuses`] says whether the gate would take that schema as
//! drift, and [`Writers`] turns good and broken records into wire-format bytes. Reading the
//! baseline's schema and registering drifted ones is [`registry`].

pub mod registry;

#[cfg(test)]
mod tests;

use super::faults::{garbage, mix, Applied, Ctx, Fault, Out};
use contracts::avro::{conforms, frame, from_json, Schema, HEADER_LEN};
use contracts::CompiledContract;
use serde_json::{json, Value};
use std::sync::Arc;

/// A registered writer schema.
#[derive(Debug, Clone)]
pub struct Writer {
    /// Its id in the registry.
    pub id: u32,
    /// The parsed schema.
    pub schema: Schema,
}

impl Writer {
    /// Parses `text` as the schema registered under `id`.
    ///
    /// # Errors
    /// The parser's message.
    pub fn parse(id: u32, text: &str) -> Result<Self, String> {
        Schema::parse_str(text).map(|schema| Self { id, schema }).map_err(|e| format!("schema id {id} is not a usable Avro schema: {e}"))
    }

    /// `rec` in the wire format with this schema.
    ///
    /// # Errors
    /// A field that does not fit the schema, named.
    pub fn encode(&self, rec: &Value) -> Result<Vec<u8>, String> {
        let v = from_json(&self.schema, rec)?;
        let w = apache_avro::writer::datum::GenericDatumWriter::builder(&self.schema).build().map_err(|e| e.to_string())?;
        let body = w.write_value_to_vec(v).map_err(|e| format!("writing with schema id {}: {e}", self.id))?;
        Ok(frame(self.id, &body))
    }
}

/// The binding's side of an Avro drill: the producers' writer schema and how the gate judges
/// schemas.
#[derive(Debug, Clone)]
pub struct Base {
    /// The baseline's writer schema.
    pub writer: Writer,
    /// The same schema as JSON, the starting point of drifted ones.
    pub json: Value,
    /// The binding's contract.
    pub contract: Arc<CompiledContract>,
    /// The binding's `allowed_schema_ids`.
    pub allowed: Option<Vec<u32>>,
}

impl Base {
    /// The base for the schema `text` registered under `id`; the gate must accept it.
    ///
    /// # Errors
    /// A schema that does not parse, that the contract refuses, or that the binding does not
    /// allow: every baseline record would be drift.
    pub fn new(id: u32, text: &str, contract: Arc<CompiledContract>, allowed: Option<Vec<u32>>) -> Result<Self, String> {
        let writer = Writer::parse(id, text)?;
        let json: Value = serde_json::from_str(text).map_err(|e| format!("schema id {id}: {e}"))?;
        if allowed.as_ref().is_some_and(|ids| !ids.contains(&id)) {
            return Err(format!("the baseline's writer schema id {id} is not among the binding's allowed_schema_ids: every record would be schema drift"));
        }
        let m = conforms(&contract, &writer.schema);
        if !m.is_empty() {
            return Err(format!("the baseline's writer schema id {id} does not conform to {} {}: {}", contract.id, contract.version, m.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")));
        }
        Ok(Self { writer, json, contract, allowed })
    }

    /// Why the gate would refuse the writer schema `schema` (JSON) as drift, or `None` when it
    /// would read its records and check them one by one. A drifted schema is always a new id,
    /// so pinned ids refuse it.
    ///
    /// # Errors
    /// A schema that does not parse.
    pub fn refuses(&self, schema: &Value) -> Result<Option<String>, String> {
        let s = Schema::parse(schema).map_err(|e| format!("the drifted writer schema does not parse: {e}"))?;
        if let Some(ids) = &self.allowed {
            return Ok(Some(format!("a new schema id is not among allowed_schema_ids {ids:?}")));
        }
        let m = conforms(&self.contract, &s);
        Ok((!m.is_empty()).then(|| m.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
    }
}

/// The writer schema a producer sending `fault`'s records would register, derived from the
/// base schema (JSON); `None` when the base schema carries them (a value fault, or a new
/// category of a string field).
///
/// # Errors
/// A fault on a field the schema does not have, or a schema that is not a record.
pub fn drift(base: &Value, fault: &Fault) -> Result<Option<Value>, String> {
    let mut s = base.clone();
    let Some(fields) = s.get_mut("fields").and_then(Value::as_array_mut) else {
        return Err("the writer schema is not a record with fields".into());
    };
    match fault {
        Fault::NumberAsString { field } => retype(field_mut(fields, field)?, json!("string")),
        Fault::CategoryAsNumber { field } => retype(field_mut(fields, field)?, json!("int")),
        // A plain long: the timestamp's logical type is gone, as with a producer that sends
        // epoch numbers.
        Fault::EpochMillis { field } => retype(field_mut(fields, field)?, json!("long")),
        Fault::Rename { from, to } => {
            let f = field_mut(fields, from)?;
            f["name"] = Value::String(to.clone());
            if let Some(o) = f.as_object_mut() {
                o.remove("aliases");
            }
        }
        Fault::Drop { field } => {
            fields.remove(position(fields, field)?);
        }
        Fault::Add { field, value } => {
            let ty = match value {
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "long",
                Value::Number(_) => "double",
                _ => "string",
            };
            fields.push(json!({"name": field, "type": ["null", ty], "default": null}));
        }
        Fault::NewCategory { field, value } => {
            let f = field_mut(fields, field)?;
            if !add_symbol(&mut f["type"], value) {
                return Ok(None);
            }
        }
        Fault::Null { field } => {
            let f = field_mut(fields, field)?;
            if nullable(&f["type"]) {
                return Ok(None);
            }
            let ty = f["type"].take();
            f["type"] = json!(["null", ty]);
            f["default"] = Value::Null;
        }
        Fault::Stale { .. } | Fault::Silence | Fault::Shift { .. } | Fault::Duplicate | Fault::Malformed => return Ok(None),
    }
    Ok(Some(s))
}

fn position(fields: &[Value], name: &str) -> Result<usize, String> {
    fields.iter().position(|f| f.get("name").and_then(Value::as_str) == Some(name)).ok_or_else(|| format!("the writer schema has no field {name:?}"))
}

fn field_mut<'a>(fields: &'a mut [Value], name: &str) -> Result<&'a mut Value, String> {
    let i = position(fields, name)?;
    Ok(&mut fields[i])
}

fn nullable(ty: &Value) -> bool {
    ty.as_array().is_some_and(|bs| bs.iter().any(|b| b == "null")) || ty == "null"
}

/// The field's type replaced by `to`, null still allowed where it was.
fn retype(field: &mut Value, to: Value) {
    let was_nullable = nullable(&field["type"]);
    if let Some(o) = field.as_object_mut() {
        o.remove("default");
        if was_nullable {
            o.insert("type".into(), json!(["null", to]));
            o.insert("default".into(), Value::Null);
        } else {
            o.insert("type".into(), to);
        }
    }
}

/// Adds `symbol` to the enum defined in `ty` (directly or as a union branch); false when
/// there is none or it has the symbol already.
fn add_symbol(ty: &mut Value, symbol: &str) -> bool {
    match ty {
        Value::Array(branches) => branches.iter_mut().any(|b| add_symbol(b, symbol)),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("enum") => match o.get_mut("symbols").and_then(Value::as_array_mut) {
            Some(symbols) if !symbols.iter().any(|s| s == symbol) => {
                symbols.push(Value::String(symbol.to_string()));
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The id in the header of a malformed record meant to be unknown: -1 as the Java registries'
/// signed ids read it, which none hands out.
pub const UNKNOWN_ID: u32 = u32::MAX;

/// How one drill writes records on an Avro binding.
#[derive(Debug, Clone)]
pub struct Writers {
    /// The producers' schema: the baseline, and faults it can carry.
    pub base: Writer,
    /// The fault's own schema ([`drift`]), registered for this drill.
    pub fault: Option<Writer>,
}

impl Writers {
    /// A good record.
    ///
    /// # Errors
    /// The record does not fit the base schema.
    pub fn baseline(&self, rec: &Value) -> Result<Vec<u8>, String> {
        self.base.encode(rec)
    }

    /// What the drill sends in place of `rec` while `fault` lasts.
    ///
    /// # Errors
    /// The broken record does not fit its writer schema.
    pub fn inject(&self, fault: &Fault, rec: &Value, ctx: &Ctx<'_>) -> Result<Out, String> {
        Ok(match fault.apply(rec, ctx) {
            Applied::Skip => Out::Skip,
            Applied::Previous => Out::Send(match ctx.previous {
                Some(p) => p.to_vec(),
                None => self.base.encode(rec)?,
            }),
            Applied::Malformed => Out::Send(malformed(&self.base.encode(rec)?, ctx)),
            Applied::Record(r) => Out::Send(self.fault.as_ref().unwrap_or(&self.base).encode(&r)?),
        })
    }
}

/// In turn: the frame cut inside its body (a torn write: the header reads, the body does
/// not), 16–63 pseudo-random bytes starting with 0xFF (a wrong magic byte: not the wire
/// format), and the frame under [`UNKNOWN_ID`] (a schema the registry does not know).
#[must_use]
pub fn malformed(framed: &[u8], ctx: &Ctx<'_>) -> Vec<u8> {
    let r = mix(ctx.seed, ctx.index);
    match ctx.index % 3 {
        0 => {
            let body = framed.len().saturating_sub(HEADER_LEN);
            #[allow(clippy::cast_possible_truncation)]
            let keep = if body > 1 { (r as usize) % body } else { 0 };
            // No body left at all would still fail, as a record shorter than its schema.
            framed[..(HEADER_LEN + keep).min(framed.len())].to_vec()
        }
        1 => garbage(r),
        _ => {
            let mut out = framed.to_vec();
            if let Some(id) = out.get_mut(1..HEADER_LEN) {
                id.copy_from_slice(&UNKNOWN_ID.to_be_bytes());
            }
            out
        }
    }
}

/// Checks that every baseline record, restamped as the drill will send it, fits the base
/// schema: before the drill, not as failed sends in the middle of it.
///
/// # Errors
/// The first record that does not fit, with the writer's message.
pub fn check_baseline(records: &[Value], restamp: Option<&str>, base: &Writer) -> Result<(), String> {
    let now_us = chrono::Utc::now().timestamp_micros();
    for (i, rec) in records.iter().enumerate() {
        let mut r = rec.clone();
        if let (Some(f), Some(o)) = (restamp, r.as_object_mut()) {
            let stamped = super::faults::restamp(o.get(f), now_us);
            o.insert(f.to_string(), stamped);
        }
        base.encode(&r).map_err(|e| format!("baseline record {} does not fit the writer schema id {}: {e}", i + 1, base.id))?;
    }
    Ok(())
}
