"""Fail-over time: two gates in one group on a 2-partition source, kill -9 one, time until the
survivor is assigned the dead one's partition (its log line) and until a record produced to that
partition reaches validated.

Usage (services from scripts/services.sh up, a release build):
  CG_TEST_KAFKA_BROKERS=host:port CG_GATE_BIN=target/release/contract-gate \
    python3 scripts/failover-time.py ["{ session.timeout.ms: '6000', heartbeat.interval.ms: '1500' }"]
The optional argument replaces the example config's kafka.consumer_properties.
Needs confluent-kafka (tests/python/requirements.txt)."""
import json, os, re, subprocess, sys, tempfile, time, uuid
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
brokers = os.environ["CG_TEST_KAFKA_BROKERS"]
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gate_bin = os.environ.get("CG_GATE_BIN", os.path.join(repo, "target/release/contract-gate"))
work = tempfile.mkdtemp(prefix="failover-")
extra = sys.argv[1] if len(sys.argv) > 1 else ""
src = f"fo-{uuid.uuid4().hex[:6]}"
adm = AdminClient({"bootstrap.servers": brokers})
adm.create_topics([NewTopic(src, 2, 1)])[src].result()
base = open(os.path.join(repo, "examples/flights/gate.yaml")).read().replace("source: flights", f"source: {src}").replace("group_id: contract-gate-flights", f"group_id: {src}-gate").replace("dir: .", "dir: " + os.path.join(repo, "examples/flights"))
gates = []
for i in range(2):
    cfg = base.replace("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{18110+i}")
    if extra:
        cfg = cfg.replace("  consumer_properties: {}", "  consumer_properties: " + extra.replace("ID", f"gate-{i}"))
    path = f"{work}/{src}-{i}.yaml"; open(path, "w").write(cfg)
    log = open(f"{work}/{src}-{i}.log", "w")
    gates.append((subprocess.Popen([gate_bin, "serve", "--config", path, "--brokers", brokers], stdout=log, stderr=log), f"{work}/{src}-{i}.log"))
    time.sleep(3)
# wait until each has one partition
def assigned(logf):
    return [l for l in open(logf) if "partitions assigned" in l]
deadline = time.time() + 60
while time.time() < deadline and not all(assigned(l) for _, l in gates):
    time.sleep(0.5)
p = Producer({"bootstrap.servers": brokers})
rows = [l for l in open(os.path.join(repo, "examples/flights/sample.jsonl"))][:10]
for i in range(10):
    p.produce(src, rows[i].encode(), partition=i % 2)
p.flush(10)
time.sleep(3)
def owned(logf):
    got = set()
    for l in open(logf):
        l = re.sub(r"\x1b\[[0-9;]*m", "", l)
        m = re.search(r"partitions (assigned|revoked) partitions=\[(.*)\]", l)
        if m:
            ps = {int(x) for x in re.findall(r", (\d+)\)", m.group(2))}
            got = got | ps if m.group(1) == "assigned" else got - ps
    return got
deadline = time.time() + 60
while time.time() < deadline and not owned(gates[1][1]):
    time.sleep(0.5)
victim = min(owned(gates[1][1]))
before = len(assigned(gates[0][1]))
t0 = time.time()
gates[1][0].kill()
# produce one record to each partition every 200 ms; see when partition-1 records reach validated
c = Consumer({"bootstrap.servers": brokers, "group.id": f"r-{uuid.uuid4().hex}", "auto.offset.reset": "latest"})
c.subscribe([f"{src}.validated"])
c.poll(2)
t_assign = t_flow = None
n = 0
while time.time() - t0 < 120 and t_flow is None:
    p.produce(src, rows[n % 10].encode(), partition=victim); n += 1
    p.poll(0)
    if t_assign is None and victim in owned(gates[0][1]):
        t_assign = time.time() - t0
    m = c.poll(0.2)
    if m is not None and not m.error():
        h = dict(m.headers() or [])
        if h.get("contract-gate-source-partition") == str(victim).encode():
            t_flow = time.time() - t0
print(json.dumps({"consumer_properties": extra or "default", "reassigned_s": t_assign and round(t_assign, 1), "victim_partition": victim, "flowing_again_s": t_flow and round(t_flow, 1)}))
gates[0][0].terminate(); gates[0][0].wait(20)
