package schemas

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bin golden vectors of the CURRENT schema versions")

// TestGolden checks that every released schema version has a golden vector in
// testdata/, that each still decodes to its expected (upgraded) struct, and
// that Marshal still writes the current versions byte for byte. With -update
// it rewrites the current versions' vectors; older versions are never rewritten.
func TestGolden(t *testing.T) {
	reg, err := registryOrErr()
	if err != nil {
		t.Fatal(err)
	}
	want := goldenRecords()
	for key, v := range reg.byNameVersion {
		t.Run(key, func(t *testing.T) {
			exp, ok := want[key]
			if !ok {
				t.Fatalf("no golden record for %s: add one to goldenRecords", key)
			}
			path := filepath.Join("testdata", key+".bin")
			if *update && reg.current[v.name] == v {
				b, err := Marshal(exp)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./schemas -run TestGolden -update to create it)", err)
			}
			name, version, err := VersionOf(b)
			if err != nil || name != v.name || version != v.version {
				t.Fatalf("VersionOf = %s v%d, %v; want %s v%d", name, version, err, v.name, v.version)
			}
			got := v.newRecord()
			if err := Unmarshal(b, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("decoded\n %+v\nwant\n %+v", got, exp)
			}
			if reg.current[v.name] == v {
				again, err := Marshal(exp)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, b) {
					t.Fatalf("Marshal no longer writes the golden bytes of %s:\n got % x\nwant % x", key, again, b)
				}
			}
		})
	}
	// Every vector belongs to a registered version.
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), ".bin")
		if _, ok := reg.byNameVersion[key]; !ok {
			t.Errorf("%s: no registered schema version %s", f, key)
		}
	}
}
