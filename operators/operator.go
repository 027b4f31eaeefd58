// Package operators defines the operator contract and the middleware around
// it (recover, retry, timeout); package operators/runtime hosts an operator
// as a member of a Kafka consumer group.
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
//
// Dropped, set with Err nil and no Outputs, says the record was consumed on
// purpose with nothing following from it, and why (a camera no zone names, a
// frame too old to be worth detecting): it is committed like any record of
// zero outputs, and the runtime counts it by that reason and logs the reason
// at a bounded rate, so that a user who sees input and no output can find out
// why. The reason labels a metric: keep it one of a few fixed strings, never
// record data. With Outputs or Err set, Dropped is ignored.
type Result struct {
	Outputs []Output
	Err     error
	Dropped string
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

// Stateful is implemented by operators that keep per-key state in changelog
// topics (the operator's state topics in the topology: compacted, with the
// same partition count as its inputs).
//
// The operator writes its state as ordinary Outputs to a state topic, keyed by
// the key of the input record the state belongs to, so that a state record
// lands on the changelog partition with the same number as its input
// partition. In exactly-once mode those writes commit atomically with the
// other outputs and the input offsets, so the changelog always matches the
// committed input position.
//
// The runtime calls Restore and Revoke from the goroutine that calls Process,
// never concurrently with it:
//   - Restore(topic, p, state) when input partition p has been assigned, before
//     any record of p reaches Process: state holds the latest value of every
//     key of changelog partition p (deleted keys absent). It replaces whatever
//     the operator held for p.
//   - Revoke(p) when p has been taken away: the operator drops its state for p.
//
// An error from Restore stops the instance (its state would be wrong). A
// failed batch — an error from Process, a failed commit, a panic — is never
// retried on the memory it left: the runtime restores the state from the
// changelog first, and after a panic it runs that batch's records again one
// per batch, so the one that panics is dead-lettered and the others are
// applied once (operators.RecoverBatch).
type Stateful interface {
	Operator
	Restore(ctx context.Context, topic string, partition int32, state map[string][]byte) error
	Revoke(partition int32)
}

// Ticker is implemented by operators that act on the passing of wall-clock
// time when no input arrives (a zone whose cameras went silent must still be
// reported stale). The runtime calls Tick about every TickInterval, from the
// goroutine that calls Process, and produces its outputs (state writes
// included) in a transaction of their own, or with the batch in flight. An
// error is logged and the tick retried at the next interval.
type Ticker interface {
	Operator
	Tick(ctx context.Context, now time.Time) ([]Output, error)
}

// BatchLimiter is implemented by operators whose batches must stay small
// (detection: a batch of 500 frames would hold up a rebalance for minutes).
// The runtime never passes more than MaxBatch records to Process.
type BatchLimiter interface {
	MaxBatch() int
}

// BatchFiller is implemented by operators whose every call has a cost worth
// spreading over a full batch (detection: each call ends in a transaction's
// commit, and its model instances wait for the slowest at the end of each).
// During a backlog the client hands records over one fetch at a time, so
// polls often come back short of the batch limit; when one does, the
// runtime polls again for up to BatchWait before calling Process, and
// stops as soon as a poll brings nothing.
type BatchFiller interface {
	BatchWait() time.Duration
}

// Table is a compacted topic read whole and kept current: the latest value of
// every key (see package operators/table). Values must not be modified.
type Table interface {
	Get(key string) ([]byte, bool)
	Snapshot() map[string][]byte
}

// TableReader is implemented by operators that look records up in tables
// (the operator's tables in the topology: subscriptions, occupancy, ...).
// The runtime reads every table up to its end before the first batch, keeps
// them current while the operator runs, and calls UseTables once, before any
// Process, with the tables by logical topic name. Lookups see updates as they
// arrive, so they are not part of the operator's exactly-once guarantee.
type TableReader interface {
	Operator
	UseTables(tables map[string]Table)
}

// Journal writes records to an operator's state topics at once and durably,
// outside the batch's transaction: what an operator whose work has an effect
// beyond Kafka (a text message sent) writes before it acts, so that after a
// crash or an aborted batch its restored state says it may have acted. See
// JournalUser.
//
// Record returns once every record is acknowledged by all in-sync replicas
// of its partition (acks=all, an idempotent producer), or with an error after
// which any of outs may have been written: then do not act, fail the batch.
// A journaled record
//   - is no part of the batch's transaction: an abort, a crash or a
//     rebalance leaves it in place, and a commit adds nothing to it;
//   - is visible to read_committed readers (restores, tables) once Record
//     returns, behind any transaction that was open on its partition before
//     it and until that transaction ends;
//   - is restored like any state record: Restore gets the latest value of
//     each key, whether journaled or committed with a batch. A state Output
//     of the batch written after a journaled record of the same key replaces
//     it when the batch commits, and only then.
//
// Each Output names one of the operator's state topics and is keyed like
// the input record it belongs to, as state Outputs are, so that it lands on
// the changelog partition Restore reads for that input partition. A zero
// Timestamp is the time of the call. Journaling is at least once: a Record
// repeated after a crash writes its records again.
type Journal interface {
	Record(ctx context.Context, outs ...Output) error
}

// JournalUser is implemented by Stateful operators that journal (see
// Journal). The runtime calls UseJournal once, before the first Restore and
// the first Process, with a journal that is safe for concurrent use and
// that it closes after the last Process has returned.
type JournalUser interface {
	Stateful
	UseJournal(j Journal)
}
