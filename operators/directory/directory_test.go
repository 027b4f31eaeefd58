package directory_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/directory"
)

const good = `people:
  - phone: "+15550001"
    name: Ada
    roles: [staff]
  - phone: "+15550002"
    name: Ben
    roles: [cleaner]
    zones: [lawn]
  - phone: "+15550003"
    name: Cy
    roles: [admin]
`

func TestParse(t *testing.T) {
	d, err := directory.Parse("dir.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ada, ok := d.Lookup("+15550001")
	if !ok || ada.Name != "Ada" || !ada.Has(directory.Staff) || ada.Has(directory.Cleaner) {
		t.Errorf("Ada: %+v %v", ada, ok)
	}
	if _, ok := d.Lookup("+15559999"); ok {
		t.Error("an unknown number was found")
	}
	var names []string
	for _, p := range d.Cleaners("lawn") {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "Ben" {
		t.Errorf("cleaners of lawn: %s, want Ben (an admin is not on duty)", got)
	}
	names = nil
	for _, p := range d.Cleaners("kitchen") {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "" {
		t.Errorf("cleaners of kitchen: %s, want none", got)
	}
	if cy, _ := d.Lookup("+15550003"); !cy.Has(directory.Cleaner) || cy.Cleans("lawn") {
		t.Errorf("an admin may do a cleaner's commands but is not on duty: %+v", cy)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown field", "people:\n  - {phone: \"+15550001\", name: A, roles: [staff], colour: red}\n", []string{`d.yaml:2:51: people[0].colour: unknown field "colour"`}},
		{"bad phone", "people:\n  - {phone: \"555-0001\", name: A, roles: [staff]}\n", []string{`d.yaml:2:13: people[0].phone: phone "555-0001" is not an E.164 number`}},
		{"number not string", "people:\n  - {phone: 15550001, name: A, roles: [staff]}\n", []string{`people[0].phone: must be a string`}},
		{"unknown role", "people:\n  - {phone: \"+15550001\", name: A, roles: [janitor]}\n", []string{`unknown role "janitor"`}},
		{"no role", "people:\n  - {phone: \"+15550001\", name: A, roles: []}\n", []string{`at least one role`}},
		{"missing name", "people:\n  - {phone: \"+15550001\", roles: [staff]}\n", []string{`missing required field "name"`}},
		{"twice", "people:\n  - {phone: \"+15550001\", name: A, roles: [staff]}\n  - {phone: \"+15550001\", name: B, roles: [staff]}\n",
			[]string{`d.yaml:3:13: people[1].phone: phone +15550001 is listed twice (first at d.yaml:2:13)`}},
		{"every problem at once", "people:\n  - {phone: x, name: A, roles: [staff]}\n  - {phone: \"+15550002\", name: B, roles: [boss]}\n",
			[]string{`"x" is not an E.164`, `unknown role "boss"`}},
		{"empty", "", []string{"empty directory document"}},
		{"no people", "people: []\nextra: 1\n", []string{`unknown field "extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := directory.Parse("d.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestWatcherReloadsAndKeepsTheLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.yaml")
	write := func(s string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write(good, t0)
	w, err := directory.NewWatcher(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := w.Check(); changed || err != nil {
		t.Fatalf("unchanged file: changed %v, err %v", changed, err)
	}
	write(good+"  - {phone: \"+15550004\", name: Di, roles: [staff]}\n", t0.Add(time.Second))
	if changed, err := w.Check(); !changed || err != nil {
		t.Fatalf("edited file: changed %v, err %v", changed, err)
	}
	if _, ok := w.Current().Lookup("+15550004"); !ok {
		t.Error("the new person is not in the reloaded directory")
	}
	write("people: [oops", t0.Add(2*time.Second))
	if _, err := w.Check(); err == nil {
		t.Error("a broken file reloaded without error")
	}
	if _, ok := w.Current().Lookup("+15550004"); !ok {
		t.Error("a broken file replaced the last good directory")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx, time.Millisecond); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if _, err := directory.NewWatcher(filepath.Join(t.TempDir(), "none.yaml"), nil); err == nil {
		t.Error("a missing file made a watcher")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("people:\n  - {phone: x, name: A, roles: [boss]}\n"))
	f.Add([]byte("people: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := directory.Parse("f.yaml", data)
		if err != nil {
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		for _, p := range d.People() {
			if !directory.ValidPhone(p.Phone) || p.Name == "" || len(p.Roles) == 0 {
				t.Fatalf("accepted an invalid person %+v", p)
			}
			if q, ok := d.Lookup(p.Phone); !ok || q.Name != p.Name {
				t.Fatalf("lookup of %s: %+v %v", p.Phone, q, ok)
			}
		}
	})
}

func TestPath(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == directory.FileEnv {
				return v
			}
			return ""
		}
	}
	for _, tt := range []struct {
		configured string
		getenv     func(string) string
		want       string
	}{
		{"/etc/corb/people.yaml", env("/x.yaml"), "/etc/corb/people.yaml"},
		{"", env("/x.yaml"), "/x.yaml"},
		{" ", env(""), directory.DefaultFile},
		{"", nil, directory.DefaultFile},
	} {
		if got := directory.Path(tt.configured, tt.getenv); got != tt.want {
			t.Errorf("Path(%q) = %q, want %q", tt.configured, got, tt.want)
		}
	}
}
