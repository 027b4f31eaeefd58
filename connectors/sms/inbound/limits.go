package inbound

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// lru is a map of at most n entries that forgets the least recently used
// one first. It is not safe for concurrent use: its owners lock.
type lru[K comparable, V any] struct {
	n  int
	ll *list.List // of *lruEntry, the most recently used in front
	m  map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](n int) *lru[K, V] {
	return &lru[K, V]{n: n, ll: list.New(), m: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry[K, V]).val, true
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.m[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v})
	if c.ll.Len() > c.n {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.m, oldest.Value.(*lruEntry[K, V]).key)
	}
}

func (c *lru[K, V]) remove(k K) {
	if e, ok := c.m[k]; ok {
		c.ll.Remove(e)
		delete(c.m, k)
	}
}

func (c *lru[K, V]) len() int { return c.ll.Len() }

// recent remembers the webhooks handled lately (a MessageSid, or a
// MessageSid and a status), so that Twilio's retries of one are acted on
// once. A retry that arrives while the first delivery is still being handled
// waits for its outcome instead of acting a second time.
type recent struct {
	mu  sync.Mutex
	lru *lru[string, *flight]
}

// flight is the handling of one webhook: done closes when it ends, and err
// is then its outcome.
type flight struct {
	done chan struct{}
	err  error
}

func newRecent(n int) *recent { return &recent{lru: newLRU[string, *flight](n)} }

// begin returns the flight of key and whether the caller is the first to
// handle it; the first must call end.
func (r *recent) begin(key string) (f *flight, first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.lru.get(key); ok {
		return f, false
	}
	f = &flight{done: make(chan struct{})}
	r.lru.put(key, f)
	return f, true
}

// end records how the flight of key went. A failed one is forgotten, so
// that Twilio's retry acts anew.
func (r *recent) end(key string, f *flight, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.err = err
	close(f.done)
	if cur, ok := r.lru.get(key); err != nil && ok && cur == f {
		r.lru.remove(key)
	}
}

// senders rate-limits each sender with a token bucket of its own, for the
// most recent senders only (a sender forgotten starts afresh).
type senders struct {
	limit rate.Limit
	burst int

	mu  sync.Mutex
	lru *lru[string, *sender]
}

type sender struct {
	lim *rate.Limiter
	// refused: the sender was refused since it was last allowed, so it has
	// been told to slow down already.
	refused bool
}

func newSenders(every time.Duration, burst, n int) *senders {
	return &senders{limit: rate.Every(every), burst: burst, lru: newLRU[string, *sender](n)}
}

// allow takes one of phone's tokens at now. When none is left, it reports
// whether this is the first refusal since phone was last allowed.
func (s *senders) allow(phone string, now time.Time) (ok, firstRefusal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found := s.lru.get(phone)
	if !found {
		st = &sender{lim: rate.NewLimiter(s.limit, s.burst)}
		s.lru.put(phone, st)
	}
	if st.lim.AllowN(now, 1) {
		st.refused = false
		return true, false
	}
	first := !st.refused
	st.refused = true
	return false, first
}
