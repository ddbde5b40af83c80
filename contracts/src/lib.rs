//! ODCS v3.1 data contracts for contract-gate: model, lint, compile, record checks, window
//! metrics and version diff. Pure: no I/O, no async.

pub mod threshold;
pub mod window;

pub use threshold::{Operator, Unit};
pub use window::{Accumulator, MetricKind, RuleResult, WindowRule, WindowState};
