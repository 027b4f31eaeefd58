package operators

import (
	"context"
	"time"
)

// Timeout bounds each call of op.Process to d. A batch that runs out of time
// fails transiently with context.DeadlineExceeded (so Retry, placed outside
// Timeout, tries it again and eventually splits it).
func Timeout(op Operator, d time.Duration) Operator {
	if d <= 0 {
		return op
	}
	return timeouter{op, d}
}

type timeouter struct {
	next Operator
	d    time.Duration
}

func (t timeouter) Process(ctx context.Context, batch []Record) ([]Result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.next.Process(ctx, batch)
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
