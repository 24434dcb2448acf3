#!/bin/sh
# long_run.sh - the longer fuzzing run whose figures are in bench/fuzz.md.
#
#   tests/fuzz/long_run.sh [seconds per target (default 300)] [target...]
#
# Builds the fuzz targets (clang, -DVECMIG_FUZZ=ON) in build/fuzz-long,
# fuzzes each target in turn (one core) for the given time from its seed
# corpus, keeping what it finds in build/fuzz-long/tests/fuzz/work/<target>/
# corpus across runs, and prints one markdown table row per target: seconds,
# executions, executions per second, corpus (inputs / bytes), libFuzzer's
# cov: and ft: from its final line, and the result. A crash, leak, sanitizer
# report or failed invariant leaves the input in work/<target>/ and the log
# in work/<target>.log; the script goes on with the next target and exits 1
# at the end.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-300}
[ $# -gt 0 ] && shift
build=${VECMIG_FUZZ_LONG_DIR:-$root/build/fuzz-long}
gen=""
command -v ninja >/dev/null && gen="-G Ninja"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" $gen -DCMAKE_C_COMPILER=clang -DVECMIG_FUZZ=ON \
      -DVECMIG_TESTS=OFF >/dev/null
cmake --build "$build" --target vecmig_fuzz -j "$(nproc)" >/dev/null
targets=${*:-$(cd "$root/tests/fuzz/corpus" && ls -d fuzz_* | grep -v '\.dict$')}
bin=$build/tests/fuzz
failed=0
echo "| target | seconds | execs | execs/s | corpus | cov | ft | result |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for t in $targets; do
  work=$bin/work/$t
  mkdir -p "$work"
  start=$(date +%s)
  rc=0
  VECMIG_FUZZ_KEEP=1 VECMIG_FUZZ_SECONDS=$secs \
    "$root/tests/fuzz/run.sh" "$bin/$t" "$root/tests/fuzz/corpus/$t" "$work" \
    >"$work.log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  done_line=$(grep -a "$(printf '\t')DONE" "$work.log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work.log" | tail -n 1)
  cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$done_line" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
  if [ "$rc" = 0 ]; then
    result=ok
  else
    failed=1
    result="FAILED (exit $rc): $(grep -a -m1 -E 'ERROR:|invariant failed|runtime error' "$work.log" | cut -c1-120)"
  fi
  echo "| $t | $took | ${execs:-?} | ${rate:-?} | ${corp:-?} | ${cov:-?} | ${ft:-?} | $result |"
done
exit $failed
