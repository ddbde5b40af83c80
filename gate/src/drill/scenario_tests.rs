//! Every built-in scenario against the drill flights contract, offline: record-level faults
//! must fail every injected record; window faults must pass every record yet breach their
//! window rule, which the clean stream does not.

use super::*;
use crate::drill::faults::{restamp, Ctx, Out};
use contracts::RuleResult;
use serde_json::Value;

const NOW: i64 = 1_700_000_000_000;

fn examples(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("examples").join(rel)
}

fn contract(rel: &str) -> (ContractInfo, CompiledContract) {
    let raw = contracts::parse(&std::fs::read_to_string(examples(rel)).expect("contract")).expect("parse");
    let compiled = contracts::compile(&raw, None).expect("compile");
    (ContractInfo::new(&raw, &compiled), compiled)
}

fn drill_contract() -> (ContractInfo, CompiledContract) {
    contract("drills/flights.odcs.yaml")
}

/// The sample in a fixed shuffled order (as the drill replays it), restamped to `NOW`.
fn sample(n: usize) -> Vec<Value> {
    let text = std::fs::read_to_string(examples("flights/sample.jsonl")).expect("sample");
    let mut recs: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("line")).collect();
    crate::drill::runner::shuffle(&mut recs, 11);
    recs.truncate(n);
    for (i, r) in recs.iter_mut().enumerate() {
        let t = restamp(r.get("time_hour"), NOW * 1000 + i64::try_from(i).expect("small"));
        r["time_hour"] = t;
    }
    recs
}

fn step(scenario: &str) -> Step {
    Step { scenario: scenario.into(), ..Step::default() }
}

#[derive(Debug, Default)]
struct Sim {
    injected: usize,
    injected_valid: usize,
    results: Vec<RuleResult>,
}

/// Streams 600 records; the second half is the fault, at the scenario's share.
fn simulate(r: &Resolved, c: &CompiledContract, inject: bool) -> Sim {
    let mut obs = c.observer();
    let mut sim = Sim::default();
    let mut previous: Option<Vec<u8>> = None;
    let recs = sample(600);
    let mut considered = 0u64;
    for (i, rec) in recs.iter().enumerate() {
        let in_fault = inject && i >= 300;
        let hit = in_fault && crate::drill::runner::selected(considered, r.share);
        if in_fault {
            considered += 1;
        }
        let bytes = if hit {
            let ctx = Ctx { index: sim.injected as u64, seed: 5, now_ms: NOW, previous: previous.as_deref() };
            sim.injected += 1;
            match r.fault.inject(rec, &ctx) {
                Out::Send(b) => b,
                Out::Skip => continue,
            }
        } else {
            let b = serde_json::to_vec(rec).expect("json");
            previous = Some(b.clone());
            b
        };
        obs.arrival(c, NOW);
        match serde_json::from_slice::<Value>(&bytes) {
            Err(_) => c.decode_error(&mut obs),
            Ok(v) => {
                let valid = c.check(&v, &mut obs).is_valid();
                if hit && valid {
                    sim.injected_valid += 1;
                }
            }
        }
    }
    // Silence and staleness show as time passes: judged after the fault's duration.
    let at = if inject && matches!(r.fault, Fault::Silence | Fault::Stale { .. }) { NOW + i64::try_from(r.duration.as_millis()).expect("ms") } else { NOW };
    sim.results = contracts::window::evaluate(&c.rules, &obs.window, at);
    sim
}

fn failed(results: &[RuleResult], metric: MetricKind) -> bool {
    results.iter().any(|r| r.metric == metric && !r.passed)
}

#[test]
fn every_scenario_is_caught_the_way_its_class_says() {
    let (info, compiled) = drill_contract();
    let brk = BreakerConfig::default();
    // (scenario, class, field, window metric that must breach)
    let cases: &[(&str, Class, Option<&str>, Option<MetricKind>)] = &[
        ("schema-drift", Class::Record, Some("dep_delay"), None),
        ("schema-drift-rename", Class::Record, Some("carrier"), None),
        ("schema-drift-drop", Class::Record, Some("carrier"), None),
        ("schema-drift-add", Class::Record, Some("drill_extra"), None),
        ("enum-drift", Class::Record, Some("carrier"), None),
        ("enum-as-number", Class::Record, Some("carrier"), None),
        ("epoch-timestamps", Class::Record, Some("time_hour"), None),
        ("malformed-bytes", Class::Record, None, None),
        ("null-burst", Class::Window, Some("dep_time"), Some(MetricKind::NullValues)),
        ("stale-timestamps", Class::Window, Some("time_hour"), Some(MetricKind::Freshness)),
        ("silence", Class::Window, Some("time_hour"), Some(MetricKind::NoData)),
        ("distribution-shift", Class::Window, Some("dep_delay"), Some(MetricKind::Distribution)),
        ("duplicate-burst", Class::Window, None, Some(MetricKind::DuplicateValues)),
    ];
    assert_eq!(cases.len(), SCENARIOS.len(), "a row per built-in scenario");
    for (name, class, field, metric) in cases {
        let r = resolve(&step(name), &info, &brk).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((r.class, r.field.as_deref()), (*class, *field), "{name}");
        let sim = simulate(&r, &compiled, true);
        match class {
            Class::Record => {
                assert!(sim.injected >= 25, "{name}: {sim:?}");
                assert_eq!(sim.injected_valid, 0, "{name}: every injected record fails a record check");
                assert_eq!(r.hypothesis.max_leaked, Some(0), "{name}");
            }
            Class::Window => {
                let metric = metric.expect("window metric");
                if !matches!(r.fault, Fault::Silence) {
                    assert!(sim.injected > 0, "{name}");
                    assert_eq!(sim.injected_valid, sim.injected, "{name}: injected records pass record checks");
                }
                assert!(failed(&sim.results, metric), "{name}: {metric:?} must breach: {:?}", sim.results);
                let clean = simulate(&r, &compiled, false);
                assert!(!clean.results.iter().any(|x| !x.passed), "{name}: the clean stream passes every rule: {:?}", clean.results);
                assert_eq!(r.hypothesis.trip, Expect::Expected, "{name}");
            }
        }
    }
}

#[test]
fn distribution_shift_stays_in_the_valid_range() {
    let (info, compiled) = drill_contract();
    let r = resolve(&step("distribution-shift"), &info, &BreakerConfig::default()).expect("resolve");
    let Fault::Shift { delta, min, max, .. } = r.fault else { panic!("{:?}", r.fault) };
    assert_eq!((delta, min, max), (54.0, Some(-120.0), Some(1440.0)), "inter-decile span of the baseline edges");
    // Only the drift rule notices: every other rule passes on the shifted stream.
    let sim = simulate(&r, &compiled, true);
    let breached: Vec<&str> = sim.results.iter().filter(|x| !x.passed).map(|x| x.id.as_str()).collect();
    assert_eq!(breached, vec!["dep_delay.distribution"]);
}

#[test]
fn scenarios_the_contract_cannot_catch_say_what_to_add() {
    let (plain, _) = contract("flights/flights.odcs.yaml");
    let brk = BreakerConfig::default();
    let cases = [
        (step("stale-timestamps"), "no latency/freshness SLA"),
        (step("distribution-shift"), "gateDistribution"),
        (step("no-such-thing"), "unknown scenario"),
        (Step { field: Some("dep_delay".into()), ..step("schema-drift-drop") }, "required"),
        (Step { field: Some("carrier".into()), ..step("schema-drift-add") }, "declared"),
        (Step { value: Some("AA".into()), ..step("enum-drift") }, "valid values"),
        (Step { share: Some(1.5), ..step("null-burst") }, "share"),
        (Step { field: Some("nope".into()), ..step("null-burst") }, "no top-level property"),
    ];
    for (s, needle) in cases {
        let e = resolve(&s, &plain, &brk).expect_err(needle);
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
    let mut lax = plain.clone();
    lax.allow_extra = true;
    assert!(resolve(&step("schema-drift-add"), &lax, &brk).is_err_and(|e| e.contains("allows extra fields")));
}

#[test]
fn defaults_follow_the_contract_and_breaker() {
    let (info, _) = drill_contract();
    let brk = BreakerConfig { max_open_wait: Duration::from_secs(4), probe_timeout: Duration::from_secs(20), ..BreakerConfig::default() };
    let silence = resolve(&step("silence"), &info, &brk).expect("silence");
    assert_eq!(silence.duration, Duration::from_secs(20), "frequency 10 s, twice over");
    assert_eq!(silence.hypothesis.detect_within, Duration::from_secs(25));
    assert_eq!(silence.hypothesis.recover_within, Duration::from_secs(39));
    let stale = resolve(&step("stale-timestamps"), &info, &brk).expect("stale");
    assert_eq!(stale.fault, Fault::Stale { field: "time_hour".into(), by_ms: 70_000 }, "latency 10 s: a minute beyond it");
    let custom = resolve(&Step { value: Some("5m".into()), ..step("stale-timestamps") }, &info, &brk).expect("stale");
    assert_eq!(custom.fault, Fault::Stale { field: "time_hour".into(), by_ms: 300_000 });
    assert_eq!(info.time_field(), Some("time_hour"));
    assert_eq!(new_category(&["AA".into(), "ZZ".into(), "B6".into()]), "YY");
}

#[test]
fn on_avro_a_type_drift_is_a_refused_writer_schema_and_a_null_burst_is_not() {
    let (info, compiled) = drill_contract();
    let avsc = std::fs::read_to_string(examples("flights/flights.avsc")).expect("avsc");
    let base = crate::drill::wire::Base::new(crate::drill::wire::Format::Avro, 1, &avsc, std::sync::Arc::new(compiled), None).expect("base");
    let brk = BreakerConfig::default();
    let drift = resolve_for(&step("schema-drift-type"), &info, &brk, Some(&base)).expect("resolve");
    assert_eq!((drift.class, drift.field.as_deref()), (Class::Record, Some("dep_delay")));
    assert!(drift.writer.is_some() && drift.drift.as_deref().is_some_and(|d| d.contains("dep_delay: contract number")), "{:?}", drift.drift);
    let nulls = resolve_for(&step("null-burst"), &info, &brk, Some(&base)).expect("resolve");
    assert_eq!((nulls.class, nulls.writer.is_none(), nulls.drift.is_none()), (Class::Window, true, true), "dep_time is nullable in the writer schema");
    // JSON bindings: no writer schema.
    assert!(resolve(&step("schema-drift-type"), &info, &brk).is_ok_and(|r| r.writer.is_none()));
}
