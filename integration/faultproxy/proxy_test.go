package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer accepts connections on loopback and writes back what it reads;
// it half-closes on EOF. It stops when the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string, opts ...Option) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within timeout.
func roundTrip(c net.Conn, msg []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

// refused reports whether a connection to addr fails: at dial (a reset can
// come back before connect returns) or at its first round trip.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return true
	}
	defer c.Close()
	return roundTrip(c, []byte("x"), 5*time.Second) != nil
}

// isDead reports whether c fails to read (a reset or EOF) within timeout; a
// read timeout means the connection is still alive.
func isDead(c net.Conn, timeout time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestForwards(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	msg := bytes.Repeat([]byte("corb"), 100_000) // larger than a chunk and the pipe together
	errc := make(chan error, 1)
	go func() { errc <- roundTrip(c, msg, 10*time.Second) }()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// A half-close travels through: the echo server ends its side too.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		t.Fatalf("after half-close: read %d bytes, err %v; want EOF", n, err)
	}
	waitFor(t, func() bool { return p.Stats().Active == 0 })
	st := p.Stats()
	if st.Accepted != 1 || st.BytesToTarget != int64(len(msg)) || st.BytesFromTarget != int64(len(msg)) {
		t.Fatalf("stats %+v; want 1 accepted and %d bytes each way", st, len(msg))
	}
}

// TestFaults checks that each fault has its observable effect on an open
// connection and on a new one, and that the proxy forwards again afterwards.
// Only lower bounds of time are checked (a delay cannot come early); upper
// bounds are generous.
func TestFaults(t *testing.T) {
	const d = 300 * time.Millisecond
	msg := []byte("ping")
	tests := []struct {
		name   string
		inject func(p *Proxy)
		// open: what happens to a connection opened before the fault.
		openDead bool          // it is reset
		openMin  time.Duration // else: a round trip takes at least this long
		// fresh: what happens to a connection opened during the fault.
		freshDead bool
		freshMin  time.Duration
		check     func(t *testing.T, st Stats)
	}{
		{
			name:     "cut resets open connections, new ones work",
			inject:   func(p *Proxy) { p.Cut() },
			openDead: true,
			check: func(t *testing.T, st Stats) {
				if st.Cut != 1 {
					t.Errorf("Stats.Cut = %d, want 1", st.Cut)
				}
			},
		},
		{
			name:     "stall holds bytes both ways until it ends",
			inject:   func(p *Proxy) { p.Stall(d) },
			openMin:  d,
			freshMin: d,
		},
		{
			name:     "slow adds latency each way",
			inject:   func(p *Proxy) { p.Slow(d/2, 0) },
			openMin:  d, // two directions
			freshMin: d,
		},
		{
			name:      "refuse resets new connections, open ones carry on",
			inject:    func(p *Proxy) { p.Refuse(2 * time.Second) },
			freshDead: true,
			check: func(t *testing.T, st Stats) {
				if st.Refused != 1 {
					t.Errorf("Stats.Refused = %d, want 1", st.Refused)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t, echoServer(t))
			open := dial(t, p.Addr())
			if err := roundTrip(open, msg, 5*time.Second); err != nil {
				t.Fatalf("before the fault: %v", err)
			}
			start := time.Now()
			tt.inject(p)
			// Both connections are checked at once, so a stall covers the fresh one too.
			var fresh net.Conn
			if !tt.freshDead {
				fresh = dial(t, p.Addr())
			}
			var wg sync.WaitGroup
			errs := make([]string, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				if tt.openDead {
					if !isDead(open, 5*time.Second) {
						errs[0] = "open connection still alive after the fault"
					}
					return
				}
				if err := roundTrip(open, msg, 10*time.Second); err != nil {
					errs[0] = "open connection during the fault: " + err.Error()
				} else if got := time.Since(start); got < tt.openMin {
					errs[0] = fmt.Sprintf("open connection: round trip took %s, want at least %s", got, tt.openMin)
				}
			}()
			go func() {
				defer wg.Done()
				if tt.freshDead {
					if !refused(p.Addr()) {
						errs[1] = "connection opened during the fault was forwarded"
					}
					return
				}
				if err := roundTrip(fresh, msg, 10*time.Second); err != nil {
					errs[1] = "connection opened during the fault: " + err.Error()
				} else if got := time.Since(start); got < tt.freshMin {
					errs[1] = fmt.Sprintf("fresh connection: round trip took %s, want at least %s", got, tt.freshMin)
				}
			}()
			wg.Wait()
			for _, e := range errs {
				if e != "" {
					t.Error(e)
				}
			}

			p.Heal()
			after := dial(t, p.Addr())
			if err := roundTrip(after, msg, 5*time.Second); err != nil {
				t.Fatalf("after Heal: %v", err)
			}
			if tt.check != nil {
				tt.check(t, p.Stats())
			}
		})
	}
}

func TestStallForwardsNothing(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	p.Stall(time.Hour)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if isDead(c, 300*time.Millisecond) {
		t.Fatal("a stall ended the connection")
	}
	if st := p.Stats(); st.BytesToTarget != 0 || st.BytesFromTarget != 0 {
		t.Fatalf("stalled proxy forwarded bytes: %+v", st)
	}
	p.Heal() // releases the held bytes at once
	got := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after Heal read %q, %v; want the held bytes", got, err)
	}
}

func TestSlowRate(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	const rate = 64 << 10
	p.Slow(0, rate)
	msg := bytes.Repeat([]byte{'x'}, rate/2) // half a second one way, paced both ways in a pipeline
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- roundTrip(c, msg, 20*time.Second) }()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < 400*time.Millisecond {
		t.Fatalf("%d bytes at %d B/s took %s, want at least 400ms", len(msg), rate, got)
	}
	p.Slow(0, 0)
	start = time.Now()
	if err := roundTrip(c, msg, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("unpaced round trip of %d bytes: %s", len(msg), time.Since(start))
}

func TestTargetMissingOrDown(t *testing.T) {
	p := newProxy(t, "")
	if !refused(p.Addr()) {
		t.Fatal("forwarded without a target")
	}
	if st := p.Stats(); st.Refused != 1 {
		t.Fatalf("Refused = %d, want 1", st.Refused)
	}

	// A target that refuses: take a free port and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	p.SetTarget(down)
	if !refused(p.Addr()) {
		t.Fatal("forwarded to a closed port")
	}
	waitFor(t, func() bool { return p.Stats().DialFailed == 1 })

	p.SetTarget(echoServer(t))
	if err := roundTrip(dial(t, p.Addr()), []byte("x"), 5*time.Second); err != nil {
		t.Fatalf("after SetTarget: %v", err)
	}
}

func TestCloseResetsAndWaits(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if err := roundTrip(c, []byte("x"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stall(time.Hour) // a goroutine waiting in a stall must not hold Close up
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if !isDead(c, 5*time.Second) {
		t.Fatal("connection alive after Close")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", "x:1", WithDialTimeout(0)); err == nil {
		t.Fatal("zero dial timeout accepted")
	}
	if _, err := Listen("256.0.0.1:0", "x:1"); err == nil {
		t.Fatal("bad address accepted")
	}
	p := newProxy(t, "x:1", WithName("node-1"))
	if p.Name() != "node-1" || p.Target() != "x:1" || p.Port() == 0 {
		t.Fatalf("name %q target %q port %d", p.Name(), p.Target(), p.Port())
	}
}

func TestScheduleValidation(t *testing.T) {
	p := newProxy(t, "x:1")
	rng := rand.New(rand.NewPCG(1, 2))
	ok := Schedule{Faults: []Spec{{Kind: KindCut}}, MaxGap: time.Millisecond}
	tests := []struct {
		name    string
		rng     *rand.Rand
		s       Schedule
		proxies []*Proxy
		want    string // in the error; "" means valid
	}{
		{"valid", rng, ok, []*Proxy{p}, ""},
		{"default", rng, DefaultSchedule(), []*Proxy{p}, ""},
		{"no rng", nil, ok, []*Proxy{p}, "rng is nil"},
		{"no proxies", rng, ok, nil, "no proxies"},
		{"no faults", rng, Schedule{MaxGap: time.Second}, []*Proxy{p}, "Faults is empty"},
		{"no gap", rng, Schedule{Faults: ok.Faults}, []*Proxy{p}, "MaxGap > 0"},
		{"gap reversed", rng, Schedule{Faults: ok.Faults, MinGap: 2 * time.Second, MaxGap: time.Second}, []*Proxy{p}, "MinGap <= MaxGap"},
		{"negative count", rng, Schedule{Faults: ok.Faults, MaxGap: time.Second, Count: -1}, []*Proxy{p}, "Count -1"},
		{"stall without length", rng, Schedule{Faults: []Spec{{Kind: KindStall}}, MaxGap: time.Second}, []*Proxy{p}, "Faults[0] (stall): length"},
		{"slow without effect", rng, Schedule{Faults: []Spec{{Kind: KindSlow, Max: time.Second}}, MaxGap: time.Second}, []*Proxy{p}, "needs Latency or BytesPerSec"},
		{"unknown kind", rng, Schedule{Faults: []Spec{{Kind: "flood"}}, MaxGap: time.Second}, []*Proxy{p}, `unknown kind "flood"`},
		{"negative weight", rng, Schedule{Faults: []Spec{{Kind: KindCut, Weight: -1}}, MaxGap: time.Second}, []*Proxy{p}, "Weight -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Random(tt.rng, tt.s, tt.proxies...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("no error; want one with %q", tt.want)
			case tt.want != "" && (!errors.Is(err, ErrBadSchedule) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %q; want ErrBadSchedule with %q", err, tt.want)
			}
		})
	}
}

func TestRandomInjectsAndRecords(t *testing.T) {
	echo := echoServer(t)
	a := newProxy(t, echo, WithName("a"))
	b := newProxy(t, echo, WithName("b"))
	s := Schedule{
		Faults: []Spec{
			{Kind: KindCut, Weight: 2},
			{Kind: KindStall, Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
			{Kind: KindSlow, Min: 10 * time.Millisecond, Max: 30 * time.Millisecond, Latency: time.Millisecond, BytesPerSec: 1 << 20},
			{Kind: KindRefuse, Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
		},
		MinGap:   time.Millisecond,
		MaxGap:   10 * time.Millisecond,
		Count:    40,
		OneProxy: true,
	}
	// A client that keeps a connection to each proxy and reconnects after a cut or refusal.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*Proxy{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					continue
				}
				for ctx.Err() == nil && roundTrip(c, []byte("x"), time.Second) == nil {
				}
				c.Close()
			}
		}()
	}
	d, err := Random(rand.New(rand.NewPCG(7, 7)), s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()

	faults := d.Faults()
	if len(faults) != s.Count {
		t.Fatalf("%d faults recorded, want %d", len(faults), s.Count)
	}
	kinds := map[Kind]int{}
	var cutConns int
	for i, f := range faults {
		kinds[f.Kind]++
		if len(f.Proxies) != 1 || (f.Proxies[0] != "a" && f.Proxies[0] != "b") {
			t.Errorf("fault %d hit %v, want one of a, b", i, f.Proxies)
		}
		if f.Start.Before(start) || (i > 0 && f.Start.Before(faults[i-1].Start)) {
			t.Errorf("fault %d starts at %s, out of order", i, f.Start)
		}
		switch f.Kind {
		case KindCut:
			cutConns += f.Conns
			if f.Duration != 0 {
				t.Errorf("cut %d lasted %s", i, f.Duration)
			}
		default:
			if f.Duration < 10*time.Millisecond {
				t.Errorf("%s %d lasted %s, less than its Min", f.Kind, i, f.Duration)
			}
		}
	}
	for _, k := range []Kind{KindCut, KindStall, KindSlow, KindRefuse} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %d faults: %v", k, len(faults), kinds)
		}
	}
	if got := a.Stats().Cut + b.Stats().Cut; got != int64(cutConns) {
		t.Errorf("proxies counted %d cut connections, the faults %d", got, cutConns)
	}
	if !strings.HasPrefix(d.Summary(), "faults injected: 40 (") {
		t.Errorf("summary %q", d.Summary())
	}
	t.Log(d.Summary())
	t.Log(faults[0].String())

	// The same seed makes the same choices.
	d2, err := Random(rand.New(rand.NewPCG(7, 7)), s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, f := range d2.Faults() {
		if f.Kind != faults[i].Kind || f.Proxies[0] != faults[i].Proxies[0] {
			t.Fatalf("fault %d: %s on %v, first run %s on %v", i, f.Kind, f.Proxies, faults[i].Kind, faults[i].Proxies)
		}
	}
}

func TestRandomStopsWithContext(t *testing.T) {
	p := newProxy(t, echoServer(t))
	s := Schedule{Faults: []Spec{{Kind: KindStall, Min: time.Hour, Max: time.Hour}}, MaxGap: time.Millisecond}
	d, err := Random(rand.New(rand.NewPCG(1, 1)), s, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	f := d.Faults()
	if len(f) != 1 || f[0].Kind != KindStall || f[0].Duration >= time.Hour {
		t.Fatalf("faults %v; want one stall cut short", f)
	}
	// The stall was healed when Run returned.
	if err := roundTrip(dial(t, p.Addr()), []byte("x"), 5*time.Second); err != nil {
		t.Fatalf("after Run: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	if got := Summarize(nil); got != "faults injected: 0" {
		t.Fatalf("got %q", got)
	}
	got := Summarize([]Fault{{Kind: KindCut}, {Kind: KindStall}, {Kind: KindCut}})
	if want := "faults injected: 3 (cut 2, stall 1)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
