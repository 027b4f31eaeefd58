// Package operators defines the operator contract and the runtime that hosts an
// operator as a member of a Kafka consumer group.
//
// An operator is a function from a batch of input records to output records.
// It knows nothing about Kafka clients, offsets, transactions, retries or
// dead-letter topics: the runtime and its middleware own all of that.
package operators

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one input record as an operator sees it.
// Key, Value and Headers must not be retained after Process returns unless copied.
type Record struct {
	Topic     string // logical topic name from the topology (without namespace)
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Output is one record an operator asks the runtime to produce.
type Output struct {
	Topic     string // logical topic name; must be one of the operator's declared outputs
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time // zero: the input record's timestamp
}

// Result is what became of one input record.
//
//   - Err == nil: the record is done. Its Outputs (zero outputs is fine: the record
//     was consumed and nothing follows from it) are produced, and the record's
//     offset is committed with them — atomically, in exactly-once mode.
//   - Err is permanent (see Permanent): the record can never succeed. It goes to the
//     operator's dead-letter topic with the error text and its original bytes, its
//     Outputs are discarded, and its offset is committed. The rest of the batch goes on.
//   - Err is any other error: transient. The runtime retries the record alone with
//     capped exponential backoff; when the attempts are used up it dead-letters it as
//     if the error were permanent.
type Result struct {
	Outputs []Output
	Err     error
}

// Operator processes batches of records.
//
// Process is called with a non-empty batch and must return exactly one Result per
// input record, in the same order. The records of one partition arrive in offset
// order, and one Operator value is never called concurrently.
//
// Returning a non-nil error fails the whole batch transiently: nothing of it is
// produced or committed, and the runtime calls Process again on the same records
// after a backoff (splitting the batch to single records once retries run out,
// so one bad record cannot hold the others back forever).
//
// A panic in Process is recovered and treated like a permanent error of the
// record being processed (of every record of the batch, once split to singles).
type Operator interface {
	Process(ctx context.Context, batch []Record) ([]Result, error)
}

// OperatorFunc adapts a per-record function to an Operator.
type OperatorFunc func(ctx context.Context, r Record) ([]Output, error)

// Process calls f on each record.
func (f OperatorFunc) Process(ctx context.Context, batch []Record) ([]Result, error) {
	results := make([]Result, len(batch))
	for i, r := range batch {
		out, err := f(ctx, r)
		results[i] = Result{Outputs: out, Err: err}
	}
	return results, nil
}

// Closer is implemented by operators that hold resources (models, connections).
// The runtime calls Close once, after the last Process returns.
type Closer interface {
	Close() error
}

// ErrPermanent marks an error that retrying cannot fix (bad input, schema mismatch).
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds and the record
// goes straight to the dead-letter topic.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() []error      { return []error{e.err, ErrPermanent} }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
