//! JSON Schema writer schemas for drills: the record is the body after the Confluent header,
//! as `JSONSerializer` writes it, and a fault that changes a field's type or the record's
//! fields gets the JSON Schema its producer would register.
//!
//! The gate reads the body as plain JSON and judges only the writer schema, so nothing on
//! the gate's side would notice a record its own schema does not admit. A validating
//! serializer would refuse such a record, though, so [`fits`] checks what a drill sends
//! against the schema's top level (declared types, `enum`, `required`, a closed
//! `additionalProperties`): a value fault the baseline schema cannot carry (a null in a
//! non-nullable field, a category outside an `enum`) gets a widened schema from [`drift`]
//! instead of being sent under a schema that forbids it.

use crate::drill::faults::Fault;
use contracts::avro::frame;
use serde_json::{json, Map, Value};

/// `rec` in the wire format under schema `id`, after checking it fits `schema`.
///
/// # Errors
/// The first top-level field that the schema does not admit.
pub fn encode(id: u32, schema: &Value, rec: &Value) -> Result<Vec<u8>, String> {
    fits(schema, rec).map_err(|e| format!("schema id {id}: {e}"))?;
    let body = serde_json::to_vec(rec).map_err(|e| e.to_string())?;
    Ok(frame(id, &body))
}

/// Whether `rec` passes the top-level keywords of `schema` a drill can break: each field's
/// `type` and `enum`, `required`, and `additionalProperties: false`. Nested schemas and value
/// keywords (`minimum`, `pattern`, `format`, …) are the contract's to judge.
///
/// # Errors
/// What does not fit, with the field named.
pub fn fits(schema: &Value, rec: &Value) -> Result<(), String> {
    let obj = rec.as_object().ok_or("the record is not a JSON object")?;
    let props = schema.get("properties").and_then(Value::as_object);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (k, v) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(p) => admits(p, v).map_err(|e| format!("field {k:?}: {e}"))?,
            None if closed => return Err(format!("field {k:?} is not declared and the schema allows no other properties")),
            None => {}
        }
    }
    let required = schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    for r in required {
        if !obj.contains_key(r) {
            return Err(format!("field {r:?} is required by the schema and missing"));
        }
    }
    Ok(())
}

/// The JSON Schema type names `v` is an instance of (an integer is also a number).
fn instance_of(v: &Value) -> &'static [&'static str] {
    match v {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(n) if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|x| x.fract() == 0.0) => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

fn admits(prop: &Value, v: &Value) -> Result<(), String> {
    let listed: Option<Vec<&str>> = match prop.get("type") {
        Some(Value::String(t)) => Some(vec![t.as_str()]),
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).collect()),
        _ => None,
    };
    if let Some(types) = listed {
        if !instance_of(v).iter().any(|t| types.contains(t)) {
            return Err(format!("{v} is not of type {}", types.join(" or ")));
        }
    }
    if let Some(symbols) = prop.get("enum").and_then(Value::as_array) {
        if !symbols.contains(v) {
            return Err(format!("{v} is not in the schema's enum"));
        }
    }
    Ok(())
}

/// The writer schema a producer sending `fault`'s records would register, derived from the
/// base schema; `None` when the base schema admits them (a value fault, a null in a nullable
/// field, a new category of a field without `enum`).
///
/// # Errors
/// A fault on a field the schema does not declare, or a schema without `properties`.
pub fn drift(base: &Value, fault: &Fault) -> Result<Option<Value>, String> {
    let mut s = base.clone();
    let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) else {
        return Err("the writer schema declares no properties".into());
    };
    match fault {
        Fault::NumberAsString { field } => retype(prop_mut(props, field)?, "string"),
        Fault::CategoryAsNumber { field } => retype(prop_mut(props, field)?, "integer"),
        // Epoch numbers: the `date-time` string is gone, as with a producer that sends them.
        Fault::EpochMillis { field } => retype(prop_mut(props, field)?, "integer"),
        Fault::Rename { from, to } => {
            let p = props.remove(from).ok_or_else(|| missing(from))?;
            props.insert(to.clone(), p);
            rename_required(&mut s, from, Some(to));
        }
        Fault::Drop { field } => {
            props.remove(field).ok_or_else(|| missing(field))?;
            rename_required(&mut s, field, None);
        }
        Fault::Add { field, value } => {
            let ty = match value {
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                _ => "string",
            };
            props.insert(field.clone(), json!({"type": [ty, "null"]}));
        }
        Fault::NewCategory { field, value } => {
            let p = prop_mut(props, field)?;
            match p.get_mut("enum").and_then(Value::as_array_mut) {
                Some(symbols) if !symbols.iter().any(|x| x == value) => symbols.push(Value::String(value.clone())),
                _ => return Ok(None),
            }
        }
        Fault::Null { field } => {
            let p = prop_mut(props, field)?;
            if admits(p, &Value::Null).is_ok() {
                return Ok(None);
            }
            let Some(o) = p.as_object_mut() else { return Ok(None) };
            let mut types = match o.get("type") {
                Some(Value::String(t)) => vec![Value::String(t.clone())],
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            if !types.is_empty() && !types.contains(&json!("null")) {
                types.push(json!("null"));
                o.insert("type".into(), Value::Array(types));
            }
            if let Some(symbols) = o.get_mut("enum").and_then(Value::as_array_mut) {
                symbols.push(Value::Null);
            }
        }
        Fault::Stale { .. } | Fault::Silence | Fault::Shift { .. } | Fault::Duplicate | Fault::Malformed => return Ok(None),
    }
    Ok(Some(s))
}

fn missing(name: &str) -> String {
    format!("the writer schema declares no property {name:?}")
}

fn prop_mut<'a>(props: &'a mut Map<String, Value>, name: &str) -> Result<&'a mut Value, String> {
    props.get_mut(name).ok_or_else(|| missing(name))
}

/// The property's type replaced by `to`, null still allowed where it was; keywords that
/// describe the old type's values (`enum`, `format`, a `$ref`) go with it.
fn retype(prop: &mut Value, to: &str) {
    let was_nullable = admits(prop, &Value::Null).is_ok() && prop.get("type").is_some();
    let ty = if was_nullable { json!([to, "null"]) } else { json!(to) };
    *prop = json!({"type": ty});
}

/// `from` in `required` renamed to `to`, or removed.
fn rename_required(schema: &mut Value, from: &str, to: Option<&str>) {
    if let Some(req) = schema.get_mut("required").and_then(Value::as_array_mut) {
        match to {
            Some(to) => req.iter_mut().filter(|r| *r == from).for_each(|r| *r = Value::String(to.to_string())),
            None => req.retain(|r| r != from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "carrier": {"type": "string"},
                "dep_delay": {"type": ["number", "null"]},
                "origin": {"type": "string", "enum": ["EWR", "JFK"]},
                "time_hour": {"type": "string", "format": "date-time"}
            },
            "required": ["carrier", "dep_delay", "origin"],
            "additionalProperties": false
        })
    }

    #[test]
    fn each_fault_gets_the_json_schema_its_producer_would_register() {
        let f = |s: &str| s.to_string();
        // (fault, property, its schema in the drifted schema; None: no schema of its own,
        // Some(None): the property is gone; whether it is still required)
        let cases: Vec<(Fault, &str, Option<Option<Value>>, bool)> = vec![
            (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", Some(Some(json!({"type": ["string", "null"]}))), true),
            (Fault::CategoryAsNumber { field: f("origin") }, "origin", Some(Some(json!({"type": "integer"}))), true),
            (Fault::EpochMillis { field: f("time_hour") }, "time_hour", Some(Some(json!({"type": "integer"}))), false),
            (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", Some(Some(json!({"type": "string"}))), true),
            (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier", Some(None), false),
            (Fault::Drop { field: f("origin") }, "origin", Some(None), false),
            (Fault::Add { field: f("drill_extra"), value: json!(true) }, "drill_extra", Some(Some(json!({"type": ["boolean", "null"]}))), false),
            (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, "origin", Some(Some(json!({"type": "string", "enum": ["EWR", "JFK", "ZZZ"]}))), true),
            (Fault::Null { field: f("carrier") }, "carrier", Some(Some(json!({"type": ["string", "null"]}))), true),
            (Fault::Null { field: f("origin") }, "origin", Some(Some(json!({"type": ["string", "null"], "enum": ["EWR", "JFK", null]}))), true),
            // The base schema admits these.
            (Fault::Null { field: f("dep_delay") }, "", None, false),
            (Fault::NewCategory { field: f("carrier"), value: f("ZZ") }, "", None, false),
            (Fault::NewCategory { field: f("origin"), value: f("JFK") }, "", None, false),
            (Fault::Stale { field: f("time_hour"), by_ms: 1 }, "", None, false),
            (Fault::Duplicate, "", None, false),
            (Fault::Malformed, "", None, false),
        ];
        for (fault, prop, want, required) in cases {
            let got = drift(&schema(), &fault).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            match (&got, want) {
                (None, None) => {}
                (Some(s), Some(p)) => {
                    assert_eq!(s["properties"].get(prop), p.as_ref(), "{fault:?}");
                    assert_eq!(s["required"].as_array().is_some_and(|r| r.iter().any(|x| x == prop)), required, "{fault:?}");
                }
                _ => panic!("{fault:?}: {got:?}"),
            }
        }
        assert!(drift(&schema(), &Fault::Drop { field: f("nope") }).is_err_and(|e| e.contains("\"nope\"")));
        assert!(drift(&json!({"type": "string"}), &Fault::Drop { field: f("x") }).is_err_and(|e| e.contains("no properties")));
    }

    #[test]
    fn records_must_fit_the_schema_they_are_sent_under() {
        let good = json!({"carrier": "UA", "dep_delay": null, "origin": "EWR", "time_hour": "2013-01-01T10:00:00Z"});
        // (change to the good record, words of the refusal; empty: it fits)
        let cases: Vec<(&str, Value, &str)> = vec![
            ("dep_delay", json!(2), ""),
            ("dep_delay", json!(2.5), ""),
            ("dep_delay", json!("2"), "\"dep_delay\": \"2\" is not of type number or null"),
            ("carrier", Value::Null, "\"carrier\": null is not of type string"),
            ("origin", json!("ZZZ"), "\"origin\": \"ZZZ\" is not in the schema's enum"),
            ("extra", json!(1), "\"extra\" is not declared"),
        ];
        for (field, v, words) in cases {
            let mut r = good.clone();
            r[field] = v;
            let got = fits(&schema(), &r);
            assert!(if words.is_empty() { got.is_ok() } else { got.as_ref().is_err_and(|e| e.contains(words)) }, "{field}: {got:?}");
        }
        let mut r = good.clone();
        r.as_object_mut().map(|o| o.remove("origin"));
        assert!(fits(&schema(), &r).is_err_and(|e| e.contains("\"origin\" is required")));
        // Every drifted schema admits its fault's records.
        let bytes = encode(7, &schema(), &good).expect("fits");
        assert_eq!((bytes[0], &bytes[1..5], serde_json::from_slice::<Value>(&bytes[5..]).ok()), (0, &7u32.to_be_bytes()[..], Some(good)));
    }

    #[test]
    fn on_the_flights_schema_the_gate_refuses_retyped_and_reshaped_schemas_only() {
        use crate::drill::wire::{drift as any_drift, Base, Doc, Format, Writers};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let raw = contracts::parse(&std::fs::read_to_string(root.join("drills/flights.odcs.yaml")).expect("contract")).expect("parse");
        let contract = std::sync::Arc::new(contracts::compile(&raw, None).expect("compile"));
        let text = std::fs::read_to_string(root.join("flights/flights.schema.json")).expect("schema");
        let b = Base::new(Format::JsonSchema, 1, &text, contract, None).expect("the flights schema carries the drill contract");
        let sample = std::fs::read_to_string(root.join("flights/sample.jsonl")).expect("sample");
        let rec: Value = serde_json::from_str(sample.lines().next().expect("a line")).expect("json");
        let f = |s: &str| s.to_string();
        // (fault, refused as drift: words of the reason; None: the gate reads the schema;
        // whether the fault needs a schema of its own)
        let cases = [
            (Fault::NumberAsString { field: f("dep_delay") }, Some("dep_delay: contract number, writer [string, null]"), true),
            (Fault::CategoryAsNumber { field: f("origin") }, Some("origin: contract string, writer integer"), true),
            (Fault::EpochMillis { field: f("time_hour") }, Some("time_hour: contract timestamp, writer integer"), true),
            (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, Some("carrier: missing"), true),
            (Fault::Drop { field: f("tailnum") }, Some("tailnum: missing"), true),
            (Fault::Add { field: f("drill_extra"), value: json!(true) }, Some("drill_extra: not in the contract"), true),
            (Fault::NewCategory { field: f("origin"), value: f("ZZZ") }, None, true),
            (Fault::Null { field: f("carrier") }, None, true),
            (Fault::Null { field: f("dep_time") }, None, false),
            (Fault::NewCategory { field: f("carrier"), value: f("ZZ") }, None, false),
        ];
        let ctx = crate::drill::faults::Ctx { index: 0, seed: 7, now_ms: 1_700_000_000_000, previous: None };
        for (fault, refused, own) in cases {
            let s = any_drift(&b.doc, &fault).expect("drift");
            assert_eq!(s.is_some(), own, "{fault:?}");
            let why = s.as_ref().map(|s| b.refuses(s).expect("parses")).unwrap_or_default();
            assert_eq!(why.is_some(), refused.is_some(), "{fault:?}: {why:?}");
            assert!(why.unwrap_or_default().contains(refused.unwrap_or_default()), "{fault:?}");
            // Every injected record fits the schema it is sent under.
            let w = Writers { base: b.writer.clone(), fault: s.map(|s| s.writer(9).expect("parses")) };
            assert!(matches!(w.inject(&fault, &rec, &ctx), Ok(crate::drill::faults::Out::Send(_))), "{fault:?}");
            assert!(matches!(&b.doc, Doc::JsonSchema(_)));
        }
    }
}
