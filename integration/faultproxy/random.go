package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind names a fault.
type Kind string

// The faults a Proxy injects.
const (
	KindCut    Kind = "cut"    // Cut: open connections reset
	KindStall  Kind = "stall"  // Stall: no bytes forwarded for a while
	KindSlow   Kind = "slow"   // Slow: latency and a rate limit for a while
	KindRefuse Kind = "refuse" // Refuse: new connections reset for a while
)

// ErrBadSchedule means a Schedule cannot be run; the error that wraps it says why.
var ErrBadSchedule = errors.New("faultproxy: bad schedule")

// Spec is one kind of fault a Schedule may inject.
type Spec struct {
	Kind Kind
	// Min and Max bound how long the fault lasts, chosen uniformly between
	// them (ignored for KindCut, which is instantaneous).
	Min, Max time.Duration
	// Latency and BytesPerSec are the slowdown of KindSlow (see Proxy.Slow);
	// at least one must be set for it.
	Latency     time.Duration
	BytesPerSec int64
	// Weight is the fault's relative chance of being picked (0 means 1).
	Weight int
}

// Schedule says which faults Random injects and when.
type Schedule struct {
	// Faults to choose from, by weight. Required.
	Faults []Spec
	// MinGap and MaxGap bound the quiet time before each fault, chosen
	// uniformly between them. MaxGap must be positive.
	MinGap, MaxGap time.Duration
	// Count stops the driver after this many faults; 0 runs until the context ends.
	Count int
	// OneProxy makes each fault hit one proxy chosen at random instead of all
	// of them (all is a client losing its network; one is a broker's link failing).
	OneProxy bool
}

// DefaultSchedule cuts, stalls, slows (50ms each way, 256 KiB/s) and refuses
// at random, each lasting 0.5–3s, 1–5s apart. A test that wants stalls past
// its clients' request timeout raises the stall's Min and Max.
func DefaultSchedule() Schedule {
	return Schedule{
		Faults: []Spec{
			{Kind: KindCut},
			{Kind: KindStall, Min: 500 * time.Millisecond, Max: 3 * time.Second},
			{Kind: KindSlow, Min: 500 * time.Millisecond, Max: 3 * time.Second, Latency: 50 * time.Millisecond, BytesPerSec: 256 << 10},
			{Kind: KindRefuse, Min: 500 * time.Millisecond, Max: 3 * time.Second},
		},
		MinGap: time.Second,
		MaxGap: 5 * time.Second,
	}
}

func (s Schedule) validate(proxies []*Proxy) error {
	var errs []error
	if len(proxies) == 0 {
		errs = append(errs, errors.New("no proxies"))
	}
	if len(s.Faults) == 0 {
		errs = append(errs, errors.New("Faults is empty"))
	}
	if s.MaxGap <= 0 || s.MinGap < 0 || s.MinGap > s.MaxGap {
		errs = append(errs, fmt.Errorf("gap [%s, %s]: need 0 <= MinGap <= MaxGap and MaxGap > 0", s.MinGap, s.MaxGap))
	}
	if s.Count < 0 {
		errs = append(errs, fmt.Errorf("Count %d is negative", s.Count))
	}
	for i, f := range s.Faults {
		switch f.Kind {
		case KindCut:
		case KindStall, KindSlow, KindRefuse:
			if f.Max <= 0 || f.Min < 0 || f.Min > f.Max {
				errs = append(errs, fmt.Errorf("Faults[%d] (%s): length [%s, %s]: need 0 <= Min <= Max and Max > 0", i, f.Kind, f.Min, f.Max))
			}
		default:
			errs = append(errs, fmt.Errorf("Faults[%d]: unknown kind %q", i, f.Kind))
		}
		if f.Kind == KindSlow && f.Latency <= 0 && f.BytesPerSec <= 0 {
			errs = append(errs, fmt.Errorf("Faults[%d] (slow): needs Latency or BytesPerSec", i))
		}
		if f.Weight < 0 {
			errs = append(errs, fmt.Errorf("Faults[%d] (%s): Weight %d is negative", i, f.Kind, f.Weight))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadSchedule, errors.Join(errs...))
	}
	return nil
}

// Fault is one fault a Driver injected.
type Fault struct {
	Kind    Kind
	Proxies []string  // names of the proxies it hit
	Start   time.Time // when it began
	// Duration is how long it lasted: 0 for a cut; shorter than planned when
	// the driver's context ended during it.
	Duration    time.Duration
	Latency     time.Duration // KindSlow
	BytesPerSec int64         // KindSlow
	Conns       int           // KindCut: connections it reset
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", f.Start.Format("15:04:05.000"), f.Kind)
	switch f.Kind {
	case KindCut:
		fmt.Fprintf(&b, " %d conns", f.Conns)
	case KindSlow:
		fmt.Fprintf(&b, " %s latency %d B/s for %s", f.Latency, f.BytesPerSec, f.Duration.Round(time.Millisecond))
	default:
		fmt.Fprintf(&b, " for %s", f.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, " on %s", strings.Join(f.Proxies, ","))
	return b.String()
}

// Driver injects faults into proxies at random points (see Random) and
// records each one.
type Driver struct {
	rng     *rand.Rand
	sched   Schedule
	proxies []*Proxy
	weight  int

	mu     sync.Mutex
	faults []Fault
}

// Random returns a Driver that injects the faults of s into proxies when Run
// is called: a quiet gap, then a fault chosen by weight (on every proxy, or
// on one with s.OneProxy), held for its length, then healed; again until
// s.Count faults or the end of Run's context. rng decides everything, so a
// seed reproduces the same sequence of choices (not of timings). The driver
// owns the proxies' stall, slowdown and refusal while it runs: a Slow or Heal
// of the test's own is overridden by the next fault.
func Random(rng *rand.Rand, s Schedule, proxies ...*Proxy) (*Driver, error) {
	if rng == nil {
		return nil, fmt.Errorf("%w: rng is nil", ErrBadSchedule)
	}
	if err := s.validate(proxies); err != nil {
		return nil, err
	}
	d := &Driver{rng: rng, sched: s, proxies: slices.Clone(proxies)}
	d.sched.Faults = slices.Clone(s.Faults)
	for _, f := range s.Faults {
		d.weight += max(f.Weight, 1)
	}
	return d, nil
}

// Run injects faults until the schedule's Count is reached or ctx ends, then
// heals the proxies it touched. It returns nil in both cases. Run must not
// be called twice at once.
func (d *Driver) Run(ctx context.Context) error {
	for n := 0; d.sched.Count == 0 || n < d.sched.Count; n++ {
		if !wait(ctx, d.between(d.sched.MinGap, d.sched.MaxGap)) {
			return nil
		}
		spec := d.pick()
		targets := d.proxies
		if d.sched.OneProxy {
			targets = []*Proxy{d.proxies[d.rng.IntN(len(d.proxies))]}
		}
		f := Fault{Kind: spec.Kind, Start: time.Now()}
		for _, p := range targets {
			f.Proxies = append(f.Proxies, p.Name())
		}
		length := d.between(spec.Min, spec.Max)
		switch spec.Kind {
		case KindCut:
			for _, p := range targets {
				f.Conns += p.Cut()
			}
			d.record(f)
			continue
		case KindStall:
			for _, p := range targets {
				p.Stall(length)
			}
		case KindRefuse:
			for _, p := range targets {
				p.Refuse(length)
			}
		case KindSlow:
			f.Latency, f.BytesPerSec = spec.Latency, spec.BytesPerSec
			for _, p := range targets {
				p.Slow(spec.Latency, spec.BytesPerSec)
			}
		}
		done := wait(ctx, length)
		for _, p := range targets {
			p.Heal()
		}
		f.Duration = time.Since(f.Start)
		d.record(f)
		if !done {
			return nil
		}
	}
	return nil
}

// Faults returns the faults injected so far, in order.
func (d *Driver) Faults() []Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.faults)
}

// Summary is one line for a test's report: "faults injected: 7 (cut 3, stall 2, refuse 2)".
func (d *Driver) Summary() string {
	return Summarize(d.Faults())
}

// Summarize counts faults by kind: "faults injected: 7 (cut 3, stall 2, refuse 2)".
func Summarize(faults []Fault) string {
	counts := map[Kind]int{}
	var order []Kind
	for _, f := range faults {
		if counts[f.Kind] == 0 {
			order = append(order, f.Kind)
		}
		counts[f.Kind]++
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "faults injected: 0"
	}
	return fmt.Sprintf("faults injected: %d (%s)", len(faults), strings.Join(parts, ", "))
}

func (d *Driver) record(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = append(d.faults, f)
}

func (d *Driver) pick() Spec {
	n := d.rng.IntN(d.weight)
	for _, f := range d.sched.Faults {
		if n -= max(f.Weight, 1); n < 0 {
			return f
		}
	}
	return d.sched.Faults[len(d.sched.Faults)-1]
}

// between returns a duration chosen uniformly in [lo, hi].
func (d *Driver) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)+1))
}

// wait sleeps for d; it returns false if ctx ended first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
