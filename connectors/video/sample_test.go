package video

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	tests := []struct {
		name   string
		maxFPS float64
		ts     []time.Duration
		want   int
	}{
		{"every frame when 0", 0, msList(50, 100), 50},
		{"10fps to 5", 5, msList(50, 100), 25},
		{"30fps to 10", 10, msList(90, 1000.0/30), 30},
		{"29.97fps to 10, rounded ms", 10, roundMS(msList(300, 1000.0/29.97)), 100},
		{"25fps to 10", 10, msList(250, 40), 100},
		{"slower than max keeps all", 30, msList(40, 100), 40},
		{"gap restarts schedule", 5, []time.Duration{0, 200 * ms, 5000 * ms, 5100 * ms, 5200 * ms}, 4},
		{"backwards keeps and restarts", 5, []time.Duration{0, 100 * ms, 200 * ms, 0, 100 * ms, 200 * ms}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSampler(tt.maxFPS)
			got := 0
			for _, ts := range tt.ts {
				if s.Keep(ts) {
					got++
				}
			}
			if got != tt.want {
				t.Fatalf("kept %d of %d, want %d", got, len(tt.ts), tt.want)
			}
		})
	}
}

const ms = time.Millisecond

func roundMS(ts []time.Duration) []time.Duration {
	for i := range ts {
		ts[i] = ts[i].Round(ms)
	}
	return ts
}

func TestSamplerSpacing(t *testing.T) {
	s := NewSampler(10)
	var kept []time.Duration
	for _, ts := range msList(300, 1000.0/29.97) {
		if s.Keep(ts) {
			kept = append(kept, ts)
		}
	}
	for i := 1; i < len(kept); i++ {
		if d := kept[i] - kept[i-1]; d < 95*ms || d > 135*ms {
			t.Fatalf("kept frames %d,%d are %v apart, want ~100ms", i-1, i, d)
		}
	}
}

func TestPacer(t *testing.T) {
	clock := newFakeClock()
	p := NewPacer(clock)
	ctx := context.Background()
	for _, ts := range []time.Duration{1000 * ms, 1100 * ms, 1200 * ms} {
		if err := p.Wait(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{100 * ms, 100 * ms}
	if len(clock.sleeps) != 2 || clock.sleeps[0] != want[0] || clock.sleeps[1] != want[1] {
		t.Fatalf("sleeps = %v, want %v", clock.sleeps, want)
	}
	// Fell behind by 1s: no sleep until caught up.
	clock.advance(time.Second)
	clock.sleeps = nil
	if err := p.Wait(ctx, 1300*ms); err != nil {
		t.Fatal(err)
	}
	if len(clock.sleeps) != 1 || clock.sleeps[0] > 0 {
		t.Fatalf("sleeps = %v, want one non-positive", clock.sleeps)
	}
}

func TestSystemClockSleepCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (SystemClock{}).Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on cancelled ctx = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{"defaults", Backoff{}, []time.Duration{500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		{"custom", Backoff{Initial: 100 * ms, Max: time.Second, Multiplier: 3}, []time.Duration{100 * ms, 300 * ms, 900 * ms, time.Second}},
		{"max below initial", Backoff{Initial: time.Second, Max: ms}, []time.Duration{time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, w := range tt.want {
				if got := tt.b.Delay(i); got != w {
					t.Fatalf("Delay(%d) = %v, want %v", i, got, w)
				}
			}
		})
	}
	if d := (Backoff{}).Delay(1 << 20); d != 30*time.Second {
		t.Fatalf("huge attempt: %v", d)
	}
	lo := Backoff{Jitter: 0.5, Rand: func() float64 { return 0 }}.Delay(1)
	hi := Backoff{Jitter: 0.5, Rand: func() float64 { return 0.999999 }}.Delay(1)
	if lo != 500*ms || hi < 1499*ms || hi > 1500*ms {
		t.Fatalf("jitter range = [%v, %v], want [500ms, 1.5s]", lo, hi)
	}
}

func TestTerminalProgressOffWithoutTTY(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if TerminalProgress(f) != nil || TerminalProgress(nil) != nil {
		t.Fatal("progress bar on a non-terminal")
	}
}
