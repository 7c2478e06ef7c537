#!/usr/bin/env bash
# bench/rss_bench.sh: resident memory of `jobengine serve` (VmRSS from /proc/PID/status) idle
# after start (1 s after it says "listening", before any request), and again 1 s after QUOTAS
# quotas were created over HTTP (POST /jobengine/quotas, 32 keep-alive connections, each create
# durable and audited), then while LOAD_CONNECTIONS (64) keep-alive connections hammer it for
# LOAD_SECONDS: half acquire+release on one quota (wrk + bench/quota_acquire.lua), half GET of
# one of the QUOTAS quotas (wrk + bench/quota_get.lua); VmRSS sampled every 0.2 s during the
# load, and VmHWM (the peak of the server's whole life) after it: the figure of issue 12's row
# "RSS with 10,000 quotas and 64 connections" (target <= 32 MB) is that VmHWM. Checked: every
# create 201, no unexpected answer under load. bench/quota_bench.sh runs it; it also runs
# alone. Loopback only; the server and the temp dir are removed on exit, failure or not.
#
# Usage: bash bench/rss_bench.sh
# Settings (environment): THREADS=auto (server --threads), QUOTAS=10000, LOAD_CONNECTIONS=64,
#   LOAD_SECONDS=5, SKIP_BUILD=1 (do not run `cmake --build build`), KEEP=1 (keep the work
#   directory).
# Output: a few lines for people on stderr, and on stdout the lines (lib.sh's result)
#   RESULT rss_idle_mb N - - - -      RESULT rss_quotas_mb N - - - -
#   RESULT rss_quotas_64c_mb N - - - <=32
# (QUOTAS in the names when it is not 10000: rss_quotas_64c_mb@2000q), and last
#   rss_bench: idle_kb=N quotas_kb=N quotas=N create_s=S create_rate=R hwm_kb=N os_threads=N
#              db_kb=N load_kb=N load_hwm_kb=N load_rps=R
set -euo pipefail

BENCH_NAME=rss_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-auto}
QUOTAS=${QUOTAS:-10000}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-64}
LOAD_SECONDS=${LOAD_SECONDS:-5}
TENANT=bench
ADMIN_ID=bench-admin
ADMIN_SECRET=benchAdminSecret0123456789abcdefghijklmnop # throwaway store: a fixed secret is fine
WORKER_ID=bench-worker
WORKER_SECRET=benchWorkerSecret0123456789abcdefghijklmno

need_tools curl python3 timeout wrk
[ $((LOAD_CONNECTIONS % 2)) = 0 ] || die "LOAD_CONNECTIONS must be even (half acquire, half GET)"
build_bin measures "cmake --build build, or make" cmake --build build

bench_work rss "$ROOT/bench/out"

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

STORE="$WORK/rss.db"
add_client "$ADMIN_ID" Orch.Admin "$ADMIN_SECRET" "$STORE"
add_client "$WORKER_ID" Orch.Worker "$WORKER_SECRET" "$STORE"
# The ceilings let the load's acquire quota grant (nearly) every decision, as in quota_bench.sh.
start_server "$STORE" "$WORK/server.log" --ceiling-max-per-hour 1000000000 \
    --ceiling-burst-capacity 100000000 --ceiling-refill-per-second 1000000
sleep 1
RSS_IDLE=$(status_kb "$SERVER_PID" VmRSS)

TOKEN=$(token "$ADMIN_ID" "$ADMIN_SECRET" orch:quota quota_reason=bench) ||
    die "cannot get an orch:quota token"
say "rss_bench: creating $QUOTAS quotas"
OUT=$(timeout -k 2 120 python3 - "$PORT" "$TOKEN" "$QUOTAS" "$WORK/first_quota" <<'EOF'
import http.client, json, sys, threading, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
nthreads = 32
counts, first_bad, lock = {"ok": 0, "bad": 0}, [], threading.Lock()
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    ok = bad = 0
    for i in range(k, n, nthreads):
        body = json.dumps({"jobType": "rss.%05d" % i, "maxActive": 10, "maxPerHour": 1000,
                           "burstCapacity": 10, "refillPerSecond": 1})
        c.request("POST", "/jobengine/quotas", body, hdrs)
        r = c.getresponse()
        data = r.read()
        if r.status == 201:
            ok += 1
            if i == 0:
                with open(sys.argv[4], "w") as f: f.write(json.loads(data)["quotaId"])
        else:
            bad += 1
            with lock:
                if not first_bad: first_bad.append("%d_%s" % (r.status, data[:100].decode(errors="replace").replace(" ", "_")))
    with lock:
        counts["ok"] += ok
        counts["bad"] += bad
t0 = time.monotonic()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
for t in ts: t.start()
for t in ts: t.join()
el = time.monotonic() - t0
print("%d %d %.2f %.0f %s" % (counts["ok"], counts["bad"], el, counts["ok"] / el,
                              first_bad[0] if first_bad else "-"))
EOF
) || die "creating quotas failed"
read -r CREATED BAD CREATE_S CREATE_RATE FIRST_BAD <<<"$OUT"
if [ "$CREATED" != "$QUOTAS" ] || [ "$BAD" != 0 ]; then
    die "created $CREATED of $QUOTAS quotas ($BAD refused, first: $FIRST_BAD)"
fi
sleep 1
RSS_QUOTAS=$(status_kb "$SERVER_PID" VmRSS)
HWM=$(status_kb "$SERVER_PID" VmHWM)
OS_THREADS=$(awk '$1 == "Threads:" {print $2}' "/proc/$SERVER_PID/status")
DB_KB=$(du -sk "$WORK" | cut -f1)

# ---- the load: LOAD_CONNECTIONS connections, half acquire+release, half GET -------------------
ACQ_QUOTA=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"jobType":"rss.acquire","maxActive":1000,"maxPerHour":1000000000,"burstCapacity":100000000,"refillPerSecond":1000000}' \
    "$BASE/jobengine/quotas" | json_get quotaId) || die "cannot create the acquire quota"
GET_QUOTA=$(cat "$WORK/first_quota")
WORKER_TOKEN=$(token "$WORKER_ID" "$WORKER_SECRET" "orch:read orch:jobs") ||
    die "cannot get an orch:read orch:jobs token"
HALF=$((LOAD_CONNECTIONS / 2))
say "rss_bench: $LOAD_CONNECTIONS connections for ${LOAD_SECONDS}s ($HALF acquire+release, $HALF GET)"
ACQ_PID="" GET_PID=""
# shellcheck disable=SC2317 # invoked by cleanup (lib.sh)
on_cleanup() {
    stop_pid "$ACQ_PID"
    stop_pid "$GET_PID"
}
QUOTA_BENCH_TOKEN=$WORKER_TOKEN QUOTA_BENCH_QUOTA=$ACQ_QUOTA timeout -k 2 $((LOAD_SECONDS + 20)) \
    wrk -t1 "-c$HALF" "-d${LOAD_SECONDS}s" -s bench/quota_acquire.lua "$BASE/" >"$WORK/acq.txt" 2>&1 &
ACQ_PID=$!
QUOTA_BENCH_TOKEN=$WORKER_TOKEN timeout -k 2 $((LOAD_SECONDS + 20)) wrk -t1 "-c$HALF" \
    "-d${LOAD_SECONDS}s" -s bench/quota_get.lua "$BASE/jobengine/quotas/$GET_QUOTA" >"$WORK/get.txt" 2>&1 &
GET_PID=$!
LOAD_RSS=0
while kill -0 "$ACQ_PID" 2>/dev/null || kill -0 "$GET_PID" 2>/dev/null; do
    r=$(status_kb "$SERVER_PID" VmRSS)
    [ "${r:-0}" -le "$LOAD_RSS" ] || LOAD_RSS=$r
    sleep 0.2
done
wait "$ACQ_PID" || die "wrk (acquire) failed: $(tail -3 "$WORK/acq.txt")"
wait "$GET_PID" || die "wrk (GET) failed: $(tail -3 "$WORK/get.txt")"
ACQ_PID="" GET_PID=""
LOAD_HWM=$(status_kb "$SERVER_PID" VmHWM)
line=$(grep '^quota_acquire:' "$WORK/acq.txt") ||
    die "no summary from quota_acquire.lua: $(cat "$WORK/acq.txt")"
[ "$(sed -n 's/.* other=\([0-9]*\).*/\1/p' <<<"$line")" = 0 ] || die "unexpected acquire answers: $line"
if grep -q 'Non-2xx' "$WORK/get.txt"; then die "GET: $(grep 'Non-2xx' "$WORK/get.txt")"; fi
LOAD_RPS=$(cat "$WORK/acq.txt" "$WORK/get.txt" | awk '/^Requests\/sec:/ {s += $2} END {printf "%.0f", s}')

say "  $CREATED quotas created in ${CREATE_S}s ($CREATE_RATE creates/s, each durable and audited)"
say "  VmRSS idle $RSS_IDLE kB, with $QUOTAS quotas $RSS_QUOTAS kB (peak $HWM kB);" \
    "$OS_THREADS OS threads (--threads $THREADS); store + log $DB_KB kB on disk"
say "  under $LOAD_CONNECTIONS connections ($LOAD_RPS req/s): VmRSS up to $LOAD_RSS kB (0.2 s" \
    "samples), VmHWM $LOAD_HWM kB after (the figure)"
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
AT=""
[ "$QUOTAS" = 10000 ] || AT="@${QUOTAS}q"
result "rss_idle_mb" "$(mb "$RSS_IDLE")" - - -
result "rss_quotas_mb$AT" "$(mb "$RSS_QUOTAS")" - - -
result "rss_quotas_${LOAD_CONNECTIONS}c_mb$AT" "$(mb "$LOAD_HWM")" - - '<=32'
echo "rss_bench: idle_kb=$RSS_IDLE quotas_kb=$RSS_QUOTAS quotas=$CREATED create_s=$CREATE_S" \
    "create_rate=$CREATE_RATE hwm_kb=$HWM os_threads=$OS_THREADS db_kb=$DB_KB" \
    "load_kb=$LOAD_RSS load_hwm_kb=$LOAD_HWM load_rps=$LOAD_RPS"
