package check

import (
	"context"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/corb-dev/corb/topology"
)

func loadComposeForTest() (*types.Project, error) {
	return LoadCompose(context.Background(), ComposeFile, nil)
}

func parseTopology(data []byte) (*topology.Spec, error) { return topology.Parse("topology.yaml", data) }

func TestCompose(t *testing.T) {
	p, err := loadComposeForTest()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := LoadTopology(TopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCompose(p, spec); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["dashboard"]; !ok {
		t.Error("the dashboard service (behind its profile) is not loaded")
	}
}
