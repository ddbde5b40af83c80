//! One pass over the records: what each field held, nested fields and array items included.
//! Memory grows with the numeric values and string lengths kept for percentiles and with the
//! distinct-value hashes (capped), not with the records themselves.

use super::rules::{looks_like_key, Kinds, ENUM_MAX_VALUES};
use crate::timefmt::TimeFormat;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

/// Distinct values are counted exactly up to this many per field (more says "many").
const DISTINCT_CAP: usize = 10_000;
/// … and up to this many for a field that looks like a key (duplicates matter there).
const KEY_DISTINCT_CAP: usize = 1_000_000;
/// An object with more distinct keys than this is a map, not a record: later keys are not
/// profiled.
pub const MAX_PROPERTIES: usize = 1_000;

/// String formats a field's values may all fit, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFormat {
    /// `YYYY-MM-DD`: logical type date.
    Date,
    /// RFC 3339 date-time: logical type timestamp.
    Timestamp,
    /// ISO time of day: logical type time.
    Time,
    /// A UUID: string with format uuid.
    Uuid,
    /// An email address: string with format email.
    Email,
}

impl StringFormat {
    /// Every format, in the order a fit is looked for.
    pub const ALL: [Self; 5] = [Self::Date, Self::Timestamp, Self::Time, Self::Uuid, Self::Email];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The checkers of each format: the gate's own (the JSON Schema formats its record checks
/// use, and its ISO time reader), so a format inferred here is one `check` accepts.
pub struct Formats {
    schemas: Vec<(StringFormat, jsonschema::Validator)>,
    time: TimeFormat,
}

impl std::fmt::Debug for Formats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Formats").field("schemas", &self.schemas.len()).finish_non_exhaustive()
    }
}

impl Default for Formats {
    fn default() -> Self {
        let schemas = [(StringFormat::Date, "date"), (StringFormat::Timestamp, "date-time"), (StringFormat::Uuid, "uuid"), (StringFormat::Email, "email")]
            .into_iter()
            .filter_map(|(f, name)| jsonschema::options().should_validate_formats(true).build(&serde_json::json!({ "format": name })).ok().map(|v| (f, v)))
            .collect();
        Self { schemas, time: TimeFormat::of_time_default() }
    }
}

impl Formats {
    fn fits(&self, f: StringFormat, v: &Value, s: &str) -> bool {
        match f {
            StringFormat::Time => self.time.parse(s).is_some(),
            _ => self.schemas.iter().any(|(g, val)| *g == f && val.is_valid(v)),
        }
    }
}

/// Distinct values by hash, and how many values repeated one seen before.
#[derive(Debug)]
pub struct Distinct {
    seen: HashSet<u64>,
    cap: usize,
    /// More distinct values than the cap: counts are lower bounds.
    pub overflow: bool,
    /// Values equal to an earlier one (while not overflowed).
    pub duplicates: u64,
}

impl Distinct {
    fn new(cap: usize) -> Self {
        Self { seen: HashSet::new(), cap, overflow: false, duplicates: 0 }
    }

    fn add(&mut self, h: u64) {
        if self.overflow {
            return;
        }
        if !self.seen.insert(h) {
            self.duplicates += 1;
        } else if self.seen.len() > self.cap {
            self.overflow = true;
            self.seen = HashSet::new();
        }
    }

    /// Distinct values seen; when `overflow`, more than this.
    #[must_use]
    pub fn count(&self) -> usize {
        if self.overflow {
            self.cap
        } else {
            self.seen.len()
        }
    }
}

fn hash_of(tag: u8, bytes: &[u8]) -> u64 {
    // Fixed seed: the same input gives the same counts on every run.
    foldhash::fast::FixedState::with_seed(0x5eed).hash_one((tag, bytes))
}

/// What one field (or the items of an array) held.
#[derive(Debug)]
pub struct Field {
    /// Name in the record; empty for array items.
    pub name: String,
    /// Whether the name reads as an identifier.
    pub key_like: bool,
    /// How often the enclosing object (or array, for items) offered this field a place:
    /// values + nulls + absences.
    pub slots: u64,
    /// Explicit nulls.
    pub nulls: u64,
    /// Kinds of the non-null values.
    pub kinds: Kinds,
    /// Numeric values (for percentiles and the distribution baseline).
    pub numbers: Vec<f64>,
    /// String lengths in characters.
    pub lengths: Vec<f64>,
    /// Times each string was seen, while there are at most [`ENUM_MAX_VALUES`] of them.
    pub values: BTreeMap<String, u64>,
    /// More distinct strings than an enumeration may have.
    pub many_values: bool,
    rejected: u8,
    /// Distinct scalar values.
    pub distinct: Distinct,
    /// Nested fields of object values, in the order first seen.
    pub children: Vec<Field>,
    index: HashMap<String, usize>,
    /// Keys past [`MAX_PROPERTIES`] were seen and not profiled.
    pub too_many_keys: bool,
    /// Items of array values.
    pub items: Option<Box<Field>>,
}

impl Field {
    /// A field first seen after `absent` places where it was missing.
    #[must_use]
    pub fn new(name: &str, absent: u64) -> Self {
        let key_like = looks_like_key(name);
        Self {
            name: name.to_string(),
            key_like,
            slots: absent,
            nulls: 0,
            kinds: Kinds::default(),
            numbers: Vec::new(),
            lengths: Vec::new(),
            values: BTreeMap::new(),
            many_values: false,
            rejected: 0,
            distinct: Distinct::new(if key_like { KEY_DISTINCT_CAP } else { DISTINCT_CAP }),
            children: Vec::new(),
            index: HashMap::new(),
            too_many_keys: false,
            items: None,
        }
    }

    /// Places where the field was missing.
    #[must_use]
    pub fn absent(&self) -> u64 {
        self.slots.saturating_sub(self.nulls + self.kinds.total())
    }

    /// The one format every string value fitted, most specific first.
    #[must_use]
    pub fn format(&self) -> Option<StringFormat> {
        (self.kinds.strings > 0).then(|| StringFormat::ALL.into_iter().find(|f| self.rejected & f.bit() == 0)).flatten()
    }

    /// Takes the value in one place (`None`: the field was absent).
    pub fn add(&mut self, v: Option<&Value>, formats: &Formats) {
        self.slots += 1;
        let Some(v) = v else { return };
        self.kinds.count(v);
        match v {
            Value::Null => self.nulls += 1,
            Value::Bool(b) => self.distinct.add(hash_of(1, &[u8::from(*b)])),
            Value::Number(n) => {
                if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                    self.numbers.push(x);
                    self.distinct.add(hash_of(2, &x.to_bits().to_le_bytes()));
                }
            }
            Value::String(s) => self.add_string(v, s, formats),
            Value::Array(a) => {
                let items = self.items.get_or_insert_with(|| Box::new(Self::new("", 0)));
                for x in a {
                    items.add(Some(x), formats);
                }
            }
            Value::Object(m) => self.add_object(m, formats),
        }
    }

    fn add_string(&mut self, v: &Value, s: &str, formats: &Formats) {
        #[allow(clippy::cast_precision_loss)]
        self.lengths.push(s.chars().count() as f64);
        self.distinct.add(hash_of(3, s.as_bytes()));
        if !self.many_values {
            if let Some(c) = self.values.get_mut(s) {
                *c += 1;
            } else if self.values.len() < ENUM_MAX_VALUES {
                self.values.insert(s.to_string(), 1);
            } else {
                self.many_values = true;
                self.values.clear();
            }
        }
        for f in StringFormat::ALL {
            if self.rejected & f.bit() == 0 && !formats.fits(f, v, s) {
                self.rejected |= f.bit();
            }
        }
    }

    fn add_object(&mut self, m: &Map<String, Value>, formats: &Formats) {
        // Fields new in this object were absent from every earlier one.
        let before = self.kinds.objects - 1;
        for k in m.keys() {
            if !self.index.contains_key(k) {
                if self.children.len() >= MAX_PROPERTIES {
                    self.too_many_keys = true;
                    continue;
                }
                self.index.insert(k.clone(), self.children.len());
                self.children.push(Self::new(k, before));
            }
        }
        for c in &mut self.children {
            let v = m.get(&c.name);
            c.add(v, formats);
        }
    }
}
