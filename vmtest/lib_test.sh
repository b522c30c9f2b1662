#!/usr/bin/env bash
# Checks of vmtest/lib.sh's verdict helpers, run by `make test` (no VM, no root needed).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

fail=0
check() { # WANT(0|1) NAME JSON
	local got=0
	has_top_result "$3" || got=1
	[ "$got" = "$1" ] || { echo "lib_test: has_top_result: $2: got $got, want $1" >&2; fail=1; }
}
sub='{"Action":"pass","Package":"p","Test":"TestA/sub","Elapsed":0}'
# 1 MB of subtest lines after the one top-level result: `grep | grep -q` under pipefail
# reported "no result" for this every time (the CI failure of 2026-12-04, kernel 6.1).
subs=$(awk -v l="$sub" 'BEGIN { for (i = 0; i < 15000; i++) print l }')
big=$(printf '%s\n%s' '{"Action":"pass","Package":"p","Test":"TestA","Elapsed":1}' "$subs")
check 0 "top-level pass before a large output" "$big"
check 0 "top-level fail" '{"Action":"fail","Package":"p","Test":"TestB","Elapsed":1}'
check 1 "subtests only" "$subs"
check 1 "started, never ended" '{"Action":"run","Package":"p","Test":"TestC"}'
check 1 "package result only" '{"Action":"pass","Package":"p","Elapsed":1}'
check 1 "empty" ""
# failed_output: the failed test's lines only, its last 40, framing removed
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
{
	printf '\026=== RUN   TestA\n    a.go:1: not me\n\026--- PASS: TestA (0.00s)\n'
	printf '\026=== RUN   TestB\n'
	for i in $(seq 1 50); do echo "    b.go:$i: line $i"; done
	printf '\026--- FAIL: TestB (1.00s)\n\026=== RUN   TestBC\n    c.go:1: not me either\n'
} >"$raw"
got=$(failed_output TestB "$raw")
[ "$(wc -l <<<"$got")" = 40 ] && [ "$(tail -n1 <<<"$got")" = "    | --- FAIL: TestB (1.00s)" ] &&
	grep -q "b.go:50: line 50" <<<"$got" && ! grep -q "line 11$\|not me" <<<"$got" ||
	{ echo "lib_test: failed_output: got:" >&2; echo "$got" >&2; fail=1; }
[ -z "$(failed_output TestA "$raw")" ] || { echo "lib_test: failed_output: a passed test printed" >&2; fail=1; }
[ "$fail" = 0 ] && echo "lib_test: ok"
exit "$fail"
