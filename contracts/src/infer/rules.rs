//! The decisions of inference, as small pure functions over what was observed: where a range
//! ends, how much headroom a rate gets, when strings are an enumeration, which logical type a
//! mix of JSON values has. docs/design-notes.md ("Inferring a draft") says why each rule is
//! what it is.

use crate::model::LogicalType;
use serde_json::Value;

/// Strings form an enumeration only with at most this many distinct values.
pub const ENUM_MAX_VALUES: usize = 20;
/// … over at least this many non-null values …
pub const ENUM_MIN_RECORDS: u64 = 200;
/// … each seen at least this often (a value seen once says another rare one may be missing).
pub const ENUM_MIN_EACH: u64 = 2;
/// A range end is a domain edge when at least this share of the values sit exactly on it.
pub const EDGE_SHARE: f64 = 0.01;
/// Tails are judged from percentiles only with at least this many values.
pub const TAIL_MIN_VALUES: usize = 100;
/// Distribution baselines need at least this many values.
pub const BASELINE_MIN_VALUES: usize = 200;
/// Bins of a distribution baseline (as `contracts baseline` defaults to).
pub const BASELINE_BINS: usize = 10;
/// Largest population stability index a baseline allows: 0.2 is the level at which a shift
/// is commonly read as significant.
pub const BASELINE_MAX_PSI: f64 = 0.2;

/// What the sorted values of a field say about its spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Number of values.
    pub n: usize,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Values equal to `min`.
    pub at_min: usize,
    /// Values equal to `max`.
    pub at_max: usize,
    /// 1st percentile.
    pub p1: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Spread {
    /// The spread of `sorted` (ascending, no NaN); `None` when empty.
    #[must_use]
    pub fn of(sorted: &[f64]) -> Option<Self> {
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let n = sorted.len();
        // Nearest-rank percentiles: a value that occurs in the data.
        let q = |p: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            sorted[i]
        };
        let at_min = sorted.iter().take_while(|x| **x == min).count();
        let at_max = sorted.iter().rev().take_while(|x| **x == max).count();
        Some(Self { n, min, max, at_min, at_max, p1: q(0.01), p50: q(0.5), p99: q(0.99) })
    }

    /// Whether the share of values on an extreme makes it an edge of the domain.
    fn is_edge(&self, count: usize) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let share = count as f64 / self.n as f64;
        count >= 2 && share >= EDGE_SHARE
    }
}

/// How one end of a range is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// Many values sit on the extreme: the domain stops there, the bound is the extreme.
    Edge(f64),
    /// The extreme lies further out than the bulk of the data: a thinning tail whose end a
    /// sample cannot show, so no bound is set.
    Tail,
    /// Neither: the extreme widened by the observed span, rounded outward to two significant
    /// digits (a zero the sample never crossed is not crossed either).
    Widened(f64),
}

impl End {
    /// The bound, if any.
    #[must_use]
    pub fn bound(self) -> Option<f64> {
        match self {
            Self::Edge(x) | Self::Widened(x) => Some(x),
            Self::Tail => None,
        }
    }
}

/// The two ends of the range of `s`. `integer` bounds are whole numbers.
#[must_use]
pub fn range_ends(s: &Spread, integer: bool) -> (End, End) {
    let span = s.max - s.min;
    let tails = s.n >= TAIL_MIN_VALUES;
    let low = if s.is_edge(s.at_min) {
        End::Edge(s.min)
    } else if tails && s.p1 - s.min > s.p50 - s.p1 {
        End::Tail
    } else {
        let mut b = round_outward(s.min - span, false, integer);
        if s.min >= 0.0 && b < 0.0 {
            b = 0.0;
        }
        End::Widened(b)
    };
    let high = if s.is_edge(s.at_max) {
        End::Edge(s.max)
    } else if tails && s.max - s.p99 > s.p99 - s.p50 {
        End::Tail
    } else {
        let mut b = round_outward(s.max + span, true, integer);
        if s.max <= 0.0 && b > 0.0 {
            b = 0.0;
        }
        End::Widened(b)
    };
    (low, high)
}

/// `x` rounded to two significant digits, up (`up`) or down; whole when `integer`.
#[must_use]
pub fn round_outward(x: f64, up: bool, integer: bool) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    #[allow(clippy::cast_possible_truncation)]
    let exp = x.abs().log10().floor() as i32 - 1;
    // The quotient snapped to 9 decimals first: 0.38 × 100 is 38.000000000000007 in binary,
    // which must not round up to 39.
    let step = |k: f64| {
        let k = (k * 1e9).round() / 1e9;
        if up {
            k.ceil()
        } else {
            k.floor()
        }
    };
    // Scaled by a power of ten held exactly (10^-exp for small numbers): 0.37 stays 0.37.
    let r = if exp >= 0 {
        let m = 10f64.powi(exp);
        step(x / m) * m
    } else {
        let m = 10f64.powi(-exp);
        step(x * m) / m
    };
    if !r.is_finite() {
        // Past the range of powers of ten (subnormal values): keep the value itself.
        return x;
    }
    // Never inward, whatever binary rounding did: a bound inside the sample would fail it.
    let r = if up { r.max(x) } else { r.min(x) };
    if integer {
        step(r)
    } else {
        r
    }
}

/// The largest null share (percent) a `nullValues` rule allows, from the observed one: twice
/// the observed rate or one point above it, whichever is more, rounded up to two significant
/// digits. `None` when that would allow every record to be null (the rule would say nothing).
#[must_use]
pub fn null_limit(observed_percent: f64) -> Option<f64> {
    let t = round_outward((observed_percent * 2.0).max(observed_percent + 1.0), true, false);
    (t < 100.0).then_some(t)
}

/// The largest share (percent) of a thing never seen in `n` records that a rule allows: the
/// "rule of three" 95 % upper bound on a rate observed as zero, 3/n, rounded up to two
/// significant digits. Used for values outside an enumeration and for duplicate keys.
#[must_use]
pub fn unseen_limit(n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let bound = 300.0 / n.max(1) as f64;
    round_outward(bound.min(100.0), true, false)
}

/// The values of an enumeration, when `counts` (value, times seen, over `n` non-null values)
/// is one: few values, enough records, each seen at least twice.
#[must_use]
pub fn enumeration(counts: &[(String, u64)], n: u64, too_many: bool) -> Option<Vec<String>> {
    let ok = !too_many && !counts.is_empty() && counts.len() <= ENUM_MAX_VALUES && n >= ENUM_MIN_RECORDS && counts.iter().all(|(_, c)| *c >= ENUM_MIN_EACH);
    ok.then(|| {
        let mut v: Vec<String> = counts.iter().map(|(s, _)| s.clone()).collect();
        v.sort();
        v
    })
}

/// Counts of the kinds of non-null JSON values a field held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    /// true/false.
    pub bools: u64,
    /// Numbers written without a fraction or exponent.
    pub ints: u64,
    /// Other numbers.
    pub floats: u64,
    /// Strings.
    pub strings: u64,
    /// Objects.
    pub objects: u64,
    /// Arrays.
    pub arrays: u64,
}

impl Kinds {
    /// Non-null values.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.bools + self.ints + self.floats + self.strings + self.objects + self.arrays
    }

    /// Counts one value (nulls are not counted here).
    pub fn count(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(_) => self.bools += 1,
            Value::Number(n) if n.is_i64() || n.is_u64() => self.ints += 1,
            Value::Number(_) => self.floats += 1,
            Value::String(_) => self.strings += 1,
            Value::Array(_) => self.arrays += 1,
            Value::Object(_) => self.objects += 1,
        }
    }

    /// The kinds seen, by name, for the evidence of a field of mixed types.
    #[must_use]
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        [("boolean", self.bools), ("integer", self.ints), ("number", self.floats), ("string", self.strings), ("object", self.objects), ("array", self.arrays)].into_iter().filter(|(_, c)| *c > 0).collect()
    }
}

/// The logical type of a field from the kinds of its values and, for strings, the one
/// string format every value fits. `None` when no values were seen or the kinds mix (other
/// than integers with fractions, which are numbers).
#[must_use]
pub fn logical_type(k: &Kinds, string_type: LogicalType) -> Option<LogicalType> {
    let numbers = k.ints + k.floats;
    let total = k.total();
    if total == 0 {
        None
    } else if k.bools == total {
        Some(LogicalType::Boolean)
    } else if k.ints == total {
        Some(LogicalType::Integer)
    } else if numbers == total {
        Some(LogicalType::Number)
    } else if k.strings == total {
        Some(string_type)
    } else if k.objects == total {
        Some(LogicalType::Object)
    } else if k.arrays == total {
        Some(LogicalType::Array)
    } else {
        None
    }
}

/// Whether a field name reads as an identifier (`id`, `order_id`, `orderId`, `key`, `uuid`):
/// such a field gets a duplicate rule when the sample has no duplicates, and no distribution.
#[must_use]
pub fn looks_like_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(lower.as_str(), "id" | "key" | "uuid" | "guid")
        || ["_id", "-id", "_key", "-key", "_uuid", "_guid"].iter().any(|s| lower.ends_with(s))
        || name.ends_with("Id")
        || name.ends_with("ID")
        || name.ends_with("Key")
        || name.ends_with("Uuid")
}

/// The type of one CSV column from its cells (as text; nulls skipped): integer when every
/// cell parses as a whole number, number when every one parses as a finite number, boolean
/// when every one is a spelling the CSV reader takes for one, text otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvColumn {
    ints: bool,
    numbers: bool,
    bools: bool,
    cells: u64,
}

impl Default for CsvColumn {
    fn default() -> Self {
        Self { ints: true, numbers: true, bools: true, cells: 0 }
    }
}

impl CsvColumn {
    /// Takes one non-null cell.
    pub fn add(&mut self, cell: &str) {
        self.cells += 1;
        if self.ints && cell.parse::<i64>().is_err() && cell.parse::<u64>().is_err() {
            self.ints = false;
        }
        if self.numbers && !cell.parse::<f64>().is_ok_and(f64::is_finite) {
            self.numbers = false;
        }
        // The spellings `contracts::decode::csv_record` reads as booleans.
        if self.bools && !matches!(cell, "true" | "TRUE" | "True" | "false" | "FALSE" | "False") {
            self.bools = false;
        }
    }

    /// The column's type; `None` (text) when no cell was seen.
    #[must_use]
    pub fn logical_type(&self) -> Option<LogicalType> {
        match self {
            Self { cells: 0, .. } => None,
            Self { ints: true, .. } => Some(LogicalType::Integer),
            Self { numbers: true, .. } => Some(LogicalType::Number),
            Self { bools: true, .. } => Some(LogicalType::Boolean),
            _ => None,
        }
    }
}
