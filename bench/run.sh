#!/usr/bin/env bash
# The benchmark suite (`make bench`): measures the six figures of ours against the
# reference (bench/reference/) and writes <repo>/BENCHMARKS.md and bench/charts/*.svg.
# Needs root (BPF, kernel.bpf_stats_enabled); about 6 minutes on 2 quiet cores.
#   BENCH_QUICK=1 bash bench/run.sh   a smoke run with a tenth of the work
#                                     (writes bench/out/, leaves BENCHMARKS.md alone)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (BPF programs, kernel.bpf_stats_enabled)" >&2
	exit 1
fi
[ -f "$ROOT/build/libbpf/libbpf.a" ] || make -C "$ROOT" libbpf
export CGO_CFLAGS="-I$ROOT/build/libbpf/include -I$ROOT/libbpf/include/uapi"
export CGO_LDFLAGS="$ROOT/build/libbpf/libbpf.a -lelf -lz"
TAGS=netgo,osusergo
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# What was measured: the commit, and whether files outside bench/ differed from it
# (BENCH_REV names the commit of a tree without .git, e.g. a `git archive` export).
REV="${BENCH_REV:-}"
if [ -z "$REV" ] && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	REV="$(git -C "$ROOT" rev-parse --short HEAD)"
	if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' ':!BENCHMARKS.md')" ]; then
		REV="$REV with uncommitted changes outside bench/"
	fi
fi
REV="${REV:-unknown}"

cd "$BENCH"
if command -v clang >/dev/null && command -v llvm-strip >/dev/null; then
	make -s check-bpf # the committed reference object is what its source builds
fi

if [ -n "${BENCH_QUICK:-}" ]; then
	RES=out/quick COUNT=2 BENCHTIME=0.1s QUICK=-quick
else
	RES=results COUNT=6 BENCHTIME=0.5s QUICK=
fi
mkdir -p "$RES" bin
CMDS="$RES/commands.txt"
: >"$CMDS"
# run logs each command (as run from bench/) to the commands file, then runs it
# and says on stderr how long it took.
run() {
	printf '%s\n' "$*" >>"$CMDS"
	echo "+ $*" >&2
	local start=$SECONDS rc=0
	eval "$@" || rc=$?
	echo "bench: $((SECONDS - start))s ($((SECONDS / 60))m$((SECONDS % 60))s in all)" >&2
	return $rc
}
clang --version 2>/dev/null | head -1 | sed 's/^/# /' >>"$CMDS" || true

run go build -tags $TAGS -o bin/figures ./cmd/figures
run go test -tags $TAGS ./reference ./cmd/figures
# Figure 2.
run go test -tags $TAGS -run "'^\$'" -bench . -benchmem -count $COUNT -benchtime $BENCHTIME ./cycle "| tee $RES/cycle.txt"
# go run pkg@version: benchstat is no dependency of bench/go.mod; optional offline.
if ! run go run $BENCHSTAT -col /impl $RES/cycle.txt "> $RES/benchstat.txt"; then
	echo "bench: benchstat unavailable, figure 2 keeps its own medians only" >&2
	: >"$RES/benchstat.txt"
fi
# Figures 1, 3, 4, 5, 6.
run bin/figures measure $QUICK -out $RES/figures.json
# Profiling experiments behind the analysis (bench/profile).
run PROBE_SPAWNS=$([ -n "$QUICK" ] && echo 1000 || echo 4000) go test -tags $TAGS -count 1 -v -run ProbeCosts ./profile "| tee $RES/probes.txt"
run go test -tags $TAGS -run "'^\$'" -bench TraceParts -benchtime $BENCHTIME -count $COUNT ./profile "| tee $RES/traceparts.txt"
if [ -n "${BENCH_QUICK:-}" ]; then
	run bin/figures report -results $RES -md out/BENCHMARKS.quick.md -charts out/charts -charts-link charts -notes notes.md -seconds $SECONDS -rev "'$REV'"
else
	run bin/figures report -results $RES -md ../BENCHMARKS.md -charts charts -charts-link bench/charts -notes notes.md -seconds $SECONDS -rev "'$REV'"
fi
