package runtimetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
)

// upper shouts each record to "out"; "poison" fails permanently and "panic" panics.
func upper(_ context.Context, r operators.Record) ([]operators.Output, error) {
	switch string(r.Value) {
	case "poison":
		return nil, operators.Permanentf("cannot shout %q", r.Value)
	case "panic":
		panic("operator bug")
	}
	return []operators.Output{{Topic: "out", Key: r.Key, Value: bytes.ToUpper(r.Value)}}, nil
}

func values(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	slices.Sort(out)
	return out
}

func TestExpectWantsExactlyN(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string // the failure; "" for none
	}{
		{"exactly", 3, ""},
		{"fewer arrive", 4, "3 committed records within 2s, want 4"},
		{"more arrive", 2, "3 committed records, want exactly 2"},
		{"none expected", 0, "3 committed records, want exactly 0"},
	}
	rec := newRecorder(t)
	tt := runtimetest.New(rec, runtimetest.Topics(2, "out"),
		runtimetest.Timeout(2*time.Second), runtimetest.Settle(200*time.Millisecond))
	for _, v := range []string{"a", "b", "c"} {
		tt.Produce("out", v, []byte(v))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []*kgo.Record
			fataled := rec.run(func() { got = tt.Expect("out", tc.n) })
			if tc.want == "" {
				rec.failedWith(t)
				if fmt.Sprint(values(got)) != "[a b c]" {
					t.Errorf("Expect returned %v, want [a b c]", values(got))
				}
				return
			}
			if !fataled {
				t.Error("Expect went on after its failure")
			}
			rec.failedWith(t, tc.want)
		})
	}
}

// A record that arrives while Expect settles is one too many.
func TestExpectFailsOnALateExtra(t *testing.T) {
	rec := newRecorder(t)
	tt := runtimetest.New(rec, runtimetest.Topics(1, "out"), runtimetest.Settle(3*time.Second))
	tt.Produce("out", "", []byte("1"))
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(500 * time.Millisecond)
		tt.Produce("out", "", []byte("2"))
	})
	rec.run(func() { tt.Expect("out", 1) })
	wg.Wait()
	rec.failedWith(t, "2 committed records, want exactly 1")
}

// Expect and Records see what a read_committed consumer sees: neither the
// records of an aborted transaction nor those of an open one, and Records
// returns at once even while a transaction is open.
func TestReadsOnlyCommittedRecords(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Namespace("ns"), runtimetest.Topics(1, "t"))
	topic := tt.Topic("t")
	// begin starts a transaction of a producer of its own and writes vs in it.
	begin := func(id string, vs ...string) *kgo.Client {
		cl := tt.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		return cl
	}
	tt.Produce("t", "", []byte("plain"))
	for id, end := range map[string]kgo.TransactionEndTry{"committed": kgo.TryCommit, "aborted": kgo.TryAbort} {
		if err := begin(id, id+"-1", id+"-2").EndTransaction(context.Background(), end); err != nil {
			t.Fatal(err)
		}
	}
	open := begin("open", "open-1")

	if got := values(tt.Records("t")); fmt.Sprint(got) != "[committed-1 committed-2 plain]" {
		t.Errorf("Records with a transaction open = %v, want [committed-1 committed-2 plain]", got)
	}
	if got := values(tt.Expect("t", 3)); fmt.Sprint(got) != "[committed-1 committed-2 plain]" {
		t.Errorf("Expect = %v", got)
	}
	if err := open.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := values(tt.Expect("t", 4)); fmt.Sprint(got) != "[committed-1 committed-2 open-1 plain]" {
		t.Errorf("Expect after the commit = %v", got)
	}
}

func TestRunCarriesRecordsAndDeadLetters(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			tt := runtimetest.New(t, runtimetest.Namespace("b7"), runtimetest.Topics(3, "in", "out"), runtimetest.Topics(1, "dlq"))
			tt.Produce("in", "k1", []byte("hello"))
			tt.ProduceRecords(&kgo.Record{Topic: "in", Key: []byte("k2"), Value: []byte("poison"),
				Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}})
			tt.Produce("in", "k3", []byte("panic"))
			tt.Produce("in", "k4", []byte("world"))
			inst := tt.Run(runtimetest.Operator{Name: "upper", Inputs: []string{"in"}, Outputs: []string{"out"},
				DeadLetter: "dlq", Guarantee: g, Operator: operators.OperatorFunc(upper)})

			if got := values(tt.Expect("out", 2)); fmt.Sprint(got) != "[HELLO WORLD]" {
				t.Errorf("outputs %v, want [HELLO WORLD]", got)
			}
			if inst.Runner().Group() != tt.Names().Group("upper") || inst.Runner().Group() != "b7.upper" {
				t.Errorf("group %q, want %q", inst.Runner().Group(), tt.Names().Group("upper"))
			}
			inputs := map[string]*kgo.Record{}
			for _, r := range tt.Records("in") {
				inputs[string(r.Value)] = r
			}
			reasons := map[string]string{}
			for _, dl := range tt.DeadLetters("dlq", 2) {
				in := inputs[string(dl.Value)]
				reasons[string(dl.Value)] = dl.Reason
				if dl.Operator != "upper" || dl.Topic != "b7.in" || dl.Partition != in.Partition || dl.Offset != in.Offset ||
					!bytes.Equal(dl.Key, in.Key) || dl.Error == "" || time.Since(dl.Time) > time.Minute {
					t.Errorf("dead letter %+v does not describe its record %s[%d]@%d", dl, in.Topic, in.Partition, in.Offset)
				}
				if wantHeaders := fmt.Sprint(in.Headers); fmt.Sprint(dl.Headers) != wantHeaders {
					t.Errorf("dead letter of %q has own headers %v, want %v", dl.Value, dl.Headers, wantHeaders)
				}
			}
			if want := map[string]string{"poison": "permanent", "panic": "panic"}; !maps.Equal(reasons, want) {
				t.Errorf("dead letters %v, want %v", reasons, want)
			}
		})
	}
}

func TestDeadLettersFailOnMissingHeaders(t *testing.T) {
	rec := newRecorder(t)
	tt := runtimetest.New(rec, runtimetest.Topics(1, "dlq"))
	tt.ProduceRecords(&kgo.Record{Topic: "dlq", Value: []byte("x"), Headers: []kgo.RecordHeader{
		{Key: runtime.HeaderError, Value: []byte("boom")}, {Key: runtime.HeaderReason, Value: []byte("permanent")}}})
	rec.run(func() { tt.DeadLetters("dlq", 1) })
	rec.failedWith(t, "no corb.operator header")
}

func TestUnknownTopicsFailAtOnce(t *testing.T) {
	tests := []struct {
		name string
		use  func(*runtimetest.Tester)
	}{
		{"produce", func(tt *runtimetest.Tester) { tt.Produce("nope", "k", nil) }},
		{"expect", func(tt *runtimetest.Tester) { tt.Expect("nope", 0) }},
		{"state", func(tt *runtimetest.Tester) { tt.State("nope") }},
		{"run", func(tt *runtimetest.Tester) {
			tt.Run(runtimetest.Operator{Name: "x", Inputs: []string{"in"}, Outputs: []string{"nope"}, DeadLetter: "in",
				Operator: operators.OperatorFunc(upper)})
		}},
	}
	rec := newRecorder(t)
	tt := runtimetest.New(rec, runtimetest.Topics(1, "in"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if !rec.run(func() { tc.use(tt) }) {
				t.Error("no fatal failure")
			}
			rec.failedWith(t, `topic "nope" is not one of the tester's`)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: the failure should not wait for a timeout", d)
			}
		})
	}
}

// counter counts the records of each key; the count is its state, in the
// changelog "counts" and in its output "totals" ("key=count").
type counter struct {
	mu       sync.Mutex
	counts   map[string]int
	restored int // keys restored, over all partitions
}

func newCounter() *counter { return &counter{counts: map[string]int{}} }

func (c *counter) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		k := string(r.Key)
		c.counts[k]++
		n := strconv.Itoa(c.counts[k])
		res[i].Outputs = []operators.Output{
			{Topic: "counts", Key: r.Key, Value: []byte(n)},
			{Topic: "totals", Key: r.Key, Value: []byte(k + "=" + n)},
		}
	}
	return res, nil
}

func (c *counter) Restore(_ context.Context, _ string, p int32, state map[string][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range state {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return err
		}
		c.counts[k] = n
		c.restored++
	}
	return nil
}

func (c *counter) Revoke(int32) {}

// Restart runs the operator again on its changelog: the new instance is
// restored and counts on where the first stopped.
func TestRestartRestoresState(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(3, "in", "counts", "totals", "dlq"))
	for _, k := range []string{"a", "b", "a", "c", "a"} {
		tt.Produce("in", k, nil)
	}
	inst := tt.Run(runtimetest.Operator{Name: "count", Inputs: []string{"in"}, Outputs: []string{"totals"},
		State: []string{"counts"}, DeadLetter: "dlq", Operator: newCounter()})
	inst.WaitConsumed()
	state := func() string {
		st := tt.State("counts")
		return fmt.Sprintf("a=%s b=%s c=%s", st["a"], st["b"], st["c"])
	}
	if got := state(); got != "a=3 b=1 c=1" {
		t.Fatalf("state %s, want a=3 b=1 c=1", got)
	}
	inst.Stop()

	tt.Produce("in", "a", nil)
	tt.Produce("in", "b", nil)
	second := newCounter()
	inst = inst.Restart(second)
	inst.WaitConsumed()
	if got := state(); got != "a=4 b=2 c=1" {
		t.Errorf("state after the restart %s, want a=4 b=2 c=1", got)
	}
	second.mu.Lock()
	restored := second.restored
	second.mu.Unlock()
	if restored != 3 {
		t.Errorf("the restarted operator restored %d keys, want 3", restored)
	}
	want := []string{"a=1", "a=2", "a=3", "a=4", "b=1", "b=2", "c=1"}
	if got := values(tt.Expect("totals", len(want))); !slices.Equal(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

// enrich looks each record's key up in the table "names" and forwards its
// value with the name to "mid".
type enrich struct {
	names operators.Table
}

func (e *enrich) UseTables(tables map[string]operators.Table) { e.names = tables["names"] }

func (e *enrich) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		name, ok := e.names.Get(string(r.Key))
		if !ok {
			res[i].Err = operators.Permanentf("no name for %q", r.Key)
			continue
		}
		res[i].Outputs = []operators.Output{{Topic: "mid", Key: r.Key, Value: fmt.Appendf(nil, "%s:%s", name, r.Value)}}
	}
	return res, nil
}

// A chain: enrich (with a table and a match filter) writes what upper reads,
// transactionally; WaitConsumed of the second sees the end of that input.
func TestChainWithTableAndMatch(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(2, "in", "names", "mid", "out", "dlq"))
	tt.Produce("names", "k1", []byte("ann"))
	tt.Produce("names", "k2", []byte("bob"))
	for i, v := range []string{"hi", "skip", "yo", "hey"} {
		tt.Produce("in", "k"+strconv.Itoa(i%3+1), []byte(v))
	}
	first := tt.Run(runtimetest.Operator{Name: "enrich", Inputs: []string{"in"}, Outputs: []string{"mid"},
		Tables: []string{"names"}, DeadLetter: "dlq", Operator: &enrich{},
		Match: func(r operators.Record) (bool, error) { return string(r.Value) != "skip", nil }})
	second := tt.Run(runtimetest.Operator{Name: "upper", Inputs: []string{"mid"}, Outputs: []string{"out"},
		DeadLetter: "dlq", Operator: operators.OperatorFunc(upper),
		Config: func(c *runtime.Config) { c.MaxBatch = 1 }})
	first.WaitConsumed()
	second.WaitConsumed()
	if got := values(tt.Records("out")); fmt.Sprint(got) != "[ANN:HEY ANN:HI]" {
		t.Errorf("out %v, want [ANN:HEY ANN:HI]", got)
	}
	dl := tt.DeadLetters("dlq", 1)
	if string(dl[0].Value) != "yo" || dl[0].Operator != "enrich" || dl[0].Reason != "permanent" {
		t.Errorf("dead letter %+v, want yo from enrich: k3 has no name", dl[0])
	}
}

func TestProduceAvroAndDecode(t *testing.T) {
	rec := newRecorder(t)
	tt := runtimetest.New(rec, runtimetest.Topics(1, "events"))
	ev := schemas.PresenceEvent{EventID: "e1", ZoneID: "lobby", Type: schemas.Occupied, Count: 1, Peak: 1,
		WindowStart: time.Unix(100, 0).UTC(), WindowEnd: time.Unix(102, 0).UTC(), EventTime: time.Unix(102, 0).UTC()}
	tt.ProduceAvro("events", "lobby", &ev)
	recs := tt.Expect("events", 1)
	got := runtimetest.Decode[schemas.PresenceEvent](rec, recs)
	if string(recs[0].Key) != "lobby" || len(got) != 1 || got[0].EventID != "e1" || got[0].Type != schemas.Occupied {
		t.Errorf("read %q %+v, want lobby's OCCUPIED e1", recs[0].Key, got)
	}
	rec.failedWith(t)

	tt.Produce("events", "lobby", []byte("not avro"))
	if !rec.run(func() { runtimetest.Decode[schemas.PresenceEvent](rec, tt.Expect("events", 2)) }) {
		t.Error("Decode went on after garbage")
	}
	rec.failedWith(t, "events[0] at offset 1")
}

// Go's Stop cancels the task and fails the test when it returns an error or
// does not return in time.
func TestGoStopsBounded(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context) error
		want []string
	}{
		{"clean", func(ctx context.Context) error { <-ctx.Done(); return nil }, nil},
		{"error", func(ctx context.Context) error { <-ctx.Done(); return errors.New("boom") }, []string{"task: Run: boom"}},
		{"stuck", func(context.Context) error { time.Sleep(time.Second); return nil }, []string{"task: Run did not return within 100ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			tt := runtimetest.New(rec, runtimetest.Timeout(100*time.Millisecond))
			task := tt.Go("task", tc.run)
			task.Stop()
			task.Stop() // a second Stop (and the one at the test's end) reports nothing more
			rec.failedWith(t, tc.want...)
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []runtimetest.Option
		want string
	}{
		{"no partitions", []runtimetest.Option{runtimetest.Topics(0, "a")}, "partitions must be positive"},
		{"topic twice", []runtimetest.Option{runtimetest.Topics(1, "a"), runtimetest.Topics(2, "a")}, `topic "a" given twice`},
		{"zero timeout", []runtimetest.Option{runtimetest.Timeout(0)}, "Timeout must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			if !rec.run(func() { runtimetest.New(rec, tc.opts...) }) {
				t.Error("New went on")
			}
			rec.failedWith(t, tc.want)
		})
	}
}
