#!/usr/bin/env bash
# bench/tls_bench.sh: what the server's own TLS (`serve --tls-cert F --tls-key F`: GnuTLS under
# libmicrohttpd, poll(2) for its listener, session tickets for TLS 1.2 and 1.3 resumption;
# docs/operations.md "TLS") costs, next to the documented alternative, nginx terminating TLS in
# front of plain `serve` (docs/operations.md "Behind a reverse proxy"), all measured in the same
# run on the same machine, runs interleaved (every case once per run, so background noise hits
# every case alike), medians of RUNS runs. The servers:
#   plain    jobengine, plain HTTP                                            (the baseline)
#   native   jobengine, HTTPS itself (its own store, clients and quota), resuming sessions
#   nginx    nginx, HTTPS, proxy_pass to the plain server over an upstream of keep-alive
#            connections (keepalive 64, proxy_http_version 1.1, Connection "", X-Forwarded-For;
#            the plain server runs with --trusted-proxies 127.0.0.1, as documented), session
#            resumption off (ssl_session_tickets off, ssl_session_cache off)
#   resumed  the same nginx with its default session resumption (tickets, on by default), as
#            the server's own TLS does it
#   static   nginx, HTTPS, a static 200 of /readyz's body (`return 200`): the TLS ceiling of
#            this machine, no application behind it; resumption off, and a second one with
#            nginx's default resumption (for the resumed new connections)
# One ECDSA P-256 certificate (openssl, in the work directory) for both TLS servers; both
# negotiate TLS 1.3 with TLS_AES_256_GCM_SHA384 with OpenSSL (checked with s_client and printed,
# with whether a returning s_client resumes). The measures:
#   readyz   GET /readyz on keep-alive connections: no token, no store write.  plain native nginx static
#   quota    GET /jobengine/quotas/{id} with a bearer token, keep-alive (quota_bench.sh's GET,
#            bench/quota_get.lua): the authenticated hot path.               plain native nginx
#   newconn  GET /readyz with `Connection: close`: one new TCP connection (and, over TLS, one
#            handshake) per request, NEW_CONNECTIONS connections at once. wrk's OpenSSL resumes
#            whenever the server lets it, so the TLS handshakes here are resumptions (1-RTT, no
#            certificate signature): native against nginx with its default resumption.
#                                                               plain native resumed static(resuming)
#   full     full handshakes, none resumed: `openssl s_time -new -www /readyz` (an HTTP/1.0 GET
#            on every new connection; it never resumes), S_TIME_CLIENTS processes at once,
#            connections/s over the wall time. One s_time is a sequential client whose rate is
#            its round trips' (a quick check on 2 cores: native ~190/s, nginx ~590/s), which more
#            clients overlap until the cores are full: native ~440, ~700, ~790/s with 2, 4, 8
#            clients, nginx 930, 1,000, 950/s; so S_TIME_CLIENTS=4 by default. nginx here
#            has resumption off; the server's own TLS still sends its tickets on a full handshake.
#                                                                            native nginx static
# wrk -t$WRK_THREADS -c$CONNECTIONS --latency (newconn -c$NEW_CONNECTIONS): requests/s and p99;
# s_time: connections/s (no latency figure). Also printed: the serving side's CPU microseconds per
# request (jobengine; nginx's workers, plus jobengine behind it), and how many of the new
# connections nginx saw resume a TLS session ($ssl_session_reused in its access log: `resumed`
# and the resuming static nearly all, the s_time cases none).
# Every wrk answer must be 2xx (wrk's socket errors are printed); every s_time connection must
# read the bytes of a 200 (checked once with s_client). Loopback only; the servers and the
# work directory under bench/out are removed at the end.
#
# Before measuring, the script waits for the machine to be quiet: while `pgrep -f ctest` finds a
# test run or `pgrep -x wrk` another benchmark (another session's), it checks again every
# QUIET_STEP (30) seconds, at most
# QUIET_WAIT (1200) seconds, then measures anyway and says so. wrk, nginx and the server share
# the cores, unpinned, as in the other benchmarks.
#
# Usage (from anywhere; `bash scripts/deps.sh --bench` installs wrk, nginx-light, openssl):
#   bash bench/tls_bench.sh
# Settings (environment):
#   DURATION=5 seconds per measured run   RUNS=3 runs (medians)   WARMUP=2 seconds per case
#   CONNECTIONS=64 keep-alive connections  NEW_CONNECTIONS=16 (newconn)  WRK_THREADS=2
#   S_TIME_CLIENTS=4 (full: openssl s_time processes at once)
#   THREADS=auto (server --threads)   NGINX_WORKERS=auto   NGINX_ACCESS_LOG=on (nginx logs every
#   request, as the server does)   QUIET_WAIT=1200 QUIET_STEP=30   SKIP_BUILD=1   KEEP=1
# Output: the table, then for bench/all.sh (lib.sh's result; every figure quoted, no target):
#   RESULT tls_readyz N nginx_tls_proxy N RATIO -      (and plain_http, nginx_tls_static)
#   RESULT tls_get_quota N nginx_tls_proxy N RATIO -   (and plain_http)
#   RESULT tls_new_conn N nginx_tls_proxy_resumed N RATIO -   (and plain_http,
#   nginx_tls_static_resumed: wrk's resumed new connections)
#   RESULT tls_full_handshake N nginx_tls_proxy N RATIO -     (and nginx_tls_static: s_time)
#   RESULT tls_readyz_p99_ms N nginx_tls_proxy N RATIO -   (and tls_get_quota_p99_ms;
#   tls_new_conn_p99_ms next to nginx_tls_proxy_resumed: native's p99 next to nginx in front's)
set -euo pipefail

BENCH_NAME=tls_bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
NEW_CONNECTIONS=${NEW_CONNECTIONS:-16}
S_TIME_CLIENTS=${S_TIME_CLIENTS:-4}
WRK_THREADS=${WRK_THREADS:-2}
THREADS=${THREADS:-auto}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-on}
QUIET_WAIT=${QUIET_WAIT:-1200}
QUIET_STEP=${QUIET_STEP:-30}
TENANT=bench
SECRET=benchTlsSecret0123456789abcdefghijklmnopqr
T0=$(date +%s)
CLK_TCK=$(getconf CLK_TCK)

need_tools wrk nginx openssl curl python3 awk timeout pgrep
build_bin benchmarks make make -s build
bench_work tls "${BENCH_TMP:-$ROOT/bench/out}"
NGINX_PID="" NATIVE_PID=""
# shellcheck disable=SC2317 # invoked by cleanup (lib.sh), which then stops the plain server
on_cleanup() {
    stop_pid "$NGINX_PID" # the master stops its workers
    stop_pid "$NATIVE_PID"
}

# ---- a quiet machine --------------------------------------------------------------------------
QUIET_NOTE="no test run (ctest) or wrk going"
waited=0
while pgrep -f ctest >/dev/null || pgrep -x wrk >/dev/null; do
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
        QUIET_NOTE="WARNING: a test run (ctest) or wrk still going after ${QUIET_WAIT}s: figures are low"
        say "tls_bench: $QUIET_NOTE"
        break
    fi
    [ "$waited" -gt 0 ] || say "tls_bench: a test run (ctest) or a benchmark (wrk) is going; waiting" \
        "for it to end (checked every ${QUIET_STEP}s, at most ${QUIET_WAIT}s)"
    sleep "$QUIET_STEP"
    waited=$((waited + QUIET_STEP))
    QUIET_NOTE="waited ${waited}s for a test run (ctest) or wrk to end"
done

machine_header work load
build_line
echo "  $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(nginx -v 2>&1); $(openssl version | cut -d' ' -f1-2)"
echo "  server --threads $THREADS; wrk -t$WRK_THREADS -c$CONNECTIONS (newconn: -c$NEW_CONNECTIONS," \
    "Connection: close); full: $S_TIME_CLIENTS x openssl s_time -new; ${DURATION}s x $RUNS runs" \
    "(+${WARMUP}s warm-up); $QUIET_NOTE"

# ---- the certificate --------------------------------------------------------------------------
CERT="$WORK/cert.pem" KEY="$WORK/key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" \
    -out "$CERT" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    >"$WORK/openssl.log" 2>&1 || die "openssl req failed: $(cat "$WORK/openssl.log")"
chmod 600 "$KEY"

# ---- the two jobengine servers, each with its client, token and quota -------------------------
# setup_server NAME: STORE_NAME's client and quota; sets TOK and QID (BASE is the server's).
setup_server() {
    TOK=$(token bench-worker "$SECRET" "orch:read orch:jobs") || die "$1: no orch:read token"
    local admin
    admin=$(token bench-admin "$SECRET" orch:quota quota_reason=bench) || die "$1: no orch:quota token"
    QID=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d '{"jobType":"bench.tls","maxActive":10,"maxPerHour":1000,"burstCapacity":10,"refillPerSecond":1}' \
        "$BASE/jobengine/quotas" | json_get quotaId) || die "$1: cannot create the quota"
}
for s in plain native; do
    mkdir -p "$WORK/$s"
    add_client bench-admin Orch.Admin "$SECRET" "$WORK/$s/jobengine.db"
    add_client bench-worker Orch.Worker "$SECRET" "$WORK/$s/jobengine.db"
done
start_server "$WORK/native/jobengine.db" "$WORK/native/server.log" --tls-cert "$CERT" --tls-key "$KEY"
NATIVE_PID=$SERVER_PID
NATIVE_BASE="https://127.0.0.1:$PORT"
BASE=$NATIVE_BASE
export CURL_CA_BUNDLE=$CERT # curl (token, checks) verifies the TLS servers against it
setup_server native
NATIVE_TOK=$TOK NATIVE_QID=$QID
start_server "$WORK/plain/jobengine.db" "$WORK/plain/server.log" --trusted-proxies 127.0.0.1
PLAIN_PID=$SERVER_PID
PLAIN_BASE=$BASE PLAIN_PORT=$PORT
setup_server plain
PLAIN_TOK=$TOK PLAIN_QID=$QID

# ---- nginx: TLS in front of the plain server, and a static 200 over TLS -----------------------
NGX="$WORK/nginx"
mkdir -p "$NGX/tmp"
NGINX_PORT=$(free_port)
RESUME_PORT=$(free_port)
STATIC_PORT=$(free_port)
STATIC_RESUME_PORT=$(free_port)
READY_BODY=$(curl -sf "$PLAIN_BASE/readyz") || die "GET /readyz of the plain server failed"
if [ "$NGINX_ACCESS_LOG" = on ]; then NGX_LOG="access_log $NGX/access.log tls;"; else NGX_LOG="access_log off;"; fi
{
    nginx_conf_head bench/tls_bench.sh "$NGINX_WORKERS" 4096
    cat <<EOF
http {
    default_type application/json;
    log_format tls '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent'
                   ' \$ssl_protocol \$ssl_cipher reused=\$ssl_session_reused';
    $NGX_LOG
    keepalive_timeout 65;
    keepalive_requests 100000000; # like our server, never close a busy keep-alive connection
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    ssl_certificate     $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream jobengine {
        server 127.0.0.1:$PLAIN_PORT;
        keepalive 64;
    }
    server { # docs/operations.md "Behind a reverse proxy", with an upstream of kept-alive connections
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_session_tickets off; # no resumption: wrk's new connections are full handshakes
        ssl_session_cache off;
        include $NGX/proxy.conf;
    }
    server { # the same with nginx's default session resumption
        listen 127.0.0.1:$RESUME_PORT ssl;
        include $NGX/proxy.conf;
    }
    server { # the TLS ceiling: a static 200, /readyz's body
        listen 127.0.0.1:$STATIC_PORT ssl;
        ssl_session_tickets off;
        ssl_session_cache off;
        location / { return 200 '$READY_BODY'; }
    }
    server { # the same with nginx's default session resumption
        listen 127.0.0.1:$STATIC_RESUME_PORT ssl;
        location / { return 200 '$READY_BODY'; }
    }
}
EOF
} >"$NGX/nginx.conf"
cat >"$NGX/proxy.conf" <<EOF
client_max_body_size 2m;
location / {
    proxy_pass http://jobengine;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_read_timeout 60s;
}
EOF
nginx_start
NGINX_PID=$!
NGINX_BASE="https://127.0.0.1:$NGINX_PORT"
STATIC_BASE="https://127.0.0.1:$STATIC_PORT"
RESUME_BASE="https://127.0.0.1:$RESUME_PORT"
STATIC_RESUME_BASE="https://127.0.0.1:$STATIC_RESUME_PORT"
for _ in $(seq 100); do
    curl -sf -o /dev/null "$STATIC_BASE/readyz" && break
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(tail -3 "$NGX/error.log")"
    sleep 0.1
done
nginx_pids() { printf '%s\n' "$NGINX_PID"; ps -o pid= --ppid "$NGINX_PID" | tr -d ' '; }

# ---- the answers are the same on every side ---------------------------------------------------
get() { curl -sf ${2:+-H "Authorization: Bearer $2"} "$1"; }
for b in "$NATIVE_BASE" "$NGINX_BASE" "$RESUME_BASE" "$STATIC_BASE" "$STATIC_RESUME_BASE"; do
    [ "$(get "$b/readyz")" = "$READY_BODY" ] || die "GET $b/readyz does not answer $READY_BODY"
done
Q_PLAIN=$(get "$PLAIN_BASE/jobengine/quotas/$PLAIN_QID" "$PLAIN_TOK") || die "GET quota (plain) failed"
[ "$(get "$NGINX_BASE/jobengine/quotas/$PLAIN_QID" "$PLAIN_TOK")" = "$Q_PLAIN" ] ||
    die "GET quota through nginx differs from the plain server's"
Q_NATIVE=$(get "$NATIVE_BASE/jobengine/quotas/$NATIVE_QID" "$NATIVE_TOK") || die "GET quota (native) failed"
[ "$(json_get jobType <<<"$Q_NATIVE")" = bench.tls ] || die "GET quota (native): $Q_NATIVE"
# s_time's request: an HTTP/1.0 GET /readyz, answered 200 and closed; its size (s_time prints
# the bytes read per connection, checked in every run)
declare -A HTTP10_BYTES
for b in "$NATIVE_BASE" "$NGINX_BASE" "$STATIC_BASE"; do
    printf 'GET /readyz HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "${b#https://}" \
        -servername 127.0.0.1 >"$WORK/http10.txt" 2>/dev/null || true
    head -1 "$WORK/http10.txt" | grep -q '^HTTP/1\.[01] 200 ' ||
        die "GET /readyz HTTP/1.0 to $b: $(head -1 "$WORK/http10.txt")"
    HTTP10_BYTES[$b]=$(wc -c <"$WORK/http10.txt")
done
# the protocol and cipher, and whether a returning client resumes (s_client -sess_out/-sess_in)
for nb in "native $NATIVE_BASE" "nginx $NGINX_BASE" "resumed $RESUME_BASE"; do
    read -r n b <<<"$nb"
    rm -f "$WORK/sess.pem"
    # the GET makes s_client wait for the answer, so that it has the server's tickets
    h=$(printf 'GET /readyz HTTP/1.0\r\n\r\n' | openssl s_client -connect "${b#https://}" \
        -servername 127.0.0.1 -ign_eof -sess_out "$WORK/sess.pem" 2>/dev/null |
        awk '/^New, / {sub(/,$/, "", $2); print $2, $NF}')
    [ -n "$h" ] || die "openssl s_client to $b: no TLS session"
    r=no
    if [ -s "$WORK/sess.pem" ] && printf 'GET /readyz HTTP/1.0\r\n\r\n' | openssl s_client \
        -connect "${b#https://}" -servername 127.0.0.1 -ign_eof -sess_in "$WORK/sess.pem" \
        2>/dev/null | grep -q '^Reused, '; then r=yes; fi
    echo "  $n $b: $h; a returning client resumes: $r"
done
resp_size() { curl -s -o /dev/null -w '%{size_header}+%{size_download}' "$@"; }
echo "  GET quota response: plain $(resp_size -H "Authorization: Bearer $PLAIN_TOK" \
    "$PLAIN_BASE/jobengine/quotas/$PLAIN_QID") bytes, native $(resp_size -H "Authorization: Bearer \
$NATIVE_TOK" "$NATIVE_BASE/jobengine/quotas/$NATIVE_QID"), through nginx $(resp_size -H \
    "Authorization: Bearer $PLAIN_TOK" "$NGINX_BASE/jobengine/quotas/$PLAIN_QID") (headers+body)"

# ---- one measured run -------------------------------------------------------------------------
# The case's URL, token and serving pids.
case_of() { # CASE -> URL TOKEN(or -) PIDS...
    local ngx
    ngx=$(nginx_pids | tr '\n' ' ')
    case $1 in
    readyz.plain | newconn.plain) echo "$PLAIN_BASE/readyz - $PLAIN_PID" ;;
    readyz.native | newconn.native) echo "$NATIVE_BASE/readyz - $NATIVE_PID" ;;
    readyz.nginx) echo "$NGINX_BASE/readyz - $ngx $PLAIN_PID" ;;
    readyz.static | full.static) echo "$STATIC_BASE/readyz - $ngx" ;;
    newconn.static) echo "$STATIC_RESUME_BASE/readyz - $ngx" ;;
    newconn.resumed) echo "$RESUME_BASE/readyz - $ngx $PLAIN_PID" ;;
    full.native) echo "$NATIVE_BASE/readyz - $NATIVE_PID" ;;
    full.nginx) echo "$NGINX_BASE/readyz - $ngx $PLAIN_PID" ;;
    quota.plain) echo "$PLAIN_BASE/jobengine/quotas/$PLAIN_QID $PLAIN_TOK $PLAIN_PID" ;;
    quota.native) echo "$NATIVE_BASE/jobengine/quotas/$NATIVE_QID $NATIVE_TOK $NATIVE_PID" ;;
    quota.nginx) echo "$NGINX_BASE/jobengine/quotas/$PLAIN_QID $PLAIN_TOK $ngx $PLAIN_PID" ;;
    esac
}
declare -A RPS P99 US BUSY_MAX REUSED LOGGED
run_case() { # LABEL CASE SECONDS: appends to RPS[CASE], P99[CASE], US[CASE] unless a warm-up
    local label=$1 c=$2 secs=$3 out="$WORK/$1.txt" url tok pids conns=$CONNECTIONS b0 a0 b1 a1
    local t0 t1 w0 w1 busy rps non2xx p99 se lines0=0
    read -r url tok pids <<<"$(case_of "$c")"
    read -r -a pids <<<"$pids"
    local hdr=()
    if [[ $c == newconn.* ]]; then hdr=(-H "Connection: close") conns=$NEW_CONNECTIONS; fi
    [ -f "$NGX/access.log" ] && lines0=$(wc -l <"$NGX/access.log")
    read -r b0 a0 < <(machine_ticks)
    sleep 0.3 # the machine's busy share just before the run, none of our clients running
    read -r b1 a1 < <(machine_ticks)
    busy=$(awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) 'BEGIN {printf "%.0f", a ? 100 * b / a : 0}')
    t0=$(proc_ticks "${pids[@]}") w0=$(now_ms)
    [ "$tok" = - ] && tok=""
    if [[ $c == full.* ]]; then
        # S_TIME_CLIENTS sequential clients at once, each a full handshake and a GET per connection
        local base=${url%/readyz} j n=0 k bytes
        # shellcheck disable=SC2016 # expanded by the inner bash
        bg_run "$out" "" bash -c 'for j in $(seq "$1"); do timeout -k 2 "$2" openssl s_time \
            -connect "$3" -new -time "$4" -www /readyz >"$5.$j" 2>&1 & done; wait' _ \
            "$S_TIME_CLIENTS" $((secs + 10)) "${base#https://}" "$secs" "$out" ||
            die "$label: s_time failed"
        t1=$(proc_ticks "${pids[@]}") w1=$(now_ms)
        for j in $(seq "$S_TIME_CLIENTS"); do
            read -r k bytes < <(awk '/connections in .* real seconds/ {print $1, $(NF - 4)}' "$out.$j")
            [ -n "$k" ] || die "$label: cannot parse s_time output: $(cat "$out.$j")"
            [ "$bytes" = "${HTTP10_BYTES[$base]}" ] || die "$label: s_time read $bytes bytes per" \
                "connection, not the ${HTTP10_BYTES[$base]} of a 200: $(head -3 "$out.$j")"
            n=$((n + k))
        done
        rps=$(awk -v n="$n" -v w=$((w1 - w0)) 'BEGIN {printf "%.2f", n * 1000 / w}') p99=- se=-
    else
        QUOTA_BENCH_TOKEN=$tok bg_run "$out" "" timeout -k 2 $((secs + 10)) wrk "-t$WRK_THREADS" \
            "-c$conns" "-d${secs}s" --latency "${hdr[@]}" -s bench/quota_get.lua "$url" ||
            die "$label: wrk failed: $(tail -3 "$out")"
        t1=$(proc_ticks "${pids[@]}") w1=$(now_ms)
        read -r rps non2xx p99 se < <(awk '/^Requests\/sec:/ {rps = $2}
            /Non-2xx or 3xx responses:/ {n = $NF} $1 == "99%" {p99 = $2}
            /Socket errors/ {se = $0; gsub(/^ *Socket errors: */, "", se); gsub(/ /, "_", se)}
            END {print rps, n + 0, p99, (se == "" ? "-" : se)}' "$out")
        if [ -z "$rps" ] || [ -z "$p99" ]; then die "$label: cannot parse wrk output: $(cat "$out")"; fi
        [ "$non2xx" = 0 ] || die "$label: $non2xx non-2xx responses"
    fi
    local us
    us=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v r="$rps" -v w=$((w1 - w0)) \
        'BEGIN {printf "%.0f", (r > 0 ? t / hz * 1e6 / (r * w / 1000) : 0)}')
    if [[ $c == newconn.resumed || $c == newconn.static || $c == full.nginx || $c == full.static ]] &&
        [ -f "$NGX/access.log" ]; then
        # the access log lines of this run, written by the TLS server the client spoke to
        local r n
        read -r r n < <(tail -n +$((lines0 + 1)) "$NGX/access.log" |
            awk '/reused=r/ {r++} /reused=/ {n++} END {print r + 0, n + 0}')
        REUSED[$c]=$((${REUSED[$c]:-0} + r)) LOGGED[$c]=$((${LOGGED[$c]:-0} + n))
    fi
    local unit=req/s
    [[ $c != full.* ]] || unit=connections/s
    say "  $label: $rps $unit, p99 $p99, serving side $us us cpu/request, machine $busy% busy" \
        "before${se:+; socket errors $se}"
    [ "$se" = - ] || SOCKERR+=("$label: $se")
    [ "$busy" -le "${BUSY_MAX[$c]:-0}" ] || BUSY_MAX[$c]=$busy
    if [[ $label != warmup.* ]]; then
        RPS[$c]+="$rps " US[$c]+="$us "
        [ "$p99" = - ] || P99[$c]+="$(to_ms "$p99") "
    fi
}
CASES=(readyz.plain readyz.native readyz.nginx readyz.static quota.plain quota.native
    quota.nginx newconn.plain newconn.native newconn.resumed newconn.static full.native full.nginx
    full.static)
SOCKERR=()
say "tls_bench: warm-up, ${WARMUP}s per case"
for c in "${CASES[@]}"; do run_case "warmup.$c" "$c" "$WARMUP"; done
N=${#CASES[@]}
for i in $(seq "$RUNS"); do
    say "tls_bench: run $i of $RUNS"
    for k in $(seq 0 $((N - 1))); do # the order turns each run
        c=${CASES[$(((k + (i - 1) * 3) % N))]}
        run_case "run$i.$c" "$c" "$DURATION"
    done
done
for p in "$PLAIN_PID" "$NATIVE_PID" "$NGINX_PID"; do
    kill -0 "$p" 2>/dev/null || die "a server (pid $p) died during the runs"
done

# ---- the table --------------------------------------------------------------------------------
med() { tr ' ' '\n' <<<"$1" | { grep . || true; } | median || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
fmt() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }
declare -A M MP MU
for c in "${CASES[@]}"; do
    M[$c]=$(med "${RPS[$c]}") MP[$c]=$(med "${P99[$c]:-}") MU[$c]=$(med "${US[$c]}")
done
row() { printf '  %-36s %9s %9s %9s %9s  %12s %12s\n' "$@"; }
echo
echo "tls_bench results, $(date -u +%Y-%m-%d), nproc $NPROC, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg), medians of $RUNS runs of ${DURATION}s"
row "req/s (p99 ms) [us cpu/request]" plain native "nginx+je" "nginx 200" "native/nginx" "native/plain"
# the new-connection rows' nginx+je: nginx resuming (newconn, as wrk and the server do) and
# not (full, s_time never resumes)
M[newconn.nginx]=${M[newconn.resumed]} MP[newconn.nginx]=${MP[newconn.resumed]}
MU[newconn.nginx]=${MU[newconn.resumed]}
cell() { [ -n "${M[$1]:-}" ] && fmt "${M[$1]}" || echo -; }
pc() { [ -n "${MP[$1]:-}" ] && echo "(${MP[$1]})" || echo; }
uc() { [ -n "${MU[$1]:-}" ] && echo "[$(fmt "${MU[$1]}")]" || echo; }
for m in readyz quota newconn full; do
    case $m in
    readyz) what="GET /readyz, keep-alive -c$CONNECTIONS" ;;
    quota) what="GET quota + bearer, keep-alive" ;;
    newconn) what="new conn. -c$NEW_CONNECTIONS, resumed" ;;
    full) what="full handshakes, s_time x$S_TIME_CLIENTS" ;;
    esac
    row "$what" "$(cell "$m.plain")" "$(cell "$m.native")" "$(cell "$m.nginx")" \
        "$(cell "$m.static")" "$(ratio "${M[$m.native]}" "${M[$m.nginx]}")" \
        "$(ratio "${M[$m.native]}" "${M[$m.plain]:-0}")"
    [ "$m" = full ] || row "" "$(pc "$m.plain")" "$(pc "$m.native")" "$(pc "$m.nginx")" "$(pc "$m.static")" "" ""
    row "" "$(uc "$m.plain")" "$(uc "$m.native")" "$(uc "$m.nginx")" "$(uc "$m.static")" "" ""
done
echo "  nginx+je: nginx terminating TLS, proxy_pass to plain jobengine (keep-alive upstream);"
echo "  new conn.: GET /readyz with Connection: close (wrk), sessions resumed where the server"
echo "  lets wrk (native, nginx with its default resumption); full handshakes: openssl s_time -new"
echo "  -www /readyz, connections/s, nginx with resumption off; nginx 200: nginx's static 200"
echo "  over TLS (the TLS ceiling); us cpu: the serving side's (nginx+je: nginx's workers and"
echo "  jobengine together), per request"
for c in "${CASES[@]}"; do
    p=${P99[$c]:-- }
    echo "  runs $c: ${RPS[$c]}(p99 ms ${p% }; busy before, max ${BUSY_MAX[$c]:-0}%)"
done
for c in newconn.resumed newconn.static full.nginx full.static; do
    echo "  $c: ${REUSED[$c]:-0} of ${LOGGED[$c]:-0} new connections resumed a TLS session" \
        "(nginx's access log; the rest: full handshakes)"
done
[ "${#SOCKERR[@]}" = 0 ] && echo "  wrk socket errors: none" || echo "  wrk socket errors: ${SOCKERR[*]}"
echo "  total $(($(date +%s) - T0)) s (quiet wait ${waited}s)"

result tls_readyz "${M[readyz.native]}" nginx_tls_proxy "${M[readyz.nginx]}" -
result tls_readyz "${M[readyz.native]}" plain_http "${M[readyz.plain]}" -
result tls_readyz "${M[readyz.native]}" nginx_tls_static "${M[readyz.static]}" -
result tls_get_quota "${M[quota.native]}" nginx_tls_proxy "${M[quota.nginx]}" -
result tls_get_quota "${M[quota.native]}" plain_http "${M[quota.plain]}" -
result tls_new_conn "${M[newconn.native]}" nginx_tls_proxy_resumed "${M[newconn.resumed]}" -
result tls_new_conn "${M[newconn.native]}" plain_http "${M[newconn.plain]}" -
result tls_new_conn "${M[newconn.native]}" nginx_tls_static_resumed "${M[newconn.static]}" -
result tls_full_handshake "${M[full.native]}" nginx_tls_proxy "${M[full.nginx]}" -
result tls_full_handshake "${M[full.native]}" nginx_tls_static "${M[full.static]}" -
result tls_readyz_p99_ms "${MP[readyz.native]}" nginx_tls_proxy "${MP[readyz.nginx]}" -
result tls_get_quota_p99_ms "${MP[quota.native]}" nginx_tls_proxy "${MP[quota.nginx]}" -
result tls_new_conn_p99_ms "${MP[newconn.native]}" nginx_tls_proxy_resumed "${MP[newconn.resumed]}" -
exit 0
