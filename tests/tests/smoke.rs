//! Smoke tests of the test harness itself: they talk to the real Kafka broker
//! and Redis server that scripts/test.sh starts, and fail when producing,
//! consuming, consumer groups, topic admin, Redis commands, Lua scripts or
//! pub/sub do not behave as the gate will rely on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _};
use rdkafka::admin::{AdminOptions, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message as _, Offset};
use redis::AsyncCommands as _;

const N: usize = 300;
const KEYS: usize = 12;
const PARTITIONS: i32 = 3;

fn text(v: Option<&[u8]>) -> Option<&str> {
    v.and_then(|b| std::str::from_utf8(b).ok())
}

/// Enqueues one keyed record with the three test headers; the returned future
/// resolves to its (partition, offset) from the delivery report.
fn send(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    seq: usize,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<(i32, i64)>>> {
    let key = format!("key-{}", seq % KEYS);
    let payload = serde_json::json!({ "seq": seq, "key": key }).to_string();
    let seq_text = seq.to_string();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "seq",
            value: Some(&seq_text),
        })
        .insert(Header {
            key: "run",
            value: Some(topic),
        })
        .insert(Header {
            key: "nothing",
            value: None::<&str>,
        });
    let record = FutureRecord::to(topic)
        .key(&key)
        .payload(&payload)
        .headers(headers);
    let delivery = producer
        .send_result(record)
        .map_err(|(e, _)| anyhow!("enqueue record {seq}: {e}"))?;
    Ok(async move {
        let d = delivery
            .await
            .context("producer dropped the delivery report")?
            .map_err(|(e, _)| anyhow!("deliver record {seq}: {e}"))?;
        Ok((d.partition, d.offset))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_records_round_trip_through_a_consumer_group() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    let topic = e2e::unique_name("smoke-roundtrip");
    e2e::create_topic(&brokers, &topic, PARTITIONS).await?;

    // Produce all records concurrently (in-flight together, as the gate does),
    // in seq order per key, and keep each delivery report.
    let producer = e2e::producer(&brokers)?;
    let mut pending = Vec::with_capacity(N);
    for seq in 0..N {
        pending.push(send(&producer, &topic, seq)?);
    }
    let mut delivered = Vec::with_capacity(N);
    for (seq, fut) in pending.into_iter().enumerate() {
        delivered.push(fut.await.with_context(|| format!("record {seq}"))?);
    }

    let group = e2e::unique_name("smoke-group");
    let consumer = e2e::consumer(&brokers, &group)?;
    consumer.subscribe(&[&topic])?;
    let msgs = e2e::consume_n(&consumer, N, Duration::from_secs(60)).await?;

    let mut seen = BTreeSet::new();
    let mut last_per_partition: HashMap<i32, (i64, usize)> = HashMap::new();
    let mut partition_of_key: HashMap<String, i32> = HashMap::new();
    for m in &msgs {
        ensure!(
            m.topic() == topic,
            "message from unexpected topic {}",
            m.topic()
        );
        let payload: serde_json::Value =
            serde_json::from_slice(m.payload().context("record without payload")?)?;
        let seq = payload["seq"].as_u64().context("payload without seq")? as usize;
        ensure!(seen.insert(seq), "record {seq} delivered twice");

        // Keys, headers (including a null-valued one) survive the round trip.
        let key = text(m.key()).context("record without key")?;
        assert_eq!(key, format!("key-{}", seq % KEYS));
        assert_eq!(payload["key"], key);
        assert_eq!(
            e2e::header(m, "seq").map(text),
            Some(Some(seq.to_string().as_str()))
        );
        assert_eq!(e2e::header(m, "run").map(text), Some(Some(topic.as_str())));
        assert_eq!(e2e::header(m, "nothing"), Some(None), "null header lost");
        assert_eq!(e2e::header(m, "absent"), None);

        // The consumer sees each record where the producer was told it landed.
        assert_eq!((m.partition(), m.offset()), delivered[seq], "record {seq}");

        // Order per partition: offsets and seqs both strictly increase.
        if let Some((off, prev)) = last_per_partition.insert(m.partition(), (m.offset(), seq)) {
            assert!(
                m.offset() > off && seq > prev,
                "partition {} out of order at {seq}",
                m.partition()
            );
        }
        // One key, one partition.
        let p = *partition_of_key
            .entry(key.to_owned())
            .or_insert(m.partition());
        assert_eq!(p, m.partition(), "key {key} spread over partitions");
    }
    assert_eq!(seen, (0..N).collect::<BTreeSet<_>>());
    assert!(
        last_per_partition.len() >= 2,
        "all keys hashed to one partition"
    );

    // Commit, check the group's committed offsets equal the end of each
    // partition, then show a new member of the group resumes after them.
    let committed: BTreeMap<i32, i64> = tokio::task::block_in_place(|| {
        consumer.commit_consumer_state(CommitMode::Sync)?;
        let list = consumer.committed(Duration::from_secs(10))?;
        let map = list
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        drop(list); // before the consumer: see e2e::consumer
        Ok::<_, rdkafka::error::KafkaError>(map)
    })?;
    for p in 0..PARTITIONS {
        let (_, high) = tokio::task::block_in_place(|| {
            consumer.fetch_watermarks(&topic, p, Duration::from_secs(10))
        })?;
        let got = committed.get(&p).copied().unwrap_or(0);
        assert_eq!(got, high, "partition {p}: committed {got}, end {high}");
    }
    e2e::close_consumer(consumer).await;

    let extra = send(&producer, &topic, N)?.await?;
    let again = e2e::consumer(&brokers, &group)?;
    again.subscribe(&[&topic])?;
    let next = e2e::consume_n(&again, 1, Duration::from_secs(60)).await?;
    assert_eq!(
        (next[0].partition(), next[0].offset()),
        extra,
        "group did not resume at its commit"
    );
    assert_eq!(
        e2e::header(&next[0], "seq").map(text),
        Some(Some(N.to_string().as_str()))
    );
    e2e::close_consumer(again).await;
    Ok(())
}

#[tokio::test]
async fn kafka_admin_creates_and_deletes_topics() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else {
        return Ok(());
    };
    let topic = e2e::unique_name("smoke-admin");
    e2e::create_topic(&brokers, &topic, 4).await?;

    let admin = Arc::new(e2e::admin(&brokers)?);
    let topics = e2e::topic_partition_leaders(Arc::clone(&admin), None).await?;
    let (_, leaders) = topics
        .iter()
        .find(|(name, _)| *name == topic)
        .context("created topic missing from metadata")?;
    assert_eq!(leaders.len(), 4);
    assert!(
        leaders.iter().all(|l| *l >= 0),
        "partition without leader: {leaders:?}"
    );

    // Creating it again is refused by the broker, and the helper says so.
    let err = e2e::create_topic(&brokers, &topic, 4)
        .await
        .expect_err("second create of the same topic must fail");
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");

    let opts = AdminOptions::new().operation_timeout(Some(e2e::DEFAULT_TIMEOUT));
    let deleted = admin.delete_topics(&[&topic], &opts).await?;
    assert_eq!(deleted, vec![Ok(topic.clone())]);
    e2e::wait_until(
        "deleted topic leaves the metadata",
        e2e::DEFAULT_TIMEOUT,
        || {
            let admin = Arc::clone(&admin);
            let topic = topic.clone();
            async move {
                let topics = e2e::topic_partition_leaders(admin, None).await.ok()?;
                (!topics.iter().any(|(name, _)| *name == topic)).then_some(())
            }
        },
    )
    .await?;

    // A replication factor above the single broker is rejected, not hung.
    let bad = rdkafka::admin::NewTopic::new(&topic, 1, TopicReplication::Fixed(3));
    let res = admin.create_topics([&bad], &opts).await?;
    assert!(matches!(res.as_slice(), [Err(_)]), "{res:?}");
    Ok(())
}

#[tokio::test]
async fn redis_set_get_and_expire() -> anyhow::Result<()> {
    let Some(url) = e2e::redis_url() else {
        return Ok(());
    };
    let mut conn = e2e::redis_connection(&url).await?;
    let prefix = e2e::unique_name("smoke-kv");
    let key = format!("{prefix}:k");

    let () = conn.set(&key, "v1").await?;
    let got: Option<String> = conn.get(&key).await?;
    assert_eq!(got.as_deref(), Some("v1"));

    let set: bool = conn.expire(&key, 1).await?;
    assert!(set, "EXPIRE on an existing key must return 1");
    let ttl: i64 = conn.ttl(&key).await?;
    assert!((0..=1).contains(&ttl), "ttl {ttl}");
    e2e::wait_until("expired key disappears", Duration::from_secs(10), || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            let exists: bool = conn.exists(&key).await.ok()?;
            (!exists).then_some(())
        }
    })
    .await?;
    let gone: Option<String> = conn.get(&key).await?;
    assert_eq!(gone, None);
    let on_missing: bool = conn.expire(&key, 1).await?;
    assert!(!on_missing, "EXPIRE on a missing key must return 0");

    // The cleanup helper deletes by literal prefix only.
    let () = conn.set(format!("{prefix}:a"), 1).await?;
    let () = conn.set(format!("{prefix}:b"), 2).await?;
    let other = format!("{prefix}x:c");
    let () = conn.set(&other, 3).await?;
    assert_eq!(
        e2e::redis_delete_prefix(&mut conn, &format!("{prefix}:")).await?,
        2
    );
    assert_eq!(
        e2e::redis_delete_prefix(&mut conn, &format!("{prefix}x:")).await?,
        1
    );
    Ok(())
}

/// A miniature of what the breaker's flush script does: add deltas, evaluate a
/// threshold and transition atomically with an epoch.
const FLUSH_LUA: &str = r"
local records = redis.call('HINCRBY', KEYS[1], 'records', ARGV[1])
local failed = redis.call('HINCRBY', KEYS[1], 'failed', ARGV[2])
local state = redis.call('GET', KEYS[2]) or 'closed'
if state == 'closed' and failed * 100 > records * tonumber(ARGV[3]) then
  state = 'open'
  redis.call('SET', KEYS[2], state)
  redis.call('INCR', KEYS[3])
end
return {records, failed, state}
";

#[tokio::test]
async fn redis_lua_script_updates_atomically() -> anyhow::Result<()> {
    let Some(url) = e2e::redis_url() else {
        return Ok(());
    };
    let mut conn = e2e::redis_connection(&url).await?;
    let prefix = e2e::unique_name("smoke-lua");
    let keys = [
        format!("{prefix}:window"),
        format!("{prefix}:state"),
        format!("{prefix}:epoch"),
    ];

    // Plain EVAL: 2 of 100 failed, under the 5 % threshold.
    let first: (i64, i64, String) = redis::cmd("EVAL")
        .arg(FLUSH_LUA)
        .arg(3)
        .arg(&keys)
        .arg(100)
        .arg(2)
        .arg(5)
        .query_async(&mut conn)
        .await?;
    assert_eq!(first, (100, 2, "closed".to_owned()));

    // Through redis::Script (EVALSHA, loading the script on NOSCRIPT):
    // 22 of 200 failed, over the threshold, so the state flips once.
    let script = redis::Script::new(FLUSH_LUA);
    let second: (i64, i64, String) = script
        .key(&keys[0])
        .key(&keys[1])
        .key(&keys[2])
        .arg(100)
        .arg(20)
        .arg(5)
        .invoke_async(&mut conn)
        .await?;
    assert_eq!(second, (200, 22, "open".to_owned()));
    let third: (i64, i64, String) = script
        .key(&keys[0])
        .key(&keys[1])
        .key(&keys[2])
        .arg(0)
        .arg(0)
        .arg(5)
        .invoke_async(&mut conn)
        .await?;
    assert_eq!(third, (200, 22, "open".to_owned()));
    let epoch: i64 = conn.get(&keys[2]).await?;
    assert_eq!(epoch, 1, "transition must happen exactly once");

    // Script errors reach the caller as errors.
    let err = redis::cmd("EVAL")
        .arg("return redis.call('INCR', KEYS[1])")
        .arg(1)
        .arg(&keys[1]) // holds "open", not an integer
        .query_async::<i64>(&mut conn)
        .await
        .expect_err("INCR on a string must fail inside the script");
    assert!(err.to_string().contains("not an integer"), "{err}");

    assert_eq!(e2e::redis_delete_prefix(&mut conn, &prefix).await?, 3);
    Ok(())
}

#[tokio::test]
async fn redis_pubsub_delivers_in_order() -> anyhow::Result<()> {
    let Some(url) = e2e::redis_url() else {
        return Ok(());
    };
    let channel = e2e::unique_name("smoke-events");
    let (_sub, mut rx) = e2e::redis_subscriber(&url, &[&channel]).await?;
    let mut publisher = e2e::redis_connection(&url).await?;

    let sent = ["closed->open", "open->half-open", "half-open->closed"];
    for m in sent {
        let receivers: i64 = publisher.publish(&channel, m).await?;
        assert_eq!(receivers, 1, "subscriber not registered");
    }

    let mut got = Vec::new();
    while got.len() < sent.len() {
        let push = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| anyhow!("no pub/sub message within 10 s; got {got:?}"))?
            .context("push channel closed")?;
        // Subscription confirmations arrive on the same channel; skip them.
        if push.kind != redis::PushKind::Message {
            continue;
        }
        let [ch, payload]: [redis::Value; 2] = push
            .data
            .try_into()
            .map_err(|d| anyhow!("unexpected message shape {d:?}"))?;
        assert_eq!(redis::from_redis_value::<String>(ch)?, channel);
        got.push(redis::from_redis_value::<String>(payload)?);
    }
    assert_eq!(got, sent);

    // A channel nobody listens on reaches no one.
    let none: i64 = publisher.publish(format!("{channel}-other"), "x").await?;
    assert_eq!(none, 0);
    Ok(())
}
