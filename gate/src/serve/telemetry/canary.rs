//! The events of canary records ([`crate::serve::canary`]): the one place each is logged and
//! counted.

use super::catalog::{CANARY_LATENCY, CANARY_RECORDS};
use super::Emit;
use metrics::{counter, histogram};
use tracing::{debug, info, warn};

/// What became of one canary: the `outcome` label of `contract_gate_canary_records_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryOutcome {
    /// Written to the source topic.
    Sent,
    /// The write failed.
    SendFailed,
    /// Read on the validated topic before its deadline.
    Delivered,
    /// Read on the validated topic after its deadline (it was reported missed).
    Late,
    /// Not read on the validated topic by its deadline.
    Missed,
    /// The record loop judged it invalid and quarantined it.
    Invalid,
}

impl CanaryOutcome {
    /// The label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::SendFailed => "send_failed",
            Self::Delivered => "delivered",
            Self::Late => "late",
            Self::Missed => "missed",
            Self::Invalid => "invalid",
        }
    }
}

/// One canary's fate.
#[derive(Debug)]
pub struct CanaryEvent<'a> {
    /// Binding.
    pub binding: &'a str,
    /// The canary's id (`<replica>/<seq>/<sent ms>`).
    pub id: &'a str,
    /// What happened.
    pub outcome: CanaryOutcome,
    /// Source topic to validated topic, when it was read there.
    pub latency_ms: Option<i64>,
    /// Why, for a failure.
    pub detail: Option<&'a str>,
}

impl Emit for CanaryEvent<'_> {
    fn emit(self) {
        let Self { binding, id, outcome, latency_ms, detail } = self;
        counter!(CANARY_RECORDS.name, "binding" => binding.to_string(), "outcome" => outcome.as_str()).increment(1);
        if let Some(ms) = latency_ms {
            #[allow(clippy::cast_precision_loss)]
            histogram!(CANARY_LATENCY.name, "binding" => binding.to_string()).record(ms.max(0) as f64 / 1000.0);
        }
        let detail = detail.unwrap_or("");
        match outcome {
            CanaryOutcome::Sent => debug!(binding, canary = id, "canary written to the source topic"),
            CanaryOutcome::Delivered => debug!(binding, canary = id, latency_ms, "canary read on the validated topic"),
            CanaryOutcome::Late => info!(binding, canary = id, latency_ms, "canary read on the validated topic after its deadline: the path moves again"),
            CanaryOutcome::SendFailed => warn!(binding, canary = id, error = detail, "canary not written to the source topic"),
            CanaryOutcome::Missed => warn!(binding, canary = id, detail, "canary missed its deadline: the gate or its validated output is stuck (a quiet producer would not stop a canary)"),
            CanaryOutcome::Invalid => warn!(binding, canary = id, reason = detail, "canary record fails the contract and went to quarantine: fix bindings[].canary"),
        }
    }
}
