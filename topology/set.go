package topology

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Setting is one change to an operator's config made outside the topology
// file, as `--set presence.vacate_after=5s` writes it: corb dev's demo
// timings, or a quick experiment without editing the file. Key may name a
// nested field with dots (detect.model.path=...); Value is YAML, so 5s, 3,
// true and [a, b] keep their types.
type Setting struct {
	Operator, Key, Value string
}

func (s Setting) String() string { return s.Operator + "." + s.Key + "=" + s.Value }

// ParseSetting parses OPERATOR.KEY=VALUE.
func ParseSetting(s string) (Setting, error) {
	path, value, ok := strings.Cut(s, "=")
	op, key, dotted := strings.Cut(path, ".")
	switch {
	case !ok || !dotted || op == "" || key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, ".."):
		return Setting{}, fmt.Errorf("setting %q: want OPERATOR.KEY=VALUE, e.g. presence.vacate_after=5s", s)
	}
	return Setting{Operator: op, Key: key, Value: value}, nil
}

// WithSettings returns a copy of the spec with each setting applied to its
// operator's config, in order (a later one wins). The copy still has to be
// validated: a key the kind does not know is found there, reported at the
// operator's config in the file with the key's path. An unknown operator, a
// value that is not YAML, or a key under a field that is not a mapping is an
// error here.
func (s *Spec) WithSettings(settings []Setting) (*Spec, error) {
	c := s.clone()
	for _, set := range settings {
		op, ok := c.Operator(set.Operator)
		if !ok {
			return nil, fmt.Errorf("setting %s: the topology %s has no operator %q", set, s.File, set.Operator)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(set.Value), &doc); err != nil {
			return nil, fmt.Errorf("setting %s: the value is not YAML: %w", set, err)
		}
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
		if len(doc.Content) == 1 {
			value = doc.Content[0]
		}
		root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		path := fmt.Sprintf("operators[%s].config", set.Operator)
		if !op.Config.IsZero() {
			root = deepCopy(op.Config.node)
			path = op.Config.path
		}
		if err := setIn(root, strings.Split(set.Key, "."), value); err != nil {
			return nil, fmt.Errorf("setting %s: %w", set, err)
		}
		op.Config = ConfigNode{node: root, file: s.File, path: path}
	}
	return c, nil
}

// setIn sets keys (a path of mapping keys) to value under n, adding what is
// missing. Positions of the new nodes are their parent's, so that an error
// about them points at the config they changed.
func setIn(n *yaml.Node, keys []string, value *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s is not a mapping", n.Tag)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != keys[0] {
			continue
		}
		if len(keys) == 1 {
			value.Line, value.Column = n.Content[i+1].Line, n.Content[i+1].Column
			n.Content[i+1] = value
			return nil
		}
		if err := setIn(n.Content[i+1], keys[1:], value); err != nil {
			return fmt.Errorf("%s: %w", keys[0], err)
		}
		return nil
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: keys[0], Line: n.Line, Column: n.Column}
	child := value
	if len(keys) > 1 {
		child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	child.Line, child.Column = n.Line, n.Column
	if len(keys) > 1 {
		if err := setIn(child, keys[1:], value); err != nil {
			return err
		}
	}
	n.Content = append(n.Content, key, child)
	return nil
}

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}
