//! Fault injectors: pure functions from a good record to the bytes a broken producer would
//! send. No clock, no randomness of their own: the time and a seeded index come in through
//! [`Ctx`], so every injector is a table row in a test.

use serde_json::{Map, Number, Value};

/// What the drill sends in place of one good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// These bytes, as the record's payload.
    Send(Vec<u8>),
    /// Nothing: the producer stays silent for this record.
    Skip,
}

/// Everything an injector may depend on besides the record.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Index of the injected record within the fault (0, 1, 2, …).
    pub index: u64,
    /// Seed of the drill; with `index` it drives every pseudo-random choice.
    pub seed: u64,
    /// The drill's clock, ms since the epoch.
    pub now_ms: i64,
    /// Payload of the last good record sent before this one.
    pub previous: Option<&'a [u8]>,
}

/// One kind of bad data.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A number arrives as a string (`12` → `"12"`); a missing value becomes `"0"`.
    NumberAsString {
        /// Field.
        field: String,
    },
    /// A field is renamed: its value moves to `to`.
    Rename {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// A field disappears.
    Drop {
        /// Field.
        field: String,
    },
    /// A field nobody declared appears.
    Add {
        /// New field.
        field: String,
        /// Its value.
        value: Value,
    },
    /// A category the contract does not list.
    NewCategory {
        /// Field.
        field: String,
        /// The new value.
        value: String,
    },
    /// Categories replaced by numbers 1–100 (an upstream switched to codes).
    CategoryAsNumber {
        /// Field.
        field: String,
    },
    /// ISO-8601 timestamps replaced by epoch milliseconds.
    EpochMillis {
        /// Field.
        field: String,
    },
    /// The field is null.
    Null {
        /// Field.
        field: String,
    },
    /// The event timestamp lies `by_ms` in the past.
    Stale {
        /// Timestamp field.
        field: String,
        /// Age given to every injected record.
        by_ms: i64,
    },
    /// The producer stops.
    Silence,
    /// A numeric field moves by `delta`, clamped to the valid range so that every record
    /// still passes its record checks.
    Shift {
        /// Field.
        field: String,
        /// Added to the value.
        delta: f64,
        /// Lowest valid value.
        min: Option<f64>,
        /// Highest valid value.
        max: Option<f64>,
        /// Round the result (the field holds whole numbers).
        integer: bool,
    },
    /// The previous record again, byte for byte (a producer retrying without idempotence).
    Duplicate,
    /// Torn and garbage payloads: even indexes truncated JSON, odd ones binary garbage.
    Malformed,
}

/// What a fault does to one good record, before it is written in the binding's format.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// This record, written as the format writes records (a changed value or shape).
    Record(Value),
    /// The previous record's bytes again.
    Previous,
    /// Bytes that are not a record of the format at all.
    Malformed,
    /// Nothing is sent.
    Skip,
}

impl Fault {
    /// The bytes to send in place of `rec` on a JSON binding.
    #[must_use]
    pub fn inject(&self, rec: &Value, ctx: &Ctx<'_>) -> Out {
        match self.apply(rec, ctx) {
            Applied::Skip => Out::Skip,
            Applied::Previous => Out::Send(ctx.previous.map_or_else(|| to_bytes(rec), <[u8]>::to_vec)),
            Applied::Malformed => Out::Send(malformed(rec, ctx)),
            Applied::Record(r) => Out::Send(to_bytes(&r)),
        }
    }

    /// The fault applied to `rec`, independent of how records are encoded (JSON here, the
    /// Avro wire format in [`super::wire`]).
    #[must_use]
    pub fn apply(&self, rec: &Value, ctx: &Ctx<'_>) -> Applied {
        let mut r = rec.clone();
        match self {
            Self::Silence => return Applied::Skip,
            Self::Duplicate => return Applied::Previous,
            Self::Malformed => return Applied::Malformed,
            Self::NumberAsString { field } => {
                let s = match get(&r, field) {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => "0".to_string(),
                };
                set(&mut r, field, Value::String(s));
            }
            Self::Rename { from, to } => {
                let v = obj(&mut r).and_then(|o| o.remove(from)).unwrap_or(Value::Null);
                set(&mut r, to, v);
            }
            Self::Drop { field } => {
                if let Some(o) = obj(&mut r) {
                    o.remove(field);
                }
            }
            Self::Add { field, value } => set(&mut r, field, value.clone()),
            Self::NewCategory { field, value } => set(&mut r, field, Value::String(value.clone())),
            Self::CategoryAsNumber { field } => set(&mut r, field, Value::from(1 + mix(ctx.seed, ctx.index) % 100)),
            Self::EpochMillis { field } => {
                let ms = get(&r, field).and_then(parse_time).unwrap_or(ctx.now_ms);
                set(&mut r, field, Value::from(ms));
            }
            Self::Null { field } => set(&mut r, field, Value::Null),
            Self::Stale { field, by_ms } => {
                // From the record's own (restamped, unique) time, so that stale records keep
                // distinct timestamps; "now" when it has none.
                let base = get(&r, field).and_then(parse_time_us).unwrap_or(ctx.now_ms.saturating_mul(1000));
                let v = restamp(get(&r, field), base.saturating_sub(by_ms.saturating_mul(1000)));
                set(&mut r, field, v);
            }
            Self::Shift { field, delta, min, max, integer } => {
                if let Some(x) = get(&r, field).and_then(Value::as_f64) {
                    let mut y = x + delta;
                    if let Some(lo) = min {
                        y = y.max(*lo);
                    }
                    if let Some(hi) = max {
                        y = y.min(*hi);
                    }
                    let v = if *integer {
                        #[allow(clippy::cast_possible_truncation)]
                        let i = y.round() as i64;
                        Value::from(i)
                    } else {
                        Number::from_f64(y).map_or(Value::Null, Value::Number)
                    };
                    set(&mut r, field, v);
                }
            }
        }
        Applied::Record(r)
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serialising a Value cannot fail (its map keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn get<'a>(v: &'a Value, field: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| o.get(field))
}

fn set(v: &mut Value, field: &str, x: Value) {
    if let Some(o) = obj(v) {
        o.insert(field.to_string(), x);
    }
}

/// splitmix64 of seed and index: a stateless, well-mixed pseudo-random number.
#[must_use]
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Even indexes: the record's JSON cut somewhere between 30 % and 90 % of its length (a proper
/// prefix of an object is never valid JSON). Odd: 16–63 pseudo-random bytes starting with
/// 0xFF, which is neither UTF-8 nor JSON.
fn malformed(rec: &Value, ctx: &Ctx<'_>) -> Vec<u8> {
    let r = mix(ctx.seed, ctx.index);
    if ctx.index.is_multiple_of(2) {
        let full = to_bytes(rec);
        let n = full.len();
        #[allow(clippy::cast_possible_truncation)]
        let cut = (n * 3 / 10 + (r as usize) % (n * 6 / 10).max(1)).clamp(1, n.saturating_sub(1).max(1));
        full[..cut].to_vec()
    } else {
        garbage(r)
    }
}

/// 16–63 pseudo-random bytes from `r`, starting with 0xFF: neither UTF-8, nor JSON, nor the
/// Confluent wire format (whose magic byte is 0).
#[must_use]
pub fn garbage(r: u64) -> Vec<u8> {
    #[allow(clippy::cast_possible_truncation)]
    let len = 16 + (r % 48) as usize;
    let mut out = Vec::with_capacity(len);
    out.push(0xFF);
    #[allow(clippy::cast_possible_truncation)]
    out.extend((1..len as u64).map(|i| (mix(r, i) & 0xFF) as u8));
    out
}

/// Parses a timestamp value (RFC 3339 with `T` or space, a date, or epoch ms) to epoch ms.
#[must_use]
pub fn parse_time(v: &Value) -> Option<i64> {
    parse_time_us(v).map(|us| us.div_euclid(1000))
}

/// Like [`parse_time`], in microseconds.
#[must_use]
pub fn parse_time_us(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().map(|ms| ms.saturating_mul(1000)),
        Value::String(s) => {
            if let Ok(d) = chrono::DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
                return Some(d.timestamp_micros());
            }
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_micros())
        }
        _ => None,
    }
}

/// The instant `us` (µs since the epoch) written the way `original` was written: an RFC 3339
/// string keeps its separator and `Z`/offset style (in UTC) and gets microseconds, so that no
/// two restamped records share a timestamp (duplicate key tuples often include the event
/// time); a date stays a date; a number stays epoch ms (or seconds when the original looked
/// like seconds). Anything else: RFC 3339 with `Z`.
#[must_use]
pub fn restamp(original: Option<&Value>, us: i64) -> Value {
    let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us) else { return Value::Null };
    let ms = us.div_euclid(1000);
    match original {
        Some(Value::Number(n)) => {
            let looks_like_seconds = n.as_f64().is_some_and(|x| x.abs() < 1e11);
            Value::from(if looks_like_seconds { ms.div_euclid(1000) } else { ms })
        }
        Some(Value::String(s)) if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => Value::String(t.format("%Y-%m-%d").to_string()),
        Some(Value::String(s)) if parse_time(&Value::String(s.clone())).is_some() => {
            let sep = if s.as_bytes().get(10) == Some(&b' ') { ' ' } else { 'T' };
            let zulu = s.ends_with('Z') || s.ends_with('z');
            let zone = if zulu { "Z" } else { "+00:00" };
            Value::String(format!("{}{zone}", t.format(&format!("%Y-%m-%d{sep}%H:%M:%S%.6f"))))
        }
        _ => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flight() -> Value {
        json!({"carrier": "UA", "flight": 1545, "dep_time": 517, "dep_delay": 2, "origin": "EWR", "time_hour": "2013-01-01T10:00:00Z"})
    }

    fn ctx(index: u64) -> Ctx<'static> {
        Ctx { index, seed: 7, now_ms: 1_700_000_000_000, previous: Some(b"{\"prev\":1}") }
    }

    fn json_out(o: &Out) -> Value {
        match o {
            Out::Send(b) => serde_json::from_slice(b).expect("json"),
            Out::Skip => Value::Null,
        }
    }

    #[test]
    fn record_transformations() {
        let f = |s: &str| s.to_string();
        // (fault, field to look at, expected value; None = absent)
        let cases: Vec<(Fault, &str, Option<Value>)> = vec![
            (Fault::NumberAsString { field: f("dep_delay") }, "dep_delay", Some(json!("2"))),
            (Fault::NumberAsString { field: f("missing") }, "missing", Some(json!("0"))),
            (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier_v2", Some(json!("UA"))),
            (Fault::Rename { from: f("carrier"), to: f("carrier_v2") }, "carrier", None),
            (Fault::Drop { field: f("origin") }, "origin", None),
            (Fault::Add { field: f("extra"), value: json!(true) }, "extra", Some(json!(true))),
            (Fault::NewCategory { field: f("carrier"), value: f("ZZ") }, "carrier", Some(json!("ZZ"))),
            (Fault::EpochMillis { field: f("time_hour") }, "time_hour", Some(json!(1_357_034_400_000_i64))),
            (Fault::Null { field: f("dep_time") }, "dep_time", Some(Value::Null)),
            (Fault::Stale { field: f("time_hour"), by_ms: 3_600_000 }, "time_hour", Some(json!("2013-01-01T09:00:00.000000Z"))),
            (Fault::Shift { field: f("dep_delay"), delta: 50.0, min: Some(-120.0), max: Some(1440.0), integer: true }, "dep_delay", Some(json!(52))),
            (Fault::Shift { field: f("dep_delay"), delta: 5000.0, min: None, max: Some(1440.0), integer: false }, "dep_delay", Some(json!(1440.0))),
        ];
        for (fault, field, want) in cases {
            let out = json_out(&fault.inject(&flight(), &ctx(0)));
            assert_eq!(out.get(field).cloned(), want, "{fault:?}");
            // Every other field is untouched.
            for (k, v) in flight().as_object().expect("object") {
                let touched = k == field || matches!(&fault, Fault::Rename { from, .. } if from == k);
                if !touched {
                    assert_eq!(out.get(k), Some(v), "{fault:?} changed {k}");
                }
            }
        }
    }

    #[test]
    fn categories_as_numbers_stay_in_1_to_100_and_vary() {
        let fault = Fault::CategoryAsNumber { field: "carrier".into() };
        let vals: Vec<i64> = (0..200).map(|i| json_out(&fault.inject(&flight(), &ctx(i)))["carrier"].as_i64().expect("number")).collect();
        assert!(vals.iter().all(|v| (1..=100).contains(v)));
        assert!(vals.iter().collect::<std::collections::HashSet<_>>().len() > 50);
    }

    #[test]
    fn silence_duplicates_and_malformed_bytes() {
        assert_eq!(Fault::Silence.inject(&flight(), &ctx(0)), Out::Skip);
        assert_eq!(Fault::Duplicate.inject(&flight(), &ctx(0)), Out::Send(b"{\"prev\":1}".to_vec()));
        let first = Ctx { previous: None, ..ctx(0) };
        assert_eq!(json_out(&Fault::Duplicate.inject(&flight(), &first)), flight());
        for i in 0..100 {
            let Out::Send(b) = Fault::Malformed.inject(&flight(), &ctx(i)) else { panic!("skip") };
            assert!(serde_json::from_slice::<Value>(&b).is_err(), "{i}: {b:?}");
            assert!(!b.is_empty());
            if i % 2 == 0 {
                assert!(b.starts_with(b"{\"") && b.len() < to_bytes(&flight()).len(), "truncated: {}", String::from_utf8_lossy(&b));
            } else {
                assert!(std::str::from_utf8(&b).is_err(), "garbage is not UTF-8");
            }
        }
    }

    #[test]
    fn injectors_are_deterministic() {
        for i in 0..20 {
            assert_eq!(Fault::Malformed.inject(&flight(), &ctx(i)), Fault::Malformed.inject(&flight(), &ctx(i)));
        }
        assert_ne!(Fault::Malformed.inject(&flight(), &ctx(1)), Fault::Malformed.inject(&flight(), &ctx(3)));
    }

    #[test]
    fn restamp_keeps_the_original_style() {
        let us = 1_700_000_000_123_456;
        let cases = [
            (Some(json!("2013-01-01T10:00:00Z")), json!("2023-11-14T22:13:20.123456Z")),
            (Some(json!("2013-01-01 10:00:00.5+01:00")), json!("2023-11-14 22:13:20.123456+00:00")),
            (Some(json!("2013-01-01")), json!("2023-11-14")),
            (Some(json!(1_357_034_400_000_i64)), json!(1_700_000_000_123_i64)),
            (Some(json!(1_357_034_400)), json!(1_700_000_000)),
            (None, json!("2023-11-14T22:13:20.123456Z")),
            (Some(json!("not a time")), json!("2023-11-14T22:13:20.123456Z")),
        ];
        for (orig, want) in cases {
            assert_eq!(restamp(orig.as_ref(), us), want, "{orig:?}");
        }
        assert_ne!(restamp(Some(&json!("2013-01-01T10:00:00Z")), us), restamp(Some(&json!("2013-01-01T10:00:00Z")), us + 1), "a microsecond apart");
        assert_eq!(parse_time(&json!("2023-11-14T22:13:20Z")), Some(1_700_000_000_000));
        assert_eq!(parse_time(&json!("2023-11-14")), Some(1_699_920_000_000));
        assert_eq!(parse_time(&json!(true)), None);
    }
}
