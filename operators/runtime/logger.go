package runtime

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

// unreachableKey is the fault.Log key of connection errors, whoever
// reported them: franz-go's log lines, the connection hooks.
const unreachableKey = "unreachable"

// kgoLogger sends franz-go's logs to slog. franz-go's info level is chatty
// (every join and fetch session), so it maps to slog's debug. Its warnings
// and errors go through the fault log: while a broker is away, franz-go
// logs every failed dial and every failed rejoin (four lines a second and
// more), which become one line at the start and one count per window.
type kgoLogger struct {
	l      *slog.Logger
	faults *fault.Log
}

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	default:
		k.l.Log(context.Background(), slog.LevelDebug, "kafka: "+msg, keyvals...)
		return
	}
	if k.faults == nil {
		k.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
		return
	}
	var err error
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		if e, ok := keyvals[i+1].(error); ok && keyvals[i] == "err" {
			err = e
			continue
		}
		attrs = append(attrs, keyvals[i], keyvals[i+1])
	}
	if fault.Classify(err) == fault.Unreachable {
		// One spell for every connection error, whichever client loop logged it.
		k.faults.Fault(slog.LevelWarn, unreachableKey, "broker unreachable", err, attrs...)
		return
	}
	k.faults.Fault(l, "kafka: "+msg, "kafka: "+msg, err, attrs...)
}
