#!/usr/bin/env bash
# scripts/run_cluster.sh (`make run-cluster`): three `jobengine serve` nodes over one throwaway
# PostgreSQL on this machine, to try what docs/operations.md describes:
#   1. builds (make build; SKIP_BUILD=1 skips);
#   2. starts PostgreSQL 15 with scripts/pg_tmp.sh, its state under ./jobengine-cluster/;
#   3. runs `jobengine migrate` once;
#   4. starts node 1 with --demo (it seeds tenant `demo` and four clients and prints their
#      secrets once), waits until it listens, then starts the other nodes without --demo (they
#      find the clients in the database; two nodes seeding at once would race);
#   5. prints the URLs, the demo credentials and curl commands that use different nodes;
#   6. on Ctrl-C stops the nodes, then PostgreSQL, and removes ./jobengine-cluster: the data is
#      thrown away.
#
#   bash scripts/run_cluster.sh          start, and run until Ctrl-C
#   bash scripts/run_cluster.sh stop     stop a cluster whose script was killed (kill -9): the
#                                        nodes named in ./jobengine-cluster, its PostgreSQL
# Settings (environment):
#   NODES=3            nodes                  FIRST_PORT=8441  node i listens on FIRST_PORT + i - 1
#   HOST=127.0.0.1     address of the nodes   THREADS=16       serve --threads of each node
#   ISSUER             token issuer of every node; default the first node's URL. Every node of
#                      a cluster needs the same one (behind a load balancer: its public URL),
#                      or a token issued by one node is refused by the others.
#   CLUSTER_DIR=jobengine-cluster   BUILD=build   SKIP_BUILD=1: do not build
# Nodes log JSON lines to CLUSTER_DIR/nodeN.log; PostgreSQL logs to its directory (CLUSTER_DIR/pg/dir).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
NODES=${NODES:-3}
FIRST_PORT=${FIRST_PORT:-8441}
HOST=${HOST:-127.0.0.1}
THREADS=${THREADS:-16}
BUILD=${BUILD:-build}
DIR=${CLUSTER_DIR:-jobengine-cluster}
BIN=$BUILD/jobengine
ISSUER=${ISSUER:-http://$HOST:$FIRST_PORT}

say() { printf '%s\n' "$*" >&2; }
die() {
    say "run_cluster: $*"
    exit 1
}

# A pid recorded in DIR that is still one of our `jobengine serve` processes.
is_node() { # PID
    [ -n "$1" ] && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q 'jobengine serve '
}

# Stops the nodes recorded in DIR (TERM, then KILL after 10 s), PostgreSQL, and removes DIR.
teardown() {
    local f pid
    for f in "$DIR"/node*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        is_node "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    for f in "$DIR"/node*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        for _ in $(seq 100); do
            is_node "$pid" || break
            sleep 0.1
        done
        is_node "$pid" && kill -KILL "$pid" 2>/dev/null
        rm -f "$f"
    done
    [ -d "$DIR/pg" ] && bash scripts/pg_tmp.sh stop "$DIR/pg"
    rm -rf "$DIR"
}

if [ "${1:-}" = stop ]; then
    [ -d "$DIR" ] || die "no cluster state in $DIR"
    teardown
    say "run_cluster: stopped; $DIR removed"
    exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [stop]"
case "$NODES" in [1-9]) ;; *) die "NODES must be 1 to 9" ;; esac

if [ -e "$DIR" ]; then
    die "$DIR exists: a cluster is running, or its script was killed. Stop it with Ctrl-C in its
terminal, or: bash scripts/run_cluster.sh stop"
fi
port_free() {
    python3 -c 'import socket, sys
s = socket.socket()
try: s.bind((sys.argv[1], int(sys.argv[2])))
except OSError: sys.exit(1)' "$HOST" "$1"
}
for i in $(seq "$NODES"); do
    port_free $((FIRST_PORT + i - 1)) || die "port $HOST:$((FIRST_PORT + i - 1)) is taken"
done

# ---- 1. build -----------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    make -s build BUILD="$BUILD" || die "build failed"
fi
[ -x "$BIN" ] || die "$BIN missing (make build)"

# From here on, whatever happens, the nodes and PostgreSQL are stopped and DIR removed.
mkdir -p "$DIR"
trap 'rc=$?; trap - EXIT INT TERM; say ""; say "run_cluster: stopping the nodes and PostgreSQL"
    teardown; say "run_cluster: stopped; $DIR removed"; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 2. PostgreSQL ------------------------------------------------------------------------------
URL=$(bash scripts/pg_tmp.sh start "$DIR/pg") || die "PostgreSQL did not start"

# ---- 3. schema ----------------------------------------------------------------------------------
"$BIN" migrate --store "$URL" >&2 || die "jobengine migrate failed"

# ---- 4. nodes -----------------------------------------------------------------------------------
start_node() { # I [SERVE OPTION...]
    local i=$1 port=$((FIRST_PORT + $1 - 1)) pid
    shift
    "$BIN" serve --listen "$HOST:$port" --store "$URL" --issuer "$ISSUER" --threads "$THREADS" \
        "$@" >"$DIR/node$i.out" 2>"$DIR/node$i.log" &
    pid=$!
    echo "$pid" >"$DIR/node$i.pid"
    for _ in $(seq 200); do
        grep -q '"listening"' "$DIR/node$i.log" && return 0
        kill -0 "$pid" 2>/dev/null || {
            cat "$DIR/node$i.out" "$DIR/node$i.log" >&2
            die "node $i exited"
        }
        sleep 0.05
    done
    tail -5 "$DIR/node$i.log" >&2
    die "node $i did not say listening in 10 s"
}
start_node 1 --demo
for i in $(seq 2 "$NODES"); do start_node "$i"; done

# ---- 5. how to use it ---------------------------------------------------------------------------
# The demo secrets, as node 1 printed them (its own "Try:" line names the single-node port).
secret_of() { awk -v id="$1" '$1 == id {print $3}' "$DIR/node1.out"; }
ADMIN=$(secret_of demo-admin)
WORKER=$(secret_of demo-worker)
if [ -z "$ADMIN" ] || [ -z "$WORKER" ]; then die "node 1 printed no demo secrets: $(cat "$DIR/node1.out")"; fi
N1=http://$HOST:$FIRST_PORT
N2=http://$HOST:$((FIRST_PORT + (NODES > 1 ? 1 : 0)))
N3=http://$HOST:$((FIRST_PORT + (NODES > 2 ? 2 : 0)))

echo
echo "JobEngine: $NODES nodes over one PostgreSQL ($URL)"
for i in $(seq "$NODES"); do
    printf '  node %d  http://%s:%d   pid %s, log %s\n' "$i" "$HOST" $((FIRST_PORT + i - 1)) \
        "$(cat "$DIR/node$i.pid")" "$DIR/node$i.log"
done
echo "  issuer  $ISSUER (the same on every node)"
echo
grep -v '^Try:' "$DIR/node1.out" | sed '/^$/N;/^\n$/D'
cat <<EOF
Try it; each command goes to another node, and they share one database:

  N1=$N1 N2=$N2 N3=$N3
  for n in \$N1 \$N2 \$N3; do curl -s \$n/readyz; echo; done

  # a token from node 1 ...
  TOKEN=\$(curl -s -u demo-worker:$WORKER \$N1/token \\
    -d grant_type=client_credentials -d 'scope=orch:read orch:jobs' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  # ... submits a job on node 2 ...
  curl -s \$N2/jobengine/jobs -H "Authorization: Bearer \$TOKEN" \\
    -d '{"jobType":"demo.hello","payload":{"n":1}}'; echo
  # ... which node 3 leases ...
  curl -s \$N3/jobengine/jobs/lease -H "Authorization: Bearer \$TOKEN" \\
    -d '{"jobTypes":["demo.hello"],"workerId":"w1","max":1}'; echo
  # ... and node 1 counts
  curl -s \$N1/jobengine/jobs/summary -H "Authorization: Bearer \$TOKEN"; echo

  # the audit trail of tenant demo, written by every node, verified by node 3
  ADMIN=\$(curl -s -u demo-admin:$ADMIN \$N2/token \\
    -d grant_type=client_credentials -d scope=orch:read \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s \$N3/jobengine/audit/verify -H "Authorization: Bearer \$ADMIN"; echo

  # the command line, against any node
  JOBENGINE_URL=\$N2 JOBENGINE_CLIENT_ID=demo-worker JOBENGINE_CLIENT_SECRET=$WORKER \\
    $BIN job summary

  # the database itself
  psql $URL -c 'SELECT tenant_id, sequence, event_type FROM audit_entries ORDER BY 1, 2'

Stop a node (kill \$(cat $DIR/node2.pid)): the others go on.
Ctrl-C stops the nodes and PostgreSQL, and removes $DIR with the database.
EOF

# ---- 6. run until Ctrl-C; say when a node stops -------------------------------------------------
declare -A GONE=()
while :; do
    up=0
    for i in $(seq "$NODES"); do
        pid=$(cat "$DIR/node$i.pid")
        if kill -0 "$pid" 2>/dev/null; then
            up=$((up + 1))
        elif [ -z "${GONE[$i]:-}" ]; then
            GONE[$i]=1
            wait "$pid" 2>/dev/null && rc=0 || rc=$?
            say "run_cluster: node $i (pid $pid) exited with status $rc; the other nodes go on"
        fi
    done
    [ "$up" -gt 0 ] || die "every node has exited"
    sleep 1 &
    wait $! || true
done
