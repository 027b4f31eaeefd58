package video

import (
	"context"
	"math"
	"time"
)

// Sampler drops frames so that at most maxFPS per second pass, judged by each
// frame's timestamp (container time for files, wall clock for live sources)
// rather than by counting, so variable-rate sources are sampled evenly.
//
// The first frame always passes. A frame passes when it is at or past the
// next due time (with a tolerance of 1/20 of the interval for timestamp
// rounding); the due time then advances by one interval, or restarts from
// the frame when the source skipped ahead. A timestamp that goes backwards (a
// discontinuity) passes and restarts the schedule.
type Sampler struct {
	interval time.Duration
	tol      time.Duration
	next     time.Duration
	last     time.Duration
	started  bool
}

// NewSampler returns a Sampler for maxFPS; maxFPS <= 0 (or NaN, Inf) keeps every frame.
func NewSampler(maxFPS float64) *Sampler {
	s := &Sampler{}
	if maxFPS > 0 && !math.IsInf(maxFPS, 0) && !math.IsNaN(maxFPS) {
		s.interval = time.Duration(float64(time.Second) / maxFPS)
		s.tol = s.interval / 20
	}
	return s
}

// Keep reports whether the frame at timestamp ts is kept.
func (s *Sampler) Keep(ts time.Duration) bool {
	if s.interval <= 0 {
		return true
	}
	if !s.started || ts < s.last {
		s.started = true
		s.last = ts
		s.next = ts + s.interval
		return true
	}
	if ts+s.tol < s.next {
		return false
	}
	s.last = ts
	s.next += s.interval
	if s.next <= ts {
		s.next = ts + s.interval
	}
	return true
}

// Pacer holds a file's frames back to real time: the frame at container time
// ts is released no earlier than start + (ts - ts0), where start and ts0 are
// the wall time and container time of the first frame. A pacer that fell
// behind (slow encode or sink) does not sleep until it has caught up.
type Pacer struct {
	clock   Clock
	start   time.Time
	ts0     time.Duration
	started bool
}

// NewPacer returns a Pacer on clock.
func NewPacer(clock Clock) *Pacer { return &Pacer{clock: clock} }

// Wait sleeps until the frame at ts is due, or until ctx ends.
func (p *Pacer) Wait(ctx context.Context, ts time.Duration) error {
	now := p.clock.Now()
	if !p.started || ts < p.ts0 {
		p.started, p.start, p.ts0 = true, now, ts
		return ctx.Err()
	}
	due := p.start.Add(ts - p.ts0)
	return p.clock.Sleep(ctx, due.Sub(now))
}
