//! The hostile-input corpus: records and contracts a producer or an author could send that
//! must each end as a clear error — never a crash, a hang or a lost record. Generated here
//! rather than kept as files (some are megabytes). Used by `gate/tests/hostile.rs`
//! (`check`, `contracts lint`) and `tests/tests/hostile.rs` (a live `serve` on Kafka),
//! each through `#[path]`, so both read the same list.

#![allow(dead_code)] // each user reads part of it

/// One hostile JSON record and a fragment of the reason it must be refused with.
#[derive(Debug)]
pub struct Record {
    /// Short name, for messages.
    pub name: &'static str,
    /// The payload (one line of a JSONL file for `check`; one Kafka record for `serve`).
    pub bytes: Vec<u8>,
    /// Words the refusal's reason must contain.
    pub reason: &'static str,
    /// Whether the record can be a line of a JSONL file (no newline inside).
    pub one_line: bool,
}

/// The first flights record of examples/flights/sample.jsonl, as text.
pub fn good_flight() -> String {
    include_str!("../../examples/flights/sample.jsonl").lines().next().unwrap_or_default().to_string()
}

/// The hostile records.
pub fn records() -> Vec<Record> {
    let good = good_flight();
    let r = |name, bytes: Vec<u8>, reason| Record { name, one_line: !bytes.contains(&b'\n'), bytes, reason };
    // A million keys: `"k0":0,` … — about 11 MB, over any record limit.
    let mut keys = String::from("{");
    for i in 0..1_000_000 {
        if i > 0 {
            keys.push(',');
        }
        keys.push_str(&format!("\"k{i}\":0"));
    }
    keys.push('}');
    // Bytes no encoder writes: high bytes, NULs and control characters, deterministic.
    let garbage: Vec<u8> = (0u32..512).map(|i| u8::try_from((i * 167 + 13) % 251).unwrap_or(0) | 0x80).collect();
    vec![
        r("malformed JSON", br#"{"year": 2013, "month":"#.to_vec(), "invalid JSON"),
        r("invalid UTF-8", b"{\"carrier\": \"\xff\xfe\xfd\"}".to_vec(), "invalid UTF-8"),
        r("byte-order mark", [&b"\xef\xbb\xbf"[..], good.as_bytes()].concat(), "byte-order mark"),
        r("1e400", good.replacen("\"distance\":1400", "\"distance\":1e400", 1).into_bytes(), "number out of range"),
        // Parsed as the nearest double: valid JSON, refused by the contract's maximum.
        r("integer above 2^64", good.replacen("\"flight\":1545", "\"flight\":18446744073709551616123", 1).into_bytes(), "flight"),
        r("100k-deep nesting", "[".repeat(100_000).into_bytes(), "recursion limit"),
        r("100k-deep objects", "{\"a\":".repeat(100_000).into_bytes(), "recursion limit"),
        r("1e6 keys", keys.into_bytes(), "over the"),
        r("binary garbage", garbage, "invalid UTF-8"),
        r("NUL bytes", vec![0; 64], "invalid JSON"),
        r("lone surrogate", br#"{"carrier": "\ud800"}"#.to_vec(), "invalid JSON"),
        r("not an object", b"[2013, 1, 1]".to_vec(), "object"),
    ]
}

/// One hostile contract file and what `contracts lint` must say (exit 1 with the words, or
/// exit 2 for a file that is not text).
#[derive(Debug)]
pub struct Contract {
    /// Short name, for messages.
    pub name: &'static str,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The exit code of `contracts lint`.
    pub code: i32,
    /// Words the output must contain.
    pub says: &'static str,
}

const HEAD: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: hostile\nversion: 1.0.0\nstatus: active\n";

/// The hostile contracts.
pub fn contracts() -> Vec<Contract> {
    // Billion laughs: ten levels of nine aliases each, 9^10 strings once expanded.
    let mut laughs = String::from("x-laughs:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        laughs.push_str(&format!("  l{i}: &l{i} [{}]\n", vec![format!("*l{}", i - 1); 9].join(", ")));
    }
    let keys: String = (0..1_000_000).map(|i| format!("  k{i}: 0\n")).collect();
    let c = |name, bytes: Vec<u8>, code, says| Contract { name, bytes, code, says };
    vec![
        c("billion laughs", format!("{HEAD}{laughs}schema: []\n").into_bytes(), 1, "budget"),
        c("100k-deep nesting", format!("{HEAD}schema: {}\n", "[".repeat(100_000)).into_bytes(), 1, "recursion limit"),
        c("1e6 keys", format!("{HEAD}x-many:\n{keys}").into_bytes(), 1, "budget"),
        c("1e400", format!("{HEAD}schema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: number\n        logicalTypeOptions: {{ maximum: 1e400 }}\n").into_bytes(), 1, "1e400"),
        c("integer above 2^64", format!("{HEAD}schema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: string\n        logicalTypeOptions: {{ maxLength: 18446744073709551616123 }}\n").into_bytes(), 1, "maxLength"),
        c("malformed YAML", format!("{HEAD}schema: [\n  - name: t\n").into_bytes(), 1, "not valid YAML"),
        c("byte-order mark", format!("\u{feff}{HEAD}schema: []\n").into_bytes(), 0, "ok"),
        c("invalid UTF-8", [HEAD.as_bytes(), b"description: \xff\xfe\n"].concat(), 2, "valid UTF-8"),
        c("binary garbage", (0u8..=255).cycle().take(4096).collect(), 2, "valid UTF-8"),
        c("JSON, not a mapping", b"[1, 2, 3]".to_vec(), 1, "must be a mapping"),
    ]
}
