//! `serve` takes its HTTP port before anything else: a gate whose port is taken stops at once
//! with the bind error, before it reaches for the brokers, joins the consumer group or opens a
//! transaction (it used to start its record loops first and exit only after their
//! transactional abort timed out).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_taken_http_port_stops_serve_before_it_reaches_kafka() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("address");
    // Nothing listens on port 1: were the port not checked first, start-up would report the
    // unreachable brokers instead (after their timeout), not the port.
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart");
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("gate.yaml");
    let text = format!(
        "kafka:\n  brokers: 127.0.0.1:1\ndelivery:\n  mode: exactly_once\ncontracts:\n  dir: {quickstart}\nhttp:\n  listen: {addr}\nbindings:\n  - name: orders\n    source: orders\n    contract: orders\n    fallback: hold\n"
    );
    std::fs::write(&cfg, text).expect("write config");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_contract-gate"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("CONTRACT_GATE_BROKERS")
        .env_remove("CONTRACT_GATE_REDIS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("serve did not stop within 60 s with its HTTP port taken");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!status.success(), "serve succeeded with its port taken:\n{text}");
    assert!(text.contains(&format!("bind {addr}")), "the error does not name the port:\n{text}");
    assert!(!text.contains("record loop") && !text.contains("abort"), "serve started its record loops before the bind:\n{text}");
    drop(taken);
}
