#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of tests/fuzz (in $BUILD_FUZZ, with clang) and
# runs each for a bounded time or number of runs, two at a time, niced; prints one line per
# target (executions, libFuzzer's final cov: and ft:, exec/s) and fails when one crashed.
#
#   scripts/fuzz.sh [--seconds N | --runs N] [--jobs N] [--keep] [TARGET...]
#
#   --seconds N  each target runs N seconds (default: FUZZ_SECONDS, else 20)
#   --runs N     each target runs N executions instead (the figures of tests/fuzz/README.md)
#   --jobs N     targets run at once (default 2)
#   --keep       a long run (make fuzz): grows a corpus kept in $BUILD_FUZZ/fuzz/long/corpus/NAME
#                from run to run. Without it (make test) each target starts from a fresh copy of
#                its seeds, removed afterwards. Neither writes into tests/fuzz.
#
# A crash, a sanitizer report, a leak or a broken property stops that target; its input is in
# $BUILD_FUZZ/fuzz/{short,long}/artifacts/NAME/, its log in .../logs/NAME.log (how to replay:
# tests/fuzz/README.md). Short and long runs keep apart, so make test can run during make fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
ALL=(token quota_body job_body backfill_body dedup_body request jwt jcs export config)

seconds=${FUZZ_SECONDS:-20} runs="" jobs=2 keep=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

OUT=$ROOT/$BUILD_FUZZ/fuzz/$([ "$keep" = 1 ] && echo long || echo short)
mkdir -p "$OUT/logs" "$OUT/corpus" "$OUT/artifacts"
if ! { [ -f "$BUILD_FUZZ/build.ninja" ] || CC=clang cmake -S . -B "$BUILD_FUZZ" -G Ninja \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJE_FUZZ=ON; } >"$OUT/logs/build.log" 2>&1 ||
   ! nice cmake --build "$BUILD_FUZZ" -j2 --target fuzz_all >>"$OUT/logs/build.log" 2>&1; then
  cat "$OUT/logs/build.log" >&2
  echo "fuzz: the build failed" >&2
  exit 1
fi
# Leaks are checked (LSan); a smaller quarantine and no fill of new blocks: about a third
# faster, and two targets at once stay well under 1 GB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:max_malloc_fill_size=0:malloc_context_size=8:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local name=$1 bin=$ROOT/$BUILD_FUZZ/tests/fuzz/fuzz_$1 corpus log=$OUT/logs/$1.log
  if [ "$keep" = 1 ]; then
    corpus=$OUT/corpus/$name
    mkdir -p "$corpus"
  else
    corpus=$(mktemp -d "$OUT/corpus/$name.XXXXXX")
  fi
  cp -n "$ROOT/tests/fuzz/corpus/$name/"* "$corpus/" 2>/dev/null || true
  mkdir -p "$OUT/artifacts/$name"
  local limit=(-max_total_time="$seconds")
  [ -n "$runs" ] && limit=(-runs="$runs")
  local extra=()
  [ "$name" = config ] && extra=(-close_fd_mask=2) # serve's error messages: one per input
  local rc=0
  (cd "$OUT/artifacts/$name" && nice -n 10 "$bin" "${limit[@]}" "${extra[@]}" \
    -dict="$ROOT/tests/fuzz/$name.dict" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$name/" "$corpus") >"$log" 2>&1 || rc=$?
  [ "$keep" = 1 ] || rm -rf "$corpus"
  local done_line execs
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" = 0 ] && [ -n "$done_line" ]; then
    printf '%-14s %12s execs  %s\n' "$name" "${execs:-?}" \
      "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+|exec/s: [0-9]+' | tr '\n' ' ')"
  else
    printf '%-14s FAILED (exit %s): see %s and %s\n' "$name" "$rc" "$log" "$OUT/artifacts/$name/"
    grep -m3 -E 'ERROR|runtime error|fuzz.*check|fuzz_[a-z_]+: ' "$log" | sed 's/^/    /' || true
    return 1
  fi
}

start=$(date +%s)
status=$(mktemp -d)
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (if run_one "$t"; then s=0; else s=1; fi; echo "$s" >"$status/$t") &
done
wait
failed=0
for t in "${targets[@]}"; do [ "$(cat "$status/$t" 2>/dev/null)" = 0 ] || failed=1; done
rm -rf "$status"
echo "fuzz: ${#targets[@]} targets in $(( $(date +%s) - start )) s$([ "$failed" = 0 ] && echo ', all clean' || echo ', FAILED')"
exit "$failed"
