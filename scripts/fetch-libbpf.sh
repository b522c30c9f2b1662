#!/usr/bin/env bash
# Fills libbpf/ with upstream libbpf v1.5.0 when the git submodule is not checked out
# (no GitHub here): it takes Debian's source package libbpf 1.5.0-3 from trixie with a
# private apt sources list (the system's apt configuration is left alone), checks the
# upstream tarball against its known sha256 and unpacks it. Refuses on any mismatch.
set -euo pipefail

dest=${1:-libbpf}
version=1.5.0
debver=1.5.0-3
orig=libbpf_${version}.orig.tar.gz
sha256=53492aff6dd47e4da04ef5e672d753b9743848bdb38e9d90eafbe190b7983c44

if [ -f "$dest/src/libbpf.c" ]; then
	exit 0 # submodule checked out, or filled before
fi

cache=${EXITSNOOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/exitsnoop}/libbpf-$debver
mkdir -p "$cache"
if ! echo "$sha256  $cache/$orig" | sha256sum -c --status 2>/dev/null; then
	uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	uri=${uri:-http://deb.debian.org/debian}
	apt=$(mktemp -d) && chmod 755 "$apt"
	trap 'rm -rf "$apt"' EXIT
	mkdir -p "$apt/lists/partial"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$apt/sources.list"
	opts=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$apt/lists")
	echo "fetch-libbpf: downloading Debian source libbpf $debver (trixie)" >&2
	apt-get "${opts[@]}" update -qq
	(cd "$cache" && apt-get "${opts[@]}" source --download-only -qq "libbpf=$debver")
fi

if ! echo "$sha256  $cache/$orig" | sha256sum -c --status; then
	echo "fetch-libbpf: $orig does not have sha256 $sha256: refusing to build" >&2
	exit 1
fi

mkdir -p "$dest"
tar -xzf "$cache/$orig" -C "$dest" --strip-components=1
echo "fetch-libbpf: libbpf/ filled from $orig (sha256 verified)" >&2
