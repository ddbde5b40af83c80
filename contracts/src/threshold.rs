//! ODCS comparison operators and units, shared by batch reports and the breaker.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One ODCS operator with its operand(s). `mustBeBetween` bounds are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    /// `mustBe`: value == x.
    MustBe(f64),
    /// `mustNotBe`: value != x.
    MustNotBe(f64),
    /// `mustBeGreaterThan`: value > x.
    MustBeGreaterThan(f64),
    /// `mustBeGreaterOrEqualTo`: value >= x.
    MustBeGreaterOrEqualTo(f64),
    /// `mustBeLessThan`: value < x.
    MustBeLessThan(f64),
    /// `mustBeLessOrEqualTo`: value <= x.
    MustBeLessOrEqualTo(f64),
    /// `mustBeBetween`: lo <= value <= hi.
    MustBeBetween(f64, f64),
    /// `mustNotBeBetween`: value < lo or value > hi.
    MustNotBeBetween(f64, f64),
}

impl Operator {
    /// ODCS key names, in the order the standard lists them.
    pub const KEYS: [&'static str; 8] = [
        "mustBe",
        "mustNotBe",
        "mustBeGreaterThan",
        "mustBeGreaterOrEqualTo",
        "mustBeLessThan",
        "mustBeLessOrEqualTo",
        "mustBeBetween",
        "mustNotBeBetween",
    ];

    /// Whether `value` satisfies the operator. NaN never satisfies anything.
    #[must_use]
    pub fn holds(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        // Exact float equality is what the standard means by `mustBe` for counts;
        // a tolerance keeps percentages computed by division from flapping.
        let eq = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        match *self {
            Self::MustBe(x) => eq(value, x),
            Self::MustNotBe(x) => !eq(value, x),
            Self::MustBeGreaterThan(x) => value > x,
            Self::MustBeGreaterOrEqualTo(x) => value >= x,
            Self::MustBeLessThan(x) => value < x,
            Self::MustBeLessOrEqualTo(x) => value <= x,
            Self::MustBeBetween(lo, hi) => value >= lo && value <= hi,
            Self::MustNotBeBetween(lo, hi) => value < lo || value > hi,
        }
    }

    /// Whether the only count of bad records this threshold accepts is zero: 0 passes and
    /// every count from 1 upward fails. Only such a rule may be enforced record by record —
    /// one bad record already breaches it whatever the rest of the window holds. A rule like
    /// `mustNotBe: 1` or `mustNotBeBetween: [1, 5]` accepts larger counts again, so its
    /// verdict exists only for the window or batch as a whole.
    #[must_use]
    pub fn accepts_only_zero(&self) -> bool {
        match *self {
            Self::MustBe(x) => x == 0.0,
            Self::MustBeLessThan(x) => x > 0.0 && x <= 1.0,
            Self::MustBeLessOrEqualTo(x) => (0.0..1.0).contains(&x),
            Self::MustBeBetween(lo, hi) => lo <= 0.0 && (0.0..1.0).contains(&hi),
            Self::MustNotBe(_) | Self::MustNotBeBetween(..) | Self::MustBeGreaterThan(_) | Self::MustBeGreaterOrEqualTo(_) => false,
        }
    }

    /// The ODCS key of this operator.
    #[must_use]
    pub fn key(&self) -> &'static str {
        let i = match self {
            Self::MustBe(_) => 0,
            Self::MustNotBe(_) => 1,
            Self::MustBeGreaterThan(_) => 2,
            Self::MustBeGreaterOrEqualTo(_) => 3,
            Self::MustBeLessThan(_) => 4,
            Self::MustBeLessOrEqualTo(_) => 5,
            Self::MustBeBetween(..) => 6,
            Self::MustNotBeBetween(..) => 7,
        };
        Self::KEYS[i]
    }

    /// How much stricter `self` is than `older` for the same metric, as used by the version
    /// diff: `Some(true)` when some value accepted before is now refused.
    #[must_use]
    pub fn is_stricter_than(&self, older: &Self) -> bool {
        let (lo, hi) = self.accepted_range();
        let (olo, ohi) = older.accepted_range();
        match (self, older) {
            (Self::MustNotBe(a), Self::MustNotBe(b)) => a != b,
            (Self::MustNotBeBetween(a, b), Self::MustNotBeBetween(c, d)) => a < c || b > d,
            (Self::MustNotBe(_) | Self::MustNotBeBetween(..), _)
            | (_, Self::MustNotBe(_) | Self::MustNotBeBetween(..)) => self != older,
            _ => lo > olo || hi < ohi || (lo == olo && self.excludes_low() && !older.excludes_low())
                || (hi == ohi && self.excludes_high() && !older.excludes_high()),
        }
    }

    fn accepted_range(&self) -> (f64, f64) {
        match *self {
            Self::MustBe(x) => (x, x),
            Self::MustBeGreaterThan(x) | Self::MustBeGreaterOrEqualTo(x) => (x, f64::INFINITY),
            Self::MustBeLessThan(x) | Self::MustBeLessOrEqualTo(x) => (f64::NEG_INFINITY, x),
            Self::MustBeBetween(lo, hi) => (lo, hi),
            Self::MustNotBe(_) | Self::MustNotBeBetween(..) => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    fn excludes_low(&self) -> bool {
        matches!(self, Self::MustBeGreaterThan(_))
    }

    fn excludes_high(&self) -> bool {
        matches!(self, Self::MustBeLessThan(_))
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::MustBe(x) => write!(f, "= {x}"),
            Self::MustNotBe(x) => write!(f, "!= {x}"),
            Self::MustBeGreaterThan(x) => write!(f, "> {x}"),
            Self::MustBeGreaterOrEqualTo(x) => write!(f, ">= {x}"),
            Self::MustBeLessThan(x) => write!(f, "< {x}"),
            Self::MustBeLessOrEqualTo(x) => write!(f, "<= {x}"),
            Self::MustBeBetween(lo, hi) => write!(f, "in [{lo}, {hi}]"),
            Self::MustNotBeBetween(lo, hi) => write!(f, "not in [{lo}, {hi}]"),
        }
    }
}

/// Unit of a quality metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A count of records.
    #[default]
    Rows,
    /// A share of the records in scope, 0–100.
    Percent,
    /// Seconds (freshness).
    Seconds,
    /// A dimensionless score (distribution drift).
    Score,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rows => "rows",
            Self::Percent => "percent",
            Self::Seconds => "seconds",
            Self::Score => "score",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Operator::*;
    use super::*;

    #[test]
    fn operators_table() {
        let cases: &[(Operator, f64, bool)] = &[
            (MustBe(0.0), 0.0, true),
            (MustBe(0.0), 4.0, false),
            (MustNotBe(0.0), 0.0, false),
            (MustNotBe(0.0), 1.0, true),
            (MustBeGreaterThan(1.0), 1.0, false),
            (MustBeGreaterThan(1.0), 1.5, true),
            (MustBeGreaterOrEqualTo(1.0), 1.0, true),
            (MustBeLessThan(3.0), 2.45, true),
            (MustBeLessThan(3.0), 3.0, false),
            (MustBeLessOrEqualTo(3.0), 3.0, true),
            (MustBeBetween(1.0, 2.0), 1.0, true),
            (MustBeBetween(1.0, 2.0), 2.0, true),
            (MustBeBetween(1.0, 2.0), 2.1, false),
            (MustNotBeBetween(1.0, 2.0), 1.5, false),
            (MustNotBeBetween(1.0, 2.0), 0.5, true),
            (MustBeLessThan(3.0), f64::NAN, false),
        ];
        for (op, v, want) in cases {
            assert_eq!(op.holds(*v), *want, "{op} on {v}");
        }
    }

    #[test]
    fn only_zero_table() {
        let cases: &[(Operator, bool)] = &[
            (MustBe(0.0), true),
            (MustBe(1.0), false),
            (MustBeLessThan(1.0), true),
            (MustBeLessThan(0.5), true),
            (MustBeLessThan(2.0), false),
            (MustBeLessThan(0.0), false),
            (MustBeLessOrEqualTo(0.0), true),
            (MustBeLessOrEqualTo(0.9), true),
            (MustBeLessOrEqualTo(1.0), false),
            (MustBeBetween(0.0, 0.0), true),
            (MustBeBetween(-1.0, 0.5), true),
            (MustBeBetween(0.0, 1.0), false),
            (MustBeBetween(1.0, 5.0), false),
            // Non-monotone: 0 passes, 1 fails, larger counts pass again.
            (MustNotBe(1.0), false),
            (MustNotBeBetween(1.0, 5.0), false),
            (MustNotBe(0.0), false),
            (MustBeGreaterThan(-1.0), false),
            (MustBeGreaterOrEqualTo(0.0), false),
        ];
        for (op, want) in cases {
            assert_eq!(op.accepts_only_zero(), *want, "{op}");
            // The definition, checked on counts: only zero passes among 0..=10.
            let by_counts = (0..=10).filter(|n| op.holds(f64::from(*n))).eq(std::iter::once(0));
            assert_eq!(by_counts, *want, "{op} on counts");
        }
    }

    #[test]
    fn strictness_table() {
        let cases: &[(Operator, Operator, bool)] = &[
            (MustBeLessThan(3.0), MustBeLessThan(5.0), true),
            (MustBeLessThan(5.0), MustBeLessThan(3.0), false),
            (MustBeLessThan(3.0), MustBeLessOrEqualTo(3.0), true),
            (MustBeLessOrEqualTo(3.0), MustBeLessThan(3.0), false),
            (MustBeBetween(1.0, 5.0), MustBeBetween(0.0, 5.0), true),
            (MustBeBetween(0.0, 6.0), MustBeBetween(0.0, 5.0), false),
            (MustBe(0.0), MustBeLessOrEqualTo(2.0), true),
            (MustNotBeBetween(0.0, 9.0), MustNotBeBetween(1.0, 5.0), true),
        ];
        for (new, old, want) in cases {
            assert_eq!(new.is_stricter_than(old), *want, "{new} vs {old}");
        }
    }
}
