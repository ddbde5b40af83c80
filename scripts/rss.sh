#!/usr/bin/env bash
# Resident memory of a gate under load, per record loop and per binding (issue 19, target 7).
#
#   eval "$(scripts/services.sh up kafka)"; eval "$(scripts/services.sh python)"
#   scripts/rss.sh [--bin target/release/contract-gate] [--rate 50000] [--seconds 60]
#                  [--workers "1 2 4"] [--bindings "1 8 32"]
#
# Each run starts the gate (examples/flights contract, `fallback: hold`, so no last-good index)
# on fresh topics, waits for /ready, notes the idle RSS, loads it for --seconds with
# scripts/soak.py (valid flights, the rate shared by every source topic) and notes the RSS at
# the end and its peak. Runs over --workers use one binding (8 partitions); runs over
# --bindings use one topic pattern matching that many topics (2 partitions each) and 2 loops.
# Prints one Markdown row per run. Needs a broker ($CG_TEST_KAFKA_BROKERS) and the Python
# client ($CG_TEST_PYTHON, from `scripts/services.sh python`).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/target/release/contract-gate"
rate=50000
seconds=60
workers_list="1 2 4"
bindings_list="1 8 32"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --workers) workers_list="$2"; shift 2 ;;
    --bindings) bindings_list="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${CG_TEST_KAFKA_BROKERS:?no broker: eval \"\$(scripts/services.sh up kafka)\"}"
: "${CG_TEST_PYTHON:?no Python client: eval \"\$(scripts/services.sh python)\"}"
brokers="$CG_TEST_KAFKA_BROKERS"
work="$(mktemp -d /tmp/cg-rss.XXXXXX)"
trap 'kill "${gate_pid:-}" 2>/dev/null || true' EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

create_topic() { # name partitions
  "$CG_TEST_PYTHON" - "$brokers" "$1" "$2" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic(sys.argv[2], int(sys.argv[3]), 1)]).values():
    f.result()
EOF
}

# One run: $1 label, $2 workers, $3 source (a topic or a pattern), then the topics to load.
run() {
  local label="$1" workers="$2" source="$3"; shift 3
  local port; port=$("$CG_TEST_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local dir="$work/$label"; mkdir -p "$dir"
  cat > "$dir/gate.yaml" <<EOF
kafka:
  brokers: $brokers
  group_id: cg-rss-$label-$$
  pattern_refresh: 1s
http:
  listen: 127.0.0.1:$port
contracts:
  dir: $here/examples/flights
workers: $workers
bindings:
  - name: flights
    source: '$source'
    contract: flights
    fallback: hold
EOF
  "$bin" serve --config "$dir/gate.yaml" > "$dir/gate.log" 2>&1 &
  gate_pid=$!
  for _ in $(seq 1 300); do
    curl -fs "127.0.0.1:$port/ready" > /dev/null 2>&1 && break
    kill -0 "$gate_pid" 2>/dev/null || { echo "gate exited; see $dir/gate.log" >&2; exit 1; }
    sleep 0.2
  done
  curl -fs "127.0.0.1:$port/ready" > /dev/null || { echo "gate not ready; see $dir/gate.log" >&2; exit 1; }
  local idle; idle=$(rss_kib "$gate_pid")
  local args=(); for t in "$@"; do args+=(--topic "$t"); done
  "$CG_TEST_PYTHON" "$here/scripts/soak.py" --brokers "$brokers" "${args[@]}" --pid "$gate_pid" \
    --rate "$rate" --seconds "$seconds" --every 5 > "$dir/soak.log"
  local end; end=$(rss_kib "$gate_pid")
  local peak; peak=$(awk '/RSS/ {v=$(NF-1); if (v>m) m=v} END {printf "%.0f", m}' "$dir/soak.log")
  local produced; produced=$(awk '/records at/ {print $0}' "$dir/soak.log" | sed -E 's/.*MiB; ([0-9,]+) records.*/\1/')
  kill -TERM "$gate_pid"; wait "$gate_pid" || true; gate_pid=
  printf '| %s | %s | %d | %d | %s | %s |\n' "$label" "$workers" $((idle / 1024)) $((end / 1024)) "$peak" "$produced"
}

echo "| run | loops | idle RSS MiB | RSS at end MiB | peak MiB | records |"
echo "| --- | --- | --- | --- | --- | --- |"
for w in $workers_list; do
  t="cg-rss-w$w-$$"
  create_topic "$t" 8
  run "workers-$w" "$w" "$t" "$t"
done
for b in $bindings_list; do
  prefix="cg-rss-b$b-$$"
  topics=()
  for i in $(seq 1 "$b"); do create_topic "$prefix.t$i" 2; topics+=("$prefix.t$i"); done
  run "bindings-$b" 2 "^${prefix//./\\.}\\.t[0-9]+\$" "${topics[@]}"
done
