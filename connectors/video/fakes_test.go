package video

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/corb-dev/corb/schemas"
)

// fakeClock advances only when slept on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	// onSleep runs after each sleep (e.g. to cancel ctx after n sleeps).
	onSleep func(n int)
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.sleeps = append(c.sleeps, d)
	n := len(c.sleeps)
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return ctx.Err()
}

// fakeCapture plays back a list of frame timestamps, then ends with end
// (io.EOF for files, an error for a dropped stream).
type fakeCapture struct {
	pos    []time.Duration
	i      int
	end    error
	width  int
	height int
	clock  *fakeClock // if set, advanced by step per Read (a live camera's frame interval)
	step   time.Duration
	closed bool
}

func (c *fakeCapture) Read() (time.Duration, error) {
	if c.i >= len(c.pos) {
		return 0, c.end
	}
	p := c.pos[c.i]
	c.i++
	if c.clock != nil {
		c.clock.advance(c.step)
	}
	return p, nil
}

func (c *fakeCapture) Encode(maxWidth, quality int) (Image, error) {
	w, h := c.width, c.height
	if maxWidth > 0 && w > maxWidth {
		h = h * maxWidth / w
		w = maxWidth
	}
	return Image{Data: []byte(fmt.Sprintf("jpeg q=%d %d", quality, c.i-1)), Width: w, Height: h}, nil
}

func (c *fakeCapture) Close() error { c.closed = true; return nil }

// fakeOpener returns the next scripted result per Open call.
type fakeOpener struct {
	mu      sync.Mutex
	results []openResult
	opens   int
	// byPath, when set, serves files by location (watch tests).
	byPath map[string]func() (Capture, CaptureInfo, error)
}

type openResult struct {
	capt Capture
	info CaptureInfo
	err  error
}

var errRefused = errors.New("connection refused")

func (o *fakeOpener) Open(ctx context.Context, src Source) (Capture, CaptureInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	if o.byPath != nil {
		f, ok := o.byPath[src.Location]
		if !ok {
			return nil, CaptureInfo{}, fmt.Errorf("no such fake file %s", src.Location)
		}
		return f()
	}
	if len(o.results) == 0 {
		return nil, CaptureInfo{}, errRefused
	}
	r := o.results[0]
	o.results = o.results[1:]
	return r.capt, r.info, r.err
}

// memSink keeps frames in memory.
type memSink struct {
	mu      sync.Mutex
	frames  []*schemas.Frame
	flushes int
	sendErr error
}

func (s *memSink) Send(ctx context.Context, f *schemas.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendErr != nil {
		return s.sendErr
	}
	s.frames = append(s.frames, f)
	return nil
}

func (s *memSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	s.flushes++
	s.mu.Unlock()
	return nil
}

func msList(n int, stepMS float64) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(i) * stepMS * float64(time.Millisecond))
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
