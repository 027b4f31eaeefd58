package runtime

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// Progress is Hooks that log each operator instance's progress — records
// in, outputs, dead letters and records dropped (by the match pattern too)
// since the last line — once every interval, and only when something
// happened: a terminal shows life without a line per batch. Only committed
// batches count. Run writes the lines.
type Progress struct {
	NopHooks // what it does not count
	log      *slog.Logger
	every    time.Duration

	mu     sync.Mutex
	counts map[Member]*progressCounts
}

type progressCounts struct{ in, out, dead, dropped int }

// NewProgress returns Progress hooks that write to log every interval.
func NewProgress(log *slog.Logger, every time.Duration) *Progress {
	return &Progress{log: log, every: every, counts: map[Member]*progressCounts{}}
}

// Run logs the progress every interval until ctx ends, and then what
// happened since the last line.
func (p *Progress) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.flush()
			return
		case <-t.C:
			p.flush()
		}
	}
}

// flush logs a line per instance that did something since the last one.
func (p *Progress) flush() {
	p.mu.Lock()
	counts := p.counts
	p.counts = map[Member]*progressCounts{}
	p.mu.Unlock()
	members := slices.SortedFunc(maps.Keys(counts), func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.Operator, b.Operator), cmp.Compare(a.Instance, b.Instance))
	})
	for _, m := range members {
		c := counts[m]
		p.log.Info("progress", "operator", m.Operator, "instance", m.Instance, "in", c.in, "out", c.out,
			"dead_letters", c.dead, "dropped", c.dropped)
	}
}

// BatchDone implements Hooks.
func (p *Progress) BatchDone(m Member, b Batch) {
	if !b.Committed {
		return
	}
	out := 0
	for _, n := range b.Out {
		out += n
	}
	if b.Records == 0 && out == 0 && b.DeadLetters == 0 && b.Dropped == 0 {
		return // a tick with nothing to say, a commit of transaction markers
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts[m]
	if c == nil {
		c = &progressCounts{}
		p.counts[m] = c
	}
	c.in += b.Records
	c.out += out
	c.dead += b.DeadLetters
	c.dropped += b.Dropped
}
