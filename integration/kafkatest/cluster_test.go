//go:build integration

package kafkatest_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
)

// produce writes n records with values prefix-0..prefix-(n-1) to topic and
// waits for every ack.
func produce(t *testing.T, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", prefix, err)
	}
}

// values counts the values of recs.
func values(recs []*kgo.Record) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[string(r.Value)]++
	}
	return m
}

// configValue is key's value in the only resource of rcs.
func configValue(rcs kadm.ResourceConfigs, key string) (string, error) {
	if len(rcs) != 1 {
		return "", fmt.Errorf("%d resources described, want 1", len(rcs))
	}
	if rcs[0].Err != nil {
		return "", rcs[0].Err
	}
	for _, kv := range rcs[0].Configs {
		if kv.Key == key {
			return kv.MaybeValue(), nil
		}
	}
	return "", fmt.Errorf("%s not described", key)
}

func TestClusterSingleNodeKeepsDataAcrossKill(t *testing.T) {
	// A 3s broker session (not Kafka's 9s) lets the killed node register again sooner.
	c := kafkatest.StartCluster(t, 1,
		kafkatest.WithServerProperty("broker.session.timeout.ms", "3000"),
		kafkatest.WithServerProperty("broker.heartbeat.interval.ms", "500"))
	adm := kadm.NewClient(kafkatest.NewClient(t, c.Brokers()))
	cfgs, err := adm.DescribeBrokerConfigs(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := configValue(cfgs, "broker.session.timeout.ms"); err != nil || v != "3000" {
		t.Fatalf("broker.session.timeout.ms = %q, %v; want 3000 from WithServerProperty", v, err)
	}
	topic := kafkatest.Unique(t, "keep")
	kafkatest.CreateTopic(t, c.Brokers(), topic, 2, nil)
	produce(t, kafkatest.NewClient(t, c.Brokers()), topic, "before", 50)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if running, err := c.Running(ctx); err != nil || len(running) != 0 {
		t.Fatalf("after Kill: running %v, %v; want none", running, err)
	}
	start := time.Now()
	if err := c.Start(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("node 1 ready %s after Start (after SIGKILL)", time.Since(start).Round(time.Millisecond))
	if got := c.Brokers(); len(got) != 1 {
		t.Fatalf("Brokers() = %v", got)
	}

	got := values(kafkatest.ConsumeAll(t, c.Brokers(), topic, 50, time.Minute, false))
	if len(got) != 50 {
		t.Fatalf("read %d distinct records after the restart, want the 50 written before", len(got))
	}
}

// TestClusterThreeNodes checks the 3-node cluster's settings, its proxies,
// and the helpers a fault test needs: the partition leader killed and a new one elected, the
// node started again and back in sync, the transaction coordinator's node
// stopped and the coordinator moved, with every record kept.
func TestClusterThreeNodes(t *testing.T) {
	c := kafkatest.StartCluster(t, 3, kafkatest.WithStopTimeout(20*time.Second), kafkatest.WithProxies())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	for i, n := range c.Nodes() {
		if n.Node != i+1 || n.Broker == "" || n.Controller == "" || n.Client == "" || n.Proxied != c.Proxy(n.Node).Addr() {
			t.Fatalf("node %d: %+v (proxy %s)", i+1, n, c.Proxy(n.Node).Addr())
		}
		if id, err := c.NodeID(n.Node); err != nil || id != n.ID {
			t.Fatalf("NodeID(%d) = %d, %v; want %d", n.Node, id, err, n.ID)
		}
		if node, err := c.NodeOf(n.ID); err != nil || node != n.Node {
			t.Fatalf("NodeOf(%d) = %d, %v; want %d", n.ID, node, err, n.Node)
		}
	}
	if _, err := c.NodeID(4); err == nil {
		t.Fatal("NodeID(4) of a 3-node cluster did not fail")
	}
	if err := c.Kill(ctx, 0); err == nil {
		t.Fatal("Kill(0) did not fail")
	}

	adm := kadm.NewClient(kafkatest.NewClient(t, c.Brokers()))
	m, err := adm.BrokerMetadata(ctx)
	if err != nil || len(m.Brokers) != 3 {
		t.Fatalf("metadata: %d brokers, %v; want 3", len(m.Brokers), err)
	}

	topic := kafkatest.Unique(t, "rf3")
	kafkatest.CreateTopic(t, c.Brokers(), topic, 3, nil)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics[topic].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %d has replicas %v; want 3 (default.replication.factor)", p.Partition, p.Replicas)
		}
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := configValue(cfgs, "min.insync.replicas"); err != nil || v != "2" {
		t.Fatalf("min.insync.replicas = %q, %v; want 2", v, err)
	}

	// A client seeded with the proxies learns only the proxies' addresses.
	cl := kafkatest.NewClient(t, c.ProxyBrokers())
	pm, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range pm.Brokers {
		node, err := c.NodeOf(b.NodeID)
		if err != nil || fmt.Sprintf("%s:%d", b.Host, b.Port) != c.Proxy(node).Addr() {
			t.Fatalf("through the proxies, broker %d is advertised at %s:%d; want its proxy", b.NodeID, b.Host, b.Port)
		}
	}
	produce(t, cl, topic, "a", 100)

	leader, err := c.Leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	next, err := c.Leader(ctx, topic, 0, leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("partition 0: leader node %d killed, node %d leads %s later", leader, next, time.Since(killed).Round(time.Millisecond))
	produce(t, cl, topic, "b", 100) // 2 of 3 replicas meet min.insync.replicas

	start := time.Now()
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("node %d ready %s after Start (after SIGKILL)", leader, time.Since(start).Round(time.Millisecond))
	if err := c.WaitInSync(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if running, err := c.Running(ctx); err != nil || !slices.Equal(running, []int{1, 2, 3}) {
		t.Fatalf("running %v, %v; want 1 2 3", running, err)
	}

	txnID := kafkatest.Unique(t, "txn")
	txn := kafkatest.NewClient(t, c.Brokers(), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic))
	commit := func(prefix string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			txn.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}, nil)
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %s: %v", prefix, err)
		}
	}
	commit("t1")
	coord, err := c.TxnCoordinator(ctx, txnID)
	if err != nil {
		t.Fatal(err)
	}
	described, err := adm.DescribeTransactions(ctx, txnID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := described.On(txnID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := c.NodeID(coord); d.Coordinator != id {
		t.Fatalf("DescribeTransactions names coordinator %d, TxnCoordinator node %d (broker %d)", d.Coordinator, coord, id)
	}
	if err := c.Stop(ctx, coord); err != nil {
		t.Fatal(err)
	}
	moved, err := c.TxnCoordinator(ctx, txnID, coord)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transaction coordinator: node %d stopped, node %d took over", coord, moved)
	commit("t2")
	if err := c.Restart(ctx, coord); err != nil { // of a stopped node: a start
		t.Fatal(err)
	}
	if err := c.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}

	got := values(kafkatest.ConsumeAll(t, c.Brokers(), topic, 220, time.Minute, true))
	for _, prefix := range []struct {
		p string
		n int
	}{{"a", 100}, {"b", 100}, {"t1", 10}, {"t2", 10}} {
		for i := range prefix.n {
			v := fmt.Sprintf("%s-%d", prefix.p, i)
			if got[v] != 1 {
				t.Errorf("%s read %d times, want once", v, got[v])
			}
		}
	}
	if len(got) != 220 {
		t.Errorf("read %d distinct records, want 220", len(got))
	}
	var through int64
	for _, p := range c.Proxies() {
		through += p.Stats().BytesToTarget
	}
	if through == 0 {
		t.Error("no byte went through the proxies")
	}
}
