//! Reading the outputs back: which outputs every source record reached, and the breaker events.

use super::*;

/// Which outputs every source record reached, read back from the output topics.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) src: String,
    /// (partition, offset) → output names, in arrival order.
    pub(crate) seen: HashMap<(i32, i64), Vec<&'static str>>,
    /// Messages read per (output topic, partition).
    pub(crate) read: HashMap<(String, i32), i64>,
}

impl Ledger {
    pub(crate) fn new(src: &str) -> Self {
        Self {
            src: src.to_string(),
            ..Self::default()
        }
    }

    /// Books one output record, checking its headers agree with the topic it is in.
    pub(crate) fn add(&mut self, m: &OwnedMessage) -> anyhow::Result<()> {
        *self
            .read
            .entry((m.topic().to_string(), m.partition()))
            .or_default() += 1;
        let out = OUTCOMES
            .iter()
            .find(|o| {
                m.topic()
                    .strip_prefix(self.src.as_str())
                    .and_then(|s| s.strip_prefix('.'))
                    == Some(**o)
            })
            .with_context(|| format!("unexpected topic {}", m.topic()))?;
        let want = match *out {
            "validated" => "valid",
            "quarantine" => "invalid",
            "held" => "held",
            _ => "degraded",
        };
        let verdict = sidecar::header_str(m, h::VERDICT);
        ensure!(
            verdict.as_deref() == Some(want),
            "{}@{}/{}: verdict {verdict:?}, expected {want}",
            m.topic(),
            m.partition(),
            m.offset()
        );
        ensure!(
            sidecar::header_str(m, h::SOURCE_TOPIC).as_deref() == Some(self.src.as_str()),
            "source topic header on {}@{}",
            m.topic(),
            m.offset()
        );
        let partition: i32 = sidecar::header_str(m, h::SOURCE_PARTITION)
            .and_then(|s| s.parse().ok())
            .context("source partition header")?;
        let offset: i64 = sidecar::header_str(m, h::SOURCE_OFFSET)
            .and_then(|s| s.parse().ok())
            .context("source offset header")?;
        self.seen.entry((partition, offset)).or_default().push(out);
        Ok(())
    }

    /// Produced records that reached no output yet.
    pub(crate) fn missing<'a>(&self, expected: impl IntoIterator<Item = &'a (i32, i64)>) -> Vec<(i32, i64)> {
        expected
            .into_iter()
            .filter(|k| !self.seen.contains_key(k))
            .copied()
            .collect()
    }

    /// Output records beyond the first per source record.
    pub(crate) fn duplicates(&self) -> usize {
        self.seen.values().map(|v| v.len() - 1).sum()
    }

    /// Every produced record reached an output allowed for its kind; nothing unknown appeared.
    /// `valid_to`: the outputs a valid record may reach.
    pub(crate) fn verify(
        &self,
        expected: &BTreeMap<(i32, i64), Kind>,
        valid_to: &[&str],
    ) -> anyhow::Result<()> {
        let lost = self.missing(expected.keys());
        ensure!(
            lost.is_empty(),
            "{} of {} source records reached no output (lost): first {:?}",
            lost.len(),
            expected.len(),
            &lost[..lost.len().min(10)]
        );
        let unknown: Vec<&(i32, i64)> = self
            .seen
            .keys()
            .filter(|k| !expected.contains_key(k))
            .collect();
        ensure!(
            unknown.is_empty(),
            "outputs for source records never produced: {:?}",
            &unknown[..unknown.len().min(10)]
        );
        self.routes(expected, valid_to)
    }

    /// Every record of `subset` reached only outputs allowed for its kind.
    pub(crate) fn routes(&self, subset: &BTreeMap<(i32, i64), Kind>, valid_to: &[&str]) -> anyhow::Result<()> {
        for (k, kind) in subset {
            let outs = self
                .seen
                .get(k)
                .with_context(|| format!("source {k:?} reached no output"))?;
            let ok = match kind {
                Kind::Valid => outs.iter().all(|o| valid_to.contains(o)),
                Kind::Invalid | Kind::Malformed => outs.iter().all(|o| *o == "quarantine"),
            };
            ensure!(
                ok,
                "source {k:?} ({kind:?}) reached {outs:?}; valid records may reach {valid_to:?}"
            );
        }
        Ok(())
    }
}

/// Reads every partition of the four outcome topics of `src` from the beginning (assigned, no
/// group), into a [`Ledger`].
pub(crate) struct Outputs {
    pub(crate) consumer: StreamConsumer,
    pub(crate) ledger: Ledger,
    pub(crate) topics: Vec<String>,
    pub(crate) partitions: i32,
}

impl Outputs {
    /// Waits for the output topics (the gate creates them at startup) and assigns them.
    pub(crate) async fn open(brokers: &str, src: &str, partitions: i32) -> anyhow::Result<Self> {
        let topics: Vec<String> = OUTCOMES.iter().map(|o| format!("{src}.{o}")).collect();
        for t in &topics {
            e2e::wait_for_topic(brokers, t, partitions, T).await?;
        }
        let consumer: StreamConsumer =
            e2e::consumer_config(brokers, &e2e::unique_name("ledger")).create()?;
        let mut tpl = TopicPartitionList::new();
        for t in &topics {
            for p in 0..partitions {
                tpl.add_partition_offset(t, p, Offset::Beginning)?;
            }
        }
        consumer.assign(&tpl)?;
        drop(tpl);
        Ok(Self {
            consumer,
            ledger: Ledger::new(src),
            topics,
            partitions,
        })
    }

    /// Reads until `done(ledger)`, failing after `timeout` without a new source record (a
    /// loaded box is slow, not stuck, while records keep coming) or after four times
    /// `timeout` in all.
    pub(crate) async fn until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Ledger) -> bool,
    ) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let cap = started + timeout * 4;
        let mut deadline = started + timeout;
        while !done(&self.ledger) {
            match tokio::time::timeout_at(deadline.min(cap), self.consumer.recv()).await {
                Ok(Ok(m)) => {
                    let before = self.ledger.seen.len();
                    self.ledger.add(&m.detach())?;
                    if self.ledger.seen.len() > before {
                        deadline = tokio::time::Instant::now() + timeout;
                    }
                }
                Ok(Err(e)) => bail!("reading outputs: {e}"),
                Err(_) => bail!(
                    "timed out after {:?} waiting until {what} ({timeout:?} without a new source record, or {:?} in all): {} source records seen",
                    started.elapsed(),
                    timeout * 4,
                    self.ledger.seen.len()
                ),
            }
        }
        Ok(())
    }

    /// Reads until every output partition is read to its current end (call once nothing
    /// writes to them any more: the exact duplicate count needs every record).
    pub(crate) async fn read_to_end(&mut self) -> anyhow::Result<()> {
        let mut ends = HashMap::new();
        for t in &self.topics {
            for p in 0..self.partitions {
                let (_, high) = tokio::task::block_in_place(|| {
                    self.consumer
                        .fetch_watermarks(t, p, Duration::from_secs(10))
                })?;
                ends.insert((t.clone(), p), high);
            }
        }
        self.until("every output partition is read to its end", T, |l| {
            ends.iter()
                .all(|(k, high)| l.read.get(k).copied().unwrap_or(0) >= *high)
        })
        .await
    }

    pub(crate) async fn close(self) {
        e2e::close_consumer(self.consumer).await;
    }
}

/// The breaker events of `src` so far, one line each (for failure messages and reports).
pub(crate) async fn breaker_events(brokers: &str, src: &str) -> anyhow::Result<Vec<String>> {
    let topic = format!("{src}.breaker-events");
    let reader = sidecar::reader(brokers, &topic)?;
    let (_, high) = tokio::task::block_in_place(|| {
        reader.fetch_watermarks(&topic, 0, Duration::from_secs(10))
    })?;
    let all = sidecar::read_until(&reader, T, |m| {
        i64::try_from(m.len()).unwrap_or(i64::MAX) >= high
    })
    .await?;
    e2e::close_consumer(reader).await;
    Ok(all
        .iter()
        .map(sidecar::json_of)
        .map(|v| {
            format!(
                "{} {}→{} rule={} value={}",
                v["time"].as_str().unwrap_or("?"),
                v["from"].as_str().unwrap_or("?"),
                v["to"].as_str().unwrap_or("?"),
                v["reason"]["rule"],
                v["reason"]["value"]
            )
        })
        .collect())
}
