//! What each binding's last flush measured that the admin API shows beside the breaker's
//! state: the latency SLAs' p95 record age over the merged window. The breaker's state says
//! why it tripped; this says how old the records it judges are now, trip or not.
//!
//! The flusher keeps the last flush's ages on the binding's runtime
//! (`BindingRuntime::remember_record_ages`); the admin API reads them from there.

use serde::Serialize;

/// One latency SLA's p95 record age at the last flush.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordAge {
    /// The SLA's `recordAge` rule id (`<sla id>.recordAge`).
    pub rule: String,
    /// 95th percentile of the records' age over the window, seconds.
    pub p95_seconds: f64,
    /// The SLA the percentile is read against, seconds.
    pub sla_seconds: Option<f64>,
}

/// The record ages among a flush's `results` (rules without a value yet are left out).
#[must_use]
pub fn record_ages(results: &[contracts::RuleResult]) -> Vec<RecordAge> {
    results
        .iter()
        .filter(|r| super::is_record_age(r))
        .filter_map(|r| {
            let sla = match r.operator {
                contracts::Operator::MustBeLessOrEqualTo(x) | contracts::Operator::MustBeLessThan(x) => Some(x),
                _ => None,
            };
            r.value.map(|v| RecordAge { rule: r.id.clone(), p95_seconds: v, sla_seconds: sla })
        })
        .collect()
}


#[cfg(test)]
mod tests {
    use super::*;
    use contracts::{Enforcement, MetricKind, Operator, RuleResult, Unit};

    fn result(id: &str, metric: MetricKind, unit: Unit, enforcement: Enforcement, value: Option<f64>) -> RuleResult {
        RuleResult { id: id.into(), metric, field: Some("time_hour".into()), value, operator: Operator::MustBeLessOrEqualTo(10.0), unit, passed: true, sample: None, enforcement }
    }

    #[test]
    fn only_reported_age_rules_with_a_value_are_kept() {
        let results = [
            result("time_hour.latency", MetricKind::Freshness, Unit::Seconds, Enforcement::Window, Some(3.0)),
            result("time_hour.latency.staleRecords", MetricKind::StaleRecords, Unit::Percent, Enforcement::Window, Some(2.0)),
            result("time_hour.latency.recordAge", MetricKind::RecordAge, Unit::Seconds, Enforcement::Report, Some(7.5)),
            result("other.latency.recordAge", MetricKind::RecordAge, Unit::Seconds, Enforcement::Report, None),
        ];
        assert_eq!(record_ages(&results), vec![RecordAge { rule: "time_hour.latency.recordAge".into(), p95_seconds: 7.5, sla_seconds: Some(10.0) }]);
        assert!(record_ages(&results[..2]).is_empty(), "a flush without ages has none to keep");
    }
}
