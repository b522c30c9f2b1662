#!/usr/bin/env bash
# Usage: vmtest/rootfs.sh
# Prepares (once, then from the cache) the root file system of VMTEST_ARCH's guests where that
# is not the host's architecture (a guest of the host's architecture shares the host's root),
# and prints its path: $VMTEST_CACHE/rootfs/<suite>-<arch>.
#
# It is Debian: the packages below, of the host's suite and VMTEST_ARCH, with their whole
# dependency closure (resolved by apt, checked against the suite's signed Release file) and
# unpacked with dpkg-deb -x (scripts/debian.sh). No maintainer script runs (they would need
# the guest's CPU), so the little they would do that the guest needs is done here.
# virtme-ng shares it read-only with the guest (vng --root) and mounts tmpfs and overlays
# where the guest writes (/run, /tmp, /etc, /var, ...), as it does with the host's root.
set -euo pipefail
# shellcheck source=vmtest/lib.sh
. "$(dirname "$0")/lib.sh"

pkgs=(
	base-files base-passwd bash coreutils dash findutils grep sed mawk # guest.sh, virtme-init
	mount util-linux procps kmod udev # virtme-init (udev names the virtio ports of vng --exec)
	busybox-static # virtme-ng's initramfs, and poweroff
	gcc libc6-dev  # exitsnoop's TestMain compiles testdata/scenario.c; gcc brings libasan8
	file           # the CLI's TestStaticBinary
)
suite=$(host_suite)
root=$VMTEST_CACHE/rootfs/$suite-$VMTEST_ARCH
# rebuilt when this script (packages, fix-ups) or the private apt configuration changes
want="$(cat "$0" "$(dirname "$0")/../scripts/debian.sh" | sha256sum | cut -d' ' -f1) $suite $VMTEST_ARCH"
if [ "$(cat "$root/.ready" 2>/dev/null)" = "$want" ]; then
	echo "$root"
	exit 0
fi

t0=$SECONDS
log "making the $VMTEST_ARCH guests' root file system (Debian $suite) in $root"
rm -rf "$root" "$root.tmp"
extract_debs --deps "$suite" "$VMTEST_ARCH" "$root.tmp" "${pkgs[@]}"
r=$root.tmp
# what base-passwd's, mawk's (alternatives) and busybox's post-installation would have done
cp "$r/usr/share/base-passwd/passwd.master" "$r/etc/passwd"
cp "$r/usr/share/base-passwd/group.master" "$r/etc/group"
ln -sfn mawk "$r/usr/bin/awk"
for a in poweroff reboot ip hostname; do # virtme-init's, which no package here has
	[ -e "$r/sbin/$a" ] || [ -e "$r/bin/$a" ] || [ -e "$r/usr/bin/$a" ] || ln -s /bin/busybox "$r/sbin/$a"
done
# what virtme-init mounts on (overlays, tmpfs, bind mounts), and a root entry
mkdir -p "$r"/{dev,proc,sys,run,tmp,mnt,root,opt,srv,home,var/tmp,etc/lvm,lib/modules}
chmod 1777 "$r/tmp" "$r/var/tmp"
touch "$r"/etc/{fstab,shadow,sudoers}
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost\n' >"$r/etc/hosts"
rm -rf "$r"/usr/share/{doc,man,info,locale}
mv "$r" "$root"
echo "$want" >"$root/.ready"
log "root file system ready in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1), $(wc -l <"$root/.debs") packages)"
echo "$root"
