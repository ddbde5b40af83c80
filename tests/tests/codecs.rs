//! Every compression codec producers use, read from the source and written to the outputs:
//! a topic compressed with zstd (a common producer default) was neither readable nor writable
//! before librdkafka was built with it.

use e2e::sidecar::{self, keyed, read_until};
use gate::config::Fallback;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_codec_is_read_and_written() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let recs = keyed(&sidecar::flights_sample()[..20]);
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let src = e2e::unique_name(&format!("codec-{codec}"));
        let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
        cfg.kafka.producer_properties.insert("compression.type".into(), codec.into());
        let running = gate::serve::start(&cfg).await?;
        let producer: rdkafka::producer::FutureProducer = e2e::producer_config(&brokers).set("compression.type", codec).create()?;
        sidecar::produce(&producer, &src, &recs).await?;
        let v = read_until(&sidecar::reader(&brokers, &format!("{src}.validated"))?, Duration::from_secs(60), |m| m.len() >= recs.len()).await?;
        assert_eq!(v.len(), recs.len(), "{codec}");
        sidecar::stop(running).await?;
    }
    Ok(())
}
