package check

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/corb-dev/corb/topology"
)

// Paths of the repository, relative to deploy/check (go test runs in the
// package's directory).
const (
	RepoRoot     = "../.."
	TopologyFile = "../topology.yaml"
)

// LoadTopology loads and checks a topology file with Corb's own loader (strict
// YAML, the graph's consistency; the operator kinds' config checks are
// corb topology validate's, which needs the cgo operators).
func LoadTopology(path string) (*topology.Spec, error) { return topology.Load(path) }

// minInputPartitions is the fewest partitions among op's inputs: the most
// replicas that can all hold a partition.
func minInputPartitions(spec *topology.Spec, op *topology.Operator) (int, error) {
	least := 0
	for _, in := range op.Inputs {
		t, ok := spec.Topic(in)
		if !ok {
			return 0, fmt.Errorf("operator %s: input %q is no topic of the topology", op.Name, in)
		}
		if least == 0 || t.Partitions < least {
			least = t.Partitions
		}
	}
	if least == 0 {
		return 0, fmt.Errorf("operator %s has no inputs", op.Name)
	}
	return least, nil
}

// SameTopologyExcept reports how got differs from want other than in the
// config blocks of the operators named in except: topics, namespace and every
// other field of every operator must be equal. It is how the GPU overlay's
// topology (want plus provider: cuda for detect) is kept from drifting.
func SameTopologyExcept(want, got *topology.Spec, except ...string) error {
	var errs []error
	if want.Namespace != got.Namespace {
		errs = append(errs, fmt.Errorf("namespace %q, want %q", got.Namespace, want.Namespace))
	}
	type operator struct {
		topology.Operator
		config any // what the config block decodes to
	}
	norm := func(s *topology.Spec) ([]topology.Topic, map[string]operator) {
		topics := make([]topology.Topic, len(s.Topics))
		for i, t := range s.Topics {
			t.Pos = topology.Position{}
			topics[i] = t
		}
		ops := map[string]operator{}
		for _, o := range s.Operators {
			var cfg any
			if !o.Config.IsZero() && !slices.Contains(except, o.Name) {
				if err := o.Config.Decode(&cfg); err != nil {
					errs = append(errs, fmt.Errorf("operator %s: config: %w", o.Name, err))
				}
			}
			o.Pos, o.Config = topology.Position{}, topology.ConfigNode{}
			ops[o.Name] = operator{o, cfg}
		}
		return topics, ops
	}
	wt, wo := norm(want)
	gt, gotOps := norm(got)
	if !reflect.DeepEqual(wt, gt) {
		errs = append(errs, errors.New("topics differ"))
	}
	for name, w := range wo {
		g, ok := gotOps[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("operator %s is missing", name))
		case !reflect.DeepEqual(w, g):
			errs = append(errs, fmt.Errorf("operator %s differs", name))
		}
	}
	for name := range gotOps {
		if _, ok := wo[name]; !ok {
			errs = append(errs, fmt.Errorf("operator %s is not in %s", name, filepath.Base(want.File)))
		}
	}
	return errors.Join(errs...)
}
