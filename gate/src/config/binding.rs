//! One source topic bound to a contract: the `bindings[]` entries of the config.

use super::{invalid, ConfigError, PayloadFormat, TopicOverrides, Topics};
use breaker::BreakerConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What happens to valid records while the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Re-emit each key's last valid record to validated, marked stale; hold the new one.
    LastGood,
    /// Send to `<src>.degraded`, flagged low confidence.
    Degrade,
    /// Send to `<src>.held` for replay.
    Hold,
    /// Stop consuming the source partitions; offsets stay where they are.
    Pause,
}

impl Fallback {
    /// Name for labels and logs.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LastGood => "last_good",
            Self::Degrade => "degrade",
            Self::Hold => "hold",
            Self::Pause => "pause",
        }
    }
}

/// What a binding does with a record older than the latency SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleRecords {
    /// It flows (if valid) and counts towards the window's stale share.
    #[default]
    Count,
    /// It takes the open route (the binding's fallback) even while the breaker is closed.
    Divert,
    /// It is quarantined with the staleness as its reason.
    Quarantine,
}

/// The headers a binding writes on validated records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderProfile {
    /// Every gate header (see `serve::headers`).
    #[default]
    Full,
    /// Contract, version, verdict and breaker state; no source coordinates, no violations.
    Lean,
}

/// One source topic bound to a contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Binding name (metrics label, admin path, breaker key).
    pub name: String,
    /// Source topic, or a topic pattern: a source starting with `^` is a regular expression
    /// (as Kafka clients write a pattern subscription) matched against whole topic names.
    /// Each matching topic is bound on its own, as `<name>:<topic>`, with its own outputs
    /// (`<topic>.<suffix>`; overrides name theirs with `{topic}`), window and breaker; topics
    /// created later are picked up within `kafka.pattern_refresh`. The gate's own outputs,
    /// its event topics, the contract registry's log, internal `__` topics and topics other
    /// bindings take are never taken.
    pub source: String,
    /// Contract id.
    pub contract: String,
    /// Schema object of the contract (default: the first; required with `format: avro` when
    /// the contract has several, checked at startup).
    #[serde(default)]
    pub object: Option<String>,
    /// Versions to follow, as a semver range (`^1`, `~1.4`, `=1.2.0`). Default: the newest
    /// version at start, then newer ones of the same major (`^MAJOR`; `^0.MINOR` below 1.0.0).
    /// With the registry, a running gate moves to a newly registered matching version
    /// without restart.
    #[serde(default)]
    pub version: Option<String>,
    /// Fallback while the breaker is open.
    pub fallback: Fallback,
    /// Strict mode: hold each record bound for validated until the flush that counts it in
    /// the window and the flush after it have been judged, then send it to validated, or to
    /// the fallback if the breaker opened or if its flush's own records breach a rate rule
    /// (alone or with a neighbouring flush) by more than chance (`breaker.confidence`). A
    /// burst then leaks nothing to validated before the window trips, at the cost of up to
    /// two flush intervals of latency. Not with `fallback: pause` or exactly-once.
    #[serde(default)]
    pub strict: bool,
    /// Strict mode: records one record loop checks before it asks for a flush ahead of
    /// `breaker.flush_interval` (default: the larger of 2,000 and `breaker.min_records`; at
    /// least `breaker.min_records`). Strict mode judges a flush's records together, and at a
    /// backlog's read rate one interval holds tens of thousands of records: a breach among
    /// them would send every one of them, good ones too, the open route.
    #[serde(default)]
    pub strict_flush_records: Option<u64>,
    /// What happens to a record whose event timestamp is older than the contract's latency
    /// SLA when it arrives: `count` (default: it flows and counts towards the window's stale
    /// share), `divert` (it takes the open route, whatever the breaker's state) or
    /// `quarantine`. Needs a `latency` SLA on the contract's object.
    #[serde(default)]
    pub stale_records: StaleRecords,
    /// Encoding of the source records: `json` (default), or in the Confluent wire format
    /// `avro`, `json_schema` or `protobuf` (writer schemas from `schema_registry`).
    #[serde(default)]
    pub format: PayloadFormat,
    /// Wire formats: the only writer schema ids accepted (pinning). Without it, any id whose schema
    /// conforms to the contract is accepted. A record with another id is schema drift
    /// (rule `$.schema`), quarantined.
    #[serde(default)]
    pub allowed_schema_ids: Option<Vec<u32>>,
    /// The record key's contract: `format` (`raw`, `string`, `json`, `avro`, `json_schema`,
    /// `protobuf`), `required`, and `pattern`/`min_length`/`max_length` (string keys) or
    /// `object` (the contract's schema object for structured keys). A key that fails is a
    /// record failure (`$.key.…`). Without it keys are not checked.
    #[serde(default)]
    pub key: Option<super::key::KeySpec>,
    /// Output topic overrides by output (`validated`, `quarantine`, `degraded`, `held`,
    /// `last_good`); each defaults to `<source>.<suffix>` (`last-good` for the last one).
    #[serde(default)]
    pub topics: TopicOverrides,
    /// Headers on records written to validated: `full` (default: contract, version, verdict,
    /// breaker state, violated window rules and the four source coordinates) or `lean`
    /// (contract, version, verdict and breaker state: what a model's consumer needs to
    /// trust a record, at less than half the header bytes). Other outputs keep the full set.
    #[serde(default)]
    pub headers: HeaderProfile,
    /// Breaker settings.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// How often changed keys are written to the compacted `<src>.last-good` topic, each key
    /// once per pass (and once more at shutdown). The topic only rebuilds the index after a
    /// restart or on another replica; the running gate serves snapshots from memory at once.
    /// After a crash the rebuilt snapshot of a key may be up to this much older. Default 5 s.
    #[serde(default = "default_last_good_interval", with = "humantime_serde")]
    pub last_good_interval: Duration,
    /// Heartbeat records written to the source topic and followed to the validated topic, so
    /// a quiet producer is told apart from a stuck gate or output. Off without it.
    #[serde(default)]
    pub canary: Option<super::canary::CanaryConfig>,
}

fn default_last_good_interval() -> Duration {
    Duration::from_secs(5)
}

/// Records per record loop between strict flushes when `strict_flush_records` is not set: at
/// the steady rates the breaker settings are calibrated for, a 250 ms flush holds fewer.
const STRICT_FLUSH_RECORDS: u64 = 2_000;

impl Binding {
    /// The version range this binding follows, if one is configured.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when it is not a semver range.
    pub fn version_req(&self) -> Result<Option<semver::VersionReq>, ConfigError> {
        self.version.as_deref().map(|v| semver::VersionReq::parse(v).map_err(|e| invalid(format!("bindings[{}].version", self.name), format!("{v:?} is not a semver range (e.g. ^1, ~1.4, =1.2.0): {e}")))).transpose()
    }

    /// The source pattern, when `source` is one (it starts with `^`).
    #[must_use]
    pub fn pattern(&self) -> Option<&str> {
        self.source.starts_with('^').then_some(self.source.as_str())
    }

    /// Output topics with defaults applied.
    #[must_use]
    pub fn topics(&self) -> Topics {
        Topics::resolve(&self.source, &self.topics)
    }

    /// Records one record loop checks before it asks for a flush early: strict bindings only.
    #[must_use]
    pub fn strict_flush_after(&self) -> Option<u64> {
        self.strict.then(|| self.strict_flush_records.unwrap_or(STRICT_FLUSH_RECORDS.max(self.breaker.min_records)))
    }
}
