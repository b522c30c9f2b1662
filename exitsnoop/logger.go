package exitsnoop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	bpf "github.com/aquasecurity/libbpfgo"
)

// libbpf prints through one process-wide callback, which libbpfgo owns and, by
// default, writes every message to stderr. On its first load (not on import)
// exitsnoop sets it to a dispatcher: messages during one of its loads go to that
// load's Options.Logger; all others go to stderr, as libbpfgo's default does. A
// program that sets libbpfgo's callbacks itself should do so after its first Open.
var (
	loadMu     sync.Mutex   // serializes loads: loadLogger is the running one's
	loadLogger *slog.Logger // guarded by loadMu's holder; read by libbpfLog
	logMu      sync.RWMutex // guards loadLogger for libbpfLog
	logOnce    sync.Once
)

// withLibbpfLogger runs load with libbpf's messages going to l (nil: warnings
// to slog.Default(), the rest discarded).
func withLibbpfLogger(l *slog.Logger, load func() error) error {
	logOnce.Do(func() { bpf.SetLoggerCbs(bpf.Callbacks{Log: libbpfLog}) })
	if l == nil {
		l = slog.New(minLevel{slog.Default().Handler(), slog.LevelWarn})
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	logMu.Lock()
	loadLogger = l
	logMu.Unlock()
	defer func() {
		logMu.Lock()
		loadLogger = nil
		logMu.Unlock()
	}()
	return load()
}

func libbpfLog(level int, msg string) {
	logMu.RLock()
	l := loadLogger
	logMu.RUnlock()
	if l == nil {
		fmt.Fprint(os.Stderr, msg)
		return
	}
	lvl := slog.LevelDebug
	switch level {
	case bpf.LibbpfWarnLevel:
		lvl = slog.LevelWarn
	case bpf.LibbpfInfoLevel:
		lvl = slog.LevelInfo
	}
	l.Log(context.Background(), lvl, strings.TrimSpace(msg), "from", "libbpf")
}

// minLevel is a handler that drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
