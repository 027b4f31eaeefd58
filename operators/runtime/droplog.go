package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// dropLog logs the records an operator drops on purpose, by cause: a cause's
// first record at once, then at most one line per cause every interval, with
// the count since the last line — enough to explain an output that never
// comes, without a line per record. Records left out by the match pattern are
// routine routing and log at debug level. It is used from the loop only.
type dropLog struct {
	log    *slog.Logger
	every  time.Duration
	now    func() time.Time
	causes map[string]*dropCause
}

type dropCause struct {
	logged  time.Time // when the last line was
	pending int       // drops since then
}

func newDropLog(log *slog.Logger, every time.Duration, now func() time.Time) *dropLog {
	return &dropLog{log: log, every: every, now: now, causes: map[string]*dropCause{}}
}

// add counts d under its reason and logs the reason when a line is due.
func (l *dropLog) add(d Drop) {
	c := l.causes[d.Reason]
	now := l.now()
	first := c == nil
	if first {
		c = &dropCause{}
		l.causes[d.Reason] = c
	}
	c.pending++
	if !first && now.Sub(c.logged) < l.every {
		return
	}
	level, msg := slog.LevelInfo, "records dropped on purpose"
	if d.Reason == ReasonMatch {
		level = slog.LevelDebug
	}
	if first {
		msg = fmt.Sprintf("record dropped on purpose; more for this reason are counted and logged at most every %v", l.every)
	}
	l.log.Log(context.Background(), level, msg, "reason", d.Reason, "count", c.pending,
		"last_topic", d.Topic, "last_partition", d.Partition, "last_offset", d.Offset, "last_key", printable(d.Key))
	c.logged, c.pending = now, 0
}

// printable is a key as a log shows it: quoted where it is not plain text,
// and cut short.
func printable(key []byte) string {
	const most = 64
	s := string(key)
	if len(key) > most {
		s = string(key[:most]) + "…"
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return strconv.Quote(s)
		}
	}
	return s
}
