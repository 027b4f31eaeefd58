package topology

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// MaxFileSize is the largest topology file Load and Parse accept.
const MaxFileSize = 4 << 20

// SchemaBytes is the schema name of topics whose records are opaque bytes
// (dead-letter topics, operator-private state).
const SchemaBytes = "bytes"

// Guarantee is an operator's delivery guarantee.
type Guarantee string

const (
	// ExactlyOnce (the default) produces an input record's outputs and commits its
	// offset in one Kafka transaction.
	ExactlyOnce Guarantee = "exactly_once"
	// AtLeastOnce produces outputs, then commits: a crash can repeat outputs.
	AtLeastOnce Guarantee = "at_least_once"
)

// Valid reports whether g is a known guarantee.
func (g Guarantee) Valid() bool { return g == ExactlyOnce || g == AtLeastOnce }

// Spec is a whole topology. Build one with Load or Parse (which also check its
// internal consistency); check it against the known operator kinds with Validate.
// A Spec is not modified by this package after loading and is safe for concurrent reads.
type Spec struct {
	// Namespace prefixes every physical topic name: "<namespace>.<topic>".
	// Empty means no prefix.
	Namespace string
	Topics    []Topic
	Operators []Operator
	// File is the name the spec was loaded from ("" if built in Go).
	File string

	// pos maps element paths (operators[1].inputs[0]) to where they are written.
	pos map[string]Position
}

// Topic is one Kafka topic of the graph.
type Topic struct {
	Name        string
	Partitions  int               // ≥ 1; 1 when omitted
	Replication int               // replication factor; 0 (omitted) = the broker's default
	Schema      string            // Avro full name ("corb.Frame") or SchemaBytes
	Configs     map[string]string // Kafka topic configs, e.g. retention.ms
	Pos         Position
}

// Compacted reports whether the topic's cleanup.policy includes compact.
func (t *Topic) Compacted() bool {
	for _, p := range splitList(t.Configs["cleanup.policy"]) {
		if p == "compact" {
			return true
		}
	}
	return false
}

// Operator is one function of the graph: a consumer group over its inputs.
type Operator struct {
	Name string
	Kind string // the built-in kind that implements it: detect, zones, presence, ...

	Inputs  []string // topics whose records trigger the operator
	Outputs []string // topics it may produce to
	// Tables are compacted topics read whole as lookup tables (not triggers):
	// every replica reads every partition.
	Tables []string
	// State are compacted changelog topics only this operator writes; they are
	// co-partitioned with its inputs and restored on partition assignment.
	// Other operators may read them as tables (a state that is also a view).
	State []string

	// Match keeps only input records whose decoded fields match (see Match).
	// Records that do not match are skipped (committed, no output).
	Match Match
	// Emits declares, per output topic, the field values the operator writes
	// there (commands: {command_type: [send_sms]}); it lets cycle detection
	// tell apart routes on a shared bus topic. An output without an entry can
	// carry anything.
	Emits map[string]Match

	OnFailure string    // dead-letter topic; "" = none
	Replicas  int       // ≥ 1; 1 when omitted
	Guarantee Guarantee // ExactlyOnce when omitted
	Stateful  bool      // keeps per-key state: inputs must be co-partitioned
	// Timeout bounds one call of the operator on a batch; a call that runs
	// past it fails the batch transiently (retried). 0 (omitted): no bound.
	Timeout time.Duration
	Config  ConfigNode
	Pos     Position
}

// Topic returns the topic named name.
func (s *Spec) Topic(name string) (*Topic, bool) {
	for i := range s.Topics {
		if s.Topics[i].Name == name {
			return &s.Topics[i], true
		}
	}
	return nil, false
}

// Operator returns the operator named name.
func (s *Spec) Operator(name string) (*Operator, bool) {
	for i := range s.Operators {
		if s.Operators[i].Name == name {
			return &s.Operators[i], true
		}
	}
	return nil, false
}

// PhysicalName is the Kafka topic name of the logical topic: "<namespace>.<topic>",
// or topic itself when the namespace is empty.
func (s *Spec) PhysicalName(topic string) string { return s.Names().Topic(topic) }

// Consumers returns the operators that read topic as an input, in spec order.
func (s *Spec) Consumers(topic string) []*Operator {
	var out []*Operator
	for i := range s.Operators {
		if slices.Contains(s.Operators[i].Inputs, topic) {
			out = append(out, &s.Operators[i])
		}
	}
	return out
}

// Producers returns the operators that declare topic as an output, in spec order.
func (s *Spec) Producers(topic string) []*Operator {
	var out []*Operator
	for i := range s.Operators {
		if slices.Contains(s.Operators[i].Outputs, topic) {
			out = append(out, &s.Operators[i])
		}
	}
	return out
}

// WithNamespace returns a copy of s with another namespace. The copy shares
// nothing mutable with s (config nodes are shared; they are read-only).
// An empty ns keeps s's namespace.
func (s *Spec) WithNamespace(ns string) *Spec {
	c := s.clone()
	if ns != "" {
		c.Namespace = ns
	}
	return c
}

func (s *Spec) clone() *Spec {
	c := *s
	c.Topics = make([]Topic, len(s.Topics))
	for i, t := range s.Topics {
		t.Configs = maps.Clone(t.Configs)
		c.Topics[i] = t
	}
	c.Operators = make([]Operator, len(s.Operators))
	for i, o := range s.Operators {
		o.Inputs = slices.Clone(o.Inputs)
		o.Outputs = slices.Clone(o.Outputs)
		o.Tables = slices.Clone(o.Tables)
		o.State = slices.Clone(o.State)
		o.Match = o.Match.clone()
		if o.Emits != nil {
			emits := make(map[string]Match, len(o.Emits))
			for t, m := range o.Emits {
				emits[t] = m.clone()
			}
			o.Emits = emits
		}
		c.Operators[i] = o
	}
	return &c
}

// position returns where path is written, falling back to its closest written parent.
func (s *Spec) position(path string) Position {
	for p := path; ; {
		if pos, ok := s.pos[p]; ok {
			return pos
		}
		i := lastSep(p)
		if i < 0 {
			return Position{File: s.File}
		}
		p = p[:i]
	}
}

// lastSep is the index of the last '.' or '[' that starts a path element
// (outside of quoted map keys), or -1.
func lastSep(p string) int {
	inQuote := false
	last := -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '"':
			inQuote = !inQuote
		case '\\':
			i++
		case '.', '[':
			if !inQuote {
				last = i
			}
		}
	}
	return last
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
