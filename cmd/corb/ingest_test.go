package main

import (
	"strings"
	"testing"

	"github.com/corb-dev/corb/topology"
)

// Ingest's topic is a corb.Frame topic of the topology, named by its namespace.
func TestFrameTopic(t *testing.T) {
	spec, err := topology.Load(testTopology(t, "site"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec        *topology.Spec
		topic, want string
		wantErr     string
	}{
		{spec, "frames", "site.frames", ""},
		{spec, "copies", "site.copies", ""},
		{spec.WithNamespace("bldg-2"), "frames", "bldg-2.frames", ""},
		{spec, "framez", "", `--topic "framez": topology ` + spec.File + ` has no such topic (its topics of corb.Frame: frames, copies)`},
		{spec, "usage", "", `--topic "usage": topology ` + spec.File + ` declares it bytes, ingest writes corb.Frame`},
	} {
		got, err := frameTopic(c.spec, c.topic)
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: got %q, %v; want an error with %q", c.topic, got, err, c.wantErr)
			}
		case err != nil || got != c.want:
			t.Errorf("%s (namespace %s): got %q, %v; want %q", c.topic, c.spec.Namespace, got, err, c.want)
		}
	}
}
