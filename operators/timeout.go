package operators

import (
	"context"
	"fmt"
	"time"
)

// Timeout bounds each call of op.Process to d (d <= 0: no bound). A call
// still running when d has passed fails the whole batch with a
// *TimeoutError, whatever it returns: an error it derived from its context
// may have been wrapped or marked permanent on the way, and results that
// come back late may be cut short. The error is transient, so Retry, placed
// outside Timeout, tries the batch again and eventually splits it.
//
// Timeout cannot stop an operator that ignores its context; it only tells
// it, through the context, that its time is up.
func Timeout(op Operator, d time.Duration) Operator {
	if d <= 0 {
		return op
	}
	return timeouter{op, d}
}

// TimeoutError is the transient error of a call that ran past its timeout.
// errors.Is(err, context.DeadlineExceeded) holds.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("operator call timed out after %v", e.After)
}
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

type timeouter struct {
	next Operator
	d    time.Duration
}

func (t timeouter) Process(ctx context.Context, batch []Record) ([]Result, error) {
	// The cause tells our deadline from one of ctx's own (a shutdown's),
	// whose error the caller must see as it is.
	timedOut := &TimeoutError{After: t.d}
	ctx, cancel := context.WithTimeoutCause(ctx, t.d, timedOut)
	defer cancel()
	results, err := t.next.Process(ctx, batch)
	if context.Cause(ctx) == timedOut {
		return nil, timedOut
	}
	return results, err
}

// Closer support passes through the middleware so the runtime can close the operator inside.
func (t timeouter) Close() error { return closeOp(t.next) }
func (r retrier) Close() error   { return closeOp(r.next) }
func (r recoverer) Close() error { return closeOp(r.next) }

func closeOp(op Operator) error {
	if c, ok := op.(Closer); ok {
		return c.Close()
	}
	return nil
}
