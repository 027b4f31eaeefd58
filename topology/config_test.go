package topology_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/topology"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

type detectConfig struct {
	Model     string        `yaml:"model"`
	Threshold float64       `yaml:"threshold"`
	Batch     int           `yaml:"batch"`
	MaxWait   time.Duration `yaml:"max_wait"`
	Classes   []struct {
		ID    int    `yaml:"id"`
		Label string `yaml:"label"`
	} `yaml:"classes"`
}

func configSpec(cfg string) string {
	return base + "    config:\n" + cfg
}

func TestConfigDecode(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		kind error
		want string
	}{
		{"ok", "      model: nanodet\n      threshold: 0.4\n      max_wait: 50ms\n      classes: [{id: 0, label: person}]\n", nil, ""},
		{"unknown field", "      model: nanodet\n      treshold: 0.4\n", topology.ErrUnknownField,
			`topology.yaml:20:7: operators[0].config.treshold: unknown field "treshold" (known: batch, classes, max_wait, model, threshold)`},
		{"unknown nested field", "      classes: [{id: 0, lable: person}]\n", topology.ErrUnknownField,
			`topology.yaml:19:25: operators[0].config.classes[0].lable: unknown field "lable" (known: id, label)`},
		{"wrong type", "      batch: many\n", topology.ErrType,
			"topology.yaml:19: operators[0].config: cannot unmarshal !!str `many` into int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topology.Parse("topology.yaml", []byte(configSpec(tt.cfg)))
			if err != nil {
				t.Fatal(err)
			}
			op, _ := s.Operator("detect")
			var c detectConfig
			err = op.Config.Decode(&c)
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c.Model != "nanodet" || c.Threshold != 0.4 || c.MaxWait != 50*time.Millisecond || len(c.Classes) != 1 || c.Classes[0].Label != "person" {
					t.Errorf("decoded %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.kind)
			}
			if err == nil || strings.TrimSpace(err.Error()) != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	var zero topology.ConfigNode
	c := detectConfig{Batch: 7}
	if err := zero.Decode(&c); err != nil || c.Batch != 7 {
		t.Errorf("absent config: err %v, batch %d (want untouched)", err, c.Batch)
	}
}
