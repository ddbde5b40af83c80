use super::Pattern;
use chrono::{TimeZone, Utc};

#[test]
fn printing_table() {
    let at = Utc.with_ymd_and_hms(2024, 7, 3, 20, 5, 9).single().expect("instant") + chrono::Duration::milliseconds(42);
    let cases: &[(&str, &str)] = &[
        ("yyyy-MM-dd", "2024-07-03"),
        ("d/M/yy", "3/7/24"),
        ("dd-MMM-yyyy", "03-Jul-2024"),
        ("EEEE, d MMMM uuuu", "Wednesday, 3 July 2024"),
        ("hh:mm a", "08:05 PM"),
        ("K:mm a", "8:05 PM"),
        ("kk:mm:ss.SSS", "20:05:09.042"),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "2024-07-03T20:05:09Z"),
        ("yyyy-MM-dd HH:mm:ssZ", "2024-07-03 20:05:09+0000"),
        ("yyyy-MM-dd HH:mmxxx", "2024-07-03 20:05+00:00"),
        ("'at' HH 'o''clock'", "at 20 o'clock"),
        ("yyyyMMdd[HHmm]", "202407032005"),
    ];
    for (p, want) in cases {
        let pattern = Pattern::compile(p).expect("compiles");
        let text = pattern.format(&at);
        assert_eq!(text.as_deref(), Some(*want), "{p}");
        // What the gate writes, it reads back.
        assert!(pattern.parse(want).is_some(), "{p} does not read {want:?}");
    }
    assert_eq!(Pattern::iso_time().format(&at).as_deref(), Some("20:05:09.042Z"));
}

#[test]
fn a_year_past_the_width_is_not_written() {
    let far = Utc.with_ymd_and_hms(12024, 1, 1, 0, 0, 0).single().expect("instant");
    assert_eq!(Pattern::compile("yyyy-MM-dd").expect("compiles").format(&far), None);
}

/// (pattern, index of the error, part of the message)
#[test]
fn pattern_errors_table() {
    let cases: &[(&str, usize, &str)] = &[
        ("yyyy-MM-dd z", 11, "'z' (time-zone name)"),
        ("yyyy-MM-dd'T", 10, "unterminated quote"),
        ("yyyy]", 4, "closes no optional section"),
        ("yyyy[MM", 4, "no ']' closes"),
        ("HHH", 0, "too many pattern letters: HHH"),
        ("MMMMM", 0, "narrow month"),
        ("ZZZZ", 0, "localized offset"),
        ("yyyy{", 4, "reserved"),
        ("yyyy-MM-dd T", 11, "'T' is not a pattern letter"),
        ("SSSSSSSSSS", 0, "too many pattern letters"),
    ];
    for (p, index, msg) in cases {
        let e = Pattern::compile(p).expect_err(p);
        assert_eq!(e.index, *index, "{p}: {e}");
        assert!(e.message.contains(msg), "{p}: {e}");
    }
}
