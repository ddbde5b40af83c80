//! JSON records → Avro values of a writer schema, and the wire-format frame: what a producer
//! does, for demos, tests and benchmarks that start from the JSON flights.

use super::{Schema, HEADER_LEN, MAGIC};
use apache_avro::schema::{NamespaceRef, ResolvedSchema};
use apache_avro::types::Value as A;
use serde_json::Value;
use std::collections::HashMap;

/// The Confluent wire-format frame of an Avro body written with schema `id`.
#[must_use]
pub fn frame(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The Avro value of `schema` for a JSON record: numbers to the field's numeric type,
/// RFC 3339 text (or epoch numbers) to timestamps, `YYYY-MM-DD` to dates, strings to enum
/// symbols, null or a value to a union's first matching branch.
///
/// # Errors
/// A message naming the first field that does not fit.
pub fn from_json(schema: &Schema, v: &Value) -> Result<A, String> {
    let names: HashMap<_, _> = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?.get_names().clone();
    let mut e = Encoder { names };
    e.value(schema, v, None, "")
}

struct Encoder<'a> {
    names: HashMap<apache_avro::schema::Name, &'a Schema>,
}

impl<'a> Encoder<'a> {
    fn value(&mut self, s: &'a Schema, v: &Value, ns: NamespaceRef<'_>, at: &str) -> Result<A, String> {
        let bad = || format!("{}: {v} does not fit {s:?}", if at.is_empty() { "record" } else { at });
        let int = || v.as_i64().ok_or_else(bad);
        let ms = |unit: i64| -> Result<i64, String> {
            match v {
                Value::String(t) => chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_nanos_opt().unwrap_or(0) / unit).map_err(|_| bad()),
                _ => int(),
            }
        };
        Ok(match s {
            Schema::Ref { name } => {
                let t = self.names.get(name.fully_qualified_name(ns).as_ref()).copied().ok_or_else(bad)?;
                return self.value(t, v, ns, at);
            }
            Schema::Null if v.is_null() => A::Null,
            Schema::Boolean => A::Boolean(v.as_bool().ok_or_else(bad)?),
            Schema::Int => A::Int(i32::try_from(int()?).map_err(|_| bad())?),
            Schema::Long => A::Long(int()?),
            #[allow(clippy::cast_possible_truncation)]
            Schema::Float => A::Float(v.as_f64().ok_or_else(bad)? as f32),
            Schema::Double => A::Double(v.as_f64().ok_or_else(bad)?),
            Schema::String => A::String(v.as_str().ok_or_else(bad)?.to_string()),
            Schema::Enum(e) => {
                let sym = v.as_str().ok_or_else(bad)?;
                let i = e.symbols.iter().position(|x| x == sym).ok_or_else(bad)?;
                A::Enum(u32::try_from(i).map_err(|_| bad())?, sym.to_string())
            }
            Schema::TimestampMillis => A::TimestampMillis(ms(1_000_000)?),
            Schema::TimestampMicros => A::TimestampMicros(ms(1_000)?),
            Schema::Date => match v {
                Value::String(t) => {
                    let d = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?;
                    A::Date(i32::try_from(d.signed_duration_since(chrono::NaiveDate::default()).num_days()).map_err(|_| bad())?)
                }
                _ => A::Date(i32::try_from(int()?).map_err(|_| bad())?),
            },
            Schema::Array(a) => {
                let items = v.as_array().ok_or_else(bad)?;
                A::Array(items.iter().enumerate().map(|(i, x)| self.value(&a.items, x, ns, &format!("{at}[{i}]"))).collect::<Result<_, _>>()?)
            }
            Schema::Map(m) => {
                let o = v.as_object().ok_or_else(bad)?;
                A::Map(o.iter().map(|(k, x)| Ok((k.clone(), self.value(&m.types, x, ns, &format!("{at}.{k}"))?))).collect::<Result<_, String>>()?)
            }
            Schema::Union(u) => {
                for (i, b) in u.variants().iter().enumerate() {
                    if let Ok(x) = self.value(b, v, ns, at) {
                        return Ok(A::Union(u32::try_from(i).map_err(|_| bad())?, Box::new(x)));
                    }
                }
                return Err(bad());
            }
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns).into_owned();
                let o = v.as_object().ok_or_else(bad)?;
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    let x = o.get(&f.name).unwrap_or(&Value::Null);
                    let path = if at.is_empty() { f.name.clone() } else { format!("{at}.{}", f.name) };
                    fields.push((f.name.clone(), self.value(&f.schema, x, full.namespace(), &path)?));
                }
                A::Record(fields)
            }
            _ => return Err(bad()),
        })
    }
}
