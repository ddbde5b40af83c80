//! JSON Schema and Protobuf source records in the Confluent wire format: the writer schema
//! fetched by the id in each payload (shared cache, [`super::fetch`]), judged once per
//! binding and contract version by the drift rule Avro schemas are judged by, and the body
//! turned into the JSON value the contract checks — for JSON Schema the body is that value,
//! for Protobuf a message of the type the payload's message indexes name.

use super::fetch::{RawFormat, RawWriter, SchemaCache};
use super::judge::Judgements;
use super::rejected::{DecodeFailure, Decoded, Rejected};
use contracts::decode::{decode_json_into, DecodeLimits};
use contracts::protobuf::{self, Projection};
use contracts::{json_wire, CompiledContract};
use serde_json::Value;
use std::sync::Arc;

/// JSON Schema decoding for one binding.
pub struct JsonSchemaSource {
    cache: Arc<SchemaCache>,
    limits: DecodeLimits,
    judged: Judgements<u32, ()>,
}

impl std::fmt::Debug for JsonSchemaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchemaSource").finish_non_exhaustive()
    }
}

impl JsonSchemaSource {
    /// A binding's decoder over the shared cache; `allowed` pins schema ids.
    #[must_use]
    pub fn new(cache: Arc<SchemaCache>, limits: DecodeLimits, allowed: Option<Vec<u32>>) -> Self {
        Self { cache, limits, judged: Judgements::new(allowed) }
    }

    /// Wire header → writer schema (judged) → the JSON body, parsed into `into`.
    pub async fn decode(&self, binding: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8], mut into: Value) -> Decoded {
        let (id, body) = super::header(payload)?;
        let writer = self.cache.get_raw(id, RawFormat::Json).await.map_err(|e| e.rejected())?;
        let RawWriter::Json(schema) = &*writer else { return Err(Rejected::decode(DecodeFailure::UnusableSchema, format_args!("schema id {id} is not a JSON Schema"))) };
        self.judged.judge(binding, id, id, contract, |c| {
            let m = json_wire::conforms(c, schema);
            if m.is_empty() { Ok(()) } else { Err(m) }
        })?;
        decode_json_into(body, self.limits, &mut into).map_err(|e| Rejected::decode(DecodeFailure::Json, e))?;
        Ok(into)
    }
}

/// Protobuf decoding for one binding.
pub struct ProtobufSource {
    cache: Arc<SchemaCache>,
    /// By schema id and message indexes: one schema may hold several message types.
    judged: Judgements<(u32, Vec<usize>), (protobuf::MessageDescriptor, Arc<Projection>)>,
}

impl std::fmt::Debug for ProtobufSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtobufSource").finish_non_exhaustive()
    }
}

impl ProtobufSource {
    /// A binding's decoder over the shared cache; `allowed` pins schema ids.
    #[must_use]
    pub fn new(cache: Arc<SchemaCache>, allowed: Option<Vec<u32>>) -> Self {
        Self { cache, judged: Judgements::new(allowed) }
    }

    /// Wire header → message indexes → writer schema and message type (judged) → body.
    pub async fn decode(&self, binding: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8]) -> Decoded {
        let (id, rest) = super::header(payload)?;
        let (indexes, body) = protobuf::split_indexes(rest).map_err(|e| Rejected::decode(DecodeFailure::CorruptBody, e))?;
        let writer = self.cache.get_raw(id, RawFormat::Protobuf).await.map_err(|e| e.rejected())?;
        let RawWriter::Protobuf(schema) = &*writer else { return Err(Rejected::decode(DecodeFailure::UnusableSchema, format_args!("schema id {id} is not a Protobuf schema"))) };
        let message = schema.message_at(&indexes).map_err(|e| Rejected::decode(DecodeFailure::CorruptBody, format_args!("schema id {id}: {e}")))?;
        let (message, projection) = self.judged.judge(binding, (id, indexes), id, contract, |c| {
            let m = protobuf::conforms(c, &message);
            if m.is_empty() { Ok((message.clone(), Arc::new(Projection::for_contract(c)))) } else { Err(m) }
        })?;
        let msg = protobuf::decode_body(&message, id, body).map_err(|e| Rejected::decode(DecodeFailure::CorruptBody, e))?;
        Ok(projection.to_json(&msg))
    }
}
