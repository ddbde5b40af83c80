//! Streaming readers for `check`: JSON Lines, a JSON array, CSV. Each yields one item per
//! record with its line number, and a decode error as an item, never as a stop.

use super::BatchError;
use contracts::decode::{csv_record, decode_json_into, DecodeLimits};
use contracts::model::LogicalType;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::{BufRead, Read};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON document per line.
    Jsonl,
    /// One JSON array of records.
    Json,
    /// CSV with a header row; values typed by the contract.
    Csv,
    /// An Avro object container file; records rendered for the contract as in the sidecar.
    Avro,
}

/// One record as read: its line (record number for JSON arrays) and the record or why not.
/// The record is lent: JSON Lines are parsed each into the previous line's value, which
/// reuses its keys and buffers (see `contracts::decode::parse_value_into`).
pub type Item<'a> = (u64, Result<&'a Value, String>);

/// Lends an owned record (or its error) to `each`.
pub(crate) fn lend(each: &mut impl FnMut(Item<'_>), n: u64, item: Result<Value, String>) {
    match item {
        Ok(v) => each((n, Ok(&v))),
        Err(e) => each((n, Err(e))),
    }
}

/// Reads JSON Lines without ever holding more than `limit + 1` bytes of one line.
pub fn jsonl(mut r: impl BufRead, limits: DecodeLimits, mut each: impl FnMut(Item<'_>)) -> Result<(), BatchError> {
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut rec = Value::Null;
    loop {
        buf.clear();
        line_no += 1;
        let (n, overflow) = read_line_capped(&mut r, &mut buf, limits.max_record_bytes)?;
        if n == 0 {
            return Ok(());
        }
        if overflow > 0 {
            each((line_no, Err(format!("record is {} bytes, over the {}-byte limit", n, limits.max_record_bytes))));
            continue;
        }
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines separate nothing; they are not records
        }
        match decode_json_into(body, limits, &mut rec) {
            Ok(()) => each((line_no, Ok(&rec))),
            Err(e) => each((line_no, Err(e.to_string()))),
        }
    }
}

/// Reads one line into `buf`, keeping at most `cap + 1` bytes; returns the full line length
/// and how many bytes were dropped. The newline search is the standard library's word-at-a-time
/// one (`read_until`), not a byte loop: on flights it was 5 % of a `check`.
pub(crate) fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> Result<(usize, usize), BatchError> {
    let read = |e: std::io::Error| BatchError::Read { reason: e.to_string() };
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let kept = r.by_ref().take(limit).read_until(b'\n', buf).map_err(read)?;
    if kept == 0 || buf.last() == Some(&b'\n') || (kept as u64) < limit {
        return Ok((kept, 0)); // the whole line (or the input's last one)
    }
    // Over the cap: skip the rest of the line without keeping it.
    let dropped = r.skip_until(b'\n').map_err(read)?;
    Ok((kept + dropped, dropped))
}

/// Reads a JSON array element by element, so memory stays flat.
pub fn json_array(r: impl Read, limits: DecodeLimits, each: impl FnMut(Item<'_>)) -> Result<(), BatchError> {
    struct Each<F>(F, DecodeLimits);
    impl<'de, F: FnMut(Item<'_>)> Visitor<'de> for Each<F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            let mut n = 0u64;
            while let Some(v) = seq.next_element::<Value>()? {
                n += 1;
                let size = v.to_string().len();
                let item = if size > self.1.max_record_bytes {
                    Err(format!("record is {size} bytes, over the {}-byte limit", self.1.max_record_bytes))
                } else {
                    Ok(v)
                };
                lend(&mut self.0, n, item);
            }
            Ok(())
        }
    }
    impl<'de, F: FnMut(Item<'_>)> DeserializeSeed<'de> for Each<F> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut de = serde_json::Deserializer::from_reader(r);
    Each(each, limits).deserialize(&mut de).map_err(|e| BatchError::Read { reason: format!("not a JSON array of records: {e}") })?;
    de.end().map_err(|e| BatchError::Read { reason: format!("trailing data after the array: {e}") })
}

/// The CSV cells read as null: the ones given (`--null-token`), else `NA` and the empty
/// string (what R and pandas write for a missing value).
#[must_use]
pub fn null_tokens(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        vec!["NA".into(), String::new()]
    } else {
        given.to_vec()
    }
}

/// Reads CSV with a header row, typing values by the contract.
pub fn csv(r: impl Read, types: &[(String, Option<LogicalType>)], null_tokens: &[String], limits: DecodeLimits, mut each: impl FnMut(Item<'_>)) -> Result<(), BatchError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(r);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| BatchError::Read { reason: format!("CSV header: {e}") })?
        .iter()
        .map(String::from)
        .collect();
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = rec.position().map_or(0, csv::Position::line);
                let item = if rec.as_slice().len() > limits.max_record_bytes {
                    Err(format!("record is {} bytes, over the {}-byte limit", rec.as_slice().len(), limits.max_record_bytes))
                } else if rec.len() != headers.len() {
                    Err(format!("row has {} fields, the header has {}", rec.len(), headers.len()))
                } else {
                    rec.iter()
                        .enumerate()
                        .map(|(i, f)| std::str::from_utf8(f).map_err(|e| format!("invalid UTF-8 in column {:?} at byte {}", headers[i], e.valid_up_to())))
                        .collect::<Result<Vec<&str>, String>>()
                        .map(|fields| csv_record(&headers, &fields, types, null_tokens))
                };
                lend(&mut each, line, item);
            }
            Err(e) => {
                // A malformed row is a failed record; an I/O failure ends the read.
                match e.kind() {
                    csv::ErrorKind::Io(_) => return Err(BatchError::Read { reason: e.to_string() }),
                    _ => each((e.position().map_or(0, csv::Position::line), Err(format!("malformed CSV row: {e}")))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], f: Format) -> Vec<(u64, Result<Value, String>)> {
        let mut out = Vec::new();
        let lim = DecodeLimits { max_record_bytes: 32 };
        let types = vec![("n".to_string(), Some(LogicalType::Integer))];
        let r = match f {
            Format::Jsonl => jsonl(input, lim, |(n, i)| out.push((n, i.cloned()))),
            Format::Json => json_array(input, lim, |(n, i)| out.push((n, i.cloned()))),
            Format::Csv => csv(input, &types, &["NA".to_string()], lim, |(n, i)| out.push((n, i.cloned()))),
            Format::Avro => unreachable!("Avro files are read against a contract: see batch::avro_file"),
        };
        assert!(r.is_ok(), "{r:?}");
        out
    }

    #[test]
    fn readers_table() {
        let long = format!("{{\"s\":\"{}\"}}\n{{\"n\":2}}\n", "x".repeat(100));
        // 32 bytes is the limit: a 32-byte line passes, a 33-byte last line without a newline does not.
        let edge = format!("{{\"s\":\"{}\"}}\n{{\"s\":\"{}\"}}", "x".repeat(24), "x".repeat(25));
        type Case<'a> = (&'a [u8], Format, Vec<(u64, bool)>);
        let cases: Vec<Case<'_>> = vec![
            (b"{\"n\":1}\n\n{\"n\":\n{\"n\":3}", Format::Jsonl, vec![(1, true), (3, false), (4, true)]),
            (b"\xff\n{\"n\":1}\r\n", Format::Jsonl, vec![(1, false), (2, true)]),
            (long.as_bytes(), Format::Jsonl, vec![(1, false), (2, true)]),
            (edge.as_bytes(), Format::Jsonl, vec![(1, true), (2, false)]),
            (b"[{\"n\":1},{\"n\":2}]", Format::Json, vec![(1, true), (2, true)]),
            (b"n,s\n1,a\nNA,b\n2\n\xff,c\n", Format::Csv, vec![(2, true), (3, true), (4, false), (5, false)]),
        ];
        for (input, f, want) in cases {
            let got: Vec<(u64, bool)> = collect(input, f).iter().map(|(l, r)| (*l, r.is_ok())).collect();
            assert_eq!(got, want, "{f:?} {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn each_line_is_its_own_record_whatever_the_line_before_held() {
        // Lines are parsed into the previous line's value: keys gone, new, reordered, retyped,
        // and a bad line in between must not leak from one record into the next.
        let lines = [r#"{"a":1,"b":"x","c":[1,2]}"#, r#"{"b":"yy","a":2}"#, r#"{"a":{"z":null}}"#, r#"{"a":"#, r#"{"c":[3],"d":true}"#];
        let text = lines.join("\n");
        let mut got = Vec::new();
        let r = jsonl(text.as_bytes(), DecodeLimits::default(), |(_, i)| got.push(i.cloned().ok()));
        assert!(r.is_ok(), "{r:?}");
        let want: Vec<Option<Value>> = lines.iter().map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn broken_array_is_an_input_error() {
        let err = json_array(&b"[{\"n\":1},"[..], DecodeLimits::default(), |_| {}).expect_err("truncated");
        assert!(err.to_string().contains("not a JSON array"), "{err}");
    }
}
