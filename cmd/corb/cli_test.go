package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"
)

// TestMain lets a test run the real main in a child process of the test
// binary (runMain), for what only a fresh process shows: exit codes, and what
// C libraries print to the terminal.
func TestMain(m *testing.M) {
	if os.Getenv("CORB_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs `corb args...` as a child process and returns its stdout,
// stderr and exit code.
func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], args...)
	c.Env = append(os.Environ(), "CORB_TEST_RUN_MAIN=1")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("corb %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), c.ProcessState.ExitCode()
}

// runApp runs `corb args...` in this process and returns what it wrote to
// stdout and its error.
func runApp(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run(ctx, append([]string{"corb"}, args...))
	return out.String(), err
}

// testTopology writes a small topology in namespace ns and returns its path.
// Its topics cover what tail decodes: Avro (frames, copies), a dead-letter
// topic (frames-dlq) and a bytes view (usage).
func testTopology(t *testing.T, ns string) string {
	t.Helper()
	src := fmt.Sprintf(`namespace: %s
topics:
  - {name: frames, partitions: 2, schema: corb.Frame}
  - {name: copies, schema: corb.Frame}
  - {name: usage, schema: bytes, configs: {cleanup.policy: compact}}
  - {name: frames-dlq, schema: bytes}
operators:
  - name: copy
    kind: passthrough
    inputs: [frames]
    outputs: [copies]
    on_failure: frames-dlq
`, ns)
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// commands lists every command below c with its path of names.
func commands(path []string, c *cli.Command) map[string]*cli.Command {
	out := map[string]*cli.Command{strings.Join(path, " "): c}
	for _, sub := range c.Commands {
		for k, v := range commands(append(append([]string(nil), path...), sub.Name), sub) {
			out[k] = v
		}
	}
	return out
}

// Every command refuses arguments it has no use for, with a usage error and
// before it does anything; a command with subcommands refuses an unknown one.
func TestStrayArgumentsAreRefused(t *testing.T) {
	// Were the argument ignored, the command would run: make it fail fast.
	t.Setenv("CORB_TOPOLOGY", filepath.Join(t.TempDir(), "absent.yaml"))
	t.Setenv("CORB_BROKERS", "127.0.0.1:1")
	cmds := commands(nil, newApp())
	if len(cmds) < 10 {
		t.Fatalf("walked only %d commands", len(cmds))
	}
	for name, c := range cmds {
		min, max := arity(c.ArgsUsage)
		if max < 0 && len(c.Commands) == 0 {
			continue // takes any number
		}
		args := []string{"stray-1"}
		if len(c.Commands) == 0 {
			args = nil
			for i := range max + 1 {
				args = append(args, fmt.Sprintf("stray-%d", i+1))
			}
		}
		t.Run(strings.ReplaceAll(name+" "+strings.Join(args, " "), " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := runApp(ctx, append(strings.Fields(name), args...)...)
			if !errors.Is(err, errUsage) {
				t.Fatalf("corb %s %s (takes %d to %d arguments): got %v, want a usage error", name, strings.Join(args, " "), min, max, err)
			}
			if !strings.Contains(err.Error(), "stray-") {
				t.Errorf("the error does not name the stray argument: %v", err)
			}
		})
	}
}

// A command that needs an argument says so, and the exit status of a usage
// error is 2.
func TestMissingArgumentExitsTwo(t *testing.T) {
	for _, args := range [][]string{{"tail"}, {"detect"}, {"run"}} {
		_, stderr, code := runMain(t, args...)
		if code != 2 || !strings.Contains(stderr, "missing argument") {
			t.Errorf("corb %s: exit %d, stderr %q; want 2 and 'missing argument'", args[0], code, stderr)
		}
	}
}

func TestArity(t *testing.T) {
	for _, c := range []struct {
		usage    string
		min, max int
	}{
		{"", 0, 0},
		{"TOPIC", 1, 1},
		{"[FILE]", 0, 1},
		{"FILE...", 1, -1},
		{"[SOURCE...]", 0, -1},
		{"SRC [DST]", 1, 2},
	} {
		if min, max := arity(c.usage); min != c.min || max != c.max {
			t.Errorf("arity(%q) = %d, %d; want %d, %d", c.usage, min, max, c.min, c.max)
		}
	}
}

// The topology subcommands take the file as an argument as well as with -f.
func TestTopologyFileArgument(t *testing.T) {
	file := testTopology(t, "argns")
	other := testTopology(t, "otherns")
	for _, c := range []struct {
		name    string
		env     string // CORB_TOPOLOGY
		args    []string
		want    string // in the output
		wantErr string
	}{
		{name: "validate argument", args: []string{"topology", "validate", file}, want: `namespace "argns"`},
		{name: "graph argument", args: []string{"topology", "graph", file}, want: "%% namespace: argns"},
		{name: "same file twice", args: []string{"topology", "validate", "-f", file, file}, want: `namespace "argns"`},
		{name: "argument over CORB_TOPOLOGY", env: other, args: []string{"topology", "validate", file}, want: `namespace "argns"`},
		{name: "CORB_TOPOLOGY without argument", env: other, args: []string{"topology", "validate"}, want: `namespace "otherns"`},
		{name: "two different files", args: []string{"topology", "validate", "-f", other, file}, wantErr: "given twice"},
		{name: "plan two different files", args: []string{"topology", "plan", "-f", other, file}, wantErr: "given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CORB_TOPOLOGY", c.env)
			if c.env == "" {
				os.Unsetenv("CORB_TOPOLOGY") // restored by Setenv's cleanup
			}
			out, err := runApp(context.Background(), c.args...)
			switch {
			case c.wantErr != "":
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want a usage error with %q", err, c.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !strings.Contains(out, c.want):
				t.Fatalf("output lacks %q:\n%s", c.want, out)
			}
		})
	}
}

func TestBuildVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "059a844e31ac93f0fc2ee856fb92ffe5ffbbb519"
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}},
			"v0.3.0, go1.26.0"},
		{"release with VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-05-01T10:00:00Z", "vcs.modified", "false")},
			"v0.3.0, commit " + rev + " (2026-05-01T10:00:00Z), go1.26.0"},
		{"work tree with changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-05-01T10:00:00Z", "vcs.modified", "true")},
			"(devel), commit " + rev + " (2026-05-01T10:00:00Z) with uncommitted changes, go1.26.0"},
		{"work tree without VCS stamping", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			"(devel), commit unknown (built without VCS stamping: -buildvcs=false or outside a git checkout), go1.26.0"},
		{"no build information", nil, "unknown (no build information in the binary)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := buildVersion(c.bi, c.bi != nil); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// `corb --version` and `corb version` print the same line, this binary's.
func TestVersionFlagAndCommand(t *testing.T) {
	want := "corb version " + binaryVersion() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := runApp(context.Background(), args...)
		if err != nil || out != want {
			t.Errorf("corb %s: %q, %v; want %q", args[0], out, err, want)
		}
	}
}
