#!/usr/bin/env bash
# Fuzzes contract-gate's decoders and contract loader with afl.rs on stable Rust:
#
#   scripts/fuzz.sh [SECONDS]       every target for SECONDS each (default 60)
#   CG_FUZZ_TARGETS="json wire" scripts/fuzz.sh 300
#
# 1. installs cargo-afl once (it builds AFL++ itself, into ~/.local/share/afl.rs; both
#    live outside the repository and survive between runs);
# 2. builds the instrumented targets into $CARGO_TARGET_DIR/fuzz (default target/fuzz;
#    fuzz/ is its own workspace) and replays the seed corpus and every regression input
#    through them once, without the fuzzer;
# 3. runs each target from its seeds in fuzz/corpus/<target>, CG_FUZZ_JOBS at a
#    time (default: one per core), findings in $CG_FUZZ_OUT (default a fresh temp dir);
# 4. fails when any target found a crash, printing each crash input's path. A crash is
#    reproduced with `target/fuzz/release/<target> < INPUT`; once fixed, the input is kept
#    in fuzz/regressions/<target>/ so `cargo test` in fuzz/ replays it from then on.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CG_LOG_TAG="fuzz"

REPO=$(cg_repo_root)
SECONDS_EACH=${1:-60}
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || cg_die "usage: scripts/fuzz.sh [SECONDS]"
TARGETS=${CG_FUZZ_TARGETS:-json avro_body wire contract}
JOBS=${CG_FUZZ_JOBS:-$(nproc)}
AFL_VERSION=0.18.2

command -v cargo >/dev/null || cg_die "cargo not found: install Rust (rustup) first"
# AFL++ is built from source by cargo-afl: a C toolchain and make.
cg_ensure_packages cc:build-essential make:build-essential

# ------------------------------------------------------------- install -----

if [[ $(cargo afl --version 2>/dev/null) != *"$AFL_VERSION"* ]]; then
    cg_log "installing cargo-afl $AFL_VERSION"
    cargo install --locked --version "$AFL_VERSION" cargo-afl
fi
# Builds AFL++ for this rustc once (`config --build` refuses to run again once done); the
# help text of a built afl-fuzz names it.
afl_help=$(cargo afl fuzz -h 2>&1 || true)
if [[ $afl_help != *afl-fuzz++* ]]; then
    cg_log "building AFL++ for $(rustc --version)"
    cargo afl config --build --force
fi

# --------------------------------------------------------------- build -----

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}/fuzz
cd "$REPO/fuzz"
cg_log "building the instrumented targets into $CARGO_TARGET_DIR"
cargo afl build --locked --release -q
cg_log "build done"
# Outside AFL a target runs its closure once on stdin: every seed and every kept regression
# input must pass before fuzzing starts (`cargo test` in fuzz/ does the same in a debug build,
# and checks the Avro seeds against the fixtures; CI skips that build).
for t in $TARGETS; do
    for f in "$REPO/fuzz/corpus/$t"/* "$REPO/fuzz/regressions/$t"/*; do
        [[ -f $f ]] || continue
        "$CARGO_TARGET_DIR/release/$t" <"$f" >/dev/null 2>&1 || cg_die "$t fails on $f (run: $CARGO_TARGET_DIR/release/$t < $f)"
    done
done
cg_log "seeds and regression inputs replayed"

# ----------------------------------------------------------------- run -----

OUT=${CG_FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/contract-gate-fuzz.XXXXXX")}
mkdir -p "$OUT"
# Headless and CI-proof: no UI, no CPU binding (jobs share the cores with whatever else
# runs), no check of the CPU governor or of where the kernel sends core dumps.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

fuzz_one() {
    local t=$1 bin=$CARGO_TARGET_DIR/release/$1
    # The instrumented binary reports how many edges it has; AFL's default map is smaller
    # than a target with jsonschema, regex and apache-avro in it.
    local map
    # (It exits 255 after printing the size.)
    map=$(AFL_DUMP_MAP_SIZE=1 "$bin" || true)
    [[ $map =~ ^[0-9]+$ ]] || { echo "$bin did not report its map size: $map" >"$OUT/$t.log"; return 1; }
    # -V: stop after the given seconds; -t: a single input over 2 s is a hang (counted
    # below); the target's own limits cap memory, so AFL adds none (-m none).
    AFL_MAP_SIZE=$map cargo afl fuzz -V "$SECONDS_EACH" -t 2000 -m none -i "$REPO/fuzz/corpus/$t" \
        -o "$OUT/$t" "$bin" >"$OUT/$t.log" 2>&1
}

cg_log "fuzzing ${TARGETS// /, } for ${SECONDS_EACH}s each, $JOBS at a time; findings in $OUT"
pids=()
names=()
failed=()
for t in $TARGETS; do
    [[ -d $REPO/fuzz/corpus/$t ]] || cg_die "no target $t (fuzz/corpus/$t is missing)"
    fuzz_one "$t" &
    pids+=($!)
    names+=("$t")
    if ((${#pids[@]} >= JOBS)); then
        wait "${pids[0]}" || failed+=("${names[0]}")
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
done

# --------------------------------------------------------------- report ----

rc=0
for t in $TARGETS; do
    stats=$OUT/$t/default/fuzzer_stats
    if [[ " ${failed[*]} " == *" $t "* || ! -f $stats ]]; then
        cg_log "$t: afl-fuzz did not run to the end; its log:"
        tail -n 30 "$OUT/$t.log" >&2 || true
        rc=1
        continue
    fi
    field() { sed -n "s/^$1 *: *//p" "$stats"; }
    cg_log "$t: $(field execs_done) runs, $(field corpus_count) paths, $(field saved_crashes) crashes, $(field saved_hangs) hangs"
    for f in "$OUT/$t/default/crashes"/id:* "$OUT/$t/default/hangs"/id:*; do
        [[ -e $f ]] || continue
        cg_log "  FOUND in $(basename "$(dirname "$f")"): $f"
        cg_log "  reproduce: $CARGO_TARGET_DIR/release/$t < '$f'"
        rc=1
    done
done
((rc == 0)) && cg_log "no crash and no hang in ${TARGETS// /, }"
exit "$rc"
