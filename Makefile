# exitsnoop: `make` builds everything, `make test` runs the real-kernel tests (as root).
# Targets: all test demo static cabi vmtest bench clean install-libbpf consumer consumer-test.
# ARCH=arm64 (or amd64) builds for that architecture, cross-compiled on another one
# (scripts/arch.mk): `make static cabi vmtest ARCH=arm64` on an amd64 machine.

include scripts/arch.mk
$(call native-only,test demo bench consumer consumer-test)
OUTPUT    := $(abspath build$(ARCH_DIR))
# libbpf's source: the submodule, or, in a tree without one (our module as Go's proxy
# serves it), a copy that scripts/fetch-libbpf.sh fills under OUTPUT.
LIBBPF    := $(abspath $(if $(wildcard libbpf),libbpf,$(OUTPUT)/libbpf-src))
LIBBPF_A  := $(OUTPUT)/libbpf/libbpf.a
BPF_OBJ   := internal/bpfobj/exitsnoop.bpf.o
BPF_BUILT := $(OUTPUT)/exitsnoop.bpf.o
CLANG     ?= clang
STRIP     ?= llvm-strip
GO        ?= go
GOTAGS    := netgo,osusergo
STATIC    := -tags $(GOTAGS) -ldflags '-linkmode external -extldflags -static'
VMTEST    := $(OUTPUT)/vmtest
VMTEST_TIMEOUT ?= 1200
SETUP     := $(OUTPUT)/.setup-done

# cgo sees libbpf's own headers (and its newer UAPI) before /usr/include.
export CGO_CFLAGS  := -I$(OUTPUT)/libbpf/include -I$(LIBBPF)/include/uapi
export CGO_LDFLAGS := $(strip $(LIBBPF_A) $(SYSROOT_LDFLAGS) -lelf -lz)

.PHONY: all setup libbpf install-libbpf bpf build test demo static cabi vmtest bench clean check-bpf \
	consumer consumer-test FORCE

all: build check-bpf

setup: $(SETUP)
# Another ARCH asks every time (about a second when nothing changed): its sysroot follows
# Debian's updates of libelf and zlib, which the cross build links statically.
$(SETUP): scripts/setup.sh scripts/debian.sh $(if $(CROSS),FORCE)
	bash scripts/setup.sh $(ARCH)
	@mkdir -p $(@D) && touch $@

# libbpf/ is a submodule; without GitHub it is filled from Debian's verified source.
$(LIBBPF)/src/libbpf.c: | $(SETUP)
	bash scripts/fetch-libbpf.sh $(LIBBPF)

LIBBPF_MAKE = $(MAKE) -C $(LIBBPF)/src -s BUILD_STATIC_ONLY=1 EXTRA_CFLAGS="$(strip -fPIC -O2 $(SYSROOT_CFLAGS))" \
	OBJDIR=$(OUTPUT)/libbpf/obj $(if $(CROSS),CROSS_COMPILE=$(CROSS) AR=$(CROSS)ar NO_PKG_CONFIG=1)

libbpf: $(LIBBPF_A)
$(LIBBPF_A): $(LIBBPF)/src/libbpf.c
	$(LIBBPF_MAKE) DESTDIR=$(OUTPUT)/libbpf INCLUDEDIR=/include LIBDIR= UAPIDIR=/include \
		install install_uapi_headers

# libbpf for other modules' builds, as any user (README: "Using exitsnoop from your own
# module"): PREFIX/lib/libbpf.a, PREFIX/lib/pkgconfig/libbpf.pc, PREFIX/include/{bpf,linux}/.
# In a read-only tree (Go's module cache) add OUTPUT=<a directory you can write>.
install-libbpf: $(LIBBPF_A)
	@case "$(PREFIX)" in /*) ;; *) echo "install-libbpf: give an absolute PREFIX, e.g. make install-libbpf PREFIX=$$HOME/.local/libbpf-1.5" >&2; exit 1 ;; esac
	$(LIBBPF_MAKE) PREFIX=$(PREFIX) LIBDIR=$(PREFIX)/lib install install_uapi_headers
	@echo "install-libbpf: libbpf in $(DESTDIR)$(PREFIX); build with PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig"

# Relative paths and no DWARF keep the object byte-identical across checkouts.
# One object for every architecture: CO-RE, its own kernel_types.h, and no __TARGET_ARCH_*
# (bpf_tracing.h needs one only for PT_REGS_*/BPF_KPROBE, the registers of a pt_regs; the
# tp_btf programs take their arguments with BPF_PROG, from the context array, the same on
# every architecture). The object is byte-identical with or without -D__TARGET_ARCH_x86.
$(BPF_BUILT): bpf/exitsnoop.bpf.c bpf/exitsnoop.h internal/core/layout.h bpf/kernel_types.h Makefile $(LIBBPF_A)
	$(CLANG) -g -O2 -target bpf -I$(patsubst $(CURDIR)/%,%,$(OUTPUT))/libbpf/include -fdebug-prefix-map=$(CURDIR)=. \
		-c bpf/exitsnoop.bpf.c -o $@
	$(STRIP) -g $@

bpf: $(BPF_BUILT)
	cp $(BPF_BUILT) $(BPF_OBJ)

# The committed object must be what the committed source builds.
check-bpf: $(BPF_BUILT)
	@cmp -s $(BPF_BUILT) $(BPF_OBJ) || { echo "$(BPF_OBJ) is stale: run 'make bpf' and commit it" >&2; exit 1; }

build: $(LIBBPF_A) | $(SETUP)
	$(GO) build -tags $(GOTAGS) -o $(OUTPUT)/exitsnoop ./cmd/exitsnoop

static: $(OUTPUT)/exitsnoop-static

# Go decides what to rebuild (FORCE: it is always asked).
$(OUTPUT)/exitsnoop-static $(VMTEST)/exitsnoop: $(LIBBPF_A) FORCE | $(SETUP)
	@mkdir -p $(@D)
	$(GO) build $(STATIC) -o $@ ./cmd/exitsnoop

# The test suite, built once as static binaries, in a VM per kernel (vmtest/README.md):
# <name>.test is package ./$(PKG_<name>)'s, then the C checks (cgo/Makefile's vmtest-list).
# KERNELS="6.1" runs one; the default is vmtest/kernels.conf's matrix.
PKG_exitsnoop := exitsnoop
PKG_cli       := cmd/exitsnoop
PKG_ringbuf   := internal/ringbuf
VMTEST_BINS   := $(VMTEST)/exitsnoop.test $(VMTEST)/cli.test $(VMTEST)/ringbuf.test

$(VMTEST)/%.test: $(LIBBPF_A) FORCE | $(SETUP)
	@mkdir -p $(@D)
	$(GO) test -c $(STATIC) -o $@ ./$(PKG_$*)

$(VMTEST)/tests.list: $(VMTEST_BINS) $(VMTEST)/exitsnoop FORCE
	printf '%s %s\n' $(foreach b,$(VMTEST_BINS),$(b) $(CURDIR)/$(PKG_$(basename $(notdir $(b))))) > $@.tmp
	$(MAKE) -C cgo vmtest-list LIBBPF_A=$(LIBBPF_A) LIST=$@.tmp
	mv $@.tmp $@

vmtest: all $(VMTEST)/tests.list
	VMTEST_LIST=$(VMTEST)/tests.list VMTEST_OUT=$(VMTEST)/results VMTEST_TIMEOUT=$(VMTEST_TIMEOUT) \
		VMTEST_ARCH=$(ARCH) bash vmtest/run.sh $(KERNELS)

# The real-kernel tests: as root, never skipped (they fail where they cannot run).
test: all
	bash scripts/check-env.sh
	bash vmtest/lib_test.sh
	$(GO) vet -tags $(GOTAGS) ./...
	$(GO) test -tags $(GOTAGS) -race -count=1 ./...
	$(GO) test -tags $(GOTAGS) -asan -count=1 ./internal/ringbuf ./exitsnoop # the C core under ASan+LSan
	$(MAKE) -C cgo test

# The C ABI: cgo/build/libexitsnoop.a, exitsnoop.h and exitsnoop.pc (cgo/README.md).
cabi: $(LIBBPF_A) | $(SETUP)
	$(MAKE) -C cgo LIBBPF_A=$(LIBBPF_A)

# examples/consumer, a module of its own, built by the README's recipe alone (dynamic and
# static, checked with file and ldd); consumer-test also runs it (as root).
consumer: | $(SETUP)
	bash scripts/consumer.sh $(OUTPUT)/consumer
consumer-test: | $(SETUP)
	bash scripts/consumer.sh --run $(OUTPUT)/consumer

demo: build
	bash scripts/check-env.sh
	@echo '$$ exitsnoop run -- sh -c "echo hello from a traced process; exit 3"'
	@$(OUTPUT)/exitsnoop run -- sh -c 'echo hello from a traced process; exit 3'; \
		echo "(exitsnoop exited $$?, the command's code)"
	@echo '$$ exitsnoop run --json -- sh -c "kill -KILL \$$\$$"'
	@$(OUTPUT)/exitsnoop run --json -- sh -c 'kill -KILL $$$$'; \
		echo "(exitsnoop exited $$?: 128 + SIGKILL, as a shell reports it)"

# Benchmarks against the seed's reference, written to BENCHMARKS.md (bench/README.md).
bench: all
	bash bench/run.sh

clean:
	rm -rf $(OUTPUT)
	$(MAKE) -C cgo clean
