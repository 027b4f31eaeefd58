package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v3"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print Corb's version and build information",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			v, rev := "(devel)", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				v = bi.Main.Version
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(cmd.Root().Writer, "corb %s %s\n", v, rev)
			return nil
		},
	}
}
