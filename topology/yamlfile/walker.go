package yamlfile

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Walker reads YAML nodes into Go values. Its readers follow aliases, check
// what they are given and, when it is wrong, add an *Error with the node's
// position and the path they were given to Errs and report false: one walk
// finds every problem. Build paths with Key and Index.
type Walker struct {
	File string              // names the file in positions
	Errs Errors              // the problems found so far, in the order found
	Pos  map[string]Position // when not nil, gets where each mapping, field and list item read is written
}

// Fields maps the keys a mapping may have to what reads their values; a
// value node is passed with its aliases resolved, and its path.
type Fields map[string]func(v *yaml.Node, path string)

// At is where n is written.
func (w *Walker) At(n *yaml.Node) Position { return at(w.File, n) }

// Fail adds a problem at n.
func (w *Walker) Fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	w.Errs.Add(w.At(n), path, kind, format, args...)
}

// Err returns the problems found as Errors, or nil when there are none.
func (w *Walker) Err() error { return w.Errs.Err() }

func (w *Walker) mark(path string, n *yaml.Node) {
	if w.Pos != nil {
		w.Pos[path] = w.At(n)
	}
}

// Mapping reads n as a mapping, calling the field of each key in document
// order. A key that is not a string (ErrType), a key with no field ("unknown
// field %q (known: …)", ErrUnknownField), a key given twice (ErrDuplicate) and
// a required key not given (ErrMissing) are problems. It reports false when n is not a mapping.
func (w *Walker) Mapping(n *yaml.Node, path string, fields Fields, required ...string) bool {
	seen := map[string]bool{}
	if !w.pairs(n, path, "a mapping", func(k, v *yaml.Node, fp string) {
		f, ok := fields[k.Value]
		switch {
		case !ok:
			w.Fail(k, fp, ErrUnknownField, "unknown field %q (known: %s)", k.Value, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		case seen[k.Value]:
			w.Fail(k, fp, ErrDuplicate, "field %q given twice", k.Value)
		default:
			seen[k.Value] = true
			f(v, fp)
		}
	}) {
		return false
	}
	for _, r := range required {
		if !seen[r] {
			w.Fail(n, path, ErrMissing, "missing required field %q", r)
		}
	}
	return true
}

// Keyed reads n as a mapping with string keys of the caller's choosing, each
// at most once (others are reported and left out), and value reads each value;
// ok false leaves its key out (value has reported why). shape describes the mapping in the type error ("a mapping
// of field: [patterns]"); noun names a key in the duplicate error ("field").
func Keyed[V any](w *Walker, n *yaml.Node, path, shape, noun string, value func(v *yaml.Node, path string) (V, bool)) map[string]V {
	out := map[string]V{}
	if !w.pairs(n, path, shape, func(k, v *yaml.Node, kp string) {
		if _, dup := out[k.Value]; dup {
			w.Fail(k, kp, ErrDuplicate, "%s %q given twice", noun, k.Value)
		} else if x, ok := value(v, kp); ok {
			out[k.Value] = x
		}
	}) {
		return nil
	}
	return out
}

// pairs calls each, in document order, for the pairs of the mapping n whose
// key is a string (aliases resolved), with the value's path, and reports
// false when n is not a mapping.
func (w *Walker) pairs(n *yaml.Node, path, shape string, each func(k, v *yaml.Node, path string)) bool {
	if n = Resolve(n); n.Kind != yaml.MappingNode {
		w.Fail(n, path, ErrType, "must be %s, got %s", shape, Describe(n))
		return false
	}
	w.mark(path, n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			w.Fail(k, path, ErrType, "keys must be strings, got %s", Describe(k))
			continue
		}
		kp := Key(path, k.Value)
		w.mark(kp, v)
		each(k, v, kp)
	}
	return true
}

// List reads n as a list, calling item for each element (aliases resolved)
// with its path, and returns how many elements there are. It reports false
// when n is not a list.
func (w *Walker) List(n *yaml.Node, path string, item func(v *yaml.Node, path string)) (int, bool) {
	n = Resolve(n)
	if n.Kind != yaml.SequenceNode {
		w.Fail(n, path, ErrType, "must be a list, got %s", Describe(n))
		return 0, false
	}
	for i, c := range n.Content {
		c, ip := Resolve(c), Index(path, i)
		w.mark(ip, c)
		item(c, ip)
	}
	return len(n.Content), true
}

// typed resolves n and reports whether it is a scalar with one of tags; the
// problem when it is not is "must be <want>, got …".
func (w *Walker) typed(n *yaml.Node, path, want string, tags ...string) (*yaml.Node, bool) {
	if n = Resolve(n); n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		w.Fail(n, path, ErrType, "must be %s, got %s", want, Describe(n))
		return n, false
	}
	return n, true
}

// String reads a string; a number or a boolean is not one (quote it).
func (w *Walker) String(n *yaml.Node, path string) (string, bool) {
	if n, ok := w.typed(n, path, "a string", "!!str"); ok {
		return n.Value, true
	}
	return "", false
}

// Scalar reads any scalar but null (a string, number or boolean) as its text.
func (w *Walker) Scalar(n *yaml.Node, path string) (string, bool) {
	if n = Resolve(n); n.Kind != yaml.ScalarNode || IsNull(n) {
		w.Fail(n, path, ErrType, "must be a scalar value, got %s", Describe(n))
		return "", false
	}
	return n.Value, true
}

// Int reads an integer (in any of YAML's notations) that fits an int.
func (w *Walker) Int(n *yaml.Node, path string) (int, bool) {
	var v int
	n, ok := w.typed(n, path, "an integer", "!!int")
	if ok && n.Decode(&v) != nil {
		w.Fail(n, path, ErrInvalid, "integer %s is out of range", n.Value)
		return 0, false
	}
	return v, ok
}

// Float reads a finite number, integer or not.
func (w *Walker) Float(n *yaml.Node, path string) (float64, bool) {
	var v float64
	n, ok := w.typed(n, path, "a number", "!!int", "!!float")
	if ok && (n.Decode(&v) != nil || math.IsNaN(v) || math.IsInf(v, 0)) {
		w.Fail(n, path, ErrInvalid, "must be a finite number, got %s", n.Value)
		return 0, false
	}
	return v, ok
}

// Bool reads true or false.
func (w *Walker) Bool(n *yaml.Node, path string) (bool, bool) {
	var v bool
	n, ok := w.typed(n, path, "true or false", "!!bool")
	if ok && n.Decode(&v) != nil {
		w.Fail(n, path, ErrInvalid, "must be true or false, got %s", n.Value)
		return false, false
	}
	return v, ok
}

// Strings reads a list of strings ("" for an element that is not one); nil
// when n is not a list.
func (w *Walker) Strings(n *yaml.Node, path string) []string {
	out := []string{}
	if _, ok := w.List(n, path, func(v *yaml.Node, path string) {
		s, _ := w.String(v, path)
		out = append(out, s)
	}); !ok {
		return nil
	}
	return out
}

// StringMap reads a mapping of strings to scalars (see Scalar; a value that
// is not one is left out).
func (w *Walker) StringMap(n *yaml.Node, path string) map[string]string {
	return Keyed(w, n, path, "a mapping", "key", func(v *yaml.Node, path string) (string, bool) {
		return w.Scalar(v, path)
	})
}

// Resolve follows aliases to the node they refer to.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or null.
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Describe names what n is, for type errors: "a list", `string "x"`, "int 3".
func Describe(n *yaml.Node) string {
	tag := n.ShortTag()
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind != yaml.ScalarNode:
		return "an unsupported node"
	case tag == "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case tag == "!!null":
		return "null"
	}
	return strings.TrimPrefix(tag, "!!") + " " + n.Value
}

// Key is the path of key in the mapping at path: "a.b", or `a["b c"]` when
// key is not a plain identifier.
func Key(path, key string) string {
	switch {
	case path == "":
		return key
	case plainKey.MatchString(key):
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

var plainKey = regexp.MustCompile(`^[-\w]*$`) // \w is [0-9A-Za-z_]

// Index is the path of element i of the list at path: "a[3]".
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
