package check

import (
	"context"
	"testing"
)

func TestPrometheus(t *testing.T) {
	p, err := LoadCompose(context.Background(), ComposeFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadPromConfig(PrometheusConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPrometheus(c, p); err != nil {
		t.Error(err)
	}
	if _, err := LoadPromConfig(PrometheusK8s); err != nil {
		t.Error(err)
	}
	if err := CheckGrafana(p, GrafanaDatasource, GrafanaDashboards); err != nil {
		t.Error(err)
	}
}

func TestAlerts(t *testing.T) {
	defined, err := DefinedMetrics(RepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := CheckRules(PrometheusAlerts, defined)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d alerts over %d metrics Corb defines", len(alerts), len(defined))
}
