package topology

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

// Load reads and parses the topology file at path (see Parse).
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a topology document; name is the file name used in error
// positions. Loading is strict: unknown fields, wrong types, missing required
// fields, dangling topic references, duplicate names, bad values and the
// graph's own inconsistencies (cycles, replicas > partitions, co-partitioning
// of stateful operators) are all reported at once as Errors. Checks that need
// the operator kinds are Validate's.
func Parse(name string, data []byte) (*Spec, error) {
	root, err := yamlfile.Load(name, data, "topology", MaxFileSize)
	if err != nil {
		return nil, err
	}
	p := newParser(name)
	s := &Spec{File: name}
	p.spec(root, s)
	s.pos = p.pos
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := s.check(nil, validateConfig{}); err != nil {
		return nil, err
	}
	return s, nil
}

// parser reads a topology document into a Spec, recording where each path is
// written for Validate's messages.
type parser struct {
	*yamlfile.Walker
	pos map[string]Position // the Walker's Pos, which match.go also writes
}

func newParser(file string) *parser {
	pos := map[string]Position{}
	return &parser{Walker: &yamlfile.Walker{File: file, Pos: pos}, pos: pos}
}

// The parser's helpers as match.go and validate.go know them.

func (p *parser) at(n *yaml.Node) Position { return p.At(n) }

func (p *parser) fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	p.Fail(n, path, kind, format, args...)
}

func (p *parser) scalar(n *yaml.Node, path string) string {
	s, _ := p.Scalar(n, path)
	return s
}

func keyed[V any](p *parser, n *yaml.Node, path, shape, noun string, value func(v *yaml.Node, path string) (V, bool)) map[string]V {
	return yamlfile.Keyed(p.Walker, n, path, shape, noun, value)
}

func resolve(n *yaml.Node) *yaml.Node           { return yamlfile.Resolve(n) }
func describe(n *yaml.Node) string              { return yamlfile.Describe(n) }
func join(path, key string) string              { return yamlfile.Key(path, key) }
func index(path string, i int) string           { return yamlfile.Index(path, i) }
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (p *parser) match(n *yaml.Node, path string) Match { return p.parseMatch(n, path) }

func (p *parser) spec(n *yaml.Node, s *Spec) {
	p.Mapping(n, "", yamlfile.Fields{
		"namespace": func(v *yaml.Node, path string) { s.Namespace, _ = p.String(v, path) },
		"topics": func(v *yaml.Node, path string) {
			p.List(v, path, func(c *yaml.Node, path string) { s.Topics = append(s.Topics, p.topic(c, path)) })
		},
		"operators": func(v *yaml.Node, path string) {
			p.List(v, path, func(c *yaml.Node, path string) { s.Operators = append(s.Operators, p.operator(c, path)) })
		},
	}, "topics")
}

func (p *parser) topic(n *yaml.Node, path string) Topic {
	t := Topic{Partitions: 1, Schema: SchemaBytes, Pos: p.At(n)}
	p.Mapping(n, path, yamlfile.Fields{
		"name": func(v *yaml.Node, path string) { t.Name, _ = p.String(v, path) },
		"partitions": func(v *yaml.Node, path string) {
			if x, ok := p.Int(v, path); ok {
				t.Partitions = x
			}
		},
		"replication": func(v *yaml.Node, path string) {
			if x, ok := p.Int(v, path); ok {
				if x < 1 {
					p.Fail(v, path, ErrInvalid, "replication must be at least 1 (omit it for the broker's default), got %d", x)
				}
				t.Replication = x
			}
		},
		"schema":  func(v *yaml.Node, path string) { t.Schema, _ = p.String(v, path) },
		"configs": func(v *yaml.Node, path string) { t.Configs = p.StringMap(v, path) },
	}, "name")
	return t
}

func (p *parser) operator(n *yaml.Node, path string) Operator {
	o := Operator{Replicas: 1, Guarantee: ExactlyOnce, Pos: p.At(n)}
	p.Mapping(n, path, yamlfile.Fields{
		"name":       func(v *yaml.Node, path string) { o.Name, _ = p.String(v, path) },
		"kind":       func(v *yaml.Node, path string) { o.Kind, _ = p.String(v, path) },
		"inputs":     func(v *yaml.Node, path string) { o.Inputs = p.Strings(v, path) },
		"outputs":    func(v *yaml.Node, path string) { o.Outputs = p.Strings(v, path) },
		"tables":     func(v *yaml.Node, path string) { o.Tables = p.Strings(v, path) },
		"state":      func(v *yaml.Node, path string) { o.State = p.Strings(v, path) },
		"match":      func(v *yaml.Node, path string) { o.Match = p.match(v, path) },
		"emits":      func(v *yaml.Node, path string) { o.Emits = p.emits(v, path) },
		"on_failure": func(v *yaml.Node, path string) { o.OnFailure, _ = p.String(v, path) },
		"replicas": func(v *yaml.Node, path string) {
			if x, ok := p.Int(v, path); ok {
				o.Replicas = x
			}
		},
		"guarantee": func(v *yaml.Node, path string) {
			g, _ := p.String(v, path)
			o.Guarantee = Guarantee(g)
		},
		"stateful": func(v *yaml.Node, path string) { o.Stateful, _ = p.Bool(v, path) },
		"timeout": func(v *yaml.Node, path string) {
			s, ok := p.String(v, path)
			if !ok {
				return
			}
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.Fail(v, path, ErrInvalid, "timeout %q is not a duration like 30s or 2m", s)
			case d <= 0:
				p.Fail(v, path, ErrInvalid, "timeout must be positive, got %s", s)
			default:
				o.Timeout = d
			}
		},
		"config": func(v *yaml.Node, path string) {
			if !yamlfile.IsNull(v) {
				o.Config = ConfigNode{node: v, file: p.File, path: path}
			}
		},
	}, "name", "kind")
	return o
}

func (p *parser) emits(n *yaml.Node, path string) map[string]Match {
	return keyed(p, n, path, "a mapping of output topic: {field: [patterns]}", "topic", func(v *yaml.Node, tp string) (Match, bool) {
		return p.match(v, tp), true
	})
}
