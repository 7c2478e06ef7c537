#!/usr/bin/env bash
# bench/token_bench.sh: POST /token issuance per second on keep-alive connections (wrk), every
# grant durably audited, printed next to two peers measured in the same run on the same machine:
#   - the raw Ed25519 signing rate (openssl speed ed25519), what signing one token costs;
#   - single-row SQLite commits/s with journal_mode=WAL, synchronous=FULL, one thread, in the
#     directory of the server's store (same disk): the raw fsync'd commit rate.
# Target (issue 12): issuance/commit >= 1.5, which takes grouping commits (issue 6 asked 1.0).
# See bench/README.md.
#
# Usage (from anywhere; `make bench` installs wrk etc. first):  bash bench/token_bench.sh
# Settings (environment):
#   THREADS=auto      server HTTP worker threads (--threads)
#   DURATION=10       seconds per wrk run        RUNS=3            wrk runs (median reported)
#   CONNECTIONS=64    wrk connections            WRK_THREADS=2     wrk threads
#   WARMUP=2          seconds of warm-up         SQLITE_SECONDS=5  seconds per sqlite_commit run
#   SQLITE_RUNS=3     sqlite_commit runs         OPENSSL_SECONDS=3 openssl speed -seconds
#   SKIP_BUILD=1      do not run `make -s build` KEEP=1            keep the work directory
#   STRICT=1          exit 3 when issuance/commit < 1.5
# Output: the table for people, then one line per figure for bench/all.sh (lib.sh's result):
#   RESULT token_issuance N sqlite_commit N RATIO >=1.5     RESULT token_issuance N ed25519_sign ...
set -euo pipefail

BENCH_NAME=token_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-auto}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WARMUP=${WARMUP:-2}
SQLITE_SECONDS=${SQLITE_SECONDS:-5}
SQLITE_RUNS=${SQLITE_RUNS:-3}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}
CLIENT_ID=bench-client
TENANT=bench
# A fixed 43-character secret (the CLI requires at least 32); the store is thrown away after.
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv

need_tools wrk openssl cc curl python3 base64
[ ${#SECRET} -eq 43 ] || die "the secret must be 43 characters"

build_bin benchmarks make make -s build

bench_work token "$ROOT/bench/out"
STORE="$WORK/jobengine.db"
LOG="$WORK/server.log"

# ---- the machine ------------------------------------------------------------------------------
machine_header store
echo "  server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s x $RUNS runs"

# ---- the server -------------------------------------------------------------------------------
add_client "$CLIENT_ID" Orch.Viewer "$SECRET" "$STORE"
start_server "$STORE" "$LOG"

TOKEN_BENCH_AUTH="Basic $(printf '%s:%s' "$CLIENT_ID" "$SECRET" | base64 -w0)"
export TOKEN_BENCH_AUTH
export TOKEN_BENCH_SCOPE=orch:read

# One wrk run: sets RPS, adds its 200s to GRANTED; fails on any non-200.
GRANTED=0
RPS=""
wrk_run() { # LABEL SECONDS
    local out rps ok="" bad="" first="" sock
    out=$(wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d$2s" --latency -s bench/token_post.lua \
        "$BASE/token") || die "wrk failed: $out"
    printf '%s\n' "$out" >"$WORK/wrk.$1.txt"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    read -r ok bad first < <(sed -n 's/^token_post: .* ok=\([0-9]*\) non200=\([0-9]*\) first_non200=\([0-9]*\)$/\1 \2 \3/p' <<<"$out") || true
    if [ -z "$rps" ] || [ -z "$ok" ]; then die "cannot parse wrk output: $out"; fi
    [ "$bad" -eq 0 ] || die "$1: $bad non-200 responses (first: $first)"
    [ "$ok" -gt 0 ] || die "$1: no grant"
    GRANTED=$((GRANTED + ok))
    sock=$(awk '/Socket errors/' <<<"$out")
    local p50 p99
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    say "  $1: $rps req/s, $ok grants, latency p50 $p50 p99 $p99${sock:+, $sock}"
    RPS=$rps
}

say "token_bench: warm-up ${WARMUP}s"
wrk_run warmup "$WARMUP"
RPS_ALL=()
for i in $(seq "$RUNS"); do
    wrk_run "run$i" "$DURATION"
    RPS_ALL+=("$RPS")
done
ISSUE=$(printf '%s\n' "${RPS_ALL[@]}" | median)

# ---- the audit is really there ----------------------------------------------------------------
TOKEN=$(token "$CLIENT_ID" "$SECRET" orch:read) ||
    die "cannot get a token for the audit check"
GRANTED=$((GRANTED + 1))
VERIFY=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/jobengine/audit/verify") ||
    die "GET /jobengine/audit/verify failed"
read -r VALID ENTRIES < <(python3 -c 'import json, sys
v = json.loads(sys.argv[1]); print(str(v.get("valid")).lower(), v.get("entries", 0))' "$VERIFY")
[ "$VALID" = true ] || die "audit chain not valid: $VERIFY"
# wrk drops the requests still in flight when a run ends: the server granted and audited them
# but wrk never counted the reply, so entries may exceed the 200s counted by up to
# CONNECTIONS per wrk run.
EXTRA=$((ENTRIES - GRANTED))
SLACK=$((CONNECTIONS * (RUNS + 1)))
echo "audit: GET /jobengine/audit/verify: valid $VALID, $ENTRIES entries in chain '$TENANT';" \
    "$GRANTED grants answered 200 (+$EXTRA granted while wrk was stopping)"
if [ "$EXTRA" -lt 0 ] || [ "$EXTRA" -gt "$SLACK" ]; then
    die "audit entries ($ENTRIES) do not match the grants ($GRANTED, slack $SLACK)"
fi
stop_server
# Write back the server's dirty pages (its log, the store) so they do not slow the peers' fsyncs.
rm -f "$LOG"
sync

# ---- peers: Ed25519 signing and fsync'd single-row commits ------------------------------------
say "token_bench: openssl speed -seconds $OPENSSL_SECONDS ed25519"
# OpenSSL 3 prints: " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  41847.8  15752.5"
# (sign, verify, sign/s, verify/s).
SIGN=$(openssl speed -seconds "$OPENSSL_SECONDS" ed25519 2>/dev/null |
    awk '/\(Ed25519\)/ && NF >= 4 {v = $(NF - 1)} END {print v}')
[ -n "$SIGN" ] || die "cannot parse openssl speed ed25519"

sqlite_peer

# ---- the table --------------------------------------------------------------------------------
R_COMMIT=$(awk -v a="$ISSUE" -v b="$COMMIT" 'BEGIN {printf "%.2f", a / b}')
R_SIGN=$(awk -v a="$ISSUE" -v b="$SIGN" 'BEGIN {printf "%.2f", a / b}')
MET=$(awk -v r="$R_COMMIT" 'BEGIN {print (r >= 1.5) ? "met" : "NOT met"}')
echo
echo "token_bench results (nproc $NPROC, --threads $THREADS, wrk -t$WRK_THREADS -c$CONNECTIONS)"
printf '  %-44s %12s   %s\n' "measure" "per second" "runs"
printf '  %-44s %12.0f   %s\n' "POST /token issuance (audited, keep-alive)" "$ISSUE" "${RPS_ALL[*]}"
printf '  %-44s %12.0f   %s\n' "Ed25519 sign (openssl speed, 1 thread)" "$SIGN" "$SIGN"
printf '  %-44s %12.0f   %s\n' "SQLite commits, WAL + synchronous=FULL, 1 row" "$COMMIT" \
    "${COMMITS_ALL[*]}"
printf '  %-44s %12s   %s\n' "ratio issuance / commit (target >= 1.5)" "$R_COMMIT" "$MET"
printf '  %-44s %12s\n' "ratio issuance / sign" "$R_SIGN"
result token_issuance "$ISSUE" sqlite_commit "$COMMIT" '>=1.5'
result token_issuance "$ISSUE" ed25519_sign "$SIGN" -

if [ "${STRICT:-0}" = 1 ] && [ "$MET" != met ]; then exit 3; fi
exit 0
