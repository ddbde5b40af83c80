use super::*;

#[test]
fn selection_is_exact_and_spread() {
    for share in [0.1, 0.25, 0.5, 1.0] {
        let hits: Vec<u64> = (0..1000).filter(|i| selected(*i, share)).collect();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let want = (1000.0 * share) as usize;
        assert_eq!(hits.len(), want, "{share}");
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let gap = (1.0 / share).ceil() as u64;
        assert!(hits.windows(2).all(|w| w[1] - w[0] <= gap), "{share}: evenly spread");
    }
}

#[test]
fn shuffle_is_a_seeded_permutation() {
    let mut a: Vec<u32> = (0..100).collect();
    let mut b = a.clone();
    shuffle(&mut a, 3);
    shuffle(&mut b, 3);
    assert_eq!(a, b);
    assert_ne!(a, (0..100).collect::<Vec<_>>());
    a.sort_unstable();
    assert_eq!(a, (0..100).collect::<Vec<_>>());
}

#[test]
fn an_avro_binding_is_a_target_with_its_compiled_contract() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/flights/gate.yaml");
    let mut cfg = GateConfig::load(Path::new(path)).expect("example config");
    cfg.bindings[0].format = crate::config::PayloadFormat::Avro;
    let t = Target::new(cfg, None).expect("avro bindings are drilled in the wire format");
    assert_eq!((t.compiled.id.to_string(), t.info.id.clone()), ("flights".to_string(), "flights".to_string()));
}

#[test]
fn baseline_errors_name_the_line() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("b.jsonl");
    std::fs::write(&p, "{\"a\":1}\n\n[1]\n").expect("write");
    assert!(load_jsonl(&p).is_err_and(|e| e.contains("line 3")));
    std::fs::write(&p, "{\"a\":1}\n{oops\n").expect("write");
    assert!(load_jsonl(&p).is_err_and(|e| e.contains("line 2")));
    std::fs::write(&p, "\n").expect("write");
    assert!(load_jsonl(&p).is_err_and(|e| e.contains("no records")));
}

#[test]
fn retrips_count_only_after_the_close_that_followed_the_fault() {
    let t = |at: u64, from: &str, to: &str| Seen { at, from: from.into(), to: to.into(), rule: None };
    // Fault 0..10 s: tripped, a probe failed, a close during the fault re-tripped (the fault
    // went on), closed after it, then re-tripped on the old fault and closed again.
    let seen = [
        t(1_000, "closed", "open"),
        t(3_000, "open", "half_open"),
        t(3_500, "half_open", "open"),
        t(6_000, "half_open", "closed"),
        t(7_000, "closed", "open"),
        t(12_000, "half_open", "closed"),
        t(12_250, "closed", "open"),
        t(15_000, "half_open", "closed"),
    ];
    let refs: Vec<&Seen> = seen.iter().collect();
    let cases = [(10_000, 1), (12_500, 0), (0, 2), (20_000, 0)];
    for (end, want) in cases {
        assert_eq!(retrips(&refs, end), want, "fault end {end}");
    }
}
