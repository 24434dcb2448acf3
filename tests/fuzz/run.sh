#!/bin/sh
# run.sh - one short libFuzzer run of a fuzz target, as a ctest test.
#
#   run.sh <target binary> <seed corpus dir> <work dir>
#
# Fuzzes for $VECMIG_FUZZ_SECONDS seconds (default 5) starting from the
# checked-in seeds, which are only read: new inputs go to <work>/corpus
# (emptied first, so every run starts from the same seeds). Exits non-zero
# on a crash, leak, sanitizer report, failed invariant or timeout; the
# input that caused it is left in <work>/ (crash-*, leak-*, timeout-*).
# $VECMIG_FUZZ_ARGS adds libFuzzer flags; VECMIG_FUZZ_KEEP=1 keeps the
# corpus of earlier runs (tests/fuzz/long_run.sh).
set -eu
bin=$1
seeds=$2
work=$3
secs=${VECMIG_FUZZ_SECONDS:-5}
[ -d "$seeds" ] || { echo "run.sh: no seed corpus $seeds" >&2; exit 1; }
[ "${VECMIG_FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work/corpus"
mkdir -p "$work/corpus"
dict=""
[ -f "$seeds.dict" ] && dict="-dict=$seeds.dict"
# Symbolized reports; the fuzzer's own options first, the caller's last.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
cd "$work"
# shellcheck disable=SC2086
exec "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" $dict ${VECMIG_FUZZ_ARGS:-} \
  "$work/corpus" "$seeds"
