package topology

import (
	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

// ConfigNode is an operator's kind-specific config, kept as YAML so that the
// kind decodes it into its own type with positions in the errors. The zero
// ConfigNode is an absent config.
type ConfigNode struct {
	node *yaml.Node
	file string
	path string
}

// NewConfigNode wraps an already parsed YAML node (for specs built in Go);
// file and path only label error messages.
func NewConfigNode(n *yaml.Node, file, path string) ConfigNode {
	return ConfigNode{node: n, file: file, path: path}
}

// IsZero reports whether no config was given.
func (c ConfigNode) IsZero() bool { return c.node == nil }

// Pos is where the config is written.
func (c ConfigNode) Pos() Position {
	if c.node == nil {
		return Position{File: c.file}
	}
	return Position{File: c.file, Line: c.node.Line, Col: c.node.Column}
}

// Decode decodes the config into v (a pointer), strictly: a key that matches
// no field of v's type (by yaml tag, or the lower-cased field name) is an
// error, and so is a value of the wrong type. Errors are Errors with the
// position and path of each problem. An absent config leaves v untouched.
// Types that implement yaml.Unmarshaler check their own contents.
func (c ConfigNode) Decode(v any) error {
	if c.node == nil {
		return nil
	}
	w := yamlfile.Walker{File: c.file}
	w.Decode(c.node, c.path, v)
	return w.Err()
}
