//! Each writer schema judged once per binding and contract version: allowed by the binding's
//! pinned ids, and able to carry the contract (the same rule for Avro, JSON Schema and
//! Protobuf). A refused schema makes its records schema drift (`$.schema`); the verdict and
//! what reading needs (a projection) are kept until the contract version changes.

use super::rejected::Rejected;
use contracts::avro::Mismatch;
use contracts::CompiledContract;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::{info, warn};

struct Judged<P> {
    contract: Arc<CompiledContract>,
    /// What reading needs, or why the schema is drift.
    verdict: Result<P, String>,
}

/// Verdicts by schema key (the id, or the id and a Protobuf message's indexes).
pub(super) struct Judgements<K, P> {
    allowed: Option<Vec<u32>>,
    judged: Mutex<HashMap<K, Judged<P>>>,
}

impl<K: Hash + Eq, P: Clone> Judgements<K, P> {
    pub(super) fn new(allowed: Option<Vec<u32>>) -> Self {
        Self { allowed, judged: Mutex::new(HashMap::new()) }
    }

    /// The binding's judgement of the schema at `key` (id `schema_id`) under the contract
    /// version running now, computed by `decide` on the first record of each (key, version)
    /// and logged once.
    pub(super) fn judge(&self, binding: &str, key: K, schema_id: u32, contract: impl FnOnce() -> Arc<CompiledContract>, decide: impl FnOnce(&CompiledContract) -> Result<P, Vec<Mismatch>>) -> Result<P, Rejected> {
        let contract = contract();
        let mut judged = self.judged.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(j) = judged.get(&key).filter(|j| Arc::ptr_eq(&j.contract, &contract)) {
            return j.verdict.clone().map_err(|detail| Rejected::Drift { schema_id, detail });
        }
        let verdict = if self.allowed.as_ref().is_some_and(|ids| !ids.contains(&schema_id)) {
            Err(format!("is not among bindings[{binding}].allowed_schema_ids {:?}", self.allowed.as_deref().unwrap_or_default()))
        } else {
            decide(&contract).map_err(|mismatches| format!("does not conform to {} {}: {}", contract.id, contract.version, mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
        };
        match &verdict {
            Ok(_) => info!(binding, schema_id, contract = %contract.id, version = %contract.version, "writer schema accepted"),
            Err(detail) => warn!(binding, schema_id, contract = %contract.id, version = %contract.version, detail = %detail, "writer schema refused: its records are schema drift"),
        }
        judged.insert(key, Judged { contract, verdict: verdict.clone() });
        verdict.map_err(|detail| Rejected::Drift { schema_id, detail })
    }
}
