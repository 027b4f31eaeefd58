package operators

import (
	"context"
	"fmt"
	"time"
)

// RetryPolicy bounds how often and how fast a transient failure is retried.
// The zero value means the defaults named on each field.
type RetryPolicy struct {
	// MaxAttempts is the number of tries, the first included (default 5).
	MaxAttempts int
	// InitialBackoff is the wait before the first retry (default 100ms); it doubles per retry.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between tries (default 5s).
	MaxBackoff time.Duration
	// Sleep waits d or until ctx ends (default: a timer). Tests inject a fake.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = SleepContext
	}
	return p
}

// Backoff is the wait before try number attempt+1 (attempt counts from 1).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.InitialBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// SleepContext waits d or until ctx ends, and returns ctx.Err() in the latter case.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExhaustedError is the permanent error of a record whose transient failure
// outlived its retries.
type ExhaustedError struct {
	Attempts int
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Err)
}
func (e *ExhaustedError) Unwrap() error        { return e.Err }
func (e *ExhaustedError) Is(target error) bool { return target == ErrPermanent }

// Retry retries transient failures of op with capped exponential backoff.
//
// A failed batch is retried whole; when its attempts are used up it is split into
// single records, each retried on its own, so one bad record cannot hold the
// others back. A record whose own Result carries a transient error is retried
// alone. What still fails at the end gets an *ExhaustedError, which is permanent.
// Retry returns an error only when ctx ends while it waits.
func Retry(op Operator, p RetryPolicy) Operator { return retrier{op, p.withDefaults()} }

type retrier struct {
	next Operator
	p    RetryPolicy
}

func (r retrier) Process(ctx context.Context, batch []Record) ([]Result, error) {
	results, err := r.attempt(ctx, batch)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if len(batch) == 1 {
			return []Result{{Err: err}}, nil
		}
		// Split: every record gets its own attempts.
		results = make([]Result, len(batch))
		for i := range batch {
			one, err := r.attempt(ctx, batch[i:i+1])
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				one = []Result{{Err: err}}
			}
			results[i] = one[0]
		}
	}
	for i := range results {
		if results[i].Err == nil || IsPermanent(results[i].Err) {
			continue
		}
		one, err := r.retryOne(ctx, batch[i], results[i].Err)
		if err != nil {
			return nil, err
		}
		results[i] = one
	}
	return results, nil
}

// attempt calls next on batch until it returns without a batch error, and
// returns an *ExhaustedError (or ctx.Err()) when it never does.
func (r retrier) attempt(ctx context.Context, batch []Record) ([]Result, error) {
	var last error
	for a := 1; a <= r.p.MaxAttempts; a++ {
		if a > 1 {
			if err := r.p.Sleep(ctx, r.p.Backoff(a-1)); err != nil {
				return nil, err
			}
		}
		results, err := r.next.Process(ctx, batch)
		if err == nil {
			return results, nil
		}
		if IsPermanent(err) {
			return nil, err
		}
		last = err
	}
	return nil, &ExhaustedError{Attempts: r.p.MaxAttempts, Err: last}
}

// retryOne retries a single record whose first result was the transient error first.
func (r retrier) retryOne(ctx context.Context, rec Record, first error) (Result, error) {
	last := first
	for a := 2; a <= r.p.MaxAttempts; a++ {
		if err := r.p.Sleep(ctx, r.p.Backoff(a-1)); err != nil {
			return Result{}, err
		}
		results, err := r.next.Process(ctx, []Record{rec})
		switch {
		case err != nil && IsPermanent(err):
			return Result{Err: err}, nil
		case err != nil:
			last = err
		case results[0].Err == nil || IsPermanent(results[0].Err):
			return results[0], nil
		default:
			last = results[0].Err
		}
	}
	return Result{Err: &ExhaustedError{Attempts: r.p.MaxAttempts, Err: last}}, nil
}
