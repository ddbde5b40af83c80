//! `contract-gate contracts infer --topic` on real Kafka: a draft from flights spread over
//! three partitions, read from the beginning up to the partitions' ends or `--records`, with a
//! consumer that leaves no group behind; the draft lints and passes `check` on the records it
//! came from. Avro payloads are refused with the way out.

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::FutureRecord;
use std::process::{Command, Output};
use std::time::Duration;

const SAMPLE: &str = include_str!("../../examples/flights/sample.jsonl");

fn run(args: &[&str]) -> anyhow::Result<Output> {
    let bin = e2e::gate_binary()?;
    Ok(Command::new(bin).args(args).env_remove("CONTRACT_GATE_BROKERS").output()?)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn produce(brokers: &str, topic: &str, payloads: &[&[u8]]) -> anyhow::Result<()> {
    let producer = e2e::producer(brokers)?;
    for (i, p) in payloads.iter().enumerate() {
        let key = i.to_string();
        producer.send(FutureRecord::to(topic).key(&key).payload(*p), Duration::from_secs(30)).await.map_err(|(e, _)| e)?;
    }
    Ok(())
}

#[tokio::test]
async fn infer_drafts_a_contract_from_a_topic_and_leaves_no_trace() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let topic = e2e::unique_name("infer");
    e2e::create_topic(&brokers, &topic, 3).await?;
    let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).take(600).collect();
    let payloads: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    produce(&brokers, &topic, &payloads).await?;

    let dir = tempfile::tempdir()?;
    let draft = dir.path().join("draft.yaml");
    let d = draft.to_str().unwrap_or_default();
    // More records asked for than the topic holds: the read ends at each partition's end.
    let out = run(&["contracts", "infer", "--topic", &topic, "--brokers", &brokers, "--records", "5000", "--timeout", "60s", "--output-file", d])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("from 600 records"), "{}", text(&out));
    let yaml = std::fs::read_to_string(&draft)?;
    for want in [format!("id: {topic}"), "physicalType: topic".into(), "origin.invalidValues".into(), "validValues: [EWR, JFK, LGA]".into(), "  - name: time_hour\n    logicalType: timestamp".into(), format!("600 records of\n#   topic {topic}")] {
        assert!(yaml.contains(&want), "the draft lacks {want:?}:\n{yaml}");
    }
    let lint = run(&["contracts", "lint", d])?;
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, lines.join("\n"))?;
    let check = run(&["check", "--contract", d, "--input", input.to_str().unwrap_or_default()])?;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    // `--records` stops the read early.
    let out = run(&["contracts", "infer", "--topic", &topic, "--brokers", &brokers, "--records", "100", "--timeout", "60s"])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("from 100 records"), "{}", text(&out));

    // Neither run joined a group or committed anything.
    let probe: BaseConsumer = e2e::kafka_config(&brokers).create()?;
    let groups = probe.fetch_group_list(None, e2e::DEFAULT_TIMEOUT)?;
    let left: Vec<String> = groups.groups().iter().map(|g| g.name().to_string()).filter(|n| n.starts_with("contract-gate-infer")).collect();
    assert!(left.is_empty(), "sampling left consumer groups behind: {left:?}");

    // Confluent-framed Avro is refused, naming the schema id and the file form.
    let avro_topic = e2e::unique_name("infer-avro");
    e2e::create_topic(&brokers, &avro_topic, 1).await?;
    produce(&brokers, &avro_topic, &[&[0, 0, 0, 0, 7, 2, 4]]).await?;
    let out = run(&["contracts", "infer", "--topic", &avro_topic, "--brokers", &brokers, "--timeout", "60s"])?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("Confluent wire format (schema id 7:") && text(&out).contains("--format avro"), "{}", text(&out));

    // A topic that does not exist is named, and not created by asking.
    let out = run(&["contracts", "infer", "--topic", "cg-test-infer-no-such-topic", "--brokers", &brokers, "--timeout", "20s"])?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    Ok(())
}
