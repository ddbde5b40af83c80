//! **P**: the plain consume → produce passthrough the gate is measured against.

use super::*;

use super::MAX_IN_FLIGHT;

/// The passthroughs' consumer: the gate's settings (offsets stored by the loop, committed
/// every second; librdkafka's 1 s fetch back-off stalls a drained prefetch queue).
pub(crate) fn passthrough_consumer(brokers: &str, group: &str) -> rdkafka::ClientConfig {
    e2e::kafka_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("fetch.queue.backoff.ms", gate::kafka::FETCH_QUEUE_BACKOFF_MS)
        .clone()
}

/// The passthroughs' producer: the gate's producer defaults.
pub(crate) fn passthrough_producer(brokers: &str) -> rdkafka::ClientConfig {
    e2e::kafka_config(brokers).set("enable.idempotence", "true").set("linger.ms", "5").set("compression.type", "lz4").clone()
}

/// Consume → produce to `out` (same partition, key, timestamp), offsets stored after the ack,
/// auto-committed every second — the gate's delivery scheme without the gate, written the
/// plain way (`FutureProducer`). Ps, the gate's output shape without its checks, is in
/// `shaped.rs`.
pub(crate) async fn passthrough(
    brokers: String,
    src: String,
    out: String,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    let consumer: StreamConsumer = passthrough_consumer(&brokers, &format!("{src}-p")).create()?;
    let producer: FutureProducer = passthrough_producer(&brokers).create()?;
    consumer.subscribe(&[&src])?;
    let mut inflight = FuturesUnordered::new();
    // Outputs still unacknowledged per (partition, offset), and the highest offset stored.
    let mut pending: HashMap<(i32, i64), u8> = HashMap::new();
    let mut stored: HashMap<i32, i64> = HashMap::new();
    let mut n = 0u64;
    let mut ack = |done: (
        i32,
        i64,
        Result<
            rdkafka::producer::future_producer::OwnedDeliveryResult,
            futures::channel::oneshot::Canceled,
        >,
    ),
                   consumer: &StreamConsumer,
                   pending: &mut HashMap<(i32, i64), u8>|
     -> anyhow::Result<()> {
        let (p, off, res) = done;
        res.context("delivery dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
        if let Some(left) = pending.get_mut(&(p, off)) {
            *left -= 1;
            if *left > 0 {
                return Ok(());
            }
            pending.remove(&(p, off));
        }
        let s = stored.entry(p).or_insert(-1);
        if off > *s {
            *s = off;
            consumer.store_offset(&src, p, off)?;
        }
        Ok(())
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(done) = inflight.next(), if !inflight.is_empty() => ack(done, &consumer, &mut pending)?,
            msg = consumer.recv(), if inflight.len() < MAX_IN_FLIGHT => {
                let m = msg?;
                let (p, off) = (m.partition(), m.offset());
                let ts = m.timestamp().to_millis();
                let targets: &[&str] = &[&out];
                if targets.len() > 1 {
                    pending.insert((p, off), u8::try_from(targets.len()).unwrap_or(u8::MAX));
                }
                for t in targets {
                    let mut rec = FutureRecord::to(t).payload(m.payload().unwrap_or_default()).partition(p);
                    if let Some(k) = m.key() {
                        rec = rec.key(k);
                    }
                    if let Some(ts) = ts {
                        rec = rec.timestamp(ts);
                    }
                    let f = producer.send_result(rec).map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
                    inflight.push(async move { (p, off, f.await) });
                }
                n += 1;
            }
        }
    }
    while let Some(done) = inflight.next().await {
        ack(done, &consumer, &mut pending)?;
    }
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    Ok(n)
}
