# shellcheck shell=bash disable=SC2034
# Debian packages of any suite and architecture, through a private apt configuration
# (sourced by scripts/setup.sh and vmtest/lib.sh; never run). The system's apt
# configuration is never touched: each suite (and foreign architecture) has its own
# sources list, lists and package cache under $EXITSNOOP_CACHE/apt/, and apt checks every
# package against the suite's signed Release file.

EXITSNOOP_CACHE_DIR=${EXITSNOOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exitsnoop}
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
HOST_ARCH=$(dpkg --print-architecture)

log() { printf '%s: %s\n' "${LOG_TAG:-exitsnoop}" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "${LOG_TAG:-exitsnoop}" "$*" >&2; exit 1; }

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

# This machine's Debian suite (bookworm): a sysroot or guest root of another architecture
# comes from it, so that it matches the cross compiler's glibc.
host_suite() {
	local s
	s=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
	[ -n "$s" ] || die "no VERSION_CODENAME in /etc/os-release: not Debian?"
	echo "$s"
}

# host_sources SUITE: "URI suite" lines of the machine's own sources for SUITE, SUITE-updates
# and SUITE-security (deb822 debian.sources, or a one-line sources.list; read, never
# modified): a sysroot of the machine's suite gets the same fixes as the machine.
host_sources() {
	local f=/etc/apt/sources.list.d/debian.sources
	{
		[ ! -r "$f" ] || awk -v RS= '{
			uris = ""; suites = ""; deb = 0
			n = split($0, l, "\n")
			for (i = 1; i <= n; i++) {
				if (l[i] ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
				if (l[i] ~ /^URIs:/) uris = substr(l[i], 6)
				if (l[i] ~ /^Suites:/) suites = substr(l[i], 8)
			}
			if (!deb) next
			nu = split(uris, u, " "); ns = split(suites, s, " ")
			for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b]
		}' "$f"
		[ ! -r /etc/apt/sources.list ] || awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i, $(i + 1); next } }' /etc/apt/sources.list
	} | awk -v s="$1" '$2 == s || $2 == s "-updates" || $2 == s "-security"' | sort -u
}

# apt_dir SUITE [ARCH]: the private apt directory of SUITE (and of a foreign ARCH).
apt_dir() {
	local dir=$EXITSNOOP_CACHE_DIR/apt/$1
	[ "${2:-$HOST_ARCH}" = "$HOST_ARCH" ] || dir+=-$2
	echo "$dir"
}

# apt_opts SUITE [ARCH]: fills the array APT_OPTS with options for a private sources list of
# SUITE; of the machine's architecture, or of ARCH alone (then apt's native one).
apt_opts() {
	local suite=$1 arch=${2:-$HOST_ARCH} dir opt=""
	dir=$(apt_dir "$suite" "$arch")
	[ "$arch" = "$HOST_ARCH" ] || opt="arch=$arch "
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	{
		host_sources "$suite"
		echo "$(debian_mirror) $suite"
	} | sort -u | while read -r uri s; do
		echo "deb [${opt}signed-by=$DEBIAN_KEYRING] $uri $s main"
	done >"$dir/sources.list"
	APT_OPTS=(-o APT::Sandbox::User=root
		-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
	[ "$arch" = "$HOST_ARCH" ] || APT_OPTS+=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch")
}

# apt_update SUITE [MAXAGE_MIN [ARCH]]: refreshes SUITE's private lists unless fresher than
# MAXAGE_MIN (default 60).
apt_update() {
	local suite=$1 maxage=${2:-60} arch=${3:-$HOST_ARCH} dir
	dir=$(apt_dir "$suite" "$arch")
	apt_opts "$suite" "$arch"
	# fresh enough, and of the same sources list (a changed list is fetched at once)
	if cmp -s "$dir/sources.list" "$dir/lists/.sources" &&
		[ -n "$(find "$dir/lists" -maxdepth 1 -name '*_InRelease' -mmin "-$maxage" 2>/dev/null)" ]; then
		return 0
	fi
	log "apt-get update for Debian $suite$([ "$arch" = "$HOST_ARCH" ] || echo " $arch") (private lists in $dir)"
	apt-get "${APT_OPTS[@]}" update -qq >&2 || { log "apt-get update for Debian $suite failed"; return 1; }
	touch "$dir"/lists/*_InRelease
	cp "$dir/sources.list" "$dir/lists/.sources"
}

# candidates SUITE ARCH PKG...: "<package>=<candidate version>" of each, from SUITE's
# private lists (refreshed if a day old).
candidates() {
	local suite=$1 arch=$2
	shift 2
	apt_update "$suite" 1440 "$arch" || die "cannot reach Debian $suite ($arch)"
	apt-cache "${APT_OPTS[@]}" policy "$@" | awk '/^[^ ]/ { p = $1; sub(/:$/, "", p) } /Candidate:/ { print p "=" $2 }'
}

# extract_debs [--deps] SUITE ARCH DEST PKG...: downloads PKG... of SUITE and ARCH (with
# --deps, their whole dependency closure, resolved by apt as for an empty system) and
# unpacks them into DEST with dpkg-deb -x; no maintainer script runs. Writes DEST/.debs
# ("<package> <version>" a line).
extract_debs() {
	local deps=no
	[ "$1" = --deps ] && { deps=yes; shift; }
	local suite=$1 arch=$2 dest=$3 dl d
	shift 3
	apt_update "$suite" 1440 "$arch" || die "cannot reach Debian $suite ($arch)"
	dl=$(apt_dir "$suite" "$arch")/extract
	rm -rf "$dl" && mkdir -p "$dl/partial" "$dest"
	if [ "$deps" = yes ]; then
		: >"$dl/status"
		apt-get "${APT_OPTS[@]}" -o "Dir::State::status=$dl/status" -o "Dir::Cache::Archives=$dl" \
			install --download-only -y -qq --no-install-recommends "$@" >&2 ||
			die "apt-get install --download-only $* ($suite, $arch) failed"
	else
		(cd "$dl" && apt-get "${APT_OPTS[@]}" download -qq "$@" >&2) || die "apt-get download $* ($suite, $arch) failed"
	fi
	for d in "$dl"/*.deb; do
		dpkg-deb -x "$d" "$dest"
		# shellcheck disable=SC2016 # dpkg-deb's own ${fields}
		dpkg-deb --show --showformat='${Package} ${Version}\n' "$d"
	done >"$dest/.debs"
	rm -rf "$dl"
}
