//! Writing an instant with a compiled pattern (Avro timestamps become strings in the
//! contract's own format before they are checked).

use super::{Field, Pattern, Text, Token, DAYS, MONTHS};
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::fmt::Write;

impl Pattern {
    /// `at` written in this pattern, in UTC (offsets print as their zero text); `None` when a
    /// field cannot be written in the width the pattern fixes (a year past 9999 in `yyyy`).
    #[must_use]
    pub fn format(&self, at: &DateTime<Utc>) -> Option<String> {
        let mut out = String::new();
        write_tokens(&self.tokens, at, &mut out)?;
        Some(out)
    }
}

fn write_tokens(tokens: &[Token], at: &DateTime<Utc>, out: &mut String) -> Option<()> {
    for t in tokens {
        match t {
            Token::Literal(s) => out.push_str(s),
            Token::Number { field, min, max } => {
                let v: i64 = match field {
                    Field::Year | Field::YearOfEra => i64::from(at.year()),
                    Field::Month => i64::from(at.month()),
                    Field::Day => i64::from(at.day()),
                    Field::HourOfDay => i64::from(at.hour()),
                    Field::ClockHourOfDay => i64::from(if at.hour() == 0 { 24 } else { at.hour() }),
                    Field::HourOfAmPm => i64::from(at.hour() % 12),
                    Field::ClockHourOfAmPm => i64::from(if at.hour().is_multiple_of(12) { 12 } else { at.hour() % 12 }),
                    Field::Minute => i64::from(at.minute()),
                    Field::Second => i64::from(at.second()),
                };
                if v < 0 {
                    return None;
                }
                let s = format!("{v:0min$}");
                if s.len() > *max {
                    return None;
                }
                out.push_str(&s);
            }
            Token::TwoDigitYear => write!(out, "{:02}", at.year().rem_euclid(100)).ok()?,
            Token::Fraction { width } => {
                let nanos = format!("{:09}", at.nanosecond() % 1_000_000_000);
                out.push_str(nanos.get(..*width)?);
            }
            Token::IsoFraction => {
                let n = at.nanosecond() % 1_000_000_000;
                if n != 0 {
                    let s = format!("{n:09}");
                    write!(out, ".{}", s.trim_end_matches('0')).ok()?;
                }
            }
            Token::Text(Text::Month { full }) => {
                let name = MONTHS.get(at.month0() as usize)?;
                out.push_str(if *full { name } else { name.get(..3)? });
            }
            Token::Text(Text::DayOfWeek { full }) => {
                let name = DAYS.get(at.weekday().num_days_from_monday() as usize)?;
                out.push_str(if *full { name } else { name.get(..3)? });
            }
            Token::Text(Text::AmPm) => out.push_str(if at.hour() < 12 { "AM" } else { "PM" }),
            // The instant is in UTC: every style writes its zero text.
            Token::Offset { zero, .. } => out.push_str(zero),
            Token::Optional(inner) => write_tokens(inner, at, out)?,
        }
    }
    Some(())
}
