//! `kill -9` mid-stream and a restart, in both delivery modes: nothing lost. Exactly-once:
//! every source offset in exactly one output (read_committed). At-least-once: duplicates
//! counted, and bounded by what was in flight at the kill: each is at an offset at or past its
//! partition's committed offset at the kill and below the source's end then, written at most
//! twice.
//!
//! The exactly-once gate runs with static membership (`group.instance.id`), as the README
//! recommends for fail-over: its record loops' `transactional.id`s are then the same after the
//! restart, so the restarted loops fence the transactions the killed ones left open at once
//! (with an id of the process's own, read_committed readers waited for the broker's
//! `transaction.timeout.ms`, a minute). The test checks the ids are the same and reports how
//! long after the kill every record was out.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn kill_9_mid_stream_then_restart_loses_nothing() -> anyhow::Result<()> {
    kill_9_mid_stream("at_least_once").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn kill_9_mid_stream_exactly_once_writes_each_record_once() -> anyhow::Result<()> {
    kill_9_mid_stream("exactly_once").await
}

async fn kill_9_mid_stream(mode: &str) -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    let bin = tokio::task::spawn_blocking(gate_binary).await??;
    let src = e2e::unique_name(&format!("kill9-{mode}"));
    let group = format!("{src}-gate");
    const PARTS: i32 = 3;
    e2e::create_topic(&brokers, &src, PARTS).await?;
    let contracts = sidecar::contracts_dir(&sidecar::flights_contract());
    let work = tempfile::tempdir()?;
    let config = work.path().join("gate.yaml");
    let mut yaml = gate_yaml(&brokers, contracts.path(), &src, &group);
    if mode == "exactly_once" {
        yaml.push_str("delivery:\n  mode: exactly_once\n");
        ensure!(yaml.contains("  properties:\n"), "the gate config has no kafka.properties to add group.instance.id to");
        yaml = yaml.replacen("  properties:\n", "  properties:\n    group.instance.id: kill9-replica\n", 1);
    }
    std::fs::write(&config, yaml)?;
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
    let log_at_kill = std::fs::read_to_string(&log)?.len();
    let committed_at_kill = committed(&brokers, &group, &src, PARTS)?;
    // Nothing past the source's end at the kill can have been in flight then.
    let mut ends_at_kill = Vec::new();
    for p in 0..PARTS {
        let (_, high) = tokio::task::block_in_place(|| outputs.consumer.fetch_watermarks(&src, p, Duration::from_secs(10)))?;
        ends_at_kill.push(high);
    }

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

    super::broker_restart::read_all(&brokers, &mut outputs).await?;
    outputs
        .ledger
        .verify(&expected, &["validated", "held", "degraded"])?;
    let dups = outputs.ledger.duplicates();
    if mode == "exactly_once" {
        ensure!(dups == 0, "exactly-once: {dups} source records reached an output more than once");
    }
    // At-least-once: a record written again was in flight at the kill: consumed past its
    // partition's committed offset and produced before the kill; written at most twice.
    let mut duplicated: Vec<(&(i32, i64), &Vec<&str>)> = outputs.ledger.seen.iter().filter(|(_, o)| o.len() > 1).collect();
    duplicated.sort();
    for ((p, offset), outs) in &duplicated {
        let at = usize::try_from(*p).ok().and_then(|i| committed_at_kill.get(i).zip(ends_at_kill.get(i)));
        let Some((committed, end)) = at else { bail!("a duplicate on partition {p}, which the source does not have") };
        ensure!(*offset >= *committed && *offset < *end, "source {p}@{offset} written {} times ({outs:?}) but outside what was in flight at the kill: committed {committed}, end {end}", outs.len());
        ensure!(outs.len() == 2, "source {p}@{offset} written {} times after one kill: {outs:?}", outs.len());
    }
    let in_flight: i64 = committed_at_kill.iter().zip(&ends_at_kill).map(|(c, e)| e - (*c).max(0)).sum();
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
        "kill -9 ({mode}): {} source records, {out_at_kill} out at the kill (committed then {committed_at_kill:?}, source ends {ends_at_kill:?}: {in_flight} in flight at most), all out {recovered:?} after it, 0 lost, {dups} duplicates, outputs {per:?}",
        expected.len()
    );
    outputs.close().await;
    if mode == "exactly_once" {
        // The restarted process's loops took the killed one's transactional ids: each fenced
        // the transaction its predecessor left open (Kafka's InitProducerId aborts it).
        let text = std::fs::read_to_string(&log)?;
        let (before, after) = text.split_at(log_at_kill.min(text.len()));
        let (killed, restarted) = (transactional_ids(before), transactional_ids(after));
        ensure!(!killed.is_empty() && killed == restarted && killed.values().all(|stable| *stable), "transactional ids (id: stable): killed gate {killed:?}, restarted gate {restarted:?}");
    }
    Ok(())
}

/// The `transactional.id`s a gate's log names, and whether each is stable across restarts.
fn transactional_ids(log: &str) -> BTreeMap<String, bool> {
    log.lines()
        .filter(|l| l.contains("exactly-once: transactional id"))
        .filter_map(|l| {
            let field = |name: &str| l.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
            Some((field("transactional_id=")?, field("stable=")? == "true"))
        })
        .collect()
}
