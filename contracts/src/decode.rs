//! Turning raw payloads into records: JSON with limits, and CSV rows typed by the contract.

use crate::model::LogicalType;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// Limits that keep one hostile payload from costing more than a record should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest payload accepted, in bytes.
    pub max_record_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_record_bytes: 1024 * 1024 }
    }
}

/// Why a payload is not a record. Expected outcome for bad input, so a value, not a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`DecodeLimits::max_record_bytes`].
    #[error("record is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    Utf8 {
        /// First bad byte.
        offset: usize,
    },
    /// Not JSON (including nesting deeper than the parser's limit of 128).
    #[error("invalid JSON at column {column}: {reason}")]
    Json {
        /// 1-based column.
        column: usize,
        /// Parser message.
        reason: String,
    },
    /// Empty payload.
    #[error("empty record")]
    Empty,
}

/// Decodes one JSON payload.
///
/// # Errors
/// A [`DecodeError`] describing why the payload is not a record.
pub fn decode_json(bytes: &[u8], limits: DecodeLimits) -> Result<Value, DecodeError> {
    parse_value(checked_text(bytes, limits)?).map_err(json_error)
}

/// [`decode_json`] into `into`, reusing the allocations of the record it held (see
/// [`parse_value_into`]): the record loop decodes each record into its predecessor.
///
/// # Errors
/// As [`decode_json`]; `into` then holds an unspecified value.
pub fn decode_json_into(bytes: &[u8], limits: DecodeLimits, into: &mut Value) -> Result<(), DecodeError> {
    parse_value_into(checked_text(bytes, limits)?, into).map_err(json_error)
}

fn checked_text(bytes: &[u8], limits: DecodeLimits) -> Result<&str, DecodeError> {
    if bytes.len() > limits.max_record_bytes {
        return Err(DecodeError::TooLarge { size: bytes.len(), limit: limits.max_record_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8 { offset: e.valid_up_to() })?;
    if text.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    if text.starts_with('\u{feff}') {
        // The parser's own word for it ("expected value at column 1") hides the cause: an
        // editor or a Windows tool saved the record with a byte-order mark (RFC 8259 §8.1).
        return Err(DecodeError::Json { column: 1, reason: "starts with a byte-order mark (U+FEFF), which JSON text must not".into() });
    }
    Ok(text)
}

fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::Json { column: e.column(), reason: strip_position(&e.to_string()) }
}

/// Parses JSON text into a [`Value`], exactly as `serde_json::from_str` does (same values, same
/// errors), but building an object whose keys arrive sorted in one step. `serde_json` inserts
/// key by key into a B-tree, and each insert searches a node from its start: a record whose
/// keys arrive sorted (as `serde_json` itself writes them) pays for every key compared with
/// every earlier one in the node — about a fifth of a flights record's parse. Objects with
/// unsorted or repeated keys are built by inserts, as `serde_json` does.
///
/// # Errors
/// The parser's error for text that is not one JSON value.
pub fn parse_value(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = BulkValue.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// A `Value` visitor whose objects are bulk-built (see [`parse_value`]).
struct BulkValue;

impl<'de> DeserializeSeed<'de> for BulkValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BulkValue {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Number(i.into()))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Number(u.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(BulkValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Sixteen entries stay within the allocator's small-size cache; records grow it once.
        build_map(Vec::with_capacity(16), None, &mut map).map(Value::Object)
    }
}

/// Reads the rest of an object whose first entries, in strictly increasing key order, are
/// `entries`; `next` is a key already read whose value is not.
fn build_map<'de, A: MapAccess<'de>>(mut entries: Vec<(String, Value)>, mut next: Option<String>, map: &mut A) -> Result<Map<String, Value>, A::Error> {
    loop {
        let k = match next.take() {
            Some(k) => k,
            None => match map.next_key::<String>()? {
                Some(k) => k,
                None => break,
            },
        };
        if entries.last().is_some_and(|(last, _)| *last >= k) {
            // Out of order, or repeated (the last must win): from here on insert key by key
            // as `serde_json` does; sorting would cost more than the inserts it saves.
            let mut m: Map<String, Value> = entries.into_iter().collect();
            m.insert(k, map.next_value_seed(BulkValue)?);
            while let Some((k, v)) = map.next_entry_seed(PhantomData::<String>, BulkValue)? {
                m.insert(k, v);
            }
            return Ok(m);
        }
        entries.push((k, map.next_value_seed(BulkValue)?));
    }
    // `Map: FromIterator` is the B-tree's bulk build; its sort only confirms the order.
    Ok(entries.into_iter().collect())
}

/// Parses JSON text into `into`, with the result of [`parse_value`], reusing what `into` held:
/// an object whose keys arrive in the order of the old object's keys is updated in place (no
/// key, node or string is allocated for them), strings are overwritten in their buffers,
/// arrays element by element. Records of one topic share their shape, so a record parsed into
/// its predecessor allocates almost nothing. Where the shape differs the rest of that object
/// is built as [`parse_value`] builds it.
///
/// # Errors
/// The parser's error for text that is not one JSON value; `into` then holds an unspecified
/// (but valid) value.
pub fn parse_value_into(text: &str, into: &mut Value) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    Place(into).deserialize(&mut de)?;
    de.end()
}

/// A visitor that writes the value it reads over an existing one.
struct Place<'a>(&'a mut Value);

impl<'de> DeserializeSeed<'de> for Place<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Place<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        *self.0 = Value::Bool(b);
        Ok(())
    }
    fn visit_i64<E>(self, i: i64) -> Result<(), E> {
        *self.0 = Value::Number(i.into());
        Ok(())
    }
    fn visit_u64<E>(self, u: u64) -> Result<(), E> {
        *self.0 = Value::Number(u.into());
        Ok(())
    }
    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        *self.0 = Number::from_f64(f).map_or(Value::Null, Value::Number);
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        if let Value::String(old) = self.0 {
            old.clear();
            old.push_str(s);
        } else {
            *self.0 = Value::String(s.to_owned());
        }
        Ok(())
    }
    fn visit_string<E>(self, s: String) -> Result<(), E> {
        *self.0 = Value::String(s);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        *self.0 = Value::Null;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value::Array(items) = self.0 else {
            *self.0 = BulkValue.visit_seq(seq)?;
            return Ok(());
        };
        let mut n = 0;
        let mut ended = false;
        while n < items.len() {
            if seq.next_element_seed(Place(&mut items[n]))?.is_none() {
                ended = true;
                break;
            }
            n += 1;
        }
        items.truncate(n);
        if !ended {
            while let Some(v) = seq.next_element_seed(BulkValue)? {
                items.push(v);
            }
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Value::Object(old) = self.0 else {
            *self.0 = BulkValue.visit_map(map)?;
            return Ok(());
        };
        // Walk the old keys in order beside the new ones while they agree: a producer that
        // writes its keys sorted (and the same ones) costs no lookup and no allocation.
        let mut matched = 0;
        let mut olds = old.iter_mut();
        let differs = loop {
            let Some(k) = map.next_key_seed(KeySeed)? else { break None };
            match olds.next() {
                Some((ok, ov)) if ok.as_str() == k.as_ref() => {
                    map.next_value_seed(Place(ov))?;
                    matched += 1;
                }
                _ => break Some(k),
            }
        };
        if differs.is_none() && matched == old.len() {
            return Ok(());
        }
        let Some(first) = differs else {
            // Only keys at the end are gone.
            *old = std::mem::take(old).into_iter().take(matched).collect();
            return Ok(());
        };
        if old.len() > u64::BITS as usize {
            // Too wide for the bit set below: build the rest as `parse_value` does, after the
            // matched keys (sorted and unique, as `build_map` needs its prefix).
            let mut entries: Vec<(String, Value)> = std::mem::take(old).into_iter().take(matched).collect();
            entries.reserve(16);
            *old = build_map(entries, Some(first.into_owned()), &mut map)?;
            return Ok(());
        }
        // Keys in another order (most producers write them in their own field order): find
        // each among the old entries, sorted by key, and parse into it, noting which were seen.
        let mut seen = low_bits(matched);
        let mut extra: Vec<(String, Value)> = Vec::new();
        // Where each key landed in the previous object of this thread, by arrival position:
        // a producer writes every record in the same field order, so the guess is one
        // comparison where the search is five (a flights record in field order took 1.6× the
        // time of one with sorted keys). Nested objects find it taken and keep their own.
        let mut arrival = ARRIVAL.with(|a| std::mem::take(&mut *a.borrow_mut()));
        {
            let mut index: Vec<(&String, &mut Value)> = old.iter_mut().collect();
            let mut next = Some(first);
            let mut pos = matched;
            loop {
                let k = match next.take() {
                    Some(k) => k,
                    None => match map.next_key_seed(KeySeed)? {
                        Some(k) => k,
                        None => break,
                    },
                };
                let guess = arrival.get(pos).map(|g| usize::from(*g)).filter(|g| index.get(*g).is_some_and(|(ok, _)| ok.as_str() == k.as_ref()));
                let landed = match guess.map_or_else(|| index.binary_search_by(|(ok, _)| key_order(ok, &k)), Ok) {
                    Ok(i) => {
                        // A repeated key lands here again: the last value wins, as in a fresh parse.
                        map.next_value_seed(Place(index[i].1))?;
                        seen |= 1 << i;
                        u8::try_from(i).unwrap_or(u8::MAX)
                    }
                    Err(_) => {
                        extra.push((k.into_owned(), map.next_value_seed(BulkValue)?));
                        u8::MAX
                    }
                };
                match arrival.get_mut(pos) {
                    Some(g) => *g = landed,
                    None => arrival.push(landed),
                }
                pos += 1;
            }
            arrival.truncate(pos);
        }
        ARRIVAL.with(|a| *a.borrow_mut() = arrival);
        if seen != low_bits(old.len()) {
            // `retain` visits the entries in key order, the order of the bits.
            let mut i = 0;
            old.retain(|_, _| {
                let keep = seen >> i & 1 == 1;
                i += 1;
                keep
            });
        }
        // New keys: inserted in arrival order, so a repeated one keeps its last value.
        for (k, v) in extra {
            old.insert(k, v);
        }
        Ok(())
    }
}

thread_local! {
    /// The arrival order of the last object parsed into an old one with its keys in another
    /// order: for each arrival position, the index of its key among the sorted entries
    /// (`u8::MAX`: a new key). Objects parsed this way have at most 64 keys.
    static ARRIVAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The lowest `n` bits set (`n` ≤ 64).
fn low_bits(n: usize) -> u64 {
    u64::MAX.checked_shr(u64::BITS.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX))).unwrap_or(0)
}

/// The B-tree's key order, deciding on the first byte without a call to `memcmp` (object keys
/// mostly differ there).
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// An object key, borrowed from the text unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

fn strip_position(msg: &str) -> String {
    msg.find(" at line ").map_or_else(|| msg.to_string(), |i| msg[..i].to_string())
}

/// Builds a record from a CSV row, typing each column by the contract's top-level property.
/// Values equal to one of `null_tokens` become null. A value that does not parse as its type
/// stays a string, so the record check reports it instead of the reader guessing.
#[must_use]
pub fn csv_record(headers: &[String], row: &[&str], types: &[(String, Option<LogicalType>)], null_tokens: &[String]) -> Value {
    let mut m = Map::with_capacity(headers.len());
    for (h, raw) in headers.iter().zip(row) {
        let v = if null_tokens.iter().any(|t| t == raw) {
            Value::Null
        } else {
            let ty = types.iter().find(|(n, _)| n == h).and_then(|(_, t)| *t);
            typed(raw, ty)
        };
        m.insert(h.clone(), v);
    }
    Value::Object(m)
}

fn typed(raw: &str, ty: Option<LogicalType>) -> Value {
    let s = || Value::String(raw.to_string());
    match ty {
        Some(LogicalType::Integer) => raw.parse::<i64>().map(Value::from).or_else(|_| raw.parse::<u64>().map(Value::from)).unwrap_or_else(|_| s()),
        Some(LogicalType::Number) => raw.parse::<f64>().ok().and_then(Number::from_f64).map_or_else(s, |n| {
            // Keep integers integral so `42` in a number column stays `42`, not `42.0`.
            raw.parse::<i64>().map_or(Value::Number(n), Value::from)
        }),
        Some(LogicalType::Boolean) => match raw {
            "true" | "TRUE" | "True" => Value::Bool(true),
            "false" | "FALSE" | "False" => Value::Bool(false),
            _ => s(),
        },
        Some(LogicalType::Object | LogicalType::Array) => serde_json::from_str(raw).unwrap_or_else(|_| s()),
        _ => s(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_table() {
        let lim = DecodeLimits { max_record_bytes: 64 };
        let deep = "[".repeat(100_000);
        let cases: Vec<(&[u8], Result<Value, &str>)> = vec![
            (br#"{"a":1}"#, Ok(json!({"a": 1}))),
            (b"{\"a\":", Err("invalid JSON")),
            (b"\xff\xfe", Err("invalid UTF-8 at byte 0")),
            (b"   ", Err("empty record")),
            (b"\xef\xbb\xbf{\"a\":1}", Err("invalid JSON at column 1: starts with a byte-order mark")),
            (b"{\"a\":1e400}", Err("number out of range")),
            (b"{\"a\":18446744073709551616}", Ok(json!({"a": 18_446_744_073_709_551_616.0}))),
            (b"\x00\x01", Err("invalid JSON at column 1")),
            (deep.as_bytes(), Err("over the 64-byte limit")),
        ];
        for (input, want) in cases {
            match (decode_json(input, lim), want) {
                (Ok(v), Ok(w)) => assert_eq!(v, w),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e} lacks {w}"),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
        let err = decode_json(deep.as_bytes(), DecodeLimits { max_record_bytes: 1 << 20 }).expect_err("deep");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    #[test]
    fn bulk_parse_table() {
        let cases = [
            r#"{"b":1,"a":[1,-2,3.5,1e400,"x\u00e9",null,true,{}],"c":{"z":{"y":[]},"a":0}}"#,
            r#"{"k":1,"k":2,"a":{"k":[1],"k":{"x":3}}}"#, // duplicate keys: the last wins
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"over":18446744073709551616,"f":-0.0}"#,
            "  [ ]  ",
            "\"s\"",
            r#"{"a":1"#,
            r#"{"a":1} x"#,
            r#"{"a":01}"#,
            r#"{"a":"\ud800"}"#,
            "",
        ];
        for text in cases {
            match (parse_value(text), serde_json::from_str::<Value>(text)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
        }
        let deep = "[".repeat(200);
        assert_eq!(parse_value(&deep).map_err(|e| e.to_string()), serde_json::from_str::<Value>(&deep).map_err(|e| e.to_string()));
    }

    proptest::proptest! {
        #[test]
        fn bulk_parse_equals_serde_json(v in json_value(), dup in 0usize..3) {
            // Unsorted keys, and now and then a repeated key, as producers may write them.
            let mut text = v.to_string().replace(r#"{"a""#, r#"{"z":0,"a""#);
            if dup > 0 {
                text = text.replacen(r#"{"b""#, r#"{"b":[1],"b""#, dup);
            }
            let ours = parse_value(&text).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(ours, serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
        }
    }

    #[test]
    fn a_stream_in_field_order_parses_as_fresh_records() {
        // The arrival-order guess carries over from record to record: the same unsorted
        // order, a changed one, a nested object taking its turn, keys gone and new.
        let stream = [
            r#"{"year":1,"carrier":"UA","dep":{"b":1,"a":2},"arr":3}"#,
            r#"{"year":2,"carrier":"AA","dep":{"b":3,"a":4},"arr":5}"#,
            r#"{"year":3,"carrier":"B6","dep":{"a":5,"b":6},"arr":7}"#,
            r#"{"carrier":"DL","year":4,"arr":8,"dep":{"b":7,"a":8}}"#,
            r#"{"year":5,"carrier":"EV","arr":9}"#,
            r#"{"year":6,"new":true,"carrier":"F9","dep":null,"arr":10}"#,
            r#"{"year":7,"carrier":"HA","dep":{"b":9,"a":10},"arr":11}"#,
        ];
        let mut place = Value::Null;
        for text in stream.iter().cycle().take(stream.len() * 3) {
            parse_value_into(text, &mut place).expect("JSON");
            assert_eq!(place, serde_json::from_str::<Value>(text).expect("JSON"), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_into_equals_fresh_parse(prev in json_value(), next in json_value(), dup in 0usize..3, cut in 0usize..40) {
            // Whatever the old value held, the result is the fresh parse's; sorted, unsorted,
            // repeated, missing and extra keys, and text cut short (an error like serde_json's).
            let mut text = next.to_string().replace(r#"{"c""#, r#"{"z":0,"c""#);
            if dup > 0 {
                text = text.replacen(r#"{"b""#, r#"{"b":[1],"b""#, dup);
            }
            if cut > 0 && cut < text.len() && text.is_char_boundary(text.len() - cut) {
                text.truncate(text.len() - cut);
            }
            let mut place = prev;
            let ours = parse_value_into(&text, &mut place).map(|()| place).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(ours, serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
        }
    }

    #[test]
    fn parse_into_reuses_and_reshapes_table() {
        // (previous text, next text): the next record's value must not depend on the previous.
        let cases = [
            (r#"{"a":1,"b":"x","c":[1,2,3]}"#, r#"{"a":2,"b":"yy","c":[4]}"#),
            (r#"{"a":1,"b":"x","c":[1]}"#, r#"{"a":2,"b":"yy","c":[4,5,{"d":null}]}"#),
            (r#"{"a":1,"b":2,"c":3}"#, r#"{"a":1,"c":3}"#), // a key gone
            (r#"{"a":1,"c":3}"#, r#"{"a":1,"b":2,"c":3}"#), // a key new
            (r#"{"a":1,"b":2}"#, r#"{"a":1}"#),             // the last key gone
            (r#"{"a":1,"b":2}"#, r#"{"b":1,"a":2}"#),       // unsorted
            (r#"{"a":1,"b":2}"#, r#"{"a":1,"a":3}"#),       // repeated: the last wins
            (r#"{"a":{"x":1}}"#, r#"{"a":"now a string"}"#),
            (r#"{"a":"s"}"#, r#"{"a":{"x":"s"}}"#),
            (r#"[1,2]"#, r#"{"a":[]}"#),
            (r#"{"a\u0062":1}"#, r#"{"ab":2}"#), // an escaped key equals its plain twin
            (r#"{"a":1}"#, r#"{"a":1"#),          // an error
            (r#"{"a":1,"b":2,"c":3}"#, r#"{"c":"x","a":4}"#), // unsorted, one gone
            (r#"{"a":1}"#, r#"{"x":1,"x":2,"a":5}"#),         // a new key, repeated
            (r#"{"b":1,"a":2}"#, r#"{"b":3,"a":4,"b":5}"#),   // unsorted and repeated
        ];
        // Wider than the in-place bit set: 70 keys, in reverse order.
        let wide = |from: usize| format!("{{{}}}", (0..70).rev().map(|i| format!("\"k{i:02}\":{}", i + from)).collect::<Vec<_>>().join(","));
        let (wide_prev, wide_next) = (wide(0), wide(100));
        let cases = cases.into_iter().chain([(wide_prev.as_str(), wide_next.as_str())]);
        for (prev, next) in cases {
            let mut place: Value = serde_json::from_str(prev).expect("prev is JSON");
            let ours = parse_value_into(next, &mut place).map(|()| place).map_err(|e| e.to_string());
            assert_eq!(ours, serde_json::from_str::<Value>(next).map_err(|e| e.to_string()), "{prev} then {next}");
        }
        let mut place = Value::Null;
        let err = decode_json_into(b"{\"a\":", DecodeLimits::default(), &mut place).expect_err("cut short");
        assert_eq!(err, decode_json(b"{\"a\":", DecodeLimits::default()).expect_err("cut short"));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zé\"\\\\]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn csv_typing() {
        let types = vec![("n".to_string(), Some(LogicalType::Integer)), ("x".to_string(), Some(LogicalType::Number)), ("s".to_string(), Some(LogicalType::String)), ("b".to_string(), Some(LogicalType::Boolean))];
        let headers: Vec<String> = ["n", "x", "s", "b", "extra"].iter().map(|s| (*s).to_string()).collect();
        let nulls = vec!["NA".to_string(), String::new()];
        let r = csv_record(&headers, &["7", "2.5", "NA", "true", "z"], &types, &nulls);
        assert_eq!(r, json!({"n": 7, "x": 2.5, "s": null, "b": true, "extra": "z"}));
        let r = csv_record(&headers, &["seven", "", "x", "maybe", ""], &types, &nulls);
        assert_eq!(r, json!({"n": "seven", "x": null, "s": "x", "b": "maybe", "extra": null}));
    }
}
