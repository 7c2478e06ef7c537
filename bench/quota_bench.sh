#!/usr/bin/env bash
# bench/quota_bench.sh: quota benchmarks of JobEngine, each printed next to a peer measured in
# the same run on the same machine (runs interleaved, so background noise hits both sides),
# medians of RUNS runs, ratios in a final table:
#   1. GET /jobengine/quotas/{id} with a bearer token (wrk, keep-alive) next to Debian's nginx
#      serving the very same JSON body as a static file.                       target >= 0.8x
#   2. acquire + release decisions/s over HTTP (wrk + bench/quota_acquire.lua), every decision
#      durable (SQLite WAL, synchronous=FULL, grouped commits), next to nginx's static 200 of an
#      acquire-sized body (target >= 0.5x) and next to Redis 7 running a GCRA token-bucket Lua
#      script (bench/gcra.lua) under redis-benchmark at the same concurrency, without
#      persistence and with appendfsync always (the durable peer).            target >= 1.0x
#   3. in-process decisions/s of core/ (bench/core_decide.c), one thread.    target >= 10M/s
#   4. resident memory (VmRSS) of the server idle after start, with 10,000 quotas, and with
#      them under 64 connections (bench/rss_bench.sh).                         target <= 32 MB
#   5. the p99 latency of the acquire runs of 2. (wrk --latency, CONNECTIONS connections): every
#      request of the mix, half acquires and half releases, each a durable decision.
#                                                                               target <= 5 ms
# Everything listens on 127.0.0.1 only; every process and temp dir is removed on exit.
# See bench/README.md.
#
# Usage (from anywhere; `bash scripts/deps.sh --bench` installs wrk, nginx, redis first):
#   bash bench/quota_bench.sh
# Settings (environment):
#   THREADS=auto       server HTTP worker threads (--threads; auto is the server's default)
#   DURATION=5         seconds per measured run   RUNS=3          runs per measure (median)
#   WARMUP=2           seconds of warm-up each    CONNECTIONS=64  wrk/redis-benchmark clients
#   WRK_THREADS=2      wrk and redis-benchmark threads
#   CORE_SECONDS=2     seconds per core_decide run
#   QUOTAS=10000       quotas created for the RSS figure
#   NGINX_WORKERS=auto nginx worker_processes     NGINX_ACCESS_LOG=on  (our server logs every
#                      request too; off makes nginx's figure higher)
#   SKIP_BUILD=1       do not run `cmake --build build`
#   KEEP=1             keep the work directory    STRICT=1        exit 3 when a target is missed
#   IDLE_WAIT=60       seconds (in all) to wait for background load to pass before runs
# Output: the table for people, then one line per figure for bench/all.sh (lib.sh's result):
#   RESULT get_quota N nginx_static_same_body N RATIO >=0.8
#   RESULT acquire_release N redis_gcra_aof_always N RATIO >=1.0   (and nginx_static_permit
#   >=0.5, redis_gcra_no_persistence -), RESULT acquire_p99_ms N - - - <=5 (CONNECTIONS in the
#   name when not 64: acquire_p99_ms@32c), RESULT core_decide N target_10M N RATIO >=1.0, and
#   rss_bench.sh's lines
set -euo pipefail

BENCH_NAME=quota_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-auto}
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
CORE_SECONDS=${CORE_SECONDS:-2}
QUOTAS=${QUOTAS:-10000}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-on}
TENANT=bench
ADMIN_ID=bench-admin
WORKER_ID=bench-worker
# Fixed secrets (the CLI wants at least 32 characters); the stores are thrown away after.
ADMIN_SECRET=benchAdminSecret0123456789abcdefghijklmnop
WORKER_SECRET=benchWorkerSecret0123456789abcdefghijklmno
# The acquire quota: slots >= connections, bucket and refill far above what a run can use, so
# (nearly) every acquire is granted; the ceilings are raised to allow it.
Q_MAX_ACTIVE=1000
Q_MAX_PER_HOUR=1000000000
Q_BURST=100000000
Q_REFILL=1000000
# The Redis peer's bucket: 1 µs emission interval (1,000,000/s), burst 1,000,000.
GCRA_EMISSION_US=1
GCRA_BURST=1000000
T0=$(date +%s)

need_tools wrk nginx redis-server redis-cli redis-benchmark cc curl python3 timeout awk

build_bin benchmarks "cmake --build build, or make" cmake --build build

bench_work quota "$ROOT/bench/out"
NGINX_PID="" REDIS0_PID="" REDIS1_PID=""
# shellcheck disable=SC2317 # invoked by cleanup (lib.sh), which then stops the server
on_cleanup() {
    stop_pid "$NGINX_PID" # the master stops its workers (TERM: fast shutdown)
    stop_pid "$REDIS0_PID"
    stop_pid "$REDIS1_PID"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r + 0 >= t) ? "met" : "NOT met"}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# CPU accounting (proc_ticks, machine_ticks: lib.sh).
CLK_TCK=$(getconf CLK_TCK)

# ---- the machine ------------------------------------------------------------------------------
machine_header work
echo "  $BIN of $(git describe --always --dirty 2>/dev/null || echo '?'), built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
echo "  $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(nginx -v 2>&1); $(redis-server --version | cut -d' ' -f1-3)"
echo "  server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS; redis-benchmark" \
    "--threads $WRK_THREADS -c $CONNECTIONS; ${DURATION}s x $RUNS runs (+${WARMUP}s warm-up)"
read -r B0 A0 < <(machine_ticks)
sleep 1
read -r B1 A1 < <(machine_ticks)
BUSY=$(awk -v b=$((B1 - B0)) -v a=$((A1 - A0)) 'BEGIN {printf "%.0f", a ? 100 * b / a : 0}')
echo "  machine busy before start: $BUSY% of $NPROC cores"
if [ "$BUSY" -gt 15 ]; then
    say "quota_bench: WARNING: something else is using the CPU; figures will be low:"
    top -b -n 1 -o %CPU 2>/dev/null | sed -n '7,12p' >&2 || true
fi

# ---- 1. core/ in process ----------------------------------------------------------------------
cc -O2 -Wall -Wextra -Isrc bench/core_decide.c src/core/quota.c src/core/err.c src/core/text.c -lm \
    -o "$WORK/core_decide" || die "cannot build bench/core_decide.c"
CORE_ALL=()
for i in $(seq "$RUNS"); do
    c=$("$WORK/core_decide" "$CORE_SECONDS" grant 2>"$WORK/core.err") ||
        die "core_decide failed: $(cat "$WORK/core.err")"
    say "  core_decide run$i: $(sed 's/^core_decide: //' "$WORK/core.err")"
    CORE_ALL+=("$c")
done
CORE=$(printf '%s\n' "${CORE_ALL[@]}" | median)
CORE_DENY=$("$WORK/core_decide" 1 deny 2>"$WORK/core.err") || die "core_decide deny failed"
say "  core_decide deny: $(sed 's/^core_decide: //' "$WORK/core.err")"

# ---- servers ----------------------------------------------------------------------------------

# ---- 4. resident memory: idle, then with QUOTAS quotas (bench/rss_bench.sh) ----------------
RSS_OUT=$(THREADS=$THREADS QUOTAS=$QUOTAS SKIP_BUILD=1 timeout -k 2 180 bash bench/rss_bench.sh) ||
    die "bench/rss_bench.sh failed"
RSS_LINE=$(grep '^rss_bench: ' <<<"$RSS_OUT" | tail -1)
RSS_RESULTS=$(grep '^RESULT ' <<<"$RSS_OUT" || true)
rss_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" ${RSS_LINE#rss_bench: }"; }
RSS_IDLE=$(rss_field idle_kb)
RSS_QUOTAS=$(rss_field quotas_kb)
CREATED=$(rss_field quotas)
CREATE_RATE=$(rss_field create_rate)
if [ -z "$RSS_IDLE" ] || [ -z "$RSS_QUOTAS" ]; then die "cannot parse rss_bench's line: $RSS_LINE"; fi

# ---- the bench server, its quota and the peers' bodies ----------------------------------------
add_client "$ADMIN_ID" Orch.Admin "$ADMIN_SECRET" "$WORK/bench.db"
add_client "$WORKER_ID" Orch.Worker "$WORKER_SECRET" "$WORK/bench.db"
start_server "$WORK/bench.db" "$WORK/server.log" --ceiling-max-per-hour "$Q_MAX_PER_HOUR" \
    --ceiling-burst-capacity "$Q_BURST" --ceiling-refill-per-second "$Q_REFILL"
ADMIN_TOKEN=$(token "$ADMIN_ID" "$ADMIN_SECRET" orch:quota quota_reason=bench) ||
    die "cannot get a orch:quota token"
WORKER_TOKEN=$(token "$WORKER_ID" "$WORKER_SECRET" "orch:read orch:jobs") ||
    die "cannot get a orch:read orch:jobs token"
QUOTA_ID=$(curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"jobType\":\"bench.acquire\",\"maxActive\":$Q_MAX_ACTIVE,\"maxPerHour\":$Q_MAX_PER_HOUR,\"burstCapacity\":$Q_BURST,\"refillPerSecond\":$Q_REFILL}" \
    "$BASE/jobengine/quotas" | json_get quotaId) || die "cannot create the bench quota"
mkdir -p "$WORK/nginx/html" "$WORK/nginx/tmp"
curl -sf -H "Authorization: Bearer $WORKER_TOKEN" -o "$WORK/nginx/html/quota.json" \
    "$BASE/jobengine/quotas/$QUOTA_ID" || die "GET /jobengine/quotas/$QUOTA_ID failed"
curl -sf -X POST -H "Authorization: Bearer $WORKER_TOKEN" -H 'Content-Type: application/json' \
    -d '{}' -o "$WORK/nginx/html/permit.json" "$BASE/jobengine/quotas/$QUOTA_ID/acquire" ||
    die "acquire failed"
PERMIT=$(json_get permitId <"$WORK/nginx/html/permit.json")
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $WORKER_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"permitId\":\"$PERMIT\"}" \
    "$BASE/jobengine/quotas/$QUOTA_ID/release")" = 204 ] || die "release did not answer 204"
# Header + body sizes of both sides, to show the peers answer alike.
resp_size() { curl -s -o /dev/null -w '%{size_header}+%{size_download}' "$@"; }
GET_SIZE=$(resp_size -H "Authorization: Bearer $WORKER_TOKEN" "$BASE/jobengine/quotas/$QUOTA_ID")

# ---- nginx ------------------------------------------------------------------------------------
NGX="$WORK/nginx"
NGINX_PORT=$(free_port)
if [ "$NGINX_ACCESS_LOG" = on ]; then NGX_LOG="access_log $NGX/access.log;"; else NGX_LOG="access_log off;"; fi
{
    nginx_conf_head bench/quota_bench.sh "$NGINX_WORKERS" 1024
    cat <<EOF
http {
    include /etc/nginx/mime.types;
    default_type application/json;
    $NGX_LOG
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000000; # like our server, never close a busy keep-alive connection
    open_file_cache max=16;
    open_file_cache_valid 60s;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $NGX/html;
    }
}
EOF
} >"$NGX/nginx.conf"
nginx_start
NGINX_PID=$!
NGINX_BASE="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 100); do
    curl -sf -o /dev/null "$NGINX_BASE/quota.json" && break
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(tail -3 "$NGX/error.log")"
    sleep 0.1
done
cmp -s <(curl -sf "$NGINX_BASE/quota.json") "$NGX/html/quota.json" || die "nginx does not serve quota.json"
NGINX_GET_SIZE=$(resp_size "$NGINX_BASE/quota.json")
NGINX_PERMIT_SIZE=$(resp_size "$NGINX_BASE/permit.json")
# The master and its workers, one per line (read into an array by the callers).
nginx_pids() { printf '%s\n' "$NGINX_PID"; ps -o pid= --ppid "$NGINX_PID" | tr -d ' '; }

# ---- redis ------------------------------------------------------------------------------------
start_redis() { # DIR PORT EXTRA...  -> REDIS_STARTED_PID
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$dir" --save '' \
        --daemonize no --logfile "$dir/redis.log" "$@" &
    REDIS_STARTED_PID=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_STARTED_PID" 2>/dev/null || die "redis-server exited: $(tail -3 "$dir/redis.log")"
        sleep 0.1
    done
    die "redis-server did not answer PING in 10 s"
}
REDIS0_PORT=$(free_port)
start_redis "$WORK/redis0" "$REDIS0_PORT" --appendonly no
REDIS0_PID=$REDIS_STARTED_PID
REDIS1_PORT=$(free_port)
start_redis "$WORK/redis1" "$REDIS1_PORT" --appendonly yes --appendfsync always
REDIS1_PID=$REDIS_STARTED_PID
GCRA_SHA=""
for p in "$REDIS0_PORT" "$REDIS1_PORT"; do
    GCRA_SHA=$(redis-cli -p "$p" SCRIPT LOAD "$(cat bench/gcra.lua)") || die "SCRIPT LOAD failed"
    first=$(redis-cli -p "$p" EVALSHA "$GCRA_SHA" 1 gcra:check "$GCRA_EMISSION_US" "$GCRA_BURST" | head -1)
    [ "$first" = 1 ] || die "gcra.lua did not grant on port $p (got: $first)"
done

# ---- one measured run of each kind ------------------------------------------------------------
# Each sets RESULT (per second) and prints one line; CPU is what the serving side used,
# in cores (100% = one core), and busy what the whole machine used (wrk included).
RESULT="" CPU_USED="" BUSY_USED=""
cpu_begin() {
    CPU_T0=$(proc_ticks "$@")
    read -r MB0 MA0 < <(machine_ticks)
    WALL0=$(date +%s.%N)
}
cpu_end() {
    local t1 mb1 ma1 wall
    t1=$(proc_ticks "$@")
    read -r mb1 ma1 < <(machine_ticks)
    wall=$(awk -v a="$WALL0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
    CPU_USED=$(awk -v t=$((t1 - CPU_T0)) -v hz="$CLK_TCK" -v w="$wall" 'BEGIN {printf "%.0f", 100 * t / hz / w}')
    BUSY_USED=$(awk -v b=$((mb1 - MB0)) -v a=$((ma1 - MA0)) 'BEGIN {printf "%.0f", a ? 100 * b / a : 0}')
}
run_client() { # OUT LIMIT CMD...: a bounded client in the background (killed by cleanup)
    local out=$1 lim=$2
    shift 2
    bg_run "$out" "" timeout -k 2 "$lim" "$@"
}
wrk_stats() { # FILE -> RPS NON2XX P50 P99 SOCKERR
    awk '/^Requests\/sec:/ {rps = $2} /Non-2xx or 3xx responses:/ {n = $NF}
         $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
         /Socket errors/ {se = $0; gsub(/^ *Socket errors: */, "", se); gsub(/ /, "_", se)}
         END {print rps, n + 0, p50, p99, (se == "" ? "-" : se)}' "$1"
}

# Background load (other people's builds and tests on a shared machine): before each run, the
# machine's busy share over 0.3 s while none of our clients runs (our servers idle). While it is
# above 20%, wait (0.3 s steps, at most IDLE_WAIT=60 s over the whole script) and name the
# busiest processes once. MAX_IDLE_BUSY keeps the highest share a run started with, printed
# with the results: more than a few percent means something else shared the CPU with a run.
MAX_IDLE_BUSY=0
IDLE_WAITED=0 # tenths of a second
IDLE_WAIT=${IDLE_WAIT:-60}
idle_probe() {
    local b0 a0 b1 a1 busy named=0
    for _ in $(seq 1000); do
        read -r b0 a0 < <(machine_ticks)
        sleep 0.3
        read -r b1 a1 < <(machine_ticks)
        busy=$(awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) 'BEGIN {printf "%.0f", a ? 100 * b / a : 0}')
        if [ "$busy" -le 20 ] || [ "$IDLE_WAITED" -ge $((IDLE_WAIT * 10)) ]; then break; fi
        if [ "$named" = 0 ]; then
            say "  (machine $busy% busy before this run; waiting for it to calm down: $(top -b -n 2 \
                -d 0.2 -o %CPU 2>/dev/null | awk '/^ *PID/ {n++; next} n == 2 && $9 + 0 > 5 \
                {printf "%s%s %s%%", sep, $12, $9; sep = ", "}' | cut -c1-120))"
            named=1
        fi
        IDLE_WAITED=$((IDLE_WAITED + 3))
    done
    [ "$busy" -le "$MAX_IDLE_BUSY" ] || MAX_IDLE_BUSY=$busy
    [ "$busy" -le 20 ] || say "  (background load: $busy% busy at the start of this run)"
}

# wrk GET: LABEL URL TOKEN SECONDS PIDS... (PARSE=1: wrk parses each body, as for acquire)
run_get() {
    local label=$1 url=$2 tok=$3 secs=$4 out="$WORK/$1.txt"
    shift 4
    idle_probe
    cpu_begin "$@"
    QUOTA_BENCH_PARSE=${PARSE:-0} QUOTA_BENCH_TOKEN=$tok run_client "$out" $((secs + 10)) wrk "-t$WRK_THREADS" \
        "-c$CONNECTIONS" "-d${secs}s" --latency -s bench/quota_get.lua "$url" ||
        die "$label: wrk failed: $(tail -3 "$out")"
    cpu_end "$@"
    local rps non2xx p50 p99 se
    read -r rps non2xx p50 p99 se < <(wrk_stats "$out")
    [ -n "$rps" ] || die "$label: cannot parse wrk output: $(cat "$out")"
    [ "$non2xx" = 0 ] || die "$label: $non2xx non-2xx responses"
    say "  $label: $rps req/s, p50 $p50 p99 $p99, serving side ${CPU_USED}% cpu, machine" \
        "${BUSY_USED}% busy, $(awk -v r="$rps" -v c="$CPU_USED" 'BEGIN {printf "%.0f", (c > 0 ? r / (c / 100) : 0)}') req per cpu-second${se:+, socket errors $se}"
    RESULT=$rps
    EFF=$(awk -v r="$rps" -v c="$CPU_USED" 'BEGIN {printf "%.0f", (c > 0 ? r / (c / 100) : 0)}')
}

GRANTS=0 DENIALS=0 RELEASES=0 HELD=0 P99_MS=""
run_acquire() { # LABEL SECONDS
    local label=$1 secs=$2 out="$WORK/$1.txt"
    idle_probe
    cpu_begin "$SERVER_PID"
    QUOTA_BENCH_TOKEN=$WORKER_TOKEN QUOTA_BENCH_QUOTA=$QUOTA_ID run_client "$out" $((secs + 10)) \
        wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d${secs}s" --latency -s bench/quota_acquire.lua \
        "$BASE/" || die "$label: wrk failed: $(tail -3 "$out")"
    cpu_end "$SERVER_PID"
    local rps non2xx p50 p99 se line g d rl r404 o fo h
    read -r rps non2xx p50 p99 se < <(wrk_stats "$out")
    line=$(grep '^quota_acquire:' "$out") || die "$label: no summary line: $(cat "$out")"
    read -r g d rl r404 o fo h < <(sed 's/[a-z_0-9]*=//g; s/^quota_acquire: [0-9]* //' <<<"$line")
    if [ -z "$rps" ] || [ -z "$h" ]; then die "$label: cannot parse wrk output: $(cat "$out")"; fi
    [ "$o" = 0 ] || die "$label: $o unexpected responses (first status $fo, release 404s $r404)"
    GRANTS=$((GRANTS + g)) DENIALS=$((DENIALS + d)) RELEASES=$((RELEASES + rl))
    HELD=$((HELD + h))
    P99_MS=$(to_ms "$p99")
    say "  $label: $rps decisions/s ($g grants, $d denials, $rl releases, $o other; non-2xx" \
        "$non2xx = the denials), p50 $p50 p99 $p99, server ${CPU_USED}% cpu, machine" \
        "${BUSY_USED}% busy, $(awk -v r="$rps" -v c="$CPU_USED" 'BEGIN {printf "%.0f", (c > 0 ? r / (c / 100) : 0)}') decisions per cpu-second${se:+, socket errors $se}"
    RESULT=$rps
    EFF=$(awk -v r="$rps" -v c="$CPU_USED" 'BEGIN {printf "%.0f", (c > 0 ? r / (c / 100) : 0)}')
}

run_redis() { # LABEL PORT PID N
    local label=$1 port=$2 pid=$3 n=$4 out="$WORK/$1.txt" key="gcra:$1" rps g d
    idle_probe
    cpu_begin "$pid"
    run_client "$out" $((DURATION * 6 + 10)) redis-benchmark -h 127.0.0.1 -p "$port" \
        -c "$CONNECTIONS" --threads "$WRK_THREADS" -n "$n" --csv \
        EVALSHA "$GCRA_SHA" 1 "$key" "$GCRA_EMISSION_US" "$GCRA_BURST" ||
        die "$label: redis-benchmark failed: $(tail -3 "$out")"
    cpu_end "$pid"
    rps=$(awk -F'","' 'NR > 1 && NF > 1 {gsub(/"/, "", $2); v = $2} END {print v}' "$out")
    [ -n "$rps" ] || die "$label: cannot parse redis-benchmark output: $(cat "$out")"
    g=$(redis-cli -p "$port" HGET "$key" grants)
    d=$(redis-cli -p "$port" HGET "$key" denials)
    [ "${g:-0}" = "$n" ] || die "$label: $n calls but ${g:-0} grants, ${d:-0} denials"
    say "  $label: $rps decisions/s ($n calls: ${g:-0} grants, ${d:-0} denials)," \
        "redis ${CPU_USED}% cpu, machine ${BUSY_USED}% busy"
    RESULT=$rps
    EFF=$(awk -v r="$rps" -v c="$CPU_USED" 'BEGIN {printf "%.0f", (c > 0 ? r / (c / 100) : 0)}')
}

GET_URL="$BASE/jobengine/quotas/$QUOTA_ID"
mapfile -t NGINX_PIDS < <(nginx_pids)
echo "  GET response: ours $GET_SIZE bytes (headers+body), nginx $NGINX_GET_SIZE; acquire" \
    "200 body $(wc -c <"$NGX/html/permit.json") bytes, nginx permit.json $NGINX_PERMIT_SIZE"

say "quota_bench: warm-up, ${WARMUP}s each"
run_get warmup.get "$GET_URL" "$WORKER_TOKEN" "$WARMUP" "$SERVER_PID"
run_get warmup.nginx "$NGINX_BASE/quota.json" "$WORKER_TOKEN" "$WARMUP" "${NGINX_PIDS[@]}"
run_acquire warmup.acquire "$WARMUP"
# Calibrates redis-benchmark's request count (it has no duration) to about DURATION seconds.
run_redis warmup.redis "$REDIS0_PORT" "$REDIS0_PID" 50000
N0=$(awk -v r="$RESULT" -v d="$DURATION" 'BEGIN {printf "%d", r * d}')
run_redis warmup.redis-aof "$REDIS1_PORT" "$REDIS1_PID" 20000
N1=$(awk -v r="$RESULT" -v d="$DURATION" 'BEGIN {printf "%d", r * d}')

ACQ_P99=()
GET_ALL=() NGX_GET_ALL=() ACQ_ALL=() NGX_ACQ_ALL=() R0_ALL=() R1_ALL=()
GET_CPU=() NGX_GET_CPU=() ACQ_CPU=() NGX_ACQ_CPU=() R0_CPU=() R1_CPU=()
GET_EFF=() NGX_GET_EFF=() ACQ_EFF=() NGX_ACQ_EFF=() R0_EFF=() R1_EFF=()
for i in $(seq "$RUNS"); do
    say "quota_bench: run $i of $RUNS"
    run_get "run$i.get" "$GET_URL" "$WORKER_TOKEN" "$DURATION" "$SERVER_PID"
    GET_ALL+=("$RESULT") GET_CPU+=("$CPU_USED") GET_EFF+=("$EFF")
    run_get "run$i.nginx-get" "$NGINX_BASE/quota.json" "$WORKER_TOKEN" "$DURATION" "${NGINX_PIDS[@]}"
    NGX_GET_ALL+=("$RESULT") NGX_GET_CPU+=("$CPU_USED") NGX_GET_EFF+=("$EFF")
    run_acquire "run$i.acquire" "$DURATION"
    ACQ_ALL+=("$RESULT") ACQ_CPU+=("$CPU_USED") ACQ_EFF+=("$EFF") ACQ_P99+=("$P99_MS")
    PARSE=1 run_get "run$i.nginx-permit" "$NGINX_BASE/permit.json" "$WORKER_TOKEN" "$DURATION" "${NGINX_PIDS[@]}"
    NGX_ACQ_ALL+=("$RESULT") NGX_ACQ_CPU+=("$CPU_USED") NGX_ACQ_EFF+=("$EFF")
    run_redis "run$i.redis" "$REDIS0_PORT" "$REDIS0_PID" "$N0"
    R0_ALL+=("$RESULT") R0_CPU+=("$CPU_USED") R0_EFF+=("$EFF")
    run_redis "run$i.redis-aof" "$REDIS1_PORT" "$REDIS1_PID" "$N1"
    R1_ALL+=("$RESULT") R1_CPU+=("$CPU_USED") R1_EFF+=("$EFF")
done

# ---- the decisions are really in the store ----------------------------------------------------
# hourCount counts every grant the server made; wrk stops without reading the replies in flight,
# so the server may have granted up to CONNECTIONS more per wrk run than wrk counted.
Q_NOW=$(curl -sf -H "Authorization: Bearer $WORKER_TOKEN" "$GET_URL") || die "GET quota failed"
HOUR_COUNT=$(json_get usage.hourCount <<<"$Q_NOW")
ACTIVE=$(json_get usage.active <<<"$Q_NOW")
EXTRA=$((HOUR_COUNT - GRANTS - 1)) # 1: the acquire that made permit.json
SLACK=$((CONNECTIONS * (RUNS + 1)))
echo "store check: quota usage.hourCount $HOUR_COUNT = $((GRANTS + 1)) grants answered 200" \
    "+ $EXTRA granted while wrk was stopping; usage.active $ACTIVE ($HELD permits left" \
    "unreleased in wrk's queues at the ends of the runs, the rest in flight)"
if [ "$EXTRA" -lt 0 ] || [ "$EXTRA" -gt "$SLACK" ] || [ "$ACTIVE" -gt $((HELD + SLACK)) ]; then
    die "the store does not match the decisions answered (slack $SLACK)"
fi
RSS_AFTER=$(rss_kb "$SERVER_PID")
NGINX_RSS=0
for p in $(nginx_pids); do NGINX_RSS=$((NGINX_RSS + $(rss_kb "$p"))); done
PEERS_RSS="nginx (master + $(($(nginx_pids | wc -l) - 1)) workers) $NGINX_RSS kB, redis $(rss_kb "$REDIS0_PID") kB, redis aof $(rss_kb "$REDIS1_PID") kB"

# ---- the table --------------------------------------------------------------------------------
GET=$(printf '%s\n' "${GET_ALL[@]}" | median)
NGX_GET=$(printf '%s\n' "${NGX_GET_ALL[@]}" | median)
ACQ=$(printf '%s\n' "${ACQ_ALL[@]}" | median)
NGX_ACQ=$(printf '%s\n' "${NGX_ACQ_ALL[@]}" | median)
R0=$(printf '%s\n' "${R0_ALL[@]}" | median)
R1=$(printf '%s\n' "${R1_ALL[@]}" | median)
med_cpu() { printf '%s\n' "$@" | median | awk '{printf "%.0f%%", $1}'; }
R_GET=$(ratio "$GET" "$NGX_GET")
R_ACQ_NGX=$(ratio "$ACQ" "$NGX_ACQ")
R_ACQ_R0=$(ratio "$ACQ" "$R0")
R_ACQ_R1=$(ratio "$ACQ" "$R1")
R_CORE=$(ratio "$CORE" 10000000)
V_GET=$(verdict "$R_GET" 0.8)
V_ACQ_NGX=$(verdict "$R_ACQ_NGX" 0.5)
V_ACQ_R0=$(verdict "$R_ACQ_R0" 1.0)
V_ACQ_R1=$(verdict "$R_ACQ_R1" 1.0)
V_CORE=$(verdict "$R_CORE" 1.0)
P99=$(printf '%s\n' "${ACQ_P99[@]}" | median | awk '{printf "%.2f", $1}')
V_P99=$(awk -v v="$P99" 'BEGIN {print (v <= 5) ? "met" : "NOT met"}')
fmt() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }
row() { printf '  %-46s %12s %12s %7s  %-16s %s\n' "$@"; }

echo
echo "quota_bench results, $(date -u +%Y-%m-%d), nproc $NPROC, server --threads $THREADS," \
    "wrk -t$WRK_THREADS -c$CONNECTIONS, ${DURATION}s x $RUNS runs, medians"
row "measure (per second unless said)" "JobEngine" "peer" "ratio" "target" "peer"
row "GET /jobengine/quotas/{id}, bearer" "$(fmt "$GET")" "$(fmt "$NGX_GET")" "$R_GET" \
    ">= 0.8 $V_GET" "nginx static file, same body"
row "acquire+release decisions (durable)" "$(fmt "$ACQ")" "$(fmt "$NGX_ACQ")" "$R_ACQ_NGX" \
    ">= 0.5 $V_ACQ_NGX" "nginx static 200, permit-sized"
row "acquire+release decisions (durable)" "$(fmt "$ACQ")" "$(fmt "$R0")" "$R_ACQ_R0" \
    ">= 1.0 $V_ACQ_R0" "Redis GCRA Lua, no persistence"
row "acquire+release decisions (durable)" "$(fmt "$ACQ")" "$(fmt "$R1")" "$R_ACQ_R1" \
    ">= 1.0 $V_ACQ_R1" "Redis GCRA Lua, appendfsync always"
row "core/ decide+release calls, 1 thread" "$(fmt "$CORE")" "10000000" "$R_CORE" \
    ">= 1.0 $V_CORE" "the target itself"
row "p99 latency of acquire/release at -c$CONNECTIONS (ms)" "$P99" "-" "-" "<= 5 $V_P99" \
    "runs: ${ACQ_P99[*]}"
row "core/ decide, all denials, 1 thread" "$(fmt "$CORE_DENY")" "-" "-" "-" "-"
row "VmRSS idle after start (kB)" "$RSS_IDLE" "-" "-" "-" "-"
row "VmRSS with $QUOTAS quotas (kB)" "$RSS_QUOTAS" "-" "-" "-" "-"
row "VmHWM, $QUOTAS quotas + 64 connections (kB)" "$(rss_field load_hwm_kb)" "-" "-" \
    "<= 32768 $(awk -v v="$(rss_field load_hwm_kb)" 'BEGIN {print (v + 0 <= 32768) ? "met" : "NOT met"}')" "-"
row "VmRSS after the HTTP runs (kB)" "$RSS_AFTER" "-" "-" "-" "-"
echo "  peers' VmRSS after the runs: $PEERS_RSS"
echo "  runs: GET ${GET_ALL[*]} | nginx ${NGX_GET_ALL[*]}"
echo "        acquire+release ${ACQ_ALL[*]} | nginx ${NGX_ACQ_ALL[*]} | redis ${R0_ALL[*]} |" \
    "redis aof ${R1_ALL[*]} | core ${CORE_ALL[*]}"
# The same per CPU-second of the serving side (requests / its utime + stime): what each side
# gets out of the CPU it was given, less sensitive than throughput to the CPU that wrk and other
# people's processes took on this shared machine. Not the target, a diagnosis.
med() { printf '%s\n' "$@" | median; }
E_GET=$(med "${GET_EFF[@]}") E_NGX_GET=$(med "${NGX_GET_EFF[@]}") E_ACQ=$(med "${ACQ_EFF[@]}")
E_NGX_ACQ=$(med "${NGX_ACQ_EFF[@]}") E_R0=$(med "${R0_EFF[@]}") E_R1=$(med "${R1_EFF[@]}")
echo "  per cpu-second of the serving side (medians; a diagnosis, not the target):"
row "  GET /jobengine/quotas/{id}" "$(fmt "$E_GET")" "$(fmt "$E_NGX_GET")" "$(ratio "$E_GET" "$E_NGX_GET")" "" "nginx"
row "  acquire+release decisions" "$(fmt "$E_ACQ")" "$(fmt "$E_NGX_ACQ")" "$(ratio "$E_ACQ" "$E_NGX_ACQ")" "" "nginx"
row "  acquire+release decisions" "$(fmt "$E_ACQ")" "$(fmt "$E_R0")" "$(ratio "$E_ACQ" "$E_R0")" "" "Redis, no persistence"
row "  acquire+release decisions" "$(fmt "$E_ACQ")" "$(fmt "$E_R1")" "$(ratio "$E_ACQ" "$E_R1")" "" "Redis, appendfsync always"
echo "  serving side cpu (median, 100% = 1 core): GET $(med_cpu "${GET_CPU[@]}"), nginx" \
    "$(med_cpu "${NGX_GET_CPU[@]}"); acquire $(med_cpu "${ACQ_CPU[@]}"), nginx" \
    "$(med_cpu "${NGX_ACQ_CPU[@]}"), redis $(med_cpu "${R0_CPU[@]}"), redis aof" \
    "$(med_cpu "${R1_CPU[@]}")"
echo "  background load at the start of a run: at most $MAX_IDLE_BUSY% busy (0.3 s probe);" \
    "waited $((IDLE_WAITED / 10)) s for it to calm down"
echo "  decisions: $GRANTS grants, $DENIALS denials, $RELEASES releases, 0 other;" \
    "$CREATED quotas created at $CREATE_RATE/s; total $(($(date +%s) - T0)) s"

C_AT=""
[ "$CONNECTIONS" = 64 ] || C_AT="@${CONNECTIONS}c"
result get_quota "$GET" nginx_static_same_body "$NGX_GET" '>=0.8'
result acquire_release "$ACQ" redis_gcra_aof_always "$R1" '>=1.0'
result acquire_release "$ACQ" nginx_static_permit "$NGX_ACQ" '>=0.5'
result acquire_release "$ACQ" redis_gcra_no_persistence "$R0" -
result "acquire_p99_ms$C_AT" "$P99" - - '<=5'
result core_decide "$CORE" target_10M 10000000 '>=1.0'
[ -z "$RSS_RESULTS" ] || printf '%s\n' "$RSS_RESULTS"

if [ "${STRICT:-0}" = 1 ]; then
    for v in "$V_GET" "$V_ACQ_NGX" "$V_ACQ_R0" "$V_ACQ_R1" "$V_CORE" "$V_P99"; do
        [ "$v" = met ] || exit 3
    done
fi
exit 0
