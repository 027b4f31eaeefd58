//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corb-dev/corb/integration/kafkatest"
)

// faultBroker is a single-node Kafka of the test's own (kafkatest.Cluster):
// the broker-fault tests kill and start it, which they must never do to the
// broker other tests share. It keeps its data and ports across kill and
// start.
type faultBroker struct {
	t       testing.TB
	c       *kafkatest.Cluster
	brokers []string
}

func newFaultBroker(t testing.TB) *faultBroker {
	t.Helper()
	c := kafkatest.StartCluster(t, 1)
	return &faultBroker{t: t, c: c, brokers: c.Brokers()}
}

// kill SIGKILLs the broker: no controlled shutdown, its data stays.
func (b *faultBroker) kill() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.c.Kill(ctx, 1); err != nil {
		b.t.Fatalf("kill the broker: %v", err)
	}
}

// start starts the broker again on its data and ports and returns once it
// is ready.
func (b *faultBroker) start() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.c.Start(ctx, 1); err != nil {
		b.t.Fatalf("start the broker: %v", err)
	}
}

// passEnvOn is newPassEnv on brokers of the test's choosing.
func passEnvOn(t *testing.T, brokers []string, guarantee string) *passEnv {
	t.Helper()
	ns := kafkatest.Unique(t, "pass")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(passTopology, ns, guarantee)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".in", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".out", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".dlq", 1, nil)
	e := &passEnv{t: t, brokers: brokers, ns: ns, topology: file, input: map[string][]byte{}}
	e.adm = newAdmin(t, brokers)
	return e
}

// presenceEnvOn is newPresenceEnv (its zones, topology, input and the
// events of an uninterrupted run) with its topics on brokers.
func presenceEnvOn(t *testing.T, brokers []string) *presenceEnv {
	t.Helper()
	e := newPresenceEnv(t)
	e.brokers = brokers
	compact, keep := map[string]string{"cleanup.policy": "compact"}, map[string]string{"retention.ms": "-1"}
	for topic, cfg := range map[string]map[string]string{"zone-counts": keep, "events": keep,
		"occupancy": compact, "presence-state": compact} {
		kafkatest.CreateTopic(t, brokers, e.ns+"."+topic, 6, cfg)
	}
	kafkatest.CreateTopic(t, brokers, e.ns+".zone-counts-dlq", 1, keep)
	return e
}
