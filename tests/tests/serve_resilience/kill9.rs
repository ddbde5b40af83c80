//! `kill -9` mid-stream and a restart: nothing lost, duplicates counted.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn kill_9_mid_stream_then_restart_loses_nothing() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    let bin = tokio::task::spawn_blocking(gate_binary).await??;
    let src = e2e::unique_name("kill9");
    let group = format!("{src}-gate");
    const PARTS: i32 = 3;
    e2e::create_topic(&brokers, &src, PARTS).await?;
    let contracts = sidecar::contracts_dir(&sidecar::flights_contract());
    let work = tempfile::tempdir()?;
    let config = work.path().join("gate.yaml");
    std::fs::write(&config, gate_yaml(&brokers, contracts.path(), &src, &group))?;
    let log = work.path().join("gate.log");

    let mut gate = GateProcess::spawn(&bin, &config, &log)?;
    gate.wait_ready().await?;

    // Phase A streams while the gate runs; it is killed once a few hundred records are out;
    // phase B is produced while it is down and after the restart.
    let pool = clean_flights();
    let (phase_a, phase_b) = (
        mixed(&pool, 0, 2400, 10, 97),
        mixed(&pool, 2400, 1200, 10, 97),
    );
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let producer = {
        let (brokers, src) = (brokers.clone(), src.clone());
        tokio::spawn(async move {
            let p = e2e::producer(&brokers)?;
            let mut located = Vec::new();
            for chunk in phase_a.chunks(100) {
                located.extend(produce_located(&p, &src, chunk).await?);
                tokio::time::sleep(Duration::from_millis(40)).await; // pacing: a stream, not a batch
            }
            // Phase B only after the kill, so records arrive while no gate runs.
            let _ = killed_rx.await;
            for chunk in phase_b.chunks(100) {
                located.extend(produce_located(&p, &src, chunk).await?);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            anyhow::Ok(located)
        })
    };

    let mut outputs = Outputs::open(&brokers, &src, PARTS).await?;
    outputs
        .until("300 source records reached an output", T, |l| {
            l.seen.len() >= 300
        })
        .await?;
    let status = gate.kill9()?;
    let out_at_kill = outputs.ledger.seen.len();
    {
        use std::os::unix::process::ExitStatusExt as _;
        ensure!(
            status.signal() == Some(9),
            "the gate was not killed by SIGKILL: {status}"
        );
    }
    let _ = killed_tx.send(());
    let killed_at = Instant::now();
    let committed_at_kill = committed(&brokers, &group, &src, PARTS)?;

    let mut gate = GateProcess::spawn(&bin, &config, &log)?;
    gate.wait_ready().await?;
    let located = producer.await??;
    let expected: BTreeMap<(i32, i64), Kind> = located.into_iter().collect();
    ensure!(
        expected.len() == 3600,
        "produced {} distinct source offsets",
        expected.len()
    );
    ensure!(
        out_at_kill < expected.len(),
        "the kill came after the whole stream was out"
    );
    outputs
        .until("every source record reached an output", T, |l| {
            l.missing(expected.keys()).is_empty()
        })
        .await?;
    let recovered = killed_at.elapsed();

    // SIGTERM drains in-flight work and commits: afterwards the group is at the end.
    let st = gate.terminate().await?;
    ensure!(
        st.success(),
        "contract-gate exited with {st} after SIGTERM; log:\n{}",
        gate.log_tail()
    );
    let mut ends = Vec::new();
    for p in 0..PARTS {
        let (_, high) = tokio::task::block_in_place(|| {
            outputs
                .consumer
                .fetch_watermarks(&src, p, Duration::from_secs(10))
        })?;
        ends.push(high);
    }
    let after = committed(&brokers, &group, &src, PARTS)?;
    ensure!(
        after == ends,
        "committed offsets after SIGTERM {after:?}, source ends {ends:?}"
    );

    outputs.read_to_end().await?;
    outputs
        .ledger
        .verify(&expected, &["validated", "held", "degraded"])?;
    let dups = outputs.ledger.duplicates();
    let per: BTreeMap<&str, usize> =
        outputs
            .ledger
            .seen
            .values()
            .flatten()
            .fold(BTreeMap::new(), |mut m, o| {
                *m.entry(*o).or_default() += 1;
                m
            });
    eprintln!(
        "kill -9: {} source records, {out_at_kill} out at the kill (committed then {committed_at_kill:?}), all out {recovered:?} after it, 0 lost, {dups} duplicates (at-least-once), outputs {per:?}",
        expected.len()
    );
    outputs.close().await;
    Ok(())
}
