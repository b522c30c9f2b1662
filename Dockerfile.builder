# A build environment for exitsnoop and for modules that import it: Debian bookworm with
# the packages that scripts/setup.sh installs (the same script the Makefile and CI run),
# Go, and libbpf 1.5 in /opt/libbpf-1.5 (PKG_CONFIG_PATH points at it).
# Build:  docker build -f Dockerfile.builder -t exitsnoop-builder .
# Use:    docker run --rm --privileged -v "$PWD":/src -w /src exitsnoop-builder make test
# Your module: FROM exitsnoop-builder, then the README's steps 2 and 3
#         ("Using exitsnoop from your own module").
FROM debian:bookworm

COPY scripts/setup.sh /usr/local/bin/exitsnoop-setup
RUN /usr/local/bin/exitsnoop-setup && apt-get install -y -qq --no-install-recommends curl

ARG GO_VERSION=1.26.8
RUN curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH

# libbpf for other modules, and examples/consumer built by the README's recipe alone
# (make consumer; running it needs --privileged). Built in /tmp, not in a build/ that
# came with the context.
COPY . /usr/src/exitsnoop
RUN make -C /usr/src/exitsnoop install-libbpf PREFIX=/opt/libbpf-1.5 OUTPUT=/tmp/exitsnoop-build && \
    make -C /usr/src/exitsnoop consumer OUTPUT=/tmp/exitsnoop-build && \
    rm -rf /tmp/exitsnoop-build && go clean -cache
ENV PKG_CONFIG_PATH=/opt/libbpf-1.5/lib/pkgconfig
