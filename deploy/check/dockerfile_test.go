package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildArgs are the --build-arg values a Dockerfile needs to convert at all.
var buildArgs = map[string]string{
	"ORT_GPU_SHA256": "0000000000000000000000000000000000000000000000000000000000000000",
}

func dockerfiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ImagesDir, "Dockerfile.*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if filepath.Ext(f) != ".dockerignore" {
			out = append(out, f)
		}
	}
	if len(out) < 3 {
		t.Fatalf("want the slim, detect and detect-cuda Dockerfiles, found %v", out)
	}
	return out
}

// checkDockerfile is every check of one Dockerfile: BuildKit's parser and
// instructions.Parse with the linter's parse-time rules, its full linter (as
// `docker build --check`), and the build context's sources. A lint warning
// is a failure.
func checkDockerfile(path string, dt []byte) error {
	d, err := ParseDockerfile(path, dt)
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range d.Warnings {
		errs = append(errs, errors.New(w))
	}
	warnings, err := LintDockerfile(path, dt, buildArgs)
	errs = append(errs, err)
	for _, w := range warnings {
		errs = append(errs, errors.New(w))
	}
	errs = append(errs, d.CheckSources(RepoRoot))
	return errors.Join(errs...)
}

func TestDockerfiles(t *testing.T) {
	for _, f := range dockerfiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dt, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkDockerfile(f, dt); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every corb/NAME image that compose or a kustomize build uses is built from
// deploy/images/Dockerfile.NAME, and compose builds it from that file.
func TestImagesAreBuilt(t *testing.T) {
	has := func(image string) error {
		name, _, _ := strings.Cut(strings.TrimPrefix(image, "corb/"), ":")
		if _, err := os.Stat(filepath.Join(ImagesDir, "Dockerfile."+name)); err != nil {
			return fmt.Errorf("image %s: no deploy/images/Dockerfile.%s", image, name)
		}
		return nil
	}
	p, err := loadComposeForTest()
	if err != nil {
		t.Fatal(err)
	}
	for n, s := range p.Services {
		if !strings.HasPrefix(s.Image, "corb/") {
			continue
		}
		if err := has(s.Image); err != nil {
			t.Errorf("compose service %s: %v", n, err)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(s.Image, "corb/"), ":")
		if s.Build == nil || filepath.Base(s.Build.Dockerfile) != "Dockerfile."+name {
			t.Errorf("compose service %s: image %s must be built from deploy/images/Dockerfile.%s", n, s.Image, name)
		}
	}
	for _, dir := range kustomizations(t) {
		docs, err := Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(docs)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.Deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				if err := has(c.Image); err != nil {
					t.Errorf("%s: Deployment %s: %v", dir, d.Name, err)
				}
			}
		}
		for _, j := range m.Jobs {
			for _, c := range j.Spec.Template.Spec.Containers {
				if err := has(c.Image); err != nil {
					t.Errorf("%s: Job %s: %v", dir, j.Name, err)
				}
			}
		}
	}
}
