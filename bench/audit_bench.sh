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
#      openssl speed divides by the CPU user time it used; the command's wall time also pays for
#      waiting on a busy machine, so its entries per CPU-second (user + sys, /usr/bin/time) are
#      printed beside it, with that ratio too.
#      Checked: the verifier says valid with every entry, and refuses a copy with one changed
#      byte.
#
# Usage (from anywhere):  bash bench/audit_bench.sh
# Settings (environment):
#   THREADS=auto      server --threads            CONNECTIONS=64   wrk connections
#   DURATION=10       seconds per wrk run         RUNS=3           wrk runs (median reported)
#   WRK_THREADS=2     wrk threads                 WARMUP=2         seconds of warm-up
#   SQLITE_SECONDS=5  SQLITE_RUNS=3               OPENSSL_SECONDS=3
#   AUDIT_ENTRIES=1000000  entries in the export  VERIFY_RUNS=3    verifications (median)
#   DRIVER=1          also time bench/audit_verify_driver.c beside the command
#   PART=a|b          only one part               SKIP_BUILD=1     do not run `make -s build`
#   KEEP=1            keep the work directory     STRICT=1         exit 3 when a target is missed
#   BENCH_TMP=DIR     where the work directory (store, export) goes; default bench/out
# Output: the table for people, then for bench/all.sh (lib.sh's result; AUDIT_ENTRIES is in the
# figure's name when it is not 1,000,000, e.g. audit_verify@200000):
#   RESULT audit_append N sqlite_commit N RATIO >=1.0
#   RESULT audit_verify N sha256_avg_entry N RATIO >=0.5
set -euo pipefail

BENCH_NAME=audit_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-auto}
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
TENANT=bench
CLIENT_ID=audit-admin
# A fixed 43-character secret (the CLI requires at least 32); the store is thrown away after.
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv

need_tools wrk openssl cc curl python3 base64 awk

build_bin benchmarks make make -s build

bench_work audit "${BENCH_TMP:-$ROOT/bench/out}"
STORE="$WORK/jobengine.db"
LOG="$WORK/server.log"

# ---- the machine ------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
machine_header work load
build_line

# ======================= (a) durable appends ====================================================
APPEND="" COMMIT="" APPENDS_ALL=() COMMITS_ALL=()
if [[ $PART == *a* ]]; then
    echo "  (a) server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s x $RUNS runs"
    add_client "$CLIENT_ID" Orch.Admin "$SECRET" "$STORE"
    start_server "$STORE" "$LOG"

    # The chain as it is now, seen with a fresh orch:read token (whose grant is one more entry).
    chain() { # prints: valid entries
        local token verify
        token=$(token "$CLIENT_ID" "$SECRET" orch:read) ||
            die "cannot get a token for the audit check"
        verify=$(curl -sf -H "Authorization: Bearer $token" "$BASE/jobengine/audit/verify") ||
            die "GET /jobengine/audit/verify failed"
        python3 -c 'import json, sys
v = json.loads(sys.argv[1]); print(str(v.get("valid")).lower(), v.get("entries", 0))' "$verify"
    }
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

    sqlite_peer
fi

# ======================= (b) offline verification ===============================================
VERIFY="" SHA="" VERIFY_ALL=() VERIFY_CPU_ALL=() DRIVER_ALL=() HOW=""
if [[ $PART == *b* ]]; then
    # The generator and driver link the project's core: its sources, else the built library.
    build_core() { # SOURCE OUTPUT
        cc -O2 -D_GNU_SOURCE -Isrc "$1" src/core/*.c src/base/*.c src/auth/keys.c \
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
    SECS="" CPU_SECS=""
    TIMER=()
    if [ -x /usr/bin/time ]; then TIMER=(/usr/bin/time -f '%U %S' -o "$WORK/verify.cpu"); fi
    verify_cli() { # FILE
        local t0 t1
        t0=$(now_ns)
        bg_run "$WORK/verify.out" "$WORK/verify.err" "${TIMER[@]}" "$BIN" audit verify \
            --file "$1" --jwks "$JWKS" --json || return 1
        t1=$(now_ns)
        CPU_SECS=""
        if [ ${#TIMER[@]} -gt 0 ]; then CPU_SECS=$(awk '{printf "%.3f", $1 + $2}' "$WORK/verify.cpu"); fi
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
        if [ -n "$CPU_SECS" ]; then
            c=$(awk -v n="$AUDIT_ENTRIES" -v s="$CPU_SECS" 'BEGIN {printf "%.1f", (s > 0) ? n / s : 0}')
            VERIFY_CPU_ALL+=("$c")
            say "  verify run$i: $r entries/s (${s}s; ${CPU_SECS}s of CPU, $c entries per CPU-second)"
        else
            say "  verify run$i: $r entries/s (${s}s)"
        fi
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
RESULTS=()
if [[ $PART == *a* ]]; then
    R_A=$(awk -v a="$APPEND" -v b="$COMMIT" 'BEGIN {printf "%.2f", a / b}')
    MET_A=$(awk -v r="$R_A" 'BEGIN {print (r >= 1.0) ? "met" : "NOT met"}')
    [ "$MET_A" = met ] || MISSED=1
    printf '  %-56s %12.0f   %s\n' "(a) audit appends, each durable (POST /token refused)" \
        "$APPEND" "${APPENDS_ALL[*]}"
    printf '  %-56s %12.0f   %s\n' "    SQLite commits, WAL + synchronous=FULL, 1 row" "$COMMIT" \
        "${COMMITS_ALL[*]}"
    printf '  %-56s %12s   %s\n' "    ratio appends / commit (target >= 1.0)" "$R_A" "$MET_A"
    RESULTS+=("audit_append $APPEND sqlite_commit $COMMIT >=1.0")
fi
if [[ $PART == *b* ]]; then
    R_B=$(awk -v a="$VERIFY" -v b="$SHA" 'BEGIN {printf "%.3f", a / b}')
    MET_B=$(awk -v r="$R_B" 'BEGIN {print (r >= 0.5) ? "met" : "NOT met"}')
    [ "$MET_B" = met ] || MISSED=1
    printf '  %-56s %12.0f   %s\n' "(b) offline verification, entries/s ($AUDIT_ENTRIES)" "$VERIFY" \
        "${VERIFY_ALL[*]}"
    echo "      by $HOW"
    if [ ${#VERIFY_CPU_ALL[@]} -gt 0 ]; then
        VCPU=$(printf '%s\n' "${VERIFY_CPU_ALL[@]}" | median)
        printf '  %-56s %12.0f   %s\n' "    same, entries per CPU-second of the command" "$VCPU" \
            "${VERIFY_CPU_ALL[*]}"
        printf '  %-56s %12s\n' "    ratio per CPU-second / sha256 (openssl: user CPU)" \
            "$(awk -v a="$VCPU" -v b="$SHA" 'BEGIN {printf "%.3f", a / b}')"
    fi
    if [ ${#DRIVER_ALL[@]} -gt 0 ]; then
        printf '  %-56s %12.0f   %s\n' "    core verifier alone (audit_verify_driver)" \
            "$(printf '%s\n' "${DRIVER_ALL[@]}" | median)" "${DRIVER_ALL[*]}"
    fi
    printf '  %-56s %12.0f   %s\n' "    SHA-256 of $BLOCK-byte blocks (openssl speed, 1 core)" "$SHA" \
        "${KBPS}k B/s"
    printf '  %-56s %12s   %s\n' "    ratio verify / sha256 (target >= 0.5)" "$R_B" "$MET_B"
    AT=""
    [ "$AUDIT_ENTRIES" = 1000000 ] || AT="@$AUDIT_ENTRIES"
    RESULTS+=("audit_verify$AT $VERIFY sha256_${BLOCK}B $SHA >=0.5")
fi
for r in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086 # the words of one result
    result $r
done

if [ "${STRICT:-0}" = 1 ] && [ "$MISSED" = 1 ]; then exit 3; fi
exit 0
