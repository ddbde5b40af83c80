//! Secrets stay out of what the gate prints: `--help` does not show environment values, and a
//! config value can come from the environment (`${NAME}`) without appearing in errors.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_contract-gate"))
}

#[test]
fn help_does_not_show_environment_values() {
    for args in [&["serve", "--help"][..], &["breaker", "--help"], &["drill", "--help"], &["contracts", "list", "--help"]] {
        let out = bin()
            .args(args)
            .env("CONTRACT_GATE_REDIS", "redis://:hunter2hunter2@redis.internal:6379")
            .env("CONTRACT_GATE_TOKEN", "tok-hunter2hunter2")
            .env("CONTRACT_GATE_BROKERS", "user:hunter2hunter2@kafka:9092")
            .output()
            .expect("run the binary");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(!text.contains("hunter2"), "{args:?} shows a secret:\n{text}");
    }
}

#[test]
fn config_values_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("gate.yaml");
    let base = "kafka:\n  brokers: ${CG_TEST_BROKERS:-127.0.0.1:9092}\n  properties: { sasl.password: \"${HOME}\" }\ncontracts:\n  dir: c\nbindings:\n  - name: f\n    source: f\n    contract: f\n    fallback: hold\n";
    std::fs::write(&path, base).expect("write");
    let cfg = gate::config::GateConfig::load(&path).expect("loads");
    assert_eq!(cfg.kafka.brokers, "127.0.0.1:9092");
    assert_eq!(cfg.kafka.properties.get("sasl.password").map(String::as_str), std::env::var("HOME").ok().as_deref());
    // An unset variable is named with its line.
    std::fs::write(&path, base.replace("${HOME}", "${CG_SURELY_UNSET_4711}")).expect("write");
    let err = gate::config::GateConfig::load(&path).expect_err("unset").to_string();
    assert!(err.contains("CG_SURELY_UNSET_4711") && err.contains("line 3"), "{err}");
    // A parse error does not quote the value that came from the environment.
    std::fs::write(&path, base.replace("fallback: hold", "fallback: ${HOME}")).expect("write");
    let err = gate::config::GateConfig::load(&path).expect_err("bad fallback").to_string();
    let home = std::env::var("HOME").unwrap_or_default();
    assert!(home.len() < 4 || !err.contains(&home), "{err}");
}
