package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// Flags shared by several commands. Each has an environment fallback, shown in --help.
func brokersFlag() *cli.StringSliceFlag {
	return &cli.StringSliceFlag{
		Name:    "brokers",
		Usage:   "Kafka seed brokers, host:port (comma-separated or repeated)",
		Sources: cli.EnvVars("CORB_BROKERS"),
	}
}

func topologyFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "topology",
		Aliases: []string{"f"},
		Usage:   "topology file (topics and operators)",
		Value:   "deploy/topology.yaml",
		Sources: cli.EnvVars("CORB_TOPOLOGY"),
	}
}

func namespaceFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "namespace",
		Usage:   "prefix of every topic, group and transactional id (overrides the topology's namespace)",
		Sources: cli.EnvVars("CORB_NAMESPACE"),
	}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", Sources: cli.EnvVars("CORB_LOG_LEVEL")},
		&cli.StringFlag{Name: "log-format", Usage: "text or json", Value: "text", Sources: cli.EnvVars("CORB_LOG_FORMAT")},
	}
}

func adminFlag(def string) *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "admin-addr",
		Usage:   "address serving /metrics, /healthz and /readyz (empty: none)",
		Value:   def,
		Sources: cli.EnvVars("CORB_ADMIN_ADDR"),
	}
}

// newLogger builds the process logger from --log-level and --log-format.
func newLogger(cmd *cli.Command) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cmd.String("log-format")) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", cmd.String("log-format"))
	}
}

// loadTopology loads and validates the topology named by --topology, with
// --namespace applied.
func loadTopology(cmd *cli.Command) (*topology.Spec, error) {
	spec, err := topology.Load(cmd.String("topology"))
	if err != nil {
		return nil, err
	}
	if ns := cmd.String("namespace"); ns != "" {
		spec = spec.WithNamespace(ns)
	}
	if err := spec.Validate(builtinKinds(), topology.WithSchemaFields(schemas.KnownFields())); err != nil {
		return nil, err
	}
	return spec, nil
}

// brokers returns --brokers split on commas.
func brokers(cmd *cli.Command) []string {
	var out []string
	for _, b := range cmd.StringSlice("brokers") {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
