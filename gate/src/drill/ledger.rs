//! The drill's bookkeeping: what was sent (from delivery reports), where it came out (from
//! the `contract-gate-source-*` headers on the outputs) and which breaker transitions were
//! seen. Both sides may arrive in either order; each (record, output) pair is counted once.
//! Times are ms since the drill started, on the drill's own clock.

use std::collections::HashMap;

/// Source partition and offset.
pub type Coord = (i32, i64);

/// What a sent record was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A good baseline record.
    Steady,
    /// A record the fault produced.
    Injected,
}

/// Where a record came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// `<src>.validated`.
    Validated,
    /// `<src>.quarantine`.
    Quarantine,
    /// `<src>.degraded` or `<src>.held`.
    Diverted,
}

/// One sighting of a record on an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// Output.
    pub dest: Dest,
    /// Verdict header was `valid` (not a stale snapshot).
    pub valid: bool,
    /// Breaker-state header was `closed`.
    pub closed: bool,
    /// It reached validated with a passing probe's verdict (`contract-gate-probe: passed`).
    pub probe_passed: bool,
    /// When the drill saw it.
    pub at: u64,
}

/// A breaker transition of the drilled binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When the drill saw it.
    pub at: u64,
    /// Mode before.
    pub from: String,
    /// Mode after.
    pub to: String,
    /// Rule of a breach, if that was the reason.
    pub rule: Option<String>,
}

/// Running totals and the raw facts behind them.
#[derive(Debug, Default)]
pub struct Ledger {
    sent: HashMap<Coord, (Kind, u64)>,
    seen: HashMap<Coord, Vec<Sighting>>,
    /// Transitions in the order seen.
    pub transitions: Vec<Seen>,
    /// Records sent (acknowledged) by kind.
    pub sent_steady: u64,
    /// Injected records acknowledged.
    pub injected: u64,
    /// Injected records on quarantine.
    pub quarantined: u64,
    /// Injected records on validated with verdict valid.
    pub leaked: u64,
    /// Of those, the ones a passed probe released.
    pub leaked_through_probes: u64,
    /// Injected records on degraded/held.
    pub diverted: u64,
    /// Steady records on quarantine (the baseline is not as clean as assumed).
    pub steady_quarantined: u64,
    /// Deliveries that failed.
    pub failed: u64,
    /// Injected records with at least one sighting.
    injected_seen: u64,
    /// First time an injected record was seen on quarantine.
    pub first_quarantined: Option<u64>,
    /// Steady records validated with the breaker closed: (sent at, seen at).
    pub flowing: Vec<(u64, u64)>,
    /// When each leaked injected record was sent, unless a passed probe let it through: such
    /// a leak sent after the trip came through a failed probe or a close during the fault.
    leaked_sent: Vec<u64>,
}

impl Ledger {
    /// A delivery report.
    pub fn sent(&mut self, c: Coord, kind: Kind, at: u64) {
        if self.sent.insert(c, (kind, at)).is_some() {
            return;
        }
        match kind {
            Kind::Steady => self.sent_steady += 1,
            Kind::Injected => self.injected += 1,
        }
        let sightings = self.seen.get(&c).cloned().unwrap_or_default();
        if kind == Kind::Injected && !sightings.is_empty() {
            self.injected_seen += 1;
        }
        for s in sightings {
            self.classify(kind, at, s);
        }
    }

    /// A record seen on an output.
    pub fn seen(&mut self, c: Coord, s: Sighting) {
        let list = self.seen.entry(c).or_default();
        // At-least-once delivery may repeat a record; a stale snapshot re-emit carries the
        // coordinates of its own source and is not a new sighting of that record either.
        if list.iter().any(|x| x.dest == s.dest && x.valid == s.valid) {
            return;
        }
        let first = list.is_empty();
        list.push(s);
        if let Some(&(kind, at)) = self.sent.get(&c) {
            if kind == Kind::Injected && first {
                self.injected_seen += 1;
            }
            self.classify(kind, at, s);
        }
    }

    fn classify(&mut self, kind: Kind, sent_at: u64, s: Sighting) {
        match (kind, s.dest) {
            (Kind::Injected, Dest::Quarantine) => {
                self.quarantined += 1;
                self.first_quarantined = Some(self.first_quarantined.map_or(s.at, |f| f.min(s.at)));
            }
            (Kind::Injected, Dest::Validated) if s.valid => {
                self.leaked += 1;
                if s.probe_passed {
                    self.leaked_through_probes += 1;
                } else {
                    self.leaked_sent.push(sent_at);
                }
            }
            (Kind::Injected, Dest::Diverted) => self.diverted += 1,
            (Kind::Steady, Dest::Quarantine) => self.steady_quarantined += 1,
            (Kind::Steady, Dest::Validated) if s.valid && s.closed => self.flowing.push((sent_at, s.at)),
            _ => {}
        }
    }

    /// A breaker transition.
    pub fn transition(&mut self, t: Seen) {
        self.transitions.push(t);
    }

    /// The breaker's mode as last seen, if any transition was.
    #[must_use]
    pub fn mode(&self) -> Option<&str> {
        self.transitions.last().map(|t| t.to.as_str())
    }

    /// When the first steady record sent at or after `since` was seen validated with the
    /// breaker closed.
    #[must_use]
    pub fn flowing_since(&self, since: u64) -> Option<u64> {
        self.flowing.iter().filter(|(sent, _)| *sent >= since).map(|(_, seen)| *seen).min()
    }

    /// Injected records not seen on any output yet.
    #[must_use]
    pub fn unaccounted(&self) -> u64 {
        self.injected.saturating_sub(self.injected_seen)
    }

    /// Steady records sent in `[from, to)` and, of those, how many were validated and their
    /// produce-to-validated latencies, sorted.
    #[must_use]
    pub fn steady_between(&self, from: u64, to: u64) -> (u64, Vec<u64>) {
        let sent = self.sent.values().filter(|(k, at)| *k == Kind::Steady && (from..to).contains(at)).count() as u64;
        let mut lat: Vec<u64> = self.flowing.iter().filter(|(s, _)| (from..to).contains(s)).map(|(s, seen)| seen.saturating_sub(*s)).collect();
        lat.sort_unstable();
        (sent, lat)
    }

    /// Leaked injected records sent at or after `since`, other than through a passed probe.
    #[must_use]
    pub fn leaked_since(&self, since: u64) -> u64 {
        self.leaked_sent.iter().filter(|at| **at >= since).count() as u64
    }

    /// Transitions seen at or after `since`.
    #[must_use]
    pub fn transitions_since(&self, since: u64) -> Vec<&Seen> {
        self.transitions.iter().filter(|t| t.at >= since).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sight(dest: Dest, at: u64) -> Sighting {
        Sighting { dest, valid: dest != Dest::Quarantine, closed: true, probe_passed: false, at }
    }

    #[test]
    fn counts_match_whichever_side_comes_first() {
        let mut l = Ledger::default();
        // Seen before the delivery report arrives.
        l.seen((0, 1), sight(Dest::Quarantine, 50));
        l.sent((0, 1), Kind::Injected, 10);
        // Report first.
        l.sent((0, 2), Kind::Injected, 20);
        l.seen((0, 2), sight(Dest::Validated, 40));
        l.seen((0, 2), sight(Dest::Validated, 45)); // redelivered: counted once
        l.sent((1, 2), Kind::Injected, 30);
        l.seen((1, 2), sight(Dest::Diverted, 70));
        l.sent((0, 3), Kind::Injected, 30); // never seen
        l.sent((0, 4), Kind::Steady, 5);
        l.seen((0, 4), sight(Dest::Validated, 25));
        l.sent((0, 5), Kind::Steady, 35);
        l.seen((0, 5), Sighting { dest: Dest::Validated, valid: true, closed: false, probe_passed: false, at: 90 });
        // Released by a passed probe: a leak, but not through a failed probe.
        l.sent((0, 6), Kind::Injected, 60);
        l.seen((0, 6), Sighting { dest: Dest::Validated, valid: true, closed: true, probe_passed: true, at: 95 });
        assert_eq!((l.injected, l.quarantined, l.leaked, l.diverted, l.unaccounted()), (5, 1, 2, 1, 1));
        assert_eq!(l.first_quarantined, Some(50));
        assert_eq!(l.flowing_since(0), Some(25));
        assert_eq!(l.flowing_since(6), None, "record 5 flowed while the breaker was not closed");
        assert_eq!(l.steady_between(0, 100), (2, vec![20]));
        assert_eq!((l.leaked_since(20), l.leaked_since(21)), (1, 0), "the probe's record is not counted");
    }

    #[test]
    fn stale_snapshots_are_not_leaks() {
        let mut l = Ledger::default();
        l.sent((0, 9), Kind::Injected, 1);
        l.seen((0, 9), Sighting { dest: Dest::Validated, valid: false, closed: false, probe_passed: false, at: 5 });
        assert_eq!((l.leaked, l.unaccounted()), (0, 0));
    }

    #[test]
    fn transitions() {
        let mut l = Ledger::default();
        assert_eq!(l.mode(), None);
        l.transition(Seen { at: 10, from: "closed".into(), to: "open".into(), rule: Some("r".into()) });
        l.transition(Seen { at: 20, from: "open".into(), to: "half_open".into(), rule: None });
        assert_eq!(l.mode(), Some("half_open"));
        assert_eq!(l.transitions_since(15).len(), 1);
    }
}
