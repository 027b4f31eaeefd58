package operators_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators"
)

var errFlaky = errors.New("flaky")

// script is an operator whose behaviour per record value is scripted:
// "ok" succeeds, "perm" fails permanently, "panic" panics, "flakyN" fails
// transiently N times then succeeds, "batch" fails the whole batch every time.
type script struct {
	calls map[string]int
}

func (s *script) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		v := string(r.Value)
		s.calls[v]++
		switch {
		case v == "panic":
			panic("boom")
		case v == "batch":
			return nil, errFlaky
		case v == "perm":
			res[i].Err = operators.Permanentf("bad record")
		case strings.HasPrefix(v, "flaky"):
			if s.calls[v] <= int(v[len(v)-1]-'0') {
				res[i].Err = errFlaky
				continue
			}
			fallthrough
		default:
			res[i].Outputs = []operators.Output{{Topic: "out", Value: r.Value}}
		}
	}
	return res, nil
}

func TestMiddleware(t *testing.T) {
	noSleep := func(context.Context, time.Duration) error { return nil }
	policy := operators.RetryPolicy{MaxAttempts: 3, Sleep: noSleep}
	tests := []struct {
		name  string
		batch []string
		// want per record: "" = success with its value as output, else a substring of the error
		want []string
		// wantPermanent says every failed record must be permanent (dead-letter material).
	}{
		{"all ok", []string{"a", "b"}, []string{"", ""}},
		{"permanent stays put, others go on", []string{"a", "perm", "b"}, []string{"", "bad record", ""}},
		{"panic is isolated to its record", []string{"a", "panic", "b"}, []string{"", "panic: boom", ""}},
		{"transient retried to success", []string{"flaky2", "b"}, []string{"", ""}},
		{"transient exhausted", []string{"flaky9"}, []string{"gave up after 3 attempts"}},
		{"batch error splits to singles", []string{"a", "batch", "b"}, []string{"", "gave up after 3 attempts", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{calls: map[string]int{}}
			op := operators.Retry(operators.Recover(s), policy)
			batch := make([]operators.Record, len(tt.batch))
			for i, v := range tt.batch {
				batch[i] = operators.Record{Value: []byte(v), Offset: int64(i)}
			}
			res, err := op.Process(context.Background(), batch)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if len(res) != len(batch) {
				t.Fatalf("got %d results for %d records", len(res), len(batch))
			}
			for i, w := range tt.want {
				switch {
				case w == "" && res[i].Err != nil:
					t.Errorf("record %q: unexpected error %v", tt.batch[i], res[i].Err)
				case w == "" && (len(res[i].Outputs) != 1 || string(res[i].Outputs[0].Value) != tt.batch[i]):
					t.Errorf("record %q: outputs %v", tt.batch[i], res[i].Outputs)
				case w != "" && (res[i].Err == nil || !strings.Contains(res[i].Err.Error(), w)):
					t.Errorf("record %q: error %v, want it to contain %q", tt.batch[i], res[i].Err, w)
				case w != "" && !operators.IsPermanent(res[i].Err):
					t.Errorf("record %q: error %v is not permanent", tt.batch[i], res[i].Err)
				}
			}
		})
	}
}

// RecoverBatch never re-runs part of a batch: a panic among several records
// fails the batch (to be run again one by one on restored state); a lone
// record that panics fails permanently.
func TestRecoverBatch(t *testing.T) {
	batch := func(vs ...string) []operators.Record {
		recs := make([]operators.Record, len(vs))
		for i, v := range vs {
			recs[i] = operators.Record{Value: []byte(v)}
		}
		return recs
	}
	s := &script{calls: map[string]int{}}
	op := operators.RecoverBatch(s)

	res, err := op.Process(context.Background(), batch("a", "panic", "b"))
	var bp *operators.BatchPanicError
	if !errors.As(err, &bp) || bp.Records != 3 || res != nil {
		t.Fatalf("panic in a batch: %v, %v; want a *BatchPanicError for 3 records", res, err)
	}
	if operators.IsPermanent(err) {
		t.Errorf("%v is permanent: the records must be run again", err)
	}
	if s.calls["a"] != 1 || s.calls["b"] != 0 {
		t.Errorf("calls %v: the batch was run again in part", s.calls)
	}

	res, err = op.Process(context.Background(), batch("panic"))
	if err != nil || len(res) != 1 || !operators.IsPermanent(res[0].Err) {
		t.Fatalf("lone panic: %v, %v; want one permanent result", res, err)
	}
	res, err = op.Process(context.Background(), batch("a", "b"))
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("no panic: %v, %v", res, err)
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sleeps := 0
	policy := operators.RetryPolicy{MaxAttempts: 10, Sleep: func(ctx context.Context, _ time.Duration) error {
		sleeps++
		cancel()
		return ctx.Err()
	}}
	op := operators.Retry(&script{calls: map[string]int{}}, policy)
	_, err := op.Process(ctx, []operators.Record{{Value: []byte("batch")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sleeps != 1 {
		t.Fatalf("slept %d times after cancel, want 1", sleeps)
	}
}

func TestBackoffIsCappedExponential(t *testing.T) {
	p := operators.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}

func TestPermanentClassification(t *testing.T) {
	base := errors.New("x")
	p := operators.Permanent(base)
	if !operators.IsPermanent(p) || !errors.Is(p, base) {
		t.Fatalf("Permanent(x) must be permanent and still be x: %v", p)
	}
	if operators.IsPermanent(base) {
		t.Fatal("a plain error is not permanent")
	}
	if operators.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
}

// slow is an operator that waits for its context to end, then answers as
// told: a batch error, a permanent record error, or (ignoring the
// deadline) success.
type slow struct{ answer string }

func (s slow) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	if s.answer != "fast" {
		<-ctx.Done()
	}
	res := make([]operators.Result, len(batch))
	switch s.answer {
	case "batch error":
		return nil, ctx.Err()
	case "permanent":
		for i := range res {
			res[i].Err = operators.Permanent(ctx.Err())
		}
	default:
		for i, r := range batch {
			res[i].Outputs = []operators.Output{{Topic: "out", Value: r.Value}}
		}
	}
	return res, nil
}

// A call that runs out of time fails its batch transiently, whatever it
// returned; one that ends in time is left alone, and so is a shutdown.
func TestTimeout(t *testing.T) {
	tests := []struct {
		answer      string
		cancelFirst bool // the caller's context ends before the timeout
		wantTimeout bool
	}{
		{answer: "batch error", wantTimeout: true},
		{answer: "permanent", wantTimeout: true},
		{answer: "late success", wantTimeout: true},
		{answer: "fast"},
		{answer: "batch error", cancelFirst: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/cancel=%v", tt.answer, tt.cancelFirst), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d := 20 * time.Millisecond
			if tt.cancelFirst {
				d = time.Hour
				cancel()
			}
			res, err := operators.Timeout(slow{tt.answer}, d).Process(ctx, []operators.Record{{Value: []byte("a")}})
			var te *operators.TimeoutError
			if got := errors.As(err, &te); got != tt.wantTimeout {
				t.Fatalf("err = %v, res = %v; want a *TimeoutError: %v", err, res, tt.wantTimeout)
			}
			if !tt.wantTimeout {
				switch {
				case tt.cancelFirst && !errors.Is(err, context.Canceled):
					t.Errorf("err = %v, want the caller's context.Canceled", err)
				case !tt.cancelFirst && (err != nil || len(res) != 1 || len(res[0].Outputs) != 1):
					t.Errorf("res %v, err %v: want the operator's one output", res, err)
				}
				return
			}
			if res != nil || operators.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) || te.After != d {
				t.Errorf("res %v, err %v: want no results and a transient DeadlineExceeded after %v", res, err, d)
			}
		})
	}
}
