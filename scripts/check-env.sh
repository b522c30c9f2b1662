#!/usr/bin/env bash
# Says plainly why the real-kernel tests and the demo cannot run here, if they cannot.
# The kernel's features (5.8+: the BPF ring buffer) are probed by the package itself
# (checkKernel, which the tests' TestMain runs), not read off uname: kernels carry backports.
set -euo pipefail
fail() { echo "exitsnoop: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "the tests and the demo load BPF programs: run them as root (sudo make test)"
[ -r /sys/kernel/btf/vmlinux ] || fail "this kernel has no BTF (/sys/kernel/btf/vmlinux): exitsnoop needs CONFIG_DEBUG_INFO_BTF=y, kernel 5.8+"
if ! grep -q '^CapEff:.*' /proc/self/status || [ "$(( 0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 39 & 1 ))" -ne 1 ]; then
	fail "no CAP_BPF in this process's effective capabilities: BPF programs cannot be loaded"
fi
