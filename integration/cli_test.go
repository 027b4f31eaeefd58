//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

const cliTopology = `namespace: %s
topics:
  - name: frames
    partitions: 2
    schema: corb.Frame
    configs: {max.message.bytes: "4194304"}
  - name: frames-hd
    schema: corb.Frame
    configs: {max.message.bytes: "4194304"}
`

// applyTopology creates the topics of the topology file in namespace ns (""
// = the file's own) on the broker, as `corb topology apply` does.
func applyTopology(t *testing.T, brokers []string, file, ns string) {
	t.Helper()
	spec, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	spec = spec.WithNamespace(ns)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(kafkatest.NewClient(t, brokers))
	plan, err := topology.MakePlan(ctx, adm, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Apply(ctx, adm, plan, topology.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// `corb ingest` sends to the topology's frames topic under its namespace (or
// --namespace, or another frames topic with --topic), and `corb tail` reads
// the frames back decoded: the names come from the topology, not from flags
// that happen to agree.
func TestIngestAndTailUseTheTopologysNames(t *testing.T) {
	vtest := detecttest.NeedFile(t, filepath.Join(detect.CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh")
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "cli")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(cliTopology, ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	applyTopology(t, brokers, file, "")
	applyTopology(t, brokers, file, ns+"-b")

	const frames = 3
	for _, c := range []struct {
		name         string
		ingest, tail []string // arguments of each
		topic        string   // the Kafka topic the frames must land on
	}{
		{"the topology's frames topic", nil, []string{"frames"}, ns + ".frames"},
		{"another frames topic", []string{"--topic", "frames-hd"}, []string{"frames-hd"}, ns + ".frames-hd"},
		{"another namespace", []string{"--namespace", ns + "-b"}, []string{"--namespace", ns + "-b", "frames"}, ns + "-b.frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"ingest", "--topology", file, "--brokers", brokers[0], "--camera", "gate",
				"--limit", fmt.Sprint(frames)}, c.ingest...)
			if err := startCorb(t, "ingest", append(args, vtest)...).wait(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			recs := kafkatest.ConsumeAll(t, brokers, c.topic, frames, 30*time.Second, true)
			if len(recs) != frames {
				t.Fatalf("%s holds %d records, want %d", c.topic, len(recs), frames)
			}
			for _, r := range recs {
				var f schemas.Frame
				if err := schemas.Unmarshal(r.Value, &f); err != nil || f.CameraID != "gate" || string(r.Key) != "gate" {
					t.Fatalf("%s[%d]@%d: key %q, frame of camera %q, %v; want camera gate", c.topic, r.Partition, r.Offset, r.Key, f.CameraID, err)
				}
			}

			// Read back by the logical name.
			topic := c.tail[len(c.tail)-1]
			p := startCorb(t, "tail", append([]string{"tail", "--topology", file, "--brokers", brokers[0], "--format", "json"}, c.tail...)...)
			if err := p.wait(time.Minute); err != nil {
				t.Fatal(err)
			}
			var seqs []string
			for _, l := range strings.Split(p.log.String(), "\n") {
				var rec struct {
					Topic string
					Value struct {
						CameraID string `json:"camera_id"`
						Seq      int64
					}
				}
				if !strings.HasPrefix(l, "{") {
					continue
				}
				if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Topic != topic || rec.Value.CameraID != "gate" {
					t.Fatalf("tail printed %q (%v); want a frame of camera gate on %s", l, err, topic)
				}
				seqs = append(seqs, fmt.Sprint(rec.Value.Seq))
			}
			if len(seqs) != frames {
				t.Fatalf("tail printed frames %v, want %d of them:\n%s", seqs, frames, p.log.String())
			}
		})
	}
}
