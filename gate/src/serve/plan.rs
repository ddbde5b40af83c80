//! The routing decision for one record: pure, so every combination is a table row in a test.

use crate::config::Fallback;
pub use crate::output::Output;
use breaker::Route;

/// The `contract-gate-verdict` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictTag {
    /// Passed every record check; flowing normally.
    Valid,
    /// Failed a record check.
    Invalid,
    /// Valid, but the breaker is open and the binding degrades.
    Degraded,
    /// Valid, held while the breaker is open.
    Held,
    /// A key's last valid record, re-emitted while the breaker is open.
    Stale,
}

impl VerdictTag {
    /// Header value.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Degraded => "degraded",
            Self::Held => "held",
            Self::Stale => "stale",
        }
    }
}

/// Which payload an output carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The record consumed.
    Incoming,
    /// The key's last valid record.
    Snapshot,
}

/// One record to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedOutput {
    /// Where.
    pub output: Output,
    /// Verdict header.
    pub verdict: VerdictTag,
    /// What.
    pub payload: Payload,
}

/// Everything to do with one consumed record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutePlan {
    /// Records to produce; the source offset is done when all are acknowledged.
    pub emits: Vec<PlannedOutput>,
    /// Pause the source partition and rewind to this record (fallback `pause`).
    pub pause: bool,
    /// The record is a half-open probe: add it to the probe delta.
    pub probe: bool,
}

const fn emit(output: Output, verdict: VerdictTag, payload: Payload) -> PlannedOutput {
    PlannedOutput { output, verdict, payload }
}

/// Decides a record's fate from its verdict, the breaker's route and the binding's fallback.
/// `keyed` — the record has a key; `snapshot` — the key has a last valid record.
#[must_use]
pub fn plan(valid: bool, route: Route, fallback: Fallback, keyed: bool, snapshot: bool) -> RoutePlan {
    use Output::*;
    use Payload::*;
    use VerdictTag as V;
    if !valid {
        // Record-level failures go to quarantine in every breaker state.
        return RoutePlan { emits: vec![emit(Quarantine, V::Invalid, Incoming)], ..RoutePlan::default() };
    }
    let pass = |probe| {
        let mut emits = vec![emit(Validated, V::Valid, Incoming)];
        // The index serves `last_good` only: under another fallback nobody reads it, and
        // keeping it cost a copy of every keyed payload, memory growing with the keys and a
        // second write of each to the broker.
        if keyed && fallback == Fallback::LastGood {
            emits.push(emit(LastGood, V::Valid, Incoming));
        }
        RoutePlan { emits, pause: false, probe }
    };
    match route {
        Route::Pass => pass(false),
        Route::Probe => pass(true),
        Route::Divert => match fallback {
            Fallback::Degrade => RoutePlan { emits: vec![emit(Degraded, V::Degraded, Incoming)], ..RoutePlan::default() },
            Fallback::Hold => RoutePlan { emits: vec![emit(Held, V::Held, Incoming)], ..RoutePlan::default() },
            Fallback::LastGood if keyed && snapshot => {
                RoutePlan { emits: vec![emit(Validated, V::Stale, Snapshot), emit(Held, V::Held, Incoming)], ..RoutePlan::default() }
            }
            Fallback::LastGood => RoutePlan { emits: vec![emit(Held, V::Held, Incoming)], ..RoutePlan::default() },
            Fallback::Pause => RoutePlan { emits: Vec::new(), pause: true, probe: false },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Output::*;
    use Payload::*;
    use VerdictTag as V;

    #[test]
    fn plan_table() {
        // valid, route, fallback, keyed, snapshot → emits, pause, probe
        type Case = (bool, Route, Fallback, bool, bool, Vec<PlannedOutput>, bool, bool);
        let cases: Vec<Case> = vec![
            (false, Route::Pass, Fallback::Hold, true, true, vec![emit(Quarantine, V::Invalid, Incoming)], false, false),
            (false, Route::Divert, Fallback::Pause, true, true, vec![emit(Quarantine, V::Invalid, Incoming)], false, false),
            (false, Route::Probe, Fallback::Hold, false, false, vec![emit(Quarantine, V::Invalid, Incoming)], false, false),
            (true, Route::Pass, Fallback::Hold, false, false, vec![emit(Validated, V::Valid, Incoming)], false, false),
            (true, Route::Pass, Fallback::Hold, true, false, vec![emit(Validated, V::Valid, Incoming)], false, false),
            (true, Route::Probe, Fallback::LastGood, true, false, vec![emit(Validated, V::Valid, Incoming), emit(LastGood, V::Valid, Incoming)], false, true),
            (true, Route::Pass, Fallback::LastGood, true, false, vec![emit(Validated, V::Valid, Incoming), emit(LastGood, V::Valid, Incoming)], false, false),
            (true, Route::Probe, Fallback::Degrade, false, false, vec![emit(Validated, V::Valid, Incoming)], false, true),
            (true, Route::Divert, Fallback::Degrade, true, true, vec![emit(Degraded, V::Degraded, Incoming)], false, false),
            (true, Route::Divert, Fallback::Hold, true, true, vec![emit(Held, V::Held, Incoming)], false, false),
            (true, Route::Divert, Fallback::LastGood, true, true, vec![emit(Validated, V::Stale, Snapshot), emit(Held, V::Held, Incoming)], false, false),
            (true, Route::Divert, Fallback::LastGood, true, false, vec![emit(Held, V::Held, Incoming)], false, false),
            (true, Route::Divert, Fallback::LastGood, false, false, vec![emit(Held, V::Held, Incoming)], false, false),
            (true, Route::Divert, Fallback::Pause, true, true, vec![], true, false),
        ];
        for (valid, route, fb, keyed, snap, emits, pause, probe) in cases {
            let p = plan(valid, route, fb, keyed, snap);
            assert_eq!(p, RoutePlan { emits, pause, probe }, "{valid} {route:?} {fb:?} {keyed} {snap}");
        }
    }
}
