#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests and `make run-cluster`: a new cluster in a temporary
# directory, on a free loopback port, with fsync on (acknowledged means durable, as in
# production).
#
#   scripts/pg_tmp.sh start STATE   starts one; writes STATE/url (postgres://...), STATE/dir
#                                    (its directory) and STATE/port; prints the URL
#   scripts/pg_tmp.sh stop STATE     stops it (immediate) and removes its directory and STATE
#   scripts/pg_tmp.sh ctl STATE ARGS runs pg_ctl ARGS on it (restart -m fast, stop -m immediate,
#                                    start, ...) as the cluster's owner
#
# As root, initdb and pg_ctl run through `runuser -u postgres` (PostgreSQL refuses to run as
# root), in a directory under /tmp that user owns. PGBIN overrides /usr/lib/postgresql/15/bin.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || { echo "usage: $0 start|stop|ctl STATE [ARGS...]" >&2; exit 2; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  [ -x "$PGBIN/initdb" ] || { echo "pg_tmp: $PGBIN/initdb not found (run scripts/deps.sh)" >&2; exit 1; }
  mkdir -p "$state"
  dir=$(mktemp -d /tmp/je-pg-XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  chmod 700 "$dir"
  echo "$dir" > "$state/dir"
  as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-instructions \
    > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300 \
         -c shared_buffers=128MB -c log_min_messages=warning" > /dev/null; then
      echo "$port" > "$state/port"
      echo "postgres://postgres@127.0.0.1:$port/postgres" > "$state/url"
      cat "$state/url"
      exit 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
  ;;
stop)
  [ -f "$state/dir" ] || exit 0
  dir=$(cat "$state/dir")
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
  case "$dir" in /tmp/je-pg-*) rm -rf "$dir" ;; esac
  rm -f "$state/dir" "$state/url" "$state/port"
  ;;
ctl)
  dir=$(cat "$state/dir")
  shift 2
  port=$(cat "$state/port")
  if [ "${1:-}" = start ] || [ "${1:-}" = restart ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 "$@" -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300 \
       -c shared_buffers=128MB -c log_min_messages=warning" > /dev/null
  else
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -w "$@" > /dev/null
  fi
  ;;
*)
  echo "usage: $0 start|stop|ctl STATE [ARGS...]" >&2; exit 2 ;;
esac
