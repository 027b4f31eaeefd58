package rules_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/rules"
	"github.com/corb-dev/corb/topology"
)

const zonesFile = "../../deploy/zones.yaml"

var allTables = []string{"subscriptions", "usage", "cleanings"}

func TestKindBuilds(t *testing.T) {
	tests := []struct {
		name, config string
		tables       []string
		state        []string
		want         string // part of the error; "" for success
	}{
		{"defaults", "zones_file: " + zonesFile, allTables, []string{"rules-state"}, ""},
		{"everything", "zones_file: " + zonesFile + "\ncooldown: 5m\nquiet_hours: 22:00-07:00\ntimezone: Europe/London\nvisits: 20\nperson_minutes: 600\nhours_occupied: 8",
			allTables, []string{"rules-state"}, ""},
		{"subscriptions only, no policy", "zones_file: " + zonesFile, allTables[:1], []string{"rules-state"}, ""},
		{"policy without its tables", "zones_file: " + zonesFile + "\nvisits: 20", allTables[:1], []string{"rules-state"}, "need the usage and cleanings tables"},
		{"bad quiet hours", "zones_file: " + zonesFile + "\nquiet_hours: night", allTables, []string{"rules-state"}, "quiet_hours"},
		{"bad timezone", "zones_file: " + zonesFile + "\ntimezone: Atlantis", allTables, []string{"rules-state"}, "timezone"},
		{"unknown key", "zones_file: " + zonesFile + "\ncool_down: 5m", allTables, []string{"rules-state"}, "cool_down"},
		{"bad duration", "zones_file: " + zonesFile + "\ncooldown: soon", allTables, []string{"rules-state"}, "time.Duration"},
		{"missing zones file", "zones_file: /nonexistent/zones.yaml", allTables, []string{"rules-state"}, "nonexistent"},
		{"no state", "zones_file: " + zonesFile, allTables, nil, "takes 1 state topics"},
		{"no tables", "zones_file: " + zonesFile, nil, []string{"rules-state"}, "takes 1 to 3 tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rules.Kind().Build(context.Background(), kind.Env{Log: slog.New(slog.DiscardHandler)}, kindOperator(t, tt.config, tt.tables, tt.state))
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
			if _, ok := got.(operators.TableReader); !ok {
				t.Error("not a TableReader")
			}
		})
	}
}

func kindOperator(t *testing.T, config string, tables, state []string) *topology.Operator {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	return &topology.Operator{Name: "rules", Kind: "rules", Inputs: []string{"events"}, Outputs: []string{"commands", "subscriptions"},
		Tables: tables, State: state, Stateful: true, Config: topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[0].config")}
}
