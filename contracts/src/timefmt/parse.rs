//! Reading a value with a compiled pattern, then resolving the fields read into a date, a time
//! and an offset.

use super::{DefaultZone, Field, Misfit, OffsetStyle, Pattern, Text, Token, DAYS, MONTHS};
use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

/// What a value resolved to. A pattern that writes neither a whole date nor a whole time (`yyyy-MM`,
/// `hh:mm` without `a`) yields neither; the value still fits the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The date, when year, month and day were all read.
    pub date: Option<NaiveDate>,
    /// The time of day, when the hour (and what it needs) was read.
    pub time: Option<NaiveTime>,
    /// The offset, when the pattern writes one.
    pub offset: Option<FixedOffset>,
    /// Year and month read without a whole date, for placing a partial value in time.
    partial: (Option<i64>, Option<u32>),
}

impl Parsed {
    /// Milliseconds since the epoch of the instant the value names, UTC where it carries no
    /// offset. A time without a date counts from midnight; a partial date takes the first
    /// month and day it leaves open.
    #[must_use]
    pub fn epoch_ms(&self) -> i64 {
        let date = self.date.or_else(|| {
            let (y, m) = self.partial;
            NaiveDate::from_ymd_opt(i32::try_from(y.unwrap_or(1970)).ok()?, m.unwrap_or(1), 1)
        });
        let time = self.time.unwrap_or(NaiveTime::MIN);
        match date {
            Some(d) => NaiveDateTime::new(d, time).and_utc().timestamp_millis() - self.offset.map_or(0, |o| i64::from(o.local_minus_utc()) * 1000),
            // A time of day alone compares as written: wall-clock times are what a range of
            // them (`minimum: "09:00:00"`) means, so its offset does not shift it.
            None => (time - NaiveTime::MIN).num_milliseconds(),
        }
    }
}

/// Fields read so far; reading one twice with different values is a conflict.
#[derive(Debug, Clone, Copy, Default)]
struct Raw {
    year: Option<i64>,
    year_of_era: bool,
    month: Option<i64>,
    day: Option<i64>,
    hour_of_day: Option<i64>,
    clock_hour_of_day: Option<i64>,
    hour_of_am_pm: Option<i64>,
    clock_hour_of_am_pm: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
    am_pm: Option<i64>,
    day_of_week: Option<i64>,
    offset: Option<i64>,
}

fn set(slot: &mut Option<i64>, v: i64) -> Option<()> {
    match *slot {
        Some(old) if old != v => None,
        _ => {
            *slot = Some(v);
            Some(())
        }
    }
}

impl Pattern {
    /// Reads `value` whole; `None` when it does not fit the pattern or names no real date or
    /// time (31 April, 25:00, a weekday that is not the date's).
    #[must_use]
    pub fn parse(&self, value: &str) -> Option<Parsed> {
        let mut raw = Raw::default();
        let end = read(&self.tokens, value, 0, &mut raw, self.case_insensitive)?;
        if end != value.len() {
            return None;
        }
        resolve(&raw)
    }
}

impl Pattern {
    /// Reads `value` as a field value: ms since the epoch, a date-time without an offset placed
    /// in the default zone (UTC unless `defaultTimezone` says otherwise), a time of day as ms
    /// since midnight.
    ///
    /// # Errors
    /// The [`Misfit`]: the value does not fit, or its offset is missing or present against
    /// `timezone`.
    pub fn read(&self, value: &str) -> Result<i64, Misfit> {
        let p = self.parse(value).ok_or(Misfit::Format)?;
        match (self.zone.carried, p.offset.is_some()) {
            (Some(true), false) => return Err(Misfit::ZoneMissing),
            (Some(false), true) => return Err(Misfit::ZoneCarried),
            _ => {}
        }
        let ms = p.epoch_ms();
        let dated = p.date.is_some() || p.partial.0.is_some();
        match (self.zone.default, p.offset, dated) {
            (Some(zone), None, true) => Ok(in_zone(ms, zone).unwrap_or(ms)),
            _ => Ok(ms),
        }
    }
}

/// `local_ms` (a wall-clock time counted as if UTC) as the instant it is in `zone`. A time a
/// daylight-saving change skips counts from the hour after; one it repeats, at its first.
fn in_zone(local_ms: i64, zone: DefaultZone) -> Option<i64> {
    use chrono::TimeZone;
    match zone {
        DefaultZone::Fixed(o) => Some(local_ms - i64::from(o.local_minus_utc()) * 1000),
        DefaultZone::Named(tz) => {
            let local = chrono::DateTime::from_timestamp_millis(local_ms)?.naive_utc();
            tz.from_local_datetime(&local)
                .earliest()
                .or_else(|| tz.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
                .map(|d| d.timestamp_millis())
        }
    }
}

/// Reads `tokens` from byte `pos`; the position after them, or `None`.
fn read(tokens: &[Token], text: &str, mut pos: usize, raw: &mut Raw, ci: bool) -> Option<usize> {
    for (i, t) in tokens.iter().enumerate() {
        pos = match t {
            Token::Literal(s) => {
                let rest = text.get(pos..)?;
                let head = rest.get(..s.len())?;
                if head == s || (ci && head.eq_ignore_ascii_case(s)) {
                    pos + s.len()
                } else {
                    return None;
                }
            }
            Token::Number { field, min, max } => {
                // A variable width leaves the digits the fixed-width numbers right after it
                // need, as the JDK's adjacent value parsing does (`yyyyMMdd`).
                let reserve = if min == max { 0 } else { adjacent_width(&tokens[i + 1..]) };
                let avail = digits(text, pos, max + reserve);
                let take = avail.saturating_sub(reserve).max(*min).min(*max);
                if take > avail || take == 0 {
                    return None;
                }
                let v = number(text.get(pos..pos + take)?)?;
                store(raw, *field, v)?;
                pos + take
            }
            Token::TwoDigitYear => {
                if digits(text, pos, 2) != 2 {
                    return None;
                }
                set(&mut raw.year, 2000 + number(text.get(pos..pos + 2)?)?)?;
                pos + 2
            }
            Token::Fraction { width } => {
                if digits(text, pos, *width) != *width {
                    return None;
                }
                set(&mut raw.nano, scale_nanos(text.get(pos..pos + width)?)?)?;
                pos + width
            }
            Token::IsoFraction => {
                if text.as_bytes().get(pos) == Some(&b'.') {
                    let n = digits(text, pos + 1, 9);
                    set(&mut raw.nano, if n == 0 { 0 } else { scale_nanos(text.get(pos + 1..pos + 1 + n)?)? })?;
                    pos + 1 + n
                } else {
                    pos
                }
            }
            Token::Text(kind) => {
                let rest = text.get(pos..)?;
                let (names, slot): (Vec<String>, &mut Option<i64>) = match kind {
                    Text::Month { full } => (MONTHS.iter().map(|m| if *full { (*m).to_string() } else { m[..3].to_string() }).collect(), &mut raw.month),
                    Text::DayOfWeek { full } => (DAYS.iter().map(|d| if *full { (*d).to_string() } else { d[..3].to_string() }).collect(), &mut raw.day_of_week),
                    Text::AmPm => (vec!["AM".into(), "PM".into()], &mut raw.am_pm),
                };
                // The longest name that matches wins.
                let hit = names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| rest.get(..n.len()).is_some_and(|h| h == n.as_str() || (ci && h.eq_ignore_ascii_case(n))))
                    .max_by_key(|(_, n)| n.len())?;
                let v = i64::try_from(hit.0).ok()? + i64::from(!matches!(kind, Text::AmPm));
                set(slot, v)?;
                pos + hit.1.len()
            }
            Token::Offset { style, zero } => {
                let rest = text.get(pos..)?;
                let zero_hit = rest.get(..zero.len()).is_some_and(|h| h == *zero || (ci && h.eq_ignore_ascii_case(zero)));
                if zero_hit {
                    set(&mut raw.offset, 0)?;
                    pos + zero.len()
                } else {
                    let (secs, used) = offset(rest, *style)?;
                    set(&mut raw.offset, secs)?;
                    pos + used
                }
            }
            Token::Optional(inner) => {
                let mut attempt = *raw;
                match read(inner, text, pos, &mut attempt, ci) {
                    Some(p) => {
                        *raw = attempt;
                        p
                    }
                    None => pos,
                }
            }
        };
    }
    Some(pos)
}

/// Digits the fixed-width numbers directly after a variable-width one take.
fn adjacent_width(rest: &[Token]) -> usize {
    let mut w = 0;
    for t in rest {
        w += match t {
            Token::Number { min, max, .. } if min == max => *min,
            Token::TwoDigitYear => 2,
            Token::Fraction { width } => *width,
            _ => break,
        };
    }
    w
}

/// ASCII digits at `pos`, at most `max`.
fn digits(text: &str, pos: usize, max: usize) -> usize {
    text.as_bytes().get(pos..).map_or(0, |b| b.iter().take(max).take_while(|c| c.is_ascii_digit()).count())
}

/// Up to 19 ASCII digits as a number (`None` past `i64`, which no field takes anyway).
fn number(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// 1–9 fraction digits as nanoseconds.
fn scale_nanos(s: &str) -> Option<i64> {
    let n = number(s)?;
    let width = u32::try_from(s.len()).ok().filter(|w| *w <= 9)?;
    Some(n * 10_i64.pow(9 - width))
}

fn store(raw: &mut Raw, field: Field, v: i64) -> Option<()> {
    let slot = match field {
        Field::Year => &mut raw.year,
        Field::YearOfEra => {
            raw.year_of_era = true;
            &mut raw.year
        }
        Field::Month => &mut raw.month,
        Field::Day => &mut raw.day,
        Field::HourOfDay => &mut raw.hour_of_day,
        Field::ClockHourOfDay => &mut raw.clock_hour_of_day,
        Field::HourOfAmPm => &mut raw.hour_of_am_pm,
        Field::ClockHourOfAmPm => &mut raw.clock_hour_of_am_pm,
        Field::Minute => &mut raw.minute,
        Field::Second => &mut raw.second,
    };
    set(slot, v)
}

/// A signed offset in `style` at the start of `s`: (seconds, bytes used).
fn offset(s: &str, style: OffsetStyle) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |at: usize| -> Option<i64> {
        let d = b.get(at..at + 2)?;
        d.iter().all(u8::is_ascii_digit).then(|| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
    };
    let colon = matches!(style, OffsetStyle::ColonMinute | OffsetStyle::ColonMinuteOptSecond);
    // One more two-digit part, preceded by a colon in the colon styles.
    let part = |at: usize| -> Option<(i64, usize)> {
        if colon {
            (b.get(at) == Some(&b':')).then_some(())?;
            Some((two(at + 1)?, at + 3))
        } else {
            Some((two(at)?, at + 2))
        }
    };
    let hours = two(1)?;
    let mut at = 3;
    let mut minutes = 0;
    let mut seconds = 0;
    let minute_needed = !matches!(style, OffsetStyle::OptMinute);
    match part(at) {
        Some((m, next)) if m <= 59 => {
            minutes = m;
            at = next;
            if matches!(style, OffsetStyle::MinuteOptSecond | OffsetStyle::ColonMinuteOptSecond) {
                if let Some((sec, next)) = part(at).filter(|(sec, _)| *sec <= 59) {
                    seconds = sec;
                    at = next;
                }
            }
        }
        _ if minute_needed => return None,
        _ => {}
    }
    let total = hours * 3600 + minutes * 60 + seconds;
    // ZoneOffset's range: ±18:00.
    (hours <= 23 && total <= 18 * 3600).then_some((sign * total, at))
}

fn in_range(v: Option<i64>, lo: i64, hi: i64) -> Option<()> {
    v.is_none_or(|v| (lo..=hi).contains(&v)).then_some(())
}

/// Strict resolution: every field in its range, a date only when it exists, fields that
/// say the same thing twice agreeing.
fn resolve(r: &Raw) -> Option<Parsed> {
    in_range(r.month, 1, 12)?;
    in_range(r.day, 1, 31)?;
    in_range(r.hour_of_day, 0, 23)?;
    in_range(r.clock_hour_of_day, 1, 24)?;
    in_range(r.hour_of_am_pm, 0, 11)?;
    in_range(r.clock_hour_of_am_pm, 1, 12)?;
    in_range(r.minute, 0, 59)?;
    in_range(r.second, 0, 59)?;
    if r.year_of_era {
        in_range(r.year, 1, i64::MAX)?;
    }
    let date = match (r.year, r.month, r.day) {
        (Some(y), Some(m), Some(d)) => Some(NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(m).ok()?, u32::try_from(d).ok()?)?),
        _ => None,
    };
    if let (Some(d), Some(dow)) = (date, r.day_of_week) {
        (i64::from(d.weekday().number_from_monday()) == dow).then_some(())?;
    }
    let mut hour = r.hour_of_day;
    if let Some(k) = r.clock_hour_of_day {
        set(&mut hour, k % 24)?;
    }
    let mut hour_of_am_pm = r.hour_of_am_pm;
    if let Some(h) = r.clock_hour_of_am_pm {
        set(&mut hour_of_am_pm, h % 12)?;
    }
    match (r.am_pm, hour_of_am_pm, hour) {
        (Some(ap), Some(h), _) => set(&mut hour, ap * 12 + h)?,
        (Some(ap), None, Some(h)) => (h / 12 == ap).then_some(())?,
        _ => {}
    }
    let time = match (hour, r.minute, r.second, r.nano) {
        (Some(h), None, None, None) => NaiveTime::from_hms_opt(u32::try_from(h).ok()?, 0, 0),
        (Some(h), Some(m), None, None) => NaiveTime::from_hms_opt(u32::try_from(h).ok()?, u32::try_from(m).ok()?, 0),
        (Some(h), Some(m), Some(s), n) => NaiveTime::from_hms_nano_opt(u32::try_from(h).ok()?, u32::try_from(m).ok()?, u32::try_from(s).ok()?, u32::try_from(n.unwrap_or(0)).ok()?),
        _ => None,
    };
    let offset = match r.offset {
        Some(s) => Some(FixedOffset::east_opt(i32::try_from(s).ok()?)?),
        None => None,
    };
    Some(Parsed { date, time, offset, partial: (r.year, r.month.and_then(|m| u32::try_from(m).ok())) })
}
