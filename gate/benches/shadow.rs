//! What a shadow version costs per record: on the record loop (the decoded value copied and
//! offered to the evaluator's queue) and on the evaluator's task (the simulation judging and
//! routing it), on the sample flights. Run: `cargo bench -p gate --bench shadow`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gate::backtest::sim::{Settings, SimRecord, Simulation};
use gate::serve::shadow::{ShadowRecord, ShadowSlot};
use std::path::PathBuf;
use std::sync::Arc;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample() -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo().join("examples/flights/sample.jsonl")).expect("sample").lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

/// The example's binding (the flights contract, calibrated breaker settings).
fn binding() -> gate::config::Binding {
    let cfg = gate::config::GateConfig::load(&repo().join("examples/flights/gate.yaml")).expect("example config");
    cfg.bindings[0].clone()
}

/// A slot with a shadow whose queue takes every offer of an iteration, started after the
/// runtime has dropped the evaluators ended before (and the records queued for them), so
/// every iteration offers into memory already mapped, as a live queue that the evaluator
/// drains does.
fn queued_slot(rt: &tokio::runtime::Runtime, contract: &Arc<contracts::CompiledContract>) -> ShadowSlot {
    let slot = ShadowSlot::default();
    let shadow = rt
        .block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            gate::serve::shadow::spawn_with_queue(&binding(), Arc::clone(contract), true, 0, 1 << 20)
        })
        .expect("shadow");
    slot.start(shadow);
    slot
}

fn bench(c: &mut Criterion) {
    let records = sample();
    let contract = Arc::new(gate::batch::load_contract(&repo().join("examples/flights/flights.odcs.yaml"), None).expect("contract"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut g = c.benchmark_group("shadow");

    // The record loop's share: copy the decoded value and offer it. The queue is drained by
    // nobody here, so it is sized to take every offer of the measurement.
    g.bench_function("offer_clone_try_send", |b| {
        b.iter_batched(
            || queued_slot(&rt, &contract),
            |slot| {
                for (i, v) in records.iter().enumerate() {
                    slot.offer(|| ShadowRecord { arrival_ms: i64::try_from(i).unwrap_or(0), key: Some(b"k".to_vec()), decoded: Ok(v.clone()), active_valid: true });
                }
                slot
            },
            BatchSize::PerIteration,
        );
    });

    // Of which: the queue alone (nothing copied).
    g.bench_function("offer_null", |b| {
        b.iter_batched(
            || queued_slot(&rt, &contract),
            |slot| {
                for i in 0..records.len() {
                    slot.offer(|| ShadowRecord { arrival_ms: i64::try_from(i).unwrap_or(0), key: None, decoded: Ok(serde_json::Value::Null), active_valid: true });
                }
                slot
            },
            BatchSize::PerIteration,
        );
    });

    // Of which: copying the decoded values alone.
    g.bench_function("clone_values", |b| {
        b.iter_batched(
            || Vec::with_capacity(records.len()),
            |mut out| {
                for v in &records {
                    out.push(v.clone());
                }
                out
            },
            BatchSize::PerIteration,
        );
    });

    // The evaluator's share: the simulation judging and routing each record.
    g.bench_function("simulate_record", |b| {
        b.iter_batched(
            || Simulation::new(Arc::clone(&contract), Settings::of(&binding(), 60_000), 0).expect("sim").journaled(),
            |mut sim| {
                rt.block_on(async {
                    for (i, v) in records.iter().enumerate() {
                        let ts = i64::try_from(i).unwrap_or(0);
                        sim.record(SimRecord { ts, key: Some(b"k".to_vec()), decoded: Ok(v.clone()), active_valid: Some(true) }).await.expect("record");
                    }
                    let _ = sim.take_journal();
                });
                sim
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
    eprintln!("(each iteration is {} sample flights)", records.len());
}

criterion_group!(benches, bench);
criterion_main!(benches);
