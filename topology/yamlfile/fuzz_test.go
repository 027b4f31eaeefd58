package yamlfile_test

import (
	"errors"
	"testing"

	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

var kinds = []error{yamlfile.ErrSyntax, yamlfile.ErrUnknownField, yamlfile.ErrType, yamlfile.ErrMissing, yamlfile.ErrInvalid, yamlfile.ErrDuplicate}

// FuzzLoadWalk: Load and a walk with every reader (and strict decoding) never
// panic, and every problem is one *Error classified by a sentinel, with a
// message, in the file; the walker's problems and recorded positions point at
// a line of it.
func FuzzLoadWalk(f *testing.F) {
	f.Add([]byte("s: a\ni: 0x10\nf: 1e3\nb: true\nl: [a, b]\nm: {k: 1}\nk: {a: 2}\nn: {s: z}\nx: [1, t]\n"))
	f.Add([]byte("s: &s a\nl: [*s, *s]\nn: {s: *s}\nx: *l\n"))
	f.Add([]byte("a: &x [1, *x]\n"))
	f.Add([]byte(aliasBomb()))
	f.Add([]byte("s: a\n---\nb: [\n"))
	f.Add([]byte("model: [a]\nclasses: [{id: x, lable: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		classified := func(err error) {
			var es yamlfile.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T, want non-empty Errors: %v", err, err)
			}
			for _, e := range es {
				known := false
				for _, k := range kinds {
					known = known || e.Kind == k
				}
				if !known || e.Msg == "" || e.Pos.File != "fuzz.yaml" {
					t.Fatalf("unclassified error %#v", e)
				}
			}
		}
		root, err := yamlfile.Load("fuzz.yaml", data, "fuzz", 1<<16)
		if err != nil {
			if root != nil {
				t.Fatal("root returned with an error")
			}
			classified(err)
			return
		}
		w := &yamlfile.Walker{File: "fuzz.yaml", Pos: map[string]yamlfile.Position{}}
		walk(w, root)
		var c config
		w.Decode(root, "cfg", &c)
		if err := w.Err(); err != nil {
			classified(err)
			for _, e := range w.Errs {
				if !e.Pos.IsValid() {
					t.Fatalf("problem without a line: %v", e)
				}
			}
		}
		for path, pos := range w.Pos {
			if !pos.IsValid() {
				t.Fatalf("%s recorded without a line: %#v", path, pos)
			}
		}
		_ = yamlfile.Describe(root)
		_ = yamlfile.IsNull(&yaml.Node{})
	})
}
