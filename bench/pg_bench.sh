#!/usr/bin/env bash
# bench/pg_bench.sh: JobEngine over PostgreSQL, with 1, 2 and 3 `jobengine serve` nodes on one
# throwaway PostgreSQL 15 (scripts/pg_tmp.sh: fsync on, synchronous_commit on), next to pgbench
# on the same server in the same run:
#   1. acquire + release decisions/s over HTTP (bench/quota_acquire.lua, as quota_bench.sh);
#      every decision is its own durable PostgreSQL transaction;
#   2. lease + complete pairs/s (bench/lease_submit.lua, then bench/lease_worker.lua draining
#      the jobs, as lease_bench.sh); every lease and every complete durable;
#   3. GET /jobengine/quotas/{id} with a bearer token (bench/quota_get.lua);
#   4. token issuance, POST /token grants, each durably audited (bench/token_post.lua);
#   5. audit appends, POST /token refused for a missing quota_reason (bench/audit_token.lua),
#      each one durable audit entry;
#   peer: pgbench -n -M prepared -f, one single-row `UPDATE ... WHERE id = $1` per transaction
#   (autocommit), each client its own row, the same number of clients, -T DURATION; for GET,
#   one single-row `SELECT ... WHERE id = $1` per transaction.
# Targets: 1 and 2 >= 0.8x pgbench at every node count, and 3 nodes >= 1 node; 3, 4 and 5 are
# quoted next to their peer (issue 12: "each row is also run on the PostgreSQL backend").
#
# Load: CONNECTIONS (48) connections in WRKS (6) wrk processes of -t1, process k sending to node
# (k mod nodes) + 1, so 1, 2 and 3 nodes get the same load split evenly. For acquire, process k
# uses quota (k mod ACQ_QUOTAS) (6: one quota each; 1: all on one quota row); for leases, each
# process has its own job type and quota. Rounds: pgbench alone (no node running), then 1 node,
# 2 nodes, 3 nodes (nodes started one by one), then the nodes stop; RUNS rounds, medians.
# Checked: no unexpected answer; every job leased and completed once (summary per job type);
# each quota's usage.hourCount matches the grants answered; the audit chain is valid and grew by
# the token and audit runs' answers.
#
# Where the time goes, per run: statements per decision (pg_stat_statements, loaded with
# shared_preload_libraries; PGSS=0 leaves it out), and CPU microseconds per decision of
# PostgreSQL (postmaster and backends), of the nodes and of wrk/pgbench (/proc ticks).
#
# Usage (from anywhere; `bash scripts/deps.sh --bench` installs wrk and PostgreSQL's contrib):
#   bash bench/pg_bench.sh
# Settings (environment):
#   NODE_COUNTS="1 2 3"  CONNECTIONS=48  WRKS=6  ACQ_QUOTAS=6  THREADS=16 (serve --threads)
#   DURATION=5 (s per acquire and pgbench run)   RUNS=3   WARMUP=2
#   JOBS=3000 (jobs per lease run, split between the wrk processes)   TIME_BOUND=120
#   PEER_SHARED=1: also pgbench with its clients spread over ACQ_QUOTAS rows as the acquire
#                  load is over its quotas (same lock contention; a diagnosis, not the target)
#   KINDS="acquire lease get token audit"   which JobEngine measures to run
#   JOBENGINE_PG_POOL_SIZE (the nodes' pool, default 32)   PGSS=1   SKIP_BUILD=1   KEEP=1
#   STRICT=1: exit 3 when a target is missed
# Output: the table for people, then one line per figure for bench/all.sh (lib.sh's result):
#   RESULT pg.acquire_release.n1 N pgbench_update_1row N RATIO >=0.8    (lease_complete too)
#   RESULT pg.get_quota.n1 N pgbench_select_1row N RATIO -   (token_issuance, audit_append: the
#   UPDATE peer)   RESULT pg.acquire_release.n3 N pg.acquire_release.n1 N RATIO >=1.0
set -euo pipefail

BENCH_NAME=pg_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

read -r -a NODE_COUNTS <<<"${NODE_COUNTS:-1 2 3}"
CONNECTIONS=${CONNECTIONS:-48}
WRKS=${WRKS:-6}
ACQ_QUOTAS=${ACQ_QUOTAS:-6}
THREADS=${THREADS:-16}
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
JOBS=${JOBS:-3000}
TIME_BOUND=${TIME_BOUND:-120}
PEER_SHARED=${PEER_SHARED:-1}
read -r -a KINDS <<<"${KINDS:-acquire lease get token audit}"
PGSS=${PGSS:-1}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TENANT=bench
ADMIN="pg-admin"
WORKER="pg-worker"
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv
ISSUER=http://pg-bench.invalid # one issuer for every node, as behind a load balancer
PER_WRK=$((CONNECTIONS / WRKS))
JOBS_PER_WRK=$((JOBS / WRKS))
[ $((PER_WRK * WRKS)) = "$CONNECTIONS" ] || die "CONNECTIONS must be a multiple of WRKS"
[ $((JOBS_PER_WRK * WRKS)) = "$JOBS" ] || die "JOBS must be a multiple of WRKS"
has_kind() { [[ " ${KINDS[*]} " == *" $1 "* ]]; }
MAX_NODES=0
for n in "${NODE_COUNTS[@]}"; do [ "$n" -gt "$MAX_NODES" ] && MAX_NODES=$n; done

PGBENCH=$PGBIN/pgbench
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench) || die "pgbench not found (bash scripts/deps.sh --bench)"
need_tools wrk curl python3 awk psql base64
for kind in "${KINDS[@]}"; do
    case $kind in acquire | lease | get | token | audit) ;; *) die "unknown kind $kind" ;; esac
done

build_bin benchmarks make make -s build

bench_work pg "${BENCH_TMP:-$ROOT/bench/out}"
PGSTATE=$WORK/pg
declare -a NODE_PIDS=() NODE_URLS=() WRK_PIDS=()
# shellcheck disable=SC2317 # invoked by cleanup (lib.sh)
on_cleanup() {
    local p
    for p in "${WRK_PIDS[@]}"; do stop_pid "$p" INT; done
    stop_nodes
    bash scripts/pg_tmp.sh stop "$PGSTATE" || true
}

# ---- PostgreSQL ---------------------------------------------------------------------------------
URL=$(bash scripts/pg_tmp.sh start "$PGSTATE") || die "PostgreSQL did not start"
PGDIR=$(cat "$PGSTATE/dir")
sql() { psql "$URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
if [ "$PGSS" = 1 ]; then
    sql "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    bash scripts/pg_tmp.sh ctl "$PGSTATE" restart -m fast || die "PostgreSQL did not restart"
    sql "CREATE EXTENSION pg_stat_statements"
fi
# The peer's table: one row per client.
sql "CREATE TABLE pgb_rows (id integer PRIMARY KEY, n bigint NOT NULL)"
sql "INSERT INTO pgb_rows SELECT g, 0 FROM generate_series(1, $CONNECTIONS) g"
peer_script() { # FILE ROW-EXPRESSION
    printf '\\set id %s\nUPDATE pgb_rows SET n = n + 1 WHERE id = :id;\n' "$2" >"$1"
}
peer_script "$WORK/peer_own.sql" ':client_id + 1'
peer_script "$WORK/peer_shared.sql" ":client_id % $ACQ_QUOTAS + 1"
printf '\\set id :client_id + 1\nSELECT n FROM pgb_rows WHERE id = :id;\n' >"$WORK/peer_select.sql"

# ---- the machine --------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
machine_header work load
build_line
echo "  PostgreSQL: $(sql 'SELECT version()' | cut -d, -f1), data $PGDIR, filesystem" \
    "$(df -PT "$PGDIR" | awk 'NR == 2 {print $2 " on " $1}');" \
    "$(sql "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN
        ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections', 'shared_preload_libraries')")"
echo "  nodes --threads $THREADS, pool ${JOBENGINE_PG_POOL_SIZE:-32}; $CONNECTIONS connections in" \
    "$WRKS wrk processes (-t1 -c$PER_WRK); pgbench -c $CONNECTIONS -j 2 -M prepared;" \
    "${DURATION}s x $RUNS rounds; $JOBS jobs per lease run; acquire over $ACQ_QUOTAS quota(s)"

# ---- CPU accounting -----------------------------------------------------------------------------
# Clock ticks from /proc/PID/stat without forking: after the command name, field 12 is utime, 13
# stime, 14 cutime and 15 cstime (the CPU of children waited for).
STAT=()
read_stat() { # PID -> STAT (empty when the process is gone)
    local st
    STAT=()
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 0
    read -r -a STAT <<<"${st##*) }"
}
ticks_of() { # PID... -> utime + stime, summed (processes gone are skipped)
    local t=0 p
    for p in "$@"; do
        read_stat "$p"
        [ ${#STAT[@]} -gt 14 ] && t=$((t + STAT[11] + STAT[12]))
    done
    echo "$t"
}
# All of PostgreSQL: the postmaster with the backends it has reaped (cutime, cstime) and the
# backends alive now; so backends that ended during a run (pgbench's) are counted too.
pg_ticks() {
    local pm t
    pm=$(head -1 "$PGDIR/data/postmaster.pid")
    read_stat "$pm"
    t=$((STAT[11] + STAT[12] + STAT[13] + STAT[14]))
    # shellcheck disable=SC2046 # one pid per word
    echo $((t + $(ticks_of $(ps -o pid= --ppid "$pm"))))
}
# The clients (wrk, pgbench) are this shell's children: their CPU is in its cutime and cstime
# once waited for (with the few tools the script runs meanwhile).
client_ticks() {
    read_stat $$
    echo $((STAT[13] + STAT[14]))
}
# cpu_begin, then cpu_end OPS after the clients were waited for: CPU of PostgreSQL, the nodes and
# the clients per op (PG_US, NODE_US, CLIENT_US) and in cores, in CPU_LINE.
cpu_begin() {
    PG_T0=$(pg_ticks) NODE_T0=$(ticks_of "${NODE_PIDS[@]}") CLIENT_T0=$(client_ticks)
    read -r MB0 MA0 < <(machine_ticks)
    WALL0=$(now_ns)
}
cpu_end() { # OPS
    local ops=$1 pg node client wall mb1 ma1
    pg=$(($(pg_ticks) - PG_T0))
    node=$(($(ticks_of "${NODE_PIDS[@]}") - NODE_T0))
    client=$(($(client_ticks) - CLIENT_T0))
    read -r mb1 ma1 < <(machine_ticks)
    wall=$(($(now_ns) - WALL0))
    per_op() { awk -v t="$1" -v h="$CLK_TCK" -v n="$ops" 'BEGIN {printf "%.0f", (n > 0 ? t / h / n * 1e6 : 0)}'; }
    cores() { awk -v t="$1" -v h="$CLK_TCK" -v w="$wall" 'BEGIN {printf "%.2f", t / h / (w / 1e9)}'; }
    PG_US=$(per_op "$pg") NODE_US=$(per_op "$node") CLIENT_US=$(per_op "$client")
    CPU_LINE="cpu us/op: postgres $PG_US, nodes $NODE_US, client $CLIENT_US; cores: postgres"
    CPU_LINE+=" $(cores "$pg"), nodes $(cores "$node"), client $(cores "$client"), machine"
    CPU_LINE+=" $(awk -v b=$((mb1 - MB0)) -v a=$((ma1 - MA0)) 'BEGIN {printf "%.0f", (a ? 100 * b / a : 0)}')% busy"
}
# Statements (pg_stat_statements, every database and user) since stmt_reset, per OPS.
stmt_reset() { if [ "$PGSS" = 1 ]; then sql "SELECT pg_stat_statements_reset()" >/dev/null; fi; }
STMTS=""
stmt_count() { # OPS LABEL
    STMTS=""
    [ "$PGSS" = 1 ] || return 0
    local q="FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
    STMTS=$(sql "SELECT round(coalesce(sum(calls), 0)::numeric / greatest($1, 1), 2) $q")
    sql "SELECT round(calls::numeric / greatest($1, 1), 3) || ' ' || round(mean_exec_time::numeric, 3) ||
         'ms  ' || regexp_replace(left(query, 110), '\s+', ' ', 'g') $q ORDER BY calls DESC LIMIT 25" \
        >"$WORK/statements.$2.txt"
}

# ---- nodes --------------------------------------------------------------------------------------
stop_nodes() {
    local p
    for p in "${NODE_PIDS[@]}"; do stop_pid "$p"; done
    NODE_PIDS=() NODE_URLS=()
}
start_node() { # I
    local port log=$WORK/node$1.log
    port=$(free_port)
    "$BIN" serve --listen "127.0.0.1:$port" --store "$URL" --issuer "$ISSUER" --threads "$THREADS" \
        --ceiling-max-active 100000 --ceiling-max-per-hour 1000000000 \
        --ceiling-burst-capacity 100000000 --ceiling-refill-per-second 1000000 \
        >>"$log" 2>&1 &
    NODE_PIDS+=($!)
    NODE_URLS+=("http://127.0.0.1:$port")
    for _ in $(seq 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
        kill -0 "${NODE_PIDS[-1]}" 2>/dev/null || { tail -5 "$log" >&2; die "node $1 exited"; }
        sleep 0.05
    done
    die "node $1 not ready in 10 s"
}
nodes_up_to() { # N: start nodes until N run
    while [ "${#NODE_PIDS[@]}" -lt "$1" ]; do start_node $((${#NODE_PIDS[@]} + 1)); done
}

"$BIN" migrate --store "$URL" >/dev/null 2>"$WORK/cli.err" || die "migrate failed: $(cat "$WORK/cli.err")"
for c in "$ADMIN Orch.Admin" "$WORKER Orch.Worker"; do
    read -r id role <<<"$c"
    "$BIN" client add "$id" --tenant "$TENANT" --role "$role" --secret "$SECRET" --store "$URL" \
        --json >/dev/null 2>"$WORK/cli.err" || die "client add $id failed: $(cat "$WORK/cli.err")"
done
nodes_up_to 1
BASE=${NODE_URLS[0]}
WORKER_TOKEN=$(token "$WORKER" "$SECRET" "orch:read orch:jobs") || die "cannot get the worker token"
export QUOTA_BENCH_TOKEN=$WORKER_TOKEN LEASE_BENCH_TOKEN=$WORKER_TOKEN
# Elevated tokens last 10 minutes: a fresh one for each batch of quota creations.
create_quota() { # JOBTYPE MAXACTIVE BURST -> prints the quota id
    local admin
    admin=$(token "$ADMIN" "$SECRET" orch:quota "quota_reason=pg benchmark") || die "no admin token"
    curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"jobType\":\"$1\",\"maxActive\":$2,\"maxPerHour\":1000000000,\"burstCapacity\":$3,\"refillPerSecond\":1000000}" \
        "$BASE/jobengine/quotas" | json_get quotaId
}
declare -a ACQ_QIDS=()
for q in $(seq 0 $((ACQ_QUOTAS - 1))); do
    qid=$(create_quota "bench.acquire.$q" 1000 100000000) || die "cannot create quota $q"
    ACQ_QIDS+=("$qid")
done

# ---- one run of each kind -----------------------------------------------------------------------
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
wait_wrks() { # LABEL: waits for every wrk process, each must succeed
    local k rc=0
    for k in "${!WRK_PIDS[@]}"; do wait "${WRK_PIDS[$k]}" || rc=$?; done
    WRK_PIDS=()
    [ "$rc" = 0 ] || die "$1: a wrk process failed: $(tail -3 "$WORK/$1".*.txt)"
}

RESULT="" OPS=0
run_acquire() { # LABEL NODES SECONDS
    local label=$1 n=$2 secs=$3 k out rps=0 line o fo g total=0 t0
    stmt_reset
    cpu_begin
    t0=$(now_ms)
    for k in $(seq 0 $((WRKS - 1))); do
        QUOTA_BENCH_QUOTA=${ACQ_QIDS[$((k % ACQ_QUOTAS))]} wrk -t1 "-c$PER_WRK" "-d${secs}s" \
            -s bench/quota_acquire.lua "${NODE_URLS[$((k % n))]}/" >"$WORK/$label.$k.txt" 2>&1 &
        WRK_PIDS+=($!)
    done
    wait_wrks "$label"
    for k in $(seq 0 $((WRKS - 1))); do
        out=$WORK/$label.$k.txt
        line=$(grep '^quota_acquire:' "$out") || die "$label: no summary: $(cat "$out")"
        o=$(field other "$line") fo=$(field first_other "$line") g=$(field grants "$line")
        [ "$o" = 0 ] || die "$label: $o unexpected answers (first status $fo) from wrk $k"
        echo "$((k % ACQ_QUOTAS)) $t0 $(now_ms) $g" >>"$WORK/grants.txt" # quota, run start, end
        total=$((total + $(field responses "$line")))
        rps=$(awk -v a="$rps" -v b="$(awk '/^Requests\/sec:/ {print $2}' "$out")" 'BEGIN {print a + b}')
    done
    OPS=$total
    cpu_end "$total"
    stmt_count "$total" "$label"
    RESULT=$rps
    say "  $label: $rps decisions/s ($total answered), statements/decision ${STMTS:-n/a}; $CPU_LINE"
}

# Every job type of a lease run has exactly its jobs, all succeeded (GET /jobengine/jobs/summary).
SUMMARY_CHECK='import json, sys
rows = {i["jobType"]: i for i in json.loads(sys.argv[1])["items"]}
want, types = int(sys.argv[2]), sys.argv[3:]
bad = [t for t in types if t not in rows or rows[t]["succeeded"] != want or rows[t]["total"] != want]
if bad:
    sys.exit("not all succeeded: " + ", ".join(f"{t}: {rows.get(t)}" for t in bad))'
run_lease() { # LABEL NODES ROUND
    local label=$1 n=$2 k jt secs max=0 done_all total=0 line sum
    declare -a types=()
    for k in $(seq 0 $((WRKS - 1))); do
        jt="bench.lease.$3.$n.$k"
        types+=("$jt")
        create_quota "$jt" $((PER_WRK * 2)) $((JOBS_PER_WRK * 2)) >/dev/null ||
            die "cannot create the quota of $jt"
    done
    # submit: each wrk process its share of the jobs, of its own job type, on its node
    for k in $(seq 0 $((WRKS - 1))); do
        mkdir -p "$WORK/done.$label.s$k"
        LEASE_BENCH_JOBTYPE=${types[$k]} LEASE_BENCH_JOBS=$JOBS_PER_WRK LEASE_BENCH_THREADS=1 \
            LEASE_BENCH_DONE_DIR=$WORK/done.$label.s$k wrk -t1 "-c$PER_WRK" "-d${TIME_BOUND}s" \
            -s bench/lease_submit.lua "${NODE_URLS[$((k % n))]}/" >"$WORK/$label.submit.$k.txt" 2>&1 &
        WRK_PIDS+=($!)
    done
    wrks_until_done "$label.submit" "$WORK/done.$label.s"
    for k in $(seq 0 $((WRKS - 1))); do
        line=$(grep '^lease_submit:' "$WORK/$label.submit.$k.txt") || die "$label: no submit summary"
        [ "$(field created "$line")" = "$JOBS_PER_WRK" ] || die "$label: submit $k: $line"
    done
    # lease + complete until drained
    stmt_reset
    cpu_begin
    for k in $(seq 0 $((WRKS - 1))); do
        mkdir -p "$WORK/done.$label.l$k"
        LEASE_BENCH_JOBTYPE=${types[$k]} LEASE_BENCH_LEASE_S=600 \
            LEASE_BENCH_DONE_DIR=$WORK/done.$label.l$k wrk -t1 "-c$PER_WRK" "-d${TIME_BOUND}s" \
            -s bench/lease_worker.lua "${NODE_URLS[$((k % n))]}/" >"$WORK/$label.lease.$k.txt" 2>&1 &
        WRK_PIDS+=($!)
    done
    wrks_until_done "$label.lease" "$WORK/done.$label.l"
    for k in $(seq 0 $((WRKS - 1))); do
        line=$(grep '^lease_worker:' "$WORK/$label.lease.$k.txt") || die "$label: no lease summary"
        [ "$(field non200 "$line")" = 0 ] || die "$label: wrk $k: $line"
        if [ "$(field leased "$line")" != "$JOBS_PER_WRK" ] ||
            [ "$(field completed "$line")" != "$JOBS_PER_WRK" ]; then
            die "$label: wrk $k did not lease and complete $JOBS_PER_WRK jobs: $line"
        fi
        total=$((total + $(field completed "$line")))
        secs=$(field seconds "$line")
        max=$(awk -v a="$max" -v b="$secs" 'BEGIN {print (b > a ? b : a)}')
    done
    OPS=$total
    cpu_end "$total"
    stmt_count "$total" "$label"
    # every job of every type succeeded once
    sum=$(curl -sf -H "Authorization: Bearer $WORKER_TOKEN" "$BASE/jobengine/jobs/summary") ||
        die "$label: GET /jobengine/jobs/summary failed"
    python3 -c "$SUMMARY_CHECK" "$sum" "$JOBS_PER_WRK" "${types[@]}" ||
        die "$label: the jobs are not all succeeded once"
    done_all=$(awk -v n="$total" -v s="$max" 'BEGIN {printf "%.1f", (s > 0 ? n / s : 0)}')
    RESULT=$done_all
    say "  $label: $done_all pairs/s ($total in ${max}s), statements/pair ${STMTS:-n/a}; $CPU_LINE"
}

# Waits until each wrk process k has left a file in PREFIX<k> (or exited), then stops them all
# (SIGINT: wrk prints its summary).
wrks_until_done() { # LABEL PREFIX
    local k left t0
    t0=$(now_ms)
    while :; do
        left=0
        for k in "${!WRK_PIDS[@]}"; do
            if kill -0 "${WRK_PIDS[$k]}" 2>/dev/null && [ -z "$(ls -A "$2$k")" ]; then left=1; fi
        done
        [ "$left" = 0 ] && break
        [ $(($(now_ms) - t0)) -lt $((TIME_BOUND * 1000 + 5000)) ] || die "$1: not done in ${TIME_BOUND}s"
        sleep 0.05
    done
    for k in "${!WRK_PIDS[@]}"; do kill -INT "${WRK_PIDS[$k]}" 2>/dev/null || true; done
    wait_wrks "$1"
}
run_pgbench() { # LABEL SECONDS SCRIPT
    local label=$1 out=$WORK/$1.txt tps
    stmt_reset
    cpu_begin
    "$PGBENCH" -n -M prepared -f "$3" -c "$CONNECTIONS" -j 2 -T "$2" "$URL" >"$out" 2>&1 &
    WRK_PIDS+=($!)
    wait_wrks "$label"
    tps=$(awk '/^tps = / {print $3; exit}' "$out")
    [ -n "$tps" ] || die "$label: cannot parse pgbench output: $(cat "$out")"
    OPS=$(awk '/number of transactions actually processed:/ {print $NF}' "$out" | cut -d/ -f1)
    grep -q 'number of failed transactions: 0' "$out" || die "$label: pgbench had failed transactions: $(grep failed "$out")"
    cpu_end "$OPS"
    stmt_count "$OPS" "$label"
    RESULT=$tps
    say "  $label: $tps tx/s ($OPS transactions), statements/tx ${STMTS:-n/a}; $CPU_LINE"
}

# ---- GET quota, token issuance, audit appends -------------------------------------------------
# The audit chain's entry count (GET /jobengine/audit/verify with the worker's orch:read token,
# which adds no entry).
chain_entries() {
    local v
    v=$(curl -sf -H "Authorization: Bearer $WORKER_TOKEN" "$BASE/jobengine/audit/verify") ||
        die "GET /jobengine/audit/verify failed"
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
if v.get("valid") is not True: sys.exit("audit chain not valid: " + sys.argv[1])
print(v.get("entries", 0))' "$v" || die "the audit chain is not valid"
}
WORKER_BASIC="Basic $(printf '%s:%s' "$WORKER" "$SECRET" | base64 -w0)"
ADMIN_BASIC="Basic $(printf '%s:%s' "$ADMIN" "$SECRET" | base64 -w0)"
# get:   GET /jobengine/quotas/{id} (bench/quota_get.lua), process k on quota k mod ACQ_QUOTAS;
#        every answer 200 (wrk counts the others);
# token: POST /token grants of orch:read to the worker (bench/token_post.lua), every one 200;
# audit: POST /token refused for a missing quota_reason (bench/audit_token.lua), every one 400,
#        each one durable audit entry and nothing else.
# token and audit: the chain stays valid and grows by the answers (+ at most one in flight per
# connection when wrk stopped).
run_http() { # KIND LABEL NODES SECONDS
    local kind=$1 label=$2 n=$3 secs=$4 k out rps=0 total=0 line e0=0 e1 url script
    case $kind in get) script=quota_get ;; token) script=token_post ;; *) script=audit_token ;; esac
    [ "$kind" = get ] || e0=$(chain_entries)
    stmt_reset
    cpu_begin
    for k in $(seq 0 $((WRKS - 1))); do
        url=${NODE_URLS[$((k % n))]}
        case $kind in
        get) url+="/jobengine/quotas/${ACQ_QIDS[$((k % ACQ_QUOTAS))]}" ;;
        *) url+="/token" ;;
        esac
        QUOTA_BENCH_TOKEN=$WORKER_TOKEN TOKEN_BENCH_AUTH=$WORKER_BASIC TOKEN_BENCH_SCOPE=orch:read \
            AUDIT_BENCH_AUTH=$ADMIN_BASIC wrk -t1 "-c$PER_WRK" "-d${secs}s" -s "bench/$script.lua" \
            "$url" >"$WORK/$label.$k.txt" 2>&1 &
        WRK_PIDS+=($!)
    done
    wait_wrks "$label"
    for k in $(seq 0 $((WRKS - 1))); do
        out=$WORK/$label.$k.txt
        case $kind in
        get)
            if grep -q 'Non-2xx' "$out"; then die "$label: wrk $k: $(grep 'Non-2xx' "$out")"; fi
            total=$((total + $(awk '/requests in/ {print $1}' "$out")))
            ;;
        token)
            line=$(grep '^token_post:' "$out") || die "$label: no summary: $(cat "$out")"
            [ "$(field non200 "$line")" = 0 ] || die "$label: wrk $k: $line"
            total=$((total + $(field ok "$line")))
            ;;
        audit)
            line=$(grep '^audit_token:' "$out") || die "$label: no summary: $(cat "$out")"
            [ "$(field other "$line")" = 0 ] || die "$label: wrk $k: $line"
            total=$((total + $(field refused "$line")))
            ;;
        esac
        rps=$(awk -v a="$rps" -v b="$(awk '/^Requests\/sec:/ {print $2}' "$out")" 'BEGIN {print a + b}')
    done
    OPS=$total
    cpu_end "$total"
    stmt_count "$total" "$label"
    if [ "$kind" != get ]; then
        e1=$(chain_entries)
        if [ $((e1 - e0 - total)) -lt 0 ] || [ $((e1 - e0 - total)) -gt "$CONNECTIONS" ]; then
            die "$label: the audit chain grew by $((e1 - e0)) entries for $total answers"
        fi
    fi
    RESULT=$rps
    say "  $label: $rps/s ($total answered), statements/op ${STMTS:-n/a}; $CPU_LINE"
}

# ---- warm-up, then the rounds ----------------------------------------------------------------
say "pg_bench: warm-up"
if has_kind acquire; then run_acquire warmup.acquire 1 "$WARMUP"; fi
stop_nodes
# pgbench's -T counts the time its 48 clients take to connect: on a loaded machine the first run
# after the start of PostgreSQL may spend 2 s connecting and do nothing, so at least 5 s.
run_pgbench warmup.pgbench "$((WARMUP > 5 ? WARMUP : 5))" "$WORK/peer_own.sql"

# Per kind and node count ("acquire.1"): the runs' figures, statements, postgres and node us/op.
declare -A VAL=() ST=() PGU=() NODEU=()
PEER=() PEER_PG=() PEER_ST=() PEER2=() PEER2_PG=() PEER_SEL=() PEER_SEL_PG=()
for round in $(seq "$RUNS"); do
    say "pg_bench: round $round of $RUNS"
    stop_nodes
    run_pgbench "r$round.pgbench" "$DURATION" "$WORK/peer_own.sql"
    PEER+=("$RESULT") PEER_PG+=("$PG_US") PEER_ST+=("${STMTS:-}")
    if [ "$PEER_SHARED" = 1 ]; then
        run_pgbench "r$round.pgbench-shared" "$DURATION" "$WORK/peer_shared.sql"
        PEER2+=("$RESULT") PEER2_PG+=("$PG_US")
    fi
    if has_kind get; then
        run_pgbench "r$round.pgbench-select" "$DURATION" "$WORK/peer_select.sql"
        PEER_SEL+=("$RESULT") PEER_SEL_PG+=("$PG_US")
    fi
    for n in "${NODE_COUNTS[@]}"; do
        nodes_up_to "$n"
        BASE=${NODE_URLS[0]}
        for kind in "${KINDS[@]}"; do
            case $kind in
            acquire) run_acquire "r$round.acquire.n$n" "$n" "$DURATION" ;;
            lease) run_lease "r$round.lease.n$n" "$n" "$round" ;;
            *) run_http "$kind" "r$round.$kind.n$n" "$n" "$DURATION" ;;
            esac
            VAL[$kind.$n]+="$RESULT " ST[$kind.$n]+="${STMTS:-} " PGU[$kind.$n]+="$PG_US "
            NODEU[$kind.$n]+="$NODE_US "
        done
    done
    for kind in "${KINDS[@]}"; do
        cp "$WORK/statements.r$round.$kind.n${NODE_COUNTS[0]}.txt" "$WORK/statements.$kind.txt" 2>/dev/null || true
    done
done

# ---- the quotas counted every grant -----------------------------------------------------------
# usage.hourCount counts the grants of the current clock hour (hourStartedAt): it must equal the
# grants answered by the runs of that hour, plus at most CONNECTIONS per run in flight when wrk
# stopped. A quota whose hour began during a run cannot be checked this way (said, not failed).
if has_kind acquire; then
    nodes_up_to 1
    BASE=${NODE_URLS[0]}
    checked=0
    for q in $(seq 0 $((ACQ_QUOTAS - 1))); do
        view=$(curl -sf -H "Authorization: Bearer $WORKER_TOKEN" "$BASE/jobengine/quotas/${ACQ_QIDS[$q]}") ||
            die "GET quota $q failed"
        hc=$(json_get usage.hourCount <<<"$view")
        hs=$(date -d "$(json_get usage.hourStartedAt <<<"$view")" +%s%3N)
        read -r grants runs straddle < <(awk -v q="$q" -v hs="$hs" '$1 == q && $3 >= hs {
            if ($2 >= hs) {g += $4; n++} else s = 1} END {print g + 0, n + 0, s + 0}' "$WORK/grants.txt")
        if [ "$straddle" = 1 ]; then
            say "  store check of quota $q skipped: a run crossed the hour boundary"
            continue
        fi
        extra=$((hc - grants))
        if [ "$extra" -lt 0 ] || [ "$extra" -gt $((CONNECTIONS * (runs + 1))) ]; then
            die "quota $q: hourCount $hc against $grants grants answered in this hour ($runs runs)"
        fi
        checked=$((checked + 1))
    done
    echo "store check: $checked of $ACQ_QUOTAS quotas: usage.hourCount = the grants answered in its" \
        "hour + those in flight when wrk stopped (at most $CONNECTIONS per run)"
fi
stop_nodes

# ---- the table ----------------------------------------------------------------------------------
med() { tr ' ' '\n' | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r + 0 >= t) ? "met" : "NOT met"}'; }
row() { printf '  %-46s %10s %6s  %-11s %s\n' "$@"; }
# What each kind is called, its figure's name for bench/all.sh, its peer and target (issue 11's
# 0.8x pgbench for the writes it set; the rest are quoted next to pgbench, with no target).
kind_name() {
    case $1 in
    acquire) echo "acquire+release decisions" ;; lease) echo "lease+complete pairs" ;;
    get) echo "GET quota, bearer" ;; token) echo "token issuance (audited)" ;;
    audit) echo "audit appends (POST /token refused)" ;;
    esac
}
kind_figure() {
    case $1 in
    acquire) echo acquire_release ;; lease) echo lease_complete ;; get) echo get_quota ;;
    token) echo token_issuance ;; audit) echo audit_append ;;
    esac
}
kind_target() { case $1 in acquire | lease) echo 0.8 ;; *) echo - ;; esac; }
PEER_MED=$(med <<<"${PEER[*]}")
SEL_MED=""
[ ${#PEER_SEL[@]} = 0 ] || SEL_MED=$(med <<<"${PEER_SEL[*]}")
kind_peer() { if [ "$1" = get ]; then echo "pgbench_select_1row $SEL_MED"; else echo "pgbench_update_1row $PEER_MED"; fi; }
MISSED=0
RESULTS=()
echo
echo "pg_bench results, $(date -u +%Y-%m-%d), nproc $NPROC, $CONNECTIONS connections, nodes" \
    "--threads $THREADS, ${DURATION}s x $RUNS rounds, medians (runs after them)"
row "measure (per second)" "median" "ratio" "target" "runs"
row "pgbench: 1-row UPDATE per tx, own row per client" "$(printf '%.0f' "$PEER_MED")" "1.00" "(peer)" "${PEER[*]}"
if [ "$PEER_SHARED" = 1 ]; then
    P2=$(med <<<"${PEER2[*]}")
    row "pgbench: the same over $ACQ_QUOTAS rows (acquire's)" "$(printf '%.0f' "$P2")" \
        "$(ratio "$P2" "$PEER_MED")" "-" "${PEER2[*]}"
fi
if [ -n "$SEL_MED" ]; then
    row "pgbench: 1-row SELECT by id per tx (GET's peer)" "$(printf '%.0f' "$SEL_MED")" "1.00" \
        "(peer)" "${PEER_SEL[*]}"
fi
for kind in "${KINDS[@]}"; do
    read -r pname pval < <(kind_peer "$kind")
    t=$(kind_target "$kind")
    for n in "${NODE_COUNTS[@]}"; do
        v=${VAL[$kind.$n]}
        m=$(med <<<"$v")
        r=$(ratio "$m" "$pval")
        vd="quoted"
        if [ "$t" != - ]; then
            vd=">=$t $(verdict "$r" "$t")"
            [ "$(verdict "$r" "$t")" = met ] || MISSED=1
        fi
        row "$(kind_name "$kind"), $n node(s)" "$(printf '%.0f' "$m")" "$r" "$vd" "$v"
        RESULTS+=("pg.$(kind_figure "$kind").n$n $m $pname $pval $([ "$t" = - ] && echo - || echo ">=$t")")
    done
done
first=${NODE_COUNTS[0]} last=${NODE_COUNTS[-1]}
for kind in "${KINDS[@]}"; do
    [ "$first" != "$last" ] || break
    case $kind in acquire | lease) ;; *) continue ;; esac
    a=$(med <<<"${VAL[$kind.$first]}") b=$(med <<<"${VAL[$kind.$last]}")
    r=$(ratio "$b" "$a")
    vd=$(verdict "$r" 1.0)
    [ "$vd" = met ] || MISSED=1
    row "$kind: $last nodes / $first node" "" "$r" ">=1.0 $vd" ""
    RESULTS+=("pg.$(kind_figure "$kind").n$last $b pg.$(kind_figure "$kind").n$first $a >=1.0")
done
echo "  where the time goes, medians per op (decision, pair, request, or pgbench transaction):"
printf '    %-44s %11s %12s %9s\n' "" "statements" "postgres us" "nodes us"
printf '    %-44s %11s %12s %9s\n' "pgbench, own rows" "$(med <<<"${PEER_ST[*]}")" \
    "$(med <<<"${PEER_PG[*]}")" "-"
if [ "$PEER_SHARED" = 1 ]; then
    printf '    %-44s %11s %12s %9s\n' "pgbench, $ACQ_QUOTAS rows" "1.00" "$(med <<<"${PEER2_PG[*]}")" "-"
fi
if [ -n "$SEL_MED" ]; then
    printf '    %-44s %11s %12s %9s\n' "pgbench, SELECT" "1.00" "$(med <<<"${PEER_SEL_PG[*]}")" "-"
fi
for kind in "${KINDS[@]}"; do
    for n in "${NODE_COUNTS[@]}"; do
        printf '    %-44s %11s %12s %9s\n' "$(kind_name "$kind"), $n node(s)" \
            "$(med <<<"${ST[$kind.$n]}")" "$(med <<<"${PGU[$kind.$n]}")" "$(med <<<"${NODEU[$kind.$n]}")"
    done
done
if [ "$PGSS" = 1 ]; then
    for kind in "${KINDS[@]}"; do
        echo "  statements of one $kind run ($first node, last round): calls per op, mean time, statement"
        sed 's/^/    /' "$WORK/statements.$kind.txt"
    done
fi
for r in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086 # the words of one result
    result $r
done
if [ "${STRICT:-0}" = 1 ] && [ "$MISSED" = 1 ]; then exit 3; fi
exit 0
