//! contract-gate: the data-contract quality gate. The binary's commands live here so the
//! end-to-end tests can drive them in-process.

pub mod backtest;
pub mod batch;
pub mod cli;
pub mod config;
pub mod contract_source;
pub mod demo;
pub mod drill;
pub mod http;
pub mod kafka;
pub mod lag;
pub mod output;
pub mod replay;
pub mod serve;
