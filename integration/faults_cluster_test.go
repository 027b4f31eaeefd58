//go:build integration && faults

package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corb-dev/corb/integration/kafkatest"
)

// clusterRecords is how many records each cluster case carries: at 250
// every 150 ms they take about 12 s to produce, so a node killed after
// 5 000–9 000 outputs dies mid-stream and is still away for the rest of it.
const clusterRecords = 20000

// clusterNodeFault runs the pass operator on a 3-node cluster (replication
// 3, min.insync.replicas 2) over clusterRecords records, kills the node pick
// chooses once 5 000–9 000 outputs are written, starts it again on its data
// 10 s later, and requires the same operator process to finish the stream
// exactly, within 60 s of the node's return.
func clusterNodeFault(t *testing.T, name string, pick func(ctx context.Context, c *kafkatest.Cluster, e *clusterPass) (int, string, error)) {
	c := kafkatest.StartCluster(t, 3, clusterFaultProps...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newClusterPass(t, c, c.Brokers())
	out := watchArrivals(t, c.Brokers(), e.ns+".out")
	produced := make(chan error, 1)
	go func() { produced <- e.producePaced(ctx, clusterRecords, 150*time.Millisecond) }()
	p := e.run()

	at := int64(5000 + rand.IntN(4000))
	e.waitWritten("out", at, p)
	node, why, err := pick(ctx, c, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, node); err != nil {
		t.Fatal(err)
	}
	faultAt := time.Now()
	t.Logf("%s: node %d (%s) SIGKILLed after %d output offsets", name, node, why, at)
	select {
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if err := c.Start(ctx, node); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("%s: node %d back %s after the kill", name, node, back.Sub(faultAt).Round(time.Millisecond))
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	e.finish(out, p, faultFigures{Case: name, Records: clusterRecords, Faults: 1}, faultAt, back, 60*time.Second)
}

// TestFaultsClusterPartitionLeaderKilled: the leader of the busiest input
// partition SIGKILLed mid-stream, started again 10 s later.
func TestFaultsClusterPartitionLeaderKilled(t *testing.T) {
	clusterNodeFault(t, "cluster3-leader-kill", func(ctx context.Context, c *kafkatest.Cluster, e *clusterPass) (int, string, error) {
		part, n, err := e.busiest()
		if err != nil {
			return 0, "", err
		}
		node, err := c.Leader(ctx, e.ns+".in", part)
		return node, fmt.Sprintf("leader of %s.in[%d], %d records", e.ns, part, n), err
	})
}

// TestFaultsClusterTxnCoordinatorKilled: the node that coordinates the
// operator's transactions SIGKILLed mid-stream, started again 10 s later.
func TestFaultsClusterTxnCoordinatorKilled(t *testing.T) {
	clusterNodeFault(t, "cluster3-txn-coordinator-kill", func(ctx context.Context, c *kafkatest.Cluster, e *clusterPass) (int, string, error) {
		node, err := c.TxnCoordinator(ctx, e.txnID())
		if err != nil {
			return 0, "", err
		}
		why := "transaction coordinator of " + e.txnID()
		if g, err := c.GroupCoordinator(ctx, e.ns+".pass"); err == nil && g == node {
			why += ", and the group's coordinator"
		}
		return node, why, nil
	})
}
