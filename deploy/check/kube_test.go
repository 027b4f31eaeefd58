package check

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const k8sDir = "../k8s"

// kustomizations are every directory of deploy/k8s that kubectl -k may be
// pointed at: the base and each overlay.
func kustomizations(t *testing.T) []string {
	t.Helper()
	dirs := []string{filepath.Join(k8sDir, "base")}
	overlays, err := filepath.Glob(filepath.Join(k8sDir, "overlays", "*", "kustomization.yaml"))
	if err != nil || len(overlays) == 0 {
		t.Fatalf("no overlays under %s/overlays (%v)", k8sDir, err)
	}
	for _, o := range overlays {
		dirs = append(dirs, filepath.Dir(o))
	}
	return dirs
}

var loadCRD = sync.OnceValues(func() (*CRD, error) { return LoadCRD(KEDACRDFile, KEDAKafkaMetadataFile) })

func crd(t *testing.T) *CRD {
	t.Helper()
	c, err := loadCRD()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// secretNames are the Secrets the cluster's operator creates: those of
// base/secret.example.yaml, itself decoded strictly.
func secretNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	m, err := DecodeFile(filepath.Join(dir, "base", "secret.example.yaml"))
	if err != nil {
		t.Fatalf("secret.example.yaml: %v", err)
	}
	names := map[string]bool{}
	for _, s := range m.Secrets {
		names[s.Name] = true
	}
	if len(names) == 0 {
		t.Fatal("secret.example.yaml holds no Secret")
	}
	return names
}

// checkBuild builds the kustomization in dir and runs every check on it; k8s
// is the deploy/k8s tree it belongs to.
func checkBuild(t *testing.T, k8s, dir string) (*Manifests, error) {
	t.Helper()
	docs, err := Build(dir)
	if err != nil {
		return nil, err
	}
	m, err := Decode(docs)
	if err != nil {
		return m, err
	}
	spec, err := m.Topology()
	if err != nil {
		return m, err
	}
	return m, CheckKube(m, spec, crd(t), secretNames(t, k8s))
}

func TestKustomizeBuilds(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := checkBuild(t, k8sDir, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Deployments) == 0 {
				t.Fatal("no Deployments")
			}
			t.Logf("%d Deployments, %d ScaledObjects, %d ConfigMaps, %d PDBs", len(m.Deployments), len(m.ScaledObjects), len(m.ConfigMaps), len(m.PDBs))
		})
	}
}

// The overlays do what their names say.
func TestOverlays(t *testing.T) {
	build := func(name string) *Manifests {
		m, err := checkBuild(t, k8sDir, filepath.Join(k8sDir, "overlays", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	for _, name := range []string{"gpu", "gpu-keda"} {
		m := build(name)
		d := m.Deployment("detect")
		c, _ := corbContainer(&d.Spec.Template.Spec)
		if q := c.Resources.Limits["nvidia.com/gpu"]; q.Value() != 1 {
			t.Errorf("%s: detect asks for %v nvidia.com/gpu, want 1", name, q.String())
		}
		if !strings.HasPrefix(c.Image, "corb/detect-cuda:") {
			t.Errorf("%s: detect runs %s, want corb/detect-cuda", name, c.Image)
		}
		if d.Spec.Template.Spec.NodeSelector["nvidia.com/gpu.present"] != "true" || len(d.Spec.Template.Spec.Tolerations) == 0 {
			t.Errorf("%s: detect is not kept to GPU nodes", name)
		}
		spec, err := m.Topology()
		if err != nil {
			t.Fatal(err)
		}
		op, _ := spec.Operator("detect")
		var cfg struct{ Provider, Fallback string }
		if err := op.Config.Decode(&cfg); err != nil || cfg.Provider != "cuda" {
			t.Errorf("%s: the topology's detect has provider %q (%v), want cuda", name, cfg.Provider, err)
		}
	}
	for _, name := range []string{"keda", "gpu-keda"} {
		if m := build(name); len(m.ScaledObjects) == 0 {
			t.Errorf("%s: no ScaledObjects", name)
		}
	}
	base, err := checkBuild(t, k8sDir, filepath.Join(k8sDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	if len(base.ScaledObjects) != 0 {
		t.Error("the base has ScaledObjects: KEDA must stay optional")
	}
}

// The copies kustomize needs inside its root are the files they copy.
func TestKustomizeCopies(t *testing.T) {
	for copy, orig := range map[string]string{
		"base/files/topology.yaml":  "../topology.yaml",
		"base/files/zones.yaml":     "../zones.yaml",
		"base/files/directory.yaml": "../directory.yaml",
		"base/files/corb.json":      "../dashboards/corb.json",
	} {
		if err := sameFile(filepath.Join(k8sDir, copy), orig); err != nil {
			t.Error(err)
		}
	}
	want, err := LoadTopology(TopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	gpu, err := LoadTopology(filepath.Join(k8sDir, "components/gpu/topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := SameTopologyExcept(want, gpu, "detect"); err != nil {
		t.Errorf("deploy/k8s/components/gpu/topology.yaml is not deploy/topology.yaml with detect's config changed: %v\n"+
			"(copy deploy/topology.yaml there and put back the config block under detect)", err)
	}
}

func sameFile(copy, orig string) error {
	a, err := os.ReadFile(copy)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(orig)
	if err != nil {
		return err
	}
	if string(a) != string(b) {
		return &copyError{copy, orig}
	}
	return nil
}

type copyError struct{ copy, orig string }

func (e *copyError) Error() string {
	return "deploy/" + strings.TrimPrefix(e.copy, "../") + " differs from deploy/" + strings.TrimPrefix(e.orig, "../") +
		": kustomize reads only files inside its root, so it keeps a copy; update it: cp deploy/" +
		strings.TrimPrefix(e.orig, "../") + " deploy/" + strings.TrimPrefix(e.copy, "../")
}

// The KEDA files are the ones testdata/KEDA.md records (taken from the module
// zip by testdata/keda.sh), byte for byte.
func TestKEDAFilesPinned(t *testing.T) {
	notes, err := os.ReadFile("testdata/KEDA.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{KEDACRDFile, KEDAKafkaMetadataFile} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(raw))
		if !strings.Contains(string(notes), "`"+filepath.Base(f)+"`") || !strings.Contains(string(notes), sum) {
			t.Errorf("%s has sha256 %s, which testdata/KEDA.md does not record: refresh it with testdata/keda.sh", f, sum)
		}
	}
}
