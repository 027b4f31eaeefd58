package topology_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/topology"
)

func newCluster(t *testing.T) *kadm.Client {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const provisionSpec = `namespace: p
topics:
  - name: frames
    partitions: 6
    replication: 1
    schema: corb.Frame
    configs: {max.message.bytes: "4194304", retention.ms: "3600000"}
  - name: events
    partitions: 3
    schema: corb.PresenceEvent
    configs: {retention.ms: "604800000"}
  - name: occupancy
    partitions: 2
    schema: corb.PresenceEvent
    configs: {cleanup.policy: compact}
  - name: dlq
    schema: bytes
`

func mustParse(t *testing.T, src string) *topology.Spec {
	t.Helper()
	s, err := topology.Parse("spec.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func partitions(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) int {
	t.Helper()
	d, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), topic) // uncached
	if err != nil {
		t.Fatal(err)
	}
	return len(d[topic].Partitions)
}

func config(t *testing.T, ctx context.Context, adm *kadm.Client, topic, key string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return "(unset)"
}

func TestPlanCreateThenInSync(t *testing.T) {
	ctx := testContext(t)
	adm := newCluster(t)
	spec := mustParse(t, provisionSpec)

	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan_create.golden", plan.String())
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, ctx, adm, "p.frames"); got != 6 {
		t.Errorf("p.frames has %d partitions, want 6", got)
	}
	if got := config(t, ctx, adm, "p.occupancy", "cleanup.policy"); got != "compact" {
		t.Errorf("p.occupancy cleanup.policy = %q", got)
	}
	plan, err = topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan_insync.golden", plan.String())
	if plan.HasChanges() {
		t.Errorf("plan after apply has changes:\n%s", plan)
	}
	// Applying again is a no-op, not an error.
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{GrowPartitions: true, AlterConfigs: true}); err != nil {
		t.Fatal(err)
	}
}

func TestPlanDrift(t *testing.T) {
	ctx := testContext(t)
	adm := newCluster(t)
	// The cluster as someone left it: events too small, occupancy too big,
	// frames with another retention, dlq missing.
	for _, c := range []struct {
		topic   string
		parts   int32
		configs map[string]*string
	}{
		{"p.frames", 6, map[string]*string{"max.message.bytes": kadm.StringPtr("4194304"), "retention.ms": kadm.StringPtr("60000")}},
		{"p.events", 1, map[string]*string{"retention.ms": kadm.StringPtr("604800000")}},
		{"p.occupancy", 4, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}},
	} {
		if _, err := adm.CreateTopic(ctx, c.parts, 1, c.configs, c.topic); err != nil {
			t.Fatal(err)
		}
	}
	spec := mustParse(t, provisionSpec)
	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan_drift.golden", plan.String())
	if c, d, ok := plan.Counts(); c != 1 || d != 3 || ok != 0 {
		t.Errorf("Counts() = %d, %d, %d; want 1 create, 3 drift, 0 ok", c, d, ok)
	}

	// Without options, apply only creates.
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, ctx, adm, "p.events"); got != 1 {
		t.Errorf("p.events grown to %d without GrowPartitions", got)
	}
	if got := config(t, ctx, adm, "p.frames", "retention.ms"); got != "60000" {
		t.Errorf("p.frames retention.ms altered to %q without AlterConfigs", got)
	}
	if got := partitions(t, ctx, adm, "p.dlq"); got != 1 {
		t.Errorf("p.dlq has %d partitions, want 1", got)
	}

	// With both options, drift that can be fixed is fixed; excess partitions stay.
	plan, err = topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{GrowPartitions: true, AlterConfigs: true}); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, ctx, adm, "p.events"); got != 3 {
		t.Errorf("p.events has %d partitions after grow, want 3", got)
	}
	if got := config(t, ctx, adm, "p.frames", "retention.ms"); got != "3600000" {
		t.Errorf("p.frames retention.ms = %q after alter, want 3600000", got)
	}
	if got := partitions(t, ctx, adm, "p.occupancy"); got != 4 {
		t.Errorf("p.occupancy has %d partitions; apply must never shrink", got)
	}
	plan, err = topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan_after_fix.golden", plan.String())
}

// The default topology provisions on kfake: every config it sets is one the
// embedded dev broker accepts.
func TestDefaultTopologyApplies(t *testing.T) {
	ctx := testContext(t)
	adm := newCluster(t)
	s, err := topology.Load(defaultTopology)
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithNamespace("it")
	plan, err := topology.MakePlan(ctx, adm, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	plan, err = topology.MakePlan(ctx, adm, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := plan.Counts(); ok != len(s.Topics) {
		t.Errorf("after apply %d of %d topics in sync:\n%s", ok, len(s.Topics), plan)
	}
	if got := partitions(t, ctx, adm, "it.frames"); got != 6 {
		t.Errorf("it.frames has %d partitions", got)
	}
}
