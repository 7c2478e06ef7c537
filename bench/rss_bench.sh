#!/usr/bin/env bash
# bench/rss_bench.sh: resident memory of `jobengine serve` (VmRSS from /proc/PID/status) idle
# after start (1 s after it says "listening", before any request), and again 1 s after QUOTAS
# quotas were created over HTTP (POST /jobengine/quotas, 32 keep-alive connections, each create
# durable and audited). bench/quota_bench.sh runs it; it also runs alone. Loopback only; the
# server and the temp dir are removed on exit, failure or not.
#
# Usage: bash bench/rss_bench.sh
# Settings (environment): THREADS=16 (server --threads), QUOTAS=10000, SKIP_BUILD=1 (do not run
#   `cmake --build build`), KEEP=1 (keep the work directory).
# Output: a few lines for people on stderr, and on stdout the last line
#   rss_bench: idle_kb=N quotas_kb=N quotas=N create_s=S create_rate=R hwm_kb=N os_threads=N db_kb=N
set -euo pipefail

BENCH_NAME=rss_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-16}
QUOTAS=${QUOTAS:-10000}
TENANT=bench
ADMIN_ID=bench-admin
ADMIN_SECRET=benchAdminSecret0123456789abcdefghijklmnop # throwaway store: a fixed secret is fine

need_tools curl python3 timeout
build_bin measures "cmake --build build, or make" cmake --build build

bench_work rss "$ROOT/bench/out"

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

STORE="$WORK/rss.db"
add_client "$ADMIN_ID" Orch.Admin "$ADMIN_SECRET" "$STORE"
start_server "$STORE" "$WORK/server.log"
sleep 1
RSS_IDLE=$(status_kb "$SERVER_PID" VmRSS)

TOKEN=$(token "$ADMIN_ID" "$ADMIN_SECRET" orch:quota quota_reason=bench) ||
    die "cannot get an orch:quota token"
say "rss_bench: creating $QUOTAS quotas"
OUT=$(timeout -k 2 120 python3 - "$PORT" "$TOKEN" "$QUOTAS" <<'EOF'
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
say "  $CREATED quotas created in ${CREATE_S}s ($CREATE_RATE creates/s, each durable and audited)"
say "  VmRSS idle $RSS_IDLE kB, with $QUOTAS quotas $RSS_QUOTAS kB (peak $HWM kB);" \
    "$OS_THREADS OS threads (--threads $THREADS); store + log $DB_KB kB on disk"
echo "rss_bench: idle_kb=$RSS_IDLE quotas_kb=$RSS_QUOTAS quotas=$CREATED create_s=$CREATE_S" \
    "create_rate=$CREATE_RATE hwm_kb=$HWM os_threads=$OS_THREADS db_kb=$DB_KB"
