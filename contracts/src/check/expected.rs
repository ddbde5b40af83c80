//! What a record was expected to hold, in words, for each JSON Schema keyword a contract
//! compiles to. It completes `<field> is <value>, expected <this>` in quarantine reasons,
//! check reports and violation events, so it is a noun phrase ("a string", "at least 3"),
//! never a sentence about the value (the value is already shown before it).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::JsonType;

/// `n` and the noun, plural unless `n` is 1.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

/// A format JSON Schema checks, as a reader of the contract knows it.
fn format_name(format: &str) -> String {
    match format {
        "date-time" => "an RFC 3339 timestamp".into(),
        "date" => "a date (YYYY-MM-DD)".into(),
        "time" => "a time (HH:MM:SS and an offset)".into(),
        "email" => "an email address".into(),
        "uuid" => "a UUID".into(),
        "ipv4" => "an IPv4 address".into(),
        "ipv6" => "an IPv6 address".into(),
        "hostname" => "a host name".into(),
        "uri" => "a URI".into(),
        "duration" => "an ISO 8601 duration".into(),
        other => format!("a valid {other}"),
    }
}

/// The expectation a failed keyword stands for; `fallback` (the validator's own message) for
/// kinds a contract never compiles to.
pub(super) fn expected(kind: &ValidationErrorKind, fallback: impl FnOnce() -> String) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind: TypeKind::Single(t) } => type_name(*t).into(),
        K::Type { kind: TypeKind::Multiple(set) } => {
            // "a string or null": the types, null last.
            let mut names: Vec<JsonType> = set.iter().collect();
            names.sort_by_key(|t| *t == JsonType::Null);
            names.into_iter().map(type_name).collect::<Vec<_>>().join(" or ")
        }
        K::Minimum { limit } => format!("at least {limit}"),
        K::Maximum { limit } => format!("at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("more than {limit}"),
        K::ExclusiveMaximum { limit } => format!("less than {limit}"),
        K::MultipleOf { multiple_of } => format!("a multiple of {multiple_of}"),
        K::MinLength { limit } => format!("at least {}", count(*limit, "character", "characters")),
        K::MaxLength { limit } => format!("at most {}", count(*limit, "character", "characters")),
        K::MinItems { limit } => format!("at least {}", count(*limit, "item", "items")),
        K::MaxItems { limit } => format!("at most {}", count(*limit, "item", "items")),
        K::AdditionalItems { limit } => format!("at most {}", count(u64::try_from(*limit).unwrap_or(u64::MAX), "item", "items")),
        K::MinProperties { limit } => format!("at least {}", count(*limit, "field", "fields")),
        K::MaxProperties { limit } => format!("at most {}", count(*limit, "field", "fields")),
        K::UniqueItems => "no item repeated".into(),
        K::Pattern { pattern } => format!("a value matching {pattern}"),
        K::Format { format } => format_name(format),
        K::Enum { options } => format!("one of {}", super::show(options)),
        K::Constant { expected_value } => format!("exactly {}", super::show(expected_value)),
        K::AdditionalProperties { .. } | K::UnevaluatedProperties { .. } => "no field outside the contract".into(),
        K::UnevaluatedItems { .. } => "no item outside the contract".into(),
        K::Required { property } => format!("field {property} to be present"),
        K::Contains => "an item the contract describes".into(),
        K::AnyOf { .. } | K::OneOfNotValid { .. } => "a value fitting one of the contract's alternatives".into(),
        K::OneOfMultipleValid { .. } => "a value fitting exactly one of the contract's alternatives".into(),
        K::Not { .. } | K::FalseSchema => "no value here".into(),
        K::ContentEncoding { content_encoding } => format!("{content_encoding}-encoded text"),
        K::ContentMediaType { content_media_type } => format!("content of type {content_media_type}"),
        K::FromUtf8 { .. } => "UTF-8 text".into(),
        K::BacktrackLimitExceeded { .. } | K::RegexEngineFailure { .. } | K::PropertyNames { .. } | K::Custom { .. } | K::Referencing(_) => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{compile, parse};
    use serde_json::{json, Value};

    const CONTRACT: &str = r#"
apiVersion: v3.1.0
kind: DataContract
id: words
version: 1.0.0
status: active
schema:
  - name: r
    properties:
      - { name: id, logicalType: integer, required: true, unique: true }
      - { name: carrier, logicalType: string, required: true, logicalTypeOptions: { maxLength: 2, pattern: "^[A-Z]+$" } }
      - { name: n, logicalType: integer, logicalTypeOptions: { minimum: 1, maximum: 10 } }
      - { name: x, logicalType: number, logicalTypeOptions: { exclusiveMinimum: 0, exclusiveMaximum: 100, multipleOf: 0.5 } }
      - { name: s, logicalType: string, logicalTypeOptions: { minLength: 2 } }
      - { name: email, logicalType: string, logicalTypeOptions: { format: email } }
      - { name: tags, logicalType: array, items: { logicalType: string }, logicalTypeOptions: { minItems: 1, maxItems: 2, uniqueItems: true } }
      - { name: obj, logicalType: object, logicalTypeOptions: { minProperties: 1 }, properties: [ { name: a, logicalType: integer, required: true } ] }
      - { name: d, logicalType: date, logicalTypeOptions: { format: dd-MMM-yyyy, minimum: 01-Jan-2024, exclusiveMaximum: 01-Jan-2025 } }
      - { name: ts, logicalType: timestamp }
      - { name: tz, logicalType: timestamp, logicalTypeOptions: { format: "yyyy-MM-dd HH:mm[XXX]", timezone: true } }
      - name: code
        logicalType: string
        quality: [ { metric: invalidValues, arguments: { validValues: [A, B] }, mustBe: 0 } ]
      - name: p
        logicalType: string
        quality: [ { metric: invalidValues, arguments: { pattern: "^[0-9]+$" }, mustBe: 0 } ]
      - name: both
        logicalType: string
        quality: [ { metric: invalidValues, arguments: { validValues: ["1", "2"], pattern: "^[0-9]$" }, mustBe: 0 } ]
      - name: nn
        logicalType: string
        quality: [ { metric: nullValues, mustBe: 0 } ]
      - name: mm
        logicalType: string
        quality: [ { metric: missingValues, arguments: { missingValues: ["NA"] }, mustBe: 0 } ]
slaProperties:
  - { property: latency, value: 10, unit: s, element: r.ts }
"#;

    fn base() -> Value {
        json!({"id": 1, "carrier": "UA", "n": 5, "x": 2.5, "s": "ab", "email": "a@b.example", "tags": ["a"], "obj": {"a": 1},
               "d": "01-Jul-2024", "ts": "2024-07-03T10:00:00Z", "tz": "2024-07-03 10:00+02:00", "code": "A", "p": "12", "both": "1", "nn": "x", "mm": "x"})
    }

    /// Every kind of violation a record can get, as its reason reads: `<field> is <value>,
    /// expected <words>` (what quarantine headers, check reports and violation events say).
    #[test]
    fn every_violation_reads_naturally() {
        let c = compile(&parse(CONTRACT).expect("parses"), None).expect("compiles");
        let now_ms = chrono::DateTime::parse_from_rfc3339("2024-07-03T10:00:05Z").expect("time").timestamp_millis();
        // (field, value, the rule broken, its reason)
        let cases: &[(&str, Value, &str, &str)] = &[
            ("carrier", json!(76), "carrier.logicalType", "carrier is 76, expected a string"),
            ("n", json!("5"), "n.logicalType", "n is \"5\", expected an integer or null"),
            ("carrier", Value::Null, "carrier.required", "carrier is null, expected a non-null value"),
            ("n", json!(0), "n.minimum", "n is 0, expected at least 1"),
            ("n", json!(11), "n.maximum", "n is 11, expected at most 10"),
            ("x", json!(0), "x.exclusiveMinimum", "x is 0, expected more than 0"),
            ("x", json!(100), "x.exclusiveMaximum", "x is 100, expected less than 100"),
            ("x", json!(2.2), "x.multipleOf", "x is 2.2, expected a multiple of 0.5"),
            ("s", json!("a"), "s.minLength", "s is \"a\", expected at least 2 characters"),
            ("carrier", json!("UAX"), "carrier.maxLength", "carrier is \"UAX\", expected at most 2 characters"),
            ("carrier", json!("ua"), "carrier.pattern", "carrier is \"ua\", expected a value matching ^[A-Z]+$"),
            ("email", json!("nope"), "email.format", "email is \"nope\", expected an email address"),
            ("ts", json!("yesterday"), "ts.format", "ts is \"yesterday\", expected an RFC 3339 timestamp"),
            ("tags", json!([]), "tags.minItems", "tags is [], expected at least 1 item"),
            ("tags", json!(["a", "b", "c"]), "tags.maxItems", "tags is [\"a\",\"b\",\"c\"], expected at most 2 items"),
            ("tags", json!(["a", "a"]), "tags.uniqueItems", "tags is [\"a\",\"a\"], expected no item repeated"),
            ("obj", json!({}), "obj.a.required", "obj.a is absent, expected the field to be present"),
            ("extra", json!(1), "$.extraFields", "extra is 1, expected no field outside the contract"),
            ("d", json!("2024-07-01"), "d.format", "d is \"2024-07-01\", expected a value in the format dd-MMM-yyyy"),
            ("d", json!("31-Dec-2023"), "d.range", "d is \"31-Dec-2023\", expected at or after 01-Jan-2024 and before 01-Jan-2025"),
            ("tz", json!("2024-07-03 10:00"), "tz.timezone", "tz is \"2024-07-03 10:00\", expected a value with its offset (timezone: true)"),
            ("code", json!("C"), "code.invalidValues", "code is \"C\", expected one of [\"A\",\"B\"]"),
            ("p", json!("x1"), "p.invalidValues", "p is \"x1\", expected a value matching ^[0-9]+$"),
            ("both", json!("3"), "both.invalidValues", "both is \"3\", expected one of [\"1\",\"2\"], matching ^[0-9]$"),
            ("nn", Value::Null, "nn.nullValues", "nn is null, expected a non-null value"),
            ("mm", json!("NA"), "mm.missingValues", "mm is \"NA\", expected a value other than [\"NA\"]"),
            ("ts", json!("2024-07-03T09:59:00Z"), "ts.latency.staleRecords", "ts is 65 s old, expected at most 10 s old (latency SLA)"),
        ];
        for (field, value, rule, want) in cases {
            let mut rec = base();
            rec[*field] = value.clone();
            let mut obs = c.observer();
            obs.set_clock(now_ms);
            let verdict = c.check(&rec, &mut obs);
            let v = verdict.violations.iter().find(|v| &*v.rule == *rule).unwrap_or_else(|| panic!("{rule}: not among {:?}", verdict.violations));
            assert_eq!(v.sentence(), *want, "{rule}");
        }
        // The duplicate: the same id twice.
        let mut obs = c.observer();
        let _ = c.check(&base(), &mut obs);
        let verdict = c.check(&base(), &mut obs);
        let v = verdict.violations.iter().find(|v| &*v.rule == "id.unique").expect("duplicate");
        assert_eq!(v.sentence(), "id is 1, expected a value not seen before");
    }
}
