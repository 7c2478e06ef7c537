#!/usr/bin/env bash
# bench/claim_bench.sh: duplicate-suppression claims per second, POST /jobengine/dedup/claim in
# calls of 1,000 events from CLIENTS (4) concurrent keep-alive connections (wrk +
# bench/claim_post.lua), against a ledger that already holds LEDGER_EVENTS (10 million)
# processed events of the same tenant and source; two variants:
#   new  every key never seen: each call claims 1,000 new events (all answered "new");
#   dup  1,000 consecutive keys from a random place among the processed events (all answered
#        "duplicates": a backfill re-reading a window).
# Printed next to the floor any ledger on this store must pay, measured in the same run on the
# same disk: raw `INSERT OR IGNORE` of the same key shape into a fresh table with the ledger's
# key (source id, event_key) and the columns a claim writes, 1,000 rows per fsync'd transaction
# (WAL, synchronous=FULL), one thread (bench/claim_floor.c). Target: new / floor >= 0.7. Also
# printed: the same floor with the claims' secondary index on the job (the same schema, not just
# the same key), and the ledger's bytes per event on disk (dbstat over its tables and indexes;
# and the whole file's page_count x page_size). And, as a shared machine disturbs them less than
# the rates: the server's CPU time per event (/proc utime + stime over each wrk run, all its
# threads: HTTP, JSON and the writer) next to the floor's CPU time per row (getrusage).
#
# The processed events are written straight into the store file before the server starts
# (bench/claim_gen.c: `jobengine migrate`, then INSERTs into `ledger`, keys "evt-%08d", event
# times spread over the 30 days before now). Then: a quota for the job type, one job with the
# source, leased by the benchmark for an hour, and the claim calls with that job's id. Checked
# at the end: every call answered 200 and all new (or all duplicates), and the ledger holds
# exactly as many claims of the job as events answered new (+ the calls wrk abandoned in flight
# when it stopped, at most CLIENTS calls per wrk run).
#
# Usage (from anywhere):  bash bench/claim_bench.sh
# Settings (environment):
#   LEDGER_EVENTS=10000000  processed events in the ledger (1000000 for a quick run)
#   CLIENTS=4         concurrent connections (wrk -c)    WRK_THREADS=2  wrk threads
#   DURATION=10       seconds per wrk run                RUNS=3         runs of each variant
#   WARMUP=2          seconds of warm-up (new keys)      BATCH=1000     events per call
#   THREADS=auto      server --threads                   FLOOR_SECONDS=5, FLOOR_RUNS=3
#   BENCH_TMP=DIR     where the work directory (and the store) goes; default bench/out
#   SKIP_BUILD=1      do not run `make -s build`         KEEP=1         keep the work directory
#   STRICT=1          exit 3 when new / floor < 0.7
# Output: the table for people, then for bench/all.sh (lib.sh's result; LEDGER_EVENTS is in the
# figure's name when it is not 10,000,000, e.g. claim_new@1000000):
#   RESULT claim_new N insert_or_ignore_floor N RATIO >=0.7
#   RESULT claim_dup N insert_or_ignore_floor N RATIO -
set -euo pipefail

BENCH_NAME=claim_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

LEDGER_EVENTS=${LEDGER_EVENTS:-10000000}
CLIENTS=${CLIENTS:-4}
WRK_THREADS=${WRK_THREADS:-2}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
BATCH=${BATCH:-1000}
THREADS=${THREADS:-auto}
FLOOR_SECONDS=${FLOOR_SECONDS:-5}
FLOOR_RUNS=${FLOOR_RUNS:-3}
DAYS=30
TENANT=bench
SOURCE=bench-source
JOB_TYPE=bench.ingest
ADMIN=claim-admin
WORKER=claim-worker
# A fixed 43-character secret (the CLI requires at least 32); the store is thrown away after.
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv

need_tools wrk cc curl python3 sqlite3 awk
if [ "$LEDGER_EVENTS" -lt "$BATCH" ] || [ "$LEDGER_EVENTS" -gt 50000000 ]; then
    die "LEDGER_EVENTS must be from BATCH to 50000000"
fi

build_bin benchmarks make make -s build

bench_work claim "${BENCH_TMP:-$ROOT/bench/out}"
STORE="$WORK/jobengine.db"
LOG="$WORK/server.log"

# ---- the machine ------------------------------------------------------------------------------
machine_header store load
build_line
echo "  ledger $LEDGER_EVENTS processed events; calls of $BATCH events from $CLIENTS connections" \
    "(wrk -t$WRK_THREADS -c$CLIENTS -d${DURATION}s x $RUNS runs per variant); server --threads $THREADS"

cc -O2 -Wall -Wextra bench/claim_gen.c -lsqlite3 -o "$WORK/claim_gen" ||
    die "cannot build bench/claim_gen.c (libsqlite3-dev?)"
cc -O2 -Wall -Wextra bench/claim_floor.c -lsqlite3 -o "$WORK/claim_floor" ||
    die "cannot build bench/claim_floor.c"

# ---- the store: schema, clients, LEDGER_EVENTS processed events --------------------------------
"$BIN" migrate --store "sqlite:$STORE" >/dev/null || die "migrate failed"
add_client "$ADMIN" Orch.Admin "$SECRET" "$STORE"
add_client "$WORKER" Orch.Worker "$SECRET" "$STORE"
START_MS=$(now_ms)
bg_run "$WORK/claim_gen.out" "$WORK/claim_gen.err" "$WORK/claim_gen" "$STORE" "$TENANT" \
    "$SOURCE" "$LEDGER_EVENTS" "$START_MS" "$DAYS" ||
    die "claim_gen failed: $(cat "$WORK/claim_gen.err")"
read -r _ GEN_S <"$WORK/claim_gen.out"
say "claim_bench: $LEDGER_EVENTS processed events written in ${GEN_S}s; sync"
sync # the generated file's dirty pages must not be written back during the runs

# Bytes on disk: of the ledger's b-trees (dbstat: the settled entries with their time index and
# the source ids; the unsettled claims with their job index), and of the whole file.
ledger_bytes() { # prints: ledger_table ledger_time ledger_claims file_bytes
    sqlite3 "$STORE" "SELECT
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat
            WHERE name IN ('ledger', 'ledger_sources', 'sqlite_autoindex_ledger_sources_1')),
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'ledger_time'),
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat
            WHERE name IN ('ledger_claims', 'ledger_claims_job')),
        (SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size);" |
        tr '|' ' '
}
read -r B_TABLE B_TIME B_CLAIMS B_FILE < <(ledger_bytes) || die "dbstat failed"
BPE=$(awk -v a="$B_TABLE" -v b="$B_TIME" -v c="$B_CLAIMS" -v n="$LEDGER_EVENTS" \
    'BEGIN {printf "%.1f", (a + b + c) / n}')
BPE_FILE=$(awk -v a="$B_FILE" -v n="$LEDGER_EVENTS" 'BEGIN {printf "%.1f", a / n}')
say "  ledger on disk: table $B_TABLE B, ledger_time $B_TIME B, claims $B_CLAIMS B" \
    "= $BPE B/event; whole file $B_FILE B = $BPE_FILE B/event"

# ---- the server -------------------------------------------------------------------------------
T0=$(now_ms)
LISTEN_TRIES=600 LISTEN_STEP=0.05 start_server "$STORE" "$LOG"
STARTUP_S=$(awk -v a="$T0" -v b="$(now_ms)" 'BEGIN {printf "%.2f", (b - a) / 1000}')
say "  server listening after ${STARTUP_S}s (its start includes the ledger prune sweep)"

ADMIN_TOKEN=$(token "$ADMIN" "$SECRET" orch:quota "quota_reason=claim benchmark") ||
    die "cannot get the admin token"
WORKER_TOKEN=$(token "$WORKER" "$SECRET" "orch:jobs orch:read") || die "cannot get the worker token"
api() { # TOKEN PATH BODY
    curl -sf -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$3" "$BASE$2"
}
api "$ADMIN_TOKEN" /jobengine/quotas "{\"jobType\": \"$JOB_TYPE\", \"maxActive\": 10,
    \"maxPerHour\": 1000, \"burstCapacity\": 10, \"refillPerSecond\": 1}" >/dev/null ||
    die "cannot create the quota"
api "$WORKER_TOKEN" /jobengine/jobs "{\"jobType\": \"$JOB_TYPE\", \"payload\": {},
    \"sourceId\": \"$SOURCE\"}" >/dev/null || die "cannot submit the job"
JOB_ID=$(api "$WORKER_TOKEN" /jobengine/jobs/lease "{\"jobTypes\": [\"$JOB_TYPE\"],
    \"workerId\": \"claim-bench\", \"max\": 1, \"leaseSeconds\": 3600}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["jobs"][0]["jobId"])') ||
    die "cannot lease the job"

export CLAIM_BENCH_TOKEN=$WORKER_TOKEN CLAIM_BENCH_SOURCE=$SOURCE CLAIM_BENCH_JOB=$JOB_ID
export CLAIM_BENCH_EVENTS=$LEDGER_EVENTS CLAIM_BENCH_START_MS=$START_MS CLAIM_BENCH_DAYS=$DAYS
export CLAIM_BENCH_BATCH=$BATCH CLAIM_BENCH_THREADS=$WRK_THREADS

# New keys of wrk run R start at FIRST_NEW + R x 10^7: above every processed key, and disjoint
# between runs (a run claims far fewer than 10^7).
FIRST_NEW=$(((LEDGER_EVENTS + 9999999) / 10000000 * 10000000))
NEW_CLAIMED=0
WRK_RUNS=0
RATE=""
CLK_TCK=$(getconf CLK_TCK)
CPU=""
claim_run() { # LABEL MODE SECONDS KEY_BASE
    local out line ok wrong bad secs events t0 t1
    t0=$(cpu_ticks)
    CLAIM_BENCH_MODE=$2 CLAIM_BENCH_BASE=$4 bg_run "$WORK/wrk.$1.txt" "$WORK/wrk.$1.err" \
        wrk "-t$WRK_THREADS" "-c$CLIENTS" "-d$3s" --latency -s bench/claim_post.lua "$BASE/" ||
        die "wrk failed: $(cat "$WORK/wrk.$1.txt" "$WORK/wrk.$1.err")"
    t1=$(cpu_ticks)
    out=$(cat "$WORK/wrk.$1.txt")
    line=$(grep '^claim_post: ' <<<"$out") || die "$1: no summary: $out"
    ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line")
    wrong=$(sed -n 's/.* wrong=\([0-9]*\).*/\1/p' <<<"$line")
    bad=$(sed -n 's/.* non200=\([0-9]*\).*/\1/p' <<<"$line")
    secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$line")
    events=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$line")
    if [ "$bad" != 0 ] || [ "$wrong" != 0 ] || [ "$ok" -eq 0 ]; then die "$1: $line"; fi
    WRK_RUNS=$((WRK_RUNS + 1))
    [ "$2" = new ] && NEW_CLAIMED=$((NEW_CLAIMED + events))
    RATE=$(awk -v e="$events" -v s="$secs" 'BEGIN {printf "%.1f", e / s}')
    CPU=$(awk -v t="$((t1 - t0))" -v h="$CLK_TCK" -v n="$events" 'BEGIN {printf "%.2f", t / h / n * 1e6}')
    say "  $1: $RATE events/s ($ok calls of $BATCH in ${secs}s, latency p50" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out") p99 $(awk '$1 == "99%" {print $2}' <<<"$out");" \
        "server CPU $CPU us per event)"
}

say "claim_bench: warm-up ${WARMUP}s"
claim_run warmup new "$WARMUP" "$FIRST_NEW"
NEW_ALL=()
NEW_CPU_ALL=()
for i in $(seq "$RUNS"); do
    claim_run "new$i" new "$DURATION" $((FIRST_NEW + i * 10000000))
    NEW_ALL+=("$RATE")
    NEW_CPU_ALL+=("$CPU")
done
DUP_ALL=()
DUP_CPU_ALL=()
for i in $(seq "$RUNS"); do
    claim_run "dup$i" dup "$DURATION" 0
    DUP_ALL+=("$RATE")
    DUP_CPU_ALL+=("$CPU")
done
NEW=$(printf '%s\n' "${NEW_ALL[@]}" | median)
DUP=$(printf '%s\n' "${DUP_ALL[@]}" | median)
NEW_CPU=$(printf '%s\n' "${NEW_CPU_ALL[@]}" | median)
DUP_CPU=$(printf '%s\n' "${DUP_CPU_ALL[@]}" | median)
stop_server
rm -f "$LOG"

# ---- the ledger holds exactly the claims answered "new" ----------------------------------------
read -r HELD PROCESSED < <(sqlite3 "$STORE" "SELECT
    (SELECT count(*) FROM ledger_claims WHERE job_id = '$JOB_ID'),
    (SELECT count(*) FROM ledger l JOIN ledger_sources s ON s.id = l.source
        WHERE s.tenant_id = '$TENANT' AND l.processed = 1);" | tr '|' ' ')
EXTRA=$((HELD - NEW_CLAIMED))
echo "ledger: $HELD events claimed by the job, $NEW_CLAIMED answered new" \
    "(+$EXTRA claimed while wrk was stopping); $PROCESSED processed events"
if [ "$EXTRA" -lt 0 ] || [ "$EXTRA" -gt $((CLIENTS * BATCH * WRK_RUNS)) ] ||
    [ "$PROCESSED" != "$LEDGER_EVENTS" ]; then
    die "the ledger does not match the answers"
fi
read -r A_TABLE A_TIME A_CLAIMS A_FILE < <(ledger_bytes) || die "dbstat failed"
BPC=$(awk -v a="$((A_TABLE + A_TIME + A_CLAIMS - B_TABLE - B_TIME - B_CLAIMS))" -v n="$HELD" \
    'BEGIN {printf "%.1f", a / n}')
say "  ledger after: table $A_TABLE B, ledger_time $A_TIME B, claims $A_CLAIMS B;" \
    "$BPC B per claimed (unsettled) event; whole file $A_FILE B"
sync

# ---- peers: INSERT OR IGNORE of the same keys, 1,000 per fsync'd transaction ------------------
FLOOR_ALL=()
FLOOR_CPU_ALL=()
IDX_ALL=()
for i in $(seq "$FLOOR_RUNS"); do
    read -r f c < <("$WORK/claim_floor" "$WORK" "$FLOOR_SECONDS" "$FIRST_NEW" "$BATCH" \
        2>"$WORK/claim_floor.err") || die "claim_floor failed: $(cat "$WORK/claim_floor.err")"
    say "  claim_floor run$i: $f rows/s, CPU $c us per row ($(sed 's/^claim_floor: //' "$WORK/claim_floor.err"))"
    FLOOR_ALL+=("$f")
    FLOOR_CPU_ALL+=("$c")
    read -r f c < <("$WORK/claim_floor" "$WORK" "$FLOOR_SECONDS" "$FIRST_NEW" "$BATCH" indexes \
        2>"$WORK/claim_floor.err") || die "claim_floor failed: $(cat "$WORK/claim_floor.err")"
    say "  claim_floor run$i (indexes): $f rows/s, CPU $c us per row ($(sed 's/^claim_floor: //' "$WORK/claim_floor.err"))"
    IDX_ALL+=("$f")
done
FLOOR=$(printf '%s\n' "${FLOOR_ALL[@]}" | median)
FLOOR_CPU=$(printf '%s\n' "${FLOOR_CPU_ALL[@]}" | median)
IDX=$(printf '%s\n' "${IDX_ALL[@]}" | median)

# ---- the table --------------------------------------------------------------------------------
R_NEW=$(awk -v a="$NEW" -v b="$FLOOR" 'BEGIN {printf "%.2f", a / b}')
R_DUP=$(awk -v a="$DUP" -v b="$FLOOR" 'BEGIN {printf "%.2f", a / b}')
R_IDX=$(awk -v a="$NEW" -v b="$IDX" 'BEGIN {printf "%.2f", a / b}')
MET=$(awk -v r="$R_NEW" 'BEGIN {print (r >= 0.7) ? "met" : "NOT met"}')
echo
echo "claim_bench results (nproc $NPROC, ledger $LEDGER_EVENTS events, $CLIENTS clients, calls of $BATCH)"
printf '  %-56s %12s   %s\n' "measure" "per second" "runs"
printf '  %-56s %12.0f   %s\n' "claims, new events (events/s)" "$NEW" "${NEW_ALL[*]}"
printf '  %-56s %12.0f   %s\n' "claims, all duplicates (events/s)" "$DUP" "${DUP_ALL[*]}"
printf '  %-56s %12.0f   %s\n' "floor: INSERT OR IGNORE, same PK, 1,000/commit (rows/s)" "$FLOOR" \
    "${FLOOR_ALL[*]}"
printf '  %-56s %12.0f   %s\n' "same, with the claims' job index (rows/s)" "$IDX" \
    "${IDX_ALL[*]}"
printf '  %-56s %12s   %s\n' "ratio new / floor (target >= 0.7)" "$R_NEW" "$MET"
printf '  %-56s %12s\n' "ratio duplicates / floor" "$R_DUP"
printf '  %-56s %12s\n' "ratio new / floor with the same indexes" "$R_IDX"
printf '  %-56s %12s   %s\n' "server CPU us per new event (not a rate)" "$NEW_CPU" "${NEW_CPU_ALL[*]}"
printf '  %-56s %12s   %s\n' "server CPU us per duplicate event (not a rate)" "$DUP_CPU" \
    "${DUP_CPU_ALL[*]}"
printf '  %-56s %12s   %s\n' "floor CPU us per row (not a rate)" "$FLOOR_CPU" "${FLOOR_CPU_ALL[*]}"
printf '  %-56s %12s\n' "ratio floor CPU / server CPU per new event" \
    "$(awk -v a="$FLOOR_CPU" -v b="$NEW_CPU" 'BEGIN {printf "%.2f", a / b}')"
printf '  %-56s %12s\n' "ledger bytes per processed event (dbstat: table+indexes)" "$BPE"
printf '  %-56s %12s\n' "whole store file bytes per processed event" "$BPE_FILE"
printf '  %-56s %12s\n' "ledger bytes per claimed, unsettled event (growth)" "$BPC"
AT=""
[ "$LEDGER_EVENTS" = 10000000 ] || AT="@$LEDGER_EVENTS"
result "claim_new$AT" "$NEW" insert_or_ignore_floor "$FLOOR" '>=0.7'
result "claim_dup$AT" "$DUP" insert_or_ignore_floor "$FLOOR" -
result "claim_new$AT" "$NEW" insert_or_ignore_floor_indexes "$IDX" -

if [ "${STRICT:-0}" = 1 ] && [ "$MET" != met ]; then exit 3; fi
exit 0
