#!/usr/bin/env bash
# Builds examples/consumer, a module of its own that imports exitsnoop.dev/exitsnoop, by
# the README's recipe alone: the shell block after the "consumer recipe" marker of
# README.md ("Using exitsnoop from your own module"), run as written in the consumer's
# directory, with HOME set to OUT/home (so libbpf is installed in OUT/home/.local and
# built in OUT/home/.cache; Go keeps its own caches). Then it checks the binaries with
# file and ldd: myshim-static is static, myshim has libbpf linked in.
# With --run (as root) it also runs both against the kernel: a traced `sh -c 'exit 7'`
# must be read as "exited 7", a SIGKILLed one as "killed by SIGKILL", and nothing may
# stay mounted.
#
#   consumer.sh [--run] OUT        (make consumer, make consumer-test)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "consumer: $*" >&2; exit 1; }

run=no
[ "${1:-}" = --run ] && { run=yes; shift; }
[ $# -eq 1 ] || fail "usage: scripts/consumer.sh [--run] OUT"
out=$(realpath -m "$1")
command -v go >/dev/null || fail "no go in PATH (Go is in /usr/local/go/bin after a standard install)"

recipe=$(awk '/<!-- consumer recipe/ { marked = 1; next }
	marked && /^```sh$/ { inblock = 1; next }
	inblock && /^```$/ { exit }
	inblock' README.md)
[ -n "$recipe" ] || fail "README.md has no shell block after a '<!-- consumer recipe' marker"

echo "== the README's recipe, in examples/consumer (HOME=$out/home)"
# Nothing of our Makefile's: its cgo flags and make's own variables stay out.
unset CGO_CFLAGS CGO_LDFLAGS PKG_CONFIG_PATH MAKEFLAGS MFLAGS MAKELEVEL
for v in GOPATH GOMODCACHE GOCACHE GOENV; do
	val=$(go env "$v")
	export "$v=$val"
done
export EXITSNOOP_CACHE=${EXITSNOOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exitsnoop}
mkdir -p "$out/home"
rm -f examples/consumer/myshim examples/consumer/myshim-static
(cd examples/consumer && HOME="$out/home" bash -euxo pipefail -c "$recipe")
mv examples/consumer/myshim examples/consumer/myshim-static "$out/"

echo "== file and ldd"
static_file=$(file -b "$out/myshim-static")
case $static_file in *"statically linked"*) ;; *) fail "myshim-static is not static: file says: $static_file" ;; esac
if static_ldd=$(ldd "$out/myshim-static" 2>&1); then
	fail "myshim-static has dynamic dependencies: $static_ldd"
fi
case $static_ldd in *"not a dynamic executable"*) ;; *) fail "ldd myshim-static: $static_ldd" ;; esac
echo "myshim-static: file: ${static_file%%, BuildID*}; ldd: $(echo "$static_ldd" | tr -d '\t')"
dynamic_ldd=$(ldd "$out/myshim") || fail "ldd myshim failed"
if echo "$dynamic_ldd" | grep libbpf >&2; then
	fail "myshim loads libbpf dynamically: the recipe should link libbpf.a"
fi
echo "myshim: ldd: $(echo "$dynamic_ldd" | awk '{ print $1 }' | tr '\n' ' ')"

[ $run = yes ] || exit 0

echo "== run both against the kernel ($(uname -r))"
bash scripts/check-env.sh
mounts_before=$(grep -c exitsnoop-consumer- /proc/mounts || true)
for bin in myshim myshim-static; do
	for c in 'exit 7:exited 7' 'kill -KILL $$:killed by SIGKILL'; do
		script=${c%%:*} want=${c#*:}
		echo "\$ $bin sh -c '$script'"
		got=$("$out/$bin" sh -c "$script") || fail "$bin sh -c '$script' failed: $got"
		echo "$got"
		case $got in *" $want (wait status "*) ;; *) fail "$bin sh -c '$script': want \"$want\", got: $got" ;; esac
	done
done
[ "$(grep -c exitsnoop-consumer- /proc/mounts || true)" = "$mounts_before" ] ||
	fail "a bpffs stayed mounted: $(grep exitsnoop-consumer- /proc/mounts)"
echo "== consumer: built by the README's recipe, dynamic and static; both read their children's exits"
