#!/usr/bin/env bash
# Usage: vmtest/run.sh [--prepare] [SERIES...]
# Runs the project's prebuilt static test binaries inside a virtme-ng VM for each kernel of
# vmtest/kernels.conf, one VM per kernel, as root, and prints one summary line per kernel.
# Exits non-zero if any kernel fails. --prepare only installs the tools and fetches the kernels.
#
# Environment (all optional):
#   KERNELS         series to run, e.g. "6.1" (default: every line of kernels.conf); args win
#   VMTEST_ARCH     the guests' architecture: the host's (default), or arm64 on amd64 (emulated,
#                   with a Debian root of its own: vmtest/rootfs.sh)
#   VMTEST_LIST     list of "<test binary> <package dir>" lines (default build/vmtest/tests.list,
#                   build/<arch>/vmtest/tests.list for a VMTEST_ARCH other than the host's);
#                   "<binary> <dir> c": a program (a C check), passed if it exits 0
#   VMTEST_OUT      results directory (default build/vmtest/results, likewise); one subdir per series
#   VMTEST_TIMEOUT  seconds per VM, boot included (default 900)
#   VMTEST_MEM      guest memory (default 2G);  VMTEST_CPUS guest CPUs (default: host's, max 4)
#   VMTEST_APPEND   the guests' extra kernel options (default rcu_nocbs=<every CPU>: RCU
#                   callbacks offloaded, so lazy where the kernel has CONFIG_RCU_LAZY, 6.12 and 7.2)
#   VMTEST_KVM      auto (probe, default), 1 (use KVM), 0 (software emulation)
#   VMTEST_KERNELS_CONF  another kernels.conf (default vmtest/kernels.conf)
#   EXITSNOOP_CACHE cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/exitsnoop)
set -euo pipefail
{ # the whole script is read before it runs: editing it during a run is harmless
# shellcheck source=vmtest/lib.sh
. "$(dirname "$0")/lib.sh"

prepare_only=0
args=()
for a in "$@"; do
	case $a in
	--prepare) prepare_only=1 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $a (try --help)" ;;
	*) args+=("$a") ;;
	esac
done
[ ${#args[@]} -eq 0 ] || KERNELS="${args[*]}"
KERNELS=${KERNELS:-$(awk '!/^#/ && NF {printf "%s ", $1}' "${VMTEST_KERNELS_CONF:-$VMTEST_DIR/kernels.conf}")}
# the Makefile's build directory of VMTEST_ARCH: build/, or build/<arch>/ for another
bdir=build$([ "$VMTEST_ARCH" = "$HOST_ARCH" ] || echo "/$VMTEST_ARCH")
list=${VMTEST_LIST:-$bdir/vmtest/tests.list}
out=${VMTEST_OUT:-$bdir/vmtest/results}
timeout_s=${VMTEST_TIMEOUT:-900}
mem=${VMTEST_MEM:-2G}
cpus=${VMTEST_CPUS:-$(($(nproc) > 4 ? 4 : $(nproc)))}
append=${VMTEST_APPEND-rcu_nocbs=0-$((cpus - 1))}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

"$VMTEST_DIR/setup.sh"
root=/ # the guests' root: the host's, or one of their architecture
[ "$VMTEST_ARCH" = "$HOST_ARCH" ] || root=$("$VMTEST_DIR/rootfs.sh")

# ---- kernels: fetch/prepare (cached) -------------------------------------------------------
declare -A kver kimg knote
for s in $KERNELS; do
	t0=$SECONDS
	line=$("$VMTEST_DIR/kernels.sh" "$s") || die "cannot prepare the $s kernel"
	read -r "kver[$s]" "kimg[$s]" "knote[$s]" <<<"$line"
	log "kernel $s: ${kver[$s]} ready ($((SECONDS - t0)) s)$([ "${knote[$s]}" = pinned ] || echo " ${knote[$s]}")"
	# a root of their own: the modules (hard links) where the guest's modprobe looks
	m=$root/lib/modules/${kver[$s]}
	# whole or not at all: an interrupted copy must not stand for the kernel's modules
	[ "$root" = / ] || [ -d "$m" ] || { rm -rf "$m.tmp" && cp -al "$(dirname "${kimg[$s]}")" "$m.tmp" && mv "$m.tmp" "$m"; }
done
[ "$prepare_only" -eq 0 ] || exit 0

# ---- the test binaries -----------------------------------------------------------------------
[ -s "$list" ] || die "no test list at $list (build it with 'make vmtest', or set VMTEST_LIST)"
list=$(realpath "$list")
n_bins=0
while read -r bin dir rest; do
	[ -n "$bin" ] || continue
	[[ $bin == /* && $dir == /* ]] || die "$list: paths must be absolute: '$bin $dir'"
	[ -x "$bin" ] || die "$list: $bin is not an executable file"
	[ -d "$dir" ] || die "$list: $dir is not a directory"
	case $rest in
	"" | c) ;;
	*) die "$list: '$rest' after $bin: the kind is empty (a Go test binary) or c (a program)" ;;
	esac
	# ELF e_machine: 62 x86-64, 183 AArch64 (a binary of another architecture fails at exec).
	# A program may be a script (#!): the binaries it runs are the Makefile's, of ARCH.
	n_bins=$((n_bins + 1))
	[ "$rest" = c ] && [ "$(head -c2 "$bin")" = '#!' ] && continue
	machine=$(od -An -tu2 -j18 -N2 "$bin" | tr -d ' ')
	[ "$machine" = "$([ "$VMTEST_ARCH" = arm64 ] && echo 183 || echo 62)" ] ||
		die "$list: $bin is not an ELF binary for $VMTEST_ARCH (e_machine $machine)"
done <"$list"
[ "$n_bins" -gt 0 ] || die "$list lists no test binary"
mkdir -p "$out" && out=$(realpath "$out")

# the module of a package dir: its nearest ancestor with a go.mod (itself if none)
module_dir() {
	local d=$1
	while [ "$d" != / ] && [ ! -f "$d/go.mod" ]; do d=$(dirname "$d"); done
	if [ -f "$d/go.mod" ]; then echo "$d"; else echo "$1"; fi
}

# ---- what a guest of another architecture sees of the host -----------------------------------
# (A guest of the host's architecture sees the host's root read-only, and its results
# directory writable, at their host paths.) One of another architecture has a root of its own:
# it sees, read-only and at their host paths, the modules of the listed packages (a test may
# read ../bpf/) and the directories of the binaries, on mount points made in that root; and
# its results directory, writable, at /mnt. Not at its host path: that may lie in a read-only
# share (build/arm64/vmtest/results is in the module), and virtme-ng mounts the writable
# shares first. /mnt, because virtme-ng checks that a guest path exists on the host, or lies
# under one of the overlays (/tmp, /etc, ...) that the guest mounts in the background, where
# a share could end up hidden.
guest_res="" shares=()
if [ "$root" != / ]; then
	[ -d /mnt ] || die "no /mnt here: virtme-ng wants the guest's mount point of the results on the host too"
	guest_res=/mnt shares=(--arch "$VMTEST_ARCH" --root "$root")
	while read -r d; do
		mkdir -p "$root$d"
		shares+=(--rodir="$d=$d")
	done < <(while read -r bin dir rest; do
		[ -z "$bin" ] || printf '%s\n%s\n' "$(dirname "$bin")" "$(module_dir "$dir")"
	done <"$list" | LC_ALL=C sort -u | awk '{ for (i = 1; i <= n; i++) if (index($0 "/", k[i] "/") == 1) next; k[++n] = $0; print }')
fi

# ---- KVM or software emulation ---------------------------------------------------------------
# /dev/kvm can exist and still not work (e.g. nested virtualization that hangs or aborts QEMU):
# boot the first kernel with no root file system under KVM; a working KVM reaches the
# "VFS: Unable to mount root" panic in seconds and QEMU exits (-no-reboot, panic=-1).
kvm_works() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	local img=$1 stamp=$VMTEST_CACHE/kvm-probe key
	key="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) $(qemu-system-x86_64 --version | head -n1)"
	if [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$key" ]; then
		[ "$(sed -n 2p "$stamp")" = yes ]
		return
	fi
	local res=no
	if timeout -k 5 20 qemu-system-x86_64 -accel kvm -cpu host -m 256M -display none -serial stdio \
		-no-reboot -kernel "$img" -append 'console=ttyS0 panic=-1 loglevel=3' </dev/null 2>&1 |
		grep -aq 'Kernel panic'; then
		res=yes
	fi
	printf '%s\n%s\n' "$key" "$res" >"$stamp"
	[ "$res" = yes ]
}
first=${KERNELS%% *}
kvm=${VMTEST_KVM:-auto}
[ "$root" = / ] || kvm=other-arch
case $kvm in
other-arch) accel=() accel_name="software emulation ($VMTEST_ARCH guests on $HOST_ARCH)" ;;
1 | yes) accel=() accel_name=KVM ;;
0 | no) accel=(--disable-kvm) accel_name="software emulation (VMTEST_KVM=0)" ;;
*)
	if kvm_works "${kimg[$first]}"; then
		accel=() accel_name="KVM"
	else
		accel=(--disable-kvm) accel_name="software emulation (KVM unusable here: probe boot failed)"
	fi
	;;
esac
log "accelerator: $accel_name; $cpus CPUs, $mem per VM${append:+, booted with $append}, timeout ${timeout_s} s; results in $out"

# ---- one VM per kernel -------------------------------------------------------------------------
# import path of a package dir (module path from the nearest go.mod), for test2json -p
pkg_name() {
	local m
	m=$(module_dir "$1")
	if [ -f "$m/go.mod" ]; then
		echo "$(awk '$1=="module" {print $2; exit}' "$m/go.mod")${1#"$m"}"
	else
		basename "$1"
	fi
}

write_guest_script() { # DIR GUEST_DIR: the script the guest runs; it records each binary's exit status
	cat >"$1/guest.sh" <<EOF
#!/bin/bash
# Generated by vmtest/run.sh: runs every test binary of tests.list; "<n> <exit code> <binary>"
# per binary goes to status, then "done <uname -r>". A missing "done" line means the guest died.
res=$2
: >"\$res/status.partial"
echo "vmtest guest: \$(uname -r), \$(nproc) CPUs, \$(awk '/MemTotal/ {print \$2, \$3}' /proc/meminfo)"
# what a systemd host has mounted, and virtme-init does not mount by itself
mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
# Hold the static keys of the tracepoints the tracer attaches to on for the whole run, by
# enabling their trace events (a small buffer, overwritten): attaching and detaching the
# tests' tracers then never patches kernel text. Under QEMU's software emulation that
# patching raced the CPUs executing the site (vmtest/README.md, "Text patching").
echo 64 >/sys/kernel/tracing/buffer_size_kb
for ev in sched_process_exit sched_process_free; do
	echo 1 >/sys/kernel/tracing/events/sched/\$ev/enable || echo "vmtest guest: cannot enable \$ev"
done
echo "vmtest guest: trace events on: \$(cat /sys/kernel/tracing/set_event | tr '\\n' ' ')"
echo "vmtest guest: mounts: \$(awk '\$3 ~ /^(bpf|tracefs|debugfs)\$/ {printf "%s ", \$2}' /proc/mounts)"
fail=0 n=0
while read -r bin dir kind rest; do
	[ -n "\$bin" ] || continue
	n=\$((n + 1))
	# 20 minutes, or less: what is left of the VM's $timeout_s s budget (boot included) minus a
	# minute, so that a hung test panics with its goroutine dump before the VM is killed
	left=\$(( $timeout_s - \$(cut -d. -f1 /proc/uptime) - 60 ))
	[ \$left -le 1200 ] || left=1200
	[ \$left -ge 60 ] || left=60
	echo "vmtest guest: [\$n] \$bin (-test.timeout=\${left}s)"
	if [ "\$kind" = c ]; then
		# a program (a C check): one test named after it, passed if it exits 0, written in the
		# framing test2json reads from a Go test binary's -test.v=test2json output (^V lines)
		name=\$(basename "\$bin") t0=\$SECONDS
		printf '\026=== RUN   %s\n' "\$name" >"\$res/\$n.raw"
		(cd "\$dir" && exec timeout -k 10 \$left "\$bin") >>"\$res/\$n.raw" 2>&1 </dev/null
		rc=\$?
		[ -z "\$(tail -c1 "\$res/\$n.raw")" ] || echo >>"\$res/\$n.raw"
		v=PASS && [ \$rc -eq 0 ] || v=FAIL
		printf '\026--- %s: %s (%d.00s)\n\026%s\n' \$v "\$name" \$((SECONDS - t0)) \$v >>"\$res/\$n.raw"
	else
		(cd "\$dir" && exec "\$bin" -test.v=test2json -test.timeout=\${left}s) >"\$res/\$n.raw" 2>&1 </dev/null
		rc=\$?
	fi
	echo "\$n \$rc \$bin" >>"\$res/status.partial"
	echo "vmtest guest: [\$n] exit \$rc"
	[ \$rc -eq 0 ] || fail=1
done <"\$res/tests.list"
echo "done \$(uname -r)" >>"\$res/status.partial"
mv "\$res/status.partial" "\$res/status"
sync
exit \$fail
EOF
	chmod +x "$1/guest.sh"
}

summary=()
failed=0
vm_pid=""
trap '[ -z "$vm_pid" ] || kill "$vm_pid" 2>/dev/null; log "interrupted"; exit 130' INT TERM
for s in $KERNELS; do
	res=$out/$s
	rm -rf "$res" && mkdir -p "$res"
	cp "$list" "$res/tests.list"
	gres=${guest_res:-$res} # the results directory, as the guest sees it
	write_guest_script "$res" "$gres"
	log "kernel $s (${kver[$s]}): booting, log in $res/console.log"
	t0=$SECONDS
	# timeout(1) puts the VM in its own process group, out of reach of ^C: the trap stops it.
	# --rwdir in its guest=host form: vng checks a bare path relative to its working directory.
	cd "$res"
	timeout -k 10 "$timeout_s" vng --run "${kimg[$s]}" "${accel[@]}" --force-9p ${append:+--append "$append"} \
		--cpus "$cpus" --memory "$mem" "${shares[@]}" --rwdir="$gres=$res" --verbose --exec "$gres/guest.sh" \
		>"$res/console.log" 2>&1 </dev/null &
	vm_pid=$!
	vng_rc=0
	wait "$vm_pid" || vng_rc=$?
	vm_pid=""
	cd - >/dev/null
	secs=$((SECONDS - t0))

	# test2json on the host, from the raw outputs the guest left; a binary that ran no
	# top-level test (or whose output test2json cannot read) proves nothing: it fails.
	top='"Test":"[^"/]*"' # top-level tests only, not subtests
	: >"$res/test.json"
	i=0
	noresult=""
	while read -r bin dir rest; do
		[ -n "$bin" ] || continue
		i=$((i + 1))
		[ -f "$res/$i.raw" ] || continue
		if ! json=$("$GO" tool test2json -p "$(pkg_name "$dir")" <"$res/$i.raw" 2>/dev/null); then
			noresult+=" $(basename "$bin") (test2json failed)"
		elif ! has_top_result "$json"; then
			noresult+=" $(basename "$bin")"
		fi
		printf '%s\n' "$json" >>"$res/test.json"
	done <"$list"
	npass=$(grep '"Action":"pass"' "$res/test.json" | grep -c "$top" || true)
	nfail=$(grep '"Action":"fail"' "$res/test.json" | grep -c "$top" || true)
	nskip=$(grep '"Action":"skip"' "$res/test.json" | grep -c "$top" || true)

	failed_tests=$(grep '"Action":"fail"' "$res/test.json" | grep "$top" |
		sed -E 's/.*"Package":"([^"]*)".*"Test":"([^"]*)".*/\1.\2/' | head -n5 | paste -sd' ' || true)
	[ "$nfail" -le 5 ] || failed_tests+=" ..."
	# top-level tests that started and never ended (hung, or the guest died under them)
	unfinished=$(awk 'match($0, /"Action":"[a-z]+"/) {
			a = substr($0, RSTART + 10, RLENGTH - 11)
			if (!match($0, /"Test":"[^"\/]*"/)) next
			t = substr($0, RSTART + 8, RLENGTH - 9)
			match($0, /"Package":"[^"]*"/); k = substr($0, RSTART + 11, RLENGTH - 12) "." t
			if (a == "run") started[k] = 1; else if (a == "pass" || a == "fail" || a == "skip") delete started[k]
		} END { for (k in started) { printf "%s%s", sep, k; sep = " " } }' "$res/test.json")
	nunf=$(wc -w <<<"$unfinished")
	reason=""
	if [ "$vng_rc" -eq 124 ] || [ "$vng_rc" -eq 137 ]; then
		reason="timed out after ${timeout_s} s (VMTEST_TIMEOUT)"
	elif [ ! -f "$res/status" ]; then
		reason="no status file from the guest (vng exited $vng_rc: kernel panic, boot failure, or QEMU killed? see console.log)"
	else
		bad=$(awk '$1 ~ /^[0-9]+$/ && $2 != 0 {printf "%s%s exit %s", sep, $3, $2; sep=", "}' "$res/status")
		ran=$(grep -c '^[0-9]' "$res/status" || true)
		if [ "$nfail" -gt 0 ]; then
			reason="$nfail failed: $failed_tests"
		elif [ -n "$bad" ]; then
			reason=$bad
		elif [ -n "$noresult" ]; then
			reason="no test result from:$noresult"
		elif [ "$ran" -ne "$n_bins" ]; then
			reason="ran $ran of $n_bins test binaries"
		elif [ "$vng_rc" -ne 0 ]; then
			reason="vng exited $vng_rc"
		fi
	fi
	[ -z "$reason" ] || [ -z "$unfinished" ] || reason+=" (unfinished: $unfinished)"
	verdict=PASS
	[ -z "$reason" ] || { verdict=FAIL failed=1; }
	line=$(printf 'kernel %-22s %s %4d tests %5d s' "${kver[$s]}" "$verdict" $((npass + nfail + nunf)) "$secs")
	[ "$nskip" -eq 0 ] || line+=" ($nskip skipped)"
	[ "${knote[$s]}" = pinned ] || line+="  !! ${knote[$s]} (see vmtest/kernels.conf)"
	[ -z "$reason" ] || line+="  -- $reason; see $res/"
	echo "$line" >"$res/summary"
	summary+=("$line")
	log "$line"
	# the failures themselves, for a CI log that has no results directory to look in
	for ft in $failed_tests; do
		[ "$ft" = ... ] || failed_output "${ft##*.}" "$res"/*.raw
	done
	[ -z "$reason" ] || [ "$nfail" -gt 0 ] || tail -n 20 "$res/console.log" | sed "s/^/    | /"
done

echo
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
exit "$failed"
}
