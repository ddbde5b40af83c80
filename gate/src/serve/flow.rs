//! How each assigned source partition flows: one state per partition, carrying its data, with
//! pure transitions. The record loop asks it what to do with each consumed record
//! ([`Flow::admit`]), tells it what routing decided ([`Flow::paused_at`], [`Flow::peeked`]),
//! and on each resume tick hands it the breaker's mode ([`Flow::on_mode`]) or an operator's
//! release ([`Flow::release`]); each transition returns the [`Effect`] the loop carries out on
//! the consumer. A partition that moves (rebalance) starts again from [`Flow::Flowing`].

use super::pending::PendingAction;
use breaker::Mode;

/// The state of one source partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Records are read, judged and routed.
    Flowing,
    /// `fallback: pause` while the breaker is open: the partition is paused and rewound to
    /// `at`, the first record not taken; nothing from `at` on is taken until it resumes.
    Paused {
        /// The pause offset.
        at: i64,
    },
    /// An operator released the paused backlog: records before `end` (the high watermark at
    /// the request) take `action` instead of being routed.
    Releasing {
        /// First offset after the released range.
        end: i64,
        /// Skip or quarantine.
        action: PendingAction,
    },
    /// Half-open under `fallback: pause`: records from `from` are read for the probe, and
    /// nothing is written or committed until the probe is judged; then the partition goes
    /// back to `from`, to flow (closed) or to stay paused (open).
    Peeking {
        /// The pause offset: where the partition goes back to.
        from: i64,
        /// Where this replica's probe grant ran out: the partition is paused there and peeks
        /// on from it when more grant comes (with each flush).
        spent_at: Option<i64>,
    },
    /// Half-open under the other fallbacks, with this replica's probe grant used up: the
    /// partition is paused at `at` until the probe is judged, and the record there is then
    /// routed by the verdict (to validated after a close). Diverting it instead sent a whole
    /// backlog to the fallback while one probe was judged.
    Waiting {
        /// The first record not taken.
        at: i64,
    },
    /// No output, quarantine included, would take the record at `at` (not even its stub):
    /// the partition stops there, paused and uncommitted, until it moves (a rebalance or a
    /// restart tries again); the rest of the gate goes on.
    Stopped {
        /// The record that could not be written.
        at: i64,
    },
}

/// What the loop does with one consumed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Judge and route it.
    Route,
    /// Judge it for the probe only (peeking).
    Peek,
    /// An operator's action applies to it.
    Operator(PendingAction),
    /// Drop it unseen: it was fetched before a pause took effect, and the partition will read
    /// it again.
    Ignore,
}

/// What the loop does on the consumer after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Pause the partition and rewind it to `at`.
    Pause {
        /// Offset to rewind to.
        at: i64,
    },
    /// Resume the partition where it is.
    Resume,
    /// Rewind the partition to `to` and resume it.
    Rewind {
        /// Offset to rewind to.
        to: i64,
    },
}

impl Flow {
    /// What to do with the record at `offset`, and the state after it.
    #[must_use]
    pub fn admit(self, offset: i64) -> (Admit, Self) {
        match self {
            Self::Flowing => (Admit::Route, self),
            Self::Paused { at } if offset >= at => (Admit::Ignore, self),
            Self::Paused { .. } => (Admit::Route, self),
            Self::Releasing { end, .. } if offset >= end => (Admit::Route, Self::Flowing),
            // The last record of the range closes it.
            Self::Releasing { end, action } => (Admit::Operator(action), if offset + 1 >= end { Self::Flowing } else { self }),
            Self::Peeking { spent_at: Some(_), .. } => (Admit::Ignore, self),
            Self::Peeking { spent_at: None, .. } => (Admit::Peek, self),
            Self::Waiting { at } if offset >= at => (Admit::Ignore, self),
            Self::Waiting { .. } => (Admit::Route, self),
            Self::Stopped { at } if offset >= at => (Admit::Ignore, self),
            Self::Stopped { .. } => (Admit::Route, self),
        }
    }

    /// Routing decided to pause at the record at `offset` (breaker open under `pause`).
    #[must_use]
    pub fn paused_at(self, offset: i64) -> (Self, Effect) {
        (Self::Paused { at: offset }, Effect::Pause { at: offset })
    }

    /// Half-open, out of probe grant at the record at `offset`: wait there for the verdict.
    #[must_use]
    pub fn waiting_at(self, offset: i64) -> (Self, Effect) {
        (Self::Waiting { at: offset }, Effect::Pause { at: offset })
    }

    /// Not even the stub of the record at `offset` could be written: stop there.
    #[must_use]
    pub fn stopped_at(self, offset: i64) -> (Self, Effect) {
        let at = match self {
            Self::Stopped { at } => at.min(offset),
            _ => offset,
        };
        (Self::Stopped { at }, Effect::Pause { at })
    }

    /// A peeked record used up the probe grant at `offset`.
    #[must_use]
    pub fn peeked(self, offset: i64, spent: bool) -> (Self, Effect) {
        match self {
            Self::Peeking { from, .. } if spent => (Self::Peeking { from, spent_at: Some(offset) }, Effect::Pause { at: offset }),
            other => (other, Effect::None),
        }
    }

    /// The breaker's mode on a resume tick.
    #[must_use]
    pub fn on_mode(self, mode: Mode) -> (Self, Effect) {
        let open = matches!(mode, Mode::Open | Mode::ForcedOpen);
        match self {
            Self::Paused { .. } if open => (self, Effect::None),
            // Probe records are read, judged and forgotten: nothing is written or committed
            // until the probe closes the breaker.
            Self::Paused { at } if mode == Mode::HalfOpen => (Self::Peeking { from: at, spent_at: None }, Effect::Resume),
            Self::Paused { .. } => (Self::Flowing, Effect::Resume),
            // Out of grant: peek on from where it ran out; more comes with each flush until
            // the probe is complete and judged.
            Self::Peeking { from, spent_at: Some(at) } if mode == Mode::HalfOpen => (Self::Peeking { from, spent_at: None }, Effect::Rewind { to: at }),
            Self::Peeking { .. } if mode == Mode::HalfOpen => (self, Effect::None),
            Self::Peeking { from, .. } if open => (Self::Paused { at: from }, Effect::Pause { at: from }),
            // Judged and passed: flow again from the pause offset.
            Self::Peeking { from, .. } => (Self::Flowing, Effect::Rewind { to: from }),
            // Still half-open: take the next flush's grant, if any (out of it again, the next
            // record waits again). Judged: the verdict routes from the waiting record on.
            Self::Waiting { .. } => (Self::Flowing, Effect::Resume),
            Self::Flowing | Self::Releasing { .. } | Self::Stopped { .. } => (self, Effect::None),
        }
    }

    /// An operator released the paused backlog up to `end`.
    #[must_use]
    pub fn release(self, action: PendingAction, end: i64) -> (Self, Effect) {
        match self {
            Self::Paused { .. } => (Self::Releasing { end, action }, Effect::Resume),
            other => (other, Effect::None),
        }
    }

    /// The pause offset, while the partition is paused.
    #[must_use]
    pub fn pause_offset(self) -> Option<i64> {
        match self {
            Self::Paused { at } => Some(at),
            _ => None,
        }
    }

    /// Whether the resume tick has something to look at.
    #[must_use]
    pub fn waits_on_breaker(self) -> bool {
        matches!(self, Self::Paused { .. } | Self::Peeking { .. } | Self::Waiting { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Flow::*;
    use PendingAction::{Quarantine as Q, Skip};

    #[test]
    fn admit_table() {
        // (state, offset) → (admit, state after)
        let cases = [
            (Flowing, 5, Admit::Route, Flowing),
            (Paused { at: 5 }, 5, Admit::Ignore, Paused { at: 5 }),
            (Paused { at: 5 }, 9, Admit::Ignore, Paused { at: 5 }),
            (Paused { at: 5 }, 4, Admit::Route, Paused { at: 5 }),
            (Releasing { end: 8, action: Q }, 5, Admit::Operator(Q), Releasing { end: 8, action: Q }),
            (Releasing { end: 8, action: Skip }, 7, Admit::Operator(Skip), Flowing),
            (Releasing { end: 8, action: Q }, 8, Admit::Route, Flowing),
            (Peeking { from: 3, spent_at: None }, 6, Admit::Peek, Peeking { from: 3, spent_at: None }),
            (Peeking { from: 3, spent_at: Some(6) }, 7, Admit::Ignore, Peeking { from: 3, spent_at: Some(6) }),
            (Waiting { at: 5 }, 5, Admit::Ignore, Waiting { at: 5 }),
            (Waiting { at: 5 }, 4, Admit::Route, Waiting { at: 5 }),
            (Stopped { at: 5 }, 5, Admit::Ignore, Stopped { at: 5 }),
            (Stopped { at: 5 }, 4, Admit::Route, Stopped { at: 5 }),
        ];
        for (state, offset, admit, after) in cases {
            assert_eq!(state.admit(offset), (admit, after), "{state:?} @{offset}");
        }
    }

    #[test]
    fn a_stop_holds_at_the_earliest_unwritable_record() {
        assert_eq!(Flowing.stopped_at(9), (Stopped { at: 9 }, Effect::Pause { at: 9 }));
        assert_eq!(Stopped { at: 9 }.stopped_at(12), (Stopped { at: 9 }, Effect::Pause { at: 9 }));
        assert_eq!(Paused { at: 3 }.stopped_at(2), (Stopped { at: 2 }, Effect::Pause { at: 2 }));
    }

    #[test]
    fn a_released_range_covers_from_its_start_to_its_end_only() {
        let mut f = Releasing { end: 13, action: Q };
        let got: Vec<Admit> = (10..15)
            .map(|o| {
                let (a, next) = f.admit(o);
                f = next;
                a
            })
            .collect();
        assert_eq!(got, vec![Admit::Operator(Q), Admit::Operator(Q), Admit::Operator(Q), Admit::Route, Admit::Route]);
    }

    #[test]
    fn on_mode_table() {
        use Mode::*;
        // (state, breaker mode) → (state after, effect)
        let cases = [
            (Paused { at: 7 }, Open, Paused { at: 7 }, Effect::None),
            (Paused { at: 7 }, ForcedOpen, Paused { at: 7 }, Effect::None),
            (Paused { at: 7 }, HalfOpen, Peeking { from: 7, spent_at: None }, Effect::Resume),
            (Paused { at: 7 }, Closed, Flowing, Effect::Resume),
            (Paused { at: 7 }, ForcedClosed, Flowing, Effect::Resume),
            (Peeking { from: 7, spent_at: Some(9) }, HalfOpen, Peeking { from: 7, spent_at: None }, Effect::Rewind { to: 9 }),
            (Peeking { from: 7, spent_at: None }, HalfOpen, Peeking { from: 7, spent_at: None }, Effect::None),
            (Peeking { from: 7, spent_at: Some(9) }, Open, Paused { at: 7 }, Effect::Pause { at: 7 }),
            (Peeking { from: 7, spent_at: None }, ForcedOpen, Paused { at: 7 }, Effect::Pause { at: 7 }),
            (Peeking { from: 7, spent_at: None }, Closed, Flowing, Effect::Rewind { to: 7 }),
            (Peeking { from: 7, spent_at: Some(9) }, MetricsOnly, Flowing, Effect::Rewind { to: 7 }),
            (Waiting { at: 7 }, HalfOpen, Flowing, Effect::Resume),
            (Waiting { at: 7 }, Closed, Flowing, Effect::Resume),
            (Stopped { at: 7 }, Closed, Stopped { at: 7 }, Effect::None),
            (Stopped { at: 7 }, HalfOpen, Stopped { at: 7 }, Effect::None),
            (Waiting { at: 7 }, Open, Flowing, Effect::Resume),
            (Flowing, Open, Flowing, Effect::None),
            (Releasing { end: 9, action: Skip }, Closed, Releasing { end: 9, action: Skip }, Effect::None),
        ];
        for (state, mode, after, effect) in cases {
            assert_eq!(state.on_mode(mode), (after, effect), "{state:?} under {mode:?}");
        }
    }

    #[test]
    fn routing_and_operator_transitions() {
        // (state, transition) → (state after, effect)
        let cases: Vec<(Flow, (Flow, Effect), Flow, Effect)> = vec![
            (Flowing, Flowing.paused_at(4), Paused { at: 4 }, Effect::Pause { at: 4 }),
            (Flowing, Flowing.waiting_at(4), Waiting { at: 4 }, Effect::Pause { at: 4 }),
            (Waiting { at: 4 }, Waiting { at: 4 }.release(Q, 10), Waiting { at: 4 }, Effect::None),
            (Paused { at: 4 }, Paused { at: 4 }.release(Q, 10), Releasing { end: 10, action: Q }, Effect::Resume),
            (Flowing, Flowing.release(Skip, 10), Flowing, Effect::None),
            (Peeking { from: 4, spent_at: None }, Peeking { from: 4, spent_at: None }.peeked(8, true), Peeking { from: 4, spent_at: Some(8) }, Effect::Pause { at: 8 }),
            (Peeking { from: 4, spent_at: None }, Peeking { from: 4, spent_at: None }.peeked(8, false), Peeking { from: 4, spent_at: None }, Effect::None),
        ];
        for (state, got, after, effect) in cases {
            assert_eq!(got, (after, effect), "{state:?}");
        }
    }

    #[test]
    fn a_probe_cycle_returns_to_the_pause_offset() {
        // Paused at 7, half-open: peek 7.., grant spent at 9, more grant, judged closed.
        let (f, e) = Paused { at: 7 }.on_mode(Mode::HalfOpen);
        assert_eq!(e, Effect::Resume);
        assert_eq!(f.admit(7).0, Admit::Peek);
        let (f, e) = f.peeked(9, true);
        assert_eq!((f.admit(10).0, e), (Admit::Ignore, Effect::Pause { at: 9 }));
        let (f, e) = f.on_mode(Mode::HalfOpen);
        assert_eq!(e, Effect::Rewind { to: 9 });
        let (f, e) = f.on_mode(Mode::Closed);
        assert_eq!((f, e), (Flowing, Effect::Rewind { to: 7 }));
    }
}
