//! Turning raw payloads into records: JSON with limits, and CSV rows typed by the contract.

use crate::model::LogicalType;
use serde_json::{Map, Number, Value};

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
    serde_json::from_str(text).map_err(|e| DecodeError::Json { column: e.column(), reason: strip_position(&e.to_string()) })
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
