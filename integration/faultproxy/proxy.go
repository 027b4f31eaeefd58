// Package faultproxy is a TCP proxy for tests that puts network faults
// between clients and a server: connections cut, bytes stalled, links slowed
// and new connections refused, on demand or at random points (Random).
//
// A Proxy listens on one address and forwards every connection to one target.
// For Kafka, one Proxy stands in front of each broker, and the brokers must
// advertise the proxies' addresses: a Kafka client connects to the addresses
// that metadata responses name, not to the ones it was seeded with, so a proxy
// that only forwarded would be bypassed after the first metadata request.
// deploy/kafka/kafka.sh does this with ADVERTISE_PORTS (a second, CLIENT
// listener per node, advertised at the proxy's port, while brokers and
// controllers keep talking to each other directly); kafkatest.StartCluster
// with kafkatest.WithProxies wires it up. Rewriting metadata responses in the
// proxy instead would mean decoding every version of Metadata, FindCoordinator
// and DescribeCluster, and would break on any the proxy did not know.
//
// Faults act on bytes, not on Kafka requests, so what a client sees is what a
// real network does to it: a reset connection (Cut, Refuse), a silent peer
// (Stall) or a slow one (Slow).
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// chunkSize is the most a pipe reads from one side before forwarding it.
const chunkSize = 32 << 10

// pipeDepth is how many chunks a pipe holds between reading and writing; with
// chunkSize it bounds what one direction of a stalled connection buffers.
const pipeDepth = 8

// Stats counts what a Proxy has done since Listen.
type Stats struct {
	Accepted        int64 // connections accepted and forwarded to the target
	Refused         int64 // connections reset on accept: during Refuse, or with no target set
	DialFailed      int64 // connections reset because the target could not be reached
	Active          int64 // connections open now
	Cut             int64 // connections reset by Cut
	BytesToTarget   int64 // bytes forwarded from clients to the target
	BytesFromTarget int64 // bytes forwarded from the target to clients
}

// Option configures a Proxy at Listen.
type Option func(*config)

type config struct {
	name        string
	dialTimeout time.Duration
}

// WithName names the proxy in fault records and errors (default: its listen address).
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithDialTimeout bounds the connection to the target (default 5s). A client
// whose target cannot be reached in time has its connection reset.
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// Proxy forwards TCP connections from its listen address to a target and
// injects faults into them. Its methods are safe for concurrent use.
type Proxy struct {
	cfg config
	ln  net.Listener

	mu          sync.Mutex
	target      string
	links       map[*link]struct{}
	stallUntil  time.Time
	refuseUntil time.Time
	latency     time.Duration
	bytesPerSec int64
	changed     chan struct{} // closed and replaced on every change of the faults above
	closed      bool

	wg    sync.WaitGroup
	stats struct {
		accepted, refused, dialFailed, active, cut, toTarget, fromTarget atomic.Int64
	}
}

// Listen starts a proxy on addr (such as "127.0.0.1:0") that forwards to
// target (host:port). The target may be empty and set later with SetTarget;
// until then connections are reset.
func Listen(addr, target string, opts ...Option) (*Proxy, error) {
	cfg := config{dialTimeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dialTimeout <= 0 {
		return nil, fmt.Errorf("faultproxy: dial timeout %s must be positive", cfg.dialTimeout)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	if cfg.name == "" {
		cfg.name = ln.Addr().String()
	}
	p := &Proxy{cfg: cfg, ln: ln, target: target, links: map[*link]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Name is the proxy's name (WithName, else its address).
func (p *Proxy) Name() string { return p.cfg.name }

// Target is where new connections are forwarded.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// SetTarget changes where new connections are forwarded; open ones stay
// connected to the old target.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted:        p.stats.accepted.Load(),
		Refused:         p.stats.refused.Load(),
		DialFailed:      p.stats.dialFailed.Load(),
		Active:          p.stats.active.Load(),
		Cut:             p.stats.cut.Load(),
		BytesToTarget:   p.stats.toTarget.Load(),
		BytesFromTarget: p.stats.fromTarget.Load(),
	}
}

// Cut resets every open connection now (the client sees ECONNRESET or EOF)
// and returns how many it cut. New connections are accepted as usual.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
	p.stats.cut.Add(int64(len(links)))
	return len(links)
}

// Stall stops forwarding bytes in both directions, on open and new
// connections, for d from now; connections stay open and nothing is lost, as
// on a network that drops every packet for a while and then recovers. A
// stall longer than a client's request timeout makes the client give up on
// its requests. Stalling again extends the stall; Heal ends it.
func (p *Proxy) Stall(d time.Duration) {
	p.update(func() {
		if until := time.Now().Add(d); until.After(p.stallUntil) {
			p.stallUntil = until
		}
	})
}

// Slow delays every chunk of bytes by latency in each direction (a round
// trip gains twice latency) and, when bytesPerSec > 0, paces each direction
// of each connection to that rate. It lasts until Slow(0, 0) or Heal.
func (p *Proxy) Slow(latency time.Duration, bytesPerSec int64) {
	p.update(func() {
		p.latency = max(latency, 0)
		p.bytesPerSec = max(bytesPerSec, 0)
	})
}

// Refuse resets every new connection on accept for d from now (the client's
// connect succeeds, its first read or write fails); open connections carry
// on. Refusing again extends the time; Heal ends it.
func (p *Proxy) Refuse(d time.Duration) {
	p.update(func() {
		if until := time.Now().Add(d); until.After(p.refuseUntil) {
			p.refuseUntil = until
		}
	})
}

// Heal ends every stall, slowdown and refusal now. Cut connections stay cut.
func (p *Proxy) Heal() {
	p.update(func() {
		p.stallUntil = time.Time{}
		p.refuseUntil = time.Time{}
		p.latency = 0
		p.bytesPerSec = 0
	})
}

// Close stops accepting, resets every open connection and waits until every
// goroutine of the proxy has ended. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

// faults is a snapshot of the proxy's fault state.
type faults struct {
	stallUntil  time.Time
	latency     time.Duration
	bytesPerSec int64
	changed     <-chan struct{}
}

func (p *Proxy) faults() faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faults{stallUntil: p.stallUntil, latency: p.latency, bytesPerSec: p.bytesPerSec, changed: p.changed}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(backoff) // EMFILE and the like: wait, then try again
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		p.mu.Lock()
		closed, refusing, target := p.closed, time.Now().Before(p.refuseUntil), p.target
		if !closed {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		switch {
		case closed:
			resetConn(c)
			return
		case refusing || target == "":
			p.stats.refused.Add(1)
			resetConn(c)
			p.wg.Done()
		default:
			go p.serve(c, target)
		}
	}
}

// serve connects c to target and forwards until either side ends.
func (p *Proxy) serve(c net.Conn, target string) {
	defer p.wg.Done()
	u, err := net.DialTimeout("tcp", target, p.cfg.dialTimeout)
	if err != nil {
		p.stats.dialFailed.Add(1)
		resetConn(c)
		return
	}
	l := &link{client: c, upstream: u, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.reset()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.stats.accepted.Add(1)
	p.stats.active.Add(1)
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		p.stats.active.Add(-1)
		l.close()
	}()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, c, u, &p.stats.toTarget) }()
	go func() { defer wg.Done(); p.pipe(l, u, c, &p.stats.fromTarget) }()
	wg.Wait()
}

// chunk is bytes read from one side, with the time they were read.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe forwards src to dst: one goroutine reads, this one writes, so latency
// delays every chunk from the time it was read (the link stays pipelined)
// and a stall stops the writes while the reads fill at most pipeDepth chunks.
// An error on either side ends the whole link; src's EOF half-closes dst.
func (p *Proxy) pipe(l *link, src, dst net.Conn, counter *atomic.Int64) {
	chunks := make(chan chunk, pipeDepth)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case chunks <- chunk{b: buf[:n], at: time.Now()}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	// Every early return below has ended the link, so the reader's Read fails
	// and it closes chunks; wait for that, so no goroutine outlives Close.
	defer func() {
		for range chunks {
		}
	}()
	var next time.Time // with a rate limit: the earliest time of the next write
	for ch := range chunks {
		b := ch.b
		for len(b) > 0 {
			f, ok := p.waitForward(l, ch.at, next)
			if !ok {
				return
			}
			n := len(b)
			if f.bytesPerSec > 0 {
				// Pace in slices of about 20ms so the rate holds over short spans too.
				n = min(n, max(int(f.bytesPerSec/50), 1))
			}
			if _, err := dst.Write(b[:n]); err != nil {
				l.close()
				return
			}
			counter.Add(int64(n))
			b = b[n:]
			if f.bytesPerSec > 0 {
				next = time.Now().Add(time.Duration(float64(n) / float64(f.bytesPerSec) * float64(time.Second)))
			} else {
				next = time.Time{}
			}
		}
	}
	select {
	case err := <-readErr:
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
				return
			}
		}
	default: // the reader stopped because the link ended
	}
	l.close()
}

// waitForward blocks until a chunk read at readAt may be written: no stall,
// its latency passed, and the rate limit's next slot reached. It reports
// false when the link ended first. The faults are read again on every change,
// so Heal releases waiting chunks at once.
func (p *Proxy) waitForward(l *link, readAt, next time.Time) (faults, bool) {
	for {
		f := p.faults()
		until := f.stallUntil
		if due := readAt.Add(f.latency); f.latency > 0 && due.After(until) {
			until = due
		}
		if f.bytesPerSec > 0 && next.After(until) {
			until = next
		}
		d := time.Until(until)
		if d <= 0 {
			select {
			case <-l.done:
				return f, false
			default:
				return f, true
			}
		}
		if !sleep(d, f.changed, l.done) {
			return f, false
		}
	}
}

// sleep waits for d or until changed is closed; it returns false if done is closed first.
func sleep(d time.Duration, changed <-chan struct{}, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-changed:
	case <-done:
		return false
	}
	return true
}

// link is one proxied connection: the client's side and the target's.
type link struct {
	client, upstream net.Conn
	once             sync.Once
	done             chan struct{}
}

// close ends both sides (idempotent).
func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.upstream.Close()
	})
}

// reset ends both sides with a TCP reset rather than an orderly close.
func (l *link) reset() {
	setLingerZero(l.client)
	setLingerZero(l.upstream)
	l.close()
}

func resetConn(c net.Conn) {
	setLingerZero(c)
	_ = c.Close()
}

// setLingerZero makes Close send RST instead of FIN.
func setLingerZero(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}
