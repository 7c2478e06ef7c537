#!/usr/bin/env bash
# `make soak`: the crash loop of tests/api/test_crash_loop.py with many kills, on SQLite and then
# on a throwaway PostgreSQL (scripts/pg_tmp.sh, started here and stopped on exit, also on Ctrl-C).
#
#   SOAK_KILLS   kills per backend (default 100)
#   JE_CRASH_SEED  replays a run (each run prints its seed first)
#   BUILD        the build directory holding jobengine (default build)
#
# Both backends run even when the first fails; the exit status is 1 when either failed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build=$repo/$build ;; esac
state=$build/pg-soak

export JOBENGINE_BIN=$build/jobengine PYTHONPATH=$repo/tests/api JE_TEST_TMP=$build/test-tmp
export JE_CRASH_KILLS=${SOAK_KILLS:-100}
loop() { /usr/bin/python3 -B "$repo/tests/api/test_crash_loop.py"; }

failed=0
echo "soak: $JE_CRASH_KILLS kills on SQLite"
loop || failed=1

trap 'bash "$repo/scripts/pg_tmp.sh" stop "$state"' EXIT
bash "$repo/scripts/pg_tmp.sh" stop "$state"
if bash "$repo/scripts/pg_tmp.sh" start "$state" > /dev/null; then
  echo "soak: $JE_CRASH_KILLS kills on PostgreSQL"
  JE_TEST_STORE=postgres JE_TEST_PG_STATE=$state loop || failed=1
else
  echo "soak: could not start a throwaway PostgreSQL" >&2
  failed=1
fi
[ "$failed" = 0 ] && echo "soak: both backends held" || echo "soak: FAILED" >&2
exit "$failed"
