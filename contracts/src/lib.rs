//! ODCS v3.1 data contracts for contract-gate: model, lint, compile, record checks, window
//! metrics, version diff and Avro (Confluent wire format) records. Pure: no I/O, no async.

pub mod avro;
pub mod batch;
pub mod calibrate;
pub mod check;
pub mod compile;
pub mod decode;
pub mod diff;
pub mod error;
pub mod infer;
pub mod json_wire;
pub mod load;
pub mod model;
pub mod profile;
pub mod protobuf;
pub mod stats;
pub mod threshold;
pub mod timefmt;
pub mod window;

pub use check::{Observer, Verdict, Violation};
pub use compile::{compile, lint, CompiledContract};
pub use error::{ContractError, Problem, Severity};
pub use load::parse;
pub use model::Contract;
pub use threshold::{Operator, Unit};
pub use window::{AgeQuantiles, Accumulator, Enforcement, MetricKind, RuleResult, Sample, WindowRule, WindowState};
