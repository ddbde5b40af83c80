//! How a `date`, `timestamp` or `time` property is written: its `format` pattern, or the
//! default the gate documents for the type.

use super::{DefaultZone, Misfit, Pattern, PatternError, ZoneRule};
use crate::model::{LogicalType, Property};
use chrono::{DateTime, NaiveDate};
use std::fmt;
use std::sync::Arc;

/// How a date, timestamp or time field is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `date` without a format: `YYYY-MM-DD` (RFC 3339 full-date).
    Date,
    /// `timestamp` without a format: RFC 3339 date-time, offset required.
    Rfc3339,
    /// A `format` pattern (JDK `DateTimeFormatter` language), or for `time` without one the
    /// ISO time of day ([`Pattern::iso_time`]).
    Pattern(Arc<Pattern>),
}

impl TimeFormat {
    /// Compiles a `format` pattern.
    ///
    /// # Errors
    /// When the pattern does not compile (see [`Pattern::compile`]).
    pub fn from_pattern(p: &str) -> Result<Self, PatternError> {
        Pattern::compile(p).map(|p| Self::Pattern(Arc::new(p)))
    }

    /// Parses a value into ms since the epoch (in the default zone where it carries no
    /// offset; for a time of day, ms since midnight); `None` when it does not fit.
    #[must_use]
    pub fn parse(&self, s: &str) -> Option<i64> {
        self.read(s).ok()
    }

    /// Like [`TimeFormat::parse`], saying why a value does not fit.
    ///
    /// # Errors
    /// The [`Misfit`].
    pub fn read(&self, s: &str) -> Result<i64, Misfit> {
        match self {
            Self::Date => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc().timestamp_millis()).ok_or(Misfit::Format),
            Self::Rfc3339 => DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_millis()).map_err(|_| Misfit::Format),
            Self::Pattern(p) => p.read(s),
        }
    }

    /// The property's `timezone` and `defaultTimezone`.
    ///
    /// # Errors
    /// A `defaultTimezone` that is neither an offset nor a known zone.
    pub fn zone_rule(p: &Property) -> Result<ZoneRule, String> {
        let Some(o) = &p.logical_type_options else { return Ok(ZoneRule::default()) };
        let default = o.default_timezone.as_deref().map(DefaultZone::parse).transpose()?;
        Ok(ZoneRule { carried: o.timezone, default })
    }

    /// A compiled pattern with the property's zone rule.
    #[must_use]
    pub fn pattern(pattern: Pattern, zone: ZoneRule) -> Self {
        Self::Pattern(Arc::new(pattern.with_zone(zone)))
    }

    /// The format of a `time` property that names none: ISO time of day.
    #[must_use]
    pub fn of_time_default() -> Self {
        Self::Pattern(Arc::new(Pattern::iso_time()))
    }

    /// Whether values carry no time of day (a date pattern, or the default date).
    #[must_use]
    pub fn date_only(&self) -> bool {
        match self {
            Self::Date => true,
            Self::Rfc3339 => false,
            Self::Pattern(p) => !p.has_time(),
        }
    }

    /// Whether values are times of day (a pattern without a year: a `time` property's).
    #[must_use]
    pub fn time_of_day(&self) -> bool {
        matches!(self, Self::Pattern(p) if !p.has_year())
    }

    /// The format of a date, timestamp or time property; `None` for other types or patterns
    /// that do not compile (lint reports those).
    #[must_use]
    pub fn of(p: &Property) -> Option<Self> {
        let custom = p.logical_type_options.as_ref().and_then(|o| o.format.as_deref());
        match (p.logical_type, custom) {
            (Some(LogicalType::Date | LogicalType::Timestamp | LogicalType::Time), Some(f)) => Pattern::compile(f).ok().map(|pat| Self::pattern(pat, Self::zone_rule(p).unwrap_or_default())),
            (Some(LogicalType::Date), None) => Some(Self::Date),
            (Some(LogicalType::Timestamp), None) => Some(Self::Rfc3339),
            (Some(LogicalType::Time), None) => Some(Self::pattern(Pattern::iso_time(), Self::zone_rule(p).unwrap_or_default())),
            _ => None,
        }
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Date => f.write_str("YYYY-MM-DD"),
            Self::Rfc3339 => f.write_str("RFC 3339"),
            Self::Pattern(p) => write!(f, "{p}"),
        }
    }
}
