#!/usr/bin/env python3
"""Memory soak of a running gate: produce valid flights at a steady rate and sample the gate's
resident memory, to show whether it grows under load.

    scripts/soak.py --brokers HOST:PORT --topic flights [--topic more ...] --pid GATE_PID \
        [--rate 40000] [--seconds 600] [--every 10] [--keys 5000]

Records are the sample flights (examples/flights/sample.jsonl) with `time_hour` moved a year
on for every pass over the sample, so the contract's duplicate rule never fires; keys cycle
over --keys values, so a `last_good` index holds at most that many entries. Prints one line
per sample (elapsed s, records produced, RSS MiB) and the growth between the first sample
after warm-up (a fifth of the run) and the last. With several --topic, records go to them in
turn (the rate is the total), to load a gate's bindings alike. Needs confluent-kafka.
"""

import argparse
import json
import os
import sys
import time

from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True, action="append", help="a source topic; repeat for several")
    ap.add_argument("--pid", type=int, required=True, help="the gate's process id")
    ap.add_argument("--rate", type=int, default=40000, help="records per second (default 40000)")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--every", type=int, default=10, help="seconds between samples")
    ap.add_argument("--keys", type=int, default=5000, help="distinct record keys")
    a = ap.parse_args()

    sample = [json.loads(l) for l in open(os.path.join(HERE, "..", "examples", "flights", "sample.jsonl"))]
    sample = [r for r in sample if r["dep_time"] is not None and r["tailnum"] is not None]
    p = Producer({"bootstrap.servers": a.brokers, "linger.ms": 5, "compression.type": "lz4", "queue.buffering.max.messages": 1000000})

    def encoded(pass_no):
        # Each pass another year, so the contract's duplicate rule sees new records; years stay
        # within four digits (the timestamp format), repeating after 7,987 passes (minutes at
        # any rate this box reaches, far beyond the duplicate window).
        year = str(2013 + pass_no % 7987)
        return [json.dumps(dict(r, time_hour=year + r["time_hour"][4:])).encode() for r in sample]

    start = time.monotonic()
    n, pass_no, batch = 0, 0, encoded(0)
    tick = 0.05
    samples = []
    next_sample = start
    while True:
        now = time.monotonic()
        elapsed = now - start
        if now >= next_sample:
            samples.append((elapsed, n, rss_mib(a.pid)))
            print(f"{elapsed:7.1f} s  {n:>10,} records  RSS {samples[-1][2]:8.1f} MiB", flush=True)
            next_sample += a.every
        if elapsed >= a.seconds:
            break
        due = int(elapsed * a.rate)
        while n < due:
            i = n % len(batch)
            if i == 0 and n > 0:
                pass_no += 1
                batch = encoded(pass_no)
            try:
                p.produce(a.topic[n % len(a.topic)], key=str(n % a.keys), value=batch[i])
            except BufferError:
                p.poll(0.01)
                continue
            n += 1
        p.poll(0)
        time.sleep(tick)
    p.flush()
    warm = [s for s in samples if s[0] >= a.seconds / 5]
    if len(warm) >= 2:
        first, last = warm[0], warm[-1]
        print(f"after warm-up: {first[2]:.1f} MiB at {first[0]:.0f} s -> {last[2]:.1f} MiB at {last[0]:.0f} s "
              f"({last[2] - first[2]:+.1f} MiB); peak {max(s[2] for s in samples):.1f} MiB; {n:,} records at {n / a.seconds:,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
