"""Drives the gate's Schema Registry subset with Confluent's own Python client.

Run by tests/tests/schema_registry.rs against a gate registry on real Kafka:

    python schema_registry_client.py URL TOKEN SUBJECT_PREFIX BROKERS TOPIC

Every check is an assert with a message; the script exits non-zero on the first failure and,
on success, prints one JSON line with the ids it saw, which the Rust test compares with other
replicas and with a restarted one.
"""

import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext


def record(name, fields):
    return json.dumps({"type": "record", "name": name, "namespace": "nyc", "fields": fields})


F_CARRIER = {"name": "carrier", "type": "string"}
F_DELAY_OPT = {"name": "dep_delay", "type": ["null", "double"], "default": None}
F_ORIGIN = {"name": "origin", "type": "string"}

V1 = record("trip", [F_CARRIER])
# Compatible under BACKWARD: a new optional field with a default.
V2 = record("trip", [F_CARRIER, F_DELAY_OPT])
# Not BACKWARD compatible: a new field without a default.
BAD = record("trip", [F_CARRIER, F_DELAY_OPT, F_ORIGIN])

# The flights contract (examples/flights), which the Rust test pushes with TOPIC-value in its
# `schemaRegistrySubjects`: the subject the serializer's default TopicNameStrategy uses.
FLIGHT_FIELDS = [
    {"name": "year", "type": "int"},
    {"name": "month", "type": "int"},
    {"name": "day", "type": "int"},
    {"name": "dep_time", "type": ["null", "int"], "default": None},
    {"name": "sched_dep_time", "type": "int"},
    {"name": "dep_delay", "type": ["null", "double"], "default": None},
    {"name": "arr_time", "type": ["null", "int"], "default": None},
    {"name": "sched_arr_time", "type": "int"},
    {"name": "arr_delay", "type": ["null", "double"], "default": None},
    {"name": "carrier", "type": "string"},
    {"name": "flight", "type": "int"},
    {"name": "tailnum", "type": ["null", "string"], "default": None},
    {"name": "origin", "type": "string"},
    {"name": "dest", "type": "string"},
    {"name": "air_time", "type": ["null", "double"], "default": None},
    {"name": "distance", "type": "double"},
    {"name": "hour", "type": "int"},
    {"name": "minute", "type": "int"},
    {"name": "time_hour", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]
FLIGHTS = record("flights", FLIGHT_FIELDS)
FLIGHTS_NO_CARRIER = record("flights", [f for f in FLIGHT_FIELDS if f["name"] != "carrier"])


def client(url, token):
    conf = {"url": url, "max.retries": 0}
    if token is not None:
        # Static bearer token; the logical cluster and pool are Confluent Cloud headers the
        # gate ignores, but the client requires them with this source.
        conf.update({
            "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": token,
            "bearer.auth.logical.cluster": "lkc-gate",
            "bearer.auth.identity.pool.id": "pool-gate",
        })
    return SchemaRegistryClient(conf)


def refused(call, status, code, contains=""):
    try:
        call()
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (status, code), f"expected {status}/{code}, got {e}"
        assert contains in e.error_message, f"{contains!r} not in {e.error_message!r}"
        return e.error_message
    raise AssertionError(f"expected {status}/{code}, the call succeeded")


def main():
    url, token, prefix, brokers, topic = sys.argv[1:6]
    subject = f"{prefix}-value"
    sr = client(url, token)
    # A second client: its own cache, so repeated calls really reach the gate.
    fresh = client(url, token)

    id1 = sr.register_schema(subject, Schema(V1, "AVRO"))
    assert fresh.register_schema(subject, Schema(V1, "AVRO")) == id1, "same schema, same id"
    reformatted = json.dumps(json.loads(V1), indent=2, sort_keys=True)
    assert client(url, token).register_schema(subject, Schema(reformatted, "AVRO")) == id1, "formatting is not identity"

    got = fresh.get_schema(id1)
    assert json.loads(got.schema_str) == json.loads(V1) and got.schema_type == "AVRO", got
    latest = fresh.get_latest_version(subject)
    assert (latest.version, latest.schema_id, latest.subject) == (1, id1, subject), latest

    assert fresh.test_compatibility(subject, Schema(V2, "AVRO")) is True
    assert fresh.test_compatibility(subject, Schema(BAD, "AVRO")) is False
    assert fresh.test_compatibility(subject, Schema(V2, "AVRO"), version=1) is True

    id2 = sr.register_schema(subject, Schema(V2, "AVRO"))
    assert id2 != id1
    # A new client: the first one caches "latest".
    assert client(url, token).get_latest_version(subject).version == 2
    assert fresh.get_version(subject, 1).schema_id == id1
    assert fresh.get_versions(subject) == [1, 2]
    assert subject in fresh.get_subjects()

    msg = refused(lambda: client(url, token).register_schema(subject, Schema(BAD, "AVRO")), 409, 409, "origin")
    assert "BACKWARD" in msg, msg

    # The subject's own level, then the incompatible schema registers.
    assert sr.set_compatibility(subject, "NONE") == {"compatibility": "NONE"}
    assert fresh.get_compatibility(subject) == "NONE"
    assert sr.get_compatibility() == "BACKWARD", "the global level is unchanged"
    id3 = client(url, token).register_schema(subject, Schema(BAD, "AVRO"))
    assert len({id1, id2, id3}) == 3

    found = client(url, token).lookup_schema(subject, Schema(V1, "AVRO"))
    assert (found.version, found.schema_id) == (1, id1), found
    refused(lambda: client(url, token).lookup_schema(subject, Schema(record("other", [F_ORIGIN]), "AVRO")), 404, 40403)
    refused(lambda: client(url, token).get_latest_version(f"{prefix}-nope"), 404, 40401)
    refused(lambda: client(url, token).get_schema(987654), 404, 40403)
    refused(lambda: client(url, token).get_version(subject, 9), 404, 40402)
    # A Protobuf schema that describes no message is refused as invalid; a valid one under this
    # Avro subject would be a type change (409).
    refused(lambda: client(url, token).register_schema(subject, Schema("syntax = \"proto3\";", "PROTOBUF")), 422, 42201, "no message type")
    refused(lambda: client(url, token).register_schema(subject, Schema("syntax = \"proto3\"; message M { int32 a = 1; }", "PROTOBUF")), 409, 409)
    refused(lambda: client(url, token).register_schema(subject, Schema("{\"type\": \"record\"}", "AVRO")), 422, 42201)

    # Writes need the token: none, or a wrong one.
    refused(lambda: client(url, None).register_schema(subject, Schema(V1, "AVRO")), 401, 40101)
    refused(lambda: client(url, "wrong").set_compatibility(subject, "FULL"), 401, 40101)
    # Basic auth with the token as the password works too.
    basic = SchemaRegistryClient({"url": url, "basic.auth.user.info": f"serializer:{token}"})
    assert basic.set_compatibility(subject, "BACKWARD") == {"compatibility": "BACKWARD"}

    # A subject bound to a contract: a schema without a required field is refused by name.
    bound = f"{topic}-value"
    msg = refused(lambda: client(url, token).register_schema(bound, Schema(FLIGHTS_NO_CARRIER, "AVRO")), 409, 409, "carrier")
    assert "contract flights" in msg, msg
    flights_id = client(url, token).register_schema(bound, Schema(FLIGHTS, "AVRO"))

    # The serializer and deserializer round-trip a flight through real Kafka, resolving the
    # schema through the gate (lookup, not auto-registration).
    ser = AvroSerializer(client(url, token), FLIGHTS, conf={"auto.register.schemas": False})
    de = AvroDeserializer(client(url, None))
    flight = {f["name"]: None for f in FLIGHT_FIELDS}
    flight.update(year=2013, month=1, day=1, dep_time=517, sched_dep_time=515, dep_delay=2.0, arr_time=830,
                  sched_arr_time=819, arr_delay=11.0, carrier="UA", flight=1545, tailnum="N14228", origin="EWR",
                  dest="IAH", air_time=227.0, distance=1400.0, hour=5, minute=15, time_hour=1357034400000)
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = ser(flight, ctx)
    assert payload[0] == 0 and int.from_bytes(payload[1:5], "big") == flights_id, payload[:5]
    producer = Producer({"bootstrap.servers": brokers})
    producer.produce(topic, value=payload)
    assert producer.flush(30) == 0, "produce not acknowledged"
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"{prefix}-reader", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    msg = None
    for _ in range(60):
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            break
    consumer.close()
    assert msg is not None and msg.error() is None, f"nothing consumed from {topic}: {msg and msg.error()}"
    back = de(msg.value(), ctx)
    assert back["carrier"] == "UA" and back["flight"] == 1545 and back["time_hour"].year == 2013, back

    print(json.dumps({"subject": subject, "ids": [id1, id2, id3], "bound": bound, "flights": flights_id}))


if __name__ == "__main__":
    main()
