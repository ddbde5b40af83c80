//! `breaker`'s table: the admin API's answers (`/v1/breakers`) for people.
//!
//! The JSON of the answers is the report's machine form and stays as the API wrote it; this
//! reads the fields it shows and prints `-` for any it does not find, so an older or newer gate
//! on the other end never makes the command fail.

use serde_json::Value;
use std::fmt::Write as _;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

/// `since_ms` as an RFC 3339 time (UTC, seconds).
fn since(state: &Value) -> String {
    state.get("since_ms").and_then(Value::as_i64).and_then(chrono::DateTime::from_timestamp_millis).map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Why the breaker is in its state, in a few words.
fn reason(state: &Value) -> String {
    let r = state.get("reason").unwrap_or(&Value::Null);
    match s(r, "kind") {
        "breach" => {
            // The value against the threshold is what an operator needs to judge the trip.
            let value = r.get("value").and_then(Value::as_f64).map(|v| format!(" {v:.2}"));
            let unit = match s(r, "unit") {
                "percent" => " %",
                "rows" => " rows",
                "seconds" => " s",
                _ => "",
            };
            let threshold = r.get("threshold").and_then(Value::as_object).and_then(|t| t.iter().next()).map(|(op, v)| format!(" ({op} {v})"));
            format!("breach of {}{}{}{}", s(r, "rule"), value.unwrap_or_default(), if threshold.is_some() { unit } else { "" }, threshold.unwrap_or_default())
        }
        "manual" => match r.get("note").and_then(Value::as_str) {
            Some(note) => format!("manual {} ({note})", s(r, "command")),
            None => format!("manual {}", s(r, "command")),
        },
        "probe_passed" => format!("probe passed ({} records)", r.get("records").and_then(Value::as_u64).unwrap_or(0)),
        other => other.replace('_', " "),
    }
}

fn paused(v: &Value) -> String {
    match v.get("paused_partitions").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m.iter().map(|(p, o)| format!("{p}@{o}")).collect::<Vec<_>>().join(","),
        _ => "-".to_string(),
    }
}

/// The latency SLAs' p95 record age at the last flush, against each SLA (`12.5s/10s`).
fn record_age(v: &Value) -> String {
    let shown: Vec<String> = v
        .get("record_age")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let p95 = a.get("p95_seconds").and_then(Value::as_f64)?;
            let sla = a.get("sla_seconds").and_then(Value::as_f64).map(|s| format!("/{}s", crate::batch::report::fmt_value(Some(s)))).unwrap_or_default();
            Some(format!("{}s{sla}", crate::batch::report::fmt_value(Some((p95 * 100.0).round() / 100.0))))
        })
        .collect();
    if shown.is_empty() {
        "-".to_string()
    } else {
        shown.join(",")
    }
}

const HEADER: [&str; 9] = ["BINDING", "STATE", "SINCE", "TRIPS", "CONTRACT", "FALLBACK", "STORE", "PAUSED", "P95 AGE/SLA"];

fn row(b: &Value) -> [String; 9] {
    let st = b.get("state").unwrap_or(&Value::Null);
    let store = match (s(b, "store"), b.get("store_fallback_active").and_then(Value::as_bool)) {
        (store, Some(true)) => format!("{store} (on local fallback)"),
        (store, _) => store.to_string(),
    };
    [
        s(b, "binding").to_string(),
        s(st, "mode").to_string(),
        since(st),
        st.get("trips").and_then(Value::as_u64).map_or_else(|| "-".to_string(), |n| n.to_string()),
        format!("{} {}", s(b, "contract"), s(b, "version")),
        s(b, "fallback").to_string(),
        store,
        paused(b),
        record_age(b),
    ]
}

fn status_table(bindings: &[&Value]) -> String {
    let rows: Vec<[String; 9]> = bindings.iter().map(|b| row(b)).collect();
    let widths: Vec<usize> = (0..HEADER.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([HEADER[i].len()]).max().unwrap_or(0)).collect();
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str], reason: &str| {
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(out, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{reason}");
    };
    line(&mut out, &HEADER, "REASON");
    for (r, b) in rows.iter().zip(bindings) {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&mut out, &cells, &reason(b.get("state").unwrap_or(&Value::Null)));
    }
    out
}

/// The table of an answer: the status of one or every breaker, the state a command left, or
/// the partitions a pending action released.
#[must_use]
pub fn table(answer: &Value) -> String {
    match answer {
        Value::Array(all) => status_table(&all.iter().collect::<Vec<_>>()),
        one if one.get("paused_partitions").is_some() && one.get("action").is_some() => {
            format!("{}: {} requested for partitions {} (partition@offset where they paused)\n", s(one, "binding"), s(one, "action"), paused(one))
        }
        one if one.get("contract").is_some() => status_table(&[one]),
        one => {
            let st = one.get("state").unwrap_or(&Value::Null);
            let shared = if one.get("shared").and_then(Value::as_bool) == Some(true) { ", shared with every replica" } else { "" };
            format!("{}: {} since {} ({}{shared})\n", s(one, "binding"), s(st, "mode"), since(st), reason(st))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::{golden, json};

    #[test]
    fn breaker_outputs_match_their_golden_files() {
        let state = |mode: &str, reason: Value| serde_json::json!({ "mode": mode, "since_ms": 1_714_557_600_000_i64, "epoch": 3, "trips": 1, "reason": reason, "open_until_ms": null, "probe_budget": 0, "window_from_ms": 0 });
        let breach = serde_json::json!({ "kind": "breach", "rule": "dep_time_nulls", "metric": "nullValues", "field": "dep_time", "value": 41.5, "threshold": { "mustBeLessThan": 3.0 }, "unit": "percent", "records": 200 });
        let status = serde_json::json!([
            { "binding": "flights", "contract": "flights", "version": "1.1.0", "fallback": "last_good", "store": "redis", "store_fallback_active": false, "state": state("open", breach), "paused_partitions": {}, "record_age": [{ "rule": "time_hour.latency.recordAge", "p95_seconds": 3.3333, "sla_seconds": 7200.0 }] },
            { "binding": "orders", "contract": "orders", "version": "2.0.0", "fallback": "pause", "store": "redis", "store_fallback_active": true, "state": state("closed", serde_json::json!({ "kind": "probe_passed", "records": 500, "timed_out": false })), "paused_partitions": { "0": 120, "2": 7 } }
        ]);
        let one = status[0].clone();
        let command = serde_json::json!({ "binding": "flights", "state": state("forced_open", serde_json::json!({ "kind": "manual", "command": "force_open", "note": "http admin" })), "shared": true });
        let pending = serde_json::json!({ "binding": "orders", "action": "skip-pending", "paused_partitions": { "0": 120, "2": 7 } });
        for (name, answer) in [("status", status), ("status-one", one), ("open", command), ("skip-pending", pending)] {
            golden::assert(&format!("breaker-{name}.txt"), &table(&answer));
            golden::assert(&format!("breaker-{name}.json"), &json(&answer).expect("json"));
        }
    }

    #[test]
    fn unknown_shapes_show_dashes_not_errors() {
        assert_eq!(table(&serde_json::json!({})), "-: - since - (-)\n");
        assert!(table(&serde_json::json!([{}])).contains("-  "));
    }
}
