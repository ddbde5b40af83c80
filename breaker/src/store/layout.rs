//! Flat encoding of a [`WindowState`] for the Redis script: a comma-separated list of integer
//! slots, each merged by sum (`s`) or max (`m`). Lua then merges buckets without knowing what
//! rules mean, exactly like `WindowState::merge` does in Rust.
//!
//! Slot 0 is `records`; then per accumulator: Count → hits, total; Newest → ms (empty when
//! none); Histogram → one slot per bin. A Newest slot that holds a time of arrival (`noData`)
//! is merged by `a`, a max that the script first moves from the replica's clock onto the
//! store's; one that holds a time read from the data (`freshness`) is `m`, left as it is.

use contracts::{Accumulator, MetricKind, WindowRule, WindowState};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Count,
    Newest,
    Histogram(usize),
}

/// The slot layout of a contract's window rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    ops: String,
    shape: Vec<Shape>,
}

impl Layout {
    /// The layout of these rules' accumulators.
    #[must_use]
    pub fn new(rules: &[WindowRule]) -> Self {
        let empty = WindowState::new(rules);
        let mut ops = String::from("s");
        let shape = empty
            .accumulators
            .iter()
            .zip(rules)
            .map(|(a, rule)| match a {
                Accumulator::Count { .. } => {
                    ops.push_str("ss");
                    Shape::Count
                }
                Accumulator::Newest { .. } => {
                    ops.push(if is_arrival(rule) { 'a' } else { 'm' });
                    Shape::Newest
                }
                Accumulator::Histogram { bins } => {
                    ops.extend(std::iter::repeat_n('s', bins.len()));
                    Shape::Histogram(bins.len())
                }
            })
            .collect();
        Self { ops, shape }
    }

    /// A short fingerprint of what the slots mean: every rule's id, metric, field and
    /// accumulator shape, in order (thresholds excluded: replicas may briefly disagree on them
    /// during a rollout and still merge counts). Windows are stored under it, so replicas on
    /// different rule lists never add up unrelated slots. FNV-1a: stable across builds.
    #[must_use]
    pub fn tag(rules: &[WindowRule]) -> String {
        let empty = WindowState::new(rules);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |s: &str| {
            for b in s.bytes().chain(std::iter::once(0xff)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (r, acc) in rules.iter().zip(&empty.accumulators) {
            eat(&r.id);
            eat(r.metric.as_str());
            eat(r.field.as_deref().unwrap_or(""));
            eat(&match acc {
                Accumulator::Count { .. } => "c".to_string(),
                Accumulator::Newest { .. } => "n".to_string(),
                Accumulator::Histogram { bins } => format!("h{}", bins.len()),
            });
        }
        format!("{:08x}", h >> 32)
    }

    /// One character per slot: `s` (sum), `m` (max) or `a` (max of arrival times).
    #[must_use]
    pub fn ops(&self) -> &str {
        &self.ops
    }

    /// Encodes a window whose shape was checked against this layout.
    #[must_use]
    pub fn encode(&self, w: &WindowState) -> String {
        let mut out = String::with_capacity(8 * self.ops.len());
        let _ = write!(out, "{}", w.records);
        for acc in &w.accumulators {
            match acc {
                Accumulator::Count { hits, total } => {
                    let _ = write!(out, ",{hits},{total}");
                }
                Accumulator::Newest { ms } => {
                    out.push(',');
                    if let Some(ms) = ms {
                        let _ = write!(out, "{ms}");
                    }
                }
                Accumulator::Histogram { bins } => {
                    for b in bins {
                        let _ = write!(out, ",{b}");
                    }
                }
            }
        }
        out
    }

    /// Decodes slots written by the script.
    ///
    /// # Errors
    /// A message saying which slot is wrong.
    pub fn decode(&self, csv: &str) -> Result<WindowState, String> {
        let mut parts = csv.split(',').map(str::trim);
        let mut slot = 0usize;
        let mut next = || {
            slot += 1;
            parts.next().ok_or_else(|| format!("{} slots, layout has {}", slot - 1, self.ops.len()))
        };
        let count = |s: &str| -> Result<u64, String> {
            if s.is_empty() {
                return Ok(0);
            }
            // Lua may print integral doubles with a trailing ".0".
            let s = s.strip_suffix(".0").unwrap_or(s);
            s.parse::<u64>().map_err(|e| format!("slot value {s:?}: {e}"))
        };
        let records = count(next()?)?;
        let mut accumulators = Vec::with_capacity(self.shape.len());
        for shape in &self.shape {
            accumulators.push(match shape {
                Shape::Count => Accumulator::Count { hits: count(next()?)?, total: count(next()?)? },
                Shape::Newest => {
                    let s = next()?;
                    let s = s.strip_suffix(".0").unwrap_or(s);
                    let ms = if s.is_empty() {
                        None
                    } else {
                        Some(s.parse::<i64>().map_err(|e| format!("slot value {s:?}: {e}"))?)
                    };
                    Accumulator::Newest { ms }
                }
                Shape::Histogram(n) => {
                    let mut bins = Vec::with_capacity(*n);
                    for _ in 0..*n {
                        bins.push(count(next()?)?);
                    }
                    Accumulator::Histogram { bins }
                }
            });
        }
        Ok(WindowState { records, accumulators })
    }
}

/// Whether a rule's Newest accumulator holds times of arrival, stamped with the clock of the
/// replica that received the records (as opposed to times read from the records).
#[must_use]
pub fn is_arrival(rule: &WindowRule) -> bool {
    rule.metric == MetricKind::NoData
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::{Operator, Unit};

    fn rule(metric: MetricKind, baseline: Option<Vec<f64>>) -> WindowRule {
        WindowRule {
            id: metric.as_str().into(),
            metric,
            field: None,
            operator: Operator::MustBeLessThan(1.0),
            unit: Unit::Rows,
            baseline,
            enforcement: contracts::Enforcement::Window,
        }
    }

    #[test]
    fn round_trip() {
        let rules = [
            rule(MetricKind::NullValues, None),
            rule(MetricKind::Freshness, None),
            rule(MetricKind::Distribution, Some(vec![0.5, 0.5])),
            rule(MetricKind::NoData, None),
        ];
        let layout = Layout::new(&rules);
        assert_eq!(layout.ops(), "sssmssa", "noData holds arrival times, freshness data times");
        let w = WindowState {
            records: 7,
            accumulators: vec![
                Accumulator::Count { hits: 2, total: 7 },
                Accumulator::Newest { ms: Some(1_700_000_000_123) },
                Accumulator::Histogram { bins: vec![3, 4] },
                Accumulator::Newest { ms: None },
            ],
        };
        let csv = layout.encode(&w);
        assert_eq!(csv, "7,2,7,1700000000123,3,4,");
        assert_eq!(layout.decode(&csv), Ok(w));
        assert!(layout.decode("1,2").is_err());
        assert!(layout.decode("1,x,3,,3,4,").is_err());
    }

    #[test]
    fn tag_ignores_thresholds_but_not_meaning() {
        let a = [rule(MetricKind::NullValues, None), rule(MetricKind::NoData, None)];
        let mut looser = a.clone();
        looser[0].operator = Operator::MustBeLessThan(5.0);
        assert_eq!(Layout::tag(&a), Layout::tag(&looser));
        let mut other_field = a.clone();
        other_field[0].field = Some("x".into());
        assert_ne!(Layout::tag(&a), Layout::tag(&other_field));
        assert_ne!(Layout::tag(&a), Layout::tag(&a[..1]));
        assert_eq!(Layout::tag(&a).len(), 8);
    }
}
