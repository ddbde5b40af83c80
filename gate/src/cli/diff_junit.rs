//! `contracts diff --output junit`: a comparison of two contract versions as JUnit XML, one test
//! case per change, breaking changes as failures.
//!
//! It reads the comparison in its JSON form, the one the registry's diff endpoint answers and
//! the offline diff prints ([`contracts::diff::Comparison`] serialized), so both spellings of
//! the command write the same XML.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// The comparison as JUnit: one suite `ID FROM -> TO`, a case per change named by its path
/// (class: the area of the contract), breaking ones failed with what changed from what to
/// what; one passing case when nothing changed.
#[must_use]
pub fn report(comparison: &Value) -> Report {
    let c = comparison;
    let mut suite = TestSuite::new(format!("{} {} -> {}", text(c, "id"), text(c, "from"), text(c, "to")));
    let compatible = flag(c, "compatible");
    suite.add_properties([
        Property::new("contract", text(c, "id")),
        Property::new("from", text(c, "from")),
        Property::new("to", text(c, "to")),
        Property::new("breaking", flag(c, "breaking").to_string()),
        Property::new("majorBump", flag(c, "majorBump").to_string()),
        Property::new("compatible", compatible.to_string()),
    ]);
    let changes = c.get("changes").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if changes.is_empty() {
        let mut case = TestCase::new("no changes", TestCaseStatus::success());
        case.set_classname("diff");
        suite.add_test_case(case);
    }
    for ch in changes {
        let (path, kind, message) = (text(ch, "path"), text(ch, "kind"), text(ch, "message"));
        let status = if flag(ch, "breaking") {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            // With a major bump the registry takes it; the change still breaks old producers.
            let allowed = if compatible { " (allowed by the major version bump)" } else { "" };
            let show = |k: &str| ch.get(k).map_or_else(|| "-".to_string(), Value::to_string);
            s.set_message(format!("breaking {kind} change at {path}: {message}{allowed}")).set_type(kind).set_description(format!("path {path}\nkind {kind}\nfrom {}\nto {}", show("from"), show("to")));
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(path, status);
        case.set_classname(if text(ch, "area").is_empty() { "diff" } else { text(ch, "area") });
        if !flag(ch, "breaking") {
            case.set_system_out(format!("{kind}: {message}"));
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("contract-gate contracts diff");
    report.add_test_suite(suite);
    report
}

/// Runs `contracts diff OLD NEW` (offline) with the report where `--output` says; returns the
/// exit code of [`super::diff_cmd::exit_code`].
///
/// # Errors
/// A file unreadable or invalid, the two of different contracts, the report unwritable.
pub fn offline(old: &std::path::Path, new: &std::path::Path, strict: bool, out: &super::output::OutputArgs) -> anyhow::Result<u8> {
    use super::output::{self, OutputFormat};
    let sink = out.resolve(&output::DIFF, None)?;
    let (o, n) = super::diff_cmd::load_pair(old, new)?;
    let c = contracts::diff::compare(&o, &n);
    sink.write(|f| match f {
        OutputFormat::Table => Ok(super::diff_cmd::table(&c, strict)),
        // The registry's diff endpoint answers in this shape too.
        OutputFormat::Json => output::json(&c),
        OutputFormat::Junit => output::junit(&report(&serde_json::to_value(&c).map_err(|e| e.to_string())?)),
    })?;
    Ok(super::diff_cmd::exit_code(&c, strict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(v: &Value) -> String {
        report(v).to_string().expect("serializes")
    }

    #[test]
    fn no_change_passes_and_a_bumped_breaking_change_still_fails_saying_it_is_allowed() {
        let none = xml(&serde_json::json!({ "id": "orders", "from": "1.0.0", "to": "1.0.1", "breaking": false, "majorBump": false, "compatible": true, "changes": [] }));
        assert!(none.contains("tests=\"1\" skipped=\"0\" failures=\"0\"") && none.contains("testcase name=\"no changes\""), "{none}");
        let change = serde_json::json!({ "path": "orders.id", "kind": "fieldRemoved", "area": "properties", "breaking": true, "message": "field removed" });
        let bumped = xml(&serde_json::json!({ "id": "orders", "from": "1.0.0", "to": "2.0.0", "breaking": true, "majorBump": true, "compatible": true, "changes": [change] }));
        assert!(bumped.contains("failures=\"1\"") && bumped.contains("field removed (allowed by the major version bump)"), "{bumped}");
    }
}
