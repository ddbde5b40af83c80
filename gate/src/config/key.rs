//! The record key's contract: the optional `bindings[].key` section, and its cross-field
//! checks (the ones that need the contract itself run at startup, `serve::key`).

use super::{invalid, ConfigError, GateConfig};
use serde::{Deserialize, Serialize};

/// How a binding's record keys are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// Opaque bytes: only presence is checked (`required`).
    #[default]
    Raw,
    /// UTF-8 text, checked by `pattern`, `min_length` and `max_length`.
    String,
    /// One JSON value, checked by the contract's schema object named by `object`.
    Json,
    /// Avro in the Confluent wire format (writer schemas from `schema_registry`), checked by
    /// `object`.
    Avro,
    /// JSON Schema in the Confluent wire format, checked by `object`.
    JsonSchema,
    /// Protobuf in the Confluent wire format, checked by `object`.
    Protobuf,
}

impl KeyFormat {
    /// Name for messages.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::String => "string",
            Self::Json => "json",
            Self::Avro => "avro",
            Self::JsonSchema => "json_schema",
            Self::Protobuf => "protobuf",
        }
    }

    /// Whether keys carry a schema id that a Schema Registry resolves.
    #[must_use]
    pub fn uses_registry(&self) -> bool {
        matches!(self, Self::Avro | Self::JsonSchema | Self::Protobuf)
    }

    /// Whether keys decode to a structured value, checked by a schema object (and indexed for
    /// last-good by that value rather than by their bytes).
    #[must_use]
    pub fn is_structured(&self) -> bool {
        matches!(self, Self::Json) || self.uses_registry()
    }
}

/// What a binding's record keys must be. A key that fails is a record failure: the record is
/// quarantined with the key's rule ids (`$.key.…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Encoding of the key: `raw` (default), `string` (UTF-8), `json`, or in the Confluent
    /// wire format `avro`, `json_schema` or `protobuf` (writer schemas from
    /// `schema_registry`, like values).
    #[serde(default)]
    pub format: KeyFormat,
    /// Whether every record must have a key; a missing or empty key fails `$.key.required`.
    /// Default true. When false, a keyless record passes and only keys present are checked.
    #[serde(default = "default_required")]
    pub required: bool,
    /// `format: string` only: a regular expression the whole key must match (anchor it with
    /// `^…$` to match all of it); a key that does not fails `$.key.pattern`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `format: string` only: the fewest characters a key may have (`$.key.length`).
    #[serde(default)]
    pub min_length: Option<usize>,
    /// `format: string` only: the most characters a key may have (`$.key.length`).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// `format: json` and the wire formats: the schema object of the binding's contract that
    /// describes the key; its violations fail the record as `$.key.<rule>`. Must differ from
    /// the value's object.
    #[serde(default)]
    pub object: Option<String>,
}

fn default_required() -> bool {
    true
}

/// Cross-field checks of every binding's `key` section that need no contract.
pub(super) fn validate(cfg: &GateConfig) -> Result<(), ConfigError> {
    for (i, b) in cfg.bindings.iter().enumerate() {
        let Some(k) = &b.key else { continue };
        let f = |name: &str| format!("bindings[{i}].key.{name}");
        let text_only = [("pattern", k.pattern.is_some()), ("min_length", k.min_length.is_some()), ("max_length", k.max_length.is_some())];
        if k.format != KeyFormat::String {
            if let Some((name, _)) = text_only.iter().find(|(_, set)| *set) {
                return Err(invalid(f(name), format!("applies to format: string only (this key is {})", k.format.as_str())));
            }
        }
        if let Some(p) = &k.pattern {
            regex::Regex::new(p).map_err(|e| invalid(f("pattern"), format!("{p:?} is not a regular expression: {e}")))?;
        }
        if let (Some(lo), Some(hi)) = (k.min_length, k.max_length) {
            if lo > hi {
                return Err(invalid(f("min_length"), format!("{lo} is more than max_length {hi}")));
            }
        }
        match (k.format.is_structured(), &k.object) {
            (true, None) => return Err(invalid(f("object"), format!("format: {} needs the name of the contract's schema object that describes the key", k.format.as_str()))),
            (false, Some(_)) => return Err(invalid(f("object"), format!("applies to format: json, avro, json_schema or protobuf only (this key is {})", k.format.as_str()))),
            (true, Some(o)) if b.object.as_deref() == Some(o.as_str()) => return Err(invalid(f("object"), format!("{o:?} is the value's object (bindings[{i}].object); the key needs its own"))),
            _ => {}
        }
        if k.format.uses_registry() && cfg.schema_registry.is_none() {
            return Err(invalid("schema_registry.url", format!("bindings[{i}] ({}) has key format {}: set schema_registry.url to the registry its producers use", b.name, k.format.as_str())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    const BASE: &str = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nbindings:\n  - name: flights\n    source: flights\n    contract: flights\n    fallback: hold\n";

    fn parse(s: &str) -> Result<super::super::GateConfig, String> {
        let cfg: super::super::GateConfig = serde_saphyr::from_str(s).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    fn with_key(key: &str) -> String {
        format!("{BASE}    key: {key}\n")
    }

    #[test]
    fn key_config_table() {
        let sr = "schema_registry:\n  url: http://127.0.0.1:8081\n";
        // (key section, extra top-level text, Ok(format) or Err(needle))
        let cases: [(&str, &str, Result<super::KeyFormat, &str>); 17] = [
            ("{}", "", Ok(super::KeyFormat::Raw)),
            ("{ format: string, pattern: '^[A-Z]{2}-[0-9]+$', min_length: 3, max_length: 12 }", "", Ok(super::KeyFormat::String)),
            ("{ format: json, object: flight_key }", "", Ok(super::KeyFormat::Json)),
            ("{ format: avro, object: flight_key }", sr, Ok(super::KeyFormat::Avro)),
            ("{ format: protobuf, object: flight_key }", sr, Ok(super::KeyFormat::Protobuf)),
            ("{ format: string, pattern: '[' }", "", Err("bindings[0].key.pattern: \"[\" is not a regular expression")),
            ("{ pattern: 'x' }", "", Err("bindings[0].key.pattern: applies to format: string only (this key is raw)")),
            ("{ format: json, object: k, max_length: 3 }", "", Err("bindings[0].key.max_length: applies to format: string only")),
            ("{ format: string, min_length: 4, max_length: 3 }", "", Err("bindings[0].key.min_length: 4 is more than max_length 3")),
            ("{ format: json }", "", Err("bindings[0].key.object: format: json needs the name")),
            ("{ format: avro }", sr, Err("bindings[0].key.object: format: avro needs")),
            ("{ format: string, object: k }", "", Err("bindings[0].key.object: applies to format: json")),
            ("{ format: avro, object: k }", "", Err("schema_registry.url: bindings[0] (flights) has key format avro")),
            ("{ format: json_schema, object: k }", "", Err("has key format json_schema")),
            ("{ format: yaml }", "", Err("unknown variant")),
            ("{ colour: red }", "", Err("colour")),
            ("{ format: string, required: maybe }", "", Err("required")),
        ];
        for (key, extra, want) in cases {
            let got = parse(&format!("{extra}{}", with_key(key)));
            match want {
                Ok(format) => assert_eq!(got.map(|c| c.bindings[0].key.as_ref().map(|k| k.format)), Ok(Some(format)), "{key}"),
                Err(needle) => {
                    let err = got.expect_err(key);
                    assert!(err.contains(needle), "{key}: {err} lacks {needle}");
                }
            }
        }
        let same = format!("{BASE}    object: flights\n    key: {{ format: json, object: flights }}\n");
        assert!(parse(&same).is_err_and(|e| e.contains("bindings[0].key.object: \"flights\" is the value's object")));
        let cfg = parse(&with_key("{ format: string }")).expect("defaults");
        assert_eq!(cfg.bindings[0].key.as_ref().map(|k| k.required), Some(true));
        assert!(parse(BASE).expect("no key").bindings[0].key.is_none());
    }
}
