#!/usr/bin/env bash
# The supervisor example survives its own SIGKILL: restarted, it prints the exact
# status of the command it started (run by `make -C cgo test`, and in each VM of
# `make vmtest`, as root). SUPERVISOR: the binary (the Makefile bakes it in).
set -euo pipefail
sup=${SUPERVISOR:-@SUPERVISOR@}
root=$(mktemp -d /tmp/exitsnoop-sup-XXXXXX)
state=$root.state
trap '"$sup" -r "$root" -u >/dev/null 2>&1 || true; rmdir "$root"; rm -f "$state"' EXIT
fail() { echo "supervisor-test: $*" >&2; exit 1; }

# 1. Killed while its command runs; the restart reads the exit the tracer recorded.
"$sup" -r "$root" -s "$state" -- sh -c 'sleep 2; exit 7' &
sup_pid=$!
for _ in $(seq 100); do [ -s "$state" ] && break; sleep 0.1; done
[ -s "$state" ] || fail "no state file"
read -r pid _ <"$state"
kill -KILL "$sup_pid"
wait "$sup_pid" 2>/dev/null || true
kill -0 "$pid" || fail "the command died with the supervisor"
rc=0
out=$("$sup" -r "$root" -s "$state") || rc=$?
echo "$out"
[ "$rc" = 7 ] && [[ $out == "pid $pid "*" exited 7" ]] || fail "after a restart: exit $rc, '$out'"
[ ! -e "$state" ] || fail "state file left"

# 2. A run to the end; the command killed by a signal.
rc=0
out=$("$sup" -r "$root" -s "$state" -- sh -c 'kill -KILL $$') || rc=$?
echo "$out"
[ "$rc" = 137 ] && [[ $out == *"killed by signal 9 "* ]] || fail "a killed command: exit $rc, '$out'"
echo "supervisor-test: ok"
