//! The JSON Schema rules of the Schema Registry subset, pure: which texts are stored, whether a
//! reader schema reads every document a writer schema admits, and whether a schema can carry
//! a contract's records.
//!
//! A stored schema is an object or a boolean whose keywords this module relies on are well
//! formed (`type`, `properties`, `required`, `enum`), and whose `$ref`s are local (`#…`) and
//! resolve: another document would be a schema reference, which the registry does not store.
//!
//! Compatibility ([`reads`]) walks both schemas together from the root, through `properties`,
//! `additionalProperties` and `items` (one schema), a local `$ref` standing for its target.
//! At each pair of nodes, each of these is a reason, naming the field:
//!
//! * type: the writer allows a type the reader refuses (no `type` allows every type; an
//!   `integer` is a `number`, not the reverse);
//! * enum (or `const`): the reader allows values the writer's do not cover, or the writer has
//!   no enum at all;
//! * bounds: a reader's `maxLength`, `maximum`, `maxItems`, `exclusiveMaximum` (and the `min`
//!   ones) that the writer lacks or that is tighter than the writer's;
//! * objects: the reader requires a property the writer does not require; the reader allows
//!   no properties beyond its own (`additionalProperties: false`) and the writer does, or the
//!   writer declares a property the closed reader does not; a property both declare is
//!   compared recursively, and one only the writer declares is compared with the reader's
//!   `additionalProperties` schema;
//! * every other validation keyword (`allOf`, `anyOf`, `oneOf`, `not`, `pattern`, `format`, a
//!   tuple `items`, …) is compared as a whole: a reader whose value differs from the writer's
//!   is a reason. Annotations (`title`, `description`, `default`, …) are not compared.
//!
//! A property only the reader declares is not a reason: an optional property added is what
//! evolving a JSON Schema mostly is, and a writer's open content model (the default) would
//! otherwise refuse it. The rules are sound for the keywords they model and conservative for
//! the rest (a combinator that changed is refused even when it would be harmless).

use crate::avro_rules::{compiled_object, InvalidSchema};
use contracts::Contract;
use serde_json::Value;
use std::collections::HashSet;

/// The seven JSON Schema types.
const TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "integer", "string"];
/// Validation keywords this module does not model: compared as a whole.
const WHOLE: [&str; 27] = [
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "pattern", "format", "multipleOf", "patternProperties", "propertyNames", "dependencies", "dependentRequired",
    "dependentSchemas", "prefixItems", "additionalItems", "contains", "minContains", "maxContains", "uniqueItems", "unevaluatedProperties", "unevaluatedItems", "minProperties",
    "maxProperties", "contentEncoding", "contentMediaType",
];
/// Upper bounds: a reader's must be at least the writer's.
const UPPER: [&str; 4] = ["maxLength", "maximum", "exclusiveMaximum", "maxItems"];
/// Lower bounds: a reader's must be at most the writer's.
const LOWER: [&str; 4] = ["minLength", "minimum", "exclusiveMinimum", "minItems"];
/// Deeper than any real schema: a walk stops there with a reason rather than overflow.
const MAX_DEPTH: usize = 64;
/// The boolean schemas, for absent keywords that mean one of them.
static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);
/// `{}`, which admits what `true` admits: a writer `true` is walked as it, so a reader's
/// keywords (`required`, bounds, …) still meet a writer that promises nothing.
static ANY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(serde_json::Map::new()));

/// Parses a JSON Schema text as stored: JSON, an object or a boolean, well-formed keywords,
/// local references only.
///
/// # Errors
/// [`InvalidSchema::NotJson`], [`InvalidSchema::Json`], or [`InvalidSchema::Unsupported`]
/// for a reference to another document.
pub fn parse(text: &str) -> Result<Value, InvalidSchema> {
    let v: Value = serde_json::from_str(text).map_err(|e| InvalidSchema::NotJson(e.to_string()))?;
    if !matches!(v, Value::Object(_) | Value::Bool(_)) {
        return Err(InvalidSchema::Json(format!("a JSON Schema is an object or a boolean, not {}", json_kind(&v))));
    }
    check_node(&v, &v, "", 0)?;
    Ok(v)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The subschemas of a node, with the keyword path of each (for messages).
fn subschemas(node: &Value) -> Vec<(String, &Value)> {
    let Value::Object(m) = node else { return Vec::new() };
    let mut out = Vec::new();
    for (k, v) in m {
        match (k.as_str(), v) {
            ("properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas", Value::Object(children)) => {
                out.extend(children.iter().map(|(name, s)| (format!("{k}.{name}"), s)));
            }
            ("items" | "prefixItems" | "allOf" | "anyOf" | "oneOf", Value::Array(list)) => out.extend(list.iter().enumerate().map(|(i, s)| (format!("{k}[{i}]"), s))),
            ("items" | "additionalProperties" | "additionalItems" | "not" | "if" | "then" | "else" | "contains" | "propertyNames" | "unevaluatedProperties" | "unevaluatedItems", s) => {
                out.push((k.clone(), s));
            }
            _ => {}
        }
    }
    out
}

fn check_node(root: &Value, node: &Value, at: &str, depth: usize) -> Result<(), InvalidSchema> {
    let bad = |m: String| Err(InvalidSchema::Json(format!("{}{m}", if at.is_empty() { String::new() } else { format!("{at}: ") })));
    let Value::Object(m) = node else {
        return if node.is_boolean() { Ok(()) } else { bad(format!("a subschema is an object or a boolean, not {}", json_kind(node))) };
    };
    if depth > MAX_DEPTH {
        return bad(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    match m.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts)) if ts.iter().all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(t) => return bad(format!("\"type\" must be one of {} or a list of them, not {t}", TYPES.join(", "))),
    }
    if m.get("properties").is_some_and(|p| !p.is_object()) {
        return bad("\"properties\" must be an object".into());
    }
    if m.get("required").is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
        return bad("\"required\" must be a list of property names".into());
    }
    if m.get("enum").is_some_and(|e| !e.is_array()) {
        return bad("\"enum\" must be a list".into());
    }
    if let Some(r) = m.get("$ref") {
        let Some(r) = r.as_str() else { return bad("\"$ref\" must be a string".into()) };
        if !r.starts_with('#') {
            return Err(InvalidSchema::Unsupported(format!("{at}: $ref {r:?} names another document: schema references are not supported, inline it or use a local \"#/$defs/…\" reference")));
        }
        if root.pointer(&r[1..]).is_none() {
            return bad(format!("$ref {r:?} points to nothing in this schema"));
        }
    }
    for (k, s) in subschemas(node) {
        check_node(root, s, &if at.is_empty() { k } else { format!("{at}.{k}") }, depth + 1)?;
    }
    Ok(())
}

/// Every reason `reader` cannot read a document valid under `writer` (empty when it can),
/// by the rules in the module doc.
#[must_use]
pub fn reads(writer: &Value, reader: &Value) -> Vec<String> {
    let mut w = Walk { writer_root: writer, reader_root: reader, seen: HashSet::new(), out: Vec::new() };
    w.pair("", writer, reader, 0);
    w.out
}

struct Walk<'a> {
    writer_root: &'a Value,
    reader_root: &'a Value,
    /// Node pairs already compared: a recursive schema (a `$ref` to an ancestor) is
    /// compatible with itself once its other keywords are, so a pair seen again is not walked.
    seen: HashSet<(*const Value, *const Value)>,
    out: Vec<String>,
}

/// A local `$ref` chain followed to its target (at most a few hops; a cycle of bare `$ref`s
/// admits nothing, like `false`).
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..MAX_DEPTH {
        match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            Some(ptr) => match root.pointer(ptr) {
                Some(target) => node = target,
                None => return &FALSE,
            },
            None => return node,
        }
    }
    &FALSE
}

fn field(path: &str) -> String {
    if path.is_empty() { "the schema".into() } else { format!("field {path:?}") }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// The types a node allows; `None` when every type (no `type` keyword).
fn types(node: &Value) -> Option<Vec<&str>> {
    match node {
        Value::Bool(true) => None,
        Value::Bool(false) => Some(Vec::new()),
        _ => match node.get("type") {
            Some(Value::String(t)) => Some(vec![t.as_str()]),
            Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).collect()),
            _ => None,
        },
    }
}

/// The values a node allows by `enum` or `const`; `None` when not limited.
fn values(node: &Value) -> Option<Vec<&Value>> {
    node.get("const").map(|c| vec![c]).or_else(|| node.get("enum").and_then(Value::as_array).map(|a| a.iter().collect()))
}

fn required(node: &Value) -> Vec<&str> {
    node.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `additionalProperties`, absent meaning `true`.
fn additional(node: &Value) -> &Value {
    node.get("additionalProperties").unwrap_or(&TRUE)
}

fn closed(node: &Value) -> bool {
    additional(node) == &Value::Bool(false)
}

impl<'a> Walk<'a> {
    fn pair(&mut self, path: &str, writer: &'a Value, reader: &'a Value, depth: usize) {
        let (writer, reader) = (resolve(self.writer_root, writer), resolve(self.reader_root, reader));
        if !self.seen.insert((std::ptr::from_ref(writer), std::ptr::from_ref(reader))) {
            return;
        }
        if depth > MAX_DEPTH {
            self.out.push(format!("{}: nested deeper than {MAX_DEPTH} levels, cannot be compared", field(path)));
            return;
        }
        if writer == &Value::Bool(false) || reader == &Value::Bool(true) {
            return;
        }
        let writer: &Value = if writer == &Value::Bool(true) { &ANY } else { writer };
        let (wt, rt) = (types(writer), types(reader));
        let writer_types: Vec<&str> = wt.clone().unwrap_or_else(|| TYPES.to_vec());
        if let Some(rt) = &rt {
            let refused: Vec<&str> = writer_types.iter().copied().filter(|t| !(rt.contains(t) || (*t == "integer" && rt.contains(&"number")))).collect();
            if !refused.is_empty() {
                let allows = if rt.is_empty() { "nothing".to_string() } else { rt.join(", ") };
                let writer_says = if wt.is_none() { "any type".to_string() } else { refused.join(", ") };
                self.out.push(format!("{}: the writer allows {writer_says}, the reader allows only {allows}", field(path)));
            }
        }
        let (Value::Object(w), Value::Object(r)) = (writer, reader) else { return };
        if let Some(rv) = values(reader) {
            match values(writer) {
                None => self.out.push(format!("{}: the reader allows only the values {}, the writer any", field(path), Value::from(rv.into_iter().cloned().collect::<Vec<_>>()))),
                Some(wv) => {
                    let extra: Vec<Value> = wv.into_iter().filter(|v| !rv.contains(v)).cloned().collect();
                    if !extra.is_empty() {
                        self.out.push(format!("{}: the reader does not allow the writer's values {}", field(path), Value::from(extra)));
                    }
                }
            }
        }
        self.bounds(path, w, r);
        for k in WHOLE {
            if let Some(rv) = r.get(k) {
                if w.get(k) != Some(rv) {
                    self.out.push(format!("{}: \"{k}\" differs from the writer's (it is compared as a whole)", field(path)));
                }
            }
        }
        let both = |t: &str| writer_types.contains(&t) && rt.as_ref().is_none_or(|rt| rt.contains(&t));
        if both("object") {
            self.object(path, writer, reader, depth);
        }
        if both("array") {
            match (w.get("items"), r.get("items")) {
                (_, None) => {}
                (wi, Some(ri @ Value::Array(_))) => {
                    if wi != Some(ri) {
                        self.out.push(format!("{}: \"items\" (a tuple) differs from the writer's (it is compared as a whole)", field(path)));
                    }
                }
                (Some(Value::Array(_)), Some(_)) => self.out.push(format!("{}: the writer's items are a tuple, the reader's one schema", field(path))),
                (wi, Some(ri)) => self.pair(&format!("{path}[]"), wi.unwrap_or(&TRUE), ri, depth + 1),
            }
        }
    }

    fn bounds(&mut self, path: &str, w: &serde_json::Map<String, Value>, r: &serde_json::Map<String, Value>) {
        for (keys, upper) in [(&UPPER, true), (&LOWER, false)] {
            for k in keys {
                let Some(rb) = r.get(*k).and_then(Value::as_f64) else { continue };
                let looser = match w.get(*k).and_then(Value::as_f64) {
                    None => true,
                    Some(wb) if upper => wb > rb,
                    Some(wb) => wb < rb,
                };
                if looser {
                    let wb = w.get(*k).map_or_else(|| "none".to_string(), ToString::to_string);
                    self.out.push(format!("{}: the reader's {k} {rb} is tighter than the writer's ({wb})", field(path)));
                }
            }
        }
    }

    fn object(&mut self, path: &str, writer: &'a Value, reader: &'a Value, depth: usize) {
        let writer_required = required(writer);
        for name in required(reader) {
            if !writer_required.contains(&name) {
                let has = writer.get("properties").and_then(|p| p.get(name)).is_some();
                let why = if has { "the writer declares it optional" } else { "the writer does not declare it" };
                self.out.push(format!("{}: the reader requires it, {why}", field(&join(path, name))));
            }
        }
        if closed(reader) && !closed(writer) {
            self.out.push(format!("{}: the reader allows no properties beyond its own (additionalProperties: false), the writer does", field(path)));
        }
        let wp = writer.get("properties").and_then(Value::as_object);
        let rp = reader.get("properties").and_then(Value::as_object);
        for (name, ws) in wp.into_iter().flatten() {
            let sub = join(path, name);
            match rp.and_then(|m| m.get(name)) {
                Some(rs) => self.pair(&sub, ws, rs, depth + 1),
                None if closed(reader) => self.out.push(format!("{}: the writer declares it, the reader allows no properties beyond its own", field(&sub))),
                None => self.pair(&sub, ws, additional(reader), depth + 1),
            }
        }
        // Undeclared properties of both: compared only when each side says what they are.
        if !closed(reader) && !closed(writer) && (writer.get("additionalProperties").is_some() || reader.get("additionalProperties").is_some()) {
            self.pair(&join(path, "*"), additional(writer), additional(reader), depth + 1);
        }
    }
}

/// Checks that a JSON Schema can carry records of `contract`, judged against the schema
/// object named like the schema's `title` (else the contract's first object): the sidecar's
/// rule (`contracts::json_wire::conforms`), plus required properties listed in `required` and
/// not nullable. Returns every problem, each naming the field.
#[must_use]
pub fn contract_gaps(contract: &Contract, schema: &Value) -> Vec<String> {
    match compiled_object(contract, schema.get("title").and_then(Value::as_str)) {
        Ok(Some(compiled)) => contracts::json_wire::conforms_never_null(&compiled, schema).iter().map(ToString::to_string).collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![e],
    }
}

#[cfg(test)]
#[path = "json_rules_tests.rs"]
mod tests;
