package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImagesDir holds Corb's Dockerfiles, relative to deploy/check.
const ImagesDir = "../images"

// offlineResolver stands in for a registry when the linter asks for a base
// image's config: every image is an empty linux/amd64 image with the usual
// PATH. Nothing is fetched; a base image that does not exist goes unnoticed.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},` +
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`
	return ref, digest.FromString(ref), []byte(cfg), nil
}

// LintDockerfile runs BuildKit's Dockerfile linter as `docker build --check`
// does (dockerfile2llb.DockerfileLint, every stage) with base images resolved
// offline, and returns each warning, and the build error if the Dockerfile
// does not convert. buildArgs are passed as --build-arg would.
func LintDockerfile(name string, dt []byte, buildArgs map[string]string) ([]string, error) {
	ctx := context.Background()
	src := llb.Local("dockerfile")
	sm := llb.NewSourceMap(&src, name, "Dockerfile", dt)
	def, err := src.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	sm.Definition = def
	opt := dockerfile2llb.ConvertOpt{
		Config:         dockerui.Config{BuildArgs: buildArgs},
		SourceMap:      sm,
		TargetPlatform: &ocispecs.Platform{OS: "linux", Architecture: "amd64"},
		MetaResolver:   offlineResolver{},
	}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var warnings []string
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 && w.Location.Ranges[0].Start != nil {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		warnings = append(warnings, fmt.Sprintf("%s:%d: %s: %s", name, line, w.RuleName, w.Detail))
	}
	if res.Error != nil {
		return warnings, fmt.Errorf("%s: %s", name, res.Error.Message)
	}
	return warnings, nil
}

// Dockerfile is one parsed Dockerfile.
type Dockerfile struct {
	Path    string
	Stages  []instructions.Stage
	MetaArg []instructions.ArgCommand
	// Warnings are the linter's warnings at parse time (instructions.Parse).
	Warnings []string
}

// ParseDockerfile parses with BuildKit's parser and instructions.Parse, with
// the parse-time rules of its linter.
func ParseDockerfile(path string, dt []byte) (*Dockerfile, error) {
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := &Dockerfile{Path: path}
	for _, w := range ast.Warnings {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s:%d: %s", path, w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s:%d: %s: %s", path, line, rule, msg))
	}})
	d.Stages, d.MetaArg, err = instructions.Parse(ast.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Dockerignore reads the ignore file BuildKit uses for the Dockerfile at path:
// <Dockerfile>.dockerignore beside it, else the context's .dockerignore.
func Dockerignore(path, context string) (*patternmatcher.PatternMatcher, string, error) {
	for _, f := range []string{path + ".dockerignore", filepath.Join(context, ".dockerignore")} {
		raw, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(raw))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f, err)
		}
		return pm, f, nil
	}
	return nil, "", nil
}

// CheckSources checks that every source a Dockerfile copies from the build
// context (COPY and ADD without --from) exists in context and is not left
// out by its ignore file, and that every COPY --from names an earlier stage
// or an image.
func (d *Dockerfile) CheckSources(context string) error {
	pm, ignoreFile, err := Dockerignore(d.Path, context)
	if err != nil {
		return err
	}
	var errs []error
	var stages []string
	for _, st := range d.Stages {
		for _, cmd := range st.Commands {
			var srcs []string
			var line int
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					if !slices.Contains(stages, c.From) && !strings.ContainsAny(c.From, ":/") {
						errs = append(errs, fmt.Errorf("%s:%d: COPY --from=%s: no earlier stage of that name (and not an image)", d.Path, lineOf(c.Location()), c.From))
					}
					continue
				}
				srcs, line = c.SourcePaths, lineOf(c.Location())
			case *instructions.AddCommand:
				for _, s := range c.SourcePaths {
					if !strings.Contains(s, "://") {
						srcs = append(srcs, s)
					}
				}
				line = lineOf(c.Location())
			default:
				continue
			}
			for _, src := range srcs {
				errs = append(errs, d.checkSource(context, src, line, pm, ignoreFile)...)
			}
		}
		if st.Name != "" {
			stages = append(stages, st.Name)
		}
	}
	return errors.Join(errs...)
}

func (d *Dockerfile) checkSource(context, src string, line int, pm *patternmatcher.PatternMatcher, ignoreFile string) []error {
	clean := filepath.Clean(strings.TrimPrefix(src, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return []error{fmt.Errorf("%s:%d: %s is outside the build context", d.Path, line, src)}
	}
	matches, err := filepath.Glob(filepath.Join(context, clean))
	if err != nil || len(matches) == 0 {
		return []error{fmt.Errorf("%s:%d: COPY source %s does not exist in the build context (%s)", d.Path, line, src, context)}
	}
	if pm == nil {
		return nil
	}
	var errs []error
	for _, m := range matches {
		rel, _ := filepath.Rel(context, m)
		ignored, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			errs = append(errs, err)
		} else if ignored {
			errs = append(errs, fmt.Errorf("%s:%d: COPY source %s is left out of the context by %s", d.Path, line, rel, ignoreFile))
		}
	}
	return errs
}

func lineOf(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}
