# bench/lib.sh: shell shared by the bench/*_bench.sh scripts; sourced, not run:
#   BENCH_NAME=token_bench   # the prefix of its messages
#   # shellcheck source-path=SCRIPTDIR source=lib.sh
#   . "$(dirname "$0")/lib.sh"
# Sourcing it changes to the repository root (ROOT) and defines BIN and the functions below;
# bench_work creates the work directory (WORK) and sets the cleanup traps.
# shellcheck shell=bash disable=SC2034 # BIN, ROOT, PORT, BASE, NPROC, CPU, FS are for the scripts

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
BIN=build/jobengine
BENCH_NAME=${BENCH_NAME:-bench}

say() { printf '%s\n' "$*" >&2; }
die() {
    say "$BENCH_NAME: $*"
    exit 1
}

need_tools() { # TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found (run: bash scripts/deps.sh --bench)"
    done
}

# build_bin VERB HINT CMD...: runs CMD (the build) unless SKIP_BUILD=1, then checks BIN;
# VERB ("benchmarks", "measures") and HINT ("make") complete the messages.
build_bin() {
    local verb=$1 hint=$2 out
    shift 2
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        if ! out=$("$@" 2>&1); then
            printf '%s\n' "$out" | tail -20 >&2
            die "build failed (SKIP_BUILD=1 $verb the existing $BIN)"
        fi
    fi
    [ -x "$BIN" ] || die "$BIN missing (run $hint)"
}

# Stops one background process of ours: TERM, up to 10 s, then KILL.
# shellcheck disable=SC2317 # invoked by the EXIT trap
stop_pid() { # PID [SIGNAL]
    local pid=$1 sig=${2:-TERM}
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}
SERVER_PID=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
stop_server() {
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

# The EXIT trap: stops CHILD (bg_run), calls the script's on_cleanup when it defines one (its
# other processes), stops the server, removes WORK unless KEEP=1; keeps the exit status.
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CHILD"
    CHILD=""
    if declare -F on_cleanup >/dev/null; then on_cleanup; fi
    stop_server
    if [ -n "${WORK:-}" ]; then
        if [ "${KEEP:-0}" = 1 ]; then say "$BENCH_NAME: kept $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}

# bench_work PREFIX DIR: WORK=DIR/PREFIX.XXXXXX (DIR created), and the traps.
bench_work() {
    mkdir -p "$2"
    WORK=$(mktemp -d "$2/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# Runs CMD in the background with stdout to OUT and stderr to ERR (empty: to OUT too) and waits
# for it, so that a signal stops the benchmark at once (bash runs traps during `wait`, not during
# a foreground command); the EXIT trap stops CHILD.
CHILD=""
bg_run() { # OUT ERR CMD...
    local out=$1 err=$2 rc=0
    shift 2
    if [ -n "$err" ]; then "$@" >"$out" 2>"$err" & else "$@" >"$out" 2>&1 & fi
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

median() { sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit 1
    if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_ms() { date +%s%3N; }
now_ns() { date +%s%N; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_get() { # KEY[.KEY...] < JSON
    python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"
}

# ---- the machine ------------------------------------------------------------------------------
# machine_header DIRWORD [load]: sets NPROC, CPU, FS; prints the first lines of the header
# ("store dir" or "work dir"; "load" adds the load average).
machine_header() {
    : "${NPROC:=$(nproc)}"
    CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
    FS=$(df -PT "$WORK" | awk 'NR == 2 {print $2 " on " $1 " (" $7 ")"}')
    echo "$BENCH_NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm)"
    echo "  nproc $NPROC, cpu ${CPU:-unknown}${2:+, load average $(cut -d' ' -f1-3 /proc/loadavg)}"
    echo "  $1 dir $WORK, filesystem $FS"
}
build_line() {
    echo "  jobengine at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/'), $BIN built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
}

# ---- the server -------------------------------------------------------------------------------
add_client() { # ID ROLE SECRET STORE
    "$BIN" client add "$1" --tenant "$TENANT" --role "$2" --secret "$3" \
        --store "sqlite:$4" --json >/dev/null || die "client add $1 failed"
}
# start_server STORE LOG [SERVE OPTION...]: starts BIN on a free loopback port (PORT, BASE,
# SERVER_PID; its metrics on another, METRICS) with --threads THREADS and waits for it to say "listening": LISTEN_TRIES (100)
# polls LISTEN_STEP (0.1) seconds apart.
start_server() {
    local store=$1 log=$2 tries=${LISTEN_TRIES:-100} step=${LISTEN_STEP:-0.1}
    shift 2
    PORT=$(free_port)
    BASE="http://127.0.0.1:$PORT"
    local mport
    mport=$(free_port)
    METRICS="http://127.0.0.1:$mport/metrics"
    "$BIN" serve --listen "127.0.0.1:$PORT" --store "sqlite:$store" --threads "$THREADS" \
        --metrics-listen "127.0.0.1:$mport" "$@" 2>"$log" >/dev/null &
    SERVER_PID=$!
    for _ in $(seq "$tries"); do
        grep -q '"listening"' "$log" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
        sleep "$step"
    done
    grep -q '"listening"' "$log" && return 0
    cat "$log" >&2
    die "the server did not say listening in $(awk -v n="$tries" -v s="$step" 'BEGIN {print n * s}') s"
}
token() { # ID SECRET SCOPE [EXTRA FORM FIELD]: prints an access token
    curl -sf -u "$1:$2" --data-urlencode grant_type=client_credentials \
        --data-urlencode "scope=$3" ${4:+--data-urlencode "$4"} "$BASE/token" |
        json_get access_token
}
# The server's store writes and commits so far (/metrics), and its CPU ticks.
store_counts() {
    curl -sf "$METRICS" | awk '$1 == "jobengine_store_writes_total" {w = $2}
        $1 == "jobengine_store_commits_total{outcome=\"ok\"}" {c = $2} END {print w + 0, c + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# ---- the peer: fsync'd single-row SQLite commits (bench/sqlite_commit.c) ----------------------
# Sets COMMITS_ALL (SQLITE_RUNS runs of SQLITE_SECONDS, in WORK) and COMMIT, their median.
sqlite_peer() {
    local i c
    cc -O2 -Wall -Wextra bench/sqlite_commit.c -lsqlite3 -o "$WORK/sqlite_commit" ||
        die "cannot build bench/sqlite_commit.c (libsqlite3-dev?)"
    COMMITS_ALL=()
    for i in $(seq "$SQLITE_RUNS"); do
        c=$("$WORK/sqlite_commit" "$WORK" "$SQLITE_SECONDS" 2>"$WORK/sqlite_commit.err") ||
            die "sqlite_commit failed: $(cat "$WORK/sqlite_commit.err")"
        say "  sqlite_commit run$i: $c commits/s ($(sed 's/^sqlite_commit: //' "$WORK/sqlite_commit.err"))"
        COMMITS_ALL+=("$c")
    done
    COMMIT=$(printf '%s\n' "${COMMITS_ALL[@]}" | median)
}

# ---- the machine-readable figures (collected by bench/all.sh) ---------------------------------
# result FIGURE VALUE PEER PEER_VALUE TARGET: prints on stdout, besides the human output,
#   RESULT FIGURE VALUE PEER PEER_VALUE RATIO TARGET
# FIGURE and PEER are single words ('-' for no peer; then PEER_VALUE and RATIO are '-'); RATIO
# is VALUE / PEER_VALUE, two decimals; TARGET is ">=R" on the ratio when there is a peer,
# ">=V" or "<=V" on the value when there is none, or '-' for a figure that is only quoted.
result() { # FIGURE VALUE PEER PEER_VALUE TARGET
    local ratio=-
    if [ "$3" != - ]; then
        ratio=$(awk -v a="$2" -v b="$4" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}')
    fi
    echo "RESULT $1 $2 $3 ${4:--} $ratio ${5:--}"
}

# nginx_conf_head SCRIPT WORKERS CONNECTIONS: the first lines of a peer nginx.conf under $NGX (its
# pid and error log there, in the foreground; as root its workers run as root, to read the 0700
# work directory); the script then writes its own http block.
nginx_conf_head() {
    local user=""
    [ "$(id -u)" = 0 ] && user="user root root;"
    cat <<EOF
# generated by $1
$user
worker_processes $2;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections $3; }
EOF
}

# nginx_start: checks $NGX/nginx.conf, then starts nginx on it in the background.
nginx_start() {
    nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -t >/dev/null 2>"$NGX/test.err" ||
        die "nginx config test failed: $(cat "$NGX/test.err")"
    nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >/dev/null 2>"$NGX/stderr.log" &
}

# CPU accounting: proc_ticks PID... prints the clock ticks (utime + stime) of those processes;
# machine_ticks prints the machine's busy and total ticks (/proc/stat).
proc_ticks() {
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        # The fields after ") " start at field 3 (state): utime and stime are fields 14 and 15.
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$t"
}
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

# to_ms LATENCY: wrk's latency ("850.00us", "1.23ms", "1.05s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n}'
}
