package runtimetest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing: the
// tests of the tester use it to see the failures the tester reports, and the
// Example, which has no *testing.T, to run at all.
type recorder struct {
	testing.TB // nil in the Example: every method the tester calls is below

	mu       sync.Mutex
	failures []string
	cleanups []func()
}

// fatal is what Fatalf panics with, so that run (or the Example's end) stops
// the caller as FailNow would.
type fatal struct{}

func (r *recorder) Helper() {}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}

// run calls f and reports whether it ended in Fatalf.
func (r *recorder) run(f func()) (fataled bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(fatal); !ok {
				panic(p)
			}
			fataled = true
		}
	}()
	f()
	return false
}

// finish runs the cleanups, last first, and returns the failures not yet taken.
func (r *recorder) finish() []string {
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	return r.taken()
}

// close is the Example's end: it finishes and prints the failures.
func (r *recorder) close() {
	for _, f := range r.finish() {
		fmt.Println("FAIL:", f)
	}
}

// taken returns the failures recorded so far and forgets them.
func (r *recorder) taken() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.failures
	r.failures = nil
	return f
}

// newRecorder is a recorder for t that finishes when t ends, failing t with
// whatever failures are left then.
func newRecorder(t *testing.T) *recorder {
	r := &recorder{TB: t}
	t.Cleanup(func() {
		for _, f := range r.finish() {
			t.Errorf("unexpected failure: %s", f)
		}
	})
	return r
}

// failedWith checks that the failures recorded so far are exactly one per
// want, each containing its want, and forgets them.
func (r *recorder) failedWith(t *testing.T, want ...string) {
	t.Helper()
	got := r.taken()
	if len(got) != len(want) {
		t.Fatalf("failures %q, want %d containing %q", got, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("failure %q does not say %q", got[i], w)
		}
	}
}
