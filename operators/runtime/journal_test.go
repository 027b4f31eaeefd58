package runtime_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// journaler journals "attempt" for each record before its (pretend) side
// effect, then writes "done" as a state Output of the batch, with a copy of
// the record to "out". It keeps the records of its first batch and what
// the restores after that batch gave it, by partition.
type journaler struct {
	mu    sync.Mutex
	j     operators.Journal
	first []operators.Record
	after map[int32]map[string]string
}

func (o *journaler) UseJournal(j operators.Journal) { o.j = j }

func (o *journaler) Restore(_ context.Context, _ string, p int32, state map[string][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil {
		return nil
	}
	if o.after == nil {
		o.after = map[int32]map[string]string{}
	}
	o.after[p] = map[string]string{}
	for k, v := range state {
		o.after[p][k] = string(v)
	}
	return nil
}

func (o *journaler) Revoke(int32) {}

func (o *journaler) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	o.mu.Lock()
	if o.first == nil {
		o.first = slices.Clone(batch)
	}
	o.mu.Unlock()
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		if err := o.j.Record(ctx, operators.Output{Topic: "state", Key: r.Key, Value: []byte("attempt")}); err != nil {
			return nil, err
		}
		res[i].Outputs = []operators.Output{
			{Topic: "out", Key: r.Key, Value: r.Value},
			{Topic: "state", Key: r.Key, Value: []byte("done")},
		}
	}
	return res, nil
}

// A journaled record stays when its batch aborts — after the batch's own
// records were produced in its transaction — and the restore before the
// batch's retry reads it, from the changelog partition of its input
// partition; the aborted batch's outputs are never read.
func TestJournaledRecordSurvivesAnAbortedBatch(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in", "out", "state", "dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	// The first batch's records are produced, then its offset commit in the
	// transaction fails, as when a rebalance began: the transaction aborts.
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Err: kerr.UnknownServerError, Count: 1})
	produce(t, brokers, "a", "b", "c", "d", "e", "f")

	op := &journaler{}
	_, stop := start(t, runtime.Config{
		Name: "j", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, State: []string{"state"},
		DeadLetter: "dlq", Operator: op, RestoreSettle: 100 * time.Millisecond,
	})
	defer stop()
	out := consume(t, brokers, "out", 6)
	if fault.Hits() != 1 {
		t.Fatalf("the commit fault answered %d requests, want 1: no batch was aborted", fault.Hits())
	}
	op.mu.Lock()
	for _, r := range op.first {
		if got := op.after[r.Partition][string(r.Key)]; got != "attempt" {
			t.Errorf("key %s of partition %d restored after the abort as %q, want the journaled attempt (restored: %v)",
				r.Key, r.Partition, got, op.after)
		}
	}
	op.mu.Unlock()
	if len(out) != 6 {
		t.Errorf("out holds %d committed records, want 6", len(out))
	}
	// Read committed, each key's changelog holds the attempt journaled by
	// every try, then the committed try's done: never the aborted done.
	want := map[string]int{}
	for _, r := range op.first {
		want[string(r.Key)] = 1 // an attempt more
	}
	total := 6 * 2
	for _, n := range want {
		total += n
	}
	byKey := map[string][]string{}
	for _, r := range consume(t, brokers, "state", total) {
		byKey[string(r.Key)] = append(byKey[string(r.Key)], string(r.Value))
	}
	for k, vs := range byKey {
		wantVs := append(slices.Repeat([]string{"attempt"}, 1+want[k]), "done")
		if !slices.Equal(vs, wantVs) {
			t.Errorf("state of key %s = %v, want %v", k, vs, wantVs)
		}
	}
}

func TestJournalRefusesOtherTopics(t *testing.T) {
	brokers := newCluster(t, 1, "in", "out", "state", "dlq")
	produce(t, brokers, "a")
	got := make(chan error, 1)
	op := &journalTo{topic: "out", got: got}
	_, stop := start(t, runtime.Config{
		Name: "j", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, State: []string{"state"},
		DeadLetter: "dlq", Operator: op, RestoreSettle: 100 * time.Millisecond,
	})
	defer stop()
	select {
	case err := <-got:
		if !operators.IsPermanent(err) || !strings.Contains(err.Error(), `"out" is not one of the operator's state topics`) {
			t.Errorf("journaling to an output: %v, want a permanent error naming it", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Process never ran")
	}
}

// journalTo journals to topic and hands over what Record returned.
type journalTo struct {
	journaler
	topic string
	got   chan error
}

func (o *journalTo) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	err := o.j.Record(ctx, operators.Output{Topic: o.topic, Key: batch[0].Key, Value: []byte("x")})
	select {
	case o.got <- err:
	default:
	}
	return make([]operators.Result, len(batch)), nil
}

func TestNewRefusesAJournalWithoutState(t *testing.T) {
	_, err := runtime.New(runtime.Config{Name: "j", Brokers: []string{"x:9092"}, Inputs: []string{"in"},
		DeadLetter: "dlq", Operator: &journaler{}})
	if !errors.Is(err, runtime.ErrConfig) || !strings.Contains(err.Error(), "needs a state topic") {
		t.Fatalf("New: %v, want a config error about the state topic", err)
	}
}
