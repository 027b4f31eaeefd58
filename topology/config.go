package topology

import (
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"

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
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &Error{Pos: c.Pos(), Path: c.path, Kind: ErrType, Msg: "Decode needs a non-nil pointer"}
	}
	var errs errorList
	checkKnown(c, c.node, rv.Type().Elem(), c.path, &errs, 0)
	if len(errs.errs) > 0 {
		return errs.errs
	}
	if err := c.node.Decode(v); err != nil {
		return c.yamlErrors(err)
	}
	return nil
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func (c ConfigNode) yamlErrors(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &Error{Pos: c.Pos(), Path: c.path, Kind: ErrType, Msg: err.Error()}
	}
	var es Errors
	for _, msg := range te.Errors {
		pos := c.Pos()
		if m := typeErrLine.FindStringSubmatch(msg); m != nil {
			pos = Position{File: c.file}
			pos.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		es = append(es, &Error{Pos: pos, Path: c.path, Kind: ErrType, Msg: msg})
	}
	return es
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkKnown reports mapping keys that v's type has no field for.
func checkKnown(c ConfigNode, n *yaml.Node, t reflect.Type, path string, errs *errorList, depth int) {
	n = resolve(n)
	if n == nil || depth > 64 {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	pos := func(n *yaml.Node) Position { return Position{File: c.file, Line: n.Line, Col: n.Column} }
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := map[string]reflect.Type{}
		if open := structFields(t, fields); open {
			return // an inline map takes any key
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			ft, ok := fields[k.Value]
			if !ok {
				errs.addAt(pos(k), join(path, k.Value), ErrUnknownField, "unknown field %q (known: %s)", k.Value, strings.Join(sortedKeys(fields), ", "))
				continue
			}
			checkKnown(c, n.Content[i+1], ft, join(path, k.Value), errs, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, e := range n.Content {
				checkKnown(c, e, t.Elem(), index(path, i), errs, depth+1)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				checkKnown(c, n.Content[i+1], t.Elem(), join(path, resolve(n.Content[i]).Value), errs, depth+1)
			}
		}
	}
}

// structFields collects the yaml keys of t's fields as go.yaml.in/yaml/v3 names
// them; it reports true when an inline map accepts any other key.
func structFields(t reflect.Type, into map[string]reflect.Type) (open bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				open = structFields(ft, into) || open
			case reflect.Map:
				open = true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
	return open
}
