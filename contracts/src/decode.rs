//! Turning raw payloads into records: JSON with limits, and CSV rows typed by the contract.

use crate::model::LogicalType;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
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
    if bytes.len() > limits.max_record_bytes {
        return Err(DecodeError::TooLarge { size: bytes.len(), limit: limits.max_record_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8 { offset: e.valid_up_to() })?;
    if text.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    parse_value(text).map_err(|e| DecodeError::Json { column: e.column(), reason: strip_position(&e.to_string()) })
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
        let mut entries: Vec<(String, Value)> = Vec::with_capacity(16);
        while let Some(k) = map.next_key::<String>()? {
            if entries.last().is_some_and(|(last, _)| *last >= k) {
                // Out of order, or repeated (the last must win): from here on insert key by key
                // as `serde_json` does; sorting would cost more than the inserts it saves.
                let mut m: Map<String, Value> = entries.into_iter().collect();
                m.insert(k, map.next_value_seed(BulkValue)?);
                while let Some((k, v)) = map.next_entry_seed(PhantomData::<String>, BulkValue)? {
                    m.insert(k, v);
                }
                return Ok(Value::Object(m));
            }
            entries.push((k, map.next_value_seed(BulkValue)?));
        }
        // `Map: FromIterator` is the B-tree's bulk build; its sort only confirms the order.
        Ok(Value::Object(entries.into_iter().collect()))
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
