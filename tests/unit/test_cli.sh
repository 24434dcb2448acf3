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
# cancel / resume: usage errors (2) before any store is touched
tmp=$(mktemp -d)
check 2 "usage: vecmig cancel" cancel
check 2 "no state file $tmp/none.db" cancel somejob --state-file "$tmp/none.db"
check 2 "name the state store once" cancel somejob --state-file a.db --redis redis://x
check 2 "not a job id" cancel 'bad{id}' --state-file "$tmp/none.db"
check 2 "wait: expected" cancel somejob --wait soon
check 2 "usage: vecmig resume" resume
check 2 "the job file is needed" resume somejob
check 2 "workers: expected" resume somejob --workers -1
# report: usage errors, and a report file rendered (escaped) without a store
check 2 "usage: vecmig report" report
check 2 "format: expected" report somejob --format pdf
check 2 "no state file $tmp/none.db" report somejob --state-file "$tmp/none.db"
check 2 "name the report once" report somejob --from a.json --redis redis://x
printf '{"job":"j1","verdict":"ok","tasks":[],"source_error":"<b>x|y</b>"}' > "$tmp/r.json"
check 0 "# Migration report: j1" report --from "$tmp/r.json" --format md
check 0 '&lt;b>x\\|y&lt;/b>' report --from "$tmp/r.json" --format md
check 0 "<title>Migration report: j1</title>" report --from "$tmp/r.json" --format html
check 2 "report of job 'j1', not 'other'" report other --from "$tmp/r.json"
check 2 "report-format: expected" migrate x.yaml --report-format pdf
# --log-level / VECMIG_LOG_LEVEL: checked before anything runs
check 2 "VECMIG_LOG_LEVEL: expected" plan x.yaml --log-level loud
rm -rf "$tmp"
exit $fail
