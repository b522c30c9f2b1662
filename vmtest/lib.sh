# shellcheck shell=bash disable=SC2034
# Shared helpers for vmtest/*.sh (sourced, not run).
# Private apt configuration per Debian suite: the system's apt config is never touched.

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMTEST_CACHE=${EXITSNOOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exitsnoop}
VMTEST_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'vmtest: %s\n' "$*" >&2; }
die() { printf 'vmtest: ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror the machine already uses (read, never modified).
debian_mirror() {
	local uri=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources | grep -v security | head -n1 || true)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list || true)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

# apt_opts SUITE: fills the array APT_OPTS with options for a private sources list of SUITE.
apt_opts() {
	local suite=$1 dir=$VMTEST_CACHE/apt/$1
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	echo "deb [signed-by=$VMTEST_KEYRING] $(debian_mirror) $suite main" >"$dir/sources.list"
	APT_OPTS=(-o APT::Sandbox::User=root
		-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
}

# apt_update SUITE [MAXAGE_MIN]: refreshes SUITE's private lists unless fresher than MAXAGE_MIN (default 60).
apt_update() {
	local suite=$1 maxage=${2:-60} dir=$VMTEST_CACHE/apt/$1
	apt_opts "$suite"
	if [ -n "$(find "$dir/lists" -maxdepth 1 -name '*_InRelease' -mmin "-$maxage" 2>/dev/null)" ]; then
		return 0
	fi
	log "apt-get update for Debian $suite (private lists in $dir)"
	apt-get "${APT_OPTS[@]}" update -qq >&2 || { log "apt-get update for Debian $suite failed"; return 1; }
	touch "$dir"/lists/*_InRelease
}
