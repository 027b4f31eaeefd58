package fault

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Log writes faults to a slog.Logger at a bounded rate. Faults are grouped
// under a key (a Kind, or a message): the first of a spell is logged at
// once, the rest are counted and summed up at most once per window
// ("broker unreachable, 37 errors in the last 10s"), and the end of the
// spell gets a line of its own (Resolved, or a quiet window in Flush).
// Safe for concurrent use.
type Log struct {
	l      *slog.Logger
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	spells map[string]*spell
}

type spell struct {
	msg     string
	level   slog.Level
	started time.Time // first fault of the spell
	logged  time.Time // last line written
	latest  time.Time // last fault
	n       int       // faults since the last line
	total   int
	err     error
	attrs   []any
}

// NewLog returns a Log writing to l that sums up every window (default
// 10s), on clock now (default time.Now).
func NewLog(l *slog.Logger, window time.Duration, now func() time.Time) *Log {
	if window <= 0 {
		window = 10 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Log{l: l, window: window, now: now, spells: map[string]*spell{}}
}

// Window is how often a spell is summed up.
func (f *Log) Window() time.Duration { return f.window }

// Fault records one fault under key: the first of a spell is logged at
// level with msg, err and attrs; the next ones are counted, and their
// count is logged with the latest err and attrs once the window since the
// last line has passed.
func (f *Log) Fault(level slog.Level, key, msg string, err error, attrs ...any) {
	now := f.now()
	f.mu.Lock()
	s := f.spells[key]
	if s == nil {
		s = &spell{msg: msg, level: level, started: now, logged: now, latest: now, total: 1, err: err, attrs: attrs}
		f.spells[key] = s
		f.mu.Unlock()
		f.write(level, msg, err, attrs)
		return
	}
	s.n++
	s.total++
	s.latest, s.err, s.attrs = now, err, attrs
	s.level = max(s.level, level)
	line := f.due(s, now)
	f.mu.Unlock()
	line()
}

// Flush sums up every spell whose window has passed, and ends those with
// no fault in the last window (logged at Info: "no more: ...").
func (f *Log) Flush() {
	now := f.now()
	var lines []func()
	f.mu.Lock()
	for key, s := range f.spells {
		if s.n == 0 && now.Sub(s.latest) >= f.window {
			delete(f.spells, key)
			lines = append(lines, f.ended(s, "no more: "+s.msg, now))
			continue
		}
		lines = append(lines, f.due(s, now))
	}
	f.mu.Unlock()
	for _, l := range lines {
		l()
	}
}

// Resolved ends the spell under key, if there is one and its last fault
// is at least quiet ago, with an Info line msg saying how long it lasted
// and how many faults it had. It reports whether it ended one. A quiet
// period keeps a flapping fault (one broker of three away, the others
// answering) in one spell.
func (f *Log) Resolved(key, msg string, quiet time.Duration) bool {
	now := f.now()
	f.mu.Lock()
	s := f.spells[key]
	if s == nil || now.Sub(s.latest) < quiet {
		f.mu.Unlock()
		return false
	}
	delete(f.spells, key)
	f.mu.Unlock()
	f.ended(s, msg, now)()
	return true
}

// Active reports whether a spell is under way under key.
func (f *Log) Active(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spells[key] != nil
}

// due is the summary line of s when its window has passed (a no-op
// otherwise). Called with f.mu held; the line is written without it.
func (f *Log) due(s *spell, now time.Time) func() {
	if s.n == 0 || now.Sub(s.logged) < f.window {
		return func() {}
	}
	msg := fmt.Sprintf("%s, %d %s in the last %s", s.msg, s.n, plural(s.n, "error", "errors"), round(now.Sub(s.logged)))
	level, err, attrs := s.level, s.err, s.attrs
	s.n, s.logged = 0, now
	return func() { f.write(level, msg, err, attrs) }
}

func (f *Log) ended(s *spell, msg string, now time.Time) func() {
	attrs := []any{"after", round(now.Sub(s.started)), "errors", s.total}
	if s.err != nil {
		attrs = append(attrs, "last_err", s.err.Error())
	}
	return func() { f.l.Log(context.Background(), slog.LevelInfo, msg, attrs...) }
}

func (f *Log) write(level slog.Level, msg string, err error, attrs []any) {
	if err != nil {
		attrs = append(append([]any(nil), attrs...), "err", err.Error())
	}
	f.l.Log(context.Background(), level, msg, attrs...)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// round is d to the tenth of a second, or the second above 10s: what a log reader wants.
func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
