//! The gate's date/time pattern language against the JDK's `DateTimeFormatter`, row by row
//! (`tests/jdk/patterns.tsv`). One test holds the gate to the table; the other runs the JDK
//! itself (`java tests/jdk/JdkTime.java`, Java 17 or later) and holds the table to it, so a row
//! cannot claim something of the JDK that it does not do. Java is required: the suite's Kafka
//! needs it anyway, and a missing `java` fails the test rather than skipping it.

use contracts::timefmt::{Parsed, Pattern};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Row {
    line: usize,
    pattern: String,
    value: String,
    jdk: String,
    gate: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/jdk")
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("patterns.tsv")).expect("tests/jdk/patterns.tsv");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "patterns.tsv line {}: expected 4 tab-separated columns", i + 1);
            let gate = if cols[3] == "=" { cols[2] } else { cols[3] };
            Row { line: i + 1, pattern: cols[0].into(), value: cols[1].into(), jdk: cols[2].into(), gate: gate.into() }
        })
        .collect()
}

fn show(p: &Parsed) -> String {
    let kind = match (p.date, p.time) {
        (Some(_), Some(_)) => "datetime",
        (Some(_), None) => "date",
        (None, Some(_)) => "time",
        (None, None) => "partial",
    };
    let d = p.date.map_or("-".to_string(), |d| d.format("%Y-%m-%d").to_string());
    let t = p.time.map_or("-".to_string(), |t| t.format("%H:%M:%S%.9f").to_string());
    let o = p.offset.map_or("-".to_string(), |o| {
        let s = o.local_minus_utc();
        let (sign, a) = if s < 0 { ('-', -s) } else { ('+', s) };
        let base = format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60);
        if a % 60 == 0 {
            base
        } else {
            format!("{base}:{:02}", a % 60)
        }
    });
    format!("{kind} d={d} t={t} o={o}")
}

fn gate_verdict(pattern: &str, value: &str) -> String {
    let compiled = if pattern == "ISO_TIME" { Ok(Pattern::iso_time()) } else { Pattern::compile(pattern) };
    match compiled {
        Err(_) => "bad-pattern".into(),
        Ok(p) => p.parse(value).map_or_else(|| "error".to_string(), |v| show(&v)),
    }
}

#[test]
fn the_gate_reads_every_row_as_the_table_says() {
    let rows = rows();
    assert!(rows.len() > 100, "the table lost its rows");
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let got = gate_verdict(&r.pattern, &r.value);
            (got != r.gate).then(|| format!("line {}: {:?} on {:?}: gate {got}, table {}", r.line, r.pattern, r.value, r.gate))
        })
        .collect();
    assert!(wrong.is_empty(), "{} rows differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn the_table_says_what_the_jdk_does() {
    let rows = rows();
    let mut child = Command::new("java")
        .arg(dir().join("JdkTime.java"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("`java` (17 or later) on PATH: the JDK is the reference these rows are checked against");
    let mut input = String::new();
    for r in &rows {
        input.push_str(&format!("{}\t{}\n", r.pattern, r.value));
    }
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write rows to java");
    let out = child.wait_with_output().expect("java output");
    assert!(out.status.success(), "JdkTime.java failed: {:?}", out.status);
    let said: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.rsplit('\t').next().unwrap_or_default().to_string()).collect();
    assert_eq!(said.len(), rows.len(), "one verdict per row");
    let wrong: Vec<String> = rows.iter().zip(&said).filter(|(r, s)| r.jdk != **s).map(|(r, s)| format!("line {}: {:?} on {:?}: JDK {s}, table {}", r.line, r.pattern, r.value, r.jdk)).collect();
    assert!(wrong.is_empty(), "{} rows misstate the JDK:\n{}", wrong.len(), wrong.join("\n"));
}
