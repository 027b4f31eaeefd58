package runtime

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// lines are the log lines in buf.
func lines(buf *bytes.Buffer) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// dropAt is a drop for reason at a time after the start of a test.
type dropAt struct {
	at     time.Duration
	reason string
}

// A cause is logged at its first drop, then at most once an interval with
// the count since its last line; causes are apart, and the match pattern's
// drops log at debug level.
func TestDropLog(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name  string
		drops []dropAt
		want  []string // the level, reason and count of each line
	}{
		{"first at once, the rest counted", []dropAt{{0, "a"}, {s, "a"}, {2 * s, "a"}}, []string{"INFO a 1"}},
		{"once an interval with the count since", []dropAt{{0, "a"}, {10 * s, "a"}, {30 * s, "a"}, {61 * s, "a"}, {62 * s, "a"}},
			[]string{"INFO a 1", "INFO a 3"}},
		{"causes apart", []dropAt{{0, "a"}, {s, "b"}, {2 * s, "a"}, {3 * s, "b"}}, []string{"INFO a 1", "INFO b 1"}},
		{"match at debug", []dropAt{{0, ReasonMatch}}, []string{"DEBUG match 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := t0
			l := newDropLog(testLogger(&buf), time.Minute, func() time.Time { return now })
			for _, d := range tt.drops {
				now = t0.Add(d.at)
				l.add(Drop{Reason: d.reason, Topic: "in", Key: []byte("cam9")})
			}
			var got []string
			for _, line := range lines(&buf) {
				f := fields(line)
				got = append(got, f["level"]+" "+f["reason"]+" "+f["count"])
				if f["last_key"] != "cam9" {
					t.Errorf("line %q does not name the last record's key", line)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
		})
	}
}

// fields are the key=value pairs of a text log line.
func fields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}
