#!/usr/bin/env bash
# bench/all.sh: runs every benchmark of bench/ once, one after the other (`make bench` runs it),
# collects the figures each script prints as `RESULT FIGURE VALUE PEER PEER_VALUE RATIO TARGET`
# lines (lib.sh's result), and prints one table at the end: issue 12's targets in its order, the
# PostgreSQL rows, then the other figures the scripts measure. The same table, with the date,
# the machine and the commit, goes to bench/out/results-DATE-COMMIT.md (bench/out is
# gitignored), each script's whole output to bench/out/all-STAMP/SCRIPT.log.
#
# By default the runs are shortened to fit ten minutes on a 2-core machine (the settings below,
# printed in the report); FULL=1 runs every script with its own defaults, the issue's sizes:
#   row                     quick (default)                           FULL=1
#   token issuance          3 x 5 s wrk, 3 x 2 s commits              3 x 10 s, 3 x 5 s
#   GET, acquire, p99, RSS  3 x 3 s per measure, 10,000 quotas        3 x 5 s, 10,000 quotas
#   lease+complete          3 runs of 3,000 jobs                      5 runs of 10,000 jobs
#   ledger claims           LEDGER (10,000,000) events, 3 x 3 s       10,000,000 events, 3 x 10 s
#   verification            AUDIT (200,000) entries; appends not run  1,000,000 entries; appends
#   PostgreSQL              1 node, 3 rounds of 3 s, 600 jobs, no     1, 2, 3 nodes, 3 rounds of
#                           pg_stat_statements                        5 s, 3,000 jobs, statements
#   pool / no pool          3 x 3 s per mode, 3 x 3,000 jobs          3 x 5 s, 3 x 5,000 jobs
#   TLS (14 cases)          3 x 2 s per case, 1 s warm-up             3 x 5 s, 2 s warm-up
# (the generated export of 1,000,000 entries alone takes over a minute to write; verification
# streams, so its rate hardly depends on the count). On a 2-core machine shared with other work
# (load average 7) the quick run took 11 min with a 1M export and pg_stat_statements, hence these.
# A size other than the issue's is in the figure's name (claim_new@1000000) and said in the
# report. The scripts check their answers as always: one that fails (a wrong answer, a tool
# missing) leaves its rows "not measured", the others still run, and all.sh exits 1.
#
# Usage: make bench    or    bash bench/all.sh
# Settings (environment): FULL=1; SCRIPTS="token quota lease claim audit pool tls pg" (which, in this
#   order); LEDGER=10000000 and AUDIT=200000 (the quick sizes of the two generated data sets);
#   SCRIPT_TIMEOUT=900 seconds per script; SKIP_BUILD=1 (do not run `make -s build` first);
#   ALL_ENV="VAR=V ..." more settings for every script, after the driver's (a smoke test:
#   ALL_ENV="RUNS=1 DURATION=1"); FROM_LOGS=bench/out/all-STAMP: no run, the table again from
#   the logs of that earlier run.
set -uo pipefail

BENCH_NAME=all
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

FULL=${FULL:-0}
read -r -a SCRIPTS <<<"${SCRIPTS:-token quota lease claim audit pool tls pg}"
LEDGER=${LEDGER:-10000000}
AUDIT=${AUDIT:-200000}
SCRIPT_TIMEOUT=${SCRIPT_TIMEOUT:-900}
if [ "$FULL" = 1 ]; then SCRIPT_TIMEOUT=${SCRIPT_TIMEOUT_FULL:-3600}; fi

# The quick settings of each script (FULL=1: none, the script's defaults).
settings() { # SCRIPT
    if [ "$FULL" = 1 ]; then
        [ "$1" = audit ] && echo "PART=ab"
        return 0
    fi
    case $1 in
    token) echo "WARMUP=2 DURATION=5 RUNS=3 SQLITE_SECONDS=2 SQLITE_RUNS=3 OPENSSL_SECONDS=2" ;;
    quota) echo "WARMUP=1 DURATION=3 RUNS=3 CORE_SECONDS=1 IDLE_WAIT=5 LOAD_SECONDS=3" ;;
    lease) echo "JOBS=3000 RUNS=3 SQLITE_SECONDS=2 SQLITE_RUNS=3" ;;
    claim) echo "LEDGER_EVENTS=$LEDGER WARMUP=1 DURATION=3 RUNS=3 FLOOR_SECONDS=2 FLOOR_RUNS=3" ;;
    audit) echo "PART=b AUDIT_ENTRIES=$AUDIT VERIFY_RUNS=3 OPENSSL_SECONDS=2" ;;
    pool) echo "WARMUP=1 DURATION=3 RUNS=3 JOBS=3000" ;;
    tls) echo "WARMUP=1 DURATION=2 RUNS=3 QUIET_WAIT=600" ;;
    pg) echo "NODE_COUNTS=1 RUNS=3 DURATION=3 WARMUP=2 JOBS=600 PEER_SHARED=0 PGSS=0" ;;
    esac
}

build_bin benchmarks make make -s build
need_tools git awk timeout tee
T_ALL=$(date +%s)
STAMP=$(date -u +%Y%m%d-%H%M%S)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
git diff --quiet HEAD -- src bench 2>/dev/null || DIRTY=" + uncommitted changes"
LOGS="bench/out/all-$STAMP"
mkdir -p "$LOGS"
REPORT="bench/out/results-$(date -u +%Y-%m-%d)-$COMMIT.md"
WORK=$LOGS # for machine_header's file system
machine_header "bench/out" load >"$LOGS/machine.txt"
say "$(cat "$LOGS/machine.txt")"
say "all: commit $COMMIT$DIRTY; $([ "$FULL" = 1 ] && echo "FULL=1: the issue's sizes" || echo "quick settings (FULL=1 for the issue's sizes)"); logs in $LOGS"

declare -A SECS=() RC=()
for s in "${SCRIPTS[@]}"; do
    if [ -n "${FROM_LOGS:-}" ]; then # the table again from an earlier run's logs
        cp "$FROM_LOGS/$s.log" "$LOGS/$s.log" 2>/dev/null || true
        RC[$s]="?" SECS[$s]="?"
        continue
    fi
    [ -f "bench/${s}_bench.sh" ] || die "no bench/${s}_bench.sh"
    read -r -a env_set <<<"$(settings "$s") ${ALL_ENV:-}"
    say ""
    say "all: ---- bench/${s}_bench.sh ${env_set[*]}"
    t0=$(date +%s)
    env SKIP_BUILD=1 "${env_set[@]}" timeout -k 20 "$SCRIPT_TIMEOUT" bash "bench/${s}_bench.sh" \
        2>&1 | tee "$LOGS/$s.log"
    RC[$s]=${PIPESTATUS[0]}
    SECS[$s]=$(($(date +%s) - t0))
    say "all: bench/${s}_bench.sh exit ${RC[$s]} after ${SECS[$s]} s"
done
TOTAL=$(($(date +%s) - T_ALL))

# ---- the table ----------------------------------------------------------------------------------
# Every RESULT line, with the script that printed it instead of the word RESULT:
#   SCRIPT FIGURE VALUE PEER PEER_VALUE RATIO TARGET
ALL_RESULTS=$(for s in "${SCRIPTS[@]}"; do
    grep '^RESULT ' "$LOGS/$s.log" 2>/dev/null | sed "s/^RESULT /$s /"
done)
# Issue 12's rows: script, figure, peer (a shell pattern), what it is.
ROWS=(
    "quota get_quota nginx_static_same_body GET /jobengine/quotas/{id} with bearer token"
    "quota acquire_release redis_gcra_aof_always durable acquire+release decisions/s"
    "quota acquire_release nginx_static_permit durable acquire+release decisions/s"
    "token token_issuance sqlite_commit token issuance/s, every grant durably audited"
    "lease lease_complete sqlite_commit lease+complete pairs/s, every step durable"
    "claim claim_new insert_or_ignore_floor new ledger claims/s on a 10M-event ledger"
    "audit audit_verify sha256_* offline verification of a 1M-entry export, entries/s"
    "quota acquire_p99_ms - p99 latency (ms) of acquire at 64 connections"
    "quota rss_quotas_64c_mb - RSS (MB) with 10,000 quotas and 64 connections"
)
table_rows() { # prints: label|value|peer|peer value|ratio|target|verdict, one per figure
    local spec s fig peer label line used=""
    for spec in "${ROWS[@]}"; do
        read -r s fig peer label <<<"$spec"
        line=$(awk -v f="$fig" '{split($2, b, "@")} b[1] == f' <<<"$ALL_RESULTS" |
            while read -r _ f _ p _; do
                # shellcheck disable=SC2254 # peer is a pattern
                case $p in $peer) echo "$f $p" ;; esac
            done | head -1)
        if [ -z "$line" ]; then
            if [[ " ${SCRIPTS[*]} " != *" $s "* ]]; then why="not run (SCRIPTS)"; else
                why="not measured (bench/${s}_bench.sh exit ${RC[$s]:-?})"; fi
            echo "$label|$why||||||"
            continue
        fi
        read -r f p <<<"$line"
        used+="$f/$p "
        row_of "$label" "$(awk -v f="$f" -v p="$p" '$2 == f && $4 == p {print; exit}' <<<"$ALL_RESULTS")"
    done
    echo "--|PostgreSQL backend (pg_bench.sh, next to pgbench on the same server)||||||"
    awk '$2 ~ /^pg\./' <<<"$ALL_RESULTS" | while read -r l; do row_of "" "$l"; done
    echo "--|capacity pools (issue 15, pool_bench.sh): the same load with a pool / without||||||"
    awk '$2 ~ /^pool_/' <<<"$ALL_RESULTS" | while read -r l; do row_of "" "$l"; done
    echo "--|the server's own TLS (tls_bench.sh): next to nginx terminating TLS in front, plain HTTP, nginx's static 200||||||"
    awk '$2 ~ /^tls_/' <<<"$ALL_RESULTS" | while read -r l; do row_of "" "$l"; done
    echo "--|other figures the scripts measure (no issue 12 target)||||||"
    awk '$2 !~ /^(pg\.|pool_|tls_)/' <<<"$ALL_RESULTS" | while read -r l; do
        read -r _ f _ p _ <<<"$l"
        [[ " $used " == *" $f/$p "* ]] || row_of "" "$l"
    done
}
describe() { # FIGURE (without @size): what it is
    case $1 in
    pg.*.n*) echo "PostgreSQL, ${1##*.n} node(s): $(f=${1#pg.} && describe "${f%.n*}")" ;;
    get_quota) echo "GET /jobengine/quotas/{id} with bearer token, req/s" ;;
    acquire_release) echo "durable acquire+release decisions/s" ;;
    token_issuance) echo "token issuance/s, every grant durably audited" ;;
    lease_complete) echo "lease+complete pairs/s, every step durable" ;;
    audit_append) echo "durable audit appends/s (POST /token refused)" ;;
    claim_new) echo "new ledger claims/s (events)" ;;
    claim_dup) echo "duplicate ledger claims/s (events)" ;;
    audit_verify) echo "offline verification, entries/s" ;;
    core_decide) echo "core/ decide+release calls/s, 1 thread" ;;
    rss_idle_mb) echo "RSS (MB) idle after start" ;;
    rss_quotas_mb) echo "RSS (MB) with the quotas, before the load" ;;
    pool_acquire_*) echo "acquire+release decisions/s, pool ${1#pool_acquire_} (two tenants)" ;;
    pool_lease_*) echo "lease+complete pairs/s, pool ${1#pool_lease_}" ;;
    tls_readyz) echo "own TLS: GET /readyz, keep-alive, req/s" ;;
    tls_get_quota) echo "own TLS: GET quota with bearer token, keep-alive, req/s" ;;
    tls_new_conn) echo "own TLS: GET /readyz, new connection each (resumed session), req/s" ;;
    tls_full_handshake) echo "own TLS: full handshakes (s_time -new, GET /readyz), connections/s" ;;
    tls_*_p99_ms) echo "$(describe "${1%_p99_ms}" | sed 's/, req\/s$//'): p99 (ms)" ;;
    *) echo "$1" ;;
    esac
}
row_of() { # LABEL "SCRIPT RESULT-FIELDS": one table line
    local label=$1 s f v p pv r t verdict size=""
    read -r s f v p pv r t <<<"$2"
    [[ $f == *@* ]] && size=" (at ${f#*@}, not the issue's size)"
    verdict=$(awk -v v="$v" -v p="$p" -v r="$r" -v t="$t" 'BEGIN {
        if (t == "-") {print "quoted"; exit}
        x = (p == "-") ? v : r; op = substr(t, 1, 2); lim = substr(t, 3) + 0
        if (x == "-") print "n/a"; else if ((op == ">=" && x + 0 >= lim) || (op == "<=" && x + 0 <= lim)) print "met"; else print "MISSED"}')
    num() { awk -v x="$1" 'BEGIN {if (x == "-") print "-"; else if (x + 0 >= 100) printf "%.0f", x; else print x}'; }
    [ -n "$label" ] || label=$(describe "${f%@*}")
    echo "$label$size|$(num "$v")|$p|$(num "$pv")|$r|$t|$verdict"
}
TABLE=$(table_rows)

# ---- the report: on the terminal, and as markdown -----------------------------------------------
MODE="quick settings (\`make bench\`)"
[ "$FULL" = 1 ] && MODE="FULL=1 (the scripts' defaults, the issue's sizes)"
{
    echo "# bench/all.sh results, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- commit: $COMMIT$DIRTY ($(git log -1 --format=%s 2>/dev/null | cut -c1-90))"
    echo "- machine: nproc $NPROC, CPU ${CPU:-unknown}, $(uname -srm), file system $FS," \
        "load average before $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- mode: $MODE; wall time $TOTAL s in all"
    for s in "${SCRIPTS[@]}"; do
        echo "  - bench/${s}_bench.sh: ${SECS[$s]} s, exit ${RC[$s]}; settings: $(settings "$s" | sed 's/^$/its defaults/') ${ALL_ENV:-}"
    done
    echo
    echo "| figure | JobEngine | peer | peer value | ratio | target | met? |"
    echo "|---|---:|---|---:|---:|---|---|"
    while IFS='|' read -r a b c d e f g; do
        if [ "$a" = -- ]; then echo "| **$b** | | | | | | |"; else echo "| $a | $b | $c | $d | $e | $f | $g |"; fi
    done <<<"$TABLE"
    echo
    echo "Ratios are JobEngine / peer; a target on a row with no peer is on the value itself."
    echo "Values are medians of the runs (see each script's log in $LOGS)."
} >"$REPORT"
{
    echo
    echo "all: results ($MODE), commit $COMMIT$DIRTY, nproc $NPROC, $TOTAL s in all"
    printf '  %-62s %10s  %-26s %10s %6s %-7s %s\n' figure JobEngine peer "peer value" ratio target "met?"
    while IFS='|' read -r a b c d e f g; do
        if [ "$a" = -- ]; then echo "  -- $b"; continue; fi
        printf '  %-62s %10s  %-26s %10s %6s %-7s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
    done <<<"$TABLE"
    echo "  report: $REPORT"
} >&2
FAILED=0
for s in "${SCRIPTS[@]}"; do [ "${RC[$s]}" = 0 ] || [ "${RC[$s]}" = "?" ] || FAILED=1; done
if [ "$FAILED" = 1 ]; then
    say "all: a benchmark failed (exit codes above); its rows are not measured"
    exit 1
fi
exit 0
