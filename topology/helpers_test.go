package topology_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/corb-dev/corb/topology"
)

// defaultTopology is Corb's own topology file, a realistic input.
const defaultTopology = "../deploy/topology.yaml"

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testKinds are kinds for the validator's own tests, shaped like the built-in
// ones; the default topology is checked against the real registry in cmd/corb.
func testKinds() topology.Kinds {
	cmd := []string{"corb.Command"}
	return topology.Kinds{
		"passthrough": {Inputs: []string{topology.SchemaAny}, Outputs: []string{topology.SchemaAny}},
		"detect":      {Inputs: []string{"corb.Frame"}, Outputs: []string{"corb.Detections"}},
		"zones":       {Inputs: []string{"corb.Detections"}, Outputs: []string{"corb.ZoneCounts"}},
		"presence":    {Inputs: []string{"corb.ZoneCounts"}, Outputs: []string{"corb.PresenceEvent"}, Stateful: true},
		"rules":       {Inputs: []string{"corb.PresenceEvent"}, Outputs: cmd, Tables: []string{"corb.Command", topology.SchemaBytes}, Stateful: true},
		"cleaning":    {Inputs: cmd, Outputs: cmd},
		"commands":    {Inputs: cmd, Outputs: cmd, Tables: []string{"corb.PresenceEvent"}},
		"sms":         {Inputs: cmd},
	}
}

// testFields are the top-level Avro field names of the shared schemas.
func testFields() map[string][]string {
	return map[string][]string{
		"corb.Frame":         {"camera_id", "source", "seq", "capture_time", "width", "height", "encoding", "image"},
		"corb.Detections":    {"camera_id", "frame_seq", "capture_time", "model", "model_version", "frame_width", "frame_height", "boxes", "inference_time"},
		"corb.ZoneCounts":    {"zone_id", "camera_id", "frame_seq", "capture_time", "count", "max_score"},
		"corb.PresenceEvent": {"event_id", "zone_id", "type", "count", "peak", "window_start", "window_end", "occupied_since", "duration", "event_time"},
		"corb.Command":       {"id", "command_type", "zone_id", "channel", "sender", "issued_at", "send_sms", "request_cleaning", "text"},
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}
