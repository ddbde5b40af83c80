#!/usr/bin/env bash
# The one test command of contract-gate (CI runs exactly this via .ci/run):
#
#   scripts/test.sh                  all workspace tests (unit + end-to-end)
#   scripts/test.sh -p e2e smoke     other `cargo test` arguments instead of
#                                    the default `--workspace`
#
# 1. installs missing system packages (build tools for rdkafka, Java 17,
#    Maven, Redis, docker-compose) — it runs as root on fresh machines;
# 2. checks docker-compose.yml with `docker-compose config -q` and that no crate's modules
#    import each other in a cycle (scripts/module-cycles.py);
#    makes (once; cached outside the repo) the Python venv of
#    tests/python/requirements.txt and exports CG_TEST_PYTHON;
# 3. starts a real Kafka broker and Redis server on free loopback ports, in a
#    directory private to this run (scripts/services.sh);
# 4. runs `cargo test` (debug profile) with CG_TEST_KAFKA_BROKERS,
#    CG_TEST_REDIS_URL and CG_REQUIRE_SERVICES=1, so no end-to-end test can
#    pass by skipping;
# 5. stops the services it started — also on failure or Ctrl-C — and exits
#    with the tests' status, after a one-line total of passed/failed tests.
# cleanup and summary run from the EXIT trap, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CG_LOG_TAG="test"

REPO=$(cg_repo_root)
cd "$REPO"

# ------------------------------------------------------------- packages ----

# Build: rdkafka's cmake-build compiles librdkafka with cmake and a C/C++
# toolchain; librdkafka 2.12.1 includes curl/curl.h even with curl disabled.
# Services: see scripts/services.sh. docker-compose validates the compose file
# (there is no Docker engine here; `config` does not need one).
command -v cargo >/dev/null || cg_die "cargo not found: install Rust (rustup) first"
cg_ensure_packages \
    cc:build-essential c++:build-essential make:build-essential \
    pkg-config:pkg-config cmake:cmake :libcurl4-openssl-dev :libssl-dev \
    redis-server:redis-server mvn:maven setsid:util-linux flock:util-linux \
    docker-compose:docker-compose python3:python3
cg_java17 >/dev/null

# ------------------------------------------------------ compose config -----

compose_rc=0
if [[ -f docker-compose.yml ]]; then
    if docker-compose -f docker-compose.yml config -q; then
        cg_log "docker-compose.yml: valid"
    else
        compose_rc=$?
        cg_log "docker-compose.yml: INVALID (docker-compose config -q exited $compose_rc)"
    fi
fi
# The secured variant is an overlay: checked merged with the file it extends.
if [[ -f docker-compose.secured.yml ]]; then
    if docker-compose -f docker-compose.yml -f docker-compose.secured.yml config -q; then
        cg_log "docker-compose.secured.yml: valid"
    else
        compose_rc=$?
        cg_log "docker-compose.secured.yml: INVALID (docker-compose config -q exited $compose_rc)"
    fi
fi

# -------------------------------------------------------- module cycles ----

# The layering (ARCHITECTURE.md) holds only while no two modules of a crate import each
# other, directly or around a loop; a new cycle fails the run like a failing test.
cycles_rc=0
if ! python3 scripts/module-cycles.py; then
    cycles_rc=1
    cg_log "module import cycles found (scripts/module-cycles.py, above)"
fi

# --------------------------------------------------------------- python ----

# The end-to-end tests drive Confluent's Python client (a client nobody here
# wrote) against the gate; with CG_REQUIRE_SERVICES=1 they fail without it.
py_env=$("$REPO/scripts/services.sh" python) || cg_die "the tests' Python venv could not be made"
eval "$py_env"
export CG_TEST_PYTHON
cg_log "CG_TEST_PYTHON=$CG_TEST_PYTHON"

# ---------------------------------------------------------------- build ----

# Build the tests before starting the services: a failed build then costs no
# broker start, and Kafka does not start up on a machine busy compiling.
# Only the arguments before a `--` are cargo's; the rest go to the test
# binaries and mean nothing to a build.
args=("$@")
((${#args[@]})) || args=(--workspace)
build_args=()
for a in "${args[@]}"; do
    [[ $a == -- ]] && break
    build_args+=("$a")
done
# A one-off build (CI's fresh clone) gains nothing from incremental data, which
# would double the space the workspace's own crates take.
if [[ -n ${CI:-} ]]; then
    export CARGO_INCREMENTAL=0
fi
target_dir=${CARGO_TARGET_DIR:-$REPO/target}
mkdir -p "$target_dir"
cg_log "disk free for $target_dir: $(df -h --output=avail "$target_dir" | tail -1 | tr -d ' ')"
cg_log "cargo test --no-run ${build_args[*]}"
tests_ran=0
if ! cargo test --no-run "${build_args[@]}"; then
    cg_die "the tests do not build"
fi
# The breaker's pure core must keep building without its runtime and Redis features (the
# workspace build always enables them, so only this catches a stray tokio or redis use).
if [[ ${build_args[*]} == --workspace ]] && ! cargo check -q -p breaker --no-default-features; then
    cg_die "the breaker core does not build without default features"
fi
# tests/tests/serve_resilience/ runs the real `contract-gate` binary (kill -9 and
# restart). The default `cargo test --workspace` builds it (the gate's own integration
# tests need it): hand that one over. Otherwise build it here, so it does not compete with the
# broker's start-up later; a plain `cargo build` resolves dependency features without
# the tests' dev-dependencies, so it compiles the gate and some dependencies again.
if [[ ${build_args[*]} == --workspace && -x $target_dir/debug/contract-gate ]]; then
    export CG_GATE_BIN="$target_dir/debug/contract-gate"
elif ! cargo build -p gate --bin contract-gate; then
    cg_die "the contract-gate binary does not build"
fi
cg_log "build done: $(du -sh "$target_dir" | cut -f1) in $target_dir, $(df -h --output=avail "$target_dir" | tail -1 | tr -d ' ') free"

# ---------------------------------------------------------------- fuzz -----

# The full run fuzzes each decoder and the contract loader for CG_FUZZ_SECONDS (default 60;
# 0 skips) before the services start, when nothing else competes for the cores (measured:
# ~12 min with the install and a cold build, ~3.5 min warm). A crash or hang fails the run
# after the tests, with its input's path (docs/design-notes.md, "Fuzzing on stable").
fuzz_rc=0
if [[ ${build_args[*]} == --workspace && ${CG_FUZZ_SECONDS:-60} != 0 ]]; then
    "$REPO/scripts/fuzz.sh" "${CG_FUZZ_SECONDS:-60}" || fuzz_rc=$?
fi

# ------------------------------------------------------------- services ----

# A fresh state directory per run: two runs at once (two developers, or CI
# beside a developer) get separate brokers and never stop each other's.
CG_SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/contract-gate-test.XXXXXX")
export CG_SERVICES_DIR

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local line=
    if ((tests_ran)); then
        line=$(summary "$rc")
    fi
    cg_log "stopping services"
    "$REPO/scripts/services.sh" down || true
    if ((rc != 0)) && [[ -d $CG_SERVICES_DIR ]]; then
        # Keep the service logs of a failed run for diagnosis; drop the data.
        rm -rf "$CG_SERVICES_DIR/kafka/data"
        cg_log "service logs kept in $CG_SERVICES_DIR"
    else
        rm -rf "$CG_SERVICES_DIR"
    fi
    cg_log "finished in $((SECONDS - CG_T0))s, exit $rc"
    # The closing line: the total over all test binaries.
    [[ -z $line ]] || printf '\n%s\n' "$line"
    exit "$rc"
}
trap cleanup EXIT
# Turn signals into an exit so the EXIT trap tears the services down.
trap 'exit 130' INT
trap 'exit 143' TERM

cg_log "starting Kafka and Redis (state in $CG_SERVICES_DIR)"
"$REPO/scripts/services.sh" up >"$CG_SERVICES_DIR/env.sh"
# shellcheck disable=SC1091
source "$CG_SERVICES_DIR/env.sh"
[[ -n ${CG_TEST_KAFKA_BROKERS:-} && -n ${CG_TEST_REDIS_URL:-} ]] ||
    cg_die "services.sh up did not report both services"
export CG_TEST_KAFKA_BROKERS CG_TEST_REDIS_URL
# The gate's own variables would override what each test's config names (a Redis section
# added to a test that runs without one): tests name their services themselves.
unset CONTRACT_GATE_BROKERS CONTRACT_GATE_REDIS
export CG_REQUIRE_SERVICES=1
# In-process gates log through the test harness's capture: a passing test prints nothing, a
# failing one shows what its gate did (a flaky timeout otherwise leaves nothing to go on).
export CG_TEST_LOG=${CG_TEST_LOG:-gate=info}
cg_log "CG_TEST_KAFKA_BROKERS=$CG_TEST_KAFKA_BROKERS CG_TEST_REDIS_URL=$CG_TEST_REDIS_URL"

# ---------------------------------------------------------------- tests ----

# Adds up cargo's per-binary "test result:" lines into one closing line.
summary() {
    local out=$CG_SERVICES_DIR/cargo-test.out passed=0 failed=0 ignored=0 p f i
    if [[ -f $out ]]; then
        while read -r p f i; do
            passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
        done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$out")
    fi
    if (($1 != 0 && failed == 0)); then
        # Name the step: its own lines may be far above the tests' output.
        local why="build error, services or a crashed test binary"
        ((fuzz_rc == 0)) || why="the fuzz step exited $fuzz_rc (its [fuzz] lines above say why)"
        ((compose_rc == 0)) || why="a compose file is invalid"
        ((cycles_rc == 0)) || why="a module import cycle"
        cg_log "failed outside the tests: $why; see above"
    fi
    printf 'tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$ignored"
}

cg_log "cargo test --no-fail-fast ${args[*]}"
tests_ran=1
set +e
# --no-fail-fast: report every failing test binary, not just the first.
# Both streams go through one pipe so cargo's "Running ..." lines (stderr)
# stay in order with the test binaries' results (stdout); a copy is kept for
# the closing summary.
cargo test --no-fail-fast "${args[@]}" 2>&1 | tee "$CG_SERVICES_DIR/cargo-test.out"
test_rc=${PIPESTATUS[0]}
set -e

if ((test_rc != 0)); then
    exit "$test_rc"
fi
((compose_rc == 0)) || exit "$compose_rc"
((fuzz_rc == 0)) || exit "$fuzz_rc"
exit "$cycles_rc"
