package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
	p := &parser{file: name, pos: map[string]Position{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Position{File: name}, Kind: ErrMissing, Msg: "empty topology document"}}
		}
		return nil, Errors{p.syntaxError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{Pos: p.at(&extra), Kind: ErrSyntax, Msg: "more than one YAML document; a topology is one document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Errors{p.syntaxError(err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	s := &Spec{File: name}
	p.spec(root, s)
	s.pos = p.pos
	if len(p.errs.errs) > 0 {
		return nil, p.errs.errs
	}
	if err := s.check(nil, validateConfig{}); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) syntaxError(err error) *Error {
	msg := err.Error()
	pos := Position{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{Pos: pos, Kind: ErrSyntax, Msg: msg}
}

type parser struct {
	file string
	errs errorList
	pos  map[string]Position
}

func (p *parser) at(n *yaml.Node) Position {
	return Position{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	p.errs.addAt(p.at(n), path, kind, format, args...)
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!null":
			return "null"
		default:
			return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
		}
	}
	return "an unsupported node"
}

// fieldFunc handles the value of one known key.
type fieldFunc func(v *yaml.Node, path string)

// mapping walks a mapping node, dispatching known keys and reporting unknown,
// duplicate and missing required ones.
func (p *parser) mapping(n *yaml.Node, path string, fields map[string]fieldFunc, required ...string) bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, ErrType, "must be a mapping, got %s", describe(n))
		return false
	}
	p.pos[path] = p.at(n)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		fp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, ErrType, "keys must be strings, got %s", describe(k))
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			p.fail(k, fp, ErrUnknownField, "unknown field %q (known: %s)", k.Value, strings.Join(sortedKeys(fields), ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, fp, ErrDuplicate, "field %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		p.pos[fp] = p.at(v)
		f(v, fp)
	}
	for _, r := range required {
		if !seen[r] {
			p.fail(n, path, ErrMissing, "missing required field %q", r)
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return path + "[" + strconv.Quote(key) + "]"
		}
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *parser) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.fail(n, path, ErrType, "must be a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

// scalar accepts any non-null scalar (numbers, booleans) as its literal text.
func (p *parser) scalar(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.fail(n, path, ErrType, "must be a scalar value, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.fail(n, path, ErrType, "must be an integer, got %s", describe(n))
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		p.fail(n, path, ErrType, "must be an integer: %v", err)
		return 0, false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.fail(n, path, ErrType, "must be true or false, got %s", describe(n))
		return false
	}
	var v bool
	_ = n.Decode(&v) // tag checked above
	return v
}

func (p *parser) strList(n *yaml.Node, path string) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, ErrType, "must be a list, got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		ip := index(path, i)
		p.pos[ip] = p.at(c)
		out = append(out, p.str(c, ip))
	}
	return out
}

// keyed parses n as a mapping with unique keys — noun says what they are, in
// the duplicate message; shape describes the mapping, in the type error —
// recording where each value is written. value parses one value; ok false
// leaves the key out (value has reported why).
func keyed[V any](p *parser, n *yaml.Node, path, shape, noun string, value func(v *yaml.Node, path string) (V, bool)) map[string]V {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, ErrType, "must be %s, got %s", shape, describe(n))
		return nil
	}
	out := make(map[string]V, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		key := p.str(k, path)
		kp := join(path, key)
		if _, dup := out[key]; dup {
			p.fail(k, kp, ErrDuplicate, "%s %q given twice", noun, key)
			continue
		}
		p.pos[kp] = p.at(v)
		if x, ok := value(v, kp); ok {
			out[key] = x
		}
	}
	return out
}

func (p *parser) strMap(n *yaml.Node, path string) map[string]string {
	return keyed(p, n, path, "a mapping", "key", func(v *yaml.Node, vp string) (string, bool) {
		return p.scalar(v, vp), true
	})
}

func (p *parser) match(n *yaml.Node, path string) Match {
	return keyed(p, n, path, "a mapping of field: [patterns]", "field", func(v *yaml.Node, fp string) ([]string, bool) {
		if v.Kind != yaml.SequenceNode {
			p.fail(v, fp, ErrType, "must be a list of patterns, got %s", describe(v))
			return nil, false
		}
		pats := make([]string, 0, len(v.Content))
		for j, c := range v.Content {
			c = resolve(c)
			ip := index(fp, j)
			p.pos[ip] = p.at(c)
			pats = append(pats, p.scalar(c, ip))
		}
		return pats, true
	})
}

func (p *parser) spec(n *yaml.Node, s *Spec) {
	p.mapping(n, "", map[string]fieldFunc{
		"namespace": func(v *yaml.Node, path string) { s.Namespace = p.str(v, path) },
		"topics": func(v *yaml.Node, path string) {
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, ErrType, "must be a list, got %s", describe(v))
				return
			}
			for i, c := range v.Content {
				s.Topics = append(s.Topics, p.topic(resolve(c), index(path, i)))
			}
		},
		"operators": func(v *yaml.Node, path string) {
			if v.Kind != yaml.SequenceNode {
				p.fail(v, path, ErrType, "must be a list, got %s", describe(v))
				return
			}
			for i, c := range v.Content {
				s.Operators = append(s.Operators, p.operator(resolve(c), index(path, i)))
			}
		},
	}, "topics")
}

func (p *parser) topic(n *yaml.Node, path string) Topic {
	t := Topic{Partitions: 1, Schema: SchemaBytes, Pos: p.at(n)}
	p.mapping(n, path, map[string]fieldFunc{
		"name": func(v *yaml.Node, path string) { t.Name = p.str(v, path) },
		"partitions": func(v *yaml.Node, path string) {
			if x, ok := p.integer(v, path); ok {
				t.Partitions = x
			}
		},
		"replication": func(v *yaml.Node, path string) {
			if x, ok := p.integer(v, path); ok {
				if x < 1 {
					p.fail(v, path, ErrInvalid, "replication must be at least 1 (omit it for the broker's default), got %d", x)
				}
				t.Replication = x
			}
		},
		"schema":  func(v *yaml.Node, path string) { t.Schema = p.str(v, path) },
		"configs": func(v *yaml.Node, path string) { t.Configs = p.strMap(v, path) },
	}, "name")
	return t
}

func (p *parser) operator(n *yaml.Node, path string) Operator {
	o := Operator{Replicas: 1, Guarantee: ExactlyOnce, Pos: p.at(n)}
	p.mapping(n, path, map[string]fieldFunc{
		"name":       func(v *yaml.Node, path string) { o.Name = p.str(v, path) },
		"kind":       func(v *yaml.Node, path string) { o.Kind = p.str(v, path) },
		"inputs":     func(v *yaml.Node, path string) { o.Inputs = p.strList(v, path) },
		"outputs":    func(v *yaml.Node, path string) { o.Outputs = p.strList(v, path) },
		"tables":     func(v *yaml.Node, path string) { o.Tables = p.strList(v, path) },
		"state":      func(v *yaml.Node, path string) { o.State = p.strList(v, path) },
		"match":      func(v *yaml.Node, path string) { o.Match = p.match(v, path) },
		"emits":      func(v *yaml.Node, path string) { o.Emits = p.emits(v, path) },
		"on_failure": func(v *yaml.Node, path string) { o.OnFailure = p.str(v, path) },
		"replicas": func(v *yaml.Node, path string) {
			if x, ok := p.integer(v, path); ok {
				o.Replicas = x
			}
		},
		"guarantee": func(v *yaml.Node, path string) { o.Guarantee = Guarantee(p.str(v, path)) },
		"stateful":  func(v *yaml.Node, path string) { o.Stateful = p.boolean(v, path) },
		"config": func(v *yaml.Node, path string) {
			if !isNull(v) {
				o.Config = ConfigNode{node: v, file: p.file, path: path}
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
