#!/usr/bin/env bash
# bench/token_bench.sh: POST /token issuance per second on keep-alive connections (wrk), every
# grant durably audited, printed next to two peers measured in the same run on the same machine:
#   - the raw Ed25519 signing rate (openssl speed ed25519), what signing one token costs;
#   - single-row SQLite commits/s with journal_mode=WAL, synchronous=FULL, one thread, in the
#     directory of the server's store (same disk): the raw fsync'd commit rate.
# Target: issuance/commit >= 1.0, which takes grouping commits. See bench/README.md.
#
# Usage (from anywhere; `make bench` installs wrk etc. first):  bash bench/token_bench.sh
# Settings (environment):
#   THREADS=32        server HTTP worker threads (--threads)
#   DURATION=10       seconds per wrk run        RUNS=3            wrk runs (median reported)
#   CONNECTIONS=64    wrk connections            WRK_THREADS=2     wrk threads
#   WARMUP=2          seconds of warm-up         SQLITE_SECONDS=5  seconds per sqlite_commit run
#   SQLITE_RUNS=3     sqlite_commit runs         OPENSSL_SECONDS=3 openssl speed -seconds
#   SKIP_BUILD=1      do not run `make -s build` KEEP=1            keep the work directory
#   STRICT=1          exit 3 when issuance/commit < 1.0
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

THREADS=${THREADS:-32}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WARMUP=${WARMUP:-2}
SQLITE_SECONDS=${SQLITE_SECONDS:-5}
SQLITE_RUNS=${SQLITE_RUNS:-3}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-3}
BIN=build/jobengine
CLIENT_ID=bench-client
TENANT=bench
# A fixed 43-character secret (the CLI requires at least 32); the store is thrown away after.
SECRET=benchSecret0123456789abcdefghijklmnopqrstuv

say() { printf '%s\n' "$*" >&2; }
die() {
    say "token_bench: $*"
    exit 1
}

for tool in wrk openssl cc curl python3 base64; do
    command -v "$tool" >/dev/null || die "$tool not found (run: bash scripts/deps.sh --bench)"
done
[ ${#SECRET} -eq 43 ] || die "the secret must be 43 characters"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    if ! BUILD_OUT=$(make -s build 2>&1); then
        printf '%s\n' "$BUILD_OUT" | tail -20 >&2
        die "build failed (SKIP_BUILD=1 benchmarks the existing $BIN)"
    fi
fi
[ -x "$BIN" ] || die "$BIN missing (run make)"

mkdir -p bench/out
WORK=$(mktemp -d "$ROOT/bench/out/token.XXXXXX")
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
    stop_server
    if [ "${KEEP:-0}" = 1 ]; then say "token_bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit 1
    if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the machine ------------------------------------------------------------------------------
CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
FS=$(df -PT "$WORK" | awk 'NR == 2 {print $2 " on " $1 " (" $7 ")"}')
echo "token_bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm)"
echo "  nproc ${NPROC:=$(nproc)}, cpu ${CPU:-unknown}"
echo "  store dir $WORK, filesystem $FS"
echo "  server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s x $RUNS runs"

# ---- the server -------------------------------------------------------------------------------
"$BIN" client add "$CLIENT_ID" --tenant "$TENANT" --role Orch.Viewer --secret "$SECRET" \
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
TOKEN=$(curl -sf -u "$CLIENT_ID:$SECRET" -d "grant_type=client_credentials&scope=orch:read" \
    "$BASE/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') ||
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

# ---- the table --------------------------------------------------------------------------------
R_COMMIT=$(awk -v a="$ISSUE" -v b="$COMMIT" 'BEGIN {printf "%.2f", a / b}')
R_SIGN=$(awk -v a="$ISSUE" -v b="$SIGN" 'BEGIN {printf "%.2f", a / b}')
MET=$(awk -v r="$R_COMMIT" 'BEGIN {print (r >= 1.0) ? "met" : "NOT met"}')
echo
echo "token_bench results (nproc $NPROC, --threads $THREADS, wrk -t$WRK_THREADS -c$CONNECTIONS)"
printf '  %-44s %12s   %s\n' "measure" "per second" "runs"
printf '  %-44s %12.0f   %s\n' "POST /token issuance (audited, keep-alive)" "$ISSUE" "${RPS_ALL[*]}"
printf '  %-44s %12.0f   %s\n' "Ed25519 sign (openssl speed, 1 thread)" "$SIGN" "$SIGN"
printf '  %-44s %12.0f   %s\n' "SQLite commits, WAL + synchronous=FULL, 1 row" "$COMMIT" \
    "${COMMITS_ALL[*]}"
printf '  %-44s %12s   %s\n' "ratio issuance / commit (target >= 1.0)" "$R_COMMIT" "$MET"
printf '  %-44s %12s\n' "ratio issuance / sign" "$R_SIGN"

if [ "${STRICT:-0}" = 1 ] && [ "$MET" != met ]; then exit 3; fi
exit 0
