//go:build integration

package kafkatest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
)

func TestMetadataListsBrokerAndController(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	adm := kadm.NewClient(kafkatest.NewClient(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(m.Brokers) == 0 {
		t.Fatal("metadata lists no broker")
	}
	if m.Controller < 0 {
		t.Fatalf("metadata lists no controller (controller id %d)", m.Controller)
	}
	if !slices.ContainsFunc(m.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == m.Controller }) {
		t.Fatalf("controller %d is not among the brokers %v", m.Controller, m.Brokers.NodeIDs())
	}
	if m.Cluster == "" {
		t.Fatal("metadata has no cluster id (kfake and KRaft both set one; a real broker must)")
	}
	t.Logf("cluster %s, controller %d, brokers %v", m.Cluster, m.Controller, m.Brokers.NodeIDs())
}

func TestTopicAutoCreationIsOff(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Unique(t, "absent")
	cl := kafkatest.NewClient(t, brokers, kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// With auto-creation off on the broker, the produce can never find a
	// leader and fails when ctx ends.
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatalf("producing to the missing topic %s succeeded: the broker auto-creates topics", topic)
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("producing to the missing topic %s: %v, want UNKNOWN_TOPIC_OR_PARTITION or a timeout", topic, err)
	}
}

func TestTransactionsReadCommitted(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Unique(t, "txn")
	kafkatest.CreateTopic(t, brokers, topic, 3, map[string]string{"min.insync.replicas": "1"})

	producer := kafkatest.NewClient(t, brokers,
		kgo.TransactionalID(kafkatest.Unique(t, "txid")),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	txn := func(prefix string, n int, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := producer.BeginTransaction(); err != nil {
			t.Fatalf("begin %s: %v", prefix, err)
		}
		for i := range n {
			rec := &kgo.Record{Key: []byte(prefix), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", prefix, i, err)
			}
		}
		if err := producer.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	txn("committed1", 6, kgo.TryCommit)
	txn("aborted", 6, kgo.TryAbort)
	txn("committed2", 3, kgo.TryCommit)

	want := []string{}
	for i := range 6 {
		want = append(want, fmt.Sprintf("committed1-%d", i))
	}
	for i := range 3 {
		want = append(want, fmt.Sprintf("committed2-%d", i))
	}
	slices.Sort(want)

	values := func(recs []*kgo.Record) []string {
		out := make([]string, 0, len(recs))
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
		slices.Sort(out)
		return out
	}

	got := values(kafkatest.ConsumeAll(t, brokers, topic, len(want), 30*time.Second, true))
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed got %d records %v,\nwant %d %v", len(got), got, len(want), want)
	}
	// The aborted records are in the log all the same: read_uncommitted sees them,
	// which proves the broker filtered them above rather than never storing them.
	raw := values(kafkatest.ConsumeAll(t, brokers, topic, len(want)+6, 30*time.Second, false))
	aborted := slices.DeleteFunc(slices.Clone(raw), func(v string) bool { return slices.Contains(want, v) })
	if len(raw) != len(want)+6 || len(aborted) != 6 {
		t.Fatalf("read_uncommitted got %d records (%d not committed): %v; want %d with 6 aborted",
			len(raw), len(aborted), raw, len(want)+6)
	}
}

func TestWaitForSeesNewGroup(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Unique(t, "grp")
	group := kafkatest.Unique(t, "group")
	kafkatest.CreateTopic(t, brokers, topic, 1, nil)
	cl := kafkatest.NewClient(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	adm := kadm.NewClient(cl)
	off := kadm.Offsets{}
	off.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, off); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}
	kafkatest.WaitFor(t, 20*time.Second, func() (bool, error) {
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, err
		}
		o, ok := got.Lookup(topic, 0)
		return ok && o.At == 1, o.Err
	})
}
