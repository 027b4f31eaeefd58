package yamlfile_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

// aliasBomb nests lists of ten aliases eight deep: 10^9 nodes in 200 bytes.
func aliasBomb() string {
	s, prev := "a: &a [x, x, x, x, x, x, x, x, x, x]\n", "a"
	for i := range 8 {
		name := fmt.Sprintf("b%d", i)
		s += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	return s
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name, data string
		max        int
		kind       error  // nil: loads
		want       string // the error, or the root's kind and tag
	}{
		{"mapping", "a: 1\n", 0, nil, "mapping !!map"},
		{"null document", "---\n", 0, nil, "scalar !!null"},
		{"aliases within bounds", "a: &a [1, 2]\nb: *a\nc: *a\n", 0, nil, "mapping !!map"},
		{"at the size limit", "a: 1\n", 5, nil, "mapping !!map"},
		{"too large", "a: 1\n", 4, yamlfile.ErrInvalid, "f.yaml: file is 5 bytes, larger than the 4 allowed"},
		{"syntax", "a: [\n", 0, yamlfile.ErrSyntax, "f.yaml:1: did not find expected node content"},
		{"syntax without a line", "a: *x\n", 0, yamlfile.ErrSyntax, "f.yaml: unknown anchor 'x' referenced"},
		{"empty", "", 0, yamlfile.ErrMissing, "f.yaml: empty widget document"},
		{"only a comment", "# nothing\n", 0, yamlfile.ErrMissing, "f.yaml: empty widget document"},
		{"two documents", "a: 1\n---\nb: 2\n", 0, yamlfile.ErrSyntax, "f.yaml:2:1: more than one YAML document; a widget is one document"},
		{"syntax in the second document", "a: 1\n---\nb: [\n", 0, yamlfile.ErrSyntax, "f.yaml:3: did not find expected node content"},
		{"alias inside its anchor", "a: &x [1, *x]\n", 0, yamlfile.ErrInvalid, "f.yaml:1:11: alias *x is inside the node it refers to"},
		{"alias bomb", aliasBomb(), 0, yamlfile.ErrInvalid, "f.yaml:6:50: aliases repeat more than 1048576 nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := yamlfile.Load("f.yaml", []byte(tt.data), "widget", tt.max)
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				kinds := map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.ScalarNode: "scalar"}
				if got := kinds[root.Kind] + " " + root.ShortTag(); got != tt.want {
					t.Errorf("root is %s, want %s", got, tt.want)
				}
				return
			}
			if root != nil {
				t.Error("a root returned with the error")
			}
			var es yamlfile.Errors
			if !errors.As(err, &es) || len(es) != 1 || !errors.Is(err, tt.kind) {
				t.Errorf("err %#v, want one %v", err, tt.kind)
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// load loads data as f.yaml, and a Walker for it.
func load(t *testing.T, data string) (*yaml.Node, *yamlfile.Walker) {
	t.Helper()
	root, err := yamlfile.Load("f.yaml", []byte(data), "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return root, &yamlfile.Walker{File: "f.yaml"}
}

// record is what walk reads; it uses every reader.
type record struct {
	S    string
	I    int
	F    float64
	B    bool
	L    []string
	M    map[string]string
	K    map[string]int
	Sub  string
	Seen []string // list items, in order
}

func walk(w *yamlfile.Walker, n *yaml.Node) record {
	var r record
	w.Mapping(n, "", yamlfile.Fields{
		"s": func(v *yaml.Node, path string) { r.S, _ = w.String(v, path) },
		"i": func(v *yaml.Node, path string) { r.I, _ = w.Int(v, path) },
		"f": func(v *yaml.Node, path string) { r.F, _ = w.Float(v, path) },
		"b": func(v *yaml.Node, path string) { r.B, _ = w.Bool(v, path) },
		"l": func(v *yaml.Node, path string) { r.L = w.Strings(v, path) },
		"m": func(v *yaml.Node, path string) { r.M = w.StringMap(v, path) },
		"k": func(v *yaml.Node, path string) {
			r.K = yamlfile.Keyed(w, v, path, "a mapping of names to integers", "name", w.Int)
		},
		"n": func(v *yaml.Node, path string) {
			w.Mapping(v, path, yamlfile.Fields{"s": func(v *yaml.Node, path string) { r.Sub, _ = w.String(v, path) }}, "s")
		},
		"x": func(v *yaml.Node, path string) {
			w.List(v, path, func(v *yaml.Node, path string) {
				s, _ := w.Scalar(v, path)
				r.Seen = append(r.Seen, path+"="+s)
			})
		},
	}, "s")
	return r
}

func TestWalker(t *testing.T) {
	tests := []struct {
		name, data string
		want       record
		kind       error    // of the first problem
		errs       []string // every problem, in order
	}{
		{"every reader", "s: a\ni: 0x10\nf: 1e3\nb: true\nl: [a, b]\nm: {k: 1, j: yes}\nk: {a: -2}\nn: {s: z}\nx: [1, t, false]\n",
			record{S: "a", I: 16, F: 1000, B: true, L: []string{"a", "b"}, M: map[string]string{"k": "1", "j": "yes"}, K: map[string]int{"a": -2}, Sub: "z", Seen: []string{"x[0]=1", "x[1]=t", "x[2]=false"}}, nil, nil},
		{"aliases resolved", "s: &s a\nl: &l [*s, *s]\nn: {s: *s}\nx: *l\nk: {}\nb: *s\n",
			record{S: "a", L: []string{"a", "a"}, K: map[string]int{}, Sub: "a", Seen: []string{"x[0]=a", "x[1]=a"}}, yamlfile.ErrType,
			[]string{`f.yaml:1:4: b: must be true or false, got string "a"`}},
		{"empty list", "s: a\nl: []\n", record{S: "a", L: []string{}}, nil, nil},
		{"unknown field", "s: a\nt: 1\n", record{S: "a"}, yamlfile.ErrUnknownField,
			[]string{`f.yaml:2:1: t: unknown field "t" (known: b, f, i, k, l, m, n, s, x)`}},
		{"duplicate field", "s: a\ns: b\n", record{S: "a"}, yamlfile.ErrDuplicate,
			[]string{`f.yaml:2:1: s: field "s" given twice`}},
		{"missing fields", "i: 1\nn: {}\n", record{I: 1}, yamlfile.ErrMissing,
			[]string{`f.yaml:2:4: n: missing required field "s"`, `f.yaml:1:1: missing required field "s"`}},
		{"key not a string", "s: a\n[1]: x\n1: y\n", record{S: "a"}, yamlfile.ErrType,
			[]string{`f.yaml:2:1: keys must be strings, got a list`, `f.yaml:3:1: keys must be strings, got int 1`}},
		{"not a mapping", "- a\n", record{}, yamlfile.ErrType,
			[]string{`f.yaml:1:1: must be a mapping, got a list`}},
		{"wrong types", "s: 1\ni: x\nf: a\nb: 1\nl: a\nm: [a]\nk: 3\nx: {}\n", record{}, yamlfile.ErrType,
			[]string{
				`f.yaml:1:4: s: must be a string, got int 1`,
				`f.yaml:2:4: i: must be an integer, got string "x"`,
				`f.yaml:3:4: f: must be a number, got string "a"`,
				`f.yaml:4:4: b: must be true or false, got int 1`,
				`f.yaml:5:4: l: must be a list, got string "a"`,
				`f.yaml:6:4: m: must be a mapping, got a list`,
				`f.yaml:7:4: k: must be a mapping of names to integers, got int 3`,
				`f.yaml:8:4: x: must be a list, got a mapping`,
			}},
		{"integer out of range", "s: a\ni: 18446744073709551615\n", record{S: "a"}, yamlfile.ErrInvalid,
			[]string{`f.yaml:2:4: i: integer 18446744073709551615 is out of range`}},
		{"not finite", "s: a\nf: .nan\n", record{S: "a"}, yamlfile.ErrInvalid,
			[]string{`f.yaml:2:4: f: must be a finite number, got .nan`}},
		{"bad elements", "s: a\nl: [a, 1, b]\nx: [~, [y]]\n", record{S: "a", L: []string{"a", "", "b"}, Seen: []string{"x[0]=", "x[1]="}}, yamlfile.ErrType,
			[]string{`f.yaml:2:8: l[1]: must be a string, got int 1`, `f.yaml:3:5: x[0]: must be a scalar value, got null`, `f.yaml:3:8: x[1]: must be a scalar value, got a list`}},
		{"bad mapping values", "s: a\nm: {a.b: [x], c: d, c: e}\nk: {n: one, 7: 1}\n", record{S: "a", M: map[string]string{"c": "d"}, K: map[string]int{}}, yamlfile.ErrType,
			[]string{
				`f.yaml:2:10: m["a.b"]: must be a scalar value, got a list`,
				`f.yaml:2:21: m.c: key "c" given twice`,
				`f.yaml:3:8: k.n: must be an integer, got string "one"`,
				`f.yaml:3:13: k: keys must be strings, got int 7`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, w := load(t, tt.data)
			if got := walk(w, root); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read %+v\nwant %+v", got, tt.want)
			}
			err := w.Err()
			if tt.errs == nil {
				if err != nil {
					t.Errorf("unexpected errors:\n%v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || !errors.Is(w.Errs[0], tt.kind) {
				t.Errorf("first problem is not %v: %v", tt.kind, err)
			}
			if got := strings.Split(fmt.Sprint(err), "\n"); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func TestWalkerPositions(t *testing.T) {
	root, w := load(t, "s: a\nl: [x, y]\nn: {s: z}\nm: {k: v}\n")
	w.Pos = map[string]yamlfile.Position{}
	walk(w, root)
	want := map[string]string{"": "f.yaml:1:1", "s": "f.yaml:1:4", "l": "f.yaml:2:4", "l[0]": "f.yaml:2:5", "l[1]": "f.yaml:2:8", "n": "f.yaml:3:4", "n.s": "f.yaml:3:8", "m": "f.yaml:4:4", "m.k": "f.yaml:4:8"}
	got := map[string]string{}
	for path, pos := range w.Pos {
		got[path] = pos.String()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positions %v\nwant %v", got, want)
	}
}

type inner struct {
	ID    int    `yaml:"id"`
	Label string `yaml:"label"`
}

type text string

func (t *text) UnmarshalYAML(n *yaml.Node) error { *t = text(n.Value); return nil }

type config struct {
	Model   string           `yaml:"model"`
	Classes []inner          `yaml:"classes"`
	ByName  map[string]inner `yaml:"by_name"`
	Ptr     *inner           `yaml:"ptr"`
	Free    text             `yaml:"free"`
	Skipped int              `yaml:"-"`
	Plain   int
	Base    struct {
		Depth int `yaml:"depth"`
	} `yaml:",inline"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, data string
		kind       error
		want       string // the errors, or the decoded value
	}{
		{"every field", "model: m\nclasses: [{id: 1, label: a}]\nby_name: {x: {id: 2}}\nptr: {label: p}\nfree: {any: thing}\nplain: 3\ndepth: 4\n", nil,
			`{Model:m Classes:[{ID:1 Label:a}] ByName:map[x:{ID:2 Label:}] Ptr:{ID:0 Label:p} Free: Skipped:0 Plain:3 Base:{Depth:4}}`},
		{"unknown fields everywhere", "modle: m\nclasses: [{id: 1, lable: a}]\nby_name: {x: {di: 2}}\nptr: {x: 1}\nskipped: 1\n", yamlfile.ErrUnknownField,
			`f.yaml:1:1: cfg.modle: unknown field "modle" (known: by_name, classes, depth, free, model, plain, ptr)
f.yaml:2:19: cfg.classes[0].lable: unknown field "lable" (known: id, label)
f.yaml:3:15: cfg.by_name.x.di: unknown field "di" (known: id, label)
f.yaml:4:7: cfg.ptr.x: unknown field "x" (known: id, label)
f.yaml:5:1: cfg.skipped: unknown field "skipped" (known: by_name, classes, depth, free, model, plain, ptr)`},
		{"a key twice", "model: a\nclasses: [{id: 1, id: 2}]\n", yamlfile.ErrDuplicate,
			`f.yaml:2:19: cfg.classes[0].id: field "id" given twice`},
		{"wrong types", "model: [a]\nplain: x\n", yamlfile.ErrType,
			"f.yaml:1: cfg: cannot unmarshal !!seq into string\nf.yaml:2: cfg: cannot unmarshal !!str `x` into int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, w := load(t, tt.data)
			var c config
			ok := w.Decode(root, "cfg", &c)
			if tt.kind == nil {
				if !ok || w.Err() != nil {
					t.Fatal(w.Err())
				}
				if c.Ptr == nil {
					t.Fatal("ptr not decoded")
				}
				got := strings.Replace(fmt.Sprintf("%+v", c), fmt.Sprintf("%p", c.Ptr), fmt.Sprintf("%+v", *c.Ptr), 1)
				if got != tt.want {
					t.Errorf("decoded %s\nwant    %s", got, tt.want)
				}
				return
			}
			if ok || !errors.Is(w.Err(), tt.kind) {
				t.Errorf("Decode = %v, err %v; want false and %v", ok, w.Err(), tt.kind)
			}
			if got := fmt.Sprint(w.Err()); got != tt.want {
				t.Errorf("got errors:\n%s\nwant:\n%s", got, tt.want)
			}
			if tt.kind == yamlfile.ErrUnknownField && c.Model != "" {
				t.Error("decoded despite unknown fields")
			}
		})
	}
	w := &yamlfile.Walker{File: "f.yaml"}
	if w.Decode(&yaml.Node{Kind: yaml.MappingNode, Line: 3, Column: 2}, "cfg", config{}) || fmt.Sprint(w.Err()) != "f.yaml:3:2: cfg: Decode needs a non-nil pointer" {
		t.Errorf("decoding into a non-pointer: %v", w.Err())
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		pos  yamlfile.Position
		want string
	}{
		{yamlfile.Position{File: "f", Line: 2, Col: 3}, "f:2:3"},
		{yamlfile.Position{File: "f", Line: 2}, "f:2"},
		{yamlfile.Position{File: "f"}, "f"},
		{yamlfile.Position{}, ""},
	} {
		if got := tt.pos.String(); got != tt.want || tt.pos.IsValid() != (tt.pos.Line > 0) {
			t.Errorf("%#v: String %q, IsValid %v; want %q", tt.pos, got, tt.pos.IsValid(), tt.want)
		}
	}
	var es yamlfile.Errors
	if err := es.Err(); err != nil {
		t.Errorf("empty Errors.Err() = %#v, want nil", err)
	}
	es.Add(yamlfile.Position{File: "f", Line: 1, Col: 2}, "a.b", yamlfile.ErrType, "must be %s", "a list")
	es.Add(yamlfile.Position{}, "", yamlfile.ErrMissing, "nothing")
	err := fmt.Errorf("loading: %w", es.Err())
	if !errors.Is(err, yamlfile.ErrType) || !errors.Is(err, yamlfile.ErrMissing) || errors.Is(err, yamlfile.ErrSyntax) {
		t.Errorf("errors.Is does not see the kinds of %v", err)
	}
	var e *yamlfile.Error
	if !errors.As(err, &e) || e.Path != "a.b" {
		t.Errorf("errors.As found %+v, want the first error", e)
	}
	if got, want := err.Error(), "loading: f:1:2: a.b: must be a list\nnothing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
