#!/usr/bin/env bash
# bench/audit_bench.sh: the audit chain's two rates, each next to a peer measured in the same run
# on the same machine:
#  (a) durable audit appends per second: POST /token refused for a missing quota_reason, by an
#      authenticated client, on 64 keep-alive connections (wrk + bench/audit_token.lua). Each
#      such request appends exactly one entry (authority.client_credentials.grant, hash-chained)
#      and nothing else, is answered only once the entry is committed, and signs nothing: the
#      cheapest route to one durable append. Peer: single-row SQLite commits/s, WAL +
#      synchronous=FULL, one thread, same disk (bench/sqlite_commit.c). Target >= 1.0x, which
#      takes grouping commits. Checked after: GET /jobengine/audit/verify says valid, and the
#      entries appended equal the requests answered (+ those wrk abandoned in flight at each stop).
#  (b) offline verification of an export of AUDIT_ENTRIES (1,000,000) entries, entries per
#      second: `jobengine audit verify --file EXPORT --jwks JWKS` (wall time of the command), or,
#      when that command is not in the build, bench/audit_verify_driver.c (the same verifier,
#      core/audit_export.c, timed without reading the file). The export is written by
#      bench/audit_gen.c with the project's core (entries sealed by je_audit_entry_seal, JCS
#      lines, a checkpoint signed by a fresh Ed25519 key, its JWKS): the same format as
#      GET /jobengine/audit/export, without a server. Peer: SHA-256 of blocks the size of an
#      average entry, `openssl speed -seconds 3 -bytes N sha256` (one core). Target >= 0.5x.
#      Checked: the verifier says valid with every entry, and refuses a copy with one changed
#      byte.
#
# Usage (from anywhere):  bash bench/audit_bench.sh
# Settings (environment):
#   THREADS=32        server --threads            CONNECTIONS=64   wrk connections
#   DURATION=10       seconds per wrk run         RUNS=3           wrk runs (median reported)
#   WRK_THREADS=2     wrk threads                 WARMUP=2         seconds of warm-up
#   SQLITE_SECONDS=5  SQLITE_RUNS=3               OPENSSL_SECONDS=3
#   AUDIT_ENTRIES=1000000  entries in the export  VERIFY_RUNS=3    verifications (median)
#   DRIVER=1          also time bench/audit_verify_driver.c beside the command
#   PART=a|b          only one part               SKIP_BUILD=1     do not run `make -s build`
#   KEEP=1            keep the work directory     STRICT=1         exit 3 when a target is missed
#   BENCH_TMP=DIR     where the work directory (store, export) goes; default bench/out
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

THREADS=${THREADS:-32}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WRK_THREADS=${WRK_THREADS:-2}
WARMUP=${WARMUP:-2}
SQLITE_SECONDS=${SQLITE_SECONDS:-5}
SQLITE_RUNS=${SQLITE_RUNS:-3}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}
AUDIT_ENTRIES=${AUDIT_ENTRIES:-1000000}
VERIFY_RUNS=${VERIFY_RUNS:-3}
PART=${PART:-ab}
BIN=build/jobengine
TENANT=bench
CLIENT_ID=audit-admin
# A fixed 43-character secret (the CLI requires at least 32); the store is thrown away after.
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv

say() { printf '%s\n' "$*" >&2; }
die() {
    say "audit_bench: $*"
    exit 1
}

for tool in wrk openssl cc curl python3 base64 awk; do
    command -v "$tool" >/dev/null || die "$tool not found (run: bash scripts/deps.sh --bench)"
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    if ! BUILD_OUT=$(make -s build 2>&1); then
        printf '%s\n' "$BUILD_OUT" | tail -20 >&2
        die "build failed (SKIP_BUILD=1 benchmarks the existing $BIN)"
    fi
fi
[ -x "$BIN" ] || die "$BIN missing (run make)"

BENCH_TMP=${BENCH_TMP:-$ROOT/bench/out}
mkdir -p "$BENCH_TMP"
WORK=$(mktemp -d "$BENCH_TMP/audit.XXXXXX")
STORE="$WORK/jobengine.db"
LOG="$WORK/server.log"
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    stop_server
    if [ "${KEEP:-0}" = 1 ]; then say "audit_bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs CMD in the background with stdout to OUT and stderr to ERR and waits for it, so that a
# signal stops the benchmark at once (bash runs traps during `wait`, not during a foreground
# command); the EXIT trap stops CHILD.
CHILD=""
bg_run() { # OUT ERR CMD...
    local out=$1 err=$2 rc=0
    shift 2
    "$@" >"$out" 2>"$err" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

median() { sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit 1
    if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_ns() { date +%s%N; }

# ---- the machine ------------------------------------------------------------------------------
CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
FS=$(df -PT "$WORK" | awk 'NR == 2 {print $2 " on " $1 " (" $7 ")"}')
CLK_TCK=$(getconf CLK_TCK)
echo "audit_bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm)"
echo "  nproc ${NPROC:=$(nproc)}, cpu ${CPU:-unknown}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  work dir $WORK, filesystem $FS"
echo "  jobengine at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/'), $BIN built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"

# ======================= (a) durable appends ====================================================
APPEND="" COMMIT="" APPENDS_ALL=() COMMITS_ALL=()
if [[ $PART == *a* ]]; then
    echo "  (a) server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s x $RUNS runs"
    "$BIN" client add "$CLIENT_ID" --tenant "$TENANT" --role Orch.Admin --secret "$SECRET" \
        --store "sqlite:$STORE" --json >/dev/null || die "client add failed"
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BASE="http://127.0.0.1:$PORT"
    "$BIN" serve --listen "127.0.0.1:$PORT" --store "sqlite:$STORE" --threads "$THREADS" \
        2>"$LOG" >/dev/null &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q '"listening"' "$LOG" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; die "the server exited"; }
        sleep 0.1
    done
    grep -q '"listening"' "$LOG" || { cat "$LOG" >&2; die "the server did not say listening in 10 s"; }

    # The chain as it is now, seen with a fresh orch:read token (whose grant is one more entry).
    chain() { # prints: valid entries
        local token verify
        token=$(curl -sf -u "$CLIENT_ID:$SECRET" -d "grant_type=client_credentials&scope=orch:read" \
            "$BASE/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') ||
            die "cannot get a token for the audit check"
        verify=$(curl -sf -H "Authorization: Bearer $token" "$BASE/jobengine/audit/verify") ||
            die "GET /jobengine/audit/verify failed"
        python3 -c 'import json, sys
v = json.loads(sys.argv[1]); print(str(v.get("valid")).lower(), v.get("entries", 0))' "$verify"
    }
    store_counts() {
        curl -sf "$BASE/metrics" | awk '$1 == "jobengine_store_writes_total" {w = $2}
            $1 == "jobengine_store_commits_total{outcome=\"ok\"}" {c = $2} END {print w + 0, c + 0}'
    }
    cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
    CHAIN=$(chain) || exit 1
    read -r _ ENTRIES0 <<<"$CHAIN"

    AUDIT_BENCH_AUTH="Basic $(printf '%s:%s' "$CLIENT_ID" "$SECRET" | base64 -w0)"
    export AUDIT_BENCH_AUTH
    ANSWERED=0
    RPS=""
    wrk_run() { # LABEL SECONDS
        local out refused other first w0 c0 w1 c1 t0 t1
        read -r w0 c0 < <(store_counts)
        t0=$(cpu_ticks)
        bg_run "$WORK/wrk.$1.txt" "$WORK/wrk.$1.err" wrk "-t$WRK_THREADS" "-c$CONNECTIONS" \
            "-d$2s" --latency -s bench/audit_token.lua "$BASE/token" ||
            die "wrk failed: $(cat "$WORK/wrk.$1.txt" "$WORK/wrk.$1.err")"
        out=$(cat "$WORK/wrk.$1.txt")
        t1=$(cpu_ticks)
        read -r w1 c1 < <(store_counts)
        read -r refused other first < <(sed -n 's/^audit_token: .* refused=\([0-9]*\) other=\([0-9]*\) first_other=\([0-9]*\)$/\1 \2 \3/p' <<<"$out") || true
        [ -n "$refused" ] || die "cannot parse wrk output: $out"
        [ "$other" -eq 0 ] || die "$1: $other answers other than the expected 400 (first: $first)"
        ANSWERED=$((ANSWERED + refused))
        RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        say "  $1: $RPS appends/s, $refused requests; $((w1 - w0)) writes in $((c1 - c0)) commits" \
            "($(awk -v a="$((w1 - w0))" -v b="$((c1 - c0))" 'BEGIN {printf "%.1f", b ? a / b : 0}')" \
            "per commit); server CPU $(awk -v t="$((t1 - t0))" -v h="$CLK_TCK" -v s="$2" \
                'BEGIN {printf "%.2f", t / h / s}') cores; latency p50" \
            "$(awk '$1 == "50%" {print $2}' <<<"$out") p99 $(awk '$1 == "99%" {print $2}' <<<"$out")"
    }
    say "audit_bench: (a) warm-up ${WARMUP}s"
    wrk_run warmup "$WARMUP"
    for i in $(seq "$RUNS"); do
        wrk_run "run$i" "$DURATION"
        APPENDS_ALL+=("$RPS")
    done
    APPEND=$(printf '%s\n' "${APPENDS_ALL[@]}" | median)

    CHAIN=$(chain) || exit 1
    read -r VALID ENTRIES1 <<<"$CHAIN"
    [ "$VALID" = true ] || die "audit chain not valid"
    APPENDED=$((ENTRIES1 - ENTRIES0 - 1)) # less the grant of chain()'s second token
    EXTRA=$((APPENDED - ANSWERED))
    echo "audit: chain '$TENANT' valid, $ENTRIES1 entries; $APPENDED appended by the runs for" \
        "$ANSWERED requests answered (+$EXTRA appended while wrk was stopping)"
    if [ "$EXTRA" -lt 0 ] || [ "$EXTRA" -gt $((CONNECTIONS * (RUNS + 1))) ]; then
        die "audit entries appended ($APPENDED) do not match the requests ($ANSWERED)"
    fi
    stop_server
    rm -f "$LOG"
    sync

    cc -O2 -Wall -Wextra bench/sqlite_commit.c -lsqlite3 -o "$WORK/sqlite_commit" ||
        die "cannot build bench/sqlite_commit.c (libsqlite3-dev?)"
    for i in $(seq "$SQLITE_RUNS"); do
        c=$("$WORK/sqlite_commit" "$WORK" "$SQLITE_SECONDS" 2>"$WORK/sqlite_commit.err") ||
            die "sqlite_commit failed: $(cat "$WORK/sqlite_commit.err")"
        say "  sqlite_commit run$i: $c commits/s ($(sed 's/^sqlite_commit: //' "$WORK/sqlite_commit.err"))"
        COMMITS_ALL+=("$c")
    done
    COMMIT=$(printf '%s\n' "${COMMITS_ALL[@]}" | median)
fi

# ======================= (b) offline verification ===============================================
VERIFY="" SHA="" VERIFY_ALL=() DRIVER_ALL=() HOW=""
if [[ $PART == *b* ]]; then
    # The generator and driver link the project's core: its sources, else the built library.
    build_core() { # SOURCE OUTPUT
        cc -O2 -D_GNU_SOURCE -Isrc "$1" src/core/*.c src/auth/keys.c src/auth/b64url.c \
            src/auth/checkpoint.c -ljansson -lcrypto -lm -o "$2" 2>"$WORK/cc.err" ||
            cc -O2 -D_GNU_SOURCE -Isrc "$1" build/libje.a -lmicrohttpd -lcurl -lsqlite3 -ljansson \
                -lcrypto -lm -lpthread -o "$2" 2>>"$WORK/cc.err" ||
            die "cannot build $1: $(tail -5 "$WORK/cc.err")"
    }
    build_core bench/audit_gen.c "$WORK/audit_gen"
    EXPORT="$WORK/export.ndjson"
    JWKS="$WORK/jwks.json"
    say "audit_bench: (b) writing an export of $AUDIT_ENTRIES entries"
    bg_run "$WORK/audit_gen.out" "$WORK/audit_gen.err" "$WORK/audit_gen" "$EXPORT" "$JWKS" \
        "$AUDIT_ENTRIES" "$TENANT" || die "audit_gen failed: $(cat "$WORK/audit_gen.err")"
    read -r _ GEN_BYTES AVG GEN_S <"$WORK/audit_gen.out"
    BLOCK=$(printf '%.0f' "$AVG")
    echo "  (b) export: $AUDIT_ENTRIES entries, $GEN_BYTES bytes of entries ($AVG per entry)," \
        "written in ${GEN_S}s; openssl speed sha256 on $BLOCK-byte blocks"

    # Which verifier: the command when this build has it, else the driver.
    USE_CLI=0
    if "$BIN" audit verify --help 2>&1 | grep -q -- '--jwks'; then USE_CLI=1; fi
    if [ "$USE_CLI" = 0 ] || [ "${DRIVER:-0}" = 1 ]; then
        build_core bench/audit_verify_driver.c "$WORK/audit_verify_driver"
    fi
    # Each sets SECS (wall time of the command; the driver's own time of the verifier alone) and
    # fails unless the export is valid with every entry.
    SECS=""
    verify_cli() { # FILE
        local t0 t1
        t0=$(now_ns)
        bg_run "$WORK/verify.out" "$WORK/verify.err" "$BIN" audit verify --file "$1" \
            --jwks "$JWKS" --json || return 1
        t1=$(now_ns)
        python3 -c 'import json, sys
v = json.load(open(sys.argv[1])); sys.exit(0 if v.get("valid") is True and v.get("entries") == int(sys.argv[2]) else 1)' \
            "$WORK/verify.out" "$AUDIT_ENTRIES" || return 1
        SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", (b - a) / 1e9}')
    }
    verify_driver() { # FILE
        local valid entries secs
        bg_run "$WORK/verify.out" "$WORK/verify.err" "$WORK/audit_verify_driver" "$1" "$JWKS" ||
            return 1
        read -r valid entries secs _ <"$WORK/verify.out"
        [ "$valid" = true ] && [ "$entries" = "$AUDIT_ENTRIES" ] || return 1
        SECS=$secs
    }

    # The verifier must refuse a changed byte (line 10's sequence), or its figure means nothing.
    BROKEN="$WORK/broken.ndjson"
    awk 'NR == 10 {sub(/"sequence":10,/, "\"sequence\":11,")} {print}' "$EXPORT" >"$BROKEN"
    if [ "$USE_CLI" = 1 ]; then
        "$BIN" audit verify --file "$BROKEN" --jwks "$JWKS" >/dev/null 2>&1 &&
            die "jobengine audit verify accepted a changed export"
        HOW="jobengine audit verify --file --jwks (wall time)"
    else
        "$WORK/audit_verify_driver" "$BROKEN" "$JWKS" >/dev/null 2>&1 &&
            die "the verifier accepted a changed export"
        HOW="bench/audit_verify_driver.c (verifier only)"
    fi
    rm -f "$BROKEN"

    for i in $(seq "$VERIFY_RUNS"); do
        if [ "$USE_CLI" = 1 ]; then
            verify_cli "$EXPORT" || die "jobengine audit verify did not accept the export"
        else
            verify_driver "$EXPORT" || die "the verifier did not accept the export"
        fi
        s=$SECS
        r=$(awk -v n="$AUDIT_ENTRIES" -v s="$s" 'BEGIN {printf "%.1f", n / s}')
        say "  verify run$i: $r entries/s (${s}s)"
        VERIFY_ALL+=("$r")
        if [ "$USE_CLI" = 1 ] && [ "${DRIVER:-0}" = 1 ]; then
            verify_driver "$EXPORT" || die "the driver did not accept the export"
            s=$SECS
            r=$(awk -v n="$AUDIT_ENTRIES" -v s="$s" 'BEGIN {printf "%.1f", n / s}')
            say "  driver run$i: $r entries/s (${s}s, verifier only)"
            DRIVER_ALL+=("$r")
        fi
    done
    VERIFY=$(printf '%s\n' "${VERIFY_ALL[@]}" | median)

    # OpenSSL 3 prints "sha256   1674792.55k" in 1000s of bytes per second for the one block size.
    KBPS=$(openssl speed -seconds "$OPENSSL_SECONDS" -bytes "$BLOCK" sha256 2>/dev/null |
        awk '$1 == "sha256" {v = $NF; sub(/k$/, "", v)} END {print v}')
    [ -n "$KBPS" ] || die "cannot parse openssl speed sha256"
    SHA=$(awk -v k="$KBPS" -v b="$BLOCK" 'BEGIN {printf "%.1f", k * 1000 / b}')
fi

# ---- the table --------------------------------------------------------------------------------
echo
echo "audit_bench results (nproc $NPROC)"
printf '  %-56s %12s   %s\n' "measure" "per second" "runs"
MISSED=0
if [[ $PART == *a* ]]; then
    R_A=$(awk -v a="$APPEND" -v b="$COMMIT" 'BEGIN {printf "%.2f", a / b}')
    MET_A=$(awk -v r="$R_A" 'BEGIN {print (r >= 1.0) ? "met" : "NOT met"}')
    [ "$MET_A" = met ] || MISSED=1
    printf '  %-56s %12.0f   %s\n' "(a) audit appends, each durable (POST /token refused)" \
        "$APPEND" "${APPENDS_ALL[*]}"
    printf '  %-56s %12.0f   %s\n' "    SQLite commits, WAL + synchronous=FULL, 1 row" "$COMMIT" \
        "${COMMITS_ALL[*]}"
    printf '  %-56s %12s   %s\n' "    ratio appends / commit (target >= 1.0)" "$R_A" "$MET_A"
fi
if [[ $PART == *b* ]]; then
    R_B=$(awk -v a="$VERIFY" -v b="$SHA" 'BEGIN {printf "%.3f", a / b}')
    MET_B=$(awk -v r="$R_B" 'BEGIN {print (r >= 0.5) ? "met" : "NOT met"}')
    [ "$MET_B" = met ] || MISSED=1
    printf '  %-56s %12.0f   %s\n' "(b) offline verification, entries/s ($AUDIT_ENTRIES)" "$VERIFY" \
        "${VERIFY_ALL[*]}"
    echo "      by $HOW"
    if [ ${#DRIVER_ALL[@]} -gt 0 ]; then
        printf '  %-56s %12.0f   %s\n' "    core verifier alone (audit_verify_driver)" \
            "$(printf '%s\n' "${DRIVER_ALL[@]}" | median)" "${DRIVER_ALL[*]}"
    fi
    printf '  %-56s %12.0f   %s\n' "    SHA-256 of $BLOCK-byte blocks (openssl speed, 1 core)" "$SHA" \
        "${KBPS}k B/s"
    printf '  %-56s %12s   %s\n' "    ratio verify / sha256 (target >= 0.5)" "$R_B" "$MET_B"
fi

if [ "${STRICT:-0}" = 1 ] && [ "$MISSED" = 1 ]; then exit 3; fi
exit 0
