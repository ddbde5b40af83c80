//! A batch run: feed records one at a time, get one report. Memory stays flat in the number of
//! records, apart from the duplicate sets that `duplicateValues` rules must keep.

use crate::check::{Observer, Verdict};
use crate::compile::CompiledContract;
use crate::threshold::{Operator, Unit};
use crate::window::{age_quantiles, evaluate, Enforcement, MetricKind};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Line numbers kept per failing rule.
pub const FIRST_LINES: usize = 5;

/// One rule's row in a batch report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRule {
    /// Rule id.
    pub id: String,
    /// Metric name.
    pub metric: MetricKind,
    /// Field path, if any.
    pub field: Option<String>,
    /// Observed value; null when there was nothing to measure.
    pub value: Option<f64>,
    /// ODCS operator key (`mustBeLessThan`, …).
    pub operator: &'static str,
    /// Operand: a number, or `[lo, hi]` for the between operators.
    pub threshold: Value,
    /// Unit of value and threshold.
    pub unit: Unit,
    /// Whether the rule holds.
    pub passed: bool,
    /// Reported, not judged (an SLA's record-age percentile): `passed` is always true and the
    /// threshold is the SLA the value is read against.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reported: bool,
    /// Record-age quantiles (p50, p95, p99, in seconds) of a latency SLA's `recordAge` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ages: Option<crate::window::AgeQuantiles>,
}

/// Records failing one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailures {
    /// Rule id.
    pub rule: String,
    /// Records with at least one violation of the rule.
    pub records: u64,
    /// Whether the violations fail the record (else they only count toward a window rule).
    pub blocking: bool,
    /// The first few line numbers (1-based; for CSV, the header is line 1).
    pub first_lines: Vec<u64>,
    /// Example violation: field, value, expected.
    pub example: Value,
}

/// The result of a batch check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// Contract id.
    pub contract: String,
    /// Contract version.
    pub version: String,
    /// Schema object the records were checked against.
    pub object: String,
    /// True when every rule holds and no record failed a record-level check.
    pub passed: bool,
    /// Records read (including those that did not decode).
    pub records: u64,
    /// Records with no blocking violation.
    pub valid_records: u64,
    /// Records with a blocking violation or a decode error.
    pub failed_records: u64,
    /// Payloads that did not decode.
    pub decode_errors: u64,
    /// Every window rule with value, threshold and outcome.
    pub rules: Vec<ReportRule>,
    /// Per rule, records that broke it.
    pub failures: Vec<RuleFailures>,
    /// Fields outside the contract, with the number of records carrying each.
    pub schema_drift: BTreeMap<String, u64>,
    /// Parts of the contract this check did not enforce (sql, custom and text rules,
    /// descriptive formats, SLA properties without a streaming meaning), each with its path and
    /// why: a pass says nothing about them.
    pub not_enforced: Vec<crate::Problem>,
}

/// Accumulates a batch.
#[derive(Debug)]
pub struct Batch<'c> {
    contract: &'c CompiledContract,
    obs: Observer,
    valid: u64,
    failed: u64,
    decode_errors: u64,
    failures: BTreeMap<String, RuleFailures>,
}

impl<'c> Batch<'c> {
    /// Starts a batch judged at `now_ms` (record staleness and freshness are measured
    /// against it).
    #[must_use]
    pub fn new(contract: &'c CompiledContract, now_ms: i64) -> Self {
        let mut obs = contract.observer();
        obs.set_clock(now_ms);
        Self { contract, obs, valid: 0, failed: 0, decode_errors: 0, failures: BTreeMap::new() }
    }

    /// Checks one record found at `line`, returning its verdict.
    pub fn record(&mut self, line: u64, rec: &Value) -> Verdict {
        let verdict = self.contract.check(rec, &mut self.obs);
        if verdict.is_valid() {
            self.valid += 1;
        } else {
            self.failed += 1;
        }
        for rule in verdict.rule_ids() {
            let first = verdict.violations.iter().find(|v| &*v.rule == rule);
            let entry = self.failures.entry(rule.to_string()).or_insert_with(|| RuleFailures {
                rule: rule.to_string(),
                records: 0,
                blocking: first.is_some_and(|v| v.blocking),
                first_lines: Vec::new(),
                example: first.map_or(Value::Null, |v| json!({"field": v.field, "value": v.value, "expected": v.expected})),
            });
            entry.records += 1;
            if entry.first_lines.len() < FIRST_LINES {
                entry.first_lines.push(line);
            }
        }
        verdict
    }

    /// Counts a payload at `line` that did not decode.
    pub fn decode_error(&mut self, line: u64, reason: &str) {
        self.contract.decode_error(&mut self.obs);
        self.failed += 1;
        self.decode_errors += 1;
        let entry = self.failures.entry("$.decode".to_string()).or_insert_with(|| RuleFailures {
            rule: "$.decode".into(),
            records: 0,
            blocking: true,
            first_lines: Vec::new(),
            example: json!({"field": "", "value": "", "expected": reason}),
        });
        entry.records += 1;
        if entry.first_lines.len() < FIRST_LINES {
            entry.first_lines.push(line);
        }
    }

    /// Evaluates every rule at `now_ms` and builds the report.
    #[must_use]
    pub fn finish(self, now_ms: i64) -> BatchReport {
        let results = evaluate(&self.contract.rules, &self.obs.window, now_ms);
        let rules: Vec<ReportRule> = results
            .into_iter()
            .zip(self.contract.rules.iter().zip(&self.obs.window.accumulators))
            .filter(|(r, _)| r.metric != MetricKind::NoData) // silence is a streaming notion
            .map(|(r, (rule, acc))| {
                let ages = age_quantiles(rule, acc).map(|q| crate::window::AgeQuantiles { p50: round6(q.p50), p95: round6(q.p95), p99: round6(q.p99), records: q.records });
                ReportRule { threshold: operand(&r.operator), operator: r.operator.key(), id: r.id, metric: r.metric, field: r.field, value: r.value.map(round6), unit: r.unit, passed: r.passed, reported: r.enforcement == Enforcement::Report, ages }
            })
            .collect();
        let passed = rules.iter().all(|r| r.passed) && self.failed == 0;
        BatchReport {
            contract: self.contract.id.to_string(),
            version: self.contract.version.to_string(),
            object: self.contract.object.to_string(),
            passed,
            records: self.obs.window.records,
            valid_records: self.valid,
            failed_records: self.failed,
            decode_errors: self.decode_errors,
            rules,
            failures: self.failures.into_values().collect(),
            schema_drift: self.obs.drift,
            not_enforced: self.contract.notices.iter().filter(|p| p.severity == crate::Severity::NotEnforced).cloned().collect(),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The operand(s) of an operator as JSON.
#[must_use]
pub fn operand(op: &Operator) -> Value {
    match *op {
        Operator::MustBe(x)
        | Operator::MustNotBe(x)
        | Operator::MustBeGreaterThan(x)
        | Operator::MustBeGreaterOrEqualTo(x)
        | Operator::MustBeLessThan(x)
        | Operator::MustBeLessOrEqualTo(x) => json!(x),
        Operator::MustBeBetween(a, b) | Operator::MustNotBeBetween(a, b) => json!([a, b]),
    }
}
