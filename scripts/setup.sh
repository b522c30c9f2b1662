#!/usr/bin/env bash
# Installs the Debian packages exitsnoop's build, tests and demo need.
# Idempotent: it does nothing when every package is already installed.
# Used by the Makefile, .ci/run and Dockerfile.builder alike.
set -euo pipefail

pkgs=(
	clang llvm            # BPF object (clang -target bpf) and llvm-strip
	libelf-dev zlib1g-dev # libbpf's link dependencies
	make pkg-config gcc libc6-dev
	git ca-certificates file binutils
	dpkg-dev              # apt-get source unpacks libbpf's Debian source
	valgrind              # the C ABI test runs under it
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing Debian packages: ${missing[*]}; run as root (or install them) and retry" >&2
	exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
