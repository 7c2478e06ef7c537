#!/usr/bin/env bash
# bench/pool_bench.sh: what a capacity pool (issue 15) costs a decision. The same job type and
# the same load, measured without a pool and with one, runs interleaved (so background noise hits
# every mode alike), medians of RUNS runs, ratio with / without; target (issue 15) >= 0.9x:
#   1. acquire+release decisions/s over HTTP (wrk + bench/quota_acquire.lua, as quota_bench.sh),
#      two tenants at once on one job type (wrk thread 0 for tenant bench, thread 1 for bench2,
#      CONNECTIONS/2 connections each), every decision durable. Modes, one after the other in
#      each run (order turned each run), each on a fresh job type of the same settings (both
#      tenants' quotas maxActive 1000, bucket and refill far above what a run uses), so that no
#      run inherits the permits another left held (wrk stops with decisions in flight; a
#      permit lives ttlSeconds 300), which would count in the pool:
#        none      no pool: the quota alone decides                         (the baseline)
#        maxlimit  strategy max-limit, maxActive POOL_ACTIVE, each tenant a share of half
#        reserved  strategy reserved, maxActive POOL_ACTIVE, each tenant a reserve of a quarter
#        refusing  max-limit, maxActive TIGHT_ACTIVE, shares TIGHT_SHARE: the pool refuses part
#                  of the acquires (429 POOL_EXHAUSTED); quoted, no target
#      POOL_ACTIVE is far above what CONNECTIONS connections can hold, so the maxlimit and
#      reserved pools never refuse (checked: no 429): every mode decides the same way and only
#      the pool's cost differs.
#   2. lease+complete pairs/s (bench/lease_submit.lua, bench/lease_worker.lua, as
#      lease_bench.sh): per run and mode a fresh job type of JOBS jobs of tenant bench, drained by
#      WORKERS workers; modes none, maxlimit, reserved (the same pools; tenant bench2 holds a
#      share but no work). Checked: every job leased and completed once, never held back.
# Also printed, as a diagnosis: the server's CPU microseconds per decision in each mode.
# Everything listens on 127.0.0.1; the work directory under bench/out is removed at the end.
#
# Usage (from anywhere): bash bench/pool_bench.sh
# Settings (environment):
#   DURATION=5 seconds per acquire run   RUNS=3 runs (medians)   WARMUP=2 seconds of warm-up
#   CONNECTIONS=64   WRK_THREADS=2   THREADS=auto (server --threads)
#   POOL_ACTIVE=256  the never-refusing pools' maxActive   TIGHT_ACTIVE=20 TIGHT_SHARE=12
#   JOBS=5000 jobs per lease run   WORKERS=64   LEASE=1 (0: acquire only)   TIME_BOUND=120
#   ACQUIRE=1 (0: lease only; with LEASE_MODES="maxlimit" one mode, e.g. to profile it)
#   SKIP_BUILD=1  KEEP=1  STRICT=1 (exit 3 when a ratio is below 0.9)
# Output: the table, then for bench/all.sh (lib.sh's result):
#   RESULT pool_acquire_maxlimit N acquire_no_pool N RATIO >=0.9   (and _reserved; _refusing -)
#   RESULT pool_lease_maxlimit N lease_no_pool N RATIO >=0.9       (and _reserved)
set -euo pipefail

BENCH_NAME=pool_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
THREADS=${THREADS:-auto}
POOL_ACTIVE=${POOL_ACTIVE:-256}
TIGHT_ACTIVE=${TIGHT_ACTIVE:-20}
TIGHT_SHARE=${TIGHT_SHARE:-12}
JOBS=${JOBS:-5000}
WORKERS=${WORKERS:-64}
LEASE=${LEASE:-1}
ACQUIRE=${ACQUIRE:-1}
TIME_BOUND=${TIME_BOUND:-120}
SECRET=benchPoolSecret0123456789abcdefghijklmnopq
T0=$(date +%s)
CLK_TCK=$(getconf CLK_TCK)

need_tools wrk curl python3 awk timeout
build_bin benchmarks make make -s build
bench_work pool "${BENCH_TMP:-$ROOT/bench/out}"
STORE="$WORK/jobengine.db"
WRK_PID=""
# shellcheck disable=SC2317 # invoked by cleanup (lib.sh)
on_cleanup() { stop_pid "$WRK_PID" INT; }

machine_header store load
build_line
echo "  server --threads $THREADS; acquire: wrk -t$WRK_THREADS -c$CONNECTIONS, ${DURATION}s x" \
    "$RUNS runs (+${WARMUP}s warm-up); lease: $JOBS jobs, $WORKERS workers, $RUNS runs"
echo "  pools: maxlimit/reserved maxActive $POOL_ACTIVE; refusing maxActive $TIGHT_ACTIVE," \
    "shares $TIGHT_SHARE"

# ---- the server, its clients, the quotas --------------------------------------------------------
for t in bench bench2; do
    TENANT=$t add_client "$t-admin" Orch.Admin "$SECRET" "$STORE"
    TENANT=$t add_client "$t-worker" Orch.Worker "$SECRET" "$STORE"
done
TENANT=_system add_client platform Orch.PlatformAdmin "$SECRET" "$STORE"
start_server "$STORE" "$WORK/server.log" --ceiling-max-active 1000 \
    --ceiling-burst-capacity 100000000 --ceiling-refill-per-second 1000000 \
    --ceiling-max-per-hour 1000000000
declare -A ADMIN_TOK WORKER_TOK QUOTA
for t in bench bench2; do
    ADMIN_TOK[$t]=$(token "$t-admin" "$SECRET" orch:quota quota_reason=bench) || die "no orch:quota token"
    WORKER_TOK[$t]=$(token "$t-worker" "$SECRET" "orch:read orch:jobs") || die "no orch:jobs token"
done
GOV_AT=0 GOV_TOKEN=""
gov_token() { # a fresh orch:governance token every 5 minutes (they live 10)
    if [ $(($(date +%s) - GOV_AT)) -gt 300 ]; then
        GOV_TOKEN=$(token platform "$SECRET" orch:governance "governance_reason=pool benchmark") ||
            die "no orch:governance token"
        GOV_AT=$(date +%s)
    fi
}
api() { # METHOD PATH TOKEN [BODY]: prints STATUS BODY
    curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
        -H 'Content-Type: application/json' ${4:+-d "$4"} "$BASE$2" |
        awk '{l[NR] = $0} END {s = ""; for (i = 1; i < NR; i++) s = s l[i]; print l[NR], s}'
}
make_quota() { # TENANT JOB_TYPE MAX_ACTIVE BURST: prints the quota id
    local out
    out=$(api POST /jobengine/quotas "${ADMIN_TOK[$1]}" "{\"jobType\":\"$2\",\"maxActive\":$3,\
\"maxPerHour\":1000000000,\"burstCapacity\":$4,\"refillPerSecond\":1000000}")
    [ "${out%% *}" = 201 ] || die "cannot create the quota of $1 for $2: $out"
    json_get quotaId <<<"${out#* }"
}
# set_pool JOB_TYPE MODE: the pool of the mode (none: no pool)
set_pool() {
    local body out half=$((POOL_ACTIVE / 2)) quarter=$((POOL_ACTIVE / 4))
    gov_token
    case $2 in
    none) return 0 ;;
    maxlimit) body="{\"strategy\":\"max-limit\",\"maxActive\":$POOL_ACTIVE,\"shares\":[\
{\"tenantId\":\"bench\",\"maxActive\":$half},{\"tenantId\":\"bench2\",\"maxActive\":$half}]}" ;;
    reserved) body="{\"strategy\":\"reserved\",\"maxActive\":$POOL_ACTIVE,\"shares\":[\
{\"tenantId\":\"bench\",\"reserved\":$quarter},{\"tenantId\":\"bench2\",\"reserved\":$quarter}]}" ;;
    refusing) body="{\"strategy\":\"max-limit\",\"maxActive\":$TIGHT_ACTIVE,\"shares\":[\
{\"tenantId\":\"bench\",\"maxActive\":$TIGHT_SHARE},{\"tenantId\":\"bench2\",\"maxActive\":$TIGHT_SHARE}]}" ;;
    esac
    out=$(api PUT "/jobengine/pools/$1" "$GOV_TOKEN" "$body")
    case ${out%% *} in 200 | 201) ;; *) die "PUT pool $1 ($2): $out" ;; esac
}

# ---- 1. acquire+release -----------------------------------------------------------------------
declare -A ACQ_RUNS ACQ_US DENIED
RES_LINES=()
GRANTS=0 HELD=0 HOUR_OF=()
run_acquire() { # LABEL MODE SECONDS: one wrk run; sets RATE, US (server CPU us per decision)
    local out="$WORK/$1.txt" jt="bench.pool.$1" line rps g d rl o fo h t0 t1 w0 w1 t
    for t in bench bench2; do
        QUOTA[$t]=$(make_quota "$t" "$jt" 1000 100000000)
        HOUR_OF+=("$t ${QUOTA[$t]}")
    done
    set_pool "$jt" "$2"
    t0=$(cpu_ticks) w0=$(now_ms)
    QUOTA_BENCH_TOKEN=${WORKER_TOK[bench]} QUOTA_BENCH_QUOTA=${QUOTA[bench]} \
        QUOTA_BENCH_TOKEN2=${WORKER_TOK[bench2]} QUOTA_BENCH_QUOTA2=${QUOTA[bench2]} \
        bg_run "$out" "" timeout -k 2 $(($3 + 10)) wrk "-t$WRK_THREADS" "-c$CONNECTIONS" \
        "-d${3}s" -s bench/quota_acquire.lua "$BASE/" || die "$1: wrk failed: $(tail -3 "$out")"
    t1=$(cpu_ticks) w1=$(now_ms)
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    line=$(grep '^quota_acquire:' "$out") || die "$1: no summary line: $(cat "$out")"
    read -r g d rl _ o fo h < <(sed 's/[a-z_0-9]*=//g; s/^quota_acquire: [0-9]* //' <<<"$line")
    if [ -z "$rps" ] || [ -z "$h" ]; then die "$1: cannot parse wrk output: $(cat "$out")"; fi
    [ "$o" = 0 ] || die "$1: $o unexpected responses (first status $fo)"
    if [ "$2" != refusing ] && [ "$d" != 0 ]; then die "$1: $d acquires refused (429) in mode $2"; fi
    GRANTS=$((GRANTS + g)) HELD=$((HELD + h))
    RATE=$rps
    US=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v r="$rps" -v w=$((w1 - w0)) \
        'BEGIN {printf "%.0f", (r > 0 ? t / hz * 1e6 / (r * w / 1000) : 0)}')
    say "  $1: $rps decisions/s ($g grants, $d refused, $rl releases), server $US us cpu" \
        "per decision, load average $(cut -d' ' -f1 /proc/loadavg)"
    DENIED[$2]=$((${DENIED[$2]:-0} + d))
}
ACQ_MODES=(none maxlimit reserved refusing)
if [ "$ACQUIRE" = 1 ]; then
    say "pool_bench: acquire warm-up, ${WARMUP}s per mode"
    for m in "${ACQ_MODES[@]}"; do run_acquire "warmup.acquire.$m" "$m" "$WARMUP"; done
    for i in $(seq "$RUNS"); do
        say "pool_bench: acquire run $i of $RUNS"
        # the order turns each run, so that no mode always follows another
        for k in 0 1 2 3; do
            m=${ACQ_MODES[$(((k + i - 1) % 4))]}
            run_acquire "run$i.acquire.$m" "$m" "$DURATION"
            ACQ_RUNS[$m]+="$RATE " ACQ_US[$m]+="$US "
        done
    done
    [ "${DENIED[refusing]}" -gt 0 ] || say "pool_bench: the refusing pool never refused (raise CONNECTIONS or lower TIGHT_SHARE)"
    # The store counted what was answered: the quotas' hourCount = the grants wrk saw, plus at most
    # a connection's worth per run that wrk stopped without reading.
    HOUR=0
    for tq in "${HOUR_OF[@]}"; do
        read -r t q <<<"$tq"
        out=$(api GET "/jobengine/quotas/$q" "${WORKER_TOK[$t]}")
        HOUR=$((HOUR + $(json_get usage.hourCount <<<"${out#* }")))
    done
    SLACK=$((CONNECTIONS * (RUNS + 1) * 4))
    echo "store check: hourCount of both quotas $HOUR, grants answered $GRANTS ($((HOUR - GRANTS))" \
        "granted while wrk was stopping; $HELD left unreleased at the ends of runs)"
    if [ "$HOUR" -lt "$GRANTS" ] || [ "$HOUR" -gt $((GRANTS + SLACK)) ]; then
        die "the store does not match the grants answered (slack $SLACK)"
    fi
fi

# ---- 2. lease+complete ------------------------------------------------------------------------
declare -A LEASE_RUNS LEASE_US
LINE=""
wrk_until_done() { # LABEL SCRIPT PREFIX (as lease_bench.sh)
    local done_dir="$WORK/done.$1" out="$WORK/wrk.$1.txt"
    mkdir -p "$done_dir"
    LEASE_BENCH_DONE_DIR=$done_dir wrk "-t$WRK_THREADS" "-c$WORKERS" "-d${TIME_BOUND}s" \
        -s "$2" "$BASE/" >"$out" 2>&1 &
    WRK_PID=$!
    while [ "$(find "$done_dir" -type f | wc -l)" -lt "$WRK_THREADS" ]; do
        kill -0 "$WRK_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || die "$1: wrk failed: $(cat "$out")"
    WRK_PID=""
    LINE=$(grep "^$3: " "$out") || die "$1: no summary from $2: $(cat "$out")"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
run_lease() { # RUN MODE: sets RATE and US
    local jt="bench.pool.lease.$1.$2" line secs t0 t1 out
    make_quota bench "$jt" $((WORKERS * 2)) $((JOBS * 2)) >/dev/null
    make_quota bench2 "$jt" $((WORKERS * 2)) $((JOBS * 2)) >/dev/null
    [ "$2" = none ] || set_pool "$jt" "$2"
    export LEASE_BENCH_TOKEN=${WORKER_TOK[bench]} LEASE_BENCH_JOBS=$JOBS LEASE_BENCH_THREADS=$WRK_THREADS
    export LEASE_BENCH_LEASE_S=600 LEASE_BENCH_JOBTYPE=$jt
    wrk_until_done "submit.$1.$2" bench/lease_submit.lua lease_submit
    [ "$(field created "$LINE")" = "$JOBS" ] || die "lease run $1 $2: submit: $LINE"
    t0=$(cpu_ticks)
    wrk_until_done "lease.$1.$2" bench/lease_worker.lua lease_worker
    t1=$(cpu_ticks)
    line=$LINE
    if [ "$(field leased "$line")" != "$JOBS" ] || [ "$(field completed "$line")" != "$JOBS" ] ||
        [ "$(field non200 "$line")" != 0 ] || [ "$(field throttled "$line")" != 0 ]; then
        die "lease run $1 $2: not every job leased and completed once, never held back: $line"
    fi
    out=$(api GET /jobengine/jobs/summary "${WORKER_TOK[bench]}")
    python3 -c 'import json, sys
r = [i for i in json.loads(sys.argv[1])["items"] if i["jobType"] == sys.argv[2]]
sys.exit(0 if len(r) == 1 and r[0]["succeeded"] == r[0]["total"] == int(sys.argv[3]) else 1)' \
        "${out#* }" "$jt" "$JOBS" || die "lease run $1 $2: summary of $jt is not $JOBS succeeded"
    secs=$(field seconds "$line")
    RATE=$(awk -v n="$JOBS" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')
    US=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$JOBS" 'BEGIN {printf "%.0f", t / hz / n * 1e6}')
    say "  lease run $1 $2: $RATE pairs/s over ${secs}s, server $US us cpu per pair," \
        "load average $(cut -d' ' -f1 /proc/loadavg)"
}
read -r -a LEASE_MODES <<<"${LEASE_MODES:-none maxlimit reserved}"
NL=${#LEASE_MODES[@]}
if [ "$LEASE" = 1 ]; then
    for i in $(seq "$RUNS"); do
        for k in $(seq 0 $((NL - 1))); do
            m=${LEASE_MODES[$(((k + i - 1) % NL))]}
            run_lease "$i" "$m"
            LEASE_RUNS[$m]+="$RATE " LEASE_US[$m]+="$US "
        done
    done
fi

# ---- the table --------------------------------------------------------------------------------
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
verdict() { awk -v r="$1" 'BEGIN {print (r + 0 >= 0.9) ? "met" : "NOT met"}'; }
row() { printf '  %-44s %9s %9s %6s  %-12s %s\n' "$@"; }
echo
echo "pool_bench results, $(date -u +%Y-%m-%d), nproc $NPROC, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg), medians of $RUNS runs"
row "measure (per second)" "pool" "no pool" "ratio" "target" "runs (pool | no pool); server us cpu per decision"
MISSED=0
[ "$ACQUIRE" = 1 ] && A0=$(med "${ACQ_RUNS[none]}")
for m in maxlimit reserved refusing; do
    [ "$ACQUIRE" = 1 ] || break
    v=$(med "${ACQ_RUNS[$m]}") r=$(ratio "$v" "$A0") t=">=0.9"
    [ "$m" = refusing ] && t=-
    vd=quoted
    [ "$t" = - ] || vd=$(verdict "$r")
    [ "$vd" != "NOT met" ] || MISSED=1
    row "acquire+release, pool $m" "$(printf '%.0f' "$v")" "$(printf '%.0f' "$A0")" "$r" \
        "$t $vd" "${ACQ_RUNS[$m]}| ${ACQ_RUNS[none]}; $(med "${ACQ_US[$m]}") vs $(med "${ACQ_US[none]}") us"
    RES_LINES+=("pool_acquire_$m $v acquire_no_pool $A0 $t")
done
[ "$ACQUIRE" = 1 ] && echo "  refusing pool: ${DENIED[refusing]} of the acquires answered 429 POOL_EXHAUSTED in its runs"
if [ "$LEASE" = 1 ] && [ -n "${LEASE_RUNS[none]:-}" ]; then
    L0=$(med "${LEASE_RUNS[none]}")
    for m in maxlimit reserved; do
        [ -n "${LEASE_RUNS[$m]:-}" ] || continue
        v=$(med "${LEASE_RUNS[$m]}") r=$(ratio "$v" "$L0")
        [ "$(verdict "$r")" = met ] || MISSED=1
        row "lease+complete pairs, pool $m" "$(printf '%.0f' "$v")" "$(printf '%.0f' "$L0")" "$r" \
            ">=0.9 $(verdict "$r")" "${LEASE_RUNS[$m]}| ${LEASE_RUNS[none]}; $(med "${LEASE_US[$m]}") vs $(med "${LEASE_US[none]}") us"
        RES_LINES+=("pool_lease_$m $v lease_no_pool $L0 >=0.9")
    done
fi
echo "  total $(($(date +%s) - T0)) s"
for l in "${RES_LINES[@]}"; do
    read -r f v p pv t <<<"$l"
    result "$f" "$v" "$p" "$pv" "$t"
done
if [ "${STRICT:-0}" = 1 ] && [ "$MISSED" = 1 ]; then exit 3; fi
exit 0
