//! The breaker's side of the store clock: instance ids for flush numbers, and arrival times
//! moved onto the store's clock.

use crate::state::Millis;
use contracts::{WindowRule, WindowState};

/// An offset between a replica's clock and the store's worth one warning (a few flush
/// intervals of network delay never reach it).
pub(super) const CLOCK_SKEW_WORTH_A_WARNING_MS: Millis = 5_000;

/// A random id for one breaker instance: the process's hash seed (random per process, stepped
/// per call), the time and the pid. Not secret, only unlikely to repeat across restarts.
pub(super) fn instance_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// `w` with its arrival times (see [`crate::store::is_arrival`]) moved by `offset`: from this
/// replica's clock onto the store's. Times read from the data stay as they are.
pub(super) fn on_store_clock<'a>(rules: &[WindowRule], w: &'a WindowState, offset: Millis) -> std::borrow::Cow<'a, WindowState> {
    let moves = |(r, a): (&WindowRule, &contracts::Accumulator)| crate::store::is_arrival(r) && matches!(a, contracts::Accumulator::Newest { ms: Some(_) });
    if offset == 0 || !rules.iter().zip(&w.accumulators).any(moves) {
        return std::borrow::Cow::Borrowed(w);
    }
    let mut out = w.clone();
    for (r, a) in rules.iter().zip(out.accumulators.iter_mut()) {
        if let (true, contracts::Accumulator::Newest { ms: Some(t) }) = (crate::store::is_arrival(r), a) {
            *t = t.saturating_add(offset);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::{Accumulator, MetricKind, Operator, Unit};

    fn rule(metric: MetricKind) -> WindowRule {
        WindowRule { id: metric.as_str().into(), metric, field: None, operator: Operator::MustBeLessThan(1.0), unit: Unit::Seconds, baseline: None, enforcement: contracts::Enforcement::Window }
    }

    #[test]
    fn only_arrival_times_move_onto_the_store_clock() {
        let rules = [rule(MetricKind::Freshness), rule(MetricKind::NoData)];
        let w = |fresh: Option<i64>, arrived: Option<i64>| WindowState { records: 1, accumulators: vec![Accumulator::Newest { ms: fresh }, Accumulator::Newest { ms: arrived }] };
        // (window, offset) -> moved window
        let cases = [
            (w(Some(10), Some(20)), 5, w(Some(10), Some(25))),
            (w(Some(10), Some(20)), -30, w(Some(10), Some(-10))),
            (w(Some(10), None), 5, w(Some(10), None)),
            (w(Some(10), Some(20)), 0, w(Some(10), Some(20))),
        ];
        for (input, offset, want) in cases {
            assert_eq!(*on_store_clock(&rules, &input, offset), want, "offset {offset}");
        }
    }

    #[test]
    fn instance_ids_differ() {
        assert_ne!(instance_id(), instance_id());
    }
}
