//! `bindings[].canary`: heartbeat records the gate writes to its own source topic, so a quiet
//! producer is told apart from a stuck gate or a broken output (see `serve::canary`).

use super::{invalid, ConfigError, GateConfig, PayloadFormat};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Canary records of one binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// How often one canary is written to the source topic (the partitions take turns).
    /// Default 30 s.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A canary not seen on the validated topic this long after it was written is missed:
    /// a breaker-topic event and `contract_gate_canary_records_total{outcome="missed"}`.
    /// Default 60 s.
    #[serde(default = "default_deadline", with = "humantime_serde")]
    pub deadline: Duration,
    /// The canary's body for a `format: json` binding: one record the contract accepts,
    /// written as a YAML mapping.
    #[serde(default)]
    pub record: Option<serde_json::Value>,
    /// The canary's body as the bytes of a file: one record in the binding's format (for the
    /// wire formats, a payload as its producers write it, schema id included). Relative to
    /// the config file.
    #[serde(default)]
    pub payload_file: Option<PathBuf>,
    /// The canary's record key. Default `contract-gate-canary`.
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_deadline() -> Duration {
    Duration::from_secs(60)
}

fn default_key() -> String {
    "contract-gate-canary".into()
}

impl CanaryConfig {
    /// The canary's body.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `bindings[i].canary.payload_file` when it cannot be read.
    pub fn payload(&self, field: &str) -> Result<Vec<u8>, ConfigError> {
        match (&self.record, &self.payload_file) {
            (Some(r), _) => Ok(r.to_string().into_bytes()),
            (None, Some(p)) => std::fs::read(p).map_err(|e| invalid(format!("{field}.payload_file"), format!("{}: {e}", p.display()))),
            (None, None) => Err(invalid(field.to_string(), "needs record or payload_file")),
        }
    }
}

/// Resolves relative payload files against the config file's directory.
pub(super) fn resolve_paths(cfg: &mut GateConfig, base: &Path) {
    for c in cfg.bindings.iter_mut().filter_map(|b| b.canary.as_mut()) {
        if let Some(p) = c.payload_file.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
    }
}

/// Cross-field checks of every binding's canary.
pub(super) fn validate(cfg: &GateConfig) -> Result<(), ConfigError> {
    for (i, b) in cfg.bindings.iter().enumerate() {
        let Some(c) = &b.canary else { continue };
        let field = format!("bindings[{i}].canary");
        if c.interval.is_zero() {
            return Err(invalid(format!("{field}.interval"), "must be greater than 0"));
        }
        if c.deadline < c.interval.min(Duration::from_secs(1)) {
            return Err(invalid(format!("{field}.deadline"), "must be at least 1 s (or the interval, if shorter): a canary needs time to travel"));
        }
        match (&c.record, &c.payload_file) {
            (Some(_), Some(_)) => return Err(invalid(field, "set record or payload_file, not both")),
            (None, None) => return Err(invalid(field, "needs record (a JSON binding's record as a mapping) or payload_file (a record in the binding's format)")),
            (Some(_), None) if b.format != PayloadFormat::Json => {
                return Err(invalid(format!("{field}.record"), format!("is a JSON record, but the binding's format is {}: use payload_file with a record in that format", b.format.as_str())));
            }
            (Some(r), None) if !r.is_object() => return Err(invalid(format!("{field}.record"), "must be a mapping (one record)")),
            _ => {}
        }
        if c.key.is_empty() {
            return Err(invalid(format!("{field}.key"), "must not be empty"));
        }
        c.payload(&field)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::GateConfig;

    const BASE: &str = "kafka:\n  brokers: b:9092\ncontracts:\n  dir: c\nbindings:\n  - name: flights\n    source: flights\n    contract: flights\n    fallback: hold\n";

    fn parse(text: &str) -> Result<GateConfig, String> {
        let cfg: GateConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    #[test]
    fn canary_config_table() {
        let ok = parse(&format!("{BASE}    canary:\n      interval: 5s\n      record: {{carrier: UA, flight: 1}}\n")).expect("a JSON canary");
        let c = ok.bindings[0].canary.as_ref().expect("canary");
        assert_eq!((c.interval.as_secs(), c.deadline.as_secs(), c.key.as_str()), (5, 60, "contract-gate-canary"));
        assert_eq!(c.payload("x").expect("body"), br#"{"carrier":"UA","flight":1}"#);
        let cases = [
            (format!("{BASE}    canary:\n      interval: 0s\n      record: {{a: 1}}\n"), "bindings[0].canary.interval"),
            (format!("{BASE}    canary:\n      deadline: 10ms\n      record: {{a: 1}}\n"), "bindings[0].canary.deadline"),
            (format!("{BASE}    canary:\n      interval: 5s\n"), "needs record"),
            (format!("{BASE}    canary:\n      record: {{a: 1}}\n      payload_file: x.bin\n"), "not both"),
            (format!("{BASE}    canary:\n      record: [1, 2]\n"), "must be a mapping"),
            (format!("{BASE}    canary:\n      payload_file: /nonexistent/canary.bin\n"), "bindings[0].canary.payload_file"),
            (format!("{BASE}    canary:\n      record: {{a: 1}}\n      key: ''\n"), "bindings[0].canary.key"),
            (format!("{BASE}    canary:\n      record: {{a: 1}}\n      colour: red\n"), "colour"),
            (format!("schema_registry:\n  url: http://r:8081\n{}    format: avro\n    canary:\n      record: {{a: 1}}\n", BASE), "use payload_file"),
        ];
        for (text, needle) in cases {
            let err = parse(&text).expect_err(needle);
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }
}
