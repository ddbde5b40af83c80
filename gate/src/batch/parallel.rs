//! JSON Lines decoded on several threads, checked on one, in input order.
//!
//! Decoding is most of a `check` (building each record's `Value`); the checks and the report
//! are the rest and depend on order (duplicates, the first lines of each failure). So a reader
//! thread cuts the input into chunks of lines, `threads` decoders turn chunks into records, and
//! the caller's thread receives them back in chunk order and hands each record to `each`, as
//! the one-threaded reader does: the report is the same whatever the thread count.

use super::input::{read_line_capped, Item};
use super::BatchError;
use contracts::decode::{decode_json_into, DecodeLimits};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

/// A chunk closes at this many bytes or [`CHUNK_LINES`] lines, whichever comes first: large
/// enough that handing it between threads costs nothing per record, small enough that the
/// chunks in flight (two per decoder) stay a few MiB.
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_LINES: usize = 1024;

/// Lines as read: their bytes one after the other, and per line its number and end.
#[derive(Default)]
struct Chunk {
    seq: u64,
    bytes: Vec<u8>,
    /// (line number, end offset in `bytes`, length of an over-limit line or 0)
    lines: Vec<(u64, usize, usize)>,
}

/// A decoded chunk: per line, its number and the record or why not.
type Decoded = (u64, Vec<(u64, Result<Value, String>)>);

/// Reads JSON Lines like [`super::input::jsonl`], decoding on `threads` threads of its own
/// while the caller's thread runs `each`.
///
/// # Errors
/// The input cannot be read.
pub fn jsonl(r: impl BufRead + Send, limits: DecodeLimits, threads: usize, mut each: impl FnMut(Item<'_>)) -> Result<(), BatchError> {
    let threads = threads.max(1);
    let (work_tx, work_rx) = sync_channel::<Chunk>(threads * 2);
    let (done_tx, done_rx) = sync_channel::<Decoded>(threads * 2);
    // Handed-on records go back to the decoders, which parse the next lines into them: a
    // record parsed into one of the same shape reuses its keys and buffers (as the
    // one-threaded reader does), and a fresh `Value` per line cost three times the CPU.
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<Value>>();
    let work_rx = Mutex::new(work_rx);
    let spent_rx = Mutex::new(spent_rx);
    std::thread::scope(|s| {
        let reader = s.spawn(move || read_chunks(r, limits.max_record_bytes, |c| work_tx.send(c).is_ok()));
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (work_rx, spent_rx) = (&work_rx, &spent_rx);
            s.spawn(move || {
                while let Some(chunk) = next(work_rx) {
                    let spent = spent_rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_recv().unwrap_or_default();
                    if done_tx.send((chunk.seq, decode(&chunk, limits, spent))).is_err() {
                        return; // the caller stopped listening
                    }
                }
            });
        }
        drop(done_tx);
        // Chunks come back in any order; they are handed on in the order they were read.
        let (mut want, mut early) = (0u64, BTreeMap::new());
        for (seq, records) in done_rx {
            early.insert(seq, records);
            while let Some(records) = early.remove(&want) {
                for (line, rec) in &records {
                    each((*line, rec.as_ref().map_err(Clone::clone)));
                }
                let _ = spent_tx.send(records.into_iter().filter_map(|(_, r)| r.ok()).collect());
                want += 1;
            }
        }
        reader.join().unwrap_or_else(|_| Err(BatchError::Read { reason: "the input reader thread failed".into() }))
    })
}

fn next(rx: &Mutex<Receiver<Chunk>>) -> Option<Chunk> {
    rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv().ok()
}

/// Cuts the input into chunks; `send` returns false when nobody takes them any more.
fn read_chunks(mut r: impl BufRead, cap: usize, mut send: impl FnMut(Chunk) -> bool) -> Result<(), BatchError> {
    let (mut line_no, mut seq) = (0u64, 0u64);
    let mut chunk = Chunk::default();
    loop {
        line_no += 1;
        let start = chunk.bytes.len();
        let (n, overflow) = read_line_capped(&mut r, &mut chunk.bytes, cap)?;
        if n == 0 {
            break;
        }
        if overflow > 0 {
            // Only its length is reported; its bytes are not kept.
            chunk.bytes.truncate(start);
            chunk.lines.push((line_no, start, n));
        } else {
            // The line without its end; blank lines separate nothing and are not records.
            let mut end = chunk.bytes.len();
            while end > start && matches!(chunk.bytes[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            chunk.bytes.truncate(end);
            if chunk.bytes[start..].iter().all(u8::is_ascii_whitespace) {
                chunk.bytes.truncate(start);
                continue;
            }
            chunk.lines.push((line_no, end, 0));
        }
        if chunk.bytes.len() >= CHUNK_BYTES || chunk.lines.len() >= CHUNK_LINES {
            let full = std::mem::replace(&mut chunk, Chunk { seq: seq + 1, ..Chunk::default() });
            seq += 1;
            if !send(full) {
                return Ok(());
            }
        }
    }
    if !chunk.lines.is_empty() {
        send(chunk);
    }
    Ok(())
}

/// Decodes a chunk's lines, each into one of `spent` while they last.
fn decode(chunk: &Chunk, limits: DecodeLimits, mut spent: Vec<Value>) -> Vec<(u64, Result<Value, String>)> {
    let mut start = 0;
    chunk
        .lines
        .iter()
        .map(|&(line, end, over)| {
            let body = &chunk.bytes[start..end];
            start = end;
            if over > 0 {
                return (line, Err(format!("record is {over} bytes, over the {}-byte limit", limits.max_record_bytes)));
            }
            let mut v = spent.pop().unwrap_or(Value::Null);
            (line, decode_json_into(body, limits, &mut v).map(|()| v).map_err(|e| e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item as the one-threaded reader gives it.
    fn items(input: &[u8], threads: Option<usize>) -> Vec<(u64, Result<Value, String>)> {
        let limits = DecodeLimits { max_record_bytes: 64 };
        let mut got = Vec::new();
        let each = |(line, item): Item<'_>| got.push((line, item.cloned()));
        match threads {
            None => super::super::input::jsonl(input, limits, each).expect("reads"),
            Some(t) => jsonl(input, limits, t, each).expect("reads"),
        }
        got
    }

    #[test]
    fn any_thread_count_gives_the_one_threaded_items_in_order() {
        let mut input = Vec::new();
        // Past several chunks: records, blank and CRLF lines, bad JSON, an over-long line.
        for i in 0..(5 * CHUNK_LINES + 17) {
            let line = match i % 7 {
                0 => String::new(),
                1 => format!("{{\"n\":{i}}}\r"),
                2 => "{\"torn\":".to_string(),
                3 => format!("{{\"long\":\"{}\"}}", "x".repeat(100)),
                4 => "   ".to_string(),
                _ => format!("{{\"n\":{i},\"s\":\"v{i}\"}}"),
            };
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        input.extend_from_slice(b"{\"last\":true}"); // no newline at the end
        let want = items(&input, None);
        assert!(want.len() > 3 * CHUNK_LINES);
        for threads in [1, 2, 3] {
            assert_eq!(items(&input, Some(threads)), want, "{threads} decoding threads");
        }
        assert!(items(b"", Some(2)).is_empty());
    }
}
