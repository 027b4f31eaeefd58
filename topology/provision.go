package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicPlan is what provisioning would do to one topic.
type TopicPlan struct {
	Topic    string // logical name
	Physical string // namespace-prefixed Kafka name
	Spec     Topic

	Exists bool // the topic is on the cluster
	// Partitions on the cluster (0 when missing). Fewer than Spec.Partitions
	// can be grown by Apply with GrowPartitions; more is drift, never shrunk.
	Partitions int
	// Replication on the cluster (0 when missing); a difference is only reported.
	Replication int
	// ConfigDrift lists configs whose cluster value differs from the spec.
	ConfigDrift []ConfigDrift
}

// ConfigDrift is one topic config whose cluster value differs from the spec.
type ConfigDrift struct {
	Key  string
	Want string
	Have *string // nil: not set on the cluster
}

// NeedsCreate reports whether the topic is missing.
func (p *TopicPlan) NeedsCreate() bool { return !p.Exists }

// NeedsGrow reports whether the topic has fewer partitions than the spec.
func (p *TopicPlan) NeedsGrow() bool { return p.Exists && p.Partitions < p.Spec.Partitions }

// ExcessPartitions reports whether the topic has more partitions than the spec
// (reported, never changed: Kafka cannot shrink a topic).
func (p *TopicPlan) ExcessPartitions() bool { return p.Exists && p.Partitions > p.Spec.Partitions }

// ReplicationDrift reports whether the replication factor differs from an explicit spec value.
func (p *TopicPlan) ReplicationDrift() bool {
	return p.Exists && p.Spec.Replication > 0 && p.Replication != p.Spec.Replication
}

// InSync reports whether the topic matches the spec.
func (p *TopicPlan) InSync() bool {
	return p.Exists && p.Partitions == p.Spec.Partitions && !p.ReplicationDrift() && len(p.ConfigDrift) == 0
}

// Plan is the difference between a spec's topics and a cluster, topic by topic
// in spec order. Build it with MakePlan; print it with WriteTo or String.
type Plan struct {
	Namespace string
	Topics    []TopicPlan
}

// MakePlan compares spec's topics with the cluster behind adm. It only reads.
func MakePlan(ctx context.Context, adm *kadm.Client, spec *Spec) (*Plan, error) {
	names := make([]string, len(spec.Topics))
	for i, t := range spec.Topics {
		names[i] = spec.PhysicalName(t.Name)
	}
	// kadm serves metadata from the client's cache (up to MetadataMinAge, 5s
	// by default), which would hide topics Apply just created. A request for
	// authorized operations bypasses that cache, so a plan is always fresh.
	details, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
	if err != nil {
		return nil, fmt.Errorf("topology: list topics: %w", err)
	}
	var existing []string
	for _, n := range names {
		if d, ok := details[n]; ok && d.Err == nil {
			existing = append(existing, n)
		} else if ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topology: describe topic %s: %w", n, d.Err)
		}
	}
	configs := map[string]map[string]*string{}
	if len(existing) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
		if err != nil {
			return nil, fmt.Errorf("topology: describe topic configs: %w", err)
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				return nil, fmt.Errorf("topology: describe configs of %s: %w", rc.Name, rc.Err)
			}
			m := map[string]*string{}
			for _, c := range rc.Configs {
				m[c.Key] = c.Value
			}
			configs[rc.Name] = m
		}
	}
	plan := &Plan{Namespace: spec.Namespace}
	for i, t := range spec.Topics {
		tp := TopicPlan{Topic: t.Name, Physical: names[i], Spec: t}
		if d, ok := details[names[i]]; ok && d.Err == nil {
			tp.Exists = true
			tp.Partitions = len(d.Partitions)
			if p, ok := d.Partitions[0]; ok {
				tp.Replication = len(p.Replicas)
			}
			have := configs[names[i]]
			for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
				if v, ok := have[k]; !ok || v == nil || *v != t.Configs[k] {
					tp.ConfigDrift = append(tp.ConfigDrift, ConfigDrift{Key: k, Want: t.Configs[k], Have: v})
				}
			}
		}
		plan.Topics = append(plan.Topics, tp)
	}
	return plan, nil
}

// Counts returns how many topics are to be created, drift, and are in sync.
func (p *Plan) Counts() (create, drift, ok int) {
	for i := range p.Topics {
		switch t := &p.Topics[i]; {
		case t.NeedsCreate():
			create++
		case t.InSync():
			ok++
		default:
			drift++
		}
	}
	return create, drift, ok
}

// HasChanges reports whether any topic is missing or drifts.
func (p *Plan) HasChanges() bool {
	c, d, _ := p.Counts()
	return c+d > 0
}

// String renders the plan (see WriteTo).
func (p *Plan) String() string {
	var b strings.Builder
	_, _ = p.WriteTo(&b)
	return b.String()
}

// WriteTo prints the plan like a terraform plan: "+" a topic to create,
// "~" drift (what apply can fix says which option it needs), "=" in sync.
func (p *Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	create, drift, ok := p.Counts()
	ns := p.Namespace
	if ns == "" {
		ns = "(none)"
	}
	fmt.Fprintf(&b, "namespace %s: %d to create, %d drifted, %d in sync\n\n", ns, create, drift, ok)
	for i := range p.Topics {
		t := &p.Topics[i]
		switch {
		case t.NeedsCreate():
			repl := "broker default"
			if t.Spec.Replication > 0 {
				repl = fmt.Sprint(t.Spec.Replication)
			}
			fmt.Fprintf(&b, "+ %s  (%d partitions, replication %s, schema %s)\n", t.Physical, t.Spec.Partitions, repl, t.Spec.Schema)
			for _, k := range slices.Sorted(maps.Keys(t.Spec.Configs)) {
				fmt.Fprintf(&b, "      %s = %q\n", k, t.Spec.Configs[k])
			}
		case t.InSync():
			fmt.Fprintf(&b, "= %s\n", t.Physical)
		default:
			fmt.Fprintf(&b, "~ %s\n", t.Physical)
			if t.NeedsGrow() {
				fmt.Fprintf(&b, "      partitions %d → %d  (grown only with grow-partitions; keyed records move partition)\n", t.Partitions, t.Spec.Partitions)
			}
			if t.ExcessPartitions() {
				fmt.Fprintf(&b, "      partitions %d, spec %d  (drift: never shrunk)\n", t.Partitions, t.Spec.Partitions)
			}
			if t.ReplicationDrift() {
				fmt.Fprintf(&b, "      replication %d, spec %d  (drift: not changed by apply)\n", t.Replication, t.Spec.Replication)
			}
			for _, c := range t.ConfigDrift {
				have := "(unset)"
				if c.Have != nil {
					have = fmt.Sprintf("%q", *c.Have)
				}
				fmt.Fprintf(&b, "      %s %s → %q  (altered only with alter-configs)\n", c.Key, have, c.Want)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// ApplyOptions choose which changes beyond creating missing topics Apply makes.
// The zero value only creates topics.
type ApplyOptions struct {
	// GrowPartitions adds partitions to topics that have fewer than the spec.
	// Off by default: it changes which partition a key lands on.
	GrowPartitions bool
	// AlterConfigs sets drifted topic configs to the spec's values (configs the
	// spec does not mention are left alone). Off by default.
	AlterConfigs bool
}

// Apply makes the cluster match plan: it creates missing topics and, when
// opts allow, grows partitions and alters drifted configs. It never deletes a
// topic, never shrinks one, never touches topics outside the plan, and
// treats a topic created concurrently as done. Every failure is returned,
// joined; what succeeded stays done. Re-plan to see the result.
func Apply(ctx context.Context, adm *kadm.Client, plan *Plan, opts ApplyOptions) error {
	var errs []error
	for i := range plan.Topics {
		t := &plan.Topics[i]
		switch {
		case t.NeedsCreate():
			configs := make(map[string]*string, len(t.Spec.Configs))
			for k, v := range t.Spec.Configs {
				configs[k] = kadm.StringPtr(v)
			}
			repl := int16(-1)
			if t.Spec.Replication > 0 {
				repl = int16(t.Spec.Replication)
			}
			_, err := adm.CreateTopic(ctx, int32(t.Spec.Partitions), repl, configs, t.Physical)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("create topic %s: %w", t.Physical, err))
			}
		default:
			if opts.GrowPartitions && t.NeedsGrow() {
				resp, err := adm.UpdatePartitions(ctx, t.Spec.Partitions, t.Physical)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("grow %s to %d partitions: %w", t.Physical, t.Spec.Partitions, err))
				}
			}
			if opts.AlterConfigs && len(t.ConfigDrift) > 0 {
				alter := make([]kadm.AlterConfig, len(t.ConfigDrift))
				for j, c := range t.ConfigDrift {
					alter[j] = kadm.AlterConfig{Op: kadm.SetConfig, Name: c.Key, Value: kadm.StringPtr(c.Want)}
				}
				resp, err := adm.AlterTopicConfigs(ctx, alter, t.Physical)
				if err == nil {
					for _, r := range resp {
						if r.Err != nil {
							err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
							break
						}
					}
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("alter configs of %s: %w", t.Physical, err))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("topology: apply: %w", errors.Join(errs...))
	}
	return nil
}
