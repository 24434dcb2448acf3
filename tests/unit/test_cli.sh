#!/usr/bin/env bash
# test_cli.sh - `vecmig --help` and `vecmig <cmd> --help` work for every
# subcommand; unknown commands and missing arguments are usage errors (2);
# commands not built yet say so and exit 3.
set -u
bin=$1
fail=0
check() { # check <expected-rc> <grep-pattern> <args...>
  local want=$1 pat=$2; shift 2
  local out rc
  out=$("$bin" "$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL: vecmig $*: exit $rc, want $want"; fail=1; return; fi
  if ! grep -q -- "$pat" <<<"$out"; then echo "FAIL: vecmig $*: output lacks '$pat'"; echo "$out"; fail=1; return; fi
  echo "ok: vecmig $*"
}
check 0 "usage: vecmig <command>" --help
check 0 "vecmig " --version
check 2 "usage: vecmig <command>"
check 2 "unknown command 'frobnicate'" frobnicate
for cmd in migrate plan coordinator worker status cancel resume report; do
  check 0 "usage: vecmig $cmd" "$cmd" --help
  check 0 "usage: vecmig $cmd" help "$cmd"
  "$bin" --help | grep -q "^  $cmd " || { echo "FAIL: --help does not list $cmd"; fail=1; }
done
exit $fail
