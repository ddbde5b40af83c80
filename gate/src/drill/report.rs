//! The drill report: one JSON object per drill, and a table for people.

use super::hypothesis::{Check, Hypothesis, Measured};
use super::scenario::Class;
use serde::Serialize;
use std::fmt::Write as _;

/// The steady state measured before the fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Steady {
    /// Steady records sent during the measurement.
    pub records: u64,
    /// Achieved rate, records per second.
    pub rate_per_s: f64,
    /// Of those, validated with the breaker closed.
    pub validated: u64,
    /// Produce → validated latency, median, ms.
    pub latency_p50_ms: Option<u64>,
    /// Produce → validated latency, 95th percentile, ms.
    pub latency_p95_ms: Option<u64>,
    /// Breaker transitions during the measurement (0 for a healthy steady state).
    pub transitions: u64,
    /// Why the steady state was not healthy, if it was not (the fault is then not injected).
    pub problem: Option<String>,
}

/// Everything about one drill.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Scenario.
    pub scenario: String,
    /// Binding drilled.
    pub binding: String,
    /// Contract id and version of the binding.
    pub contract: String,
    /// How the gate should catch the fault.
    pub class: Class,
    /// Field broken.
    pub field: Option<String>,
    /// Share of records broken during the fault.
    pub share: f64,
    /// How long the fault actually lasted, ms.
    pub fault_ms: u64,
    /// Steady state before the fault.
    pub steady: Steady,
    /// What was measured.
    #[serde(flatten)]
    pub measured: Measured,
    /// Steady records quarantined during the whole drill (a baseline that is not clean).
    pub steady_quarantined: u64,
    /// What was asserted.
    pub hypothesis: Hypothesis,
    /// Each assertion.
    pub checks: Vec<Check>,
    /// All checks held.
    pub passed: bool,
}

fn secs(ms: Option<u64>) -> String {
    #[allow(clippy::cast_precision_loss)]
    ms.map_or_else(|| "-".into(), |m| format!("{:.1}s", m as f64 / 1000.0))
}

/// A summary row per drill, then each drill's details and checks.
#[must_use]
pub fn table(reports: &[DrillReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<20} {:>8} {:>11} {:>6} {:>7} {:>7} {:>8}  result", "scenario", "injected", "quarantined", "leaked", "detect", "trip", "recover");
    for r in reports {
        let m = &r.measured;
        let _ = writeln!(
            s,
            "{:<20} {:>8} {:>11} {:>6} {:>7} {:>7} {:>8}  {}",
            r.scenario,
            m.injected,
            m.quarantined,
            m.leaked,
            secs(m.time_to_detect_ms),
            secs(m.time_to_trip_ms),
            secs(m.time_to_recover_ms),
            if r.passed { "PASS" } else { "FAIL" }
        );
    }
    for r in reports {
        let m = &r.measured;
        let _ = writeln!(s);
        #[allow(clippy::cast_precision_loss)]
        let fault = r.fault_ms as f64 / 1000.0;
        let radius = if r.scenario == "silence" { format!("the producer stops for {fault:.1}s") } else { format!("{:.0} % of records for {fault:.1}s", r.share * 100.0) };
        let _ = writeln!(s, "{} — {} fault{}, {radius}; binding {}, contract {}", r.scenario, r.class.as_str(), r.field.as_ref().map(|f| format!(" on {f}")).unwrap_or_default(), r.binding, r.contract);
        let st = &r.steady;
        let _ = writeln!(
            s,
            "  steady     {} records at {:.1}/s, {} validated, latency p50 {} p95 {}{}",
            st.records,
            st.rate_per_s,
            st.validated,
            st.latency_p50_ms.map_or("-".into(), |v| format!("{v} ms")),
            st.latency_p95_ms.map_or("-".into(), |v| format!("{v} ms")),
            st.problem.as_ref().map(|p| format!(" — {p}")).unwrap_or_default()
        );
        let probes = if m.leaked_through_probes > 0 { format!(" ({} released by a passed probe)", m.leaked_through_probes) } else { String::new() };
        let _ = writeln!(s, "  records    injected {}, quarantined {}, leaked {}{probes}, diverted {}, unaccounted {}", m.injected, m.quarantined, m.leaked, m.diverted, m.unaccounted);
        if r.steady_quarantined > 0 {
            let _ = writeln!(s, "  baseline   {} steady records were quarantined: the baseline is not clean", r.steady_quarantined);
        }
        let _ = writeln!(
            s,
            "  breaker    {}{}",
            if m.breaker_sequence.is_empty() { "-".to_string() } else { m.breaker_sequence.join(" → ") },
            m.trip_rule.as_ref().map(|r| format!(" (tripped on {r})")).unwrap_or_default()
        );
        for c in &r.checks {
            let _ = writeln!(s, "  {} {:<12} {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
        }
    }
    let passed = reports.iter().filter(|r| r.passed).count();
    let _ = writeln!(s, "\n{passed} of {} drills passed", reports.len());
    s
}

/// The drills as JUnit: one suite per drill (`N. scenario on binding`), a case per hypothesis
/// check, failed with expected versus observed; the measurements as suite properties.
#[must_use]
pub fn junit(reports: &[DrillReport]) -> quick_junit::Report {
    use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
    let mut out = quick_junit::Report::new("contract-gate drill");
    for (i, r) in reports.iter().enumerate() {
        let m = &r.measured;
        let mut suite = TestSuite::new(format!("{}. {} on {}", i + 1, r.scenario, r.binding));
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |x| x.to_string());
        suite.add_properties([
            Property::new("scenario", r.scenario.as_str()),
            Property::new("binding", r.binding.as_str()),
            Property::new("contract", r.contract.as_str()),
            Property::new("class", r.class.as_str()),
            Property::new("field", r.field.as_deref().unwrap_or("-")),
            Property::new("injected", m.injected.to_string()),
            Property::new("quarantined", m.quarantined.to_string()),
            Property::new("leaked", m.leaked.to_string()),
            Property::new("diverted", m.diverted.to_string()),
            Property::new("time_to_detect_ms", opt(m.time_to_detect_ms)),
            Property::new("time_to_trip_ms", opt(m.time_to_trip_ms)),
            Property::new("time_to_recover_ms", opt(m.time_to_recover_ms)),
            Property::new("breaker_sequence", m.breaker_sequence.join(" -> ")),
        ]);
        for c in &r.checks {
            let status = if c.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{}: {}", c.name, c.detail)).set_type("hypothesis");
                s
            };
            let mut case = TestCase::new(c.name, status);
            case.set_classname(r.scenario.as_str());
            if c.passed {
                case.set_system_out(c.detail.as_str());
            }
            suite.add_test_case(case);
        }
        if let Some(p) = &r.steady.problem {
            suite.set_system_err(format!("steady state: {p}"));
        }
        out.add_test_suite(suite);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::hypothesis::{evaluate, Expect};
    use std::time::Duration;

    fn sample() -> DrillReport {
        let hypothesis = Hypothesis { detect_within: Duration::from_secs(15), max_leaked: None, trip: Expect::Expected, recover_within: Duration::from_secs(30), abort_leaked: None, max_probe_leaked: Some(0), max_retrips: Some(0) };
        let measured = Measured {
            injected: 200,
            leaked: 120,
            diverted: 80,
            time_to_detect_ms: Some(1200),
            time_to_trip_ms: Some(1200),
            time_to_recover_ms: Some(3400),
            breaker_sequence: ["closed", "open", "half_open", "closed"].map(String::from).to_vec(),
            trip_rule: Some("dep_time_nulls".into()),
            ..Measured::default()
        };
        let checks = evaluate(&hypothesis, &measured);
        DrillReport {
            scenario: "null-burst".into(),
            binding: "flights".into(),
            contract: "flights 1.1.0".into(),
            class: Class::Window,
            field: Some("dep_time".into()),
            share: 0.5,
            fault_ms: 4000,
            steady: Steady { records: 200, rate_per_s: 100.0, validated: 200, latency_p50_ms: Some(12), latency_p95_ms: Some(30), transitions: 0, problem: None },
            measured,
            steady_quarantined: 0,
            passed: checks.iter().all(|c| c.passed),
            hypothesis,
            checks,
        }
    }

    /// The second drill of a plan: no trip although one was expected, never recovered.
    fn failed_sample() -> DrillReport {
        let mut r = sample();
        r.scenario = "type-drift".into();
        r.field = Some("carrier <&>".into());
        r.measured = Measured { injected: 50, quarantined: 50, time_to_detect_ms: Some(900), breaker_sequence: vec!["closed".into()], ..Measured::default() };
        r.checks = evaluate(&r.hypothesis, &r.measured);
        r.passed = r.checks.iter().all(|c| c.passed);
        r
    }

    #[test]
    fn drill_outputs_match_their_golden_files() {
        use crate::cli::drill_cmd::render;
        use crate::cli::output::{golden, OutputFormat};
        let reports = [sample(), failed_sample()];
        for (format, name) in [(OutputFormat::Table, "drill.txt"), (OutputFormat::Json, "drill.json"), (OutputFormat::Junit, "drill.xml")] {
            golden::assert(name, &render(&reports, false, format).expect("renders"));
        }
        let xml = render(&reports, false, OutputFormat::Junit).expect("renders");
        // (needle, why)
        let cases = [
            ("<testsuite name=\"1. null-burst on flights\" tests=\"8\" skipped=\"0\" errors=\"0\" failures=\"0\"", "a suite per drill, a case per check"),
            ("<testsuite name=\"2. type-drift on flights\"", "grouped per drill"),
            ("<failure message=\"tripped: trip expected (none)\" type=\"hypothesis\"", "expected versus observed"),
            ("carrier &lt;&amp;&gt;", "escaped"),
        ];
        for (needle, why) in cases {
            assert!(xml.contains(needle), "{why}: {needle} not in\n{xml}");
        }
    }

    #[test]
    fn json_and_table_carry_the_issue_fields() {
        let r = sample();
        let v = serde_json::to_value(&r).expect("json");
        for k in ["scenario", "injected", "quarantined", "leaked", "time_to_detect_ms", "time_to_trip_ms", "time_to_recover_ms", "breaker_sequence", "passed"] {
            assert!(v.get(k).is_some(), "{k} missing from {v}");
        }
        assert_eq!(v["passed"], true);
        assert_eq!(v["hypothesis"]["detect_within"], "15s");
        let t = table(&[r]);
        assert!(t.contains("null-burst"), "{t}");
        assert!(t.contains("closed → open → half_open → closed (tripped on dep_time_nulls)"), "{t}");
        assert!(t.contains("1 of 1 drills passed"), "{t}");
    }
}
