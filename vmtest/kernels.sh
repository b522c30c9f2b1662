#!/usr/bin/env bash
# Usage: vmtest/kernels.sh SERIES
# Fetches (once, then from the cache) the Debian kernel of SERIES named in vmtest/kernels.conf
# for the architecture VMTEST_ARCH (default: the host's) and prepares it for virtme-ng; prints
# "<kernel release> <path of vmlinuz> <note>" on stdout, <note> being "pinned", or
# "NOT-PINNED:<package>=<version>" when the mirror has moved on.
#
# Cache: $VMTEST_CACHE/kernels/<package>_<version>/root, laid out as a tiny root file system:
#   root/lib/modules/<release>/{vmlinuz,config,kernel/...,modules.dep}
# virtme-ng looks for the modules of a kernel image in <dir>/lib/modules/<release>, where <dir> is
# the closest parent of the image that has lib/modules, so vmlinuz lives inside that tree.
# Modules are decompressed (virtme-ng's initramfs cannot load .ko.xz/.ko.zst) and depmod'ed.
# kernels.conf names amd64 packages; another architecture takes the same package of its own
# flavour (linux-image-6.1.0-50-amd64 -> linux-image-6.1.0-50-arm64), same version.
set -euo pipefail
# shellcheck source=vmtest/lib.sh
. "$(dirname "$0")/lib.sh"

series=${1:?usage: kernels.sh SERIES}
conf=${VMTEST_KERNELS_CONF:-$VMTEST_DIR/kernels.conf}
read -r _ suite pin_pkg pin_ver < <(awk -v s="$series" '$1==s {print; exit}' "$conf") ||
	die "series '$series' is not in $conf (known: $(awk '!/^#/ && NF {printf "%s ", $1}' "$conf"))"
kcache=$VMTEST_CACHE/kernels
tag=$series # what a prepared kernel's "series" file says: one kernel per series and arch
if [ "$VMTEST_ARCH" != amd64 ]; then
	pin_pkg=${pin_pkg%amd64}$VMTEST_ARCH tag+=" $VMTEST_ARCH"
fi

loud() {
	{
		echo "vmtest: ################################################################"
		printf 'vmtest: !!! %s\n' "$@"
		echo "vmtest: ################################################################"
	} >&2
}

ready() { [ -f "$kcache/$1_$2/ready" ]; }
emit() { # PKG VERSION
	local note=pinned
	[ "$1=$2" = "$pin_pkg=$pin_ver" ] || note="NOT-PINNED:$1=$2"
	echo "$(cat "$kcache/$1_$2/ready") $note"
}

# flavour of a package name: linux-image-6.12.117+deb13-amd64 -> amd64, ...-cloud-amd64 -> cloud-amd64
flavour=$(sed -E 's/^linux-image-[0-9.]+(-[0-9]+)?(\+[a-z0-9]+)?-//' <<<"$pin_pkg")

# newest_in_suite REGEX: newest "package version" among linux-image-* names matching REGEX.
newest_in_suite() {
	local best_pkg="" best_ver="" p v
	for p in $(apt-cache "${APT_OPTS[@]}" pkgnames linux-image- | grep -E "$1" || true); do
		v=$(apt-cache "${APT_OPTS[@]}" show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
		[ -n "$v" ] || continue
		if [ -z "$best_ver" ] || dpkg --compare-versions "$v" gt "$best_ver"; then
			best_pkg=$p best_ver=$v
		fi
	done
	[ -n "$best_pkg" ] && echo "$best_pkg $best_ver"
}

prepare() { # PKG VERSION: download, verify (apt), unpack and fix up into the cache
	local pkg=$1 ver=$2 dir=$kcache/$1_$2 tmp d kver img t0=$SECONDS
	tmp=$dir.tmp && rm -rf "$tmp" "$dir" && mkdir -p "$tmp/debs" "$tmp/root"
	# sid splits the kernel into linux-binary-*, linux-modules-*, linux-base-* (exact versions)
	local -a deps
	mapfile -t deps < <(apt-cache "${APT_OPTS[@]}" show "$pkg=$ver" | sed -n 's/^Depends: //p' | head -n1 |
		tr ',' '\n' | sed -nE 's/^ *(linux-(binary|modules|base)-[^ ]+).*/\1/p')
	log "downloading $pkg=$ver ${deps[*]:+(+ ${deps[*]}) }from Debian $suite"
	(cd "$tmp/debs" && apt-get "${APT_OPTS[@]}" download -qq "$pkg=$ver" "${deps[@]/%/=$ver}" >&2) ||
		die "apt-get download $pkg=$ver ${deps[*]} failed"
	for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
	# usr-merged packages (sid) ship /usr/lib/modules: move it where virtme-ng looks
	if [ -d "$tmp/root/usr/lib/modules" ]; then
		mkdir -p "$tmp/root/lib/modules"
		mv "$tmp"/root/usr/lib/modules/* "$tmp/root/lib/modules/"
	fi
	kver=$(ls "$tmp/root/lib/modules")
	[ "$(wc -w <<<"$kver")" -eq 1 ] || die "$pkg: expected one lib/modules/<release>, found: $kver"
	local m=$tmp/root/lib/modules/$kver
	for img in "$tmp/root/boot/vmlinuz-$kver" "$m/vmlinuz"; do
		[ -f "$img" ] && break
	done
	[ -f "$img" ] || die "$pkg: no vmlinuz found"
	[ "$img" = "$m/vmlinuz" ] || mv "$img" "$m/vmlinuz"
	for d in "$tmp/root/boot/config-$kver" "$m/config"; do
		[ -f "$d" ] && { [ "$d" = "$m/config" ] || mv "$d" "$m/config"; } && break
	done
	find "$m" -name '*.ko.xz' -print0 | xargs -0 -r -P"$(nproc)" -n64 xz -d
	find "$m" -name '*.ko.zst' -print0 | xargs -0 -r -P"$(nproc)" -n64 zstd -q -d --rm
	depmod -a -b "$tmp/root" "$kver"
	if [ -f "$m/config" ]; then
		grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$m/config" || log "WARNING: $kver has no CONFIG_DEBUG_INFO_BTF=y"
		grep -qE '^CONFIG_NET_9P=[ym]' "$m/config" || die "$kver has no 9P support: virtme-ng cannot boot it (use another flavour)"
	fi
	rm -rf "$tmp/debs" "$tmp/root/usr/share/doc" "$tmp/root/usr/lib/modules"
	mv "$tmp" "$dir"
	echo "$kver $dir/root/lib/modules/$kver/vmlinuz" >"$dir/ready.tmp" && mv "$dir/ready.tmp" "$dir/ready"
	echo "$tag" >"$dir/series"
	log "prepared $kver in $((SECONDS - t0)) s ($(du -sh "$dir" | cut -f1)) -> $dir"
	# keep the cache bounded: one kernel per series (and architecture)
	for d in "$kcache"/*/series; do
		[ -f "$d" ] && [ "$(cat "$d")" = "$tag" ] && [ "${d%/series}" != "$dir" ] && rm -rf "${d%/series}"
	done
	return 0
}

# 1. the pinned kernel, already prepared: no network at all
if ready "$pin_pkg" "$pin_ver"; then
	emit "$pin_pkg" "$pin_ver"
	exit 0
fi

# 2. ask the mirror
if ! (apt_update "$suite" 60 "$VMTEST_ARCH"); then
	for d in "$kcache"/*/series; do # offline: any prepared kernel of the series will do
		if [ -f "$d" ] && [ "$(cat "$d")" = "$tag" ] && [ -f "${d%/series}/ready" ]; then
			loud "cannot reach Debian's mirror; using the cached ${d%/series} instead of $pin_pkg=$pin_ver"
			b=$(basename "${d%/series}") # <package>_<version>
			emit "${b%%_*}" "${b#*_}"
			exit 0
		fi
	done
	die "cannot fetch the $series kernel: the mirror is unreachable and nothing is cached"
fi
apt_opts "$suite" "$VMTEST_ARCH"
if apt-cache "${APT_OPTS[@]}" show "$pin_pkg=$pin_ver" >/dev/null 2>&1; then
	pkg=$pin_pkg ver=$pin_ver
else
	re_series=${series//./\\.}
	found=$(newest_in_suite "^linux-image-${re_series}[.-][0-9.]*(-[0-9]+)?(\+[a-z0-9]+)?-${flavour}\$") || true
	if [ -n "$found" ]; then
		read -r pkg ver <<<"$found"
		loud "Debian $suite no longer has the pinned $pin_pkg=$pin_ver" \
			"USING THE NEWEST $series KERNEL INSTEAD: $pkg=$ver" \
			"update the $series line of vmtest/kernels.conf to: $series $suite ${pkg%"$VMTEST_ARCH"}amd64 $ver"
	else
		found=$(newest_in_suite "^linux-image-[0-9.]+(-[0-9]+)?(\+[a-z0-9]+)?-${flavour}\$") ||
			die "Debian $suite has no linux-image-*-$flavour kernel at all"
		read -r pkg ver <<<"$found"
		loud "Debian $suite no longer has ANY $series kernel (pinned: $pin_pkg=$pin_ver)" \
			"USING THE SUITE'S NEWEST KERNEL INSTEAD: $pkg=$ver" \
			"update vmtest/kernels.conf (series, package, version) to the kernel Debian ships now"
	fi
fi
ready "$pkg" "$ver" || prepare "$pkg" "$ver"
emit "$pkg" "$ver"
