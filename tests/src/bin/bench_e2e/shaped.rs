//! **Ps**: the passthrough with the gate's output path and nothing else — the nine
//! `contract-gate-*` headers on every output, produced through the gate's own producer (a
//! `ThreadedProducer` whose delivery reports come back through `gate::serve::acks`), offsets
//! stored per batch of reports. No decoding, no checks, no breaker: whatever G spends over Ps
//! is the gate's own work, and Ps's rate bounds G's and O's on the same machine.

use anyhow::Context as _;
use gate::serve::acks::{AckContext, OutputProducer, Sent};
use gate::serve::headers::{build, HeaderValues, SourceCoords};
use gate::serve::plan::{Output, VerdictTag};
use rdkafka::config::FromClientConfigAndContext as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use tokio::sync::watch;

/// Consume `src` → produce to `out` in the gate's output shape until `stop`; returns the
/// number of records consumed. With `scan` (**Pv**), each payload is first read as JSON into
/// nothing (`IgnoredAny`: every byte tokenized, nothing allocated or kept), the floor of any
/// JSON check. With `lean`, the gate's lean header set (`headers: lean`).
pub async fn passthrough_shaped(brokers: String, src: String, out: String, scan: bool, lean: bool, mut stop: watch::Receiver<bool>) -> anyhow::Result<u64> {
    let consumer: StreamConsumer = super::passthrough_consumer(&brokers, &format!("{src}-ps")).create()?;
    let context = AckContext::default();
    let queue = Arc::clone(&context.queue);
    let producer = OutputProducer::from_config_and_context(&super::passthrough_producer(&brokers), context)?;
    consumer.subscribe(&[&src])?;
    let source: Arc<str> = Arc::from(src.as_str());
    let (mut outstanding, mut n) = (0usize, 0u64);
    let mut reports = Vec::new();
    let mut take = |consumer: &StreamConsumer, outstanding: &mut usize| -> anyhow::Result<()> {
        queue.take(&mut reports);
        *outstanding = outstanding.saturating_sub(reports.len());
        // One output per record, reported in order per partition: the newest offset wins.
        let mut newest: Vec<(i32, i64)> = Vec::new();
        for r in reports.drain(..) {
            let (partition, offset) = (r.sent.partition, r.sent.offset);
            r.result.map_err(|e| anyhow::anyhow!("produce: {e}"))?;
            match newest.iter_mut().find(|(p, _)| *p == partition) {
                Some(x) => x.1 = x.1.max(offset),
                None => newest.push((partition, offset)),
            }
        }
        if !newest.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (p, off) in newest {
                tpl.add_partition_offset(&src, p, Offset::Offset(off + 1))?;
            }
            consumer.store_offsets(&tpl).context("store offsets")?;
        }
        Ok(())
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            () = queue.wait(), if outstanding > 0 => take(&consumer, &mut outstanding)?,
            msg = consumer.recv(), if outstanding < super::MAX_IN_FLIGHT => {
                let m = msg?;
                let (p, off, ts) = (m.partition(), m.offset(), m.timestamp().to_millis());
                if scan {
                    let read = serde_json::from_slice::<serde::de::IgnoredAny>(m.payload().unwrap_or_default());
                    anyhow::ensure!(std::hint::black_box(read).is_ok(), "Pv: a payload is not JSON at {p}/{off}");
                }
                let hv = HeaderValues {
                    contract: "flights",
                    version: "1.0.0",
                    verdict: VerdictTag::Valid,
                    breaker_state: "closed",
                    violations: "[]",
                    source: SourceCoords { topic: m.topic(), partition: p, offset: off, timestamp: ts },
                    reason: None,
                    probe_passed: false,
                    canary: None,
                    lean,
                };
                let sent = Box::new(Sent { topic: Arc::clone(&source), partition: p, offset: off, output: Output::Validated, batch: 0 });
                let mut rec = BaseRecord::with_opaque_to(&out, sent).payload(m.payload().unwrap_or_default()).partition(p).headers(build(&hv, None));
                if let Some(k) = m.key() {
                    rec = rec.key(k);
                }
                if let Some(ts) = ts {
                    rec = rec.timestamp(ts);
                }
                producer.send(rec).map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
                outstanding += 1;
                n += 1;
            }
        }
    }
    while outstanding > 0 {
        queue.wait().await;
        take(&consumer, &mut outstanding)?;
    }
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(n)
}
