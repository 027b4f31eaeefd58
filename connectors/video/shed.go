package video

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corb-dev/corb/schemas"
)

// DefaultLiveBuffer is how many frames of a live source may wait for a
// blocked sink (Ingester.LiveBuffer).
const DefaultLiveBuffer = 32

// shedder is the Sink a live source sends to: Send never blocks on the
// sink behind it. When that sink applies backpressure (the broker is away,
// the producer's buffer is full) frames wait in a queue of at most max;
// when the queue is full the oldest waiting frame is dropped to make room
// and counted. A live camera's newest frame is worth more than its oldest,
// and a camera that is not read stalls, or its stream drops. Files never go
// through a shedder: their frames block the source instead, and none is
// lost.
type shedder struct {
	next   Sink
	max    int
	onShed func(*schemas.Frame)
	onIdle func() // the queue is empty again after a send
	shed   atomic.Int64

	mu   sync.Mutex
	q    []*schemas.Frame
	busy bool  // the pump is sending a frame
	err  error // the sink's failure: final
	wake chan struct{}

	stop context.CancelFunc
	done chan struct{}
}

// newShedder starts a shedder in front of next; close it to drain and stop it.
func newShedder(next Sink, max int, onShed func(*schemas.Frame), onIdle func()) *shedder {
	if max <= 0 {
		max = DefaultLiveBuffer
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &shedder{next: next, max: max, onShed: onShed, onIdle: onIdle, wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go s.pump(ctx)
	return s
}

// Send queues f, dropping the oldest waiting frame when the queue is full.
// It returns the sink's failure, once there was one.
func (s *shedder) Send(_ context.Context, f *schemas.Frame) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	var dropped *schemas.Frame
	if len(s.q) >= s.max {
		dropped = s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
	}
	s.q = append(s.q, f)
	s.mu.Unlock()
	if dropped != nil {
		s.shed.Add(1)
		if s.onShed != nil {
			s.onShed(dropped)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Flush waits until the queue is empty, then flushes the sink behind.
func (s *shedder) Flush(ctx context.Context) error {
	if err := s.drained(ctx); err != nil {
		return err
	}
	return s.next.Flush(ctx)
}

// drained waits until the pump has handed every queued frame to the sink,
// and returns the sink's failure if it had one, or ctx's error.
func (s *shedder) drained(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle, err := len(s.q) == 0 && !s.busy, s.err
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// failed waits up to d for the queue to drain and returns the sink's
// failure, if it had one: a stream that ended checks it before it
// reconnects, without waiting out a sink that is merely blocked.
func (s *shedder) failed(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.drained(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// close drains the queue into the sink (bounded by ctx) and stops the pump;
// frames still queued when ctx ends are dropped and counted.
func (s *shedder) close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.stop()
	<-s.done
	s.mu.Lock()
	left := s.q
	s.q = nil
	s.mu.Unlock()
	for _, f := range left {
		s.shed.Add(1)
		if s.onShed != nil {
			s.onShed(f)
		}
	}
	return err
}

// pump sends queued frames to the sink, oldest first, blocking as it does.
func (s *shedder) pump(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.q) == 0 {
				s.busy = false
				s.mu.Unlock()
				if s.onIdle != nil {
					s.onIdle()
				}
				break
			}
			f := s.q[0]
			s.q[0] = nil
			s.q = s.q[1:]
			s.busy = true
			s.mu.Unlock()
			if err := s.next.Send(ctx, f); err != nil {
				s.mu.Lock()
				s.busy = false
				if ctx.Err() == nil {
					s.err = err
				}
				s.mu.Unlock()
				if ctx.Err() != nil { // closed before the sink took it
					s.shed.Add(1)
					if s.onShed != nil {
						s.onShed(f)
					}
				}
				return
			}
		}
	}
}
