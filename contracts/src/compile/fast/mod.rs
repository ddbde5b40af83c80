//! A one-pass fast path for the common case: a record that passes the top-level schema.
//!
//! The `jsonschema` validator walks a record's keys once per object keyword (`properties`,
//! `additionalProperties`, `required`) and dispatches each value through boxed keyword
//! validators; for a flat record that is about a third of a check. [`FastSchema`] walks the
//! keys once, against the contract's property names in sorted order (a record's keys come
//! sorted, so each lookup is usually one comparison), checks the keywords that are plain
//! comparisons (`type`, numeric bounds, string lengths) inline, and hands any other keyword
//! of a property (pattern, format, nested objects, arrays, …) to a `jsonschema` validator
//! compiled for just those keywords. The same walk collects the values the window probes
//! read.
//!
//! It only ever answers "valid" or "cannot tell": anything it is not sure of (a failure, a
//! float where an integer is expected, a huge integer against a float bound, an unknown key)
//! sends the record to the full validator, which produces the exact violation list. So a
//! verdict never depends on which path ran; `tests` checks that on generated records.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

const NULL: u8 = 1;
const BOOL: u8 = 2;
const INTEGER: u8 = 4;
const NUMBER: u8 = 8;
const STRING: u8 = 16;
const ARRAY: u8 = 32;
const OBJECT: u8 = 64;
const ANY: u8 = 127;

/// The keywords of one property's schema, split into inline checks and the rest.
#[derive(Debug)]
struct FieldCheck {
    /// Instance types allowed (`ANY` when the schema has no `type`).
    types: u8,
    /// Numeric bounds.
    bounds: Vec<(Number, Side)>,
    /// The same bounds as one inclusive range for integer values, when every limit is an
    /// integer: the common case costs two comparisons.
    ints: Option<(i128, i128)>,
    min_len: Option<u64>,
    max_len: Option<u64>,
    /// Every other keyword, compiled together (they may depend on one another, e.g. `items`).
    rest: Option<jsonschema::Validator>,
}

/// One name the walk looks for: a property of the schema, a key the probes read, or both.
#[derive(Debug)]
struct Field {
    name: String,
    /// The property's checks; `None` for a key only the probes read (not in the schema).
    check: Option<FieldCheck>,
    required: bool,
    /// Index into the probes' lookup table.
    slot: Option<usize>,
}

/// The top-level object of a compiled schema, ready for the one-pass walk.
#[derive(Debug)]
pub(crate) struct FastSchema {
    /// Sorted by name.
    fields: Vec<Field>,
    required: usize,
    allow_extra: bool,
}

/// What one walk over a record found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// The record certainly passes the schema; `false` means "ask the full validator".
    pub valid: bool,
    /// The record has a key outside the schema (schema drift).
    pub unknown: bool,
}

impl FastSchema {
    /// Builds the walk for `schema` (as built by `schema::build`) with the probes' top-level
    /// lookups `slots` (key, lookup index). `None` when the schema has a shape this path does
    /// not know; every record then goes to the full validator.
    pub(crate) fn new(schema: &Value, slots: &[(String, usize)], compile: impl Fn(&Value) -> Option<jsonschema::Validator>) -> Option<Self> {
        let top = schema.as_object()?;
        let mut allow_extra = true;
        let mut required: Vec<&str> = Vec::new();
        let mut properties = None;
        for (k, v) in top {
            match (k.as_str(), v) {
                ("type", Value::String(t)) if t == "object" => {}
                ("properties", Value::Object(p)) => properties = Some(p),
                ("required", Value::Array(r)) => required = r.iter().map(Value::as_str).collect::<Option<_>>()?,
                ("additionalProperties", Value::Bool(false)) => allow_extra = false,
                _ => return None,
            }
        }
        let mut fields: Vec<Field> = Vec::new();
        for (name, sub) in properties? {
            fields.push(Field { name: name.clone(), check: Some(field_check(sub.as_object()?, &compile)?), required: required.contains(&name.as_str()), slot: None });
        }
        // `required` may name a key `properties` does not (an object option written by hand).
        if required.iter().any(|r| !fields.iter().any(|f| f.name == *r)) {
            return None;
        }
        for (key, slot) in slots {
            match fields.iter_mut().find(|f| f.name == *key) {
                Some(f) => f.slot = Some(*slot),
                None => fields.push(Field { name: key.clone(), check: None, required: false, slot: Some(*slot) }),
            }
        }
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let required = fields.iter().filter(|f| f.required).count();
        Some(Self { fields, required, allow_extra })
    }

    /// Walks `rec` once: fills `vals` (by lookup index) with the top-level values the probes
    /// read, and tells whether the record certainly passes the schema.
    pub(crate) fn walk<'v>(&self, rec: &'v Value, vals: &mut [Option<&'v Value>]) -> Walk {
        let Value::Object(m) = rec else { return Walk { valid: false, unknown: false } };
        let mut valid = true;
        let mut unknown = false;
        let mut required = 0;
        let mut cursor = 0;
        for (k, v) in m {
            let Some(f) = self.find(k, &mut cursor) else {
                unknown = true;
                valid &= self.allow_extra;
                continue;
            };
            if let Some(slot) = f.slot {
                if let Some(out) = vals.get_mut(slot) {
                    *out = Some(v);
                }
            }
            match &f.check {
                Some(c) => {
                    required += usize::from(f.required);
                    // Once the record is known to need the full validator, only collect values.
                    valid = valid && c.accepts(v);
                }
                None => {
                    unknown = true;
                    valid &= self.allow_extra;
                }
            }
        }
        Walk { valid: valid && required == self.required, unknown }
    }

    /// The field named `key`. Keys usually arrive sorted, so the cursor is tried first; a
    /// miss there is an unknown key or a map that does not keep keys sorted.
    fn find(&self, key: &str, cursor: &mut usize) -> Option<&Field> {
        // The usual case first: the next name is this key (a length check rejects most others).
        if let Some(f) = self.fields.get(*cursor).filter(|f| f.name == key) {
            *cursor += 1;
            return Some(f);
        }
        while let Some(f) = self.fields.get(*cursor) {
            match f.name.as_str().cmp(key) {
                Ordering::Less => *cursor += 1,
                Ordering::Equal => {
                    *cursor += 1;
                    return Some(f);
                }
                Ordering::Greater => break,
            }
        }
        self.fields.binary_search_by(|f| f.name.as_str().cmp(key)).ok().and_then(|i| self.fields.get(i))
    }
}

/// Splits a property schema into inline checks and a validator for the remaining keywords.
fn field_check(s: &Map<String, Value>, compile: &impl Fn(&Value) -> Option<jsonschema::Validator>) -> Option<FieldCheck> {
    let mut c = FieldCheck { types: ANY, bounds: Vec::new(), ints: None, min_len: None, max_len: None, rest: None };
    let mut rest = Map::new();
    for (k, v) in s {
        let inline = match (k.as_str(), v) {
            ("type", Value::String(t)) => type_bits(t).map(|b| c.types = b),
            ("type", Value::Array(ts)) => ts.iter().try_fold(0, |acc, t| t.as_str().and_then(type_bits).map(|b| acc | b)).map(|b| c.types = b),
            ("minLength", Value::Number(n)) => n.as_u64().map(|n| c.min_len = Some(n)),
            ("maxLength", Value::Number(n)) => n.as_u64().map(|n| c.max_len = Some(n)),
            // Any other numeric keyword that is not a bound is left to the validator.
            (k, Value::Number(n)) => Side::of(k).map(|side| c.bounds.push((n.clone(), side))),
            _ => None,
        };
        if inline.is_none() {
            rest.insert(k.clone(), v.clone());
        }
    }
    if !rest.is_empty() {
        c.rest = Some(compile(&Value::Object(rest))?);
    }
    c.ints = c.bounds.iter().try_fold((i128::MIN, i128::MAX), |(lo, hi), (limit, side)| {
        let l = int_of(limit)?;
        Some(match side {
            Side::Min => (lo.max(l), hi),
            Side::ExclusiveMin => (lo.max(l + 1), hi),
            Side::Max => (lo, hi.min(l)),
            Side::ExclusiveMax => (lo, hi.min(l - 1)),
        })
    });
    Some(c)
}

/// Which bound a numeric limit is.
#[derive(Debug, Clone, Copy)]
enum Side {
    Min,
    ExclusiveMin,
    Max,
    ExclusiveMax,
}

impl Side {
    /// The bound a JSON Schema keyword sets, if it is one.
    fn of(keyword: &str) -> Option<Self> {
        match keyword {
            "minimum" => Some(Self::Min),
            "maximum" => Some(Self::Max),
            "exclusiveMinimum" => Some(Self::ExclusiveMin),
            "exclusiveMaximum" => Some(Self::ExclusiveMax),
            _ => None,
        }
    }

    /// Whether a value ordered `ord` against the limit passes; `None` (undecided) never does.
    fn passes(self, ord: Option<Ordering>) -> bool {
        match self {
            Self::Min => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            Self::ExclusiveMin => ord == Some(Ordering::Greater),
            Self::Max => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            Self::ExclusiveMax => ord == Some(Ordering::Less),
        }
    }
}

fn type_bits(t: &str) -> Option<u8> {
    Some(match t {
        "null" => NULL,
        "boolean" => BOOL,
        "integer" => INTEGER,
        "number" => NUMBER | INTEGER,
        "string" => STRING,
        "array" => ARRAY,
        "object" => OBJECT,
        _ => return None,
    })
}

impl FieldCheck {
    /// True only when the value certainly passes every keyword.
    fn accepts(&self, v: &Value) -> bool {
        let inline = match v {
            Value::Null => self.types & NULL != 0,
            Value::Bool(_) => self.types & BOOL != 0,
            // A float with no fraction is an integer to JSON Schema; that rare case goes to the
            // full validator rather than being decided here.
            Value::Number(n) => match (n.as_i64(), self.ints) {
                (Some(i), Some((lo, hi))) => self.types & INTEGER != 0 && (lo..=hi).contains(&i128::from(i)),
                _ => (self.types & NUMBER != 0 || (self.types & INTEGER != 0 && !n.is_f64())) && self.bounds.iter().all(|(limit, side)| side.passes(cmp_num(n, limit))),
            },
            Value::String(s) => self.types & STRING != 0 && self.lengths_ok(s),
            Value::Array(_) => self.types & ARRAY != 0,
            Value::Object(_) => self.types & OBJECT != 0,
        };
        inline && self.rest.as_ref().is_none_or(|r| r.is_valid(v))
    }

    fn lengths_ok(&self, s: &str) -> bool {
        if self.min_len.is_none() && self.max_len.is_none() {
            return true;
        }
        // JSON Schema counts code points, not bytes. A string has between a quarter of its
        // bytes (rounded up) and all of them as code points: count only when a bound falls
        // inside that range (a 1 KB field under a 2,000 limit is decided by its length).
        let most = s.len() as u64;
        let fewest = most.div_ceil(4);
        let decided = self.min_len.is_none_or(|m| fewest >= m || most < m) && self.max_len.is_none_or(|m| most <= m || fewest > m);
        if decided {
            return self.min_len.is_none_or(|m| fewest >= m) && self.max_len.is_none_or(|m| most <= m);
        }
        let n = s.chars().count() as u64;
        self.min_len.is_none_or(|m| n >= m) && self.max_len.is_none_or(|m| n <= m)
    }
}

/// The exact order of two JSON numbers; `None` when it would take more than a cast to know
/// (a float against an integer beyond 2^53, where the cast rounds).
fn cmp_num(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        return Some(x.cmp(&y));
    }
    exact_f64(a)?.partial_cmp(&exact_f64(b)?)
}

fn int_of(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

fn exact_f64(n: &Number) -> Option<f64> {
    const EXACT: i128 = 1 << 53;
    match int_of(n) {
        #[allow(clippy::cast_precision_loss)] // below 2^53 the cast is exact
        Some(i) => (-EXACT..=EXACT).contains(&i).then_some(i as f64),
        None => n.as_f64(),
    }
}

#[cfg(test)]
mod tests;
