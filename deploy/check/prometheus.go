package check

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// Files of deploy/prometheus and deploy/grafana, relative to deploy/check.
const (
	PrometheusConfig  = "../prometheus/prometheus.yml"
	PrometheusAlerts  = "../prometheus/alerts.yml"
	PrometheusK8s     = "../prometheus/k8s-scrape.yml"
	GrafanaDatasource = "../grafana/provisioning/datasources/prometheus.yml"
	GrafanaDashboards = "../grafana/provisioning/dashboards/corb.yml"
)

// strictYAML decodes YAML refusing fields that v does not declare.
func strictYAML(file string, v any) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// PromConfig is the part of Prometheus's configuration Corb's files use.
// Decoding is strict, so a misspelt key fails here; the values are checked
// by CheckPrometheus. (Prometheus's own config package drags in every service
// discovery's SDK; its PromQL parser, used for the rules, does not.)
type PromConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
		KubernetesSDConfigs []struct {
			Role       string `yaml:"role"`
			Namespaces struct {
				Names []string `yaml:"names"`
			} `yaml:"namespaces"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []struct {
			SourceLabels []string `yaml:"source_labels"`
			Regex        string   `yaml:"regex"`
			Replacement  string   `yaml:"replacement"`
			TargetLabel  string   `yaml:"target_label"`
			Action       string   `yaml:"action"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

// LoadPromConfig decodes a Prometheus configuration strictly.
func LoadPromConfig(file string) (*PromConfig, error) {
	c := &PromConfig{}
	if err := strictYAML(file, c); err != nil {
		return nil, err
	}
	var errs []error
	for _, sc := range c.ScrapeConfigs {
		if sc.JobName == "" {
			errs = append(errs, fmt.Errorf("%s: a scrape config without job_name", file))
		}
		for _, r := range sc.RelabelConfigs {
			if _, err := regexp.Compile("^(?s:" + r.Regex + ")$"); err != nil {
				errs = append(errs, fmt.Errorf("%s: job %s: relabel regex %q: %w", file, sc.JobName, r.Regex, err))
			}
			switch r.Action {
			case "", "replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal":
			default:
				errs = append(errs, fmt.Errorf("%s: job %s: relabel action %q is not Prometheus's", file, sc.JobName, r.Action))
			}
		}
		for _, sd := range sc.KubernetesSDConfigs {
			switch sd.Role {
			case "pod", "service", "endpoints", "endpointslice", "node", "ingress":
			default:
				errs = append(errs, fmt.Errorf("%s: job %s: kubernetes_sd_configs role %q", file, sc.JobName, sd.Role))
			}
		}
	}
	return c, errors.Join(errs...)
}

// CheckPrometheus checks the compose stack's Prometheus against the compose
// project: every Corb service that serves metrics (one not behind a profile)
// is scraped on its admin port, every target is a service of the project (or
// Prometheus itself), and every rule file is mounted where it is read.
func CheckPrometheus(c *PromConfig, p *types.Project) error {
	var errs []error
	targets := map[string]string{} // host:port → job
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				host, _, err := net.SplitHostPort(t)
				if err != nil {
					errs = append(errs, fmt.Errorf("prometheus: job %s: target %q: %w", sc.JobName, t, err))
					continue
				}
				if _, ok := p.Services[host]; !ok && host != "localhost" {
					errs = append(errs, fmt.Errorf("prometheus: job %s: target %s is no service of the compose file", sc.JobName, t))
				}
				targets[t] = sc.JobName
			}
		}
	}
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := p.Services[n]
		if !isCorb(s) || len(s.Profiles) > 0 {
			continue
		}
		port, ok := composeAdminPort(s.Command)
		if !ok {
			continue // the one-shot topology-apply
		}
		if _, ok := targets[net.JoinHostPort(n, port)]; !ok {
			errs = append(errs, fmt.Errorf("prometheus: compose service %s serves /metrics on %s, but no job scrapes %s:%s", n, port, n, port))
		}
	}
	prom, ok := p.Services["prometheus"]
	if !ok {
		return errors.Join(append(errs, errors.New("compose: no prometheus service"))...)
	}
	for _, rf := range c.RuleFiles {
		if !mounted(prom, rf) {
			errs = append(errs, fmt.Errorf("prometheus: rule file %s is not mounted into the prometheus service", rf))
		}
	}
	if !slices.Contains(prom.Command, "--config.file=/etc/prometheus/prometheus.yml") || !mounted(prom, "/etc/prometheus/prometheus.yml") {
		errs = append(errs, errors.New("prometheus: the service must read /etc/prometheus/prometheus.yml, mounted from deploy/prometheus"))
	}
	return errors.Join(errs...)
}

// mounted reports whether a bind mount of the service puts a file at target.
func mounted(s types.ServiceConfig, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && (v.Target == target || strings.HasPrefix(target, strings.TrimSuffix(v.Target, "/")+"/")) {
			return true
		}
	}
	return false
}

// RuleFile is a Prometheus rule file, decoded strictly.
type RuleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// CheckRules decodes a rule file strictly, parses every expression with
// Prometheus's PromQL parser, and checks that every metric it names is one
// that Corb's Go sources define (defined), as the dashboard's test does.
func CheckRules(file string, defined map[string]bool) (alerts []string, err error) {
	var rf RuleFile
	if err := strictYAML(file, &rf); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			switch {
			case (r.Alert == "") == (r.Record == ""):
				errs = append(errs, fmt.Errorf("%s: group %s: a rule needs exactly one of alert and record", file, g.Name))
			case seen[name]:
				errs = append(errs, fmt.Errorf("%s: rule %s twice", file, name))
			}
			seen[name] = true
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
				if r.Annotations["summary"] == "" {
					errs = append(errs, fmt.Errorf("%s: alert %s has no summary", file, name))
				}
			}
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", file, name, err))
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok || !strings.HasPrefix(vs.Name, "corb_") {
					return nil
				}
				if !defined[metricBase(vs.Name, defined)] {
					errs = append(errs, fmt.Errorf("%s: %s queries %s, which no Go source of Corb defines", file, name, vs.Name))
				}
				return nil
			})
		}
	}
	if len(alerts) == 0 {
		errs = append(errs, fmt.Errorf("%s: no alerts", file))
	}
	return alerts, errors.Join(errs...)
}

func metricBase(m string, defined map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(m, suffix); ok && defined[b] {
			return b
		}
	}
	return m
}

// DefinedMetrics are the metric names Corb's Go sources (not their tests)
// define, as Name: "corb_…" in Prometheus options.
func DefinedMetrics(root string) (map[string]bool, error) {
	defined := map[string]bool{}
	name := regexp.MustCompile(`Name: +"(corb_[a-z_]+)"`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return err
	})
	if len(defined) == 0 && err == nil {
		err = fmt.Errorf("no corb_ metric defined under %s", root)
	}
	return defined, err
}

// CheckGrafana checks Grafana's provisioning against the compose project: the
// data source is the prometheus service, the dashboards provider reads the
// folder corb.json is mounted in, and the provisioning folder is mounted
// where Grafana reads it.
func CheckGrafana(p *types.Project, datasources, dashboards string) error {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string `yaml:"name"`
			UID       string `yaml:"uid"`
			Type      string `yaml:"type"`
			Access    string `yaml:"access"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
			Editable  bool   `yaml:"editable"`
		} `yaml:"datasources"`
	}
	var db struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := strictYAML(datasources, &ds); err != nil {
		return err
	}
	if err := strictYAML(dashboards, &db); err != nil {
		return err
	}
	var errs []error
	g, ok := p.Services["grafana"]
	if !ok {
		return errors.New("compose: no grafana service")
	}
	if !mounted(g, "/etc/grafana/provisioning/datasources") {
		errs = append(errs, errors.New("grafana: deploy/grafana/provisioning is not mounted at /etc/grafana/provisioning"))
	}
	defaults := 0
	for _, d := range ds.Datasources {
		if d.IsDefault {
			defaults++
		}
		if d.Type != "prometheus" {
			continue
		}
		host, port := "", ""
		if u := strings.TrimPrefix(d.URL, "http://"); u != d.URL {
			host, port, _ = net.SplitHostPort(u)
		}
		if _, ok := p.Services[host]; !ok || port != "9090" {
			errs = append(errs, fmt.Errorf("grafana: data source %s at %s, want http://<the prometheus service>:9090", d.Name, d.URL))
		}
	}
	if defaults != 1 {
		errs = append(errs, fmt.Errorf("grafana: %d default data sources: the dashboard's datasource variable picks the default one, so want one", defaults))
	}
	dashboardMounted := false
	for _, v := range g.Volumes {
		if filepath.Base(v.Source) == "corb.json" {
			for _, pr := range db.Providers {
				if pr.Options.Path == path.Dir(v.Target) {
					dashboardMounted = true
				}
			}
		}
	}
	if !dashboardMounted {
		errs = append(errs, errors.New("grafana: corb.json is not mounted in a folder a dashboards provider reads"))
	}
	return errors.Join(errs...)
}
