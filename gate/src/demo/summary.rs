//! What a demo run found, and its human-readable rendering.

use serde::Serialize;
use serde_json::Value;

/// One breaker transition as seen on the events topic.
#[derive(Debug, Clone, Serialize)]
pub struct TransitionSeen {
    /// Mode before.
    pub from: String,
    /// Mode after.
    pub to: String,
    /// Seconds after the demo started.
    pub at_s: f64,
    /// Why (the event's `reason`).
    pub reason: Value,
}

/// Records by route at the end (`contract_gate_records_total`), and what was produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Records {
    /// Written to the source topic.
    pub produced: u64,
    /// Of those, with `dep_time = null` from the burst.
    pub burst: u64,
    /// Of those, broken on purpose (wrong type, out of range, torn JSON).
    pub broken: u64,
    /// To `flights.validated` as they came (closed, or a passing half-open probe).
    pub validated: u64,
    /// Failed a record check → `flights.quarantine`.
    pub quarantined: u64,
    /// Valid but held while the breaker was open → `flights.held` (replayable).
    pub held: u64,
    /// Last-good snapshots re-sent to `flights.validated` marked stale while open.
    pub stale: u64,
    /// → `flights.degraded` (not used by the demo's `last_good` fallback).
    pub degraded: u64,
    /// Latest valid record per key → compacted `flights.last-good`.
    pub last_good: u64,
}

/// The rule breach that opened the breaker.
#[derive(Debug, Clone, Serialize)]
pub struct BreachSeen {
    /// Rule id.
    pub rule: String,
    /// Field.
    pub field: Option<String>,
    /// Value over the window.
    pub value: Option<f64>,
    /// Threshold, as in the contract (`{"mustBeLessThan": 3.0}`).
    pub threshold: Value,
    /// Unit of the value.
    pub unit: String,
    /// Records in the judged window.
    pub records: Option<u64>,
}

/// What `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The breaker went closed → open → half-open → closed, and every route was used.
    pub passed: bool,
    /// Why not, when it did not.
    pub problems: Vec<String>,
    /// Breaker modes in the order they were entered, starting with the initial one.
    pub states: Vec<String>,
    /// Every transition published on `contract-gate.breaker-events`.
    pub transitions: Vec<TransitionSeen>,
    /// The breach that opened the breaker first.
    pub breach: Option<BreachSeen>,
    /// Records by route.
    pub records: Records,
    /// From the first null record produced to the breaker opening.
    pub time_to_detect_ms: Option<i64>,
    /// From the last null record produced to the breaker closing again.
    pub time_to_recover_ms: Option<i64>,
    /// The whole demo.
    pub duration_ms: u64,
    /// The breaker settings used (`demo.yaml`).
    pub breaker: Value,
}

/// The human-readable summary (stdout without `--json`).
#[must_use]
pub fn render(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    #[allow(clippy::cast_precision_loss)]
    let secs = |ms: i64| ms as f64 / 1000.0;
    let _ = writeln!(o, "\ncontract-gate demo: {} in {:.1} s\n", if s.passed { "PASSED" } else { "FAILED" }, secs(i64::try_from(s.duration_ms).unwrap_or(i64::MAX)));
    let _ = writeln!(o, "  breaker     {}", s.states.join(" → "));
    if let Some(b) = &s.breach {
        let thr = b.threshold.as_object().and_then(|m| m.iter().next()).map_or_else(String::new, |(k, v)| format!("{k} {v}"));
        let _ = writeln!(
            o,
            "  tripped by  {} on {}: {} {} over {} records ({})",
            b.rule,
            b.field.as_deref().unwrap_or("the record"),
            b.value.map_or_else(|| "–".into(), |v| format!("{v:.2}")),
            b.unit,
            b.records.map_or_else(|| "?".into(), |n| n.to_string()),
            thr
        );
    }
    if let Some(d) = s.time_to_detect_ms {
        let _ = writeln!(o, "  detected    {:.2} s after the first null record was produced", secs(d));
    }
    if let Some(r) = s.time_to_recover_ms {
        let _ = writeln!(o, "  recovered   {:.2} s after the last null record (open wait, then a probe of good records)", secs(r));
    }
    let r = &s.records;
    let _ = writeln!(o, "  produced    {} records: {} with the null burst, {} broken on purpose", r.produced, r.burst, r.broken);
    let _ = writeln!(o, "  routed      validated {} · quarantine {} · held {} · stale re-sends {} · degraded {} · last-good {}", r.validated, r.quarantined, r.held, r.stale, r.degraded, r.last_good);
    for p in &s.problems {
        let _ = writeln!(o, "  problem     {p}");
    }
    let _ = writeln!(
        o,
        "\nA consumer of flights.validated never saw a broken record; while the breaker was open it got\n\
         each route's last good flight again, marked `contract-gate-verdict: stale`, and the new\n\
         flights waited in flights.held. Next: `contract-gate serve --config examples/flights/gate.yaml`\n\
         against your Kafka, or `docker compose up` (README)."
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::{golden, json};

    #[test]
    fn demo_outputs_match_their_golden_files() {
        let s = Summary {
            passed: true,
            problems: Vec::new(),
            states: ["closed", "open", "half_open", "closed"].map(String::from).to_vec(),
            transitions: vec![TransitionSeen { from: "closed".into(), to: "open".into(), at_s: 4.2, reason: serde_json::json!({ "kind": "breach", "rule": "dep_time_nulls" }) }],
            breach: Some(BreachSeen { rule: "dep_time_nulls".into(), field: Some("dep_time".into()), value: Some(41.5), threshold: serde_json::json!({ "mustBeLessThan": 3.0 }), unit: "percent".into(), records: Some(200) }),
            records: Records { produced: 3000, burst: 300, broken: 3, validated: 2400, quarantined: 3, held: 450, stale: 40, degraded: 0, last_good: 120 },
            time_to_detect_ms: Some(1250),
            time_to_recover_ms: Some(6100),
            duration_ms: 21_000,
            breaker: serde_json::json!({ "window": "10s", "min_records": 100 }),
        };
        golden::assert("demo.txt", &render(&s));
        golden::assert("demo.json", &json(&s).expect("json"));
    }
}
