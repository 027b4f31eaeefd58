package operators

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Recover turns a panic in op into a permanent error of the record that caused it.
// A batch that panics is split and run record by record, so only the records that
// really panic are dead-lettered and the others go on.
func Recover(op Operator) Operator { return recoverer{op} }

type recoverer struct{ next Operator }

// PanicError is the error a recovered panic becomes. It is permanent.
type PanicError struct {
	Value any
	Stack []byte
}

// asPanicError is what a recovered v becomes: a *PanicError raised again on
// this goroutine (by an operator that recovered it on one of its own) keeps
// its original stack.
func asPanicError(v any) *PanicError {
	if p, ok := v.(*PanicError); ok {
		return p
	}
	return &PanicError{Value: v, Stack: debug.Stack()}
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Is makes a PanicError permanent: retrying a panic is pointless.
func (e *PanicError) Is(target error) bool { return target == ErrPermanent }

func (r recoverer) Process(ctx context.Context, batch []Record) ([]Result, error) {
	results, perr, err := r.try(ctx, batch)
	if perr == nil {
		return results, err
	}
	if len(batch) == 1 {
		return []Result{{Err: perr}}, nil
	}
	results = make([]Result, len(batch))
	for i := range batch {
		one, perr, err := r.try(ctx, batch[i:i+1])
		switch {
		case perr != nil:
			results[i] = Result{Err: perr}
		case err != nil:
			results[i] = Result{Err: err}
		default:
			results[i] = one[0]
		}
	}
	return results, nil
}

// try runs the operator once; perr is set when it panicked (or broke the contract).
func (r recoverer) try(ctx context.Context, batch []Record) (results []Result, perr *PanicError, err error) {
	defer func() {
		if v := recover(); v != nil {
			perr = asPanicError(v)
		}
	}()
	results, err = r.next.Process(ctx, batch)
	if err == nil && len(results) != len(batch) {
		err = Permanentf("operator returned %d results for %d records", len(results), len(batch))
		return nil, &PanicError{Value: err}, nil
	}
	return results, nil, err
}

// RecoverBatch is Recover for an operator that keeps in memory what its
// batches did (a Stateful one): running a panicked batch's records again one
// by one would apply the records before the panic twice. So a panic in a
// batch of more than one record fails the whole batch with a
// *BatchPanicError — the host then restores the operator's state and runs
// those records again one per batch — and a panic on a lone record fails
// that record permanently, as Recover does (the host must then restore the
// state too: the record may have changed it before panicking).
func RecoverBatch(op Operator) Operator { return batchRecoverer{recoverer{op}} }

type batchRecoverer struct{ recoverer }

// BatchPanicError is what RecoverBatch returns for a batch of more than one
// record in which the operator panicked. It is not permanent: the records
// are to be run again, one per batch, on restored state.
type BatchPanicError struct {
	Records int
	Panic   *PanicError
}

func (e *BatchPanicError) Error() string {
	return fmt.Sprintf("%v in a batch of %d records: they are run again one at a time", e.Panic, e.Records)
}

func (r batchRecoverer) Process(ctx context.Context, batch []Record) ([]Result, error) {
	results, perr, err := r.try(ctx, batch)
	switch {
	case perr == nil:
		return results, err
	case len(batch) == 1:
		return []Result{{Err: perr}}, nil
	default:
		return nil, &BatchPanicError{Records: len(batch), Panic: perr}
	}
}
