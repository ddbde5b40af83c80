//! Date and time `format` patterns in the JDK `DateTimeFormatter` pattern language, which ODCS
//! names for the `format` of `date`, `timestamp` and `time` properties.
//!
//! A pattern compiles once into [`Pattern`]; values then parse strictly the way
//! `DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH)` parses them (field widths, adjacent
//! numbers, case-sensitive English names, offsets with their zero text), and resolve the way
//! the JDK's STRICT resolver does with `y` read as the proleptic year: a day past its month's
//! end or the hour 24 is refused, not moved. `contracts/tests/jdk_patterns.rs` holds the rows
//! that pin every letter against the JDK itself.
//!
//! Supported letters: `y u` year, `M L` month (number or English name), `d` day, `E` day of
//! week (English name), `a` AM/PM, `H k K h` hours, `m` minute, `s` second, `S` fraction,
//! `X x Z` offsets; quoted literals (`'T'`, `''` for a quote) and optional sections `[...]`.
//! Any other letter is refused when the contract is linted, with the letter named.

mod field;
mod parse;
mod print;
#[cfg(test)]
mod tests;

pub use field::TimeFormat;
pub use parse::Parsed;

use std::fmt;

/// English month names (the JDK's `Locale.ENGLISH`); the short form is the first three letters.
pub(crate) const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
/// English day names, Monday first; the short form is the first three letters.
pub(crate) const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A numeric field a pattern letter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `u`: the proleptic year.
    Year,
    /// `y`: the year of era, read as the proleptic year (patterns carry no era), so 1 or later.
    YearOfEra,
    /// `M`, `L` as numbers.
    Month,
    /// `d`.
    Day,
    /// `H`: 0–23.
    HourOfDay,
    /// `k`: 1–24.
    ClockHourOfDay,
    /// `K`: 0–11.
    HourOfAmPm,
    /// `h`: 1–12.
    ClockHourOfAmPm,
    /// `m`.
    Minute,
    /// `s`.
    Second,
}

/// A field written as an English word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    /// `MMM` (`Jan`) and `MMMM` (`January`).
    Month { full: bool },
    /// `E`…`EEE` (`Mon`) and `EEEE` (`Monday`).
    DayOfWeek { full: bool },
    /// `a`: `AM` or `PM`.
    AmPm,
}

/// How an offset is written, as the JDK's `appendOffset` patterns name them. Every style
/// starts with the sign and two hour digits; the variant names what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetStyle {
    /// `+HHmm`: hours, then minutes when not zero.
    OptMinute,
    /// `+HHMM`.
    Minute,
    /// `+HH:MM`.
    ColonMinute,
    /// `+HHMMss`: seconds when not zero.
    MinuteOptSecond,
    /// `+HH:MM:ss`.
    ColonMinuteOptSecond,
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Text that must appear as written.
    Literal(String),
    /// Digits of a field: `min..=max` of them (a fixed width when equal).
    Number { field: Field, min: usize, max: usize },
    /// `yy`: two digits, 2000–2099.
    TwoDigitYear,
    /// `S…`: exactly `width` digits of the fraction of a second.
    Fraction { width: usize },
    /// ISO's fraction: a decimal point and 1–9 digits, or nothing (the default `time` format).
    IsoFraction,
    /// A field written as a word.
    Text(Text),
    /// A zone offset; `zero` is the text that stands for +00:00 (`Z`, `+00:00`, `+0000`, …).
    Offset { style: OffsetStyle, zero: &'static str },
    /// `[...]`: parsed when it fits, skipped when it does not.
    Optional(Vec<Token>),
}

/// A compiled `format` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
    /// Literals, names and the zero offset text match in any case (only ISO's time format,
    /// as the JDK's `ISO_TIME` does).
    case_insensitive: bool,
    /// How values' zones are read.
    zone: ZoneRule,
}

/// How a value's zone is read: ODCS `timezone` and `defaultTimezone`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZoneRule {
    /// `timezone: true`: every value carries an offset; `false`: none does; absent: either.
    pub carried: Option<bool>,
    /// Where a date-time without an offset is; UTC when absent.
    pub default: Option<DefaultZone>,
}

/// A `defaultTimezone`: a fixed offset or a zone of the time-zone database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultZone {
    /// `+10:00`.
    Fixed(chrono::FixedOffset),
    /// `Australia/Sydney`: its offset follows daylight saving.
    Named(chrono_tz::Tz),
}

impl DefaultZone {
    /// Reads `+HH:MM` or a time-zone database name (`UTC`, `Europe/Oslo`).
    ///
    /// # Errors
    /// Neither an offset nor a known zone name.
    pub fn parse(s: &str) -> Result<Self, String> {
        let offset = Pattern { source: String::new(), tokens: vec![Token::Offset { style: OffsetStyle::ColonMinuteOptSecond, zero: "Z" }], case_insensitive: false, zone: ZoneRule::default() };
        if let Some(o) = offset.parse(s).and_then(|p| p.offset) {
            return Ok(Self::Fixed(o));
        }
        s.parse::<chrono_tz::Tz>().map(Self::Named).map_err(|_| format!("{s:?} is neither an offset (+10:00) nor a time-zone database name (Europe/Oslo, UTC)"))
    }
}

/// Why a value does not fit its field's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// It does not match the pattern, or names no real date or time.
    Format,
    /// `timezone: true`, and it carries no offset.
    ZoneMissing,
    /// `timezone: false`, and it carries one.
    ZoneCarried,
}

/// Why a pattern does not compile: the character index into the pattern and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at index {index}: {message}")]
pub struct PatternError {
    /// 0-based index of the offending character.
    pub index: usize,
    /// What is wrong, naming the letter.
    pub message: String,
}

/// Letters of the JDK's language the gate does not read, with their meaning, for the error.
const UNSUPPORTED: &[(char, &str)] = &[
    ('G', "era"),
    ('Q', "quarter"),
    ('q', "quarter"),
    ('Y', "week-based year"),
    ('w', "week of week-based year"),
    ('W', "week of month"),
    ('D', "day of year"),
    ('F', "aligned day of week in month"),
    ('e', "localized day of week"),
    ('c', "localized day of week"),
    ('g', "modified Julian day"),
    ('B', "period of day"),
    ('n', "nano of second"),
    ('N', "nano of day"),
    ('A', "milli of day"),
    ('V', "time-zone id"),
    ('v', "generic time-zone name"),
    ('z', "time-zone name"),
    ('O', "localized offset"),
];

/// What the error lists as readable.
pub const SUPPORTED: &str = "y u M L d E a H k K h m s S X x Z, 'quoted' literals and [optional] sections";

impl Pattern {
    /// Compiles a JDK `DateTimeFormatter` pattern.
    ///
    /// # Errors
    /// A letter outside [`SUPPORTED`], a letter repeated more often than the JDK allows, an
    /// unterminated quote, an unbalanced `]`, or a reserved character (`#`, `{`, `}`).
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut root: Vec<Token> = Vec::new();
        // Open optional sections: where each opened, and what it holds so far.
        let mut open: Vec<(usize, Vec<Token>)> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|x| **x == c).count();
            let err = |message: String| PatternError { index: i, message };
            let token = match c {
                '\'' => {
                    let rest = &chars[i + 1..];
                    let mut text = String::new();
                    let mut j = 0;
                    loop {
                        match rest.get(j) {
                            None => return Err(err("unterminated quote".into())),
                            Some('\'') if rest.get(j + 1) == Some(&'\'') => {
                                text.push('\'');
                                j += 2;
                            }
                            Some('\'') => break,
                            Some(ch) => {
                                text.push(*ch);
                                j += 1;
                            }
                        }
                    }
                    i += j + 2;
                    // `''` on its own is one quote.
                    push_literal(current(&mut root, &mut open), if j == 0 { "'" } else { &text });
                    continue;
                }
                '[' => {
                    open.push((i, Vec::new()));
                    i += 1;
                    continue;
                }
                ']' => {
                    let Some((_, inner)) = open.pop() else {
                        return Err(err("']' closes no optional section".into()));
                    };
                    current(&mut root, &mut open).push(Token::Optional(inner));
                    i += 1;
                    continue;
                }
                '#' | '{' | '}' => return Err(err(format!("{c:?} is reserved in the pattern language; quote it to write it"))),
                c if c.is_ascii_alphabetic() => letter(c, run).map_err(err)?,
                c => {
                    let s: String = std::iter::repeat_n(c, run).collect();
                    push_literal(current(&mut root, &mut open), &s);
                    i += run;
                    continue;
                }
            };
            current(&mut root, &mut open).push(token);
            i += run;
        }
        if let Some((at, _)) = open.last() {
            return Err(PatternError { index: *at, message: "'[' opens an optional section no ']' closes".into() });
        }
        Ok(Self { source: pattern.to_string(), tokens: root, case_insensitive: false, zone: ZoneRule::default() })
    }

    /// ISO local time with an optional offset — `HH:mm[:ss[.fraction]][offset]`, the JDK's
    /// `ISO_TIME` — the format of a `time` property that names none.
    #[must_use]
    pub fn iso_time() -> Self {
        let two = |field| Token::Number { field, min: 2, max: 2 };
        let lit = |s: &str| Token::Literal(s.to_string());
        let tokens = vec![
            two(Field::HourOfDay),
            lit(":"),
            two(Field::Minute),
            Token::Optional(vec![lit(":"), two(Field::Second), Token::IsoFraction]),
            Token::Optional(vec![Token::Offset { style: OffsetStyle::ColonMinuteOptSecond, zero: "Z" }]),
        ];
        Self { source: "HH:mm[:ss[.fraction]][XXXXX]".into(), tokens, case_insensitive: true, zone: ZoneRule::default() }
    }

    /// This pattern with `timezone` and `defaultTimezone` applied.
    #[must_use]
    pub fn with_zone(mut self, zone: ZoneRule) -> Self {
        self.zone = zone;
        self
    }

    /// The zone rule in force.
    #[must_use]
    pub fn zone(&self) -> &ZoneRule {
        &self.zone
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern writes a year (a date or timestamp pattern without one cannot place
    /// a value in time).
    #[must_use]
    pub fn has_year(&self) -> bool {
        any(&self.tokens, &|t| matches!(t, Token::Number { field: Field::Year | Field::YearOfEra, .. } | Token::TwoDigitYear))
    }

    /// Whether the pattern writes an hour.
    #[must_use]
    pub fn has_time(&self) -> bool {
        any(&self.tokens, &|t| matches!(t, Token::Number { field: Field::HourOfDay | Field::ClockHourOfDay | Field::HourOfAmPm | Field::ClockHourOfAmPm, .. }))
    }

    /// Whether the pattern writes an offset.
    #[must_use]
    pub fn has_offset(&self) -> bool {
        any(&self.tokens, &|t| matches!(t, Token::Offset { .. }))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn any(tokens: &[Token], pred: &dyn Fn(&Token) -> bool) -> bool {
    tokens.iter().any(|t| match t {
        Token::Optional(inner) => any(inner, pred),
        t => pred(t),
    })
}

/// The innermost open level: the last optional section, or the pattern itself.
fn current<'a>(root: &'a mut Vec<Token>, open: &'a mut [(usize, Vec<Token>)]) -> &'a mut Vec<Token> {
    match open.last_mut() {
        Some(level) => &mut level.1,
        None => root,
    }
}

fn push_literal(tokens: &mut Vec<Token>, s: &str) {
    if let Some(Token::Literal(prev)) = tokens.last_mut() {
        prev.push_str(s);
    } else {
        tokens.push(Token::Literal(s.to_string()));
    }
}

/// The token for `run` repetitions of the letter `c`, as the JDK's `appendPattern` reads them.
fn letter(c: char, run: usize) -> Result<Token, String> {
    let too_many = || format!("too many pattern letters: {} ({c:?} allows at most {})", std::iter::repeat_n(c, run).collect::<String>(), max_run(c));
    let number = |field, run: usize| match run {
        1 => Ok(Token::Number { field, min: 1, max: 19 }),
        2 => Ok(Token::Number { field, min: 2, max: 2 }),
        _ => Err(too_many()),
    };
    let offset = |zero_x: bool, run: usize| {
        let style = match run {
            1 => OffsetStyle::OptMinute,
            2 => OffsetStyle::Minute,
            3 => OffsetStyle::ColonMinute,
            4 => OffsetStyle::MinuteOptSecond,
            5 => OffsetStyle::ColonMinuteOptSecond,
            _ => return Err(too_many()),
        };
        let zero = if zero_x {
            "Z"
        } else {
            match run {
                1 => "+00",
                2 | 4 => "+0000",
                _ => "+00:00",
            }
        };
        Ok(Token::Offset { style, zero })
    };
    match c {
        'y' | 'u' => {
            let field = if c == 'y' { Field::YearOfEra } else { Field::Year };
            Ok(match run {
                2 => Token::TwoDigitYear,
                1 => Token::Number { field, min: 1, max: 19 },
                3 => Token::Number { field, min: 3, max: 19 },
                // Four or more: that many digits; more would need a sign (the JDK's
                // EXCEEDS_PAD), which the gate does not read.
                n => Token::Number { field, min: n, max: n },
            })
        }
        'M' | 'L' => match run {
            1 | 2 => number(Field::Month, run),
            3 => Ok(Token::Text(Text::Month { full: false })),
            4 => Ok(Token::Text(Text::Month { full: true })),
            5 => Err(format!("{c}{c}{c}{c}{c} (narrow month, one letter) cannot be read back unambiguously; use MMM or MMMM")),
            _ => Err(too_many()),
        },
        'd' => number(Field::Day, run),
        'H' => number(Field::HourOfDay, run),
        'k' => number(Field::ClockHourOfDay, run),
        'K' => number(Field::HourOfAmPm, run),
        'h' => number(Field::ClockHourOfAmPm, run),
        'm' => number(Field::Minute, run),
        's' => number(Field::Second, run),
        'S' if run <= 9 => Ok(Token::Fraction { width: run }),
        'S' => Err(too_many()),
        'a' if run == 1 => Ok(Token::Text(Text::AmPm)),
        'a' => Err(too_many()),
        'E' => match run {
            1..=3 => Ok(Token::Text(Text::DayOfWeek { full: false })),
            4 => Ok(Token::Text(Text::DayOfWeek { full: true })),
            5 => Err("EEEEE (narrow day of week, one letter) cannot be read back unambiguously; use EEE or EEEE".into()),
            _ => Err(too_many()),
        },
        'X' => offset(true, run),
        'x' => offset(false, run),
        'Z' => match run {
            1..=3 => Ok(Token::Offset { style: OffsetStyle::Minute, zero: "+0000" }),
            4 => Err("ZZZZ (localized offset, GMT+08:00) is not supported; use XXX".into()),
            5 => Ok(Token::Offset { style: OffsetStyle::ColonMinuteOptSecond, zero: "Z" }),
            _ => Err(too_many()),
        },
        c => Err(match UNSUPPORTED.iter().find(|(l, _)| *l == c) {
            Some((_, what)) => format!("pattern letter {c:?} ({what}) is not supported; supported: {SUPPORTED}"),
            None => format!("{c:?} is not a pattern letter; quote literal text ('{c}'); supported: {SUPPORTED}"),
        }),
    }
}

fn max_run(c: char) -> usize {
    match c {
        'S' => 9,
        'a' => 1,
        'M' | 'L' | 'E' | 'X' | 'x' | 'Z' => 5,
        _ => 2,
    }
}
