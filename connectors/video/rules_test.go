package video

import (
	"errors"
	"strings"
	"testing"
)

func TestSuffixRules(t *testing.T) {
	tests := []struct {
		spec  string
		match []string
		skip  []string
	}{
		{spec: "*.mp4,*.avi", match: []string{"a.mp4", "B.MP4", "x.y.avi"}, skip: []string{"a.mkv", ".a.mp4", "a.mp4.part", "mp4"}},
		{spec: "mp4, .MKV", match: []string{"a.mp4", "c.mkv"}, skip: []string{"a.avi"}},
		{spec: "", match: []string{"a.mp4", "a.webm", "a.ts"}, skip: []string{"a.txt", "a.jpg"}},
		{spec: "cam1-*.mp4", match: []string{"cam1-0001.mp4"}, skip: []string{"cam2-0001.mp4"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			r, err := ParseSuffixRules(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.match {
				if !r.Match(n) {
					t.Errorf("%q should match %q", r, n)
				}
			}
			for _, n := range tt.skip {
				if r.Match(n) {
					t.Errorf("%q should not match %q", r, n)
				}
			}
		})
	}
	if !(SuffixRules{}).Match("a.mp4") || (SuffixRules{}).Match("a.txt") {
		t.Fatal("zero SuffixRules should be the defaults")
	}
}

func TestSuffixRulesErrors(t *testing.T) {
	for _, spec := range []string{"*.[mp4", "sub/*.mp4", ",,", `a\b`} {
		if _, err := ParseSuffixRules(spec); !errors.Is(err, ErrBadSuffixRule) {
			t.Errorf("ParseSuffixRules(%q) err = %v, want ErrBadSuffixRule", spec, err)
		}
	}
}

func FuzzParseSuffixRules(f *testing.F) {
	for _, s := range []string{"*.mp4,*.avi", "mp4", "[", "*.[a-", "a,b,,c", ""} {
		f.Add(s, "clip.mp4")
	}
	f.Fuzz(func(t *testing.T, spec, name string) {
		r, err := ParseSuffixRules(spec)
		if err != nil {
			return
		}
		_ = r.Match(name)
		// The canonical form parses to the same rules.
		again, err := ParseSuffixRules(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q: canonical %q reparses to %q, %v", spec, r.String(), again.String(), err)
		}
		if strings.HasPrefix(name, ".") && r.Match(name) {
			t.Fatalf("dot file %q matched", name)
		}
	})
}
