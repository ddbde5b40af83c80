//! contract-gate: the data-contract quality gate. The binary's commands live here so the
//! end-to-end tests can drive them in-process.

pub mod batch;
pub mod cli;
