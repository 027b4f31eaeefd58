package check

// Mutation tests: each check must fail on a broken copy of a manifest. Every
// mutation replaces text that must be in the file (else the test fails, so a
// change to the manifests cannot silently turn a mutation into a no-op), and
// expects an error that says what is wrong.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mutation replaces old (which must occur) with new in file, count times (-1: all).
type mutation struct {
	file, old, new string
	count          int
}

func apply(t *testing.T, content []byte, m mutation) []byte {
	t.Helper()
	s := string(content)
	if !strings.Contains(s, m.old) {
		t.Fatalf("mutation of %s: %q is not in it (the manifest changed: update the mutation)", m.file, m.old)
	}
	n := m.count
	if n == 0 {
		n = 1
	}
	return []byte(strings.Replace(s, m.old, m.new, n))
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the broken manifest passed; want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not say %q:\n%v", want, err)
	}
	t.Log(err)
}

// copyK8s copies deploy/k8s into a temporary folder and applies the mutations
// to files in it (paths relative to deploy/k8s); it returns the copy's root.
func copyK8s(t *testing.T, ms ...mutation) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "k8s")
	err := filepath.WalkDir(k8sDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(k8sDir, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		f := filepath.Join(dst, m.file)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, apply(t, raw, m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestKubeMutations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		overlay string // "" = base
		m       []mutation
		want    string
	}{
		{"unknown field in a Deployment", "",
			[]mutation{{file: "base/operators/zones.yaml", old: "revisionHistoryLimit: 3", new: "revisionHistoryLimt: 3"}},
			`unknown field "spec.revisionHistoryLimt"`},
		{"unknown field in a pod template", "",
			[]mutation{{file: "base/operators/detect.yaml", old: "readOnlyRootFilesystem: true", new: "readOnlyRootFileSystem: true"}},
			`unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"wrong type", "",
			[]mutation{{file: "base/operators/rules.yaml", old: "periodSeconds: 10", new: "periodSeconds: ten"}},
			"Deployment rules: json: cannot unmarshal string into Go struct field Probe"},
		{"duplicate field", "",
			[]mutation{{file: "base/operators/presence.yaml", old: "  revisionHistoryLimit: 3\n", new: "  revisionHistoryLimit: 3\n  revisionHistoryLimit: 4\n"}},
			`mapping key "revisionHistoryLimit" already defined`},
		{"replicas over partitions", "",
			[]mutation{{file: "base/operators/cleaning-report.yaml", old: "replicas: 1 ", new: "replicas: 4 "}},
			"Deployment cleaning-report has 4 replicas, more than the 3 partitions"},
		{"a missing operator", "",
			[]mutation{{file: "base/kustomization.yaml", old: "  - operators/rules.yaml\n", new: ""}},
			"operator rules of topology"},
		{"an operator the topology lacks", "",
			[]mutation{{file: "base/operators/zones.yaml", old: `args: ["run", "zones",`, new: `args: ["run", "zone",`}},
			`runs operator "zone", which topology`},
		{"readiness on /healthz", "",
			[]mutation{{file: "base/operators/detect.yaml", old: "path: /readyz", new: "path: /healthz"}},
			"readiness probe on /healthz, want /readyz"},
		{"scrape annotation on another port", "",
			[]mutation{{file: "base/operators/sms-out.yaml", old: `prometheus.io/port: "9464"`, new: `prometheus.io/port: "9090"`}},
			"Deployment sms-out: pod annotations prometheus.io"},
		{"no stable instance", "",
			[]mutation{{file: "base/operators/zones.yaml", old: "fieldPath: metadata.name", new: "fieldPath: spec.nodeName"}},
			"Deployment zones: CORB_INSTANCE must come from the pod's name"},
		{"the Secret shipped", "",
			[]mutation{{file: "base/kustomization.yaml", old: "  - sms-connector.yaml\n", new: "  - sms-connector.yaml\n  - secret.example.yaml\n"}},
			"the build holds Secret corb-twilio"},
		{"a Secret nobody creates", "",
			[]mutation{{file: "base/operators/sms-out.yaml", old: "name: corb-twilio", new: "name: twilio"}},
			"Secret twilio is neither in the build nor in secret.example.yaml"},
		{"no PodDisruptionBudget", "",
			[]mutation{{file: "base/operators/zones.yaml", old: "kind: PodDisruptionBudget\nmetadata:\n  name: zones\n  labels:\n    app.kubernetes.io/name: corb\n    app.kubernetes.io/component: zones\nspec:\n  # One replica at a time: every eviction is a rebalance of the group.\n  maxUnavailable: 1\n  # A replica without partitions is unready by design; it may always be evicted.\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: corb\n      app.kubernetes.io/component: zones",
				new: "kind: PodDisruptionBudget\nmetadata:\n  name: zones\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/component: nothing"}},
			"Deployment zones: no PodDisruptionBudget selects its pods"},
		{"the SMS connector without a Service", "",
			[]mutation{{file: "base/sms-connector.yaml", old: "targetPort: http", new: "targetPort: 9999"}},
			"no Service sends traffic to its webhook port"},
		{"the topology copy broken", "",
			[]mutation{{file: "base/files/topology.yaml", old: "  - name: commands               # the command bus", new: "  - name: commandz               # the command bus"}},
			`unknown topic "commands"`},
		{"no topology-apply Job", "",
			[]mutation{{file: "base/kustomization.yaml", old: "  - topology-apply.yaml\n", new: ""}},
			"want one Job running `corb topology apply`, found 0"},

		// KEDA, against its own CRD schema and the topology.
		{"maxReplicaCount over partitions", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "maxReplicaCount: 3   # commands has 3 partitions", new: "maxReplicaCount: 5   # commands has 3 partitions"}},
			"ScaledObject cleaning-report: maxReplicaCount 5 is more than the 3 partitions of cleaning-report's input"},
		{"unknown field in a ScaledObject", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "pollingInterval: 15", new: "pollingIntervall: 15"}},
			"spec.pollingIntervall"},
		{"wrong type in a ScaledObject", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "cooldownPeriod: 300", new: "cooldownPeriod: five minutes"}},
			"spec.cooldownPeriod"},
		{"a trigger without its type", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "    - type: kafka\n      metadata:\n        bootstrapServers: CORB_BROKERS   # replaced with corb-env's CORB_BROKERS (kustomization.yaml)\n        consumerGroup: corb.zones\n",
				new: "    - metadata:\n        bootstrapServers: CORB_BROKERS\n        consumerGroup: corb.zones\n"}},
			`spec.triggers[0].type: Required value`},
		{"KEDA's CEL rule min ≤ max", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "minReplicaCount: 1   # the topology's replicas\n  maxReplicaCount: 6   # events", new: "minReplicaCount: 7   # the topology's replicas\n  maxReplicaCount: 6   # events"}},
			"minReplicaCount must be less than or equal to maxReplicaCount"},
		{"scaled to zero", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "minReplicaCount: 1   # the topology's replicas\n  maxReplicaCount: 6   # events", new: "minReplicaCount: 0   # the topology's replicas\n  maxReplicaCount: 6   # events"}},
			"ScaledObject rules: minReplicaCount must be at least 1"},
		{"wrong consumer group", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "consumerGroup: corb.presence", new: "consumerGroup: presence"}},
			`consumerGroup "presence", want "corb.presence"`},
		{"wrong topic", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "topic: corb.detections", new: "topic: corb.zone-counts"}},
			`topic "corb.zone-counts" is not an input of zones`},
		{"unknown kafka scaler key", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: `lagThreshold: "200"`, new: `lagTreshold: "200"`}},
			`metadata key "lagTreshold" is not one of KEDA's kafka scaler`},
		{"a scaled Deployment keeps its replicas", "keda",
			[]mutation{{file: "components/keda/kustomization.yaml", old: "name: ^(detect|zones|presence|rules|cleaning-report|command-handlers)$", new: "name: ^(detect|presence|rules|cleaning-report|command-handlers)$"}},
			"Deployment zones sets replicas although a ScaledObject owns them"},
		{"a ScaledObject of nothing", "keda",
			[]mutation{{file: "components/keda/scaledobjects.yaml", old: "    name: rules\n  minReplicaCount", new: "    name: rulez\n  minReplicaCount"}},
			"targets Deployment rulez, which is not in the build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copyK8s(t, tc.m...)
			dir := filepath.Join(root, "base")
			if tc.overlay != "" {
				dir = filepath.Join(root, "overlays", tc.overlay)
			}
			_, err := checkBuild(t, root, dir)
			wantError(t, err, tc.want)
		})
	}
}

func TestCopyMutations(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(TopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	drifted := filepath.Join(dir, "topology.yaml")
	os.WriteFile(drifted, apply(t, raw, mutation{file: "topology.yaml", old: "retention.ms: \"86400000\"", new: "retention.ms: \"1000\""}), 0o644)
	var ce *copyError
	if err := sameFile(drifted, TopologyFile); err == nil || !strings.Contains(err.Error(), "cp deploy/") {
		t.Fatalf("a drifted copy: %v, want %T", err, ce)
	}

	gpu, err := os.ReadFile(filepath.Join(k8sDir, "components/gpu/topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := LoadTopology(TopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		mutation
		want string
	}{
		{mutation{file: "gpu topology", old: "  - name: frames                 # key = camera_id, JPEG frames\n    partitions: 6", new: "  - name: frames                 # key = camera_id, JPEG frames\n    partitions: 12"}, "topics differ"},
		{mutation{file: "gpu topology", old: "    on_failure: events-dlq", new: "    on_failure: events-dlq\n    replicas: 2"}, "operator rules differs"},
	} {
		spec, err := parseTopology(apply(t, gpu, m.mutation))
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, SameTopologyExcept(want, spec, "detect"), m.want)
	}
}

func TestComposeMutations(t *testing.T) {
	orig, err := os.ReadFile(ComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := LoadTopology(TopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    mutation
		want string
	}{
		{"a typo in a service", mutation{old: "    hostname: kafka\n", new: "    hostnme: kafka\n"}, "hostnme"},
		{"a wrong type", mutation{old: "      retries: 30\n", new: "      retries: thirty\n"}, "retries"},
		{"a missing operator", mutation{old: "  rules-0:\n    <<: *corb\n    command: [\"run\", \"rules\", \"--admin-addr=:9464\"]\n    environment: {<<: *corb-env, CORB_INSTANCE: \"0\"}\n", new: ""},
			"operator rules of topology ../topology.yaml has no compose service"},
		{"a replica too many", mutation{old: "  zones-0:\n", new: "  zones-2:\n    <<: *corb\n    command: [\"run\", \"zones\", \"--admin-addr=:9464\"]\n    environment: {<<: *corb-env, CORB_INSTANCE: \"2\"}\n  zones-0:\n"},
			"operator zones runs in 3 services (zones-0, zones-1, zones-2), the topology says 2 replicas"},
		{"replicas over partitions", mutation{old: "  command-handlers-0:\n", new: "  command-handlers-1:\n    <<: *corb\n    command: [\"run\", \"command-handlers\", \"--admin-addr=:9464\"]\n    environment: {<<: *corb-env, CORB_INSTANCE: \"1\"}\n    scale: 3\n  command-handlers-0:\n"},
			"runs 3 containers of command-handlers"},
		{"one instance twice", mutation{old: "    command: [\"run\", \"presence\", \"--admin-addr=:9464\"]\n    environment: {<<: *corb-env, CORB_INSTANCE: \"1\"}", new: "    command: [\"run\", \"presence\", \"--admin-addr=:9464\"]\n    environment: {<<: *corb-env, CORB_INSTANCE: \"0\"}"},
			`share CORB_INSTANCE "0"`},
		{"detect without ONNX Runtime", mutation{old: "    dockerfile: deploy/images/Dockerfile.detect\n", new: "    dockerfile: deploy/images/Dockerfile.slim\n"},
			"runs the detect kind in an image without ONNX Runtime"},
		{"a Twilio credential in the file", mutation{old: "      CORB_SMS_PUBLIC_URL:", new: "      TWILIO_AUTH_TOKEN: 0123456789abcdef\n      CORB_SMS_PUBLIC_URL:"},
			"TWILIO_AUTH_TOKEN is written in the compose file"},
		{"a mount of a missing file", mutation{old: "- ../zones.yaml:/etc/corb/zones.yaml:ro", new: "- ../zone.yaml:/etc/corb/zones.yaml:ro"},
			"zone.yaml does not exist"},
		{"brokers Kafka does not advertise", mutation{old: "  CORB_BROKERS: kafka:9092\n", new: "  CORB_BROKERS: kafka:9093\n"},
			"CORB_BROKERS kafka:9093 is not an advertised listener"},
		{"not KRaft", mutation{old: "KAFKA_PROCESS_ROLES: broker,controller", new: "KAFKA_PROCESS_ROLES: broker"},
			"want broker,controller"},
		{"operators before the topics", mutation{old: "      condition: service_completed_successfully\n", new: "      condition: service_started\n"},
			"must start after topology-apply completed"},
		{"healthcheck on another port", mutation{old: "exec 3<>/dev/tcp/127.0.0.1/9465", new: "exec 3<>/dev/tcp/127.0.0.1/9464"},
			"service sms-connector: its healthcheck must ask /healthz on its admin port 9465"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.file = ComposeFile
			p, err := LoadCompose(context.Background(), ComposeFile, apply(t, orig, tc.m))
			if err == nil {
				err = CheckCompose(p, spec)
			}
			wantError(t, err, tc.want)
		})
	}
}

func TestPrometheusMutations(t *testing.T) {
	p, err := LoadCompose(context.Background(), ComposeFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	defined, err := DefinedMetrics(RepoRoot)
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, file string, m mutation) string {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m.file = file
		out := filepath.Join(t.TempDir(), filepath.Base(file))
		if err := os.WriteFile(out, apply(t, raw, m), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	config := func(t *testing.T, m mutation) error {
		c, err := LoadPromConfig(write(t, PrometheusConfig, m))
		if err != nil {
			return err
		}
		return CheckPrometheus(c, p)
	}
	rules := func(t *testing.T, m mutation) error {
		_, err := CheckRules(write(t, PrometheusAlerts, m), defined)
		return err
	}
	t.Run("a replica not scraped", func(t *testing.T) {
		wantError(t, config(t, mutation{old: "[detect-0:9464, detect-1:9464]", new: "[detect-0:9464]"}), "no job scrapes detect-1:9464")
	})
	t.Run("a target that is no service", func(t *testing.T) {
		wantError(t, config(t, mutation{old: "[rules-0:9464]", new: "[rules-0:9464, rules-1:9464]"}), "target rules-1:9464 is no service")
	})
	t.Run("a misspelt key", func(t *testing.T) {
		wantError(t, config(t, mutation{old: "scrape_configs:", new: "scrape_config:"}), "field scrape_config not found")
	})
	t.Run("a bad PromQL expression", func(t *testing.T) {
		wantError(t, rules(t, mutation{old: "expr: sum by (operator) (corb_consumer_lag) > 1000", new: "expr: sum by (operator) (corb_consumer_lag > 1000"}), "CorbConsumerLagHigh")
	})
	t.Run("a metric Corb does not define", func(t *testing.T) {
		wantError(t, rules(t, mutation{old: "corb_detect_frames_skipped_total", new: "corb_detect_frames_dropped_total"}), "queries corb_detect_frames_dropped_total, which no Go source of Corb defines")
	})
	t.Run("grafana's data source elsewhere", func(t *testing.T) {
		wantError(t, CheckGrafana(p, write(t, GrafanaDatasource, mutation{old: "http://prometheus:9090", new: "http://prom:9090"}), GrafanaDashboards), "data source Prometheus at http://prom:9090")
	})
	t.Run("grafana's dashboards elsewhere", func(t *testing.T) {
		wantError(t, CheckGrafana(p, GrafanaDatasource, write(t, GrafanaDashboards, mutation{old: "path: /var/lib/grafana/dashboards/corb", new: "path: /var/lib/grafana/dashboards"})), "corb.json is not mounted in a folder a dashboards provider reads")
	})
}

func TestDockerfileMutations(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		m          mutation
		want       string
	}{
		{"COPY of a missing file", "Dockerfile.slim", mutation{old: "COPY deploy/topology.yaml deploy/zones.yaml deploy/directory.yaml /etc/corb/", new: "COPY deploy/topology.yaml deploy/zone.yaml deploy/directory.yaml /etc/corb/"},
			"COPY source deploy/zone.yaml does not exist"},
		{"COPY of a file the ignore file leaves out", "Dockerfile.detect", mutation{old: "COPY topology ./topology\n", new: "COPY topology ./topology\nCOPY integration ./integration\n"},
			"COPY source integration is left out of the context by"},
		{"COPY --from a stage that is not there", "Dockerfile.detect", mutation{old: "COPY --from=ort /libonnxruntime.so.1", new: "COPY --from=onnx /libonnxruntime.so.1"},
			"COPY --from=onnx: no earlier stage"},
		{"an unknown instruction", "Dockerfile.slim", mutation{old: "WORKDIR /src", new: "WORKDRI /src"},
			"unknown instruction"},
		{"a lint warning", "Dockerfile.detect-cuda", mutation{old: "FROM ubuntu:24.04 AS build", new: "FROM ubuntu:24.04 as build"},
			"FromAsCasing"},
		{"an undefined variable", "Dockerfile.detect-cuda", mutation{old: "ENV PATH=/usr/local/go/bin:$PATH", new: "ENV PATH=/usr/local/go/bin:$GOPATH/bin:$PATH"},
			"UndefinedVar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(ImagesDir, tc.file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.m.file = path
			dt := apply(t, raw, tc.m)
			wantError(t, checkDockerfile(path, dt), tc.want)
		})
	}
}
