//! ODCS properties → one JSON Schema document, compiled once by the `jsonschema` crate.
//!
//! What JSON Schema cannot say (date/timestamp ranges given as strings) becomes a
//! [`PostCheck`] run after the schema passes for the field.

use crate::error::Problem;
use crate::model::{LogicalType, LogicalTypeOptions, Property};
pub use crate::timefmt::TimeFormat;
use crate::timefmt::ZoneRule;
use serde_json::{json, Map, Value};

/// A range check on a date or timestamp field, run in Rust after schema validation.
#[derive(Debug, Clone)]
pub struct PostCheck {
    /// Path of keys from the record root to the field.
    pub path: Vec<String>,
    /// Dotted field name for reports.
    pub field: String,
    /// Rule id.
    pub rule: String,
    /// How values are written.
    pub format: TimeFormat,
    /// Whether the format itself is checked here (custom patterns JSON Schema cannot check).
    pub check_format: bool,
    /// Lower bound in ms since the epoch, and whether it is exclusive.
    pub min: Option<(i64, bool)>,
    /// Upper bound in ms since the epoch, and whether it is exclusive.
    pub max: Option<(i64, bool)>,
    /// Human form of the bounds.
    pub expected: String,
}

/// Output of schema building.
#[derive(Debug, Default)]
pub struct Built {
    /// The JSON Schema document.
    pub schema: Value,
    /// Range checks JSON Schema cannot express.
    pub post: Vec<PostCheck>,
    /// Required field names (dotted) — to tell a `required` failure from a type failure.
    pub required: Vec<String>,
    /// Problems found while building.
    pub problems: Vec<Problem>,
}

/// Builds the schema for an object's properties. `allow_extra` leaves unknown keys legal.
pub fn build(props: &[Property], base_path: &str, allow_extra: bool) -> Built {
    let mut out = Built::default();
    let schema = object_schema(props, base_path, &[], allow_extra, &mut out);
    out.schema = schema;
    out
}

fn object_schema(props: &[Property], path: &str, keys: &[String], allow_extra: bool, out: &mut Built) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (i, p) in props.iter().enumerate() {
        let ppath = format!("{path}.properties[{i}]");
        if p.name.is_empty() {
            out.problems.push(Problem::error(ppath, "a property needs a name"));
            continue;
        }
        if properties.contains_key(&p.name) {
            out.problems.push(Problem::error(format!("{ppath}.name"), format!("duplicate property name {:?}", p.name)));
            continue;
        }
        let mut k = keys.to_vec();
        k.push(p.name.clone());
        if p.required {
            required.push(Value::String(p.name.clone()));
            out.required.push(k.join("."));
        }
        let s = property_schema(p, &ppath, &k, allow_extra, out);
        properties.insert(p.name.clone(), s);
    }
    let mut s = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        s["required"] = Value::Array(required);
    }
    if !allow_extra {
        s["additionalProperties"] = Value::Bool(false);
    }
    s
}

fn property_schema(p: &Property, path: &str, keys: &[String], allow_extra: bool, out: &mut Built) -> Value {
    let opts = p.logical_type_options.clone().unwrap_or_default();
    let opath = format!("{path}.logicalTypeOptions");
    let mut s = Map::new();
    let ty: Option<&str> = match p.logical_type {
        None => None,
        Some(LogicalType::String | LogicalType::Date | LogicalType::Timestamp | LogicalType::Time) => Some("string"),
        Some(LogicalType::Number) => Some("number"),
        Some(LogicalType::Integer) => Some("integer"),
        Some(LogicalType::Boolean) => Some("boolean"),
        Some(LogicalType::Object) => Some("object"),
        Some(LogicalType::Array) => Some("array"),
    };
    if let Some(ty) = ty {
        s.insert("type".into(), if p.required { json!(ty) } else { json!([ty, "null"]) });
    }
    check_options_apply(p.logical_type, &opts, &opath, out);
    match p.logical_type {
        Some(LogicalType::String) => {
            put_u(&mut s, "minLength", opts.min_length);
            put_u(&mut s, "maxLength", opts.max_length);
            if let Some(pat) = &opts.pattern {
                match regex::Regex::new(pat) {
                    Ok(_) => {
                        s.insert("pattern".into(), json!(pat));
                    }
                    Err(e) => out.problems.push(Problem::error(format!("{opath}.pattern"), format!("invalid regular expression: {e}"))),
                }
            }
            if let Some(f) = &opts.format {
                // Formats JSON Schema validates; others are descriptive only.
                const CHECKED: &[&str] = &["date-time", "date", "time", "email", "uuid", "ipv4", "ipv6", "hostname", "uri", "duration"];
                if CHECKED.contains(&f.as_str()) {
                    s.insert("format".into(), json!(f));
                } else {
                    out.problems.push(Problem::not_enforced(format!("{opath}.format"), format!("string format {f:?} is descriptive; the gate checks {}", CHECKED.join(", "))));
                }
            }
        }
        Some(ty @ (LogicalType::Date | LogicalType::Timestamp | LogicalType::Time)) => {
            let zone = TimeFormat::zone_rule(p).unwrap_or_else(|e| {
                out.problems.push(Problem::error(format!("{opath}.defaultTimezone"), e));
                ZoneRule::default()
            });
            let format = match &opts.format {
                None => TimeFormat::of(p),
                Some(f) => match crate::timefmt::Pattern::compile(f) {
                    Ok(pat) => {
                        let tf = TimeFormat::pattern(pat, zone.clone());
                        pattern_fits(ty, &tf, f, &opath, out).then_some(tf)
                    }
                    Err(e) => {
                        out.problems.push(Problem::error(format!("{opath}.format"), format!("{f:?} {e}")));
                        None
                    }
                },
            };
            match (&format, zone.carried) {
                (Some(TimeFormat::Pattern(pat)), Some(true)) if !pat.has_offset() => {
                    out.problems.push(Problem::error(format!("{opath}.timezone"), format!("timezone: true, but the format {} writes no offset (X, x or Z): no value could carry one", pat.as_str())));
                }
                (Some(TimeFormat::Rfc3339), Some(false)) => {
                    out.problems.push(Problem::error(format!("{opath}.timezone"), "timezone: false, but without a format timestamps are RFC 3339, which always carries an offset: give a format without one"));
                }
                _ => {}
            }
            if let Some(format) = format {
                // Without a pattern, dates and timestamps are RFC 3339, which JSON Schema checks;
                // patterns (and a time's ISO default) are checked after it.
                let custom = !matches!(format, TimeFormat::Date | TimeFormat::Rfc3339);
                if !custom {
                    s.insert("format".into(), json!(if ty == LogicalType::Date { "date" } else { "date-time" }));
                }
                date_post(&opts, &opath, keys, format, custom, out);
            }
        }
        Some(LogicalType::Number | LogicalType::Integer) => {
            for (k, v) in [("minimum", &opts.minimum), ("maximum", &opts.maximum), ("exclusiveMinimum", &opts.exclusive_minimum), ("exclusiveMaximum", &opts.exclusive_maximum)] {
                match v {
                    None => {}
                    Some(n @ Value::Number(_)) => {
                        s.insert(k.into(), n.clone());
                    }
                    Some(other) => out.problems.push(Problem::error(format!("{opath}.{k}"), format!("expected a number, found {other}"))),
                }
            }
            if let Some(m) = opts.multiple_of {
                if m > 0.0 {
                    s.insert("multipleOf".into(), json!(m));
                } else {
                    out.problems.push(Problem::error(format!("{opath}.multipleOf"), "must be greater than 0"));
                }
            }
            if let Some(f) = &opts.format {
                // The format's range applies whatever the logical type (a value it cannot hold
                // would not survive the consumer's cast); the tighter of it and the contract's
                // own bound wins.
                if let Some((lo, hi)) = int_range(f) {
                    if let Some(lo) = lo {
                        tighten(&mut s, "minimum", json!(lo), true);
                    }
                    if let Some(hi) = hi {
                        tighten(&mut s, "maximum", json!(hi), false);
                    }
                } else if f == "f32" {
                    tighten(&mut s, "minimum", json!(-f64::from(f32::MAX)), true);
                    tighten(&mut s, "maximum", json!(f64::from(f32::MAX)), false);
                } else if f != "f64" {
                    out.problems.push(Problem::error(format!("{opath}.format"), format!("unknown numeric format {f:?}; expected i8…i128, u8…u128, f32 or f64")));
                }
            }
        }
        Some(LogicalType::Array) => {
            put_u(&mut s, "minItems", opts.min_items);
            put_u(&mut s, "maxItems", opts.max_items);
            if opts.unique_items == Some(true) {
                s.insert("uniqueItems".into(), json!(true));
            }
            if let Some(items) = &p.items {
                let mut k = keys.to_vec();
                if let Some(last) = k.last_mut() {
                    last.push_str("[]");
                }
                let item = property_schema(items, &format!("{path}.items"), &k, allow_extra, out);
                s.insert("items".into(), item);
            }
        }
        Some(LogicalType::Object) | None if !p.properties.is_empty() => {
            let inner = object_schema(&p.properties, path, keys, allow_extra, out);
            if let Value::Object(m) = inner {
                for (k, v) in m {
                    if k != "type" {
                        s.insert(k, v);
                    }
                }
            }
            put_u(&mut s, "minProperties", opts.min_properties);
            put_u(&mut s, "maxProperties", opts.max_properties);
            object_required(&mut s, &opts, &p.properties, &opath, out);
        }
        Some(LogicalType::Object) => {
            put_u(&mut s, "minProperties", opts.min_properties);
            put_u(&mut s, "maxProperties", opts.max_properties);
            if let Some(req) = &opts.required {
                s.insert("required".into(), json!(req));
            }
        }
        Some(LogicalType::Boolean) | None => {}
    }
    Value::Object(s)
}

/// `logicalTypeOptions.required` of an object: the listed keys must be present (JSON Schema
/// `required`, added to what the properties' own `required: true` already demand). A name
/// the object's properties do not declare is an error when the object allows no other keys,
/// since no record could then satisfy it.
fn object_required(s: &mut Map<String, Value>, opts: &LogicalTypeOptions, props: &[Property], opath: &str, out: &mut Built) {
    let Some(req) = &opts.required else { return };
    let mut all: Vec<Value> = s.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    for name in req {
        if s.get("additionalProperties") == Some(&Value::Bool(false)) && !props.iter().any(|p| &p.name == name) {
            out.problems.push(Problem::error(format!("{opath}.required"), format!("{name:?} is not a property of this object, and the object takes no other keys")));
        }
        if !all.iter().any(|v| v.as_str() == Some(name)) {
            all.push(json!(name));
        }
    }
    s.insert("required".into(), Value::Array(all));
}

/// Sets bound `k` to `v` unless the one already there is tighter (`lower`: the larger wins).
fn tighten(s: &mut Map<String, Value>, k: &str, v: Value, lower: bool) {
    let keep = match (s.get(k).and_then(Value::as_f64), v.as_f64()) {
        (Some(old), Some(new)) => if lower { old >= new } else { old <= new },
        _ => false,
    };
    if !keep {
        s.insert(k.into(), v);
    }
}

fn put_u(s: &mut Map<String, Value>, k: &str, v: Option<u64>) {
    if let Some(v) = v {
        s.insert(k.into(), json!(v));
    }
}

/// Bounds implied by a Rust-style integer format; 64- and 128-bit ones only fix the sign.
fn int_range(f: &str) -> Option<(Option<i64>, Option<i64>)> {
    Some(match f {
        "i8" => (Some(i8::MIN.into()), Some(i8::MAX.into())),
        "i16" => (Some(i16::MIN.into()), Some(i16::MAX.into())),
        "i32" => (Some(i32::MIN.into()), Some(i32::MAX.into())),
        "u8" => (Some(0), Some(u8::MAX.into())),
        "u16" => (Some(0), Some(u16::MAX.into())),
        "u32" => (Some(0), Some(u32::MAX.into())),
        "u64" => (Some(0), None),
        "i64" => (Some(i64::MIN), Some(i64::MAX)),
        "u128" => (Some(0), None),
        "i128" => (None, None),
        _ => return None,
    })
}

/// Options that the given logical type does not take are errors: a `minLength` on an integer
/// means the author thinks the field is something it is not.
fn check_options_apply(ty: Option<LogicalType>, o: &LogicalTypeOptions, opath: &str, out: &mut Built) {
    let present: Vec<(&str, bool)> = vec![
        ("minimum", o.minimum.is_some()),
        ("maximum", o.maximum.is_some()),
        ("exclusiveMinimum", o.exclusive_minimum.is_some()),
        ("exclusiveMaximum", o.exclusive_maximum.is_some()),
        ("multipleOf", o.multiple_of.is_some()),
        ("minLength", o.min_length.is_some()),
        ("maxLength", o.max_length.is_some()),
        ("pattern", o.pattern.is_some()),
        ("format", o.format.is_some()),
        ("timezone", o.timezone.is_some()),
        ("defaultTimezone", o.default_timezone.is_some()),
        ("minItems", o.min_items.is_some()),
        ("maxItems", o.max_items.is_some()),
        ("uniqueItems", o.unique_items.is_some()),
        ("minProperties", o.min_properties.is_some()),
        ("maxProperties", o.max_properties.is_some()),
        ("required", o.required.is_some()),
    ];
    let allowed: &[&str] = match ty {
        Some(LogicalType::String) => &["minLength", "maxLength", "pattern", "format"],
        Some(LogicalType::Date) => &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "format"],
        Some(LogicalType::Timestamp | LogicalType::Time) => &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "format", "timezone", "defaultTimezone"],
        Some(LogicalType::Integer | LogicalType::Number) => &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "format"],
        Some(LogicalType::Array) => &["minItems", "maxItems", "uniqueItems"],
        Some(LogicalType::Object) => &["minProperties", "maxProperties", "required"],
        Some(LogicalType::Boolean) => &[],
        None => return,
    };
    for (k, on) in present {
        if on && !allowed.contains(&k) {
            let t = ty.map_or("untyped", |t| t.as_str());
            out.problems.push(Problem::error(format!("{opath}.{k}"), format!("not an option of logicalType {t}; allowed: {}", if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") })));
        }
    }
}

/// Whether a compiled pattern can write a value of the type: dates and timestamps need a year,
/// times an hour.
fn pattern_fits(ty: LogicalType, tf: &TimeFormat, f: &str, opath: &str, out: &mut Built) -> bool {
    let TimeFormat::Pattern(p) = tf else { return true };
    let missing = match ty {
        LogicalType::Date | LogicalType::Timestamp if !p.has_year() => Some("year (y or u)"),
        LogicalType::Time if !p.has_time() => Some("hour (H, k, K or h)"),
        _ => None,
    };
    match missing {
        Some(what) => {
            out.problems.push(Problem::error(format!("{opath}.format"), format!("{f:?} has no {what}: a {} value needs one", ty.as_str())));
            false
        }
        None => true,
    }
}

fn date_post(o: &LogicalTypeOptions, opath: &str, keys: &[String], format: TimeFormat, check_format: bool, out: &mut Built) {
    let mut bound = |key: &str, v: &Option<Value>, exclusive: bool| -> Option<(i64, bool)> {
        let v = v.as_ref()?;
        // Bounds may be written in the field's own format or as RFC 3339, plain dates,
        // `yyyy-MM-dd HH:mm:ss[XXX]` or ISO times.
        let fallbacks = || [TimeFormat::Rfc3339, TimeFormat::Date, TimeFormat::from_pattern("yyyy-MM-dd HH:mm:ss[XXX][Z]").unwrap_or(TimeFormat::Rfc3339), TimeFormat::of_time_default()];
        let parsed = v.as_str().and_then(|s| format.parse(s).or_else(|| fallbacks().iter().find_map(|f| f.parse(s))));
        match parsed {
            Some(ms) => Some((ms, exclusive)),
            None => {
                out.problems.push(Problem::error(format!("{opath}.{key}"), format!("expected a date or timestamp string, found {v}")));
                None
            }
        }
    };
    let min = bound("minimum", &o.minimum, false).or_else(|| bound("exclusiveMinimum", &o.exclusive_minimum, true));
    let max = bound("maximum", &o.maximum, false).or_else(|| bound("exclusiveMaximum", &o.exclusive_maximum, true));
    if min.is_none() && max.is_none() && !check_format {
        return;
    }
    let written = |v: &Option<Value>| v.clone().unwrap_or_default();
    let mut parts = Vec::new();
    if let Some((_, ex)) = min {
        parts.push(bound_words(true, ex, &written(if o.minimum.is_some() { &o.minimum } else { &o.exclusive_minimum })));
    }
    if let Some((_, ex)) = max {
        parts.push(bound_words(false, ex, &written(if o.maximum.is_some() { &o.maximum } else { &o.exclusive_maximum })));
    }
    let field = keys.join(".");
    out.post.push(PostCheck { path: keys.to_vec(), rule: format!("{field}.range"), field, format, check_format, min, max, expected: parts.join(" and ") });
}

/// A date/time bound as words: `at or after 2024-01-01`.
#[must_use]
pub(crate) fn bound_words(low: bool, exclusive: bool, value: &Value) -> String {
    let v = value.as_str().map_or_else(|| value.to_string(), String::from);
    let word = match (low, exclusive) {
        (true, false) => "at or after",
        (true, true) => "after",
        (false, false) => "at or before",
        (false, true) => "before",
    };
    format!("{word} {v}")
}
