//! The part of `serve`'s startup that needs no network: the config's cross-field checks, the
//! Kafka properties as librdkafka reads them, Redis and TLS settings, the Avro decoder's
//! settings, the contracts each binding runs (read, linted and compiled from `contracts.dir`)
//! with the checks that need the contract, and the registry's seed files. `serve` runs it
//! first and `config validate` runs it alone, so the two cannot disagree about a config.

use super::ServeError;
use crate::config::{ConfigError, GateConfig};
use crate::contract_source::ContractSource;
use contracts::CompiledContract;
use registry::ContractDir;
use std::path::PathBuf;

/// What the offline checks found and read, for `serve` to go on with (it runs what was
/// checked) and `config validate` to report.
#[derive(Debug)]
pub struct Prepared {
    /// `contracts.dir` as read, when the contracts come from it (no registry).
    pub dir: Option<ContractDir>,
    /// Per binding, in config order: the compiled contract it runs, when the contracts come
    /// from `contracts.dir` (`None` with the registry: the version is chosen there at start).
    pub contracts: Vec<Option<CompiledContract>>,
    /// Per binding: rules its breaker probe is too small to judge (warnings, not errors).
    pub undersized: Vec<Vec<breaker::sizing::Undersized>>,
    /// With the registry: the seed files of `contracts.dir` that passed the registry's checks.
    pub seeds: Vec<Seed>,
    /// `redis.tls`, read and checked.
    pub redis_tls: Option<breaker::TlsPem>,
}

/// A seed file of the registry that passed the registry's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// File.
    pub path: PathBuf,
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: String,
}

/// Runs every startup check that needs no network.
///
/// # Errors
/// The first problem, as `serve` would stop on it: a [`ConfigError`] naming the field, or the
/// contract, file or binding at fault.
pub fn offline(cfg: &GateConfig) -> Result<Prepared, ServeError> {
    cfg.validate()?;
    kafka_properties(cfg)?;
    let redis_tls = redis(cfg)?;
    // The Avro decoder's registry client (URL, credentials, TLS files), built once here to check
    // it; each record loop builds its own at start.
    super::decode::Decoder::new(cfg)?;
    let mut prepared = Prepared { dir: None, contracts: Vec::new(), undersized: Vec::new(), seeds: Vec::new(), redis_tls };
    if cfg.contracts.registry.is_some() {
        prepared.seeds = seeds(cfg)?;
        return Ok(prepared);
    }
    let source = ContractSource::Dir(ContractDir::load(&cfg.contracts.dir).map_err(crate::contract_source::ContractSourceError::from)?);
    for b in &cfg.bindings {
        let contract = binding_contract(cfg, b, &source)?;
        key_contract(cfg, b, &contract, &source)?;
        prepared.undersized.push(breaker::sizing::undersized(&b.breaker, &contract.rules));
        prepared.contracts.push(Some(contract));
    }
    if let ContractSource::Dir(d) = source {
        prepared.dir = Some(d);
    }
    Ok(prepared)
}

/// The contract binding `b` runs, from `source`, with the checks that need it: an Avro
/// binding names its object when the contract has several, and `stale_records` needs a
/// latency SLA.
///
/// # Errors
/// [`ServeError::BindingContract`] (no such contract or version, or it does not compile), or
/// a [`ConfigError`] naming the binding's field.
pub fn binding_contract(cfg: &GateConfig, b: &crate::config::Binding, source: &ContractSource) -> Result<CompiledContract, ServeError> {
    let contract = source.compile(&b.contract, b.object.as_deref(), b.version_req()?.as_ref()).map_err(|source| ServeError::BindingContract { binding: b.name.clone(), source: Box::new(source) })?;
    super::binding::object_named_if_ambiguous(cfg, b, &contract)?;
    super::binding::stale_records_judged(cfg, b, &contract)?;
    Ok(contract)
}

/// The key rules of binding `b` and, for a structured key, its key object compiled from the
/// same contract version as `contract` (the value's), so key and value are judged by one
/// version. `None` without a `key` section.
///
/// # Errors
/// A [`ConfigError`] naming `bindings[i].key.pattern`, `bindings[i].key.object` (not an
/// object of the contract, or the one the value is checked by) or `bindings[i].object`.
pub fn key_contract(cfg: &GateConfig, b: &crate::config::Binding, contract: &CompiledContract, source: &ContractSource) -> Result<Option<(super::key::KeyRules, Option<CompiledContract>)>, ServeError> {
    let Some(spec) = &b.key else { return Ok(None) };
    let field = |name: &str| crate::config::pattern::field_of(cfg, &b.name, name);
    let rules = super::key::KeyRules::new(spec).map_err(|e| ConfigError::Invalid { field: field("key.pattern"), message: e.to_string() })?;
    let Some(object) = spec.object.as_deref() else { return Ok(Some((rules, None))) };
    if *contract.object == *object {
        // Without `object` the value takes the contract's first object, which may be the key's.
        return Err(ConfigError::Invalid { field: field("object"), message: format!("the value would be checked by {object}, the key object ({}): name the value's object", field("key.object")) }.into());
    }
    let exact = semver::VersionReq::parse(&format!("={}", contract.version)).map_err(|e| ConfigError::Invalid { field: field("key.object"), message: format!("contract version {}: {e}", contract.version) })?;
    let compiled = source.compile(&b.contract, Some(object), Some(&exact)).map_err(|e| ConfigError::Invalid { field: field("key.object"), message: format!("{object:?} cannot check keys with contract {} {}: {e}", contract.id, contract.version) })?;
    Ok(Some((rules, Some(compiled))))
}

/// Every user property, as librdkafka reads it when a client is created: an unknown name or
/// a value it refuses is named by section and key (at client creation it would only say
/// "kafka.properties").
fn kafka_properties(cfg: &GateConfig) -> Result<(), ConfigError> {
    for (section, map) in [("properties", &cfg.kafka.properties), ("consumer_properties", &cfg.kafka.consumer_properties), ("producer_properties", &cfg.kafka.producer_properties)] {
        for (key, value) in map {
            let mut one = rdkafka::ClientConfig::new();
            one.set(key, value);
            one.create_native_config().map_err(|e| ConfigError::Invalid { field: format!("kafka.{section}.{key}"), message: format!("librdkafka refuses it: {}", refusal(&e, value)) })?;
        }
    }
    Ok(())
}

/// librdkafka's reason without the value: it may be a password, and librdkafka quotes it
/// (`Invalid value "…" for configuration property "…"`).
fn refusal(e: &rdkafka::error::KafkaError, value: &str) -> String {
    let reason = match e {
        rdkafka::error::KafkaError::ClientConfig(_, desc, _, _) => desc.clone(),
        other => other.to_string(),
    };
    if value.is_empty() {
        return reason;
    }
    crate::config::interpolate::redact(&reason.replace(&format!("\"{value}\""), "\"***\""), &[value.to_string()])
}

/// The Redis settings the breakers' store will be built with, and `redis.tls` read.
fn redis(cfg: &GateConfig) -> Result<Option<breaker::TlsPem>, ServeError> {
    let Some(r) = &cfg.redis else { return Ok(None) };
    let tls = r.tls.as_ref().map(|t| t.load("redis.tls")).transpose()?;
    let rc = breaker::RedisConfig { url: r.url.clone(), key_prefix: r.key_prefix.clone(), op_timeout: r.op_timeout, fallback: r.fallback, tls: tls.clone(), sentinel: r.sentinel.clone(), ..breaker::RedisConfig::default() };
    rc.validate().map_err(|breaker::ConfigError::Invalid { field, message }| ConfigError::Invalid { field: format!("redis.{field}"), message })?;
    Ok(tls)
}

/// The files of `contracts.dir` the registry will be seeded with, through the registry's own
/// checks of a push (parse, id, semantic version, lint, compile). Whether a seed breaks a
/// registered version is known only once the registry is read.
fn seeds(cfg: &GateConfig) -> Result<Vec<Seed>, ServeError> {
    let dir = &cfg.contracts.dir;
    if dir.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let seed_err = |source: registry::SeedError| crate::contract_source::ContractSourceError::Seed { dir: dir.clone(), source: Box::new(source) };
    let files = registry::contract_files(dir).map_err(|e| seed_err(e.into()))?;
    let mut out = Vec::new();
    for (path, text) in files {
        let (c, _, _) = registry::catalog::vet(&text).map_err(|refusal| seed_err(registry::SeedError::Push { path: path.clone(), source: refusal.into() }))?;
        out.push(Seed { path, id: c.id, version: c.version });
    }
    Ok(out)
}


#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: o\nversion: 1.2.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n      - name: id\n        logicalType: string\n  - name: order_key\n    properties:\n      - name: id\n        logicalType: string\n";

    #[test]
    fn key_objects_are_checked_against_the_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("o.yaml"), CONTRACT).expect("write");
        let source = ContractSource::Dir(ContractDir::load(dir.path()).expect("dir loads"));
        let base = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nbindings:\n  - name: b\n    source: s\n    contract: o\n    fallback: hold\n";
        // (extra binding lines, Ok(key object's version) or Err(field named))
        let cases: [(&str, Result<Option<&str>, &str>); 5] = [
            ("", Ok(None)),
            ("    key: { format: string }\n", Ok(None)),
            ("    key: { format: json, object: order_key }\n", Ok(Some("1.2.0"))),
            ("    key: { format: json, object: refunds }\n", Err("bindings[0].key.object")),
            // Without `object` the value takes the first object, here the key's.
            ("    key: { format: json, object: orders }\n", Err("bindings[0].object")),
        ];
        for (extra, want) in cases {
            let cfg: GateConfig = serde_saphyr::from_str(&format!("{base}{extra}")).expect("config parses");
            let b = &cfg.bindings[0];
            let got = binding_contract(&cfg, b, &source).and_then(|c| key_contract(&cfg, b, &c, &source));
            match want {
                Ok(version) => {
                    let key = got.unwrap_or_else(|e| panic!("{extra}: {e}"));
                    assert_eq!(key.and_then(|(_, o)| o).map(|o| o.version.to_string()).as_deref(), version, "{extra}");
                }
                Err(field) => {
                    let err = got.expect_err(extra).to_string();
                    assert!(err.contains(field), "{extra}: {err} lacks {field}");
                }
            }
        }
    }
}
