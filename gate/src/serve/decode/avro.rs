//! Avro source records: writer schemas fetched from the Schema Registry by the id in each
//! payload (`schema_registry_converter`, async), parsed once, each with a datum reader kept for
//! every later record with that id; each schema judged once per contract version (conforms,
//! pinned) and projected onto the contract.

use super::fetch::{SchemaCache, Writer};
use super::judge::Judgements;
use super::rejected::{DecodeFailure, Decoded, Rejected};
use contracts::avro::{self, Projection};
use contracts::CompiledContract;
use std::sync::Arc;

pub use super::fetch::settings;

/// Avro decoding for one binding.
pub struct AvroSource {
    cache: Arc<SchemaCache>,
    judged: Judgements<u32, Arc<Projection>>,
}

impl std::fmt::Debug for AvroSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroSource").finish_non_exhaustive()
    }
}

impl AvroSource {
    /// A binding's decoder over the shared cache; `allowed` pins schema ids.
    #[must_use]
    pub fn new(cache: Arc<SchemaCache>, allowed: Option<Vec<u32>>) -> Self {
        Self { cache, judged: Judgements::new(allowed) }
    }

    /// Wire header → writer schema → body → the record the contract checks.
    pub async fn decode(&self, binding: &str, contract: impl FnOnce() -> Arc<CompiledContract>, payload: &[u8]) -> Decoded {
        let (id, body) = super::header(payload)?;
        let writer: Arc<Writer> = self.cache.get(id).await.map_err(|e| e.rejected())?;
        let projection = self.judged.judge(binding, id, id, contract, |c| {
            let mismatches = avro::conforms(c, writer.schema);
            if mismatches.is_empty() { Ok(Arc::new(Projection::for_contract(writer.schema, c))) } else { Err(mismatches) }
        })?;
        let value = avro::decode_body(&writer.reader, id, body).map_err(|e| Rejected::decode(DecodeFailure::CorruptBody, e))?;
        Ok(projection.to_json(value))
    }
}
