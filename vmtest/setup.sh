#!/usr/bin/env bash
# Installs what vmtest/run.sh needs: QEMU (for VMTEST_ARCH's guests), virtme-ng and the guest's
# helpers.
# Idempotent: does nothing when everything is already there.
# virtme-ng is not in bookworm: its architecture-independent .deb is taken from trixie with a
# private apt sources list (verified by apt against Debian's signed Release files) and
# installed with dpkg after its dependencies are installed from the system's own suite.
set -euo pipefail
# shellcheck source=vmtest/lib.sh
. "$(dirname "$0")/lib.sh"

VNG_SUITE=trixie
VNG_VERSION=1.35-1

# qemu + busybox-static + udev are what virtme-ng needs at run time (without udev the guest
# prints "cannot find script I/O ports"); xz-utils/zstd unpack kernel modules; the python3
# packages, file and kmod are virtme-ng 1.35's own Depends.
deps=(qemu-system-x86 busybox-static udev kmod file xz-utils zstd
	python3 python3-argcomplete python3-pkg-resources python3-requests)
case $VMTEST_ARCH in
amd64) ;;
arm64) deps+=(qemu-system-arm) ;; # qemu-system-aarch64
*) die "no VM support for VMTEST_ARCH=$VMTEST_ARCH (supported: amd64 arm64)" ;;
esac

missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
have_vng=$(dpkg-query -W -f='${Status} ${Version}\n' virtme-ng 2>/dev/null || true)
if [ ${#missing[@]} -eq 0 ] && [ "$have_vng" = "install ok installed $VNG_VERSION" ] && command -v vng >/dev/null; then
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "setup.sh must run as root to install packages (missing: ${missing[*]:-} virtme-ng)"

mkdir -p "$VMTEST_CACHE"
slog=$VMTEST_CACHE/setup.log
quiet() { # run a command with its output in $slog, shown only when it fails
	"$@" >>"$slog" 2>&1 || { tail -n 30 "$slog" >&2; return 1; }
}
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]} (log: $slog)"
	export DEBIAN_FRONTEND=noninteractive
	quiet apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		{ quiet apt-get update -q && quiet apt-get install -y -q --no-install-recommends "${missing[@]}"; } ||
		die "apt-get install ${missing[*]} failed"
fi

if [ "$have_vng" != "install ok installed $VNG_VERSION" ]; then
	apt_update "$VNG_SUITE" 1440 || die "cannot reach Debian $VNG_SUITE to fetch virtme-ng"
	dl=$VMTEST_CACHE/debs && mkdir -p "$dl"
	deb=$dl/virtme-ng_${VNG_VERSION}_all.deb
	if [ ! -s "$deb" ]; then
		log "downloading virtme-ng $VNG_VERSION from Debian $VNG_SUITE"
		(cd "$dl" && apt-get "${APT_OPTS[@]}" download -qq "virtme-ng=$VNG_VERSION" >&2) ||
			die "cannot download virtme-ng=$VNG_VERSION from $VNG_SUITE"
	fi
	log "installing $(basename "$deb")"
	quiet dpkg -i "$deb" || die "dpkg -i $deb failed"
fi
command -v vng >/dev/null || die "vng not found after installing virtme-ng"
log "$(vng --version 2>/dev/null | head -n1) ready"
