package main

import (
	"testing"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// The default topology validates against the kinds and schemas this binary
// really has, configs and the zones files they name included.
func TestDefaultTopologyIsValid(t *testing.T) {
	t.Chdir("../..") // zones files are relative to the working directory, as for a user
	s, err := topology.Load("deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(builtinKinds(), topology.WithSchemaFields(schemas.KnownFields())); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"frames", "detections", "zone-counts", "events", "commands", "occupancy", "usage", "subscriptions"} {
		if _, ok := s.Topic(name); !ok {
			t.Errorf("topic %q missing", name)
		}
	}
	for _, name := range []string{"detect", "zones", "presence", "rules", "cleaning-report", "command-handlers", "sms-out"} {
		o, ok := s.Operator(name)
		if !ok {
			t.Errorf("operator %q missing", name)
			continue
		}
		if o.OnFailure == "" {
			t.Errorf("operator %q has no dead-letter topic", name)
		}
	}
	for _, name := range []string{"occupancy", "usage", "subscriptions"} {
		if tp, _ := s.Topic(name); tp != nil && !tp.Compacted() {
			t.Errorf("topic %q is not compacted", name)
		}
	}
	if got := s.PhysicalName("frames"); got != "corb.frames" {
		t.Errorf("PhysicalName(frames) = %q", got)
	}
	// The command bus is routed by match: send_sms reaches only sms-out.
	sms := map[string]any{"command_type": "send_sms"}
	var takers []string
	for _, o := range s.Consumers("commands") {
		if o.Matches(sms) {
			takers = append(takers, o.Name)
		}
	}
	if len(takers) != 1 || takers[0] != "sms-out" {
		t.Errorf("send_sms is taken by %v, want [sms-out]", takers)
	}
}
