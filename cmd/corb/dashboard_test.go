package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardQueriesKnownMetrics keeps deploy/dashboards/corb.json honest:
// every metric its panels query must be defined (as a Name: "corb_…" in the
// Go sources), so a renamed metric cannot leave an empty panel behind.
func TestDashboardQueriesKnownMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/dashboards/corb.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("corb.json: %v", err)
	}
	defined := map[string]bool{}
	name := regexp.MustCompile(`Name: +"(corb_[a-z_]+)"`)
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`corb_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range used.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && defined[b] {
						base = b
					}
				}
				if !defined[base] {
					t.Errorf("panel %q queries %s, which no Go source defines", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("the dashboard has only %d queries", queries)
	}
}
