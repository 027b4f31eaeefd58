package fault_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/runtime/fault"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func newLog(buf *bytes.Buffer, c *fakeClock) *fault.Log {
	l := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return fault.NewLog(l, 10*time.Second, c.now)
}

func logLines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// An outage of 25 s with four errors a second reads as one line at its
// start (the first error), one count per window (the others) and one line
// at its end.
func TestLogBoundsAnOutage(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	f := newLog(&buf, c)
	refused := errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")
	for range 100 { // 25 s at 4 a second
		f.Fault(slog.LevelWarn, "unreachable", "broker unreachable", refused, "addr", "127.0.0.1:9092")
		c.add(250 * time.Millisecond)
		f.Flush()
	}
	if f.Resolved("unreachable", "broker reachable again", time.Second) {
		t.Fatal("Resolved ended a spell whose last fault was 250ms ago")
	}
	c.add(time.Second)
	if !f.Resolved("unreachable", "broker reachable again", time.Second) {
		t.Fatal("Resolved found no spell")
	}
	got := logLines(&buf)
	want := []string{
		`level=WARN msg="broker unreachable" addr=127.0.0.1:9092 err="dial tcp 127.0.0.1:9092: connect: connection refused"`,
		`level=WARN msg="broker unreachable, 39 errors in the last 10s" addr=127.0.0.1:9092 err="dial tcp 127.0.0.1:9092: connect: connection refused"`,
		`level=WARN msg="broker unreachable, 40 errors in the last 10s" addr=127.0.0.1:9092 err="dial tcp 127.0.0.1:9092: connect: connection refused"`,
		`level=INFO msg="broker reachable again" after=26s errors=100 last_err="dial tcp 127.0.0.1:9092: connect: connection refused"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLogKeepsAFlappingFaultInOneSpell(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	f := newLog(&buf, c)
	err := errors.New("EOF")
	for range 5 {
		f.Fault(slog.LevelWarn, "unreachable", "broker unreachable", err)
		c.add(100 * time.Millisecond)
		if f.Resolved("unreachable", "broker reachable again", time.Second) {
			t.Fatal("a spell ended 100ms after its last fault")
		}
	}
	c.add(time.Second)
	if !f.Resolved("unreachable", "broker reachable again", time.Second) {
		t.Fatal("the spell did not end after a quiet second")
	}
	if n := len(logLines(&buf)); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, buf.String())
	}
}

func TestLogEndsAQuietSpellAndKeepsKeysApart(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	f := newLog(&buf, c)
	f.Fault(slog.LevelWarn, "a", "kafka: join group failed", errors.New("x"))
	f.Fault(slog.LevelError, "b", "kafka: heartbeat failed", errors.New("y"))
	f.Fault(slog.LevelWarn, "a", "kafka: join group failed", errors.New("x"))
	c.add(10 * time.Second)
	f.Flush() // a: 1 counted, summed up; b: quiet for a window, ends
	c.add(10 * time.Second)
	f.Flush() // a: quiet, ends
	if f.Active("a") || f.Active("b") {
		t.Error("spells still active after a quiet window")
	}
	want := []string{
		`level=WARN msg="kafka: join group failed" err=x`,
		`level=ERROR msg="kafka: heartbeat failed" err=y`,
		`level=WARN msg="kafka: join group failed, 1 error in the last 10s" err=x`,
		`level=INFO msg="no more: kafka: heartbeat failed" after=10s errors=1 last_err=y`,
		`level=INFO msg="no more: kafka: join group failed" after=20s errors=2 last_err=x`,
	}
	got := logLines(&buf)
	// Flush visits spells in map order: compare as sets of lines per flush.
	if len(got) != len(want) {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing line %s in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}
