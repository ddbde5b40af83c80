"""Produces flights as JSON Schema or Protobuf with Confluent's own clients, as any Confluent
producer would. Run by tests/tests/wire_formats.rs against the gate's Schema Registry API and a
gate sidecar on real Kafka:

    python produce_flights_wire.py URL TOKEN BROKERS TOPIC FORMAT SCHEMA SAMPLE_JSONL COUNT INVALID DRIFTED

FORMAT is `json` (JSONSerializer, SCHEMA a JSON Schema file) or `protobuf` (ProtobufSerializer,
SCHEMA a .proto file).

1. The schema is registered under TOPIC-value (TopicNameStrategy; the subject is bound to the
   flights contract) and COUNT sample flights are produced, then INVALID flights whose month is
   13: the writer schema allows it, the contract does not.
   For Protobuf the .proto text is registered first, its compiled form read back with
   `format=serialized` (as Confluent's deserializer reads it) and turned into a message class;
   the serializer then registers that descriptor itself, which must be the same schema (same id).
2. A drifted schema (dep_time as a string) is refused under TOPIC-value (409: a bound subject's
   schemas must carry the contract).
3. The drifted schema, registered under TOPIC-drift-value (not bound), writes DRIFTED flights to
   TOPIC: the gate must catch these as schema drift.

Prints one JSON line: the ids the registry gave and what was produced.
"""

import base64
import copy
import datetime
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext


def produce(producer, topic, serializer, values):
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    last = None
    for key, value in values:
        last = serializer(value, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=key, value=last, on_delivery=report)
        producer.poll(0)
    producer.flush(30)
    assert not failures, f"deliveries failed: {failures[:3]}"
    return last


def wire_id(payload):
    assert payload[0] == 0, "Confluent wire format starts with magic byte 0"
    return int.from_bytes(payload[1:5], "big")


def refused_under(client, subject, schema):
    try:
        client.register_schema(subject, schema)
    except SchemaRegistryError as e:
        assert e.http_status_code == 409, f"expected 409, got {e.http_status_code}: {e}"
        return e.error_message
    raise AssertionError("a schema that cannot carry the bound contract was registered")


def json_format(client, producer, topic, schema_path, sample, count, invalid, drifted):
    from confluent_kafka.schema_registry.json_schema import JSONSerializer

    with open(schema_path) as fh:
        text = fh.read()
    ser = JSONSerializer(text, client, conf={"auto.register.schemas": True})
    good = [(f"{f['carrier']}{f['flight']}", f) for f in sample[:count]]
    schema_id = wire_id(produce(producer, topic, ser, good))
    bad = []
    for f in sample[count:count + invalid]:
        f = dict(f, month=13)
        bad.append((f"{f['carrier']}{f['flight']}", f))
    produce(producer, topic, ser, bad)
    assert client.get_latest_version(f"{topic}-value").schema_id == schema_id

    drift = json.loads(text)
    drift["properties"]["dep_time"] = {"type": ["string", "null"]}
    drift = json.dumps(drift)
    refused = refused_under(client, f"{topic}-value", Schema(drift, "JSON"))
    conf = {"auto.register.schemas": True, "subject.name.strategy": lambda _ctx, _name: f"{topic}-drift-value"}
    dser = JSONSerializer(drift, client, conf=conf)
    late = []
    for f in sample[count + invalid:count + invalid + drifted]:
        f = dict(f, dep_time=None if f["dep_time"] is None else str(f["dep_time"]))
        late.append((f"{f['carrier']}{f['flight']}", f))
    drift_id = wire_id(produce(producer, topic, dser, late))
    return schema_id, drift_id, refused


def message_class(client, schema_id, name):
    """The message class of a registered Protobuf schema, built from its serialized form."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    serialized = client.get_schema(schema_id, fmt="serialized").schema_str
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized))
    # A pool of its own: schemas registered as text share one file name.
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def to_message(cls, f):
    m = cls()
    for k, v in f.items():
        if v is None:
            continue
        if k == "time_hour":
            m.time_hour.FromDatetime(datetime.datetime.fromisoformat(v.replace("Z", "+00:00")))
        elif k == "origin":
            m.origin = cls.Origin.Value(v)
        else:
            setattr(m, k, v)
    return m


def protobuf_format(client, producer, topic, schema_path, sample, count, invalid, drifted):
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    with open(schema_path) as fh:
        text = fh.read()
    registered = client.register_schema(f"{topic}-value", Schema(text, "PROTOBUF"))
    cls = message_class(client, registered, "nyc.flights.Flight")
    ser = ProtobufSerializer(cls, client, conf={"auto.register.schemas": True, "use.deprecated.format": False})
    good = [(f"{f['carrier']}{f['flight']}", to_message(cls, f)) for f in sample[:count]]
    schema_id = wire_id(produce(producer, topic, ser, good))
    assert schema_id == registered, f"the serializer's descriptor is a new schema {schema_id}, not {registered}"
    bad = []
    for f in sample[count:count + invalid]:
        bad.append((f"{f['carrier']}{f['flight']}", to_message(cls, dict(f, month=13))))
    produce(producer, topic, ser, bad)

    drift = text.replace("optional int32 dep_time = 4;", "optional string dep_time = 4;").replace("package nyc.flights;", "package nyc.flights.drift;")
    refused = refused_under(client, f"{topic}-value", Schema(drift, "PROTOBUF"))
    drift_registered = client.register_schema(f"{topic}-drift-value", Schema(drift, "PROTOBUF"))
    dcls = message_class(client, drift_registered, "nyc.flights.drift.Flight")
    conf = {"auto.register.schemas": True, "use.deprecated.format": False, "subject.name.strategy": lambda _ctx, _name: f"{topic}-drift-value"}
    dser = ProtobufSerializer(dcls, client, conf=conf)
    late = []
    for f in sample[count + invalid:count + invalid + drifted]:
        f = copy.copy(f)
        f["dep_time"] = None if f["dep_time"] is None else str(f["dep_time"])
        late.append((f"{f['carrier']}{f['flight']}", to_message(dcls, f)))
    drift_id = wire_id(produce(producer, topic, dser, late))
    return schema_id, drift_id, refused


def main():
    url, token, brokers, topic, fmt, schema_path, sample_path, count, invalid, drifted = sys.argv[1:11]
    count, invalid, drifted = int(count), int(invalid), int(drifted)
    # HTTP Basic with the gate's admin token as the password (any user name).
    client = SchemaRegistryClient({"url": url, "basic.auth.user.info": f"producer:{token}"})
    with open(sample_path) as fh:
        sample = [json.loads(line) for line in fh if line.strip()]
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    run = {"json": json_format, "protobuf": protobuf_format}[fmt]
    schema_id, drift_id, refused = run(client, producer, topic, schema_path, sample, count, invalid, drifted)
    assert drift_id != schema_id
    print(json.dumps({"schema_id": schema_id, "drift_id": drift_id, "produced": count, "invalid": invalid, "drifted": drifted, "refused": refused}))


if __name__ == "__main__":
    main()
