package main

import (
	"context"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v3"
)

// versionCommand is `corb version`; `corb --version` prints the same line
// (the root's Version, set in newApp from buildVersion).
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print Corb's version: module version, VCS commit and its time, Go version",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cli.ShowVersion(cmd.Root())
			return nil
		},
	}
}

// buildVersion describes the binary from its build information: the main
// module's version, then what the go command stamped from the VCS (commit,
// commit time, uncommitted changes) and the Go version. A binary built from a
// work tree has version "(devel)", which alone says nothing, so the commit
// matters most there; without VCS stamping (-buildvcs=false, or no git
// checkout) that is said rather than left blank.
func buildVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "unknown (no build information in the binary)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		if strings.HasPrefix(s.Key, "vcs") {
			vcs[s.Key] = s.Value
		}
	}
	parts := []string{v}
	switch rev := vcs["vcs.revision"]; {
	case rev != "":
		c := "commit " + rev
		if t := vcs["vcs.time"]; t != "" {
			c += " (" + t + ")"
		}
		if vcs["vcs.modified"] == "true" {
			c += " with uncommitted changes"
		}
		parts = append(parts, c)
	case v == "(devel)":
		parts = append(parts, "commit unknown (built without VCS stamping: -buildvcs=false or outside a git checkout)")
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	return strings.Join(parts, ", ")
}

// binaryVersion is buildVersion of this binary.
func binaryVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return buildVersion(bi, ok)
}
