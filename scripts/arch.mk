# The target architecture, for the Makefile and cgo/Makefile (included by both).
# ARCH (Debian's and Go's name) defaults to this machine's. Another architecture is
# cross-compiled, with Debian's gcc-<triplet> and a sysroot of that architecture's libelf
# and zlib (Debian's packages of this machine's suite, which `scripts/setup.sh ARCH` fills),
# and builds in an <arch>/ subdirectory: build/arm64/, cgo/build/arm64/.
ARCHS         := amd64 arm64
TRIPLET_amd64 := x86_64-linux-gnu
TRIPLET_arm64 := aarch64-linux-gnu
HOST_ARCH     := $(shell dpkg --print-architecture 2>/dev/null || uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
# Only from the command line (make ARCH=arm64): kernel developers' shells often export
# ARCH=x86 or ARCH=arm64 for Kbuild, which must not turn a plain `make` into a cross build.
ifneq ($(origin ARCH),command line)
ARCH          := $(HOST_ARCH)
endif
ifeq ($(filter $(ARCH),$(ARCHS)),)
$(error ARCH=$(ARCH) is not supported: use one of $(ARCHS) (Debian's names; amd64 = x86_64, arm64 = aarch64))
endif
TRIPLET       := $(TRIPLET_$(ARCH))

EXITSNOOP_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/exitsnoop
export EXITSNOOP_CACHE

ifneq ($(ARCH),$(HOST_ARCH))
CROSS         := $(TRIPLET)-
ARCH_DIR      := /$(ARCH)
SYSROOT       := $(EXITSNOOP_CACHE)/sysroot/$(ARCH)
SYSROOT_LIB   := $(SYSROOT)/usr/lib/$(TRIPLET)
SYSROOT_CFLAGS  := -I$(SYSROOT)/usr/include
SYSROOT_LDFLAGS := -L$(SYSROOT_LIB) -Wl,-rpath-link,$(SYSROOT_LIB):$(SYSROOT)/lib/$(TRIPLET)
# Go's cgo for ARCH: the cross compiler links too (-linkmode external).
export GOARCH      := $(ARCH)
export CGO_ENABLED := 1
export CC          := $(CROSS)gcc
endif

# $(call native-only,GOALS): GOALS run what they build on this machine; asked for on the
# command line with another ARCH, they are refused at once.
native-only = $(if $(CROSS),$(if $(filter $(1),$(MAKECMDGOALS)),$(error make $(filter $(1),$(MAKECMDGOALS)) \
	runs programs on this machine: for ARCH=$(ARCH) build with 'make static cabi ARCH=$(ARCH)' \
	and test with 'make vmtest ARCH=$(ARCH)')))
