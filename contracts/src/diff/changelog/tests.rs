use super::*;

const OLD: &str = include_str!("../../../tests/fixtures/changelog/old.yaml");
const NEW: &str = include_str!("../../../tests/fixtures/changelog/new.yaml");
const GOLDEN: &str = "tests/fixtures/changelog/expected.md";

fn contract(text: &str) -> Contract {
    crate::parse(text).expect("fixture parses")
}

/// The changelog of the fixture pair is the committed one. `UPDATE_GOLDEN=1` rewrites it
/// (review the diff before committing).
#[test]
fn changelog_matches_the_golden_file() {
    let got = markdown(&contract(OLD), &contract(NEW));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("writing the golden file");
    }
    let want = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(got, want, "changelog differs from {GOLDEN}; UPDATE_GOLDEN=1 rewrites it");
    // Rendering twice gives the same text.
    assert_eq!(got, markdown(&contract(OLD), &contract(NEW)));
}

/// Each part of the contract lands in its section.
#[test]
fn sections_hold_their_changes() {
    let got = markdown(&contract(OLD), &contract(NEW));
    let section = |title: &str| -> String {
        let start = got.find(&format!("### {title}\n")).unwrap_or_else(|| panic!("no section {title} in\n{got}"));
        let rest = &got[start + 4..];
        rest[..rest.find("\n### ").unwrap_or(rest.len())].to_string()
    };
    let cases = [
        ("Schema objects", "`cancellations`"),
        ("Properties", "`departures.gate`"),
        ("Properties", "`departures.terminal`"),
        ("Types", "`departures.dep_delay.logicalType`"),
        ("Constraints", "`departures.flight.logicalTypeOptions.maximum`"),
        ("Constraints", "{BREAKING} `departures.carrier.logicalTypeOptions.pattern`"),
        ("Quality rules", "{BREAKING} `departures.origin.quality[origin_nyc].arguments.validValues`"),
        ("Quality rules", "`departures.dep_delay.quality[dep_delay_nulls].threshold`"),
        ("Quality rules", "`departures.quality[departures_rows]`"),
        ("SLAs", "{BREAKING} `departures.time_hour.quality[time_hour.latency].threshold`"),
    ];
    for (title, needle) in cases {
        let needle = needle.replace("{BREAKING}", BREAKING);
        assert!(section(title).contains(&needle), "{title} lacks {needle}:\n{got}");
    }
}

/// The line under the title says whether the version number lets the changes in.
#[test]
fn verdict_lines() {
    let old = contract(OLD);
    let with_version = |text: &str, v: &str| contract(&text.replacen("version: 2.0.0", &format!("version: {v}"), 1).replacen("version: 1.4.0", &format!("version: {v}"), 1));
    let cases = [
        (contract(OLD), with_version(OLD, "1.4.1"), "No changes to"),
        (contract(OLD), with_version(&OLD.replacen("      - name: gate\n", "      - name: note\n        logicalType: string\n      - name: gate\n", 1), "1.5.0"), "1 change, none breaking."),
        (contract(OLD), with_version(NEW, "1.5.0"), "is not a major version bump over 1.4.0: the registry refuses"),
        (old, contract(NEW), "2.0.0 is a major version bump over 1.4.0"),
    ];
    for (a, b, want) in cases {
        let got = markdown(&a, &b);
        assert!(got.lines().nth(2).is_some_and(|l| l.contains(want)), "want {want:?} in:\n{got}");
    }
}
