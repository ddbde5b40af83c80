//! The output producer's queue full (at-least-once): the refused outputs wait for it to drain
//! and are sent again in order, instead of being sent again at once, in a loop, until it
//! drains. Every record lands once, in source order, and the gate reports each refusal once.

use super::*;

/// The process's metrics, recorded from the first call on (one recorder per test binary).
fn metrics() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().ok()).as_ref()
}

/// The sum of a counter's series whose labels contain `label`.
fn counter(text: &str, name: &str, label: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(name) && l.contains(label)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn a_full_producer_queue_is_waited_for_not_spun_on() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let handle = metrics().context("installing the metrics recorder")?;
    const RECORDS: usize = 2000;
    let src = e2e::unique_name("queuefull");
    e2e::create_topic(&brokers, &src, 1).await?;
    let p = e2e::producer(&brokers)?;
    let pool = clean_flights();
    // Produced before the gate starts, so it reads them as fast as it can.
    let records: Vec<(String, Vec<u8>)> = mixed(&pool, 0, RECORDS, 1000, 0).into_iter().map(|(k, v, _)| (k, v)).collect();
    sidecar::produce(&p, &src, &records).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    // Room for 20 outputs: the loop outruns the broker and the queue refuses most sends.
    cfg.kafka.producer_properties.insert("queue.buffering.max.messages".into(), "20".into());
    let before = counter(&handle.render(), "contract_gate_produce_failures_total", "outcome=\"retried\"");
    let running = gate::serve::start(&cfg).await?;
    let outputs: Vec<String> = ["validated", "quarantine", "held", "degraded"].iter().map(|o| format!("{src}.{o}")).collect();
    // Once each, in source order per output partition.
    let seen = sidecar::account(&brokers, &outputs, RECORDS, T).await?;
    ensure!(!running.pipeline.is_finished(), "the record loop stopped");
    let retried = counter(&handle.render(), "contract_gate_produce_failures_total", "outcome=\"retried\"") - before;
    // Each output refused by the full queue is reported once, however long the queue stays
    // full; sent again at once, the same outputs came back refused thousands of times.
    ensure!(retried > 0.0, "the queue never filled: the test tested nothing");
    ensure!(retried <= RECORDS as f64, "{retried} refusals reported for {RECORDS} records: refused outputs were sent again before the queue drained");
    eprintln!("queue full: {RECORDS} records, each once in order ({} seen), {retried} outputs refused by the full queue and sent again", seen.len());
    sidecar::stop(running).await
}
