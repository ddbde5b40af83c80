//! The record key's check (`bindings[].key`), pure: presence and text rules on the key's
//! bytes ([`precheck`]), then, for structured keys, the decoded key checked by the contract's
//! key object ([`structured`]). The shell (the pipeline) decodes in between and merges the
//! [`KeyVerdict`] into the record's: a key violation is a record violation.

use crate::config::{KeyFormat, KeySpec};
use contracts::check::show;
use contracts::{CompiledContract, Violation};
use serde_json::Value;

/// Rule ids of the key's own checks (the key object's rules become `$.key.<rule>`).
pub mod rule {
    /// A missing or empty key where one is required.
    pub const REQUIRED: &str = "$.key.required";
    /// A string key that is not UTF-8.
    pub const FORMAT: &str = "$.key.format";
    /// A string key that does not match `pattern`.
    pub const PATTERN: &str = "$.key.pattern";
    /// A string key shorter than `min_length` or longer than `max_length`.
    pub const LENGTH: &str = "$.key.length";
    /// A structured key that cannot be read (not JSON, corrupt wire format, unknown schema).
    pub const DECODE: &str = "$.key.decode";
    /// A wire-format key whose writer schema cannot carry the key object (drift).
    pub const SCHEMA: &str = "$.key.schema";
}

/// A binding's key rules, ready to apply (the pattern compiled once at startup).
#[derive(Debug, Clone)]
pub struct KeyRules {
    /// Encoding of the key.
    pub format: KeyFormat,
    required: bool,
    pattern: Option<regex::Regex>,
    min_length: Option<usize>,
    max_length: Option<usize>,
}

impl KeyRules {
    /// Compiles a binding's `key` section.
    ///
    /// # Errors
    /// The pattern's error (startup checks it first, naming `bindings[i].key.pattern`).
    pub fn new(spec: &KeySpec) -> Result<Self, regex::Error> {
        let pattern = spec.pattern.as_deref().map(regex::Regex::new).transpose()?;
        Ok(Self { format: spec.format, required: spec.required, pattern, min_length: spec.min_length, max_length: spec.max_length })
    }
}

/// The key's part of a record's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyVerdict {
    /// Every key violation; each one fails the record.
    pub violations: Vec<Violation>,
    /// The key the last-good index knows the record by when it is not the key's bytes: a
    /// structured key's canonical JSON (sorted keys, no whitespace), so one logical key
    /// written under another schema id or field order is the same key.
    pub index: Option<Vec<u8>>,
}

impl KeyVerdict {
    fn failed(v: Violation) -> Self {
        Self { violations: vec![v], index: None }
    }
}

/// Why a structured key was not read (the decoder's refusal, in the key's terms; the decoder
/// converts its own, so this module needs nothing of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// Not readable: not JSON, a corrupt wire format, an unknown schema id, no registry.
    Decode(String),
    /// Written with a writer schema that cannot carry the key object.
    Drift {
        /// Writer schema id.
        schema_id: u32,
        /// Why the schema is refused.
        detail: String,
    },
}

/// What is left to do after the byte-level checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The key is judged.
    Done(KeyVerdict),
    /// A structured key: decode these bytes, then [`structured`].
    Decode(&'a [u8]),
}

fn violation(rule: &str, value: String, expected: String) -> Violation {
    Violation { rule: rule.into(), field: "key".into(), value, expected, blocking: true }
}

/// Presence, and for string keys every rule; structured keys go on to be decoded.
#[must_use]
pub fn precheck<'a>(rules: &KeyRules, key: Option<&'a [u8]>) -> Step<'a> {
    // An empty key is no key: Kafka partitions and compacts it like a missing one.
    let Some(bytes) = key.filter(|k| !k.is_empty()) else {
        if !rules.required {
            return Step::Done(KeyVerdict::default());
        }
        let shown = if key.is_some() { "\"\"" } else { "absent" };
        return Step::Done(KeyVerdict::failed(violation(rule::REQUIRED, shown.into(), "a key on every record".into())));
    };
    match rules.format {
        KeyFormat::Raw => Step::Done(KeyVerdict::default()),
        KeyFormat::String => Step::Done(text(rules, bytes)),
        KeyFormat::Json | KeyFormat::Avro | KeyFormat::JsonSchema | KeyFormat::Protobuf => Step::Decode(bytes),
    }
}

/// A string key's rules: UTF-8, pattern, length in characters.
fn text(rules: &KeyRules, bytes: &[u8]) -> KeyVerdict {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return KeyVerdict::failed(violation(rule::FORMAT, format!("{} bytes that are not UTF-8", bytes.len()), "UTF-8 text".into()));
    };
    let mut out = KeyVerdict::default();
    let shown = || show(&Value::String(s.to_string()));
    if let Some(re) = rules.pattern.as_ref().filter(|re| !re.is_match(s)) {
        out.violations.push(violation(rule::PATTERN, shown(), format!("a key matching {}", re.as_str())));
    }
    let n = s.chars().count();
    let short = rules.min_length.is_some_and(|lo| n < lo);
    let long = rules.max_length.is_some_and(|hi| n > hi);
    if short || long {
        let expected = match (rules.min_length, rules.max_length) {
            (Some(lo), Some(hi)) => format!("between {lo} and {hi} characters"),
            (Some(lo), None) => format!("at least {lo} characters"),
            (None, Some(hi)) => format!("at most {hi} characters"),
            (None, None) => String::new(),
        };
        out.violations.push(violation(rule::LENGTH, format!("{} ({n} characters)", shown()), expected));
    }
    out
}

/// A decoded structured key checked by the contract's key object. Its rules judge each key
/// on its own: every violation fails the record (a window rule that tolerates a share of bad
/// values has no window here), with its rule id moved under `$.key.`.
#[must_use]
pub fn structured(object: &CompiledContract, decoded: Result<&Value, Unread>) -> KeyVerdict {
    let value = match decoded {
        Ok(v) => v,
        Err(Unread::Decode(reason)) => return KeyVerdict::failed(violation(rule::DECODE, show(&Value::String(reason)), format!("a key that decodes as {}", object.object))),
        Err(Unread::Drift { schema_id, detail }) => return KeyVerdict::failed(violation(rule::SCHEMA, format!("schema id {schema_id}"), format!("a key writer schema that carries {} ({detail})", object.object))),
    };
    // A fresh observer per key: the key object's window state (duplicate sets, rates) is not
    // kept, so it cannot grow with the number of keys.
    let verdict = object.check(value, &mut object.observer());
    let violations = verdict.violations.into_iter().map(under_key).collect::<Vec<_>>();
    let index = violations.is_empty().then(|| canonical(value));
    KeyVerdict { violations, index }
}

/// A key object's violation as a record violation: `carrier.pattern` → `$.key.carrier.pattern`,
/// `$.extraFields` → `$.key.extraFields`, the field under `key`.
fn under_key(v: Violation) -> Violation {
    let rule = v.rule.strip_prefix("$.").unwrap_or(&v.rule);
    let field = if v.field.is_empty() { "key".to_string() } else { format!("key.{}", v.field) };
    Violation { rule: format!("$.key.{rule}").into(), field, value: v.value, expected: v.expected, blocking: true }
}

/// A value's canonical JSON: object keys sorted, no whitespace. Written here rather than by
/// `serde_json::to_vec`, whose key order depends on a crate feature the dependency graph may
/// turn on.
#[must_use]
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(x, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> KeyRules {
        let spec: KeySpec = serde_saphyr::from_str(yaml).expect("key spec parses");
        KeyRules::new(&spec).expect("rules compile")
    }

    fn ids(v: &KeyVerdict) -> Vec<&str> {
        v.violations.iter().map(|x| &*x.rule).collect()
    }

    #[test]
    fn byte_level_checks() {
        let string = "format: string\npattern: '^[A-Z]{2}-[0-9]{1,4}$'\nmin_length: 4\nmax_length: 6\n";
        // (spec, key, rule ids; None when the key goes on to be decoded)
        type Case<'a> = (&'a str, Option<&'a [u8]>, Option<&'a [&'a str]>);
        let cases: [Case<'_>; 13] = [
            ("{}", Some(b"anything"), Some(&[])),
            ("{}", None, Some(&[rule::REQUIRED])),
            ("{}", Some(b""), Some(&[rule::REQUIRED])),
            ("required: false", None, Some(&[])),
            ("{ format: string, required: false, pattern: x }", Some(b""), Some(&[])),
            (string, Some(b"AA-12"), Some(&[])),
            (string, Some(b"aa-12"), Some(&[rule::PATTERN])),
            (string, Some(b"AA-1234"), Some(&[rule::LENGTH])),
            (string, Some(b"a"), Some(&[rule::PATTERN, rule::LENGTH])),
            (string, Some(&[0xff, 0xfe, 0x41, 0x41]), Some(&[rule::FORMAT])),
            // Characters, not bytes: four two-byte letters are four.
            ("format: string\nmax_length: 4\n", Some("ÄÖÜß".as_bytes()), Some(&[])),
            ("format: json\nobject: k\n", Some(b"{}"), None),
            ("format: avro\nobject: k\n", None, Some(&[rule::REQUIRED])),
        ];
        for (spec, key, want) in cases {
            match (precheck(&rules(spec), key), want) {
                (Step::Done(v), Some(want)) => assert_eq!(ids(&v), want, "{spec} {key:?}"),
                (Step::Decode(b), None) => assert_eq!(Some(b), key, "{spec}"),
                (got, _) => panic!("{spec} {key:?}: {got:?}"),
            }
        }
        let v = match precheck(&rules(string), Some(b"aa-12")) {
            Step::Done(v) => v,
            Step::Decode(_) => panic!("a string key is judged at once"),
        };
        assert_eq!(v.violations[0].expected, "a key matching ^[A-Z]{2}-[0-9]{1,4}$");
        assert_eq!((v.violations[0].field.as_str(), v.violations[0].value.as_str()), ("key", "\"aa-12\""));
    }

    const CONTRACT: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: f\nversion: 1.0.0\nstatus: active\nschema:\n  - name: flights\n    properties:\n      - name: id\n        logicalType: string\n  - name: flight_key\n    properties:\n      - name: carrier\n        logicalType: string\n        required: true\n        logicalTypeOptions: { pattern: '^[A-Z0-9]{2}$' }\n      - name: number\n        logicalType: integer\n        required: true\n";

    fn key_object() -> CompiledContract {
        let model: contracts::Contract = serde_saphyr::from_str(CONTRACT).expect("contract parses");
        contracts::compile(&model, Some("flight_key")).expect("key object compiles")
    }

    #[test]
    fn structured_keys_are_checked_by_the_key_object() {
        let object = key_object();
        let decoded = |s: &str| -> Result<Value, Unread> { Ok(serde_json::from_str(s).expect("json")) };
        // (decoded key, rule ids, canonical index key when valid)
        type Case = (Result<Value, Unread>, &'static [&'static str], Option<&'static str>);
        let cases: [Case; 6] = [
            (decoded(r#"{"number": 12, "carrier": "AA"}"#), &[], Some(r#"{"carrier":"AA","number":12}"#)),
            (decoded(r#"{"carrier":"AA","number":12}"#), &[], Some(r#"{"carrier":"AA","number":12}"#)),
            (decoded(r#"{"carrier": "a-a", "number": 12}"#), &["$.key.carrier.pattern"], None),
            (decoded(r#"{"carrier": "AA"}"#), &["$.key.number.required"], None),
            (Err(Unread::Decode("expected value at line 1".into())), &[rule::DECODE], None),
            (Err(Unread::Drift { schema_id: 7, detail: "lacks number".into() }), &[rule::SCHEMA], None),
        ];
        for (d, want, index) in cases {
            let v = structured(&object, d.as_ref().map_err(Clone::clone));
            assert_eq!(ids(&v), want, "{d:?}: {:?}", v.violations);
            assert_eq!(v.index.as_deref(), index.map(str::as_bytes), "{d:?}");
            assert!(v.violations.iter().all(|x| x.blocking && x.field.starts_with("key")), "{:?}", v.violations);
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let cases = [
            (r#"{"b": 1, "a": {"d": [1, {"z": null, "y": true}], "c": "x"}}"#, r#"{"a":{"c":"x","d":[1,{"y":true,"z":null}]},"b":1}"#),
            (r#""just a string""#, r#""just a string""#),
            (r#"{"quote\"d": "\u00e9"}"#, r#"{"quote\"d":"é"}"#),
        ];
        for (input, want) in cases {
            let v: Value = serde_json::from_str(input).expect("json");
            assert_eq!(String::from_utf8(canonical(&v)).expect("utf8"), want);
        }
    }
}
