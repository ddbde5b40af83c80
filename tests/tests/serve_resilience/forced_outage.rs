//! A replica started while Redis is away, with the shared breaker forced open there.

use super::redis_outage::{fallback_active, PrivateRedis};
use super::*;

/// An operator forces the shared breaker open; Redis goes away; a new replica starts. It cannot
/// read the shared state, so under `redis.fallback: local` it diverts (it used to start closed
/// and pass every record although the kill switch was on). Once Redis is back, the replica
/// reads the forced state and keeps diverting. Every source record is accounted for: each in
/// exactly one output, none in validated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn a_replica_started_during_a_redis_outage_honours_the_forced_state() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    if e2e::redis_url().is_none() {
        return Ok(());
    }
    let mut redis = PrivateRedis::start().await?;
    let src = e2e::unique_name("forced-outage");
    const PARTS: i32 = 2;
    e2e::create_topic(&brokers, &src, PARTS).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, Some((&redis.url(), "forced")));
    ensure!(cfg.redis.as_ref().map(|r| r.fallback) == Some(breaker::StoreOutagePolicy::Local), "the default outage policy is under test");

    // 1. An operator throws the kill switch on a replica while Redis is up; that replica stops.
    let first = gate::serve::start(&cfg).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let forced = first.bindings[0].breaker.command(breaker::Command::ForceOpen, Some("drill"), now).await?;
    ensure!(
        (forced.source, forced.state.mode) == (breaker::Source::Shared, breaker::Mode::ForcedOpen),
        "forced open in the shared store: {forced:?}"
    );
    stop(first).await?;
    // Redis keeps it on disk across the outage.
    redis.save().await?;
    redis.down()?;

    // 2. A replica starts while Redis is away; records arrive.
    let running = gate::serve::start(&cfg).await?;
    let mut outputs = Outputs::open(&brokers, &src, PARTS).await?;
    let p = e2e::producer(&brokers)?;
    let pool = clean_flights();
    let mut expected: BTreeMap<(i32, i64), Kind> = BTreeMap::new();
    expected.extend(produce_located(&p, &src, &mixed(&pool, 0, 300, usize::MAX, 0)).await?);
    outputs.until("the outage's records are out", T, |l| l.missing(expected.keys()).is_empty()).await?;
    ensure!(fallback_active(&running).await == Some(true), "Redis is down, yet no store fallback");
    outputs.ledger.routes(&expected, &["held"]).context("a replica that never read the shared state passed records")?;

    // 3. Redis is back: the replica reads the forced state and keeps to it.
    redis.up().await?;
    e2e::wait_until("the store fallback clears", T, || async { (fallback_active(&running).await == Some(false)).then_some(()) }).await?;
    let status = running.bindings[0].breaker.status().await;
    ensure!(status.state.mode == breaker::Mode::ForcedOpen, "after Redis returned the replica enforces {:?}", status.state.mode);
    expected.extend(produce_located(&p, &src, &mixed(&pool, 300, 300, usize::MAX, 0)).await?);
    outputs.until("the records after the return are out", T, |l| l.missing(expected.keys()).is_empty()).await?;

    stop(running).await?;
    outputs.read_to_end().await?;
    outputs.ledger.verify(&expected, &["held"])?;
    let dups = outputs.ledger.duplicates();
    ensure!(dups == 0, "{dups} duplicates without any crash");
    eprintln!("forced outage: {} source records, every one held once; none validated while Redis was away or after", expected.len());
    outputs.close().await;
    Ok(())
}
