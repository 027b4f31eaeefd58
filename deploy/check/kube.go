package check

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Build runs kustomize (krusty, with kustomize's default options: the root-only
// load restrictor that kubectl -k uses too) on the kustomization in dir, on
// disk, and returns every resource as YAML.
func Build(dir string) ([][]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out [][]byte
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, y)
	}
	return out, nil
}

// Manifests are the resources of one kustomize build, decoded.
type Manifests struct {
	Deployments     []*appsv1.Deployment
	Jobs            []*batchv1.Job
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	PDBs            []*policyv1.PodDisruptionBudget
	ServiceAccounts []*corev1.ServiceAccount
	Namespaces      []*corev1.Namespace
	// ScaledObjects (keda.sh/v1alpha1) are not Kubernetes API types: they are
	// checked against KEDA's CRD schema (see CRD).
	ScaledObjects []*unstructured.Unstructured
}

// strictDecoder decodes YAML into the Kubernetes API types of client-go's
// scheme, refusing unknown and duplicate fields, as the API server does with
// kubectl's default --validate=strict.
var strictDecoder = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// Decode decodes every resource strictly into its API type. A kind this
// package does not know is an error, so that nothing goes unchecked.
func Decode(docs [][]byte) (*Manifests, error) {
	m := &Manifests{}
	var errs []error
	for _, doc := range docs {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, err)
			continue
		}
		gvk := tm.GroupVersionKind()
		if gvk == scaledObjectGVK {
			// As the API server reads a custom resource: JSON, integers as int64.
			j, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, nameOf(doc), err))
				continue
			}
			obj, _, err := unstructured.UnstructuredJSONScheme.Decode(j, nil, nil)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, nameOf(doc), err))
				continue
			}
			m.ScaledObjects = append(m.ScaledObjects, obj.(*unstructured.Unstructured))
			continue
		}
		obj, _, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, nameOf(doc), err))
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.Deployments = append(m.Deployments, o)
		case *batchv1.Job:
			m.Jobs = append(m.Jobs, o)
		case *corev1.Service:
			m.Services = append(m.Services, o)
		case *corev1.ConfigMap:
			m.ConfigMaps = append(m.ConfigMaps, o)
		case *corev1.Secret:
			m.Secrets = append(m.Secrets, o)
		case *policyv1.PodDisruptionBudget:
			m.PDBs = append(m.PDBs, o)
		case *corev1.ServiceAccount:
			m.ServiceAccounts = append(m.ServiceAccounts, o)
		case *corev1.Namespace:
			m.Namespaces = append(m.Namespaces, o)
		default:
			errs = append(errs, fmt.Errorf("%s %s: a kind deploy/check does not check", gvk, nameOf(doc)))
		}
	}
	return m, errors.Join(errs...)
}

// DecodeFile decodes one manifest file (which may hold several documents).
func DecodeFile(path string) (*Manifests, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs [][]byte
	for _, d := range bytes.Split(raw, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	return Decode(docs)
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

func nameOf(doc []byte) string {
	var om struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &om)
	return om.Metadata.Name
}

// ConfigMap returns the ConfigMap whose name, before kustomize's hash suffix, is name.
func (m *Manifests) ConfigMap(name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Name == name || strings.HasPrefix(c.Name, name+"-") && len(c.Name) == len(name)+11 {
			return c
		}
	}
	return nil
}

// Deployment returns the Deployment named name.
func (m *Manifests) Deployment(name string) *appsv1.Deployment {
	for _, d := range m.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// The admin port every Corb container serves /metrics, /healthz and /readyz on:
// its --admin-addr=:PORT argument.
func adminPort(c *corev1.Container) (int32, error) {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--admin-addr="); ok {
			var p int32
			if _, err := fmt.Sscanf(v, ":%d", &p); err != nil || p <= 0 {
				return 0, fmt.Errorf("container %s: --admin-addr=%s: want :PORT", c.Name, v)
			}
			return p, nil
		}
	}
	return 0, fmt.Errorf("container %s: no --admin-addr=:PORT argument (the admin port must be explicit)", c.Name)
}

// corbContainer is the pod's container named corb.
func corbContainer(spec *corev1.PodSpec) (*corev1.Container, error) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "corb" {
			return &spec.Containers[i], nil
		}
	}
	return nil, errors.New("no container named corb")
}

// portNumber resolves a probe's or Service's port (a number or a container port's name).
func portNumber(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// checkServer checks what every long-running Corb pod needs: probes on the
// admin port (/healthz for startup and liveness, /readyz for readiness), the
// admin port declared and annotated for Prometheus, resources, a non-root user,
// and the ConfigMaps and Secrets it names present (Secrets: in secrets).
func checkServer(m *Manifests, kind, name string, tpl *corev1.PodTemplateSpec, secrets map[string]bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %s: "+format, append([]any{kind, name}, args...)...))
	}
	c, err := corbContainer(&tpl.Spec)
	if err != nil {
		fail("%v", err)
		return errs
	}
	port, err := adminPort(c)
	if err != nil {
		fail("%v", err)
		return errs
	}
	probe := func(what string, p *corev1.Probe, path string) {
		switch {
		case p == nil:
			fail("no %s probe", what)
		case p.HTTPGet == nil:
			fail("%s probe is not an HTTP GET", what)
		case p.HTTPGet.Path != path:
			fail("%s probe on %s, want %s", what, p.HTTPGet.Path, path)
		case portNumber(c, p.HTTPGet.Port) != port:
			fail("%s probe on port %s, want the admin port %d", what, p.HTTPGet.Port.String(), port)
		}
	}
	probe("startup", c.StartupProbe, "/healthz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == port }) {
		fail("the admin port %d is not a container port", port)
	}
	ann := tpl.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != fmt.Sprint(port) || ann["prometheus.io/path"] != "/metrics" {
		fail("pod annotations prometheus.io/{scrape,port,path} = %q, %q, %q; want \"true\", \"%d\", \"/metrics\"",
			ann["prometheus.io/scrape"], ann["prometheus.io/port"], ann["prometheus.io/path"], port)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		fail("container corb needs CPU and memory requests and a memory limit")
	}
	if sc := tpl.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		fail("pod does not set runAsNonRoot")
	}
	errs = append(errs, checkRefs(m, kind, name, &tpl.Spec, secrets)...)
	return errs
}

// checkRefs checks that the ConfigMaps a pod mounts or reads are in the build
// and the Secrets it reads are among secrets (created outside the build).
func checkRefs(m *Manifests, kind, name string, spec *corev1.PodSpec, secrets map[string]bool) []error {
	var errs []error
	cm := func(n string) {
		if m.ConfigMap(n) == nil {
			errs = append(errs, fmt.Errorf("%s %s: ConfigMap %s is not in the build", kind, name, n))
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			cm(v.ConfigMap.Name)
		}
	}
	for _, c := range spec.Containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				cm(e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil && !secrets[e.SecretRef.Name] {
				errs = append(errs, fmt.Errorf("%s %s: Secret %s is neither in the build nor in secret.example.yaml", kind, name, e.SecretRef.Name))
			}
		}
		for _, vm := range c.VolumeMounts {
			if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
				errs = append(errs, fmt.Errorf("%s %s: volume mount %s has no volume", kind, name, vm.Name))
			}
		}
	}
	if spec.ServiceAccountName != "" && !slices.ContainsFunc(m.ServiceAccounts, func(s *corev1.ServiceAccount) bool { return s.Name == spec.ServiceAccountName }) {
		errs = append(errs, fmt.Errorf("%s %s: ServiceAccount %s is not in the build", kind, name, spec.ServiceAccountName))
	}
	return errs
}

// pdbCovers reports whether a PodDisruptionBudget selects the pods of tpl.
func (m *Manifests) pdbCovers(tpl *corev1.PodTemplateSpec) bool {
	for _, p := range m.PDBs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(tpl.Labels)) {
			return true
		}
	}
	return false
}

// runs reports the operator a Corb container runs: args ["run", NAME, ...].
func runs(c *corev1.Container) (string, bool) {
	if len(c.Args) >= 2 && c.Args[0] == "run" {
		return c.Args[1], true
	}
	return "", false
}
