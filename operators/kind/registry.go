package kind

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/topology"
)

// Registry is the set of kinds a binary knows, by name.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry registers kinds; two kinds with one name are an error.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		if k.Name == "" {
			return nil, fmt.Errorf("kind registry: a kind without a name")
		}
		if _, dup := r.kinds[k.Name]; dup {
			return nil, fmt.Errorf("kind registry: kind %q registered twice", k.Name)
		}
		r.kinds[k.Name] = k
	}
	return r, nil
}

// Lookup returns the kind called name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Kinds are the registered kinds, by name.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.kinds))
	for _, k := range r.kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kind) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Topology is what topology.Spec.Validate needs to know of every kind; its
// config checks run in env.
func (r *Registry) Topology(env Env) topology.Kinds {
	ks := make(topology.Kinds, len(r.kinds))
	for name, k := range r.kinds {
		ks[name] = k.Topology(env)
	}
	return ks
}

// Build builds the operator op of its kind.
func (r *Registry) Build(ctx context.Context, env Env, op *topology.Operator) (operators.Operator, error) {
	k, ok := r.kinds[op.Kind]
	if !ok {
		names := make([]string, 0, len(r.kinds))
		for _, k := range r.Kinds() {
			names = append(names, k.Name)
		}
		return nil, fmt.Errorf("%soperator %q: unknown kind %q (known: %s)", where(op), op.Name, op.Kind, strings.Join(names, ", "))
	}
	return k.Build(ctx, env, op)
}

// WriteText writes every kind for a terminal: what it does, the topics it
// takes and its config keys with types, defaults and meaning.
func (r *Registry) WriteText(w io.Writer) error {
	var b strings.Builder
	for i, k := range r.Kinds() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s — %s", k.Name, k.Summary)
		if !k.Buildable() {
			b.WriteString(" (not part of this build yet)")
		}
		b.WriteString("\n")
		for _, f := range []struct {
			name  string
			ports []Port
		}{{"inputs", k.Inputs}, {"outputs", k.Outputs}, {"tables", k.Tables}, {"state", k.State}} {
			if len(f.ports) > 0 {
				fmt.Fprintf(&b, "  %-8s %s\n", f.name+":", portsText(f.ports))
			}
		}
		if k.Stateful {
			b.WriteString("  stateful: true\n")
		}
		keys := withDefaults(k.Keys, k.Config())
		if len(keys) == 0 {
			b.WriteString("  config:  none\n")
			continue
		}
		b.WriteString("  config:\n")
		for _, key := range keys {
			def := key.Default
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(&b, "    %-14s %s, default %s\n", key.Name, key.Type, def)
			if key.Doc != "" {
				fmt.Fprintf(&b, "    %-14s %s\n", "", key.Doc)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the kinds as the README's table: kind, topics, config
// keys with their defaults.
func (r *Registry) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| kind | does | topics | `config:` keys (defaults) |\n|---|---|---|---|\n")
	for _, k := range r.Kinds() {
		var topics []string
		for _, f := range []struct {
			name  string
			ports []Port
		}{{"in", k.Inputs}, {"out", k.Outputs}, {"tables", k.Tables}, {"state", k.State}} {
			if len(f.ports) > 0 {
				topics = append(topics, f.name+": "+portsText(f.ports))
			}
		}
		var keys []string
		for _, key := range withDefaults(k.Keys, k.Config()) {
			s := "`" + key.Name + "`"
			if key.Default != "" {
				s += " (" + key.Default + ")"
			}
			if key.Doc != "" {
				s += ": " + key.Doc
			}
			keys = append(keys, s)
		}
		summary := k.Summary
		if !k.Buildable() {
			summary += " *(not built yet)*"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, cell(summary), cell(strings.Join(topics, "; ")), cell(strings.Join(keys, "; ")))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell escapes what would break a Markdown table cell.
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func portsText(ports []Port) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		s := p.Role + " (" + strings.Join(p.Schemas, " or ") + ")"
		if p.Repeated {
			s += "…"
		}
		if p.Optional {
			s = "[" + s + "]"
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}
