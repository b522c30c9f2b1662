# A build environment for exitsnoop: Debian bookworm with the packages that
# scripts/setup.sh installs (the same script the Makefile and CI run) and Go.
# Build:  docker build -f Dockerfile.builder -t exitsnoop-builder .
# Use:    docker run --rm --privileged -v "$PWD":/src -w /src exitsnoop-builder make test
FROM debian:bookworm

COPY scripts/setup.sh /usr/local/bin/exitsnoop-setup
RUN /usr/local/bin/exitsnoop-setup && apt-get install -y -qq --no-install-recommends curl

ARG GO_VERSION=1.26.8
RUN curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH
