package cleaning_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/operators/directory"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/cleaning"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

const deployZones = "../../deploy/zones.yaml"

func configNode(t *testing.T, src string) topology.ConfigNode {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) == 0 {
		return topology.ConfigNode{}
	}
	return topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[0].config")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func cleaningOp(t *testing.T, config string) *topology.Operator {
	return &topology.Operator{Name: "cleaning-report", Kind: "cleaning", Inputs: []string{"commands"},
		Outputs: []string{"commands", "cleanings"}, Tables: []string{"usage", "cleanings"}, Config: configNode(t, config)}
}

// TestKindChecks: validation loads the directory and zones files the config
// names (the deploy ones by default) and reports what is wrong with them.
func TestKindChecks(t *testing.T) {
	dir := t.TempDir()
	badLine := writeFile(t, dir, "bad.yaml", "people:\n  - phone: \"+15550001\"\n    name: Ada\n    roles: [janitor]\n")
	misspelt := writeFile(t, dir, "misspelt.yaml", "people:\n  - {phone: \"+15550002\", name: Ben, roles: [cleaner], zones: [lawm]}\n")
	env := func(dirFile string) func(string) string {
		return func(k string) string {
			return map[string]string{directory.FileEnv: dirFile}[k]
		}
	}
	for _, tc := range []struct {
		name, config string
		getenv       func(string) string
		want         string // in the error; "" for none
	}{
		{"the deploy files", "directory: ../../deploy/directory.yaml\nzones_file: " + deployZones, nil, ""},
		{"the directory from the environment", "zones_file: " + deployZones, env("../../deploy/directory.yaml"), ""},
		{"a bad role, with its line", "directory: " + badLine + "\nzones_file: " + deployZones, nil, badLine + ":4:"},
		{"a cleaner of a zone that does not exist", "directory: " + misspelt + "\nzones_file: " + deployZones, nil, `Ben (+15550002) cleans zone "lawm"`},
		{"no directory file", "directory: " + filepath.Join(dir, "none.yaml") + "\nzones_file: " + deployZones, nil, "none.yaml"},
		{"no zones file", "directory: ../../deploy/directory.yaml\nzones_file: " + filepath.Join(dir, "none.yaml"), nil, "none.yaml"},
		{"unknown key", "directory: ../../deploy/directory.yaml\nzones_file: " + deployZones + "\nreload_every: 1s", nil, "reload_every"},
		{"bad time zone", "directory: ../../deploy/directory.yaml\nzones_file: " + deployZones + "\ntimezone: Mars/Olympus", nil, "Mars/Olympus"},
		{"reload not positive", "directory: ../../deploy/directory.yaml\nzones_file: " + deployZones + "\nreload: 0s", nil, "reload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cleaning.Kind().Topology(kind.Env{Getenv: tc.getenv}).CheckConfig(cleaningOp(t, tc.config))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckConfig: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckConfig = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestKindBuildsAndReloadsTheDirectory: the built operator reads its tables,
// closes its watcher, and texts the cleaners of the directory as it is now.
func TestKindBuildsAndReloadsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "directory.yaml", "people:\n  - {phone: \"+15550002\", name: Ben, roles: [cleaner], zones: [lawn]}\n")
	o, err := cleaning.Kind().Build(context.Background(), kind.Env{Log: slog.New(slog.DiscardHandler)},
		cleaningOp(t, "directory: "+path+"\nzones_file: "+deployZones+"\nreload: 10ms\ntimezone: UTC"))
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := o.(operators.TableReader)
	if !ok {
		t.Fatal("not a TableReader")
	}
	closer, ok := o.(operators.Closer)
	if !ok {
		t.Fatal("not a Closer: its directory watcher would run on")
	}
	defer closer.Close()
	tr.UseTables(map[string]operators.Table{"usage": table{}, "cleanings": table{}})

	// recipients is whom a request for the walkway is texted to.
	recipients := func() []string {
		c := automaticRequest("walkway", 1)
		b, err := schemas.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		res, err := o.Process(context.Background(), []operators.Record{{Topic: "commands", Key: []byte("walkway"), Value: b}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("Process: %v, %v", err, res[0].Err)
		}
		var to []string
		for _, out := range res[0].Outputs {
			var s schemas.Command
			if err := schemas.Unmarshal(out.Value, &s); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(s.SendSMS.Body, "Cleaning needed: Footpath.") {
				t.Errorf("report %q does not name the zone by its name in the zones file", s.SendSMS.Body)
			}
			to = append(to, s.SendSMS.To)
		}
		return to
	}
	if got := recipients(); len(got) != 0 {
		t.Fatalf("texted %v; nobody cleans the walkway yet", got)
	}
	writeFile(t, dir, "directory.yaml", "people:\n  - {phone: \"+15550002\", name: Ben, roles: [cleaner], zones: [lawn, walkway]}\n")
	deadline := time.Now().Add(10 * time.Second)
	for got := recipients(); len(got) != 1 || got[0] != ben; got = recipients() {
		if time.Now().After(deadline) {
			t.Fatalf("texted %v after the directory changed, want %s", got, ben)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}
