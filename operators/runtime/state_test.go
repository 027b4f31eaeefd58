package runtime_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// counter counts records per key; its state (the counts) lives in the "counts"
// changelog, and every tick it reports how many keys it holds.
type counter struct {
	mu       sync.Mutex
	counts   map[int32]map[string]int // partition → key → count
	restores int
}

func newCounter() *counter { return &counter{counts: map[int32]map[string]int{}} }

func (c *counter) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		if c.counts[r.Partition] == nil {
			c.counts[r.Partition] = map[string]int{}
		}
		n := c.counts[r.Partition][string(r.Key)] + 1
		c.counts[r.Partition][string(r.Key)] = n
		v := []byte(strconv.Itoa(n))
		res[i].Outputs = []operators.Output{
			{Topic: "out", Key: r.Key, Value: []byte(fmt.Sprintf("%s=%d", r.Key, n))},
			{Topic: "counts", Key: r.Key, Value: v},
		}
	}
	return res, nil
}

func (c *counter) Restore(_ context.Context, topic string, p int32, state map[string][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if topic != "counts" {
		return fmt.Errorf("unexpected state topic %q", topic)
	}
	c.restores++
	m := map[string]int{}
	for k, v := range state {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return err
		}
		m[k] = n
	}
	c.counts[p] = m
	return nil
}

func (c *counter) Revoke(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.counts, p)
}

func (c *counter) Tick(context.Context, time.Time) ([]operators.Output, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := 0
	for _, m := range c.counts {
		keys += len(m)
	}
	return []operators.Output{{Topic: "ticks", Value: []byte(strconv.Itoa(keys))}}, nil
}

func TestStateIsRestoredByTheNextInstance(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			brokers := newCluster(t, 3, "in", "out", "counts", "dlq", "ticks")
			send := func(n int) {
				cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				for i := range n {
					key := []byte{'a' + byte(i%3)}
					if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "in", Key: key, Value: []byte("x")}).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := func(op *counter, instance string) runtime.Config {
				return runtime.Config{
					Name: "count", Instance: instance, Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out", "ticks"},
					State: []string{"counts"}, DeadLetter: "dlq", Guarantee: g, Operator: op,
					TickInterval: 50 * time.Millisecond, RestoreSettle: 100 * time.Millisecond,
				}
			}
			send(30) // a, b, c: 10 each
			first := newCounter()
			_, stop := start(t, cfg(first, "0"))
			consume(t, brokers, "out", 30)
			stop()

			send(15) // 5 more each: counts must go on from 10, not start over
			second := newCounter()
			_, stop = start(t, cfg(second, "1"))
			out := consume(t, brokers, "out", 45)
			ticks := consume(t, brokers, "ticks", 1)
			stop()

			last := map[string]string{}
			for _, r := range out {
				last[string(r.Key)] = string(r.Value)
			}
			for _, k := range []string{"a", "b", "c"} {
				if want := k + "=15"; last[k] != want {
					t.Errorf("last output for %s = %q, want %q (state not restored?)", k, last[k], want)
				}
			}
			if second.restores == 0 {
				t.Error("the second instance never restored its state")
			}
			if len(ticks) == 0 {
				t.Error("no tick output")
			}
		})
	}
}

// poisonCounter is a counter that panics on a "poison" record after counting
// it: its memory then holds a count the changelog must not.
type poisonCounter struct{ *counter }

func (p poisonCounter) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	res, err := p.counter.Process(ctx, batch)
	for _, r := range batch {
		if string(r.Value) == "poison" {
			panic("poison record " + string(r.Key))
		}
	}
	return res, err
}

// A panic in a stateful batch is neither half-applied nor applied twice: the
// state is restored, the batch's records run again one at a time, the
// panicking one is dead-lettered and every other is counted exactly once.
func TestStatefulPanicCountsEveryOtherRecordOnce(t *testing.T) {
	for _, g := range []runtime.Guarantee{runtime.ExactlyOnce, runtime.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			brokers := newCluster(t, 1, "in", "out", "counts", "dlq")
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			if err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			for i := range 30 {
				v := "x"
				if i == 14 || i == 22 {
					v = "poison" // keys c and b
				}
				recs = append(recs, &kgo.Record{Topic: "in", Key: []byte{'a' + byte(i%3)}, Value: []byte(v)})
			}
			// One produce, so the first poll most likely holds the whole batch.
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cl.Close()

			op := poisonCounter{newCounter()}
			_, stop := start(t, runtime.Config{
				Name: "count", Instance: "0", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"},
				State: []string{"counts"}, DeadLetter: "dlq", Guarantee: g, Operator: op,
				RestoreSettle: 100 * time.Millisecond,
				Retry:         operators.RetryPolicy{Sleep: func(context.Context, time.Duration) error { return nil }},
			})
			dead := consume(t, brokers, "dlq", 2)
			out := consume(t, brokers, "out", 28)
			stop()

			seen := map[string][]string{}
			for _, r := range out {
				seen[string(r.Key)] = append(seen[string(r.Key)], string(r.Value))
			}
			for k, n := range map[string]int{"a": 10, "b": 9, "c": 9} {
				var want []string
				for i := 1; i <= n; i++ {
					want = append(want, fmt.Sprintf("%s=%d", k, i))
				}
				if fmt.Sprint(seen[k]) != fmt.Sprint(want) {
					t.Errorf("outputs for %s = %v, want %v", k, seen[k], want)
				}
			}
			if len(out) != 28 || len(dead) != 2 {
				t.Errorf("%d outputs and %d dead letters, want 28 and 2", len(out), len(dead))
			}
			for _, r := range dead {
				if string(r.Value) != "poison" {
					t.Errorf("dead letter %q, want the poison records", r.Value)
				}
			}
		})
	}
}
