package table_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/table"
)

// An operator keeps the occupancy topic as a table, waits until it is
// complete, then answers lookups from it.
func Example() {
	broker, _ := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "corb.occupancy"))
	defer broker.Close()
	brokers := broker.ListenAddrs()
	ctx := context.Background()

	// What is already in the topic when the operator starts.
	p, _ := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("corb.occupancy"))
	defer p.Close()
	p.ProduceSync(ctx,
		&kgo.Record{Key: []byte("kitchen"), Value: []byte("OCCUPIED")},
		&kgo.Record{Key: []byte("lobby"), Value: []byte("OCCUPIED")},
		&kgo.Record{Key: []byte("lobby"), Value: nil}, // tombstone
	)

	occupancy, err := table.New(table.Config{Brokers: brokers, Topic: "corb.occupancy"})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- occupancy.Run(runCtx) }()

	if err := occupancy.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	v, ok := occupancy.Get("kitchen")
	fmt.Printf("kitchen: %s %v\n", v, ok)
	_, ok = occupancy.Get("lobby")
	fmt.Println("lobby:", ok)
	fmt.Println("keys:", occupancy.Len())

	stop()
	fmt.Println("run:", <-done)
	// Output:
	// kitchen: OCCUPIED true
	// lobby: false
	// keys: 1
	// run: <nil>
}
