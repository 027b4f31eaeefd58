package presence_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/topology"
)

func TestPresenceConfigDecodes(t *testing.T) {
	n := configNode(t, `
size: 2s
advance: 1s
grace: 500ms
enter_after: 4s
vacate_after: 20s
stale_after: 1m
zones_file: /etc/corb/zones.yaml
`)
	var cfg presence.OperatorConfig
	if err := n.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := presence.OperatorConfig{Config: presence.Config{Size: 2 * time.Second, Advance: time.Second, Grace: 500 * time.Millisecond,
		EnterAfter: 4 * time.Second, VacateAfter: 20 * time.Second, StaleAfter: time.Minute}, ZonesFile: "/etc/corb/zones.yaml"}
	if cfg.Config.Size != want.Size || cfg.Advance != want.Advance || cfg.Grace != want.Grace || cfg.EnterAfter != want.EnterAfter ||
		cfg.VacateAfter != want.VacateAfter || cfg.StaleAfter != want.StaleAfter || cfg.ZonesFile != want.ZonesFile {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
}

func TestKindBuilds(t *testing.T) {
	zonesFile := "../../deploy/zones.yaml"
	tests := []struct {
		name, config   string
		outputs, state []string
		want           string // error text; "" for success
	}{
		{"default zones", "zones_file: " + zonesFile, []string{"events", "occupancy"}, []string{"presence-state"}, ""},
		{"events only", "zones_file: " + zonesFile + "\nstale_after: 5s", []string{"events"}, []string{"presence-state"}, ""},
		{"unknown key", "zones_file: " + zonesFile + "\nwindow: 2s", []string{"events"}, []string{"presence-state"}, "window"},
		{"bad duration", "zones_file: " + zonesFile + "\nsize: long", []string{"events"}, []string{"presence-state"}, "time.Duration"},
		{"advance > size", "zones_file: " + zonesFile + "\nsize: 1s\nadvance: 2s", []string{"events"}, []string{"presence-state"}, "advance"},
		{"missing zones file", "zones_file: /nonexistent/zones.yaml", []string{"events"}, []string{"presence-state"}, "nonexistent"},
		{"no state", "zones_file: " + zonesFile, []string{"events"}, nil, "takes 1 to 2 state topics"},
		{"three outputs", "zones_file: " + zonesFile, []string{"a", "b", "c"}, []string{"presence-state"}, "takes 1 to 2 outputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := &topology.Operator{Name: "presence", Kind: "presence", Inputs: []string{"zone-counts"}, Outputs: tt.outputs,
				State: tt.state, Config: configNode(t, tt.config)}
			got, err := presence.Kind().Build(context.Background(), kind.Env{Log: slog.New(slog.DiscardHandler)}, op)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error about %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got.(operators.Stateful); !ok {
				t.Error("not Stateful")
			}
			if _, ok := got.(operators.Ticker); !ok {
				t.Error("not a Ticker")
			}
			if _, ok := got.(operators.TableReader); !ok {
				t.Error("not a TableReader: the cleanings view would never reach it")
			}
		})
	}
}

func configNode(t *testing.T, src string) topology.ConfigNode {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[0].config")
}
