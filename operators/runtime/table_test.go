package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
)

// greeter looks each record's key up in the "names" table.
type greeter struct {
	mu     sync.Mutex
	tables map[string]operators.Table
	early  bool // Process ran before UseTables
}

func (g *greeter) UseTables(t map[string]operators.Table) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tables = t
}

func (g *greeter) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		if g.tables == nil {
			g.early = true
			continue
		}
		name, ok := g.tables["names"].Get(string(r.Key))
		if !ok {
			name = []byte("?")
		}
		res[i].Outputs = []operators.Output{{Topic: "out", Key: r.Key, Value: append([]byte("hello "), name...)}}
	}
	return res, nil
}

func TestTablesAreLoadedBeforeTheFirstBatchAndKeptCurrent(t *testing.T) {
	brokers := newCluster(t, 2, "in", "out", "dlq", "names")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	put := func(topic, k, v string) {
		t.Helper()
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	put("names", "1", "ada")
	put("names", "2", "grace")
	put("in", "1", "x")
	put("in", "2", "x")

	g := &greeter{}
	_, stop := start(t, runtime.Config{
		Name: "greet", Brokers: brokers, Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq",
		Tables: []string{"names"}, Operator: g,
	})
	defer stop()
	first := consume(t, brokers, "out", 2)
	got := map[string]string{}
	for _, r := range first {
		got[string(r.Key)] = string(r.Value)
	}
	if got["1"] != "hello ada" || got["2"] != "hello grace" {
		t.Fatalf("outputs %v: the table was not loaded before the first batch", got)
	}

	put("names", "3", "linus") // an update while running
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		v, ok := g.tables["names"].Get("3")
		g.mu.Unlock()
		if ok && string(v) == "linus" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the table did not pick up an update made while the operator ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	put("in", "3", "x")
	for _, r := range consume(t, brokers, "out", 3) {
		if string(r.Key) == "3" && string(r.Value) != "hello linus" {
			t.Fatalf("output for key 3 is %q, want hello linus", r.Value)
		}
	}
	if g.early {
		t.Fatal("Process ran before UseTables")
	}
}
