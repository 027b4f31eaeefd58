package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SchemaAny in a KindSpec list accepts topics of every schema.
const SchemaAny = "any"

// KindSpec describes an operator kind as the topology sees it: which schemas
// it reads and writes. The operator registry provides one per built-in kind,
// so that this package stays free of operator imports.
type KindSpec struct {
	// Inputs are the schemas the kind reads from its input topics (SchemaAny: all).
	// Empty means the kind is a source: its operators take no inputs.
	Inputs []string
	// Outputs are the schemas the kind writes (SchemaAny: all).
	// Empty means the kind is a sink: its operators take no outputs.
	Outputs []string
	// Tables are the schemas the kind reads as lookup tables. Empty: none.
	Tables []string
	// State are the schemas of the kind's changelog topics. Empty: none.
	State []string
	// Stateful kinds keep per-key state; their operators must say stateful: true.
	Stateful bool
	// InputCount, OutputCount, TableCount and StateCount bound how many topics an
	// operator of the kind lists in each field; the zero Count adds no bound.
	InputCount, OutputCount, TableCount, StateCount Count
	// CheckConfig decodes and checks an operator's config block, and what it
	// names (files), without building anything. It returns nil, an *Error or
	// Errors (kept as they are: their positions may point into other files),
	// or any other error (reported at the config). Nil: no check.
	CheckConfig func(op *Operator) error
}

// Count bounds the number of topics in one list of an operator: at least Min,
// and at most Max when Max > 0.
type Count struct{ Min, Max int }

// String is "1", "1 to 2" or "at least 1".
func (c Count) String() string {
	switch {
	case c.Max <= 0:
		return fmt.Sprintf("at least %d", c.Min)
	case c.Min == c.Max:
		return fmt.Sprint(c.Min)
	default:
		return fmt.Sprintf("%d to %d", c.Min, c.Max)
	}
}

// Kinds maps a kind name (an operator's kind field) to its description.
type Kinds map[string]KindSpec

// ValidateOption adds optional knowledge to Validate.
type ValidateOption func(*validateConfig)

type validateConfig struct {
	fields map[string][]string // schema full name → field names; nil: unknown
}

// WithSchemaFields tells Validate the field names of every known schema
// (Avro full name → top-level field names). With it, a topic's schema must be
// one of them (or SchemaBytes), and match / emits fields must exist in the
// schemas of the topics they apply to.
func WithSchemaFields(fields map[string][]string) ValidateOption {
	return func(c *validateConfig) { c.fields = fields }
}

// Validate checks s against the operator kinds and reports every problem at
// once as Errors (nil when s is valid). Besides Parse's checks (references,
// duplicates, values, cycles, replicas ≤ partitions, co-partitioning) it
// checks that every kind exists, that each operator's topics carry schemas its
// kind reads or writes, and source/sink arity. A nil kinds skips kind checks.
func (s *Spec) Validate(kinds Kinds, opts ...ValidateOption) error {
	var cfg validateConfig
	for _, o := range opts {
		o(&cfg)
	}
	return s.check(kinds, cfg)
}

const maxTopicName = 249

func legalName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// check runs every validation; kinds == nil skips the kind checks.
func (s *Spec) check(kinds Kinds, cfg validateConfig) error {
	l := &errorList{pos: s.position}
	if s.Namespace != "" && !legalName(s.Namespace) {
		l.add("namespace", ErrInvalid, "namespace %q may only hold letters, digits, '.', '_' and '-'", s.Namespace)
	}
	topics := map[string]*Topic{}
	for i := range s.Topics {
		s.checkTopic(l, i, topics, cfg)
	}
	ops := map[string]int{}
	for j := range s.Operators {
		s.checkOperator(l, j, ops, topics, kinds, cfg)
	}
	s.checkStateOwnership(l)
	s.checkCycles(l)
	return l.errs.err()
}

func (s *Spec) checkTopic(l *errorList, i int, topics map[string]*Topic, cfg validateConfig) {
	t := &s.Topics[i]
	path := index("topics", i)
	switch {
	case t.Name == "":
		l.add(path+".name", ErrMissing, "topic name is empty")
	case !legalName(t.Name):
		l.add(path+".name", ErrInvalid, "topic name %q may only hold letters, digits, '.', '_' and '-'", t.Name)
	case topics[t.Name] != nil:
		l.add(path+".name", ErrDuplicate, "topic %q declared twice (first at %s)", t.Name, topics[t.Name].Pos)
	default:
		topics[t.Name] = t
		if n := len(s.PhysicalName(t.Name)); n > maxTopicName {
			l.add(path+".name", ErrInvalid, "physical topic name %q is %d characters; Kafka allows %d", s.PhysicalName(t.Name), n, maxTopicName)
		}
	}
	if t.Partitions < 1 {
		l.add(path+".partitions", ErrInvalid, "partitions must be at least 1, got %d", t.Partitions)
	}
	if t.Replication < 0 {
		l.add(path+".replication", ErrInvalid, "replication must be at least 1 (or 0 for the broker's default), got %d", t.Replication)
	}
	switch {
	case t.Schema == "":
		l.add(path+".schema", ErrMissing, "schema is empty (use %q for opaque records)", SchemaBytes)
	case cfg.fields != nil && t.Schema != SchemaBytes:
		if _, ok := cfg.fields[t.Schema]; !ok {
			l.add(path+".schema", ErrSchema, "unknown schema %q (known: %s)", t.Schema, strings.Join(append(sortedKeys(cfg.fields), SchemaBytes), ", "))
		}
	}
	for _, k := range sortedKeys(t.Configs) {
		if k == "" {
			l.add(path+".configs", ErrInvalid, "empty config name")
		}
	}
}

func (s *Spec) checkOperator(l *errorList, j int, ops map[string]int, topics map[string]*Topic, kinds Kinds, cfg validateConfig) {
	o := &s.Operators[j]
	path := index("operators", j)
	switch {
	case o.Name == "":
		l.add(path+".name", ErrMissing, "operator name is empty")
	case !legalName(o.Name):
		l.add(path+".name", ErrInvalid, "operator name %q may only hold letters, digits, '.', '_' and '-'", o.Name)
	default:
		if first, dup := ops[o.Name]; dup {
			l.add(path+".name", ErrDuplicate, "operator %q declared twice (first at %s)", o.Name, s.Operators[first].Pos)
		} else {
			ops[o.Name] = j
		}
	}
	if o.Kind == "" {
		l.add(path+".kind", ErrMissing, "operator kind is empty")
	}
	if !o.Guarantee.Valid() {
		l.add(path+".guarantee", ErrInvalid, "guarantee must be %q or %q, got %q", ExactlyOnce, AtLeastOnce, o.Guarantee)
	}
	if o.Replicas < 1 {
		l.add(path+".replicas", ErrInvalid, "replicas must be at least 1, got %d", o.Replicas)
	}

	// References.
	refs := func(field string, names []string) []*Topic {
		out := make([]*Topic, 0, len(names))
		seen := map[string]bool{}
		for k, name := range names {
			p := index(path+"."+field, k)
			if seen[name] {
				l.add(p, ErrDuplicate, "topic %q listed twice", name)
				continue
			}
			seen[name] = true
			t, ok := topics[name]
			if !ok {
				if name != "" {
					l.add(p, ErrUnknownTopic, "unknown topic %q", name)
				} else {
					l.add(p, ErrMissing, "empty topic name")
				}
				continue
			}
			out = append(out, t)
		}
		return out
	}
	inputs := refs("inputs", o.Inputs)
	outputs := refs("outputs", o.Outputs)
	tables := refs("tables", o.Tables)
	state := refs("state", o.State)
	var dlq *Topic
	if o.OnFailure != "" {
		if t, ok := topics[o.OnFailure]; !ok {
			l.add(path+".on_failure", ErrUnknownTopic, "unknown topic %q", o.OnFailure)
		} else {
			dlq = t
			if slices.Contains(o.Inputs, o.OnFailure) {
				l.add(path+".on_failure", ErrInvalid, "dead-letter topic %q is also an input: failures would come back forever", o.OnFailure)
			}
		}
	}
	for k, name := range o.Tables {
		if slices.Contains(o.Inputs, name) {
			l.add(index(path+".tables", k), ErrInvalid, "topic %q is both an input and a table", name)
		}
	}

	// Partitions.
	if o.Replicas >= 1 {
		for _, t := range inputs {
			if o.Replicas > t.Partitions {
				l.add(path+".replicas", ErrPartitions, "%d replicas but input %q has %d partitions: %d replicas would idle", o.Replicas, t.Name, t.Partitions, o.Replicas-t.Partitions)
				break
			}
		}
	}
	if o.Stateful && len(inputs) > 0 {
		want := inputs[0]
		for _, t := range inputs[1:] {
			if t.Partitions != want.Partitions {
				l.add(index(path+".inputs", slices.Index(o.Inputs, t.Name)), ErrPartitions,
					"stateful operator's inputs must be co-partitioned: %q has %d partitions, %q has %d", want.Name, want.Partitions, t.Name, t.Partitions)
			}
		}
	}
	if len(state) > 0 && !o.Stateful {
		l.add(path+".state", ErrInvalid, "state topics need stateful: true")
	}
	for _, t := range state {
		p := index(path+".state", slices.Index(o.State, t.Name))
		if len(inputs) > 0 && t.Partitions != inputs[0].Partitions {
			l.add(p, ErrPartitions, "state topic %q has %d partitions; it must be co-partitioned with input %q (%d)", t.Name, t.Partitions, inputs[0].Name, inputs[0].Partitions)
		}
		if !t.Compacted() {
			l.add(p, ErrInvalid, "state topic %q must be compacted (configs: {cleanup.policy: compact})", t.Name)
		}
	}
	for _, t := range tables {
		if !t.Compacted() {
			l.add(index(path+".tables", slices.Index(o.Tables, t.Name)), ErrInvalid, "table topic %q must be compacted (configs: {cleanup.policy: compact})", t.Name)
		}
	}

	// Match and emits.
	s.checkMatch(l, path+".match", o.Match, inputs, "input", cfg)
	for _, name := range sortedKeys(o.Emits) {
		ep := join(path+".emits", name)
		t, ok := topics[name]
		switch {
		case !slices.Contains(o.Outputs, name):
			l.add(ep, ErrInvalid, "emits for %q, which is not one of the outputs", name)
		case ok:
			s.checkMatch(l, ep, o.Emits[name], []*Topic{t}, "output", cfg)
		}
	}

	// Dead letters keep the failed record's bytes.
	if dlq != nil && dlq.Schema != SchemaBytes {
		for _, t := range inputs {
			if t.Schema != dlq.Schema {
				l.add(path+".on_failure", ErrSchema, "dead-letter topic %q carries %s but input %q carries %s (use schema %q)", dlq.Name, dlq.Schema, t.Name, t.Schema, SchemaBytes)
				break
			}
		}
	}

	if kinds == nil || o.Kind == "" {
		return
	}
	spec, ok := kinds[o.Kind]
	if !ok {
		l.add(path+".kind", ErrUnknownKind, "unknown kind %q (known: %s)", o.Kind, strings.Join(sortedKeys(kinds), ", "))
		return
	}
	arity := func(field string, declared int, accepts []string, noun string) {
		switch {
		case len(accepts) == 0 && declared > 0:
			l.add(path+"."+field, ErrInvalid, "kind %q takes no %s", o.Kind, noun)
		case len(accepts) > 0 && declared == 0 && field != "tables":
			l.add(path, ErrMissing, "kind %q needs at least one %s", o.Kind, strings.TrimSuffix(noun, "s"))
		}
	}
	arity("inputs", len(o.Inputs), spec.Inputs, "inputs")
	arity("outputs", len(o.Outputs), spec.Outputs, "outputs")
	arity("tables", len(o.Tables), spec.Tables, "tables")
	arity("state", len(o.State), spec.State, "state topics")
	count := func(field string, declared int, c Count, noun string) {
		if declared < c.Min || (c.Max > 0 && declared > c.Max) {
			l.add(path+"."+field, ErrInvalid, "kind %q takes %s %s, got %d", o.Kind, c, noun, declared)
		}
	}
	count("inputs", len(o.Inputs), spec.InputCount, "inputs")
	count("outputs", len(o.Outputs), spec.OutputCount, "outputs")
	count("tables", len(o.Tables), spec.TableCount, "tables")
	count("state", len(o.State), spec.StateCount, "state topics")
	schemas := func(field string, list []string, ts []*Topic, accepts []string, verb string) {
		if len(accepts) == 0 || slices.Contains(accepts, SchemaAny) {
			return
		}
		for _, t := range ts {
			if !slices.Contains(accepts, t.Schema) {
				l.add(index(path+"."+field, slices.Index(list, t.Name)), ErrSchema, "topic %q carries %s but kind %q %s %s", t.Name, t.Schema, o.Kind, verb, strings.Join(accepts, " or "))
			}
		}
	}
	schemas("inputs", o.Inputs, inputs, spec.Inputs, "reads")
	schemas("outputs", o.Outputs, outputs, spec.Outputs, "writes")
	schemas("tables", o.Tables, tables, spec.Tables, "reads tables of")
	schemas("state", o.State, state, spec.State, "keeps state in")
	if spec.Stateful && !o.Stateful {
		l.add(path, ErrInvalid, "kind %q keeps per-key state: set stateful: true", o.Kind)
	}
	if spec.CheckConfig != nil {
		s.checkConfig(l, path+".config", o, spec.CheckConfig)
	}
}

// checkConfig runs a kind's config check on o and adds what it finds.
func (s *Spec) checkConfig(l *errorList, path string, o *Operator, check func(*Operator) error) {
	err := check(o)
	var es Errors
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &es):
		l.errs = append(l.errs, es...)
	case errors.As(err, &e):
		l.errs = append(l.errs, e)
	default:
		at := o.Config.Pos()
		if !at.IsValid() {
			at = o.Pos
		}
		l.addAt(at, path, ErrInvalid, "%v", err)
	}
}

// checkMatch checks patterns, and that each field exists in every topic's schema.
func (s *Spec) checkMatch(l *errorList, path string, m Match, ts []*Topic, noun string, cfg validateConfig) {
	m.check(l, path, noun == "output", func(field, fp string) {
		for _, t := range ts {
			has, known := cfg.hasField(t.Schema, field)
			switch {
			case t.Schema == SchemaBytes:
				l.add(fp, ErrSchema, "field %q: %s %q carries opaque bytes", field, noun, t.Name)
			case known && !has:
				l.add(fp, ErrSchema, "%s %q (schema %s) has no field %q", noun, t.Name, t.Schema, field)
			}
		}
	})
}

// hasField reports whether schema has field; known is false when that cannot be told.
func (c validateConfig) hasField(schema, field string) (has, known bool) {
	if c.fields == nil {
		return false, false
	}
	fs, ok := c.fields[schema]
	if !ok {
		return false, false
	}
	return slices.Contains(fs, field), true
}

// checkStateOwnership: a state topic belongs to exactly one operator and is
// nobody's input, output or table.
func (s *Spec) checkStateOwnership(l *errorList) {
	owner := map[string]int{}
	for j, o := range s.Operators {
		for k, name := range o.State {
			p := index(index("operators", j)+".state", k)
			if first, ok := owner[name]; ok && first != j {
				l.add(p, ErrInvalid, "state topic %q is already owned by operator %q", name, s.Operators[first].Name)
				continue
			}
			owner[name] = j
		}
	}
	for j, o := range s.Operators {
		for _, field := range []struct {
			name  string
			names []string
		}{{"inputs", o.Inputs}, {"outputs", o.Outputs}} { // reading another's state as a table is fine: it is a view
			for k, name := range field.names {
				if own, ok := owner[name]; ok {
					l.add(index(index("operators", j)+"."+field.name, k), ErrInvalid, "topic %q is operator %q's private state", name, s.Operators[own].Name)
				}
			}
		}
		if own, ok := owner[o.OnFailure]; ok && o.OnFailure != "" {
			l.add(index("operators", j)+".on_failure", ErrInvalid, "topic %q is operator %q's private state", o.OnFailure, s.Operators[own].Name)
		}
	}
}

// edge is a route from one operator to another through a topic.
type edge struct {
	to    int
	topic string
}

// routes returns, for each operator, the operators its records can reach.
// An output reaches a consumer unless the producer's emits and the consumer's
// match are disjoint; a dead letter carries the failed input, bounded by the
// producer's match.
func (s *Spec) routes() [][]edge {
	adj := make([][]edge, len(s.Operators))
	for a, from := range s.Operators {
		for b, to := range s.Operators {
			for _, t := range to.Inputs {
				switch {
				case slices.Contains(from.Outputs, t) && mayReach(from.Emits[t], to.Match):
				case t == from.OnFailure && mayBoth(from.Match, to.Match):
				default:
					continue
				}
				adj[a] = append(adj[a], edge{to: b, topic: t})
			}
		}
	}
	return adj
}

// checkCycles reports each strongly connected group of operators once, with
// one concrete loop through it.
func (s *Spec) checkCycles(l *errorList) {
	adj := s.routes()
	for _, scc := range stronglyConnected(adj) {
		start := scc[0]
		in := map[int]bool{}
		for _, v := range scc {
			in[v] = true
		}
		loop := shortestLoop(adj, start, in)
		if loop == nil {
			continue // a single operator that does not feed itself
		}
		var b strings.Builder
		b.WriteString(s.Operators[start].Name)
		for _, e := range loop {
			fmt.Fprintf(&b, " → %s → %s", e.topic, s.Operators[e.to].Name)
		}
		l.add(index("operators", start), ErrCycle, "operators form a cycle: %s (declare disjoint match/emits to route a shared topic)", b.String())
	}
}

// stronglyConnected returns Tarjan's components, each sorted, ordered by their first member.
func stronglyConnected(adj [][]edge) [][]int {
	n := len(adj)
	idx := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range idx {
		idx[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		idx[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range adj[v] {
			if idx[e.to] < 0 {
				visit(e.to)
				low[v] = min(low[v], low[e.to])
			} else if onStack[e.to] {
				low[v] = min(low[v], idx[e.to])
			}
		}
		if low[v] == idx[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			slices.Sort(comp)
			out = append(out, comp)
		}
	}
	for v := 0; v < n; v++ {
		if idx[v] < 0 {
			visit(v)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// shortestLoop finds the shortest path of edges from start back to start inside in.
func shortestLoop(adj [][]edge, start int, in map[int]bool) []edge {
	type step struct {
		prev int
		e    edge
	}
	seen := map[int]step{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range adj[v] {
			if !in[e.to] {
				continue
			}
			if e.to == start {
				path := []edge{e}
				for u := v; u != start; u = seen[u].prev {
					path = append(path, seen[u].e)
				}
				slices.Reverse(path)
				return path
			}
			if _, ok := seen[e.to]; !ok {
				seen[e.to] = step{prev: v, e: e}
				queue = append(queue, e.to)
			}
		}
	}
	return nil
}
