package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
func newLogger(cmd *cli.Command) (*slog.Logger, error) { return newLoggerTo(cmd, os.Stderr) }

// newLoggerTo is newLogger writing to w.
func newLoggerTo(cmd *cli.Command, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cmd.String("log-format")) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
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
	if spec, err = withSettings(cmd, spec); err != nil {
		return nil, err
	}
	if err := spec.Validate(builtinKinds(), topology.WithSchemaFields(schemas.KnownFields())); err != nil {
		return nil, err
	}
	return spec, nil
}

// settingsFlag is --set OPERATOR.KEY=VALUE: operator config from the
// command line, over the topology file's; def are its defaults.
func settingsFlag(def ...string) *cli.StringSliceFlag {
	usage := "change an operator's config: `OPERATOR.KEY=VALUE` (the value is YAML: 5s, 3, [a, b]); repeat for more"
	if len(def) > 0 {
		usage += "; any --set replaces these defaults, --set none keeps the topology's own"
	}
	return &cli.StringSliceFlag{Name: "set", Usage: usage, Value: def}
}

// withSettings applies --set, where the command has it, to spec.
func withSettings(cmd *cli.Command, spec *topology.Spec) (*topology.Spec, error) {
	var settings []topology.Setting
	for _, s := range cmd.StringSlice("set") {
		if s == "none" {
			continue
		}
		st, err := topology.ParseSetting(s)
		if err != nil {
			return nil, usageErrorf(cmd, "--set: %v", err)
		}
		settings = append(settings, st)
	}
	if len(settings) == 0 {
		return spec, nil
	}
	return spec.WithSettings(settings)
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

// errUsage is wrapped by every error that says the command line does not fit
// the command (a stray or missing argument); main exits 2 for it.
var errUsage = errors.New("usage")

// usageError is a command line that does not fit cmd.
type usageError struct {
	cmd string // full name, "corb topology validate"
	msg string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s: %s (see '%s --help')", e.cmd, e.msg, e.cmd)
}

func (e *usageError) Is(target error) bool { return target == errUsage }

func usageErrorf(cmd *cli.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.FullName(), msg: fmt.Sprintf(format, args...)}
}

// arity is how many positional arguments a command takes, read from its
// ArgsUsage so that its help and this check cannot disagree: each word is one
// argument, "[X]" optional, "X..." repeatable. "" takes none, "FILE..." one or
// more, "[FILE]" at most one, "[SOURCE...]" any number. max < 0: no limit.
func arity(argsUsage string) (min, max int) {
	for _, w := range strings.Fields(argsUsage) {
		optional := strings.HasPrefix(w, "[")
		if strings.HasSuffix(strings.TrimSuffix(w, "]"), "...") {
			max = -1
		} else if max >= 0 {
			max++
		}
		if !optional {
			min++
		}
	}
	return min, max
}

// checkArgs is the root's ArgValidator, so it runs for every command before
// its action: positional arguments must fit the command's ArgsUsage, and a
// command with subcommands takes none (its argument is an unknown command).
func checkArgs(_ context.Context, cmd *cli.Command) error {
	if cmd.Name == "help" { // urfave/cli's own help command reads its arguments itself
		return nil
	}
	args := cmd.Args().Slice()
	var subs []string // urfave/cli gives every command a help subcommand
	for _, c := range cmd.Commands {
		if c.Name != "help" {
			subs = append(subs, c.Name)
		}
	}
	if len(subs) > 0 && len(args) > 0 {
		return usageErrorf(cmd, "unknown command %q (want one of %s)", args[0], strings.Join(subs, ", "))
	}
	min, max := arity(cmd.ArgsUsage)
	switch {
	case max == 0 && len(args) > 0:
		return usageErrorf(cmd, "takes no arguments, got %q", args)
	case max > 0 && len(args) > max:
		return usageErrorf(cmd, "takes at most %d argument(s) (%s), got %d: %q", max, cmd.ArgsUsage, len(args), args)
	case len(args) < min:
		return usageErrorf(cmd, "missing argument: %s", cmd.ArgsUsage)
	}
	return nil
}
