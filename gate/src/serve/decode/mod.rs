//! Payload → record, per binding format: JSON, or Avro, JSON Schema or Protobuf in the
//! Confluent wire format (writer schemas fetched by id and cached, see [`fetch`]; judged once
//! per schema and contract version, see [`judge`]). Every refusal is a value that the router
//! quarantines with its reason; none stops the loop.

pub mod avro;
pub mod fetch;
mod judge;
pub mod rejected;
pub mod wire;

pub use rejected::{DecodeFailure, Decoded, Rejected};

use avro::AvroSource;
use fetch::SchemaCache;
use wire::{JsonSchemaSource, ProtobufSource};
use crate::serve::binding::BindingRuntime;
use crate::serve::telemetry::{Emit, RecordRejected};
use crate::serve::ServeError;
use crate::config::{GateConfig, KeyFormat, PayloadFormat};
use contracts::decode::{decode_json_into, DecodeLimits};
use contracts::CompiledContract;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Decoding for every binding of the loop.
#[derive(Debug)]
pub struct Decoder {
    limits: DecodeLimits,
    /// Wire-format state by binding name; JSON bindings have none.
    wire: HashMap<String, Source>,
    /// Wire-format state of record keys by binding name (`bindings[].key`), each with the
    /// name its schema judgements are logged under (`<binding>#key`).
    keys: HashMap<String, (String, Source)>,
    /// The last record, handed back by [`Decoder::recycle`]: the next JSON record is parsed
    /// into it, reusing its keys, nodes and string buffers (records of a topic share a shape).
    spare: Mutex<Value>,
}

impl Decoder {
    /// JSON only: no registry.
    #[must_use]
    pub fn json(limits: DecodeLimits) -> Self {
        Self { limits, wire: HashMap::new(), keys: HashMap::new(), spare: Mutex::new(Value::Null) }
    }

    /// The decoders of `cfg`'s bindings; wire-format bindings share one schema cache.
    ///
    /// # Errors
    /// [`ServeError::Config`] when the registry settings cannot be used (a credential variable
    /// unset, a client that cannot be built).
    pub fn new(cfg: &GateConfig) -> Result<Self, ServeError> {
        let mut d = Self::json(DecodeLimits { max_record_bytes: cfg.max_record_bytes });
        let key_wire = |b: &crate::config::Binding| b.key.as_ref().is_some_and(|k| k.format.uses_registry());
        let wire: Vec<_> = cfg.bindings.iter().filter(|b| b.format.uses_registry() || key_wire(b)).collect();
        if wire.is_empty() {
            return Ok(d);
        }
        let Some(sr) = &cfg.schema_registry else {
            return Err(ServeError::Config(crate::config::ConfigError::Invalid { field: "schema_registry.url".into(), message: "bindings in the Confluent wire format (avro, json_schema, protobuf) need a schema registry".into() }));
        };
        let cache = Arc::new(SchemaCache::new(sr)?);
        for b in wire {
            let (cache, allowed) = (Arc::clone(&cache), b.allowed_schema_ids.clone());
            // A key's writer schemas are judged apart from the value's (against the key
            // object), under a name of their own; `allowed_schema_ids` pins the value's only.
            if let Some(k) = b.key.as_ref() {
                let source = match k.format {
                    KeyFormat::Avro => Some(Source::Avro(AvroSource::new(Arc::clone(&cache), None))),
                    KeyFormat::JsonSchema => Some(Source::JsonSchema(JsonSchemaSource::new(Arc::clone(&cache), d.limits, None))),
                    KeyFormat::Protobuf => Some(Source::Protobuf(ProtobufSource::new(Arc::clone(&cache), None))),
                    KeyFormat::Raw | KeyFormat::String | KeyFormat::Json => None,
                };
                if let Some(source) = source {
                    d.keys.insert(b.name.clone(), (format!("{}#key", b.name), source));
                }
            }
            let source = match b.format {
                PayloadFormat::Json => continue,
                PayloadFormat::Avro => Source::Avro(AvroSource::new(cache, allowed)),
                PayloadFormat::JsonSchema => Source::JsonSchema(JsonSchemaSource::new(cache, d.limits, allowed)),
                PayloadFormat::Protobuf => Source::Protobuf(ProtobufSource::new(cache, allowed)),
            };
            d.wire.insert(b.name.clone(), source);
        }
        Ok(d)
    }

    /// Decodes one payload for binding `b`; awaits a schema fetch when an Avro record names a
    /// schema id not cached yet (bounded by the registry timeout).
    pub async fn decode(&self, b: &BindingRuntime, payload: &[u8]) -> Decoded {
        self.decode_for(&b.cfg.name, || b.contract(), payload).await
    }

    /// [`Decoder::decode`] for binding `name` judged by `contract`; `replay` uses it without a
    /// running binding.
    pub async fn decode_for(&self, name: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8]) -> Decoded {
        // A pattern's bindings (`<name>:<topic>`) share the writer-schema source of their
        // config binding: one contract, one judgement per schema.
        // JSON only (the common case): no name to split per record.
        let wire = if self.wire.is_empty() { None } else { self.wire.get(crate::config::pattern::config_name(name)) };
        let out = self.decode_with(wire, name, contract, payload, self.spare()).await;
        if let Err(Rejected::Decode { kind, .. }) = &out {
            RecordRejected { binding: name, kind: *kind }.emit();
        }
        out
    }

    /// Decodes a structured record key of binding `b` (`key.format` json or a wire format)
    /// for its key object. A refusal is the key's failure, not a decode error of the binding:
    /// it is not counted as one.
    pub async fn decode_key(&self, b: &BindingRuntime, object: &Arc<CompiledContract>, key: &[u8]) -> Decoded {
        let (name, source) = match self.keys.get(crate::config::pattern::config_name(&b.cfg.name)) {
            Some((name, source)) => (name.as_str(), Some(source)),
            None => (b.cfg.name.as_str(), None),
        };
        // A fresh value: the spare buffer belongs to the records' values.
        self.decode_with(source, name, || Arc::clone(object), key, Value::Null).await
    }

    /// One payload through `source` (JSON without one), parsed into `into` when JSON.
    async fn decode_with(&self, source: Option<&Source>, name: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8], mut into: Value) -> Decoded {
        if payload.len() > self.limits.max_record_bytes {
            return Err(Rejected::decode(DecodeFailure::TooLarge, format_args!("record is {} bytes, over the {}-byte limit", payload.len(), self.limits.max_record_bytes)));
        }
        match source {
            None => match decode_json_into(payload, self.limits, &mut into) {
                Ok(()) => Ok(into),
                Err(e) => Err(Rejected::decode(DecodeFailure::Json, e)),
            },
            Some(Source::Avro(a)) => a.decode(name, contract, payload).await,
            Some(Source::JsonSchema(j)) => j.decode(name, contract, payload, into).await,
            Some(Source::Protobuf(p)) => p.decode(name, contract, payload).await,
        }
    }

    /// The last record's buffers, for the next JSON record to be parsed into.
    fn spare(&self) -> Value {
        std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Hands a decoded record back once it was routed, for the next record to be parsed into.
    pub fn recycle(&self, decoded: Decoded) {
        if let Ok(v) = decoded {
            *self.spare.lock().unwrap_or_else(PoisonError::into_inner) = v;
        }
    }
}

/// A binding's wire-format decoder.
#[derive(Debug)]
enum Source {
    Avro(AvroSource),
    JsonSchema(JsonSchemaSource),
    Protobuf(ProtobufSource),
}

/// The schema id and what follows the 5-byte header of a Confluent wire-format payload.
fn header(payload: &[u8]) -> Result<(u32, &[u8]), Rejected> {
    contracts::avro::parse_wire(payload).map_err(|e| {
        let kind = match e {
            contracts::avro::WireError::Short { .. } => DecodeFailure::Short,
            contracts::avro::WireError::Magic { .. } => DecodeFailure::MagicByte,
        };
        Rejected::decode(kind, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_patterns_bindings_decode_in_its_wire_format() {
        let text = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nschema_registry:\n  url: http://127.0.0.1:1\nbindings:\n  - name: tenants\n    source: '^orders\\..*'\n    contract: o\n    fallback: hold\n    format: avro\n";
        let cfg: GateConfig = serde_saphyr::from_str(text).expect("config parses");
        let d = Decoder::new(&cfg).expect("decoder");
        let contract = || -> Arc<CompiledContract> { unreachable!("a refused header never needs the contract") };
        // (binding name, payload) -> the failure: the wire format's for the pattern's bindings.
        let cases: [(&str, &[u8], DecodeFailure); 3] = [
            ("tenants:orders.eu", &[1, 0, 0, 0, 1, 2], DecodeFailure::MagicByte),
            ("tenants:orders.eu", &[0, 0], DecodeFailure::Short),
            ("other", &[1, 0, 0, 0, 1, 2], DecodeFailure::Json),
        ];
        for (name, payload, want) in cases {
            match d.decode_for(name, contract, payload).await {
                Err(Rejected::Decode { kind, .. }) => assert_eq!(kind, want, "{name} {payload:?}"),
                other => panic!("{name} {payload:?}: {other:?}"),
            }
        }
    }
}
