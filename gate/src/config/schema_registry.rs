//! Payload formats of bindings and the Schema Registry that Avro bindings read writer schemas
//! from.

use super::{invalid, ConfigError, GateConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a binding's source records are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// One JSON object per record.
    #[default]
    Json,
    /// Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro
    /// body. Writer schemas are fetched from `schema_registry` by id and cached.
    Avro,
    /// JSON Schema in the Confluent wire format: magic byte 0, 4-byte schema id, the JSON
    /// record. The writer schema (fetched by id) is judged for drift; the record is checked
    /// as JSON.
    JsonSchema,
    /// Protobuf in the Confluent wire format: magic byte 0, 4-byte schema id, the message
    /// indexes (zigzag varints), the message. Writer schemas fetched by id and compiled.
    Protobuf,
}

impl PayloadFormat {
    /// Name for logs and labels.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Avro => "avro",
            Self::JsonSchema => "json_schema",
            Self::Protobuf => "protobuf",
        }
    }

    /// Whether records carry a schema id that a Schema Registry resolves.
    #[must_use]
    pub fn uses_registry(&self) -> bool {
        !matches!(self, Self::Json)
    }
}

/// A Confluent-compatible Schema Registry: an external one, or this gate's own registry API
/// (`http://<http.listen>` of a gate with `contracts.registry`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistrySection {
    /// Base URL, `http://host:port[/path]` or `https://…`.
    pub url: String,
    /// HTTP Basic user name (e.g. a Confluent Cloud API key); the password is read from the
    /// environment variable named by `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the Basic password (required with `username`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Environment variable holding a bearer token; an alternative to Basic.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Deadline of one schema fetch (connect and read). A record whose schema is not cached
    /// waits at most this long before it is quarantined as "registry unreachable".
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// After a failed fetch, records with the same schema id are quarantined at once, without
    /// asking the registry again, for this long (so an outage costs one timeout per schema id
    /// and interval, not one per record).
    #[serde(default = "default_retry_after", with = "humantime_serde")]
    pub retry_after: Duration,
    /// TLS files for an `https://` URL: `ca_file` (instead of the system's trust store),
    /// `cert_file` and `key_file` (a client certificate).
    #[serde(default)]
    pub tls: Option<super::tls::ClientTls>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_retry_after() -> Duration {
    Duration::from_secs(1)
}

impl SchemaRegistrySection {
    /// A section with the defaults for `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), username: None, password_env: None, token_env: None, timeout: default_timeout(), retry_after: default_retry_after(), tls: None }
    }
}

/// Cross-field checks of formats, the registry section and pinned schema ids.
pub(super) fn validate(cfg: &GateConfig) -> Result<(), ConfigError> {
    if let Some(sr) = &cfg.schema_registry {
        let url = sr.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
            return Err(invalid("schema_registry.url", format!("{:?} is not an http:// or https:// URL", super::interpolate::redact_url(&sr.url))));
        }
        if sr.username.is_some() != sr.password_env.is_some() {
            return Err(invalid(if sr.username.is_some() { "schema_registry.password_env" } else { "schema_registry.username" }, "Basic auth needs both username and password_env"));
        }
        if sr.username.is_some() && sr.token_env.is_some() {
            return Err(invalid("schema_registry.token_env", "use either Basic auth (username, password_env) or a bearer token, not both"));
        }
        if sr.timeout.is_zero() {
            return Err(invalid("schema_registry.timeout", "must be greater than 0"));
        }
    }
    for (i, b) in cfg.bindings.iter().enumerate() {
        match b.format {
            f if f.uses_registry() && cfg.schema_registry.is_none() => {
                return Err(invalid("schema_registry.url", format!("bindings[{i}] ({}) has format {}: set schema_registry.url to the registry its producers use", b.name, f.as_str())));
            }
            PayloadFormat::Json if b.allowed_schema_ids.is_some() => {
                return Err(invalid(format!("bindings[{i}].allowed_schema_ids"), "applies to the wire formats (avro, json_schema, protobuf) only"));
            }
            _ => {}
        }
        if b.allowed_schema_ids.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(format!("bindings[{i}].allowed_schema_ids"), "an empty list would refuse every record; leave it out to accept every conforming schema"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    const BASE: &str = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nbindings:\n  - name: flights\n    source: flights\n    contract: flights\n    fallback: hold\n";

    fn parse(s: &str) -> Result<super::GateConfig, String> {
        let cfg: super::GateConfig = serde_saphyr::from_str(s).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    #[test]
    fn avro_config_table() {
        let avro = BASE.replace("fallback: hold", "fallback: hold\n    format: avro");
        let sr = |extra: &str| format!("schema_registry:\n  url: http://127.0.0.1:8081\n{extra}{avro}");
        let ok = parse(&sr("  timeout: 500ms\n")).expect("avro with a registry");
        assert_eq!(ok.bindings[0].format, super::PayloadFormat::Avro);
        for (name, format) in [("json_schema", super::PayloadFormat::JsonSchema), ("protobuf", super::PayloadFormat::Protobuf)] {
            assert_eq!(parse(&sr("").replace("format: avro", &format!("format: {name}"))).map(|c| c.bindings[0].format), Ok(format), "{name}");
        }
        assert_eq!(ok.schema_registry.as_ref().map(|s| s.timeout), Some(std::time::Duration::from_millis(500)));
        assert!(parse(&format!("{}    allowed_schema_ids: [3, 7]\n", sr(""))).is_ok());
        assert_eq!(parse(BASE).expect("json by default").bindings[0].format, super::PayloadFormat::Json);
        let cases = [
            (avro.clone(), "config field schema_registry.url: bindings[0] (flights) has format avro"),
            (format!("{BASE}    allowed_schema_ids: [1]\n"), "bindings[0].allowed_schema_ids: applies to the wire formats (avro, json_schema, protobuf) only"),
            (avro.replace("format: avro", "format: protobuf"), "bindings[0] (flights) has format protobuf: set schema_registry.url"),
            (avro.replace("format: avro", "format: json_schema"), "bindings[0] (flights) has format json_schema: set schema_registry.url"),
            (format!("{}    allowed_schema_ids: []\n", sr("")), "bindings[0].allowed_schema_ids: an empty list"),
            (sr("").replace("http://127.0.0.1:8081", "127.0.0.1:8081"), "schema_registry.url"),
            (sr("  username: key\n"), "schema_registry.password_env"),
            (sr("  username: key\n  password_env: P\n  token_env: T\n"), "schema_registry.token_env"),
            (sr("  timeout: 0s\n"), "schema_registry.timeout"),
            (sr("  colour: red\n"), "colour"),
            (avro.replace("format: avro", "format: xml"), "unknown variant"),
        ];
        for (text, needle) in cases {
            let err = parse(&text).expect_err(needle);
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }
}
