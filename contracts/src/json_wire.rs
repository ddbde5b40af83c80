//! JSON Schema in the Confluent wire format: the body after the 5-byte header is the JSON
//! record itself, checked as any JSON record; the writer schema (fetched by id) is judged once
//! per schema by the rule Avro and Protobuf writer schemas are judged by, so a producer that
//! moved to a schema that cannot carry the contract is schema drift on its first record.
//!
//! Rules: every contract property is declared under `properties` (at every depth; local
//! `$ref`s are followed) with a `type` whose values the property's logical type accepts — a
//! property without a `type` accepts anything, so it cannot promise the contract's type; a
//! type list is compatible when each non-null member is. Properties the contract does not
//! name are drift unless it allows extra fields. An open schema (`additionalProperties` not
//! false) is not drift by itself: undeclared fields are caught record by record, as for JSON.
//! [`conforms_never_null`] also wants every required property listed in `required` and not
//! nullable: the stricter door of registration under a bound subject.

use crate::avro::shape::Shape;
use crate::avro::{Mismatch, MismatchKind};
use crate::model::{LogicalType, Property};
use serde_json::Value;

/// Whether `schema` can carry records of `contract`'s checked schema object.
#[must_use]
pub fn conforms(contract: &crate::CompiledContract, schema: &Value) -> Vec<Mismatch> {
    check(&Shape::from_contract(contract), contract.allows_extra_fields(), false, schema)
}

/// [`conforms`], and required properties must be required and not nullable.
#[must_use]
pub fn conforms_never_null(contract: &crate::CompiledContract, schema: &Value) -> Vec<Mismatch> {
    check(&Shape::from_contract(contract), contract.allows_extra_fields(), true, schema)
}

/// [`conforms`] for a list of top-level properties (a contract that is not compiled).
#[must_use]
pub fn conforms_properties(props: &[Property], allow_extra: bool, never_null: bool, schema: &Value) -> Vec<Mismatch> {
    check(&props.iter().map(Shape::from_property).collect::<Vec<_>>(), allow_extra, never_null, schema)
}

fn check(props: &[Shape], allow_extra: bool, never_null: bool, schema: &Value) -> Vec<Mismatch> {
    let mut c = Checker { root: schema, allow_extra, never_null, out: Vec::new() };
    match c.resolve(schema) {
        Ok(s) if types(s).is_none_or(|t| t.contains(&"object")) => c.object("", s, props, 0),
        Ok(s) => c.out.push(Mismatch { field: String::new(), kind: MismatchKind::Unusable { reason: format!("the writer schema is of type {}, the contract needs an object", found(s)) } }),
        Err(reason) => c.out.push(Mismatch { field: String::new(), kind: MismatchKind::Unusable { reason } }),
    }
    c.out
}

struct Checker<'a> {
    root: &'a Value,
    allow_extra: bool,
    never_null: bool,
    out: Vec<Mismatch>,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// The `type` keyword as a list; `None` when absent (any type).
fn types(s: &Value) -> Option<Vec<&str>> {
    match s.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        _ => Some(Vec::new()),
    }
}

fn found(s: &Value) -> String {
    match types(s) {
        None => "any (no type)".into(),
        Some(t) if t.len() == 1 => t[0].to_string(),
        Some(t) => format!("[{}]", t.join(", ")),
    }
}

impl<'a> Checker<'a> {
    /// Follows local `$ref`s (`#/…` JSON pointers) to their definition.
    fn resolve(&self, s: &'a Value) -> Result<&'a Value, String> {
        let mut s = s;
        for _ in 0..32 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else { return Ok(s) };
            let Some(ptr) = r.strip_prefix('#') else { return Err(format!("refers to {r}: only references inside the schema (#/…) are followed")) };
            s = self.root.pointer(ptr).ok_or_else(|| format!("refers to {r}, which the schema does not define"))?;
        }
        Err("references nest more than 32 deep".into())
    }

    fn object(&mut self, path: &str, s: &'a Value, props: &[Shape], depth: usize) {
        if depth > 64 {
            return;
        }
        let declared = s.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = s.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for p in props {
            let field = join(path, &p.name);
            match declared.and_then(|d| d.get(&p.name)) {
                None => self.out.push(Mismatch { field, kind: MismatchKind::Missing }),
                Some(f) => {
                    if self.never_null && p.required && !required.contains(&p.name.as_str()) {
                        self.out.push(Mismatch { field: field.clone(), kind: MismatchKind::Nullable });
                    }
                    self.typed(&field, f, p, depth + 1);
                }
            }
        }
        if !self.allow_extra {
            for name in declared.into_iter().flat_map(|d| d.keys()) {
                if !props.iter().any(|p| &p.name == name) {
                    self.out.push(Mismatch { field: join(path, name), kind: MismatchKind::Extra });
                }
            }
        }
    }

    fn typed(&mut self, field: &str, s: &'a Value, p: &Shape, depth: usize) {
        let s = match self.resolve(s) {
            Ok(s) => s,
            Err(reason) => return self.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Unusable { reason } }),
        };
        let listed = types(s);
        if self.never_null && p.required && listed.as_ref().is_some_and(|t| t.contains(&"null")) {
            let already = self.out.last().is_some_and(|m| m.field == field && m.kind == MismatchKind::Nullable);
            if !already {
                self.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Nullable });
            }
        }
        let Some(ty) = p.ty else {
            if !p.props.is_empty() {
                self.object(field, s, &p.props, depth);
            }
            return;
        };
        let mismatch = |c: &mut Self| c.out.push(Mismatch { field: field.to_string(), kind: MismatchKind::Type { expected: ty.as_str(), found: found(s) } });
        let Some(listed) = listed else { return mismatch(self) };
        let members: Vec<&str> = listed.into_iter().filter(|t| *t != "null").collect();
        if members.is_empty() || !members.iter().all(|t| accepts(ty, t)) {
            return mismatch(self);
        }
        match ty {
            LogicalType::Object => self.object(field, s, &p.props, depth),
            LogicalType::Array => {
                if let (Some(items), Some(i)) = (&p.items, s.get("items")) {
                    self.typed(&format!("{field}[]"), i, items, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Whether every value of JSON type `t` is one the logical type accepts.
fn accepts(ty: LogicalType, t: &str) -> bool {
    match ty {
        LogicalType::Integer => t == "integer",
        LogicalType::Number => matches!(t, "integer" | "number"),
        LogicalType::String | LogicalType::Time => t == "string",
        LogicalType::Boolean => t == "boolean",
        // Every ODCS date/time format is text.
        LogicalType::Date | LogicalType::Timestamp => t == "string",
        LogicalType::Object => t == "object",
        LogicalType::Array => t == "array",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, parse};
    use serde_json::json;

    fn contract_with(props: &str) -> crate::CompiledContract {
        let yaml = format!("apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n{props}");
        compile(&parse(&yaml).expect("contract parses"), None).expect("contract compiles")
    }

    #[test]
    fn flights_schema_carries_the_flights_contract() {
        let c = compile(&parse(include_str!("../../examples/flights/flights.odcs.yaml")).expect("parses"), None).expect("compiles");
        let s: Value = serde_json::from_str(include_str!("../../examples/flights/flights.schema.json")).expect("json");
        assert_eq!(conforms_never_null(&c, &s), Vec::new());
    }

    #[test]
    fn conformance_table() {
        let p = |name: &str, ty: &str, req: bool| format!("      - name: {name}\n        logicalType: {ty}\n        required: {req}\n");
        let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
        let cases: Vec<(&str, String, Value, bool, Vec<&str>)> = vec![
            ("integer", p("a", "integer", false), obj(json!({"a": {"type": "integer"}}), &[]), false, vec![]),
            ("number is no integer", p("a", "integer", false), obj(json!({"a": {"type": "number"}}), &[]), false, vec!["a: contract integer, writer number"]),
            ("integer is a number", p("a", "number", false), obj(json!({"a": {"type": ["integer", "null"]}}), &[]), false, vec![]),
            ("no type promises nothing", p("a", "string", false), obj(json!({"a": {}}), &[]), false, vec!["a: contract string, writer any (no type)"]),
            ("missing and extra", p("a", "string", false), obj(json!({"b": {"type": "string"}}), &[]), false, vec!["a: missing from the writer schema", "b: not in the contract (extra fields not allowed)"]),
            ("local ref", p("a", "string", false), json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/s"}}, "definitions": {"s": {"type": "string"}}}), false, vec![]),
            ("remote ref", p("a", "string", false), obj(json!({"a": {"$ref": "http://x/s.json"}}), &[]), false, vec!["a: refers to http://x/s.json: only references inside the schema (#/…) are followed"]),
            ("timestamp as text", p("a", "timestamp", false), obj(json!({"a": {"type": "string", "format": "date-time"}}), &[]), false, vec![]),
            ("nullable required at the door", p("a", "string", true), obj(json!({"a": {"type": ["string", "null"]}}), &["a"]), true, vec!["field \"a\" is required by the contract (never null) but the writer schema lets it be null"]),
            ("not listed as required at the door", p("a", "string", true), obj(json!({"a": {"type": "string"}}), &[]), true, vec!["field \"a\" is required by the contract (never null) but the writer schema lets it be null"]),
            ("nullable required in the sidecar", p("a", "string", true), obj(json!({"a": {"type": ["string", "null"]}}), &[]), false, vec![]),
            ("array items", format!("{}        items:\n          logicalType: integer\n", p("a", "array", false)), obj(json!({"a": {"type": "array", "items": {"type": "string"}}}), &[]), false, vec!["a[]: contract integer, writer string"]),
            ("not an object", p("a", "string", false), json!({"type": "array"}), false, vec!["schema: the writer schema is of type array, the contract needs an object"]),
        ];
        for (name, props, schema, door, want) in cases {
            let c = contract_with(&props);
            let got: Vec<String> = if door { conforms_never_null(&c, &schema) } else { conforms(&c, &schema) }.iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
