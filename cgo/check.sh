#!/usr/bin/env bash
# Checks the C archive and the binaries built from it (run by `make -C cgo test`):
#
#   check.sh --archive LIBEXITSNOOP.A --deps LIBBPF.A LIBELF.A LIBZ.A \
#            --static BIN... --dynamic BIN...
#
# - the archive defines only exitsnoop_ symbols (globally), and leaves no libbpf,
#   libelf or zlib symbol undefined: it carries them (nm);
# - each --static binary is static: `file` says so and `ldd` finds no dynamic section;
# - each --dynamic binary needs no libbpf, libelf or zlib shared object (ldd).
set -euo pipefail

fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }

archive= deps=() static=() dynamic=()
mode=
for a in "$@"; do
	case $a in
	--archive | --deps | --static | --dynamic) mode=$a ;;
	*) case $mode in
		--archive) archive=$a ;;
		--deps) deps+=("$a") ;;
		--static) static+=("$a") ;;
		--dynamic) dynamic+=("$a") ;;
		*) fail "usage: check.sh --archive A --deps LIB... --static BIN... --dynamic BIN..." ;;
		esac ;;
	esac
done
[ -n "$archive" ] && [ ${#deps[@]} -gt 0 ] || fail "usage: check.sh --archive A --deps LIB... [--static BIN...] [--dynamic BIN...]"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Global definitions: only the public API.
nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/defined"
n=$(wc -l <"$tmp/defined")
[ "$n" -gt 0 ] || fail "$archive defines no symbol"
if grep -v '^exitsnoop_' "$tmp/defined" >"$tmp/leaked"; then
	fail "$archive exports symbols without the exitsnoop_ prefix: $(head -20 "$tmp/leaked" | tr '\n' ' ')"
fi
echo "nm -g --defined-only $(basename "$archive"): $n symbols, all exitsnoop_*"

# Undefined references: none may be a symbol libbpf, libelf or zlib defines.
nm -u "$archive" | awk 'NF == 2 { print $2 }' | sort -u >"$tmp/undefined"
for lib in "${deps[@]}"; do
	[ -f "$lib" ] || fail "no $lib"
	nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }'
done | sort -u >"$tmp/deps"
if comm -12 "$tmp/undefined" "$tmp/deps" | grep . >"$tmp/missing"; then
	fail "$archive leaves undefined symbols of libbpf/libelf/zlib: $(head -20 "$tmp/missing" | tr '\n' ' ')"
fi
# And by name, in case the libraries at hand are not the ones linked in.
if grep -E '^(bpf_|btf_|btf__|libbpf_|ring_buffer__|perf_buffer__|elf_|elf32_|elf64_|gelf_|deflate|inflate|crc32|adler32|zlib|gz)' \
	"$tmp/undefined" >"$tmp/missing"; then
	fail "$archive leaves undefined libbpf/libelf/zlib-like symbols: $(head -20 "$tmp/missing" | tr '\n' ' ')"
fi
# No constructor or destructor runs in a program that links it, called or not.
if objdump -h "$archive" | grep -E '\.(init_array|fini_array|preinit_array|ctors|dtors|init|fini)\b' >"$tmp/ctors"; then
	fail "$archive has constructor or destructor sections: $(tr -s ' ' <"$tmp/ctors" | head -5 | tr '\n' ' ')"
fi
# No Go runtime: none of its symbols, local ones included.
if nm "$archive" | grep -E ' (runtime\.|_cgo_|x_cgo_)' | head -3 >"$tmp/go" && [ -s "$tmp/go" ]; then
	fail "$archive holds a Go runtime: $(tr '\n' ' ' <"$tmp/go")"
fi
echo "objdump -h, nm $(basename "$archive"): no constructor, no destructor, no Go runtime"
echo "nm -u $(basename "$archive"): $(wc -l <"$tmp/undefined") undefined symbols, none from libbpf, libelf or zlib (libc/pthread only):"
tr '\n' ' ' <"$tmp/undefined" | fold -s -w 100 | sed 's/^/    /'
echo

for bin in "${static[@]}"; do
	out=$(file -b "$bin")
	case $out in *"statically linked"* | *"static-pie linked"*) ;; *) fail "file $bin: $out" ;; esac
	if ldd_out=$(ldd "$bin" 2>&1); then
		fail "ldd $bin lists dynamic dependencies: $ldd_out"
	fi
	case $ldd_out in *"not a dynamic executable"* | *"statically linked"*) ;; *) fail "ldd $bin: $ldd_out" ;; esac
	echo "$(basename "$bin"): file: ${out%%, BuildID*}...; ldd: $(echo "$ldd_out" | tr -d '\t')"
done

for bin in "${dynamic[@]}"; do
	ldd_out=$(ldd "$bin") || fail "ldd $bin"
	if echo "$ldd_out" | grep -E 'libbpf|libelf|libz\.' >&2; then
		fail "$bin links libbpf/libelf/zlib dynamically"
	fi
	echo "$(basename "$bin"): ldd: $(echo "$ldd_out" | awk '{ print $1 }' | tr '\n' ' ')"
done
