package topology

import (
	"fmt"
	"strings"
)

// Mermaid renders the graph as a Mermaid flowchart: topics are cylinders,
// operators rounded boxes; dead-letter edges are dashed and lookup-table and
// state edges dotted. Match patterns label the input edges.
func (s *Spec) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	if s.Namespace != "" {
		fmt.Fprintf(&b, "  %%%% namespace: %s\n", s.Namespace)
	}
	tid := s.topicIDs()
	for i, t := range s.Topics {
		fmt.Fprintf(&b, "  %s[(\"%s<br/>%s\")]\n", tid[t.Name], mermaidText(t.Name), mermaidText(topicSummary(&s.Topics[i])))
	}
	for j, o := range s.Operators {
		fmt.Fprintf(&b, "  o%d(\"%s<br/>%s\")\n", j, mermaidText(o.Name), mermaidText(operatorSummary(&s.Operators[j])))
	}
	s.edges(func(from, to, style, label string) {
		arrow := map[string]string{"": "-->", "dashed": "-.->", "dotted": "-.-"}[style]
		if label != "" {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", from, arrow, mermaidText(label), to)
		} else {
			fmt.Fprintf(&b, "  %s %s %s\n", from, arrow, to)
		}
	}, tid)
	return b.String()
}

// DOT renders the graph in Graphviz DOT: topics as cylinders, operators as
// rounded boxes, dead-letter edges dashed, table and state edges dotted.
func (s *Spec) DOT() string {
	var b strings.Builder
	b.WriteString("digraph topology {\n  rankdir=LR;\n")
	if s.Namespace != "" {
		fmt.Fprintf(&b, "  label=%s;\n", dotQuote("namespace "+s.Namespace))
	}
	b.WriteString("  node [fontname=\"Helvetica\"];\n")
	tid := s.topicIDs()
	for i, t := range s.Topics {
		fmt.Fprintf(&b, "  %s [shape=cylinder, label=%s];\n", tid[t.Name], dotQuote(t.Name+"\n"+topicSummary(&s.Topics[i])))
	}
	for j, o := range s.Operators {
		fmt.Fprintf(&b, "  o%d [shape=box, style=rounded, label=%s];\n", j, dotQuote(o.Name+"\n"+operatorSummary(&s.Operators[j])))
	}
	s.edges(func(from, to, style, label string) {
		var attrs []string
		if style != "" {
			attrs = append(attrs, "style="+style)
		}
		if label != "" {
			attrs = append(attrs, "label="+dotQuote(label))
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "  %s -> %s [%s];\n", from, to, strings.Join(attrs, ", "))
		} else {
			fmt.Fprintf(&b, "  %s -> %s;\n", from, to)
		}
	}, tid)
	b.WriteString("}\n")
	return b.String()
}

// topicIDs gives each topic a node id that cannot clash with operator ids.
func (s *Spec) topicIDs() map[string]string {
	ids := make(map[string]string, len(s.Topics))
	for i, t := range s.Topics {
		if _, dup := ids[t.Name]; !dup {
			ids[t.Name] = fmt.Sprintf("t%d", i)
		}
	}
	return ids
}

// edges calls emit for every edge in spec order; style is "", "dashed" or "dotted".
func (s *Spec) edges(emit func(from, to, style, label string), tid map[string]string) {
	for j, o := range s.Operators {
		op := fmt.Sprintf("o%d", j)
		label := o.Match.String()
		for _, in := range o.Inputs {
			if id, ok := tid[in]; ok {
				emit(id, op, "", label)
			}
		}
		for _, tb := range o.Tables {
			if id, ok := tid[tb]; ok {
				emit(id, op, "dotted", "table")
			}
		}
		for _, out := range o.Outputs {
			if id, ok := tid[out]; ok {
				emit(op, id, "", o.Emits[out].String())
			}
		}
		for _, st := range o.State {
			if id, ok := tid[st]; ok {
				emit(op, id, "dotted", "state")
			}
		}
		if id, ok := tid[o.OnFailure]; ok && o.OnFailure != "" {
			emit(op, id, "dashed", "on failure")
		}
	}
}

func topicSummary(t *Topic) string {
	s := fmt.Sprintf("%d×, %s", t.Partitions, t.Schema)
	if t.Compacted() {
		s += ", compacted"
	}
	return s
}

func operatorSummary(o *Operator) string {
	s := o.Kind
	if o.Replicas > 1 {
		s += fmt.Sprintf(" ×%d", o.Replicas)
	}
	if o.Stateful {
		s += ", stateful"
	}
	if o.Guarantee == AtLeastOnce {
		s += ", at least once"
	}
	return s
}

// mermaidText escapes text for a quoted Mermaid label.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "\n", " ")
	return r.Replace(s)
}

// dotQuote quotes s as a DOT string; newlines become centred line breaks.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
