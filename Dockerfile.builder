# A build environment for exitsnoop and for modules that import it: Debian bookworm with
# the packages that scripts/setup.sh installs (the same script the Makefile and CI run),
# Go, and libbpf 1.5 in /opt/libbpf-1.5 (PKG_CONFIG_PATH points at it). It builds for both
# amd64 and arm64, whichever it runs on: scripts/setup.sh ARCH adds the cross compiler and
# the other architecture's sysroot (in $EXITSNOOP_CACHE), so `make static cabi ARCH=arm64`
# works in it.
# Build:  docker build -f Dockerfile.builder -t exitsnoop-builder .
# Use:    docker run --rm --privileged -v "$PWD":/src -w /src exitsnoop-builder make test
#         docker run --rm -v "$PWD":/src -w /src exitsnoop-builder make static cabi ARCH=arm64
# Your module: FROM exitsnoop-builder, then the README's steps 2 and 3
#         ("Using exitsnoop from your own module").
FROM debian:bookworm

ENV EXITSNOOP_CACHE=/var/cache/exitsnoop
COPY scripts/setup.sh scripts/debian.sh /usr/local/lib/exitsnoop/
RUN /usr/local/lib/exitsnoop/setup.sh amd64 && /usr/local/lib/exitsnoop/setup.sh arm64 && \
    apt-get install -y -qq --no-install-recommends curl

ARG GO_VERSION=1.26.8
RUN curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-$(dpkg --print-architecture).tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH

# libbpf for other modules, examples/consumer built by the README's recipe alone (make
# consumer; running it needs --privileged), and, for both architectures, the static CLI
# (checked by file(1)) and the C archive. Built in /tmp (and cgo/build, cleaned), not in a
# build/ that came with the context.
COPY . /usr/src/exitsnoop
RUN make -C /usr/src/exitsnoop install-libbpf PREFIX=/opt/libbpf-1.5 OUTPUT=/tmp/exitsnoop-build && \
    make -C /usr/src/exitsnoop consumer OUTPUT=/tmp/exitsnoop-build && \
    for arch in amd64 arm64; do \
        make -C /usr/src/exitsnoop static cabi ARCH=$arch OUTPUT=/tmp/exitsnoop-build/$arch && \
        file /tmp/exitsnoop-build/$arch/exitsnoop-static | grep "$([ $arch = arm64 ] && echo 'ARM aarch64' || echo 'x86-64').*statically linked" && \
        make -C /usr/src/exitsnoop/cgo clean ARCH=$arch || exit 1; \
    done && \
    rm -rf /tmp/exitsnoop-build && go clean -cache
ENV PKG_CONFIG_PATH=/opt/libbpf-1.5/lib/pkgconfig
