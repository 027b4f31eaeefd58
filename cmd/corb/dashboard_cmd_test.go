package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/connectors/dashboard"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

// `corb dashboard` on a kfake bus: it serves the page and the state read
// from the topology's topics (a text sent with `corb command send` shows in
// the conversation), and its admin endpoint, and stops with its context.
func TestDashboardServesTheBus(t *testing.T) {
	f := newBusFixture(t)
	listen, adminAddr := freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		_, err := runApp(ctx, "dashboard", "--listen", listen, "--admin-addr", adminAddr, "--topology", f.file,
			"--brokers", f.brokers, "--zones", "../../deploy/zones.yaml", "--log-level", "error")
		served <- err
	}()
	if _, err := runApp(ctx, "command", "send", "send_sms", "--topology", f.file, "--brokers", f.brokers,
		"--arg", "to=+15550001", "--arg", "body=Lawn is free again"); err != nil {
		t.Fatal(err)
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var state struct {
		Config struct {
			Namespace string
			Cameras   []struct{ Camera string }
		}
		Conversation []struct{ Phone, Text, Status string }
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-served:
			t.Fatalf("dashboard stopped: %v", err)
		default:
		}
		if code, body := get("http://" + listen + "/state"); code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &state); err != nil {
				t.Fatal(err)
			}
			if len(state.Conversation) == 1 {
				break
			}
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no conversation in the state: %+v", state)
		}
	}
	if c := state.Conversation[0]; c.Phone != "+15550001" || c.Text != "Lawn is free again" || c.Status != "queued" {
		t.Errorf("conversation %+v", state.Conversation)
	}
	if state.Config.Namespace != "bus" || len(state.Config.Cameras) != 1 || state.Config.Cameras[0].Camera != "vtest" {
		t.Errorf("config %+v, want namespace bus and the zones of vtest", state.Config)
	}
	if code, body := get("http://" + listen + "/"); code != http.StatusOK || !strings.Contains(body, "<canvas id=\"timeline\"") {
		t.Errorf("the page: %d %.200s", code, body)
	}
	if code, body := get("http://" + adminAddr + "/readyz"); code != http.StatusOK || !strings.Contains(body, "kafka: ready") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("dashboard: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dashboard does not stop with its context")
	}
}

func TestDashboardNeedsATokenOffLoopback(t *testing.T) {
	file := testTopology(t, "site")
	for _, c := range []struct {
		listen string
		env    string
	}{{"0.0.0.0:0", ""}, {":0", ""}} {
		t.Setenv("CORB_DASHBOARD_TOKEN", c.env)
		_, err := runApp(context.Background(), "dashboard", "--listen", c.listen, "--topology", file, "--brokers", "127.0.0.1:1",
			"--zones", "../../deploy/zones.yaml")
		if !errors.Is(err, dashboard.ErrTokenRequired) {
			t.Errorf("--listen %s without a token: %v, want ErrTokenRequired", c.listen, err)
		}
	}
}

// The dashboard reads the default topology's topics by their names, every
// dead-letter topic among them.
func TestDashboardTopicsOfTheDefaultTopology(t *testing.T) {
	spec, err := topology.Load("../../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ts := dashboardTopics(spec.WithNamespace("b1"))
	for name, got := range map[string]dashboard.Topic{"frames": ts.Frames, "detections": ts.Detections, "events": ts.Events,
		"occupancy": ts.Occupancy, "commands": ts.Commands, "sms-sent": ts.SMSSent, "sms-status": ts.SMSStatus} {
		if got.Logical != name || got.Physical != "b1."+name {
			t.Errorf("%s: %+v", name, got)
		}
	}
	var dlq []string
	for _, d := range ts.DeadLetters {
		dlq = append(dlq, d.Logical)
	}
	if got := strings.Join(dlq, " "); got != "frames-dlq detections-dlq zone-counts-dlq events-dlq commands-dlq" {
		t.Errorf("dead letters %s", got)
	}
	small, err := topology.Load(testTopology(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := dashboardTopics(small).SMSStatus; got != (dashboard.Topic{}) {
		t.Errorf("a topic the topology lacks is read: %+v", got)
	}
}

// The outlines drawn are the zones the zones operator counts with.
func TestTopologyZonesFile(t *testing.T) {
	dir := t.TempDir()
	write := func(src string) *topology.Spec {
		file := filepath.Join(dir, "topology.yaml")
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := topology.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	base := "namespace: z\ntopics:\n  - {name: d, schema: corb.Detections}\n  - {name: c, schema: corb.ZoneCounts}\n  - {name: dlq, schema: bytes}\n"
	withFile := write(base + "operators:\n  - {name: zones, kind: zones, inputs: [d], outputs: [c], on_failure: dlq, config: {zones_file: /etc/corb/zones.yaml}}\n")
	without := write(base)
	t.Setenv(zones.FileEnv, "")
	if got := topologyZonesFile(withFile); got != "/etc/corb/zones.yaml" {
		t.Errorf("with zones_file: %q", got)
	}
	if got := topologyZonesFile(without); got != zones.DefaultFile {
		t.Errorf("without a zones operator: %q, want %q", got, zones.DefaultFile)
	}
	t.Setenv(zones.FileEnv, "/srv/zones.yaml")
	if got := topologyZonesFile(without); got != "/srv/zones.yaml" {
		t.Errorf("with %s: %q", zones.FileEnv, got)
	}
}
