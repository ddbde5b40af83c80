# shellcheck shell=bash
# Helpers shared by scripts/services.sh and scripts/test.sh. Sourced, not run.
#
# Everything here logs to stderr so that a script's stdout can carry data
# (services.sh prints `export ...` lines on stdout for `eval`).

# Let `set -e` reach into $(...) too, so a helper that fails inside a command
# substitution fails the assignment instead of yielding an empty string.
shopt -s inherit_errexit

# Seconds since the sourcing script started; used to time the steps.
CG_T0=${CG_T0:-$SECONDS}

cg_log() { printf '[%s +%ss] %s\n' "${CG_LOG_TAG:-cg}" "$((SECONDS - CG_T0))" "$*" >&2; }
cg_die() { cg_log "error: $*"; exit 1; }

# Root of the repository, whatever the caller's working directory is.
cg_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

# cg_ensure_packages CMD:PKG ...
# Installs the Debian package PKG when CMD is not found. CMD may also be an
# absolute path tested with -e, or empty (":PKG") to ask dpkg whether PKG is
# installed, for packages that install no command (headers, libraries).
# The scripts run as root on fresh machines, so a missing tool is installed
# rather than reported; a non-root user gets the apt-get line to run.
cg_ensure_packages() {
    local spec cmd pkg missing=()
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        if [[ -z $cmd ]]; then
            [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] && continue
        elif [[ $cmd == /* ]]; then
            [[ -e $cmd ]] && continue
        else
            command -v "$cmd" >/dev/null 2>&1 && continue
        fi
        # Don't list a package twice (two commands from one package).
        [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0

    if [[ $(id -u) -ne 0 ]]; then
        cg_die "missing packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}"
    fi
    cg_log "installing missing packages: ${missing[*]}"
    # update first: on a fresh machine the package lists may be empty or stale.
    # A lock file keeps two concurrent runs from fighting over dpkg.
    local out
    out=$(mktemp)
    if ! {
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
                --no-install-recommends "${missing[@]}"
    } >"$out" 2>&1; then
        tail -n 30 "$out" >&2
        rm -f "$out"
        cg_die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$out"
}

# The JVM to run Kafka with: Java 17 (Kafka 4.x brokers need >= 17). Prefer
# Debian's OpenJDK 17 even when `java` on PATH is another version, so runs are
# reproducible; install it when absent. A JDK (not a JRE) because the
# readiness probe is a single-file Java program compiled at launch.
cg_java17() {
    local j
    for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        if [[ -x $j && -x ${j%/java}/javac ]]; then
            printf '%s\n' "$j"
            return 0
        fi
    done
    cg_ensure_packages /usr/lib/jvm/java-17-openjdk-amd64/bin/javac:openjdk-17-jdk-headless >&2
    for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -x $j ]] && { printf '%s\n' "$j"; return 0; }
    done
    cg_die "no Java 17 found under /usr/lib/jvm after installing openjdk-17-jdk-headless"
}

# True when nothing accepts TCP connections on 127.0.0.1:$1.
cg_port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cg_wait_port PORT PIDFILE SECONDS: wait until 127.0.0.1:PORT accepts TCP
# connections. Fails at once when the process recorded in PIDFILE exits, or
# after SECONDS.
cg_wait_port() {
    local port=$1 pidfile=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        cg_port_closed "$port" || return 0
        cg_owned "$pidfile" || return 1
        sleep 0.1
    done
    return 1
}

# cg_free_ports N: N distinct free TCP ports (see cg_free_port), one a line.
cg_free_ports() {
    local p ports=()
    while ((${#ports[@]} < $1)); do
        p=$(cg_free_port)
        [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
    done
    printf '%s\n' "${ports[@]}"
}

# A TCP port on loopback that nothing listens on right now. Ports are drawn
# below the kernel's ephemeral range (32768+) so a client's outgoing socket
# cannot already hold them. There is still a window between choosing and
# binding, so callers retry with a new port when the bind fails.
cg_free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((15000 + RANDOM % 17000))
        if cg_port_closed "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    cg_die "could not find a free TCP port on 127.0.0.1"
}

# Process start time (clock ticks since boot, field 22 of /proc/PID/stat).
# Stored next to each PID so that stopping never signals an unrelated process
# that happens to reuse a PID after ours exited.
cg_proc_start() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # The command name (field 2) may contain spaces; cut after its ')'.
    stat=${stat##*) }
    # Now field 3 (state) of the original is the first word; 22 is the 20th
    # here. A zombie (Z) or dead (X) process has exited: its stat file lingers
    # until whoever inherited it reaps it, which must not look like "running".
    awk '$1 != "Z" && $1 != "X" {print $20; ok=1} END {exit !ok}' <<<"$stat"
}

# cg_owned PIDFILE: true when the process recorded in PIDFILE (a "pid start"
# line) is still the very process we started.
cg_owned() {
    local pid start now
    [[ -s $1 ]] || return 1
    read -r pid start <"$1" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    now=$(cg_proc_start "$pid") || return 1
    [[ $now == "$start" ]]
}

# cg_stop PIDFILE NAME GRACE_SECONDS: TERM the recorded process, wait, then KILL.
cg_stop() {
    local pidfile=$1 name=$2 grace=${3:-20} pid _ i
    if ! cg_owned "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    read -r pid _ <"$pidfile"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        cg_owned "$pidfile" || break
        sleep 0.1
    done
    if cg_owned "$pidfile"; then
        cg_log "$name (pid $pid) did not stop in ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            cg_owned "$pidfile" || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
    cg_log "$name stopped (pid $pid)"
}

# cg_spawn PIDFILE LOGFILE CMD...: start CMD in the background in its own
# session (so a terminal's Ctrl-C or the caller's exit does not reach it
# directly; the scripts' traps stop it instead) and record "pid start" in
# PIDFILE. The child writes its own PID before exec'ing, which stays correct
# even when setsid has to fork.
cg_spawn() {
    local pidfile=$1 log=$2 pid start i
    shift 2
    rm -f "$pidfile.tmp"
    # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner bash.
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile.tmp" "$@" </dev/null >>"$log" 2>&1 &
    for ((i = 0; i < 100; i++)); do
        [[ -s $pidfile.tmp ]] && break
        sleep 0.05
    done
    [[ -s $pidfile.tmp ]] || cg_die "process did not start: $*"
    read -r pid <"$pidfile.tmp"
    rm -f "$pidfile.tmp"
    start=$(cg_proc_start "$pid") || start=gone
    printf '%s %s\n' "$pid" "$start" >"$pidfile"
}
