//! `serve` configuration: YAML, unknown keys rejected, every field documented, cross-field
//! checks at startup with a message naming the field.

pub mod interpolate;
pub mod tls;
pub mod schema_registry;
pub mod binding;
pub mod key;
pub mod canary;
pub mod pattern;

use breaker::StoreOutagePolicy;
pub use crate::output::{TopicOverrides, Topics};
pub use binding::{Binding, Fallback, HeaderProfile, StaleRecords};
pub use key::{KeyFormat, KeySpec};
pub use schema_registry::{PayloadFormat, SchemaRegistrySection};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {reason}")]
    Read {
        /// Path given.
        path: PathBuf,
        /// OS reason.
        reason: String,
    },
    /// The YAML does not fit the schema.
    #[error("config {path}: {reason}")]
    Parse {
        /// Path given.
        path: PathBuf,
        /// Parser message, with the line and the key.
        reason: String,
    },
    /// A field holds a value that cannot work.
    #[error("config field {field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong and what would work.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), message: message.into() }
}

/// The whole `serve` configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Kafka connection and consumer group.
    pub kafka: KafkaConfig,
    /// Shared breaker store; omit to keep breaker state in this process only (one replica).
    #[serde(default)]
    pub redis: Option<RedisSection>,
    /// HTTP endpoints (health, readiness, metrics, admin).
    #[serde(default)]
    pub http: HttpConfig,
    /// Where contracts come from.
    pub contracts: ContractsSource,
    /// Delivery guarantees.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Event topics.
    #[serde(default)]
    pub events: EventsConfig,
    /// Schema Registry for bindings in a Confluent wire format (`format: avro`, `json_schema`,
    /// `protobuf`; required by them).
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistrySection>,
    /// Largest record accepted, in bytes; larger ones are quarantined as decode errors.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Record loops in this process (each with its own consumer in the group and its own
    /// producer; the partitions spread over them). Default: the cores the process may use
    /// (its CPU quota included). A loop given no partition idles.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Source topic → contract bindings. May be empty only with `contracts.registry`: the
    /// process then serves the registry API alone (registry-only mode).
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

/// More record loops than this are refused: each holds a consumer and a producer with their
/// threads and connections, and no box this gate runs on has more cores to feed them.
const MAX_WORKERS: usize = 64;

fn default_max_record_bytes() -> usize {
    1024 * 1024
}

/// Kafka settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`. Overridden by `--brokers` / `CONTRACT_GATE_BROKERS`.
    pub brokers: String,
    /// Consumer group of the gate replicas.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Extra librdkafka properties for every client (`security.protocol`, `sasl.*`, `ssl.*`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the source consumer only (`fetch.*`, `session.timeout.ms`,
    /// `max.poll.interval.ms`, …); they override `properties` and the gate's consumer default
    /// (`fetch.queue.backoff.ms: 10`). Kept apart so producers do not warn about consumer-only
    /// keys.
    #[serde(default)]
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the output producers only (`linger.ms`, `batch.size`,
    /// `compression.type`, …); they override `properties` and the gate's producer defaults.
    #[serde(default)]
    pub producer_properties: BTreeMap<String, String>,
    /// Create missing output topics at startup with the source topic's partition count (the
    /// broker's `num.partitions` for a source that does not exist yet). Either way the gate
    /// reads the outputs' counts at startup to keep each record in its source partition.
    #[serde(default = "yes")]
    pub create_topics: bool,
    /// How often the cluster's topics are listed for pattern bindings (a `source` starting
    /// with `^`): a matching topic created since is bound, given its outputs and subscribed
    /// to within this interval, and read from its start. Default 10 s.
    #[serde(default = "default_pattern_refresh", with = "humantime_serde")]
    pub pattern_refresh: Duration,
}

fn default_pattern_refresh() -> Duration {
    Duration::from_secs(10)
}

fn default_group() -> String {
    "contract-gate".into()
}

fn yes() -> bool {
    true
}

/// The shared breaker store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// Redis URL. Overridden by `--redis` / `CONTRACT_GATE_REDIS`.
    pub url: String,
    /// Prefix of every key; each binding adds its name and contract major version.
    #[serde(default = "default_group")]
    pub key_prefix: String,
    /// Deadline of one Redis call.
    #[serde(default = "default_op_timeout", with = "humantime_serde")]
    pub op_timeout: Duration,
    /// What to do while Redis cannot be reached: `local` (default), `fail_open`, `fail_closed`.
    #[serde(default)]
    pub fallback: StoreOutagePolicy,
    /// TLS files for a `rediss://` URL: `ca_file` (instead of the system's trust store),
    /// `cert_file` and `key_file` (a client certificate). A `rediss://` URL without this
    /// section trusts the system's store.
    #[serde(default)]
    pub tls: Option<tls::ClientTls>,
    /// Find the master through Redis Sentinel: `master` (the name the sentinels monitor),
    /// `nodes` (`host:port` of each sentinel), and `username` / `password` when the sentinels
    /// have their own. `url` then gives the master's scheme (`redis://` or `rediss://`, used
    /// for the sentinels too), user, password and database; its host and port are not used.
    /// The master is looked up again at every reconnection, so a failover is followed.
    #[serde(default)]
    pub sentinel: Option<breaker::SentinelConfig>,
}

fn default_op_timeout() -> Duration {
    Duration::from_millis(500)
}

/// HTTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address, e.g. `0.0.0.0:8080`; port 0 picks a free port (logged at startup).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Environment variable holding the bearer token for admin writes. Without a token set,
    /// admin writes are refused.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Most connections served at once; further ones wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A connection that neither sends nor takes a byte for this long is closed (a client
    /// that opens a connection and sends nothing no longer holds a slot).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: std::time::Duration,
    /// A request not answered within this time gets 503.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: std::time::Duration,
    /// Serve HTTPS: `cert_file`, `key_file`, and `client_ca_file` to require client
    /// certificates. Without it the listener speaks plain HTTP.
    #[serde(default)]
    pub tls: Option<tls::ListenerTls>,
}

fn default_max_connections() -> usize {
    256
}

fn default_idle_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

fn default_request_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(15)
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_token_env() -> String {
    "CONTRACT_GATE_TOKEN".into()
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: default_listen(), token_env: default_token_env(), max_connections: default_max_connections(), idle_timeout: default_idle_timeout(), request_timeout: default_request_timeout(), tls: None }
    }
}

/// Where contracts are read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractsSource {
    /// A directory of ODCS YAML/JSON files (relative paths are relative to the config file).
    /// Without `registry`, contracts come from here. With it, the files are registered at
    /// start when missing (GitOps seeding, through the same checks as a push); leave it out
    /// to seed nothing.
    #[serde(default)]
    pub dir: PathBuf,
    /// Read contracts from the registry (a compacted Kafka topic on `kafka.brokers`), serve
    /// its API under `/v1/contracts`, and hot-reload bindings when new versions arrive.
    #[serde(default)]
    pub registry: Option<RegistrySource>,
}

/// The contract registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySource {
    /// The registry topic (compacted, one partition).
    #[serde(default = "default_registry_topic")]
    pub topic: String,
    /// Create the topic at startup when it is missing.
    #[serde(default = "yes")]
    pub create_topic: bool,
    /// Largest request body of the registry API, in bytes (larger ones get 413).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

/// Default name of the registry topic.
pub const DEFAULT_TOPIC: &str = "_contract_gate_contracts";

/// Default largest request body of the registry API, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

fn default_registry_topic() -> String {
    DEFAULT_TOPIC.into()
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for RegistrySource {
    fn default() -> Self {
        Self { topic: default_registry_topic(), create_topic: true, max_body_bytes: default_max_body_bytes() }
    }
}

/// Delivery guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// `at_least_once` (default) or `exactly_once` (Kafka transactions; readers use read_committed).
    #[serde(default)]
    pub mode: DeliveryMode,
}

/// Delivery modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// Offsets stored after the destination acknowledged; duplicates possible after a crash.
    #[default]
    AtLeastOnce,
    /// Outputs and offsets committed in one Kafka transaction.
    ExactlyOnce,
}

/// Event topics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Topic of breaker transitions.
    #[serde(default = "default_breaker_topic")]
    pub breaker_topic: String,
    /// Topic of violation samples.
    #[serde(default = "default_violations_topic")]
    pub violations_topic: String,
    /// Violation events per rule and binding per second, at most; the rest are counted only.
    #[serde(default = "default_violation_rate")]
    pub violations_per_rule_per_second: u32,
}

fn default_breaker_topic() -> String {
    "contract-gate.breaker-events".into()
}

fn default_violations_topic() -> String {
    "contract-gate.violations".into()
}

fn default_violation_rate() -> u32 {
    10
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self { breaker_topic: default_breaker_topic(), violations_topic: default_violations_topic(), violations_per_rule_per_second: default_violation_rate() }
    }
}

impl GateConfig {
    /// Reads and validates a config file. Relative `contracts.dir` is resolved against the
    /// file's directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line or field.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
        let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
        let lookup = |r: interpolate::Ref<'_>| match r {
            interpolate::Ref::Env(name) => Ok(std::env::var(name).ok()),
            // Relative to the config file, like every other path in it.
            interpolate::Ref::File(p) => std::fs::read_to_string(base.join(p)).map(Some).map_err(|e| format!("cannot read {}: {e}", base.join(p).display())),
        };
        let (text, secrets) = interpolate::expand(&text, lookup).map_err(|reason| ConfigError::Parse { path: path.to_path_buf(), reason })?;
        // A parse error quotes the text it stopped at: never a value that came from the
        // environment.
        let mut cfg: Self = serde_saphyr::from_str_with_options(&text, serde_saphyr::options! { strict_booleans: true })
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), reason: interpolate::redact(&e.to_string(), &secrets) })?;
        if !cfg.contracts.dir.as_os_str().is_empty() && cfg.contracts.dir.is_relative() {
            if let Some(parent) = path.parent() {
                cfg.contracts.dir = parent.join(&cfg.contracts.dir);
            }
        }
        if let Some(parent) = path.parent() {
            tls::resolve_paths(&mut cfg, parent);
            canary::resolve_paths(&mut cfg, parent);
        }
        Ok(cfg)
    }

    /// Record loops to run: `workers`, else one per core the process may use.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)).clamp(1, MAX_WORKERS)
    }

    /// The output producer's `message.max.bytes`: the user's (in `kafka.producer_properties`
    /// or `kafka.properties`), else `max_record_bytes` plus room for a key and headers.
    ///
    /// # Errors
    /// The user's value is not a number, or cannot hold the largest record the gate accepts
    /// plus the gate's own headers (such a record could only ever be stubbed).
    pub fn output_record_limit(&self) -> Result<usize, ConfigError> {
        let set = [("producer_properties", &self.kafka.producer_properties), ("properties", &self.kafka.properties)].into_iter().find_map(|(section, m)| m.get("message.max.bytes").map(|v| (section, v)));
        let Some((section, value)) = set else { return Ok(self.max_record_bytes.saturating_add(crate::serve::fit::HEADROOM)) };
        let field = format!("kafka.{section}.message.max.bytes");
        let limit: usize = value.trim().parse().map_err(|_| invalid(&field, format!("{value:?} is not a number of bytes")))?;
        let needed = self.max_record_bytes.saturating_add(crate::serve::fit::GATE_HEADERS_BYTES);
        if limit < needed {
            return Err(invalid(
                field,
                format!("{limit} cannot hold the largest accepted record (max_record_bytes {}) plus the gate's headers ({} bytes): raise it to at least {needed}, or lower max_record_bytes", self.max_record_bytes, crate::serve::fit::GATE_HEADERS_BYTES),
            ));
        }
        Ok(limit)
    }

    /// Cross-field checks.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.kafka.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must name at least one host:port"));
        }
        if self.bindings.is_empty() && self.contracts.registry.is_none() {
            return Err(invalid("bindings", "at least one binding is needed (or contracts.registry, for a registry-only process)"));
        }
        if self.contracts.dir.as_os_str().is_empty() && self.contracts.registry.is_none() {
            return Err(invalid("contracts", "set contracts.dir (a directory of contract files) or contracts.registry"));
        }
        if let Some(r) = &self.contracts.registry {
            if r.topic.trim().is_empty() {
                return Err(invalid("contracts.registry.topic", "must name a topic"));
            }
            if r.max_body_bytes == 0 {
                return Err(invalid("contracts.registry.max_body_bytes", "must be at least 1"));
            }
        }
        for (section, map) in [("properties", &self.kafka.properties), ("consumer_properties", &self.kafka.consumer_properties), ("producer_properties", &self.kafka.producer_properties)] {
            for reserved in ["bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "transactional.id", "isolation.level", "enable.idempotence"] {
                if map.contains_key(reserved) {
                    return Err(invalid(format!("kafka.{section}.{reserved}"), "is set by the gate itself; use kafka.brokers / kafka.group_id / delivery.mode"));
                }
            }
        }
        if self.max_record_bytes == 0 {
            return Err(invalid("max_record_bytes", "must be at least 1"));
        }
        if let Some(n) = self.workers.filter(|n| !(1..=MAX_WORKERS).contains(n)) {
            return Err(invalid("workers", format!("{n}: must be between 1 and {MAX_WORKERS} (omit it for one per core)")));
        }
        if self.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1"));
        }
        for (field, d) in [("http.idle_timeout", self.http.idle_timeout), ("http.request_timeout", self.http.request_timeout)] {
            if d.is_zero() {
                return Err(invalid(field, "must be longer than 0s"));
            }
        }
        self.output_record_limit()?;
        let mut names = HashSet::new();
        let mut sources = HashSet::new();
        let mut outputs: Vec<(String, String)> = Vec::new();
        for (i, b) in self.bindings.iter().enumerate() {
            let f = |k: &str| format!("bindings[{i}].{k}");
            if b.name.is_empty() || !b.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(invalid(f("name"), "must be non-empty letters, digits, '-', '_' or '.'"));
            }
            if !names.insert(b.name.clone()) {
                return Err(invalid(f("name"), format!("duplicate binding name {:?}", b.name)));
            }
            if !sources.insert(b.source.clone()) {
                return Err(invalid(f("source"), format!("topic {:?} is bound twice; one binding per source topic", b.source)));
            }
            b.breaker.validate().map_err(|e| invalid(f("breaker"), e.to_string()))?;
            if b.last_good_interval.is_zero() {
                return Err(invalid(f("last_good_interval"), "must be positive (e.g. 5s)"));
            }
            if b.stale_records == StaleRecords::Divert && b.fallback == Fallback::Pause {
                return Err(invalid(f("stale_records"), "divert cannot be combined with fallback: pause (the partition would pause on a stale record while the breaker is closed); use quarantine, or hold, degrade or last_good"));
            }
            if b.strict && b.fallback == Fallback::Pause {
                return Err(invalid(f("strict"), "cannot be combined with fallback: pause (a paused partition already keeps its records in Kafka); use hold, degrade or last_good"));
            }
            if let Some(n) = b.strict_flush_records {
                if !b.strict {
                    return Err(invalid(f("strict_flush_records"), "only applies with strict: true"));
                }
                if n < b.breaker.min_records {
                    return Err(invalid(f("strict_flush_records"), format!("{n} is below breaker.min_records ({}): a flush that small could never show a breach alone", b.breaker.min_records)));
                }
            }
            if b.strict && self.delivery.mode == DeliveryMode::ExactlyOnce {
                return Err(invalid(f("strict"), "is not available with delivery.mode: exactly_once yet (a transaction would have to stay open across flushes)"));
            }
            if let Some(v) = &b.version {
                semver::VersionReq::parse(v).map_err(|e| invalid(f("version"), format!("{v:?} is not a semver range (e.g. ^1, ~1.4, =1.2.0): {e}")))?;
            }
            for (o, t) in b.topics().iter() {
                outputs.push((f(&format!("topics.{}", o.name())), t.to_string()));
            }
        }
        schema_registry::validate(self)?;
        key::validate(self)?;
        tls::validate(self)?;
        canary::validate(self)?;
        pattern::validate(self)?;
        for (field, topic) in &outputs {
            if sources.contains(topic) {
                return Err(invalid(field.clone(), format!("output topic {topic:?} is also a source topic: records would loop")));
            }
            if outputs.iter().filter(|(_, t)| t == topic).count() > 1 {
                return Err(invalid(field.clone(), format!("output topic {topic:?} is used twice")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<GateConfig, String> {
        let cfg: GateConfig = serde_saphyr::from_str(s).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    const BASE: &str = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nbindings:\n  - name: flights\n    source: flights\n    contract: flights\n    fallback: hold\n";

    #[test]
    fn config_errors_name_the_field() {
        assert!(parse(BASE).is_ok());
        let cases = [
            (BASE.replace("fallback: hold", "fallback: sometimes"), "unknown variant"),
            (format!("{BASE}    colour: red\n"), "colour"),
            (BASE.replace("fallback: hold", "fallback: hold\n    topics: { held: flights }"), "bindings[0].topics.held"),
            (BASE.replace("fallback: hold", "fallback: hold\n    breaker: { min_records: 0 }"), "bindings[0].breaker"),
            (BASE.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  properties: { group.id: x }\n"), "kafka.properties.group.id"),
            (BASE.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  consumer_properties: { isolation.level: read_uncommitted }\n"), "kafka.consumer_properties.isolation.level"),
            (BASE.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  producer_properties: { enable.idempotence: 'false' }\n"), "kafka.producer_properties.enable.idempotence"),
            (format!("{BASE}  - name: flights\n    source: other\n    contract: flights\n    fallback: hold\n"), "duplicate binding name"),
            (BASE.replace("fallback: hold", "fallback: hold\n    version: one"), "bindings[0].version"),
            (BASE.replace("fallback: hold", "fallback: pause\n    strict: true"), "bindings[0].strict"),
            (BASE.replace("fallback: hold", "fallback: hold\n    last_good_interval: 0s"), "bindings[0].last_good_interval"),
            (BASE.replace("fallback: hold", "fallback: hold\n    strict_flush_records: 5000"), "bindings[0].strict_flush_records"),
            (BASE.replace("fallback: hold", "fallback: hold\n    strict: true\n    strict_flush_records: 50"), "bindings[0].strict_flush_records"),
            (format!("{}delivery:\n  mode: exactly_once\n", BASE.replace("fallback: hold", "fallback: hold\n    strict: true")), "bindings[0].strict"),
            (BASE.replace("fallback: hold", "fallback: pause\n    stale_records: divert"), "bindings[0].stale_records"),
            (BASE.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  producer_properties: { message.max.bytes: '1000000' }\n"), "kafka.producer_properties.message.max.bytes"),
            (BASE.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  properties: { message.max.bytes: lots }\n"), "kafka.properties.message.max.bytes"),
            (BASE.replace("bindings:\n  - name: flights\n    source: flights\n    contract: flights\n    fallback: hold\n", ""), "at least one binding"),
        ];
        for (text, needle) in cases {
            let err = parse(&text).expect_err(needle);
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn registry_only_and_version_ranges() {
        let registry_only = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  registry: {}\n";
        let cfg = parse(registry_only).expect("registry-only config");
        assert!(cfg.bindings.is_empty());
        assert_eq!(cfg.contracts.registry.expect("registry").topic, "_contract_gate_contracts");
        let cfg = parse(&BASE.replace("fallback: hold", "fallback: hold\n    version: ^1")).expect("range");
        assert_eq!(cfg.bindings[0].version_req().expect("ok").map(|r| r.to_string()), Some("^1".into()));
        assert!(parse("kafka:\n  brokers: x:1\ncontracts: {}\nbindings: []\n").is_err());
    }

    #[test]
    fn default_topics() {
        let cfg = parse(BASE).expect("ok");
        let t = cfg.bindings[0].topics();
        assert_eq!(t.get(crate::output::Output::Validated), "flights.validated");
        assert_eq!(t.get(crate::output::Output::LastGood), "flights.last-good");
        let cfg = parse(&BASE.replace("fallback: hold", "fallback: hold\n    topics: { held: ops.parked }")).expect("override");
        assert_eq!(cfg.bindings[0].topics().get(crate::output::Output::Held), "ops.parked");
        let err = parse(&BASE.replace("fallback: hold", "fallback: hold\n    topics: { parked: x }")).expect_err("unknown output").to_string();
        assert!(err.contains("parked"), "{err}");
    }
}
