//! The events of shadow evaluation ([`crate::serve::shadow`]): what a shadow version judged,
//! skipped and tripped, and when an evaluation started or ended.

use super::catalog::{SHADOW_EVALUATIONS, SHADOW_RECORDS, SHADOW_RULE_VIOLATIONS, SHADOW_TRANSITIONS};
use super::Emit;
use metrics::{counter, Counter};
use std::collections::HashMap;
use tracing::{info, warn};

/// A shadow verdict next to the active one: the `outcome` label of
/// `contract_gate_shadow_records_total` (with `skipped`, see [`ShadowSkipped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ShadowOutcome {
    /// Valid under both versions.
    BothValid,
    /// Invalid under both.
    BothInvalid,
    /// Invalid under the shadow only: promoting it would quarantine such records.
    WouldQuarantine,
    /// Valid under the shadow only: promoting it would let such records through.
    WouldPass,
}

impl ShadowOutcome {
    /// From the active and the shadow verdicts.
    #[must_use]
    pub const fn of(active_valid: bool, shadow_valid: bool) -> Self {
        match (active_valid, shadow_valid) {
            (true, true) => Self::BothValid,
            (false, false) => Self::BothInvalid,
            (true, false) => Self::WouldQuarantine,
            (false, true) => Self::WouldPass,
        }
    }

    /// The label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BothValid => "both_valid",
            Self::BothInvalid => "both_invalid",
            Self::WouldQuarantine => "would_quarantine",
            Self::WouldPass => "would_pass",
        }
    }
}

/// The per-record counters of one binding's shadow evaluation, registered once (a label
/// lookup per record would cost more than the judging): what the shadow judged, by outcome,
/// and the blocking rules it would have quarantined for.
pub struct ShadowCounters {
    binding: String,
    outcomes: [Counter; 4],
    rules: HashMap<String, Counter>,
}

impl std::fmt::Debug for ShadowCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowCounters").field("binding", &self.binding).finish_non_exhaustive()
    }
}

impl ShadowCounters {
    /// Counters of `binding`.
    #[must_use]
    pub fn new(binding: &str) -> Self {
        let outcomes = [ShadowOutcome::BothValid, ShadowOutcome::BothInvalid, ShadowOutcome::WouldQuarantine, ShadowOutcome::WouldPass].map(|o| counter!(SHADOW_RECORDS.name, "binding" => binding.to_string(), "outcome" => o.as_str()));
        Self { binding: binding.to_string(), outcomes, rules: HashMap::new() }
    }

    /// One record the shadow judged, with the blocking rules it broke (empty when valid).
    pub fn judged(&mut self, outcome: ShadowOutcome, rules: &[String]) {
        self.outcomes[outcome as usize].increment(1);
        for rule in rules {
            if let Some(c) = self.rules.get(rule) {
                c.increment(1);
            } else {
                let c = counter!(SHADOW_RULE_VIOLATIONS.name, "binding" => self.binding.clone(), "rule" => rule.clone());
                c.increment(1);
                self.rules.insert(rule.clone(), c);
            }
        }
    }
}

/// Records the shadow's queue had no room for (counted, never waited for), by a handle
/// registered once: at full speed most records may be skipped, each on the record loop.
#[derive(Debug, Clone)]
pub struct ShadowSkips(Counter);

impl ShadowSkips {
    /// The counter of `binding`.
    #[must_use]
    pub fn new(binding: &str) -> Self {
        Self(counter!(SHADOW_RECORDS.name, "binding" => binding.to_string(), "outcome" => "skipped"))
    }

    /// One record skipped.
    pub fn skipped(&self) {
        self.0.increment(1);
    }
}

/// A transition of the shadow's simulated breaker.
#[derive(Debug)]
pub struct ShadowTransition<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Shadow version.
    pub version: &'a str,
    /// Mode before.
    pub from: &'a str,
    /// Mode after.
    pub to: &'a str,
    /// Why.
    pub reason: &'a str,
}

impl Emit for ShadowTransition<'_> {
    fn emit(self) {
        counter!(SHADOW_TRANSITIONS.name, "binding" => self.binding.to_string(), "from" => self.from.to_string(), "to" => self.to.to_string()).increment(1);
        info!(binding = self.binding, shadow_version = self.version, from = self.from, to = self.to, reason = self.reason, "shadow breaker transition (nothing routed by it)");
    }
}

/// A shadow evaluation started.
#[derive(Debug)]
pub struct ShadowStarted<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Contract id.
    pub contract: &'a str,
    /// Shadow version.
    pub version: &'a str,
    /// The version the binding routes by.
    pub active: &'a str,
}

impl Emit for ShadowStarted<'_> {
    fn emit(self) {
        counter!(SHADOW_EVALUATIONS.name, "binding" => self.binding.to_string(), "outcome" => "started").increment(1);
        info!(binding = self.binding, contract = self.contract, shadow_version = self.version, active_version = self.active, "shadow evaluation started");
    }
}

/// A shadow evaluation ended (promoted, withdrawn, overtaken), or failed.
#[derive(Debug)]
pub struct ShadowStopped<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Shadow version.
    pub version: &'a str,
    /// Why.
    pub why: &'a str,
    /// The evaluation failed (rather than ending because its version left evaluation).
    pub failed: bool,
}

impl Emit for ShadowStopped<'_> {
    fn emit(self) {
        counter!(SHADOW_EVALUATIONS.name, "binding" => self.binding.to_string(), "outcome" => if self.failed { "failed" } else { "stopped" }).increment(1);
        if self.failed {
            warn!(binding = self.binding, shadow_version = self.version, why = self.why, "shadow evaluation stopped");
        } else {
            info!(binding = self.binding, shadow_version = self.version, why = self.why, "shadow evaluation stopped");
        }
    }
}

/// A shadow version that does not compile for the binding: not evaluated.
#[derive(Debug)]
pub struct ShadowRefused<'a> {
    /// Binding.
    pub binding: &'a str,
    /// Shadow version.
    pub version: &'a str,
    /// Why.
    pub error: &'a str,
}

impl Emit for ShadowRefused<'_> {
    fn emit(self) {
        counter!(SHADOW_EVALUATIONS.name, "binding" => self.binding.to_string(), "outcome" => "refused").increment(1);
        warn!(binding = self.binding, shadow_version = self.version, error = self.error, "shadow version not evaluated: it does not compile for the binding");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_from_verdicts() {
        let cases = [((true, true), "both_valid"), ((false, false), "both_invalid"), ((true, false), "would_quarantine"), ((false, true), "would_pass")];
        for ((active, shadow), want) in cases {
            assert_eq!(ShadowOutcome::of(active, shadow).as_str(), want);
        }
    }
}
