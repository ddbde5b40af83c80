"""Produces flights as Avro with Confluent's own client, as any Confluent producer would.

Run by tests/tests/avro.rs against the gate's Schema Registry and a gate sidecar on real Kafka:

    python produce_flights_avro.py URL TOKEN BROKERS TOPIC AVSC SAMPLE_JSONL COUNT DRIFTED

1. AvroSerializer registers examples/flights/flights.avsc under TOPIC-value (TopicNameStrategy;
   the subject is bound to the flights contract) and COUNT sample flights are produced.
2. A drifted schema (dep_time as a string) is refused under TOPIC-value: the registry checks
   that a bound subject's schemas can carry the contract (409).
3. The same drifted schema, registered under another subject (TOPIC-drift-value, not bound),
   is used to produce DRIFTED flights to TOPIC: the gate must catch these as schema drift.

Prints one JSON line: the ids the registry gave and what was produced.
"""

import copy
import datetime
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext


def flight(line):
    f = json.loads(line)
    # timestamp-millis: fastavro takes an aware datetime.
    f["time_hour"] = datetime.datetime.fromisoformat(f["time_hour"].replace("Z", "+00:00"))
    return f


def produce(producer, topic, serializer, flights):
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    for f in flights:
        value = serializer(f, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=f"{f['carrier']}{f['flight']}", value=value, on_delivery=report)
        producer.poll(0)
    producer.flush(30)
    assert not failures, f"deliveries failed: {failures[:3]}"
    return value


def main():
    url, token, brokers, topic, avsc_path, sample_path, count, drifted = sys.argv[1:9]
    count, drifted = int(count), int(drifted)
    # HTTP Basic with the gate's admin token as the password (any user name).
    client = SchemaRegistryClient({"url": url, "basic.auth.user.info": f"producer:{token}"})
    with open(avsc_path) as fh:
        avsc = fh.read()
    with open(sample_path) as fh:
        sample = [flight(line) for line in fh if line.strip()]
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})

    ser = AvroSerializer(client, avsc, conf={"auto.register.schemas": True})
    last = produce(producer, topic, ser, sample[:count])
    assert last[0] == 0, "Confluent wire format starts with magic byte 0"
    schema_id = int.from_bytes(last[1:5], "big")
    assert client.get_latest_version(f"{topic}-value").schema_id == schema_id

    drift = json.loads(avsc)
    for fld in drift["fields"]:
        if fld["name"] == "dep_time":
            fld["type"] = ["null", "string"]
    drift = json.dumps(drift)
    try:
        client.register_schema(f"{topic}-value", Schema(drift, "AVRO"))
        raise AssertionError("a schema that cannot carry the bound contract was registered")
    except SchemaRegistryError as e:
        assert e.http_status_code == 409, f"expected 409, got {e.http_status_code}: {e}"
        refused = e.error_message

    conf = {"auto.register.schemas": True, "subject.name.strategy": lambda _ctx, _name: f"{topic}-drift-value"}
    dser = AvroSerializer(client, drift, conf=conf)
    late = []
    for f in sample[count:count + drifted]:
        f = copy.copy(f)
        f["dep_time"] = None if f["dep_time"] is None else str(f["dep_time"])
        late.append(f)
    last = produce(producer, topic, dser, late)
    drift_id = int.from_bytes(last[1:5], "big")
    assert drift_id != schema_id
    print(json.dumps({"schema_id": schema_id, "drift_id": drift_id, "produced": count, "drifted": len(late), "refused": refused}))


if __name__ == "__main__":
    main()
