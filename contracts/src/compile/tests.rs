//! Lint findings for rules that could never fire: a rule or SLA naming an element the schema
//! lacks.

use super::lint_source;
use crate::error::Severity;

/// Two objects, `flights` (with a nested `route`) and `planes`; `extra` goes at the end of the
/// `flights` object (indented for its keys), `top` at the top level.
fn contract(extra: &str, top: &str) -> String {
    format!(
        "apiVersion: v3.1.0\nkind: DataContract\nid: ghosts\nversion: 1.0.0\nstatus: active\nschema:\n  - name: flights\n    properties:\n      - {{ name: id, logicalType: string }}\n      - {{ name: at, logicalType: timestamp }}\n      - name: route\n        logicalType: object\n        properties:\n          - {{ name: origin, logicalType: string }}\n{extra}  - name: planes\n    properties:\n      - {{ name: tailnum, logicalType: string }}\n{top}"
    )
}

/// The one finding expected: its path, severity, part of its message, line.
type Finding = (&'static str, Severity, &'static str, u64);

#[test]
fn rules_and_slas_on_absent_elements_are_errors_with_their_line() {
    let dup = |props: &str| format!("    quality:\n      - metric: duplicateValues\n        mustBe: 0\n        arguments: {{ properties: {props} }}\n");
    let sla = |property: &str, element: &str| format!("slaProperties:\n  - property: {property}\n    value: 10\n    unit: s\n    element: {element}\n");
    // (case, extra, top, the finding's path, severity, part of its message, line); `None`: clean.
    let cases: Vec<(&str, String, String, Option<Finding>)> = vec![
        ("duplicates over present fields", dup("[id, route.origin]"), String::new(), None),
        ("duplicates over an absent field", dup("[id, ghost]"), String::new(), Some(("schema[0].quality[0].arguments.properties", Severity::Error, "rule $.duplicateValues names \"ghost\", not a property of object \"flights\"", 18))),
        ("duplicates over an absent nested field", dup("[route.gate]"), String::new(), Some(("schema[0].quality[0].arguments.properties", Severity::Error, "\"route.gate\"", 18))),
        ("duplicates over an undeclared field of an open object", format!("    customProperties:\n      - {{ property: gateAllowExtraFields, value: true }}\n{}", dup("[ghost]")), String::new(), Some(("schema[0].quality[0].arguments.properties", Severity::Warning, "only when a record carries it as an extra field", 20))),
        ("latency on a present field", String::new(), sla("latency", "flights.at"), None),
        ("latency on an absent object", String::new(), sla("latency", "ghost.field"), Some(("slaProperties[0].element", Severity::Error, "no schema object \"ghost\" (objects: flights, planes): it could never fire", 22))),
        ("freshness on an absent property", String::new(), sla("freshness", "flights.ghost"), Some(("slaProperties[0].element", Severity::Error, "object \"flights\" has no property \"ghost\"", 22))),
        ("frequency on an absent property", String::new(), sla("frequency", "planes.ghost"), Some(("slaProperties[0].element", Severity::Error, "object \"planes\" has no property \"ghost\"", 22))),
        ("frequency on an absent object", String::new(), sla("frequency", "ghost"), Some(("slaProperties[0].element", Severity::Error, "no schema object \"ghost\"", 22))),
        ("frequency on a present object", String::new(), sla("frequency", "planes"), None),
        ("an SLA not enforced, on an absent element", String::new(), sla("retention", "ghost.field"), Some(("slaProperties[0].element", Severity::Warning, "no schema object \"ghost\"", 22))),
    ];
    for (case, extra, top, want) in cases {
        let text = contract(&extra, &top);
        let found: Vec<_> = lint_source(&text).into_iter().filter(|p| p.severity != Severity::NotEnforced).collect();
        match want {
            None => assert!(found.is_empty(), "{case}: {found:?}"),
            Some((path, severity, message, line)) => {
                assert_eq!(found.len(), 1, "{case}: {found:?}");
                let p = &found[0];
                assert_eq!((p.path.as_str(), p.severity, p.line), (path, severity, Some(line)), "{case}: {p:?}");
                assert!(p.message.contains(message), "{case}: {}", p.message);
            }
        }
    }
}

#[test]
fn date_bounds_in_words() {
    for (low, exclusive, want) in [(true, false, "at or after 09:00"), (true, true, "after 09:00"), (false, false, "at or before 09:00"), (false, true, "before 09:00")] {
        assert_eq!(super::schema::bound_words(low, exclusive, &serde_json::json!("09:00")), want);
    }
}
