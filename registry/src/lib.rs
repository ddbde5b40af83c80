//! The contract registry of contract-gate: versioned contracts and Avro, JSON Schema and
//! Protobuf schemas behind an HTTP API ([`api`], with the Confluent Schema Registry subset in
//! [`sr_api`]), with a compacted Kafka topic as the source of truth so that every replica
//! converges and a restart loses nothing; and contracts from a directory of ODCS files
//! ([`ContractDir`], the embedded default and GitOps mode). Running gates follow the registry
//! (the gate's hot reload).
//!
//! The log holds two kinds of contract records (see [`record::Record`]): versions, keyed
//! `version/<id>@<version>/<digest>`, and status changes, keyed `status/<id>@<version>`; and
//! the Schema Registry's records (see [`record::SchemaRecord`] and [`schemas`]), served by
//! [`sr_api`]. Every replica reads the topic from the beginning at start, then follows it; a
//! write is produced, acknowledged by Kafka, and answered only once this replica has applied
//! it, so a client reads its own writes from the replica it wrote to.
//!
//! # Layers
//!
//! The core is pure (no Kafka, no HTTP, no clock: times and nonces are passed in) and never
//! imports the shell; the shell imports the core. Within each layer imports go one way, top
//! to bottom in this list, so no two modules import each other.
//!
//! * Core: [`avro_rules`] (schema identity, compatibility levels, contract coverage) →
//!   [`json_rules`] and [`proto_rules`] (the same for JSON Schema and Protobuf) →
//!   [`schema_type`] (parsing and identity by type, each check handed to its type's rules) →
//!   [`record`] (the log's record and key formats) → [`schema_store`] (subjects, ids, levels,
//!   the compatibility check) → [`catalog`] (every contract version, admission of a new one)
//!   → [`schemas`] (subjects bound to contracts, admission of a schema). [`ContractDir`]
//!   reads files and stands apart.
//! * Shell: [`replica`] ([`Registry`]: the catalog fed from the log, and contract writes) →
//!   [`schema_writes`] (schema and level writes) → [`sr_api`] → [`api`]. Who may write is
//!   not the registry's rule: the routers ask an [`Authorizer`] the serving process gives them.

pub mod api;
mod auth;
pub mod avro_rules;
pub mod catalog;
mod dir;
pub mod events;
pub mod json_rules;
pub mod proto_rules;
pub mod record;
pub mod replica;
pub mod schema_store;
pub mod schema_type;
pub mod schema_writes;
pub mod schemas;
pub mod sr_api;

#[cfg(test)]
mod http_tests;

pub use auth::Authorizer;
pub use catalog::{Catalog, Entry, Refusal};
pub use dir::{contract_files, ContractDir, DirError};
pub use record::Status;
pub use replica::{CompileError, PushOutcome, Registry, RegistryError, SeedError};
