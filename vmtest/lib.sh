# shellcheck shell=bash disable=SC2034
# Shared helpers for vmtest/*.sh (sourced, not run): messages and Debian packages through
# a private apt configuration per suite and architecture (scripts/debian.sh); the system's
# apt config is never touched.

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=vmtest
# shellcheck source=scripts/debian.sh
. "$VMTEST_DIR/../scripts/debian.sh"
VMTEST_CACHE=$EXITSNOOP_CACHE_DIR
# The guests' architecture (Debian's name): the host's, or another one under emulation.
export VMTEST_ARCH=${VMTEST_ARCH:-$HOST_ARCH}

# has_top_result JSON: whether test2json's JSON holds a top-level test's pass or fail (not a
# subtest's). One awk on a here-string, no pipe: under pipefail a `grep | grep -q` fails at
# random when -q stops reading a large output early (the writer dies of SIGPIPE).
has_top_result() {
	awk '/"Action":"(pass|fail)"/ && /"Test":"[^"\/]*"/ { found = 1; exit } END { exit !found }' <<<"$1"
}

# failed_output TEST RAW...: the last 40 lines a failed top-level test printed, from its
# "=== RUN" to its "--- FAIL", in the guest's raw -test.v=test2json outputs (^V framing
# removed), each line indented: what a CI log shows of a failure in a VM.
failed_output() {
	local t=$1
	shift
	awk -v t="$t" '{ sub(/^\026/, "") }
		$0 == "=== RUN   " t { on = 1; n = 0 }
		on { line[n++ % 40] = $0 }
		on && index($0, "--- FAIL: " t " ") == 1 { on = 0; done = 1; exit }
		END { if (done) for (i = (n > 40 ? n - 40 : 0); i < n; i++) print "    | " line[i % 40] }' "$@"
}
