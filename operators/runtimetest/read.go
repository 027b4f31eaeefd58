package runtimetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

// Expect waits until a logical topic holds n committed records and returns
// them. It reads the whole topic from its start with read_committed
// isolation, as the operators downstream do, so records of aborted or still
// open transactions never count; to expect more records later, call it again
// with the new total. It fails the test when fewer than n have arrived within
// the Timeout, or when more than n are there once it has read for a further
// Settle: an operator that repeats an output fails here.
//
// The records are sorted by partition and offset, and their Topic is the
// physical name.
func (tt *Tester) Expect(topic string, n int) []*kgo.Record {
	tt.t.Helper()
	tt.known(topic)
	if n < 0 {
		tt.t.Fatalf("runtimetest: Expect(%q, %d): n must not be negative", topic, n)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tt.Brokers()...), kgo.ConsumeTopics(tt.Topic(topic)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		tt.t.Fatalf("runtimetest: new client: %v", err)
	}
	defer cl.Close()
	got, err := poll(cl, n, tt.cfg.timeout)
	if err != nil {
		tt.t.Fatalf("runtimetest: reading %s: %v", topic, err)
	}
	if len(got) < n {
		tt.t.Fatalf("runtimetest: %s: %d committed records within %v, want %d", topic, len(got), tt.cfg.timeout, n)
	}
	more, err := poll(cl, -1, tt.cfg.settle)
	if err != nil {
		tt.t.Fatalf("runtimetest: reading %s: %v", topic, err)
	}
	if got = append(got, more...); len(got) > n {
		tt.t.Fatalf("runtimetest: %s: %d committed records, want exactly %d (%d more within %v of the %d)",
			topic, len(got), n, len(got)-n, tt.cfg.settle, n)
	}
	sortRecords(got)
	return got
}

// poll reads from cl until it has at least n records (never, when n < 0) or
// d has passed.
func poll(cl *kgo.Client, n int, d time.Duration) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got []*kgo.Record
	for n < 0 || len(got) < n {
		f := cl.PollFetches(ctx)
		got = append(got, f.Records()...)
		if err := fetchError(f); err != nil {
			return got, err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return got, nil
}

// fetchError is the first error of f that is not the end of its poll.
func fetchError(f kgo.Fetches) error {
	for _, e := range f.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
			return fmt.Errorf("fetch %s[%d]: %w", e.Topic, e.Partition, e.Err)
		}
	}
	return nil
}

func sortRecords(recs []*kgo.Record) {
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
}

// Records returns every record committed to a logical topic when it is
// called — up to each partition's last stable offset, without waiting for
// more — sorted by partition and offset.
func (tt *Tester) Records(topic string) []*kgo.Record {
	tt.t.Helper()
	recs, _ := tt.committed(topic)
	return recs
}

// State returns the latest value of every key of a logical changelog (or
// any compacted) topic, from its committed records; a tombstone deletes its
// key. It is what a restore reads, merged over the partitions.
func (tt *Tester) State(topic string) map[string][]byte {
	tt.t.Helper()
	st := map[string][]byte{}
	for _, r := range tt.Records(topic) {
		if r.Value == nil {
			delete(st, string(r.Key))
		} else {
			st[string(r.Key)] = r.Value
		}
	}
	return st
}

// committed reads topic up to the last stable offsets it has now, and
// returns its committed records and, by partition, the offset after the
// last of them: what a consumer group commits once it has read them all.
func (tt *Tester) committed(topic string) ([]*kgo.Record, map[int32]int64) {
	tt.t.Helper()
	tt.known(topic)
	physical := tt.Topic(topic)
	ctx, cancel := context.WithTimeout(context.Background(), tt.cfg.timeout)
	defer cancel()
	adm := kadm.NewClient(tt.client)
	starts, err := adm.ListStartOffsets(ctx, physical)
	if err == nil {
		err = starts.Error()
	}
	stable, err2 := adm.ListCommittedOffsets(ctx, physical)
	if err = cmp.Or(err, err2); err == nil {
		err = stable.Error()
	}
	if err != nil {
		tt.t.Fatalf("runtimetest: listing the offsets of %s: %v", topic, err)
	}
	// Control records (transaction markers) are kept so that the read knows
	// when it has reached a partition's end, which is often one of them.
	todo := map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(physical, o.Partition); ok && o.Offset > s.Offset {
			todo[o.Partition] = o.Offset
		}
	})
	ends := map[int32]int64{}
	if len(todo) == 0 {
		return nil, ends
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tt.Brokers()...), kgo.ConsumeTopics(physical),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		tt.t.Fatalf("runtimetest: new client: %v", err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(todo) > 0 {
		f := cl.PollFetches(ctx)
		if err := fetchError(f); err != nil {
			tt.t.Fatalf("runtimetest: reading %s: %v", topic, err)
		}
		if ctx.Err() != nil {
			tt.t.Fatalf("runtimetest: %s: not read to its last stable offsets %v within %v", topic, todo, tt.cfg.timeout)
		}
		f.EachRecord(func(r *kgo.Record) {
			end, ok := todo[r.Partition]
			if !ok || r.Offset >= end {
				return // past the offsets listed: committed after the call
			}
			if r.Offset+1 >= end {
				delete(todo, r.Partition)
			}
			if !r.Attrs.IsControl() {
				recs = append(recs, r)
				ends[r.Partition] = r.Offset + 1
			}
		})
	}
	sortRecords(recs)
	return recs, ends
}

// Decode unmarshals the value of every record into a T (schemas.Unmarshal),
// failing the test on an error:
//
//	events := runtimetest.Decode[schemas.PresenceEvent](t, tt.Expect("events", 2))
func Decode[T any, P interface {
	*T
	schemas.Record
}](t testing.TB, recs []*kgo.Record) []T {
	t.Helper()
	out := make([]T, len(recs))
	for i, r := range recs {
		if err := schemas.Unmarshal(r.Value, P(&out[i])); err != nil {
			t.Fatalf("runtimetest: %s[%d] at offset %d: %v", r.Topic, r.Partition, r.Offset, err)
		}
	}
	return out
}

// DeadLetter is a record of a dead-letter topic with the headers the runtime
// gave it decoded (see the Header constants of operators/runtime).
type DeadLetter struct {
	// Key and Value are the failed record's.
	Key, Value []byte
	// Headers are the failed record's own headers, without those above.
	Headers []kgo.RecordHeader
	// Error is the error's text (corb.error).
	Error string
	// Reason classifies the error (corb.reason): permanent, panic,
	// exhausted, undeclared-output, ...
	Reason string
	// Operator is the name of the operator that failed (corb.operator).
	Operator string
	// Topic, Partition and Offset are where the failed record was read
	// (corb.source.*); Topic is the physical name.
	Topic     string
	Partition int32
	Offset    int64
	// Time is when it was dead-lettered (corb.time).
	Time time.Time
	// Record is the dead letter as read.
	Record *kgo.Record
}

// DeadLetters is Expect on a dead-letter topic, with every record's headers
// decoded. A dead letter that lacks one of the runtime's headers, or has one
// that does not parse, fails the test.
func (tt *Tester) DeadLetters(topic string, n int) []DeadLetter {
	tt.t.Helper()
	recs := tt.Expect(topic, n)
	out := make([]DeadLetter, len(recs))
	for i, r := range recs {
		dl, err := decodeDeadLetter(r)
		if err != nil {
			tt.t.Fatalf("runtimetest: dead letter %s[%d] at offset %d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		out[i] = dl
	}
	return out
}

func decodeDeadLetter(r *kgo.Record) (DeadLetter, error) {
	deadLetterHeaders := []string{runtime.HeaderError, runtime.HeaderReason, runtime.HeaderOperator,
		runtime.HeaderTopic, runtime.HeaderPartition, runtime.HeaderOffset, runtime.HeaderTime}
	h := map[string]string{}
	// The runtime appends its headers after the record's own, which may
	// carry the same keys (a dead letter of a dead letter): take the last.
	own := slices.Clone(r.Headers)
	for i := len(own) - 1; i >= 0; i-- {
		k := own[i].Key
		if _, seen := h[k]; !seen && slices.Contains(deadLetterHeaders, k) {
			h[k] = string(own[i].Value)
			own = slices.Delete(own, i, i+1)
		}
	}
	for _, k := range deadLetterHeaders {
		if _, ok := h[k]; !ok {
			return DeadLetter{}, fmt.Errorf("no %s header", k)
		}
	}
	p, err := strconv.ParseInt(h[runtime.HeaderPartition], 10, 32)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%s: %w", runtime.HeaderPartition, err)
	}
	off, err := strconv.ParseInt(h[runtime.HeaderOffset], 10, 64)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%s: %w", runtime.HeaderOffset, err)
	}
	at, err := time.Parse(time.RFC3339Nano, h[runtime.HeaderTime])
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%s: %w", runtime.HeaderTime, err)
	}
	if len(own) == 0 {
		own = nil
	}
	return DeadLetter{
		Key: r.Key, Value: r.Value, Headers: own,
		Error: h[runtime.HeaderError], Reason: h[runtime.HeaderReason], Operator: h[runtime.HeaderOperator],
		Topic: h[runtime.HeaderTopic], Partition: int32(p), Offset: off, Time: at, Record: r,
	}, nil
}
