#!/usr/bin/env bash
# Every end-to-end throughput figure in one run, on one broker of its own:
#
#   scripts/bench.sh [--n N] [--workers N] [--headers full|lean] [--peer-threads N]
#                    [--gate-workers N]
#
# 1. builds the release `contract-gate` and `bench_e2e`, the Kafka Streams peer
#    (../shared/peers/kstreams, Maven) and a Python venv for its driver (cached outside the
#    repo);
# 2. starts a Kafka broker on free loopback ports (scripts/services.sh; stopped at exit);
# 3. runs the harness (P, Ps, Pv, G, O at 1 KB and 136 B; tests/src/bin/bench_e2e) and the
#    peer's bench.py (kstreams-pass, kstreams, gate at ~300 B and 1 KB), each system alone on
#    the broker;
# 4. prints the gate against the peer, with the ratios issue 19 sets as targets.
#
# --workers sets the harness's G and O loops; --gate-workers the `workers` of the gate the
# peer's driver starts (default: the example's, one loop per core); --headers both the
# harness's and that gate's header profile on validated records. The driver's sources have
# 3 partitions: 2 loops split them 2:1 and the gate warns at startup; --gate-workers 3 is
# what that warning asks for.
#
# Figures go to BENCHMARKS.md with this command and the commit. Needs ~2 GiB free and, on
# this 2-core box, about 6 minutes after the builds.
# The cleanup runs from the EXIT trap, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CG_LOG_TAG="bench"
REPO=$(cg_repo_root)
cd "$REPO"
PEER="$REPO/../shared/peers/kstreams"

n=1000000 workers="" headers=full peer_threads=1 gate_workers=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --n) n=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --headers) headers=$2; shift 2 ;;
        --peer-threads) peer_threads=$2; shift 2 ;;
        --gate-workers) gate_workers=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) cg_die "unknown argument $1 (see --help)" ;;
    esac
done
[[ -d "$PEER" ]] || cg_die "the peer is missing: $PEER (../shared beside the repo)"

command -v cargo >/dev/null || cg_die "cargo not found: install Rust (rustup) first"
cg_ensure_packages cc:build-essential pkg-config:pkg-config cmake:cmake :libcurl4-openssl-dev :libssl-dev mvn:maven python3:python3
cg_java17 >/dev/null

target="${CARGO_TARGET_DIR:-$REPO/target}"
cg_log "building the release binaries into $target"
cargo build --release -p gate -p e2e --bin contract-gate --bin bench_e2e
[[ -f "$PEER/target/peer.jar" ]] || (cg_log "building the peer"; cd "$PEER" && mvn -q -B package)

venv="${XDG_CACHE_HOME:-$HOME/.cache}/contract-gate/peer-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import confluent_kafka, yaml' 2>/dev/null; then
    cg_log "making the peer driver's venv in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q confluent-kafka==2.15.0 pyyaml
fi

CG_SERVICES_DIR=$(mktemp -d /tmp/cg-bench-XXXXXX)
export CG_SERVICES_DIR
out="$CG_SERVICES_DIR/results"
mkdir -p "$out"
trap 'scripts/services.sh down >/dev/null 2>&1 || true' EXIT
# Kafka's default initial rebalance delay: the gate's record loops, which join the group
# together, then get their partitions in one rebalance, as on a production broker (with 0,
# the first loop takes every partition and gives some back mid-run).
eval "$(CG_KAFKA_INITIAL_REBALANCE_DELAY_MS=3000 scripts/services.sh up kafka)"
broker_pid=$(cut -d" " -f1 "$CG_SERVICES_DIR/kafka/pid")

harness_args=(--skip-latency --n-large 200000 --n-small 400000 --broker-pid "$broker_pid" --headers "$headers")
[[ -n "$workers" ]] && harness_args+=(--workers "$workers")
cg_log "harness: bench_e2e ${harness_args[*]}"
"$target/release/bench_e2e" "${harness_args[@]}" | tee "$out/harness.txt"

# The peer's driver starts the gate from examples/flights/gate.yaml: workers and headers are
# the example's (one loop per core, full headers), unless --gate-workers or --headers lean is
# given: then the driver starts a wrapper that sets them in the config it wrote.
gate_bin="$target/release/contract-gate"
if [[ -n "$gate_workers" || "$headers" == lean ]]; then
    gate_bin="$out/gate-wrapper.sh"
    cat >"$gate_bin" <<WRAP
#!/usr/bin/env bash
# Written by scripts/bench.sh: runs the gate with workers: ${gate_workers:-as given} and
# headers: $headers on every binding, in the config it is given.
cfg=""; prev=""
for a in "\$@"; do [[ \$prev == --config ]] && cfg=\$a; prev=\$a; done
[[ -n "\$cfg" ]] && "$venv/bin/python" - "\$cfg" <<'PY'
import sys, yaml
path = sys.argv[1]
cfg = yaml.safe_load(open(path))
if "$gate_workers": cfg["workers"] = int("${gate_workers:-0}")
for b in cfg.get("bindings", []): b["headers"] = "$headers"
yaml.safe_dump(cfg, open(path, "w"), sort_keys=False)
PY
exec "$target/release/contract-gate" "\$@"
WRAP
    chmod +x "$gate_bin"
fi
for size in natural 1k; do
    cg_log "peer: bench.py --n $n --size $size --kstreams-threads $peer_threads"
    "$venv/bin/python" "$PEER/bench.py" --brokers "$CG_TEST_KAFKA_BROKERS" --n "$n" --size "$size" \
        --kstreams-threads "$peer_threads" --gate-bin "$gate_bin" --json "$out/peer-$size.json" \
        | grep -v '^[0-9][0-9]:'
done

"$venv/bin/python" - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
print("\nThe gate against the Kafka Streams peer (rates from LogAppendTime; 2nd half = the warm rate):\n")
print("| records | kstreams-pass rec/s (2nd half) | kstreams rec/s (2nd half) | gate rec/s (2nd half) | gate / kstreams, 2nd half (target ≥ 3) | gate / kstreams-pass, 2nd half (target ≥ 1) | gate whole run / kstreams 2nd half |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for size in ("natural", "1k"):
    r = {x["system"]: x for x in json.load(open(f"{out}/peer-{size}.json"))["results"]}
    cell = lambda s: f'{r[s]["rate"]:,.0f} ({r[s]["rate_2nd_half"]:,.0f})'
    g, k, p = (r[s]["rate_2nd_half"] for s in ("gate", "kstreams", "kstreams-pass"))
    print(f"| {size} | {cell('kstreams-pass')} | {cell('kstreams')} | {cell('gate')} | {g / k:.2f} | {g / p:.2f} | {r['gate']['rate'] / k:.2f} |")
# bench.py's 2nd half starts at the earliest midpoint of any output partition and ends at the
# latest end. The gate's loops split 3 partitions 2:1, so the loop with one partition passes
# its midpoint early and the 2nd half then spans the other loop's tail: about a quarter below
# the gate's whole-run rate with no warm-up in it (BENCHMARKS.md, ninth pass). The last
# column sets the gate's whole run against the JVM's warm half.
print(f"\nraw results: {out}")
EOF
