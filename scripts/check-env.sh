#!/usr/bin/env bash
# Says plainly why the real-kernel tests and the demo cannot run here, if they cannot.
set -euo pipefail
fail() { echo "exitsnoop: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "the tests and the demo load BPF programs: run them as root (sudo make test)"
[ -r /sys/kernel/btf/vmlinux ] || fail "this kernel has no BTF (/sys/kernel/btf/vmlinux): exitsnoop needs CONFIG_DEBUG_INFO_BTF=y, kernel 5.8+"
IFS=. read -r major minor _ < <(uname -r)
if [ "$major" -lt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -lt 8 ]; }; then
	fail "kernel $(uname -r) is too old: exitsnoop needs 5.8+"
fi
if ! grep -q '^CapEff:.*' /proc/self/status || [ "$(( 0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 39 & 1 ))" -ne 1 ]; then
	fail "no CAP_BPF in this process's effective capabilities: BPF programs cannot be loaded"
fi
