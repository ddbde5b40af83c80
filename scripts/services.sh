#!/usr/bin/env bash
# Real Kafka and Redis for contract-gate's tests, on loopback, without Docker.
#
#   scripts/services.sh up [kafka] [redis]   start (both by default); prints
#                                            `export ...` lines for eval
#   scripts/services.sh down                 stop what `up` started
#   scripts/services.sh env                  print the export lines again
#   scripts/services.sh status               what runs, where
#   scripts/services.sh install              install missing system packages
#   scripts/services.sh fetch-kafka          only download the Kafka jars
#   scripts/services.sh python               make the tests' Python venv; prints
#                                            `export CG_TEST_PYTHON=...` for eval
#
# Interactive use:  eval "$(scripts/services.sh up)"; cargo test -p e2e; scripts/services.sh down
#
# Kafka: Apache Kafka $CG_KAFKA_VERSION (KRaft, one node acting as broker and
# controller) from Maven Central via Maven, cached in
# ${CONTRACT_GATE_CACHE:-~/.cache/contract-gate}/kafka-VERSION/libs, run by
# Java 17. Redis: Debian's redis-server without persistence.
#
# State (config, data, logs, PID files, env file) lives in $CG_SERVICES_DIR
# (default: /tmp/contract-gate-services-UID). scripts/test.sh gives every run
# its own directory, so concurrent runs never share or stop each other's
# services. `up` is idempotent per directory: services already running there
# are reused. `down` signals only the processes recorded there, and only if
# they are still the processes that were started (PID + start time).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CG_LOG_TAG="services"

REPO=$(cg_repo_root)
KAFKA_VERSION=${CG_KAFKA_VERSION:-4.1.2}
CACHE=${CONTRACT_GATE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/contract-gate}
STATE=${CG_SERVICES_DIR:-${TMPDIR:-/tmp}/contract-gate-services-$(id -u)}
# How long a service may take to become ready. The first Kafka start on a busy
# 2-core machine (a cargo build running beside it) can take a while.
READY_TIMEOUT=${CG_SERVICES_READY_TIMEOUT:-120}

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# ---------------------------------------------------------------- packages --

install_packages() {
    cg_ensure_packages redis-server:redis-server mvn:maven setsid:util-linux flock:util-linux
    cg_java17 >/dev/null
}

# ------------------------------------------------------------------- Kafka --

# Prints the directory holding the broker's jars, fetching them on first use.
# The download goes to a temporary directory that is renamed into place only
# when complete, under a lock, so an interrupted or concurrent fetch never
# leaves a half-filled cache behind.
kafka_libs() {
    local home=$CACHE/kafka-$KAFKA_VERSION
    if [[ -f $home/libs/.complete ]]; then
        printf '%s\n' "$home/libs"
        return 0
    fi
    cg_ensure_packages mvn:maven flock:util-linux
    mkdir -p "$CACHE"
    (
        flock 9
        if [[ -f $home/libs/.complete ]]; then exit 0; fi
        cg_log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $home"
        local tmp
        tmp=$(mktemp -d "$CACHE/.kafka-$KAFKA_VERSION.XXXXXX")
        # JAVA_HOME for Maven only; -B: no progress bars in logs.
        if ! JAVA_HOME=$(dirname "$(dirname "$(cg_java17)")") mvn -B -q \
            -f "$REPO/scripts/kafka/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" \
            -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
            dependency:copy-dependencies >"$tmp/mvn.log" 2>&1; then
            tail -n 40 "$tmp/mvn.log" >&2
            rm -rf "$tmp"
            cg_die "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
        fi
        [[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar ]] ||
            { rm -rf "$tmp"; cg_die "kafka_2.13-$KAFKA_VERSION.jar missing after the fetch"; }
        touch "$tmp/libs/.complete"
        rm -rf "$home"
        mv "$tmp" "$home"
        cg_log "cached $(find "$home/libs" -name '*.jar' | wc -l) jars"
    ) 9>"$CACHE/.kafka.lock"
    printf '%s\n' "$home/libs"
}

# ------------------------------------------------------------------ Python --

# Prints the interpreter of a venv holding tests/python/requirements.txt (the
# Confluent Python client the end-to-end tests drive), made on first use. The
# venv lives in the cache, outside the repository, named after a digest of the
# requirements and of the interpreter's version, so a changed pin gets a new
# venv and an unchanged one is reused without asking PyPI. It is built under a
# lock and marked complete only after its packages import, so an interrupted
# or concurrent build never leaves a half-filled venv in use.
python_venv() {
    local req=$REPO/tests/python/requirements.txt py key home
    [[ -f $req ]] || cg_die "$req is missing"
    py=$(command -v python3) || {
        cg_ensure_packages python3:python3 >&2
        py=$(command -v python3)
    }
    # Debian's python3 needs python3-venv for `-m venv` (ensurepip); other builds
    # (pyenv, python.org) include it.
    "$py" -c 'import venv, ensurepip' 2>/dev/null || cg_ensure_packages :python3-venv >&2
    key=$({ "$py" -c 'import sys; print(sys.version)'; cat "$req"; } | sha256sum | cut -c1-16)
    home=$CACHE/python-$key
    if [[ -f $home/.complete ]]; then
        printf '%s\n' "$home/bin/python"
        return 0
    fi
    mkdir -p "$CACHE"
    (
        flock 9
        if [[ -f $home/.complete ]]; then exit 0; fi
        cg_log "making a Python venv with tests/python/requirements.txt in $home"
        # Made at its final path, not renamed into it: a venv's scripts record
        # their path. First clear what an interrupted attempt left there.
        rm -rf "$home"
        if ! { "$py" -m venv "$home" &&
            "$home/bin/python" -m pip install -q --disable-pip-version-check \
                --no-input -r "$req"; } >"$CACHE/python-$key.log" 2>&1; then
            tail -n 30 "$CACHE/python-$key.log" >&2
            rm -rf "$home"
            cg_die "could not install tests/python/requirements.txt into a venv"
        fi
        "$home/bin/python" -W ignore -c 'import confluent_kafka.schema_registry, fastavro' ||
            { rm -rf "$home"; cg_die "the Python venv does not import confluent_kafka"; }
        touch "$home/.complete"
        rm -f "$CACHE/python-$key.log"
    ) 9>"$CACHE/.python.lock"
    printf '%s\n' "$home/bin/python"
}

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (the
# format kafka-storage random-uuid prints), made without starting a JVM.
kafka_cluster_id() { head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

kafka_write_config() {
    local dir=$1 bport=$2 cport=$3
    cat >"$dir/server.properties" <<EOF
# Generated by scripts/services.sh for tests: one node, both roles, loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

# Tests produce to topics they did not create.
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Internal topics must fit on one broker; few partitions make the first
# consumer group and the first transaction start fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# A consumer group's first member gets its partitions at once instead of
# after the default 3 s wait for more members.
group.initial.rebalance.delay.ms=0

# Small segments and short retention checks: test data is small and temporary.
log.segment.bytes=8388608
log.retention.check.interval.ms=60000
num.network.threads=2
num.io.threads=4
EOF
}

# The JVM flags for every Kafka JVM we start. The heap is capped so the broker
# leaves memory to cargo and the tests.
kafka_jvm_flags() {
    local dir=$1 logname=$2
    printf '%s\n' -Xms128m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        "-Dlog4j2.configurationFile=$dir/log4j2.properties" \
        "-Dcg.log.file=$dir/logs/$logname"
}

kafka_up() {
    local dir=$STATE/kafka
    if cg_owned "$dir/pid" && [[ -s $dir/bootstrap ]]; then
        cg_log "kafka already running at $(cat "$dir/bootstrap") (pid $(cut -d' ' -f1 "$dir/pid"))"
        return 0
    fi
    local libs java attempt bport cport pid rc flags=()
    libs=$(kafka_libs)
    java=$(cg_java17)
    mkdir -p "$dir/logs"
    cp "$REPO/scripts/kafka/log4j2.properties" "$dir/log4j2.properties"

    # Up to 3 attempts: another process may grab a chosen port before the
    # broker binds it.
    for attempt in 1 2 3; do
        rm -rf "$dir/data" "$dir/bootstrap"
        bport=$(cg_free_port)
        cport=$(cg_free_port)
        while [[ $cport == "$bport" ]]; do cport=$(cg_free_port); done
        kafka_write_config "$dir" "$bport" "$cport"

        mapfile -t flags < <(kafka_jvm_flags "$dir" storage.log)
        if ! "$java" "${flags[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
            -t "$(kafka_cluster_id)" -c "$dir/server.properties" >"$dir/logs/format.out" 2>&1; then
            cat "$dir/logs/format.out" >&2
            cg_die "kafka storage format failed"
        fi

        cg_log "starting kafka $KAFKA_VERSION on 127.0.0.1:$bport (controller :$cport)"
        mapfile -t flags < <(kafka_jvm_flags "$dir" broker.log)
        cg_spawn "$dir/pid" "$dir/logs/stdout.log" "$java" "${flags[@]}" -cp "$libs/*" \
            kafka.Kafka "$dir/server.properties"
        read -r pid _ <"$dir/pid"

        # Wait until the broker serves metadata and can create a topic with a
        # leader (see scripts/kafka/Ready.java for why a port check is not enough).
        mapfile -t flags < <(kafka_jvm_flags "$dir" ready.log)
        rc=0
        "$java" "${flags[@]}" -cp "$libs/*" "$REPO/scripts/kafka/Ready.java" \
            "127.0.0.1:$bport" "$pid" "$READY_TIMEOUT" 2>>"$dir/logs/ready.out" || rc=$?
        if ((rc == 0)); then
            printf '127.0.0.1:%s\n' "$bport" >"$dir/bootstrap"
            cg_log "kafka ready at 127.0.0.1:$bport (pid $pid)"
            return 0
        fi
        cg_stop "$dir/pid" kafka 10
        if grep -qs 'Address already in use' "$dir/logs/broker.log" "$dir/logs/stdout.log"; then
            cg_log "kafka port taken (attempt $attempt); retrying with other ports"
            continue
        fi
        break
    done
    cg_log "kafka did not become ready; last lines of its logs ($dir/logs):"
    tail -n 30 "$dir/logs/ready.out" "$dir/logs/stdout.log" "$dir/logs/broker.log" >&2 2>/dev/null || true
    return 1
}

# ------------------------------------------------------------------- Redis --

# PING over a raw TCP socket: needs no redis-cli.
redis_ping() {
    local reply
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || reply=
    exec 3<&-
    [[ $reply == "+PONG"* ]]
}

redis_up() {
    local dir=$STATE/redis
    if cg_owned "$dir/pid" && [[ -s $dir/url ]]; then
        cg_log "redis already running at $(cat "$dir/url") (pid $(cut -d' ' -f1 "$dir/pid"))"
        return 0
    fi
    local server attempt port pid i
    server=$(command -v redis-server) || {
        cg_ensure_packages redis-server:redis-server
        server=$(command -v redis-server)
    }
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        rm -f "$dir/url"
        port=$(cg_free_port)
        : >"$dir/redis.log"
        # No RDB snapshots or AOF: test state is throwaway and disk writes
        # would only slow the tests. Foreground mode so we own the PID.
        cg_spawn "$dir/pid" "$dir/stdout.log" "$server" \
            --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --save '' --appendonly no --daemonize no \
            --dir "$dir" --logfile "$dir/redis.log" --loglevel warning
        read -r pid _ <"$dir/pid"
        for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
            cg_owned "$dir/pid" || break
            if redis_ping "$port" 2>/dev/null; then
                printf 'redis://127.0.0.1:%s\n' "$port" >"$dir/url"
                cg_log "redis ready at 127.0.0.1:$port (pid $pid)"
                return 0
            fi
            sleep 0.1
        done
        cg_stop "$dir/pid" redis 5
        if grep -qs 'Address already in use' "$dir/redis.log"; then
            cg_log "redis port taken (attempt $attempt); retrying with another port"
            continue
        fi
        break
    done
    cg_log "redis did not become ready; last lines of its log:"
    tail -n 20 "$dir/redis.log" "$dir/stdout.log" >&2 2>/dev/null || true
    return 1
}

# --------------------------------------------------------------- commands --

# The variables the tests read (see tests/src/lib.rs), from what is running.
print_env() {
    local f
    f=$STATE/kafka/bootstrap
    if cg_owned "$STATE/kafka/pid" && [[ -s $f ]]; then
        printf 'export CG_TEST_KAFKA_BROKERS=%s\n' "$(cat "$f")"
    fi
    f=$STATE/redis/url
    if cg_owned "$STATE/redis/pid" && [[ -s $f ]]; then
        printf 'export CG_TEST_REDIS_URL=%s\n' "$(cat "$f")"
    fi
}

cmd_up() {
    local want=("$@") s
    ((${#want[@]})) || want=(kafka redis)
    for s in "${want[@]}"; do
        [[ $s == kafka || $s == redis ]] || { usage; cg_die "unknown service: $s"; }
    done
    install_packages
    mkdir -p "$STATE"
    # If anything fails half-way, stop what this invocation started so no
    # broker is left running without anyone knowing its directory.
    STARTED=()
    trap 'rc=$?; if ((rc != 0)); then for s in "${STARTED[@]}"; do cg_stop "$STATE/$s/pid" "$s" 10; done; fi' EXIT
    for s in "${want[@]}"; do
        cg_owned "$STATE/$s/pid" || STARTED+=("$s")
        "${s}_up"
    done
    print_env | tee "$STATE/env"
    trap - EXIT
}

cmd_down() {
    # Redis first: it stops instantly; Kafka takes a few seconds to shut down.
    [[ -d $STATE ]] || return 0
    cg_stop "$STATE/redis/pid" redis 5
    cg_stop "$STATE/kafka/pid" kafka 30
    rm -f "$STATE/env"
}

cmd_status() {
    local s
    for s in kafka redis; do
        if cg_owned "$STATE/$s/pid"; then
            printf '%-6s running (pid %s) %s\n' "$s" "$(cut -d' ' -f1 "$STATE/$s/pid")" \
                "$(cat "$STATE/$s/bootstrap" "$STATE/$s/url" 2>/dev/null)"
        else
            printf '%-6s stopped\n' "$s"
        fi
    done
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    env) print_env ;;
    status) cmd_status ;;
    install) install_packages ;;
    fetch-kafka) kafka_libs >/dev/null ;;
    python) printf 'export CG_TEST_PYTHON=%s\n' "$(python_venv)" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
    esac
}

main "$@"
