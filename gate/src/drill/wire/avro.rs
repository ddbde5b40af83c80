//! Avro writer schemas for drills: the record encoded with apache-avro after the Confluent
//! header, and the drifted schema (JSON) a broken producer would register for a fault.

use crate::drill::faults::Fault;
use contracts::avro::{frame, from_json, Schema};
use serde_json::{json, Value};

/// Parses `text` as the Avro schema registered under `id`.
///
/// # Errors
/// The parser's message.
pub fn parse(id: u32, text: &str) -> Result<Schema, String> {
    Schema::parse_str(text).map_err(|e| format!("schema id {id} is not a usable Avro schema: {e}"))
}

/// `rec` in the wire format with `schema`, registered under `id`.
///
/// # Errors
/// A field that does not fit the schema, named.
pub fn encode(id: u32, schema: &Schema, rec: &Value) -> Result<Vec<u8>, String> {
    let v = from_json(schema, rec)?;
    let w = apache_avro::writer::datum::GenericDatumWriter::builder(schema).build().map_err(|e| e.to_string())?;
    let body = w.write_value_to_vec(v).map_err(|e| format!("writing with schema id {id}: {e}"))?;
    Ok(frame(id, &body))
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
