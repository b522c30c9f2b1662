# exitsnoop: `make` builds everything, `make test` runs the real-kernel tests (as root).
# Targets: all test demo static cabi vmtest bench clean install-libbpf consumer consumer-test.

OUTPUT    := $(abspath build)
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
export CGO_LDFLAGS := $(LIBBPF_A) -lelf -lz

.PHONY: all setup libbpf install-libbpf bpf build test demo static cabi vmtest bench clean check-bpf \
	consumer consumer-test

all: build check-bpf

setup: $(SETUP)
$(SETUP): scripts/setup.sh
	bash scripts/setup.sh
	@mkdir -p $(@D) && touch $@

# libbpf/ is a submodule; without GitHub it is filled from Debian's verified source.
$(LIBBPF)/src/libbpf.c: | $(SETUP)
	bash scripts/fetch-libbpf.sh $(LIBBPF)

LIBBPF_MAKE = $(MAKE) -C $(LIBBPF)/src -s BUILD_STATIC_ONLY=1 EXTRA_CFLAGS="-fPIC -O2" OBJDIR=$(OUTPUT)/libbpf/obj

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
$(BPF_BUILT): bpf/exitsnoop.bpf.c bpf/exitsnoop.h bpf/kernel_types.h Makefile $(LIBBPF_A)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Ibuild/libbpf/include -fdebug-prefix-map=$(CURDIR)=. \
		-c bpf/exitsnoop.bpf.c -o $@
	$(STRIP) -g $@

bpf: $(BPF_BUILT)
	cp $(BPF_BUILT) $(BPF_OBJ)

# The committed object must be what the committed source builds.
check-bpf: $(BPF_BUILT)
	@cmp -s $(BPF_BUILT) $(BPF_OBJ) || { echo "$(BPF_OBJ) is stale: run 'make bpf' and commit it" >&2; exit 1; }

build: $(LIBBPF_A) | $(SETUP)
	$(GO) build -tags $(GOTAGS) -o $(OUTPUT)/exitsnoop ./cmd/exitsnoop

static: $(LIBBPF_A) | $(SETUP)
	$(GO) build $(STATIC) -o $(OUTPUT)/exitsnoop-static ./cmd/exitsnoop

# The test suite, built once as static binaries, in a VM per kernel (vmtest/README.md).
# KERNELS="6.1" runs one; the default is vmtest/kernels.conf's matrix.
vmtest: all
	@mkdir -p $(VMTEST)
	$(GO) test -c $(STATIC) -o $(VMTEST)/exitsnoop.test ./exitsnoop
	$(GO) test -c $(STATIC) -o $(VMTEST)/cli.test ./cmd/exitsnoop
	$(GO) build $(STATIC) -o $(VMTEST)/exitsnoop ./cmd/exitsnoop
	printf '%s %s\n' $(VMTEST)/exitsnoop.test $(CURDIR)/exitsnoop \
		$(VMTEST)/cli.test $(CURDIR)/cmd/exitsnoop > $(VMTEST)/tests.list
	VMTEST_LIST=$(VMTEST)/tests.list VMTEST_OUT=$(VMTEST)/results VMTEST_TIMEOUT=$(VMTEST_TIMEOUT) \
		bash vmtest/run.sh $(KERNELS)

# The real-kernel tests: as root, never skipped (they fail where they cannot run).
test: all
	bash scripts/check-env.sh
	$(GO) vet -tags $(GOTAGS) ./...
	$(GO) test -tags $(GOTAGS) -race -count=1 ./...
	$(MAKE) -C cgo test

# The C ABI: cgo/build/libexitsnoop.a, exitsnoop.h and exitsnoop.pc (cgo/README.md).
cabi: $(LIBBPF_A) | $(SETUP)
	$(MAKE) -C cgo

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
