#!/usr/bin/env bash
# Usage: scripts/setup.sh [ARCH]
# Installs the Debian packages exitsnoop's build, tests and demo need. With an ARCH other
# than this machine's (scripts/setup.sh arm64 on amd64), also Debian's cross compiler for it
# and a sysroot of that architecture's libelf and zlib: their packages of this machine's
# suite (the cross compiler's glibc is that suite's), downloaded through a private apt
# configuration (scripts/debian.sh) and unpacked into $EXITSNOOP_CACHE/sysroot/ARCH.
# Idempotent: it does nothing when every package is already installed and the sysroot made.
# Used by the Makefile, .ci/run and Dockerfile.builder alike.
set -euo pipefail
# shellcheck source=scripts/debian.sh
. "$(dirname "$0")/debian.sh"
LOG_TAG=setup

arch=${1:-$HOST_ARCH}
pkgs=(
	clang llvm            # BPF object (clang -target bpf) and llvm-strip
	libelf-dev zlib1g-dev # libbpf's link dependencies
	make pkg-config gcc libc6-dev
	git ca-certificates file binutils
	dpkg-dev              # apt-get source unpacks libbpf's Debian source
	valgrind              # the C ABI test runs under it
)
# Debian's cross toolchains: gcc-<triplet with dashes>, libc6-dev-<arch>-cross.
case $arch in
"$HOST_ARCH") ;;
amd64) pkgs+=(gcc-x86-64-linux-gnu libc6-dev-amd64-cross) triplet=x86_64-linux-gnu ;;
arm64) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) triplet=aarch64-linux-gnu ;;
*) die "unsupported architecture '$arch': use amd64 or arm64 (Debian's names)" ;;
esac
# The sysroot: static and shared libelf and zlib, and their headers.
sysroot_pkgs=(libelf-dev libelf1 zlib1g-dev zlib1g)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages: ${missing[*]}; run as root (or install them) and retry" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$arch" != "$HOST_ARCH" ] || exit 0

sysroot=$EXITSNOOP_CACHE_DIR/sysroot/$arch
# remade when a package has a newer version (a security fix) or these scripts change
want="$(host_suite) $(candidates "$(host_suite)" "$arch" "${sysroot_pkgs[@]}" | paste -sd' ') $(cat "$0" "$(dirname "$0")/debian.sh" | sha256sum | cut -c1-16)"
[ "$(cat "$sysroot/.ready" 2>/dev/null)" != "$want" ] || exit 0
log "making the $arch sysroot (Debian $(host_suite): ${sysroot_pkgs[*]}) in $sysroot"
rm -rf "$sysroot"
extract_debs "$(host_suite)" "$arch" "$sysroot" "${sysroot_pkgs[@]}"
# links to absolute paths (libz.so -> /lib/<triplet>/libz.so.1.2.13) point into the sysroot
find "$sysroot" -type l -lname '/*' -printf '%p %l\n' | while read -r link target; do
	ln -sfn "$sysroot$target" "$link"
done
for f in libelf.a libz.a; do
	[ -f "$sysroot/usr/lib/$triplet/$f" ] || die "the $arch sysroot has no usr/lib/$triplet/$f"
done
echo "$want" >"$sysroot/.ready"
