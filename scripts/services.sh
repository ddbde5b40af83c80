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
#   scripts/services.sh kafka-topics ARGS    Kafka's topic tool against the broker
#                                            `up` started (--bootstrap-server added)
#   scripts/services.sh kafka-java           print the Java 17 binary and Kafka's libs
#                                            directory, one a line (for private brokers)
#
# Interactive use:  eval "$(scripts/services.sh up)"; cargo test -p e2e; scripts/services.sh down
# The same eval sets CONTRACT_GATE_BROKERS and CONTRACT_GATE_REDIS, which the gate's
# commands read, so `contract-gate serve|drill|replay` reach these services unedited.
#
# Kafka: Apache Kafka $CG_KAFKA_VERSION (KRaft, one node acting as broker and
# controller) from Maven Central via Maven, cached in
# ${CONTRACT_GATE_CACHE:-~/.cache/contract-gate}/kafka-VERSION/libs, run by
# Java 17. Listeners: PLAINTEXT; SSL with mutual TLS (client certificate
# required); SASL_SSL (TLS, then SCRAM-SHA-512, SCRAM-SHA-256 or OAUTHBEARER
# with Kafka's unsecured JWT validator). No authorizer.
# Redis: Debian's redis-server without persistence, on a plain port (default
# user, no password) and a TLS port (client certificates optional) with an ACL
# user for the TLS tests.
#
# TLS material, made with openssl once per state directory in $STATE/tls: a
# test CA (ca.pem, ca.key), a server certificate it signed for DNS:localhost
# and IP:127.0.0.1 (server.pem, server.key), a client certificate it signed,
# CN contract-gate-test (client.pem, client.key), an unrelated CA for
# "untrusted certificate" tests (other-ca.pem); EC P-256 keys, PKCS#8 PEM,
# unencrypted. Random passwords for user cg-test (Kafka SCRAM, Redis ACL).
#
# `up` prints, for what runs:
#   CG_TEST_TLS_DIR                  $STATE/tls (ca.pem, client.pem, client.key, other-ca.pem)
#   CG_TEST_KAFKA_BROKERS            127.0.0.1:PORT, PLAINTEXT
#   CG_TEST_KAFKA_SSL_BROKERS        127.0.0.1:PORT, mutual TLS
#   CG_TEST_KAFKA_SASL_SSL_BROKERS   127.0.0.1:PORT, TLS + SASL
#   CG_TEST_KAFKA_SCRAM_USER, CG_TEST_KAFKA_SCRAM_PASSWORD
#   CG_TEST_REDIS_URL                redis://127.0.0.1:PORT
#   CG_TEST_REDIS_TLS_URL            rediss://cg-test:PASSWORD@127.0.0.1:PORT
#   CG_TEST_REDIS_TLS_USER, CG_TEST_REDIS_TLS_PASSWORD
#   CONTRACT_GATE_BROKERS, CONTRACT_GATE_REDIS   the plain endpoints again, under the names
#                                    the gate's own commands read (scripts/test.sh unsets them:
#                                    each test names its services in its own config)
# The secured endpoints are named by IP, which the server certificate holds
# too, so clients keep hostname verification on.
#
# CG_KAFKA_INITIAL_REBALANCE_DELAY_MS sets the broker's
# group.initial.rebalance.delay.ms (default 0 here; Kafka's own is 3000).
# CG_KAFKA_NUM_PARTITIONS sets num.partitions, the count a topic auto-created
# by its first producer gets (default 1, as Kafka's own).
#
# State (config, data, logs, PID files, env file) lives in $CG_SERVICES_DIR
# (default: /tmp/contract-gate-services-UID). scripts/test.sh gives every run
# its own directory, so concurrent runs never share or stop each other's
# services. `up` is idempotent per directory: services already running there
# are reused (one running without the secured endpoints, started by an older
# version of this script, is restarted), and so is $STATE/tls, which `down`
# keeps. `down` signals only the processes recorded there, and only if
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

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# ---------------------------------------------------------------- packages --

install_packages() {
    cg_ensure_packages redis-server:redis-server mvn:maven setsid:util-linux flock:util-linux \
        openssl:openssl
    cg_java17 >/dev/null
}

# --------------------------------------------------------------------- TLS --

# The host name clients use for the secured endpoints (Kafka's SSL and
# SASL_SSL listeners are advertised under it; the Redis TLS URL names it). The
# server certificate holds both DNS:localhost and IP:127.0.0.1; the IP is used
# because it needs no name lookup (localhost may also resolve to ::1, where
# nothing listens) and librdkafka on OpenSSL 3 verifies it against the IP SAN
# (SSL_set1_host takes IP literals) with hostname verification left on.
TLS_HOST=127.0.0.1
# The user of the secured endpoints: Kafka SCRAM credentials and a Redis ACL user.
TLS_USER=cg-test
# What $STATE/tls holds once complete: PEM files, keys unencrypted PKCS#8.
TLS_FILES=(ca.pem ca.key server.pem server.key client.pem client.key other-ca.pem
    server-keystore.pem kafka-scram-password redis-password)

# files_present DIR NAME...: true when every DIR/NAME is a non-empty file.
files_present() {
    local d=$1 f
    shift
    for f; do [[ -s $d/$f ]] || return 1; done
}

tls_complete() { [[ -f $STATE/tls/.complete ]] && files_present "$STATE/tls" "${TLS_FILES[@]}"; }

# An EC P-256 private key in PKCS#8 PEM (what genpkey writes): small and fast
# to make, and read by Kafka's PEM keystore, OpenSSL 3 (librdkafka, Redis) and
# rustls alike.
tls_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# tls_sign DIR NAME CN: NAME.key and NAME.pem, signed by DIR/ca.pem with the
# extensions of section NAME of DIR/openssl.cnf.
tls_sign() {
    local d=$1 n=$2 cn=$3
    tls_key "$d/$n.key" &&
        openssl req -new -config "$d/openssl.cnf" -key "$d/$n.key" -subj "/CN=$cn" \
            -out "$d/$n.csr" &&
        openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
            -extfile "$d/openssl.cnf" -extensions "$n" -out "$d/$n.pem" &&
        rm -f "$d/$n.csr"
}

# Writes the test PKI and the passwords into DIR (see tls_material).
tls_generate() {
    local d=$1
    cat >"$d/openssl.cnf" <<'EOF'
# Generated by scripts/services.sh: extensions of the test certificates.
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    tls_key "$d/ca.key" &&
        openssl req -new -x509 -config "$d/openssl.cnf" -extensions ca -key "$d/ca.key" \
            -subj "/CN=contract-gate test CA" -days 3650 -sha256 -out "$d/ca.pem" &&
        tls_sign "$d" server localhost &&
        tls_sign "$d" client contract-gate-test &&
        tls_key "$d/other-ca.key" &&
        openssl req -new -x509 -config "$d/openssl.cnf" -extensions ca -key "$d/other-ca.key" \
            -subj "/CN=contract-gate untrusted test CA" -days 3650 -sha256 \
            -out "$d/other-ca.pem" &&
        rm -f "$d/other-ca.key" &&
        cat "$d/server.key" "$d/server.pem" >"$d/server-keystore.pem" &&
        openssl rand -hex 16 >"$d/kafka-scram-password" &&
        openssl rand -hex 16 >"$d/redis-password"
}

# Makes the test PKI in $STATE/tls once per state directory: a test CA
# (ca.pem, ca.key); a server certificate it signed for DNS:localhost and
# IP:127.0.0.1 (server.pem, server.key; server-keystore.pem is both, for
# Kafka's PEM keystore); a client certificate it signed, CN contract-gate-test
# (client.pem, client.key); an unrelated self-signed CA (other-ca.pem) for
# "untrusted certificate" tests; and random passwords for user $TLS_USER
# (kafka-scram-password, redis-password). Made in a private temporary
# directory renamed into place when complete, under a lock, like the Kafka
# jars; a complete one is reused, so certificates and passwords stay the same
# across restarts of the services.
tls_material() {
    local dir=$STATE/tls
    tls_complete && return 0
    cg_ensure_packages openssl:openssl flock:util-linux
    mkdir -p "$STATE"
    (
        flock 9
        if tls_complete; then exit 0; fi
        local tmp
        tmp=$(mktemp -d "$STATE/.tls.XXXXXX") # mode 0700: keys and passwords
        if ! tls_generate "$tmp" >"$tmp/openssl.log" 2>&1; then
            tail -n 30 "$tmp/openssl.log" >&2
            rm -rf "$tmp"
            cg_die "openssl could not make the test certificates"
        fi
        rm -f "$tmp/openssl.log"
        touch "$tmp/.complete"
        rm -rf "$dir"
        mv "$tmp" "$dir"
        cg_log "made a test CA, server and client certificates in $dir"
    ) 9>"$STATE/.tls.lock"
}

# ------------------------------------------------------------------- Kafka --

# Prints the directory holding the broker's jars, fetching them on first use.
# The download goes to a temporary directory that is renamed into place only
# when complete, under a lock, so an interrupted or concurrent fetch never
# leaves a half-filled cache behind.
kafka_libs() {
    local home=$CACHE/kafka-$KAFKA_VERSION
    # A cache made before the tools were fetched too lacks the tools jar: fetch again.
    if [[ -f $home/libs/.complete && -f $home/libs/kafka-tools-$KAFKA_VERSION.jar ]]; then
        printf '%s\n' "$home/libs"
        return 0
    fi
    cg_ensure_packages mvn:maven flock:util-linux
    mkdir -p "$CACHE"
    (
        flock 9
        if [[ -f $home/libs/.complete && -f $home/libs/kafka-tools-$KAFKA_VERSION.jar ]]; then exit 0; fi
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
        [[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/libs/kafka-tools-$KAFKA_VERSION.jar ]] ||
            { rm -rf "$tmp"; cg_die "kafka_2.13-$KAFKA_VERSION.jar or kafka-tools-$KAFKA_VERSION.jar missing after the fetch"; }
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
# format kafka-storage random-uuid prints), made without starting a JVM. Like
# Kafka's Uuid.randomUuid, never one starting with '-': StorageTool would take
# it for an option and fail ("argument --cluster-id/-t: expected one
# argument"), one `up` in 64.
kafka_cluster_id() {
    local id=-
    while [[ $id == -* ]]; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    printf '%s\n' "$id"
}

kafka_write_config() {
    local dir=$1 bport=$2 cport=$3 sport=$4 aport=$5 tls=$STATE/tls
    local scram=org.apache.kafka.common.security.scram.ScramLoginModule
    local oauth=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule
    cat >"$dir/server.properties" <<EOF
# Generated by scripts/services.sh for tests: one node, both roles, loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport,SSL://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$aport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport,SSL://$TLS_HOST:$sport,SASL_SSL://$TLS_HOST:$aport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

# The secured listeners, for the tests of the gate's TLS and SASL settings.
# Both present the test CA's server certificate, read as PEM (no keytool).
# No authorizer: any authenticated principal may do anything.
ssl.keystore.type=PEM
ssl.keystore.location=$tls/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
# SSL: mutual TLS, clients must present a certificate the test CA signed.
listener.name.ssl.ssl.client.auth=required
# SASL_SSL: TLS without client certificates, then SCRAM (user $TLS_USER, added
# when the storage is formatted) or OAUTHBEARER with Kafka's default, unsecured
# JWT validator (any unsigned token with a sub claim is accepted).
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=$oauth required;

# Tests produce to topics they did not create.
auto.create.topics.enable=true
num.partitions=${CG_KAFKA_NUM_PARTITIONS:-1}
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
# after the default 3 s wait for more members (scripts/bench.sh asks for
# Kafka's default, so a gate's record loops join as one group, as they do
# on a production broker).
group.initial.rebalance.delay.ms=${CG_KAFKA_INITIAL_REBALANCE_DELAY_MS:-0}

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

# running_as_configured NAME DIR SHOWN STOP_WAIT ADDRESS_FILE...
# True when the service recorded in DIR runs with every address file and the
# TLS material present (it is reused). One that runs without them (never
# ready, or started by an older services.sh without the secured listeners)
# is stopped and recorded in STARTED, so that cmd_up stops it again if `up`
# fails; then, as when nothing runs, false.
running_as_configured() {
    local name=$1 dir=$2 shown=$3 wait=$4
    shift 4
    cg_owned "$dir/pid" || return 1
    if files_present "$dir" "$@" && tls_complete; then
        cg_log "$name already running at $(cat "$dir/$shown") (pid $(cut -d' ' -f1 "$dir/pid"))"
        return 0
    fi
    cg_log "$name running but not as configured here; restarting it"
    cg_stop "$dir/pid" "$name" "$wait"
    STARTED+=("$name")
    return 1
}

# The files kafka_up writes once the broker is ready: host:port of the
# PLAINTEXT, SSL (mutual TLS) and SASL_SSL listeners.
KAFKA_ADDRESS_FILES=(bootstrap ssl-bootstrap sasl-ssl-bootstrap)

kafka_up() {
    local dir=$STATE/kafka f
    running_as_configured kafka "$dir" bootstrap 30 "${KAFKA_ADDRESS_FILES[@]}" && return 0
    local libs java attempt ports bport cport sport aport pid rc pw flags=()
    tls_material
    pw=$(cat "$STATE/tls/kafka-scram-password")
    libs=$(kafka_libs)
    java=$(cg_java17)
    mkdir -p "$dir/logs"
    cp "$REPO/scripts/kafka/log4j2.properties" "$dir/log4j2.properties"

    # Up to 3 attempts: another process may grab a chosen port before the
    # broker binds it.
    for attempt in 1 2 3; do
        rm -rf "$dir/data"
        for f in "${KAFKA_ADDRESS_FILES[@]}"; do rm -f "$dir/$f"; done
        ports=$(cg_free_ports 4)
        read -r bport cport sport aport <<<"${ports//$'\n'/ }"
        kafka_write_config "$dir" "$bport" "$cport" "$sport" "$aport"

        # The SCRAM credentials go into the cluster's bootstrap metadata, so
        # they exist before the first client connects.
        mapfile -t flags < <(kafka_jvm_flags "$dir" storage.log)
        if ! "$java" "${flags[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
            -t "$(kafka_cluster_id)" -c "$dir/server.properties" \
            --add-scram "SCRAM-SHA-512=[name=$TLS_USER,password=$pw]" \
            --add-scram "SCRAM-SHA-256=[name=$TLS_USER,password=$pw]" \
            >"$dir/logs/format.out" 2>&1; then
            cat "$dir/logs/format.out" >&2
            cg_die "kafka storage format failed"
        fi

        cg_log "starting kafka $KAFKA_VERSION on 127.0.0.1:$bport (controller :$cport, ssl :$sport, sasl_ssl :$aport)"
        mapfile -t flags < <(kafka_jvm_flags "$dir" broker.log)
        cg_spawn "$dir/pid" "$dir/logs/stdout.log" "$java" "${flags[@]}" -cp "$libs/*" \
            kafka.Kafka "$dir/server.properties"
        read -r pid _ <"$dir/pid"

        # Wait until the broker serves metadata and can create a topic with a
        # leader (see scripts/kafka/Ready.java for why a port check is not
        # enough), then until the secured listeners accept connections.
        mapfile -t flags < <(kafka_jvm_flags "$dir" ready.log)
        rc=0
        "$java" "${flags[@]}" -cp "$libs/*" "$REPO/scripts/kafka/Ready.java" \
            "127.0.0.1:$bport" "$pid" "$READY_TIMEOUT" 2>>"$dir/logs/ready.out" || rc=$?
        if ((rc == 0)) && cg_wait_port "$sport" "$dir/pid" "$READY_TIMEOUT" &&
            cg_wait_port "$aport" "$dir/pid" "$READY_TIMEOUT"; then
            printf '%s:%s\n' "$TLS_HOST" "$sport" >"$dir/ssl-bootstrap"
            printf '%s:%s\n' "$TLS_HOST" "$aport" >"$dir/sasl-ssl-bootstrap"
            printf '127.0.0.1:%s\n' "$bport" >"$dir/bootstrap"
            cg_log "kafka ready at 127.0.0.1:$bport, ssl $TLS_HOST:$sport, sasl_ssl $TLS_HOST:$aport (pid $pid)"
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

# The files redis_up writes once the server is ready: the plain URL and the
# host:port of the TLS port.
REDIS_ADDRESS_FILES=(url tls-address)

redis_up() {
    local dir=$STATE/redis f
    running_as_configured redis "$dir" url 5 "${REDIS_ADDRESS_FILES[@]}" && return 0
    local server attempt ports port tport pid i tls=$STATE/tls
    server=$(command -v redis-server) || {
        cg_ensure_packages redis-server:redis-server
        server=$(command -v redis-server)
    }
    tls_material
    mkdir -p "$dir"
    # The ACL user of the TLS tests goes in a config file rather than on the
    # command line, so its password does not show in ps. The default user
    # stays as it is (no password, all rights) for the plaintext tests.
    (
        umask 077
        printf 'user %s on >%s ~* &* +@all\n' "$TLS_USER" "$(cat "$tls/redis-password")" \
            >"$dir/users.conf"
    )
    for attempt in 1 2 3; do
        for f in "${REDIS_ADDRESS_FILES[@]}"; do rm -f "$dir/$f"; done
        ports=$(cg_free_ports 2)
        read -r port tport <<<"${ports//$'\n'/ }"
        : >"$dir/redis.log"
        # No RDB snapshots or AOF: test state is throwaway and disk writes
        # would only slow the tests. Foreground mode so we own the PID. TLS
        # client certificates are optional: checked against the test CA when
        # sent.
        cg_spawn "$dir/pid" "$dir/stdout.log" "$server" "$dir/users.conf" \
            --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --tls-port "$tport" --tls-cert-file "$tls/server.pem" \
            --tls-key-file "$tls/server.key" --tls-ca-cert-file "$tls/ca.pem" \
            --tls-auth-clients optional \
            --save '' --appendonly no --daemonize no \
            --dir "$dir" --logfile "$dir/redis.log" --loglevel warning
        read -r pid _ <"$dir/pid"
        for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
            cg_owned "$dir/pid" || break
            if redis_ping "$port" 2>/dev/null; then
                cg_wait_port "$tport" "$dir/pid" "$READY_TIMEOUT" || break
                printf '%s:%s\n' "$TLS_HOST" "$tport" >"$dir/tls-address"
                printf 'redis://127.0.0.1:%s\n' "$port" >"$dir/url"
                cg_log "redis ready at 127.0.0.1:$port, tls $TLS_HOST:$tport (pid $pid)"
                return 0
            fi
            sleep 0.1
        done
        cg_stop "$dir/pid" redis 5
        if grep -qs 'Address already in use' "$dir/redis.log"; then
            cg_log "redis port taken (attempt $attempt); retrying with other ports"
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
    local dir kafka=0 redis=0
    dir=$STATE/kafka
    if cg_owned "$dir/pid" && files_present "$dir" "${KAFKA_ADDRESS_FILES[@]}"; then
        kafka=1
    fi
    dir=$STATE/redis
    if cg_owned "$dir/pid" && files_present "$dir" "${REDIS_ADDRESS_FILES[@]}"; then
        redis=1
    fi
    if ((kafka + redis == 0)) || ! tls_complete; then return 0; fi
    printf 'export CG_TEST_TLS_DIR=%s\n' "$STATE/tls"
    if ((kafka)); then
        dir=$STATE/kafka
        printf 'export CG_TEST_KAFKA_BROKERS=%s\n' "$(cat "$dir/bootstrap")"
        printf 'export CG_TEST_KAFKA_SSL_BROKERS=%s\n' "$(cat "$dir/ssl-bootstrap")"
        printf 'export CG_TEST_KAFKA_SASL_SSL_BROKERS=%s\n' "$(cat "$dir/sasl-ssl-bootstrap")"
        printf 'export CG_TEST_KAFKA_SCRAM_USER=%s\n' "$TLS_USER"
        printf 'export CG_TEST_KAFKA_SCRAM_PASSWORD=%s\n' "$(cat "$STATE/tls/kafka-scram-password")"
        printf 'export CONTRACT_GATE_BROKERS=%s\n' "$(cat "$dir/bootstrap")"
    fi
    if ((redis)); then
        dir=$STATE/redis
        local pw
        pw=$(cat "$STATE/tls/redis-password")
        printf 'export CG_TEST_REDIS_URL=%s\n' "$(cat "$dir/url")"
        printf 'export CG_TEST_REDIS_TLS_URL=rediss://%s:%s@%s\n' "$TLS_USER" "$pw" "$(cat "$dir/tls-address")"
        printf 'export CG_TEST_REDIS_TLS_USER=%s\n' "$TLS_USER"
        printf 'export CG_TEST_REDIS_TLS_PASSWORD=%s\n' "$pw"
        printf 'export CONTRACT_GATE_REDIS=%s\n' "$(cat "$dir/url")"
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

# Kafka's TopicCommand (what kafka-topics.sh runs) from the cached jars, pointed at the
# plain listener of the broker `up` started: the jars come without Kafka's shell scripts.
cmd_kafka_topics() {
    local dir=$STATE/kafka
    cg_owned "$dir/pid" && [[ -f $dir/bootstrap ]] ||
        cg_die "no Kafka running in $STATE: run scripts/services.sh up first"
    "$(cg_java17)" -Xmx256m -cp "$(kafka_libs)/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$(cat "$dir/bootstrap")" "$@"
}

cmd_status() {
    local dir=$STATE/kafka
    if cg_owned "$dir/pid"; then
        printf 'kafka  running (pid %s) %s ssl %s sasl_ssl %s\n' "$(cut -d' ' -f1 "$dir/pid")" \
            "$(cat "$dir/bootstrap" 2>/dev/null)" "$(cat "$dir/ssl-bootstrap" 2>/dev/null)" \
            "$(cat "$dir/sasl-ssl-bootstrap" 2>/dev/null)"
    else
        printf 'kafka  stopped\n'
    fi
    dir=$STATE/redis
    if cg_owned "$dir/pid"; then
        printf 'redis  running (pid %s) %s tls %s\n' "$(cut -d' ' -f1 "$dir/pid")" \
            "$(cat "$dir/url" 2>/dev/null)" "$(cat "$dir/tls-address" 2>/dev/null)"
    else
        printf 'redis  stopped\n'
    fi
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
    kafka-java) cg_java17 && kafka_libs ;;
    python) printf 'export CG_TEST_PYTHON=%s\n' "$(python_venv)" ;;
    kafka-topics) cmd_kafka_topics "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
    esac
}

main "$@"
