package exitsnoop

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"exitsnoop.dev/internal/bpfobj"
	"exitsnoop.dev/internal/bpfsys"
)

// TestFeaturesProbed: every feature the tracer needs probes as present on this
// kernel (the suite's kernels all have them: a failing probe is a bug).
func TestFeaturesProbed(t *testing.T) {
	for _, f := range features {
		assert.NoError(t, f.probe(), f.name)
	}
	require.NoError(t, checkKernel())
}

// TestMissingFeature: a probe the kernel refuses gives a *NotSupportedError
// naming the feature and its kernel, with the kernel's errno.
func TestMissingFeature(t *testing.T) {
	old := features
	t.Cleanup(func() { features = old })
	features = []feature{{"map type 9999", "9.9", func() error { return bpfsys.ProbeMap(9999, 0, 1, false) }}}
	err := checkKernel()
	require.ErrorIs(t, err, ErrNotSupported)
	require.ErrorIs(t, err, syscall.EINVAL)
	var nse *NotSupportedError
	require.True(t, errors.As(err, &nse))
	assert.Equal(t, "9.9", nse.MinVersion)
	assert.Contains(t, err.Error(), "map type 9999 not supported (requires >= 9.9)")
	_, err = Open(Options{})
	require.ErrorIs(t, err, ErrNotSupported, "Open refuses before loading")
}

// records collects log records at min and above.
type records struct {
	mu   sync.Mutex
	min  slog.Level
	msgs []string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		msg += " " + a.Value.String()
		return true
	})
	r.msgs = append(r.msgs, msg)
	return nil
}

func (r *records) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// TestLoggerGetsLibbpf: libbpf's messages about a load go to Options.Logger.
func TestLoggerGetsLibbpf(t *testing.T) {
	got := records{min: slog.LevelDebug}
	openPrivate(t, Options{Logger: slog.New(&got)})
	got.mu.Lock()
	defer got.mu.Unlock()
	require.NotEmpty(t, got.msgs, "libbpf says something at debug level while loading")
	assert.True(t, strings.HasPrefix(got.msgs[0], "DEBUG"), "%q", got.msgs[0])
}

// TestQuietByDefault: without a Logger, loading and pinning write nothing to stderr.
func TestQuietByDefault(t *testing.T) {
	cmd := helperCmd("open-private", "-")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run())
	assert.Empty(t, stderr.String())
}

// openPrivateOnce is the open-private helper: Open and Close a private tracer.
// It then installs, upgrades and uninstalls a pinned tracer, which libbpf
// comments on too.
func openPrivateOnce() error {
	s, err := Open(Options{})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "exitsnoop-quiet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := EnsureRunning(root); err != nil {
		return err
	}
	if err := upgrade(pinDir(root), Options{BPFFSRoot: root}.withDefaults()); err != nil {
		return err
	}
	return Uninstall(root)
}

// TestLayoutsMatchBTF: the Go mirrors match the embedded object's BTF, and a
// drift (a field moved, a struct grown) is caught.
func TestLayoutsMatchBTF(t *testing.T) {
	require.NoError(t, checkLayouts())
	names := make([]string, 0, len(mirrors))
	for name := range mirrors {
		names = append(names, name)
	}
	layouts, err := bpfsys.StructLayouts(bpfobj.Object, names...)
	require.NoError(t, err)
	for _, name := range []string{"task_info", "exit_status", "exitsnoop_stats", "exitsnoop_meta"} {
		assert.NotEmpty(t, layouts[name].Offsets, name)
	}
	drifted := map[string]reflect.Type{
		"task_info": reflect.TypeOf(struct{ A, B, C, D, E, F uint64 }{}), // grown
		"exit_status": reflect.TypeOf(struct {
			Pid, Code, S1, S2 uint32
			E                 uint64
		}{}), // start time split
		"trace_ref": reflect.TypeOf(struct{ Fate uint64 }{}), // same size, one field
	}
	for name, typ := range drifted {
		err := compareLayouts(layouts, map[string]reflect.Type{name: typ})
		assert.ErrorIs(t, err, ErrIncompatible, "%s as %s", name, typ)
	}
}

// TestLoggerGetsVerifierStats: with a Logger at debug level, each program's
// verifier statistics go to it.
func TestLoggerGetsVerifierStats(t *testing.T) {
	got := records{min: slog.LevelDebug}
	openPrivate(t, Options{Logger: slog.New(&got)})
	got.mu.Lock()
	defer got.mu.Unlock()
	var progs []string
	for _, msg := range got.msgs {
		if rest, ok := strings.CutPrefix(msg, "DEBUG BPF program verified "); ok {
			prog, log, _ := strings.Cut(rest, " ")
			progs = append(progs, prog)
			assert.Contains(t, log, "processed ", prog)
		}
	}
	assert.Equal(t, progNames, progs)
}

// brokenObject is the tracer's object with the first instruction of the exit
// program replaced by r0 = r5, a read of a register never written.
func brokenObject(t *testing.T) []byte {
	t.Helper()
	f, err := elf.NewFile(strings.NewReader(string(bpfobj.Object)))
	require.NoError(t, err)
	sec := f.Section("tp_btf/sched_process_exit")
	require.NotNil(t, sec)
	if rel := f.Section(".rel" + sec.Name); rel != nil {
		data, err := rel.Data()
		require.NoError(t, err)
		for i := 0; i+16 <= len(data); i += 16 {
			require.NotZero(t, binary.LittleEndian.Uint64(data[i:]), "the first instruction is relocated")
		}
	}
	obj := append([]byte(nil), bpfobj.Object...)
	copy(obj[sec.Offset:], []byte{0xbf, 0x50, 0, 0, 0, 0, 0, 0}) // BPF_ALU64|BPF_MOV|BPF_X, dst r0, src r5
	return obj
}

// TestVerifierError: the kernel's reason for refusing a program is in the error,
// from the load's own log buffer, not in libbpf's messages.
func TestVerifierError(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} { // log level 1 on failure, or stats
		host := &records{min: level}
		err := withLibbpfLogger(slog.New(host), func() error {
			_, err := loadObject(brokenObject(t), Options{Logger: slog.New(host)}.withDefaults(), nil)
			return err
		})
		var ve *VerifierError
		require.True(t, errors.As(err, &ve), "%v", err)
		assert.Equal(t, "handle_exit", ve.Program)
		assert.ErrorIs(t, err, syscall.EACCES)
		assert.Equal(t, "R5 !read_ok", reason(ve.Log))
		assert.Contains(t, err.Error(), "program handle_exit: ")
		assert.Contains(t, err.Error(), "verifier: R5 !read_ok")
		assert.NotContains(t, host.String(), "R5 !read_ok", "the log bypasses libbpf's messages")
		assert.Empty(t, permHint(permLoad, err), "root has the capabilities: no hint")
	}
}
