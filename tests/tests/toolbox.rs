//! The everyday verbs through the built binary, offline (no Kafka, Redis or registry):
//! `contracts diff OLD NEW` on the breaking-change fixtures and the registry's own versions
//! of the flights contract, `contracts changelog` against its golden file, `config validate`,
//! completions, man pages, `--help` and `--version`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = include_str!("../../contracts/tests/fixtures/diff_cases.yaml");
const CHANGELOG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/tests/fixtures/changelog");

#[derive(serde::Deserialize)]
struct Fixtures {
    base: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    replace: String,
    with: String,
    kind: String,
    path: String,
    breaking: bool,
}

fn run(args: &[&str]) -> anyhow::Result<Output> {
    let bin = e2e::gate_binary()?;
    Ok(Command::new(bin).args(args).env_remove("CONTRACT_GATE_BROKERS").env_remove("CONTRACT_GATE_REDIS").env_remove("CONTRACT_GATE_LISTEN").output()?)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write(dir: &Path, name: &str, body: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, body)?;
    Ok(p)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Every breaking-change fixture as two files: the change is reported with its kind, path and
/// mark, and the exit code follows the registry's rule (1 without a major bump when anything
/// breaks; 0 with one, unless `--strict`).
#[test]
fn diff_of_two_files_on_the_breaking_change_fixtures() -> anyhow::Result<()> {
    let f: Fixtures = serde_saphyr::from_str(FIXTURES)?;
    let dir = tempfile::tempdir()?;
    let old = write(dir.path(), "old.yaml", &f.base)?;
    for c in &f.cases {
        let changed = f.base.replacen(&c.replace, &c.with, 1);
        let minor = write(dir.path(), "minor.yaml", &changed.replacen("version: 1.0.0", "version: 1.1.0", 1))?;
        let out = run(&["contracts", "diff", s(&old), s(&minor), "--output", "json"])?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| anyhow::anyhow!("{e}: {}", text(&out)))?;
        let hit = v["changes"].as_array().into_iter().flatten().find(|x| x["kind"] == c.kind.as_str() && x["path"] == c.path.as_str());
        let Some(hit) = hit else { anyhow::bail!("{}: no {} change in {v}", c.path, c.kind) };
        assert_eq!(hit["breaking"], c.breaking, "{}: {hit}", c.path);
        let breaking = v["breaking"].as_bool().unwrap_or(false);
        assert_eq!(code(&out), i32::from(breaking), "{}: {}", c.path, text(&out));
        if breaking {
            let major = write(dir.path(), "major.yaml", &changed.replacen("version: 1.0.0", "version: 2.0.0", 1))?;
            assert_eq!(code(&run(&["contracts", "diff", s(&old), s(&major)])?), 0, "{}: a major bump is allowed", c.path);
            assert_eq!(code(&run(&["contracts", "diff", s(&old), s(&major), "--strict"])?), 1, "{}: --strict refuses it", c.path);
        }
    }
    Ok(())
}

/// The registry test's versions of the flights contract, judged offline as the registry
/// judged them online.
#[test]
fn diff_judges_the_flights_versions_as_the_registry_does() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let v1_1 = |v: &str| e2e::sidecar::flights_version(v, |t| t.replacen("mustBeLessThan: 2.4\n", "mustBeLessThan: 5\n", 1).replacen("      - name: time_hour\n", "      - name: note\n        logicalType: string\n      - name: time_hour\n", 1));
    let breaking = |v: &str| v1_1(v).replacen("validValues: [EWR, JFK, LGA]", "validValues: [EWR, JFK]", 1);
    let v1 = write(dir.path(), "1.0.0.yaml", &e2e::sidecar::flights_contract())?;
    let v11 = write(dir.path(), "1.1.0.yaml", &v1_1("1.1.0"))?;
    let v12 = write(dir.path(), "1.2.0.yaml", &breaking("1.2.0"))?;
    let v2 = write(dir.path(), "2.0.0.yaml", &breaking("2.0.0"))?;
    let out = run(&["contracts", "diff", s(&v1), s(&v11)])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).starts_with("flights 1.0.0 -> 1.1.0: compatible\n"), "{}", text(&out));
    let out = run(&["contracts", "diff", s(&v11), s(&v12)])?;
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("BREAKING") && text(&out).contains("flights.origin.quality[origin_nyc].arguments.validValues"), "{}", text(&out));
    assert!(text(&out).contains("the registry refuses 1.2.0 after 1.1.0: publish it as 2.0.0 or later"), "{}", text(&out));
    let out = run(&["contracts", "diff", s(&v11), s(&v2)])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("breaking (major version bump)"), "{}", text(&out));
    // Unreadable, invalid, and the two forms kept apart.
    assert_eq!(code(&run(&["contracts", "diff", s(&v1), s(&dir.path().join("missing.yaml"))])?), 2);
    let bad = write(dir.path(), "bad.yaml", &e2e::sidecar::flights_version("one", |t| t))?;
    let out = run(&["contracts", "diff", s(&v1), s(&bad)])?;
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("not a semantic version"), "{}", text(&out));
    assert_eq!(code(&run(&["contracts", "diff", s(&v1), s(&v2), "--from", "1.0.0"])?), 2, "--from belongs to the registry form");
    Ok(())
}

#[test]
fn changelog_matches_the_golden_file() -> anyhow::Result<()> {
    let dir = Path::new(CHANGELOG_DIR);
    let out = run(&["contracts", "changelog", s(&dir.join("old.yaml")), s(&dir.join("new.yaml"))])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(String::from_utf8(out.stdout)?, std::fs::read_to_string(dir.join("expected.md"))?);
    Ok(())
}

#[test]
fn config_validate_good_and_broken() -> anyhow::Result<()> {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/gate.yaml");
    let out = run(&["config", "validate", example])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("binding flights: flights -> flights 1.0.0, object flights"), "{}", text(&out));
    let dir = tempfile::tempdir()?;
    let broken = std::fs::read_to_string(example)?.replace("contract: flights", "contract: flights\n    stale_records: sometimes").replace("dir: .", &format!("dir: {}", s(Path::new(example).parent().unwrap_or(Path::new(".")))));
    let path = write(dir.path(), "gate.yaml", &broken)?;
    let out = run(&["config", "validate", s(&path), "--output", "json"])?;
    assert_eq!(code(&out), 2, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("stale_records") && m.contains("line")), "{v}");
    let path = write(dir.path(), "gate.yaml", &broken.replace("    stale_records: sometimes\n", "    stale_records: divert\n"))?;
    let out = run(&["config", "validate", s(&path)])?;
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("bindings[0].stale_records: contract flights has no latency SLA"), "{}", text(&out));
    Ok(())
}

/// The README's quickstart files load, and its three records get the verdicts and reasons the
/// README prints.
#[test]
fn the_quickstart_example_does_what_the_readme_says() -> anyhow::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart");
    let out = run(&["config", "validate", &format!("{dir}/gate.yaml")])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!text(&out).contains("warning"), "the quickstart config validates without warnings:\n{}", text(&out));
    let out = run(&["contracts", "lint", &format!("{dir}/orders.odcs.yaml")])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let tmp = tempfile::tempdir()?;
    let input = write(tmp.path(), "orders.jsonl", concat!(
        r#"{"order_id":"o-1","amount":12.5,"coupon":"WELCOME"}"#, "\n",
        r#"{"order_id":"o-2","amount":"12.5"}"#, "\n",
        r#"{"order_id":"o-3","amount":-1}"#, "\n",
    ))?;
    let out = run(&["check", "--contract", &format!("{dir}/orders.odcs.yaml"), "--input", s(&input)])?;
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = text(&out);
    for reason in ["records 3  valid 1  failed 2", r#"amount is "12.5", expected a number"#, "amount is -1, expected at least 0"] {
        assert!(report.contains(reason), "missing {reason:?} in {report}");
    }
    Ok(())
}

#[test]
fn completions_man_help_and_version() -> anyhow::Result<()> {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell])?;
        assert_eq!(code(&out), 0, "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout)?;
        assert!(["serve", "contracts", "validate", "changelog"].iter().all(|w| script.contains(w)), "{shell}");
    }
    let out = run(&["man"])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8(out.stdout)?.contains(".SH SUBCOMMANDS"));
    let dir = tempfile::tempdir()?;
    let out = run(&["man", "--dir", s(dir.path())])?;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = std::fs::read_to_string(dir.path().join("contract-gate-config-validate.1"))?;
    assert!(page.contains("validate"), "{page}");
    let help = text(&run(&["--help"])?);
    assert!(help.starts_with("Data-contract quality gate with a circuit breaker, run as a Kafka sidecar."), "{help}");
    assert!(!help.contains("The contract-gate binary"), "{help}");
    let version = text(&run(&["--version"])?);
    assert!(version.contains("librdkafka") && version.contains("ssl"), "{version}");
    Ok(())
}
