#!/usr/bin/env python3
"""Probe soak: how often does a healthy half-open probe fail with the example config?

    scripts/probe-soak.py --gate target/release/contract-gate [--brokers HOST:PORT]
        [--probes 200] [--minutes 15] [--rate 2000] [--burst 300]

Runs `contract-gate serve` with examples/flights/gate.yaml (its calibrated probe_records, confidence
0.99, open_wait 5 s) on a fresh source topic, then repeats: trip the breaker with a short null
burst (every other flight with dep_time null; no operator command sends a breaker to
half-open, only the open wait does), then feed the sample flights as they are (their own
2.45 % cancelled flights included: the data the probes must pass) until the probe is judged.
A verdict is the breaker event that leaves half_open: to closed is a pass, to open a fail
(with the rule and value that failed it). Stops after --probes verdicts or --minutes, and
prints the passes, fails, starved probes, and the time per probe.

Only the source topic, consumer group, event topics and HTTP address differ from the example
config. Each pass over the sample moves `time_hour` a year on, so the contract's duplicate
rule never fires. Needs confluent-kafka (scripts/services.sh python) and a broker
(scripts/services.sh up, which sets CONTRACT_GATE_BROKERS).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "flights")


def sample():
    with open(os.path.join(EXAMPLE, "sample.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


class Feed:
    """The sample flights in order, a year later on every pass."""

    def __init__(self):
        self.base = sample()
        self.next = 0

    def take(self, n, edit=None):
        out = []
        for _ in range(n):
            at = self.next
            self.next += 1
            r = dict(self.base[at % len(self.base)])
            year = at // len(self.base)
            if year and isinstance(r.get("time_hour"), str):
                r["time_hour"] = str(2013 + year) + r["time_hour"][4:]
            if edit:
                edit(at, r)
            out.append(r)
        return out


def config(source, listen):
    """The example config with this run's topics, group and address."""
    with open(os.path.join(EXAMPLE, "gate.yaml")) as f:
        text = f.read()
    swaps = [
        ("    source: flights\n", f"    source: {source}\n"),
        ("  group_id: contract-gate-flights\n", f"  group_id: {source}-gate\n"),
        ("  dir: .  ", f"  dir: {os.path.abspath(EXAMPLE)}  "),
    ]
    for old, new in swaps:
        if old not in text:
            sys.exit(f"examples/flights/gate.yaml changed: {old.strip()!r} not found; adjust this script")
        text = text.replace(old, new)
    text += f"events:\n  breaker_topic: {source}.breaker-events\n  violations_topic: {source}.violations\n"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gate", required=True, help="the contract-gate binary")
    ap.add_argument("--brokers", default=os.environ.get("CONTRACT_GATE_BROKERS", "127.0.0.1:9092"))
    ap.add_argument("--probes", type=int, default=200, help="stop after this many verdicts")
    ap.add_argument("--minutes", type=float, default=15.0, help="or after this long")
    ap.add_argument("--rate", type=int, default=2000, help="clean flights per second while recovering")
    ap.add_argument("--burst", type=int, default=300, help="records of each null burst")
    ap.add_argument("--listen", default="127.0.0.1:18089")
    args = ap.parse_args()

    source = f"probesoak-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.brokers})
    for fut in admin.create_topics([NewTopic(source, num_partitions=2, replication_factor=1)]).values():
        fut.result()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write(config(source, args.listen))
    cfg.close()
    log = open(os.path.join(tempfile.gettempdir(), f"{source}.log"), "w")
    env = dict(os.environ, CONTRACT_GATE_BROKERS=args.brokers, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    gate = subprocess.Popen([args.gate, "serve", "--config", cfg.name, "--listen", args.listen], stdout=log, stderr=subprocess.STDOUT, env=env)
    print(f"gate pid {gate.pid}, source {source}, log {log.name}", flush=True)

    producer = Producer({"bootstrap.servers": args.brokers, "linger.ms": 5})
    events = Consumer({"bootstrap.servers": args.brokers, "group.id": f"{source}-soak", "auto.offset.reset": "earliest", "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 1000})
    events.subscribe([f"{source}.breaker-events"])
    feed = Feed()
    seq = 0

    def produce(records):
        nonlocal seq
        for r in records:
            producer.produce(source, key=f"k{seq % 5000}", value=json.dumps(r))
            seq += 1
            if seq % 1000 == 0:
                producer.poll(0)
        producer.flush(10)

    def null_half(at, r):
        if at % 2 == 0:
            r["dep_time"] = None

    passes, fails, starved, other = 0, [], 0, 0
    state, trip_wanted = "closed", True
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    tick = 0.05
    per_tick = max(1, int(args.rate * tick))
    try:
        while passes + len(fails) + starved < args.probes and time.monotonic() < deadline:
            if gate.poll() is not None:
                sys.exit(f"the gate exited with {gate.returncode}; see {log.name}")
            if state == "closed" and trip_wanted:
                produce(feed.take(args.burst, null_half))
                trip_wanted = False
            else:
                produce(feed.take(per_tick))
            msg = events.poll(tick)
            while msg is not None:
                if msg.error() is None:
                    ev = json.loads(msg.value())
                    frm, to, reason = ev.get("from"), ev.get("to"), ev.get("reason") or {}
                    if frm == "half_open":
                        elapsed = time.monotonic() - started
                        if to == "closed":
                            passes += 1
                        elif reason.get("kind") == "probe_starved":
                            starved += 1
                        elif to == "open":
                            fails.append((reason.get("rule"), reason.get("value"), reason.get("records")))
                            print(f"  probe FAILED: {reason}", flush=True)
                        else:
                            other += 1
                        n = passes + len(fails) + starved
                        if n % 10 == 0:
                            print(f"{elapsed:7.1f} s  probes {n}  passed {passes}  failed {len(fails)}  starved {starved}", flush=True)
                    state = to
                    if to == "closed":
                        trip_wanted = True
                msg = events.poll(0)
    finally:
        gate.terminate()
        try:
            gate.wait(30)
        except subprocess.TimeoutExpired:
            gate.kill()
        events.close()
        os.unlink(cfg.name)
    secs = time.monotonic() - started
    n = passes + len(fails) + starved
    print(f"\nprobes judged {n} in {secs:.0f} s ({secs / max(n, 1):.1f} s per probe): passed {passes}, failed {len(fails)}, starved {starved}, other {other}")
    for f in fails:
        print(f"  failed on {f[0]} = {f[1]} over {f[2]} records")
    print(f"records produced {seq}")
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(main())
