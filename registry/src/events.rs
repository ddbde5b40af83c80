//! What the registry's HTTP APIs log and count, one struct per event, each emitted in one
//! place (the counters used to sit inline in the handlers). Outcome labels are closed sets.

use metrics::counter;
use tracing::{info, warn};

/// A contract push (`POST /v1/contracts`): `created`, `shadow_created`, `promoted`,
/// `dry_run`, `unchanged`, `invalid`, `breaking`, `version_exists` or `unavailable`.
#[derive(Debug)]
pub struct ContractPushed {
    /// Outcome label.
    pub outcome: &'static str,
}

impl ContractPushed {
    /// Counts it.
    pub fn emit(self) {
        counter!("contract_gate_registry_pushes_total", "outcome" => self.outcome).increment(1);
    }
}

/// A Schema Registry API request by operation and outcome (`ok`, `unauthorized`,
/// `not_found`, `conflict`, `client_error`, `unavailable`).
#[derive(Debug)]
pub struct SchemaRequested {
    /// The operation.
    pub operation: &'static str,
    /// Outcome label.
    pub outcome: &'static str,
}

impl SchemaRequested {
    /// Counts it.
    pub fn emit(self) {
        counter!("contract_gate_registry_schema_requests_total", "operation" => self.operation, "outcome" => self.outcome).increment(1);
    }
}

/// A schema registration: `created`, `existing`, `incompatible`, `contract_refused`,
/// `invalid` or `unavailable`, with why it was refused or failed.
pub struct SchemaRegistered<'a> {
    /// Subject.
    pub subject: &'a str,
    /// Outcome label.
    pub outcome: &'static str,
    /// The refusal (incompatible, refused by the contract) or the failure (unavailable).
    pub detail: Option<&'a dyn std::fmt::Display>,
}

impl std::fmt::Debug for SchemaRegistered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistered").field("subject", &self.subject).field("outcome", &self.outcome).finish_non_exhaustive()
    }
}

impl SchemaRegistered<'_> {
    /// Counts it, and logs a refusal or a failure.
    pub fn emit(self) {
        counter!("contract_gate_registry_schema_registrations_total", "outcome" => self.outcome).increment(1);
        match (self.outcome, self.detail) {
            ("unavailable", Some(e)) => warn!(subject = self.subject, error = %e, "registry: schema registration failed"),
            ("incompatible" | "contract_refused", Some(r)) => info!(subject = self.subject, outcome = self.outcome, reason = %r, "registry: schema refused"),
            _ => {}
        }
    }
}
