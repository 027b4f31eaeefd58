package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/corb-dev/corb/topology"
)

// ComposeFile is Corb's compose file, relative to deploy/check.
const ComposeFile = "../compose/compose.yaml"

// LoadCompose loads a compose file with compose-go's loader, as docker compose
// does: the YAML (anchors and merge keys), interpolation (with an empty
// environment: the defaults in the file), validation against the compose
// specification's JSON schema, which refuses unknown keys, and the model.
// content, when not nil, is loaded in place of the file's bytes (its paths
// still resolve from the file's folder). Every profile is enabled, so that
// services behind one are checked too.
func LoadCompose(ctx context.Context, file string, content []byte) (*types.Project, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if content == nil {
		if content, err = os.ReadFile(abs); err != nil {
			return nil, err
		}
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs, Content: content}},
		Environment: types.Mapping{},
	}
	// Environments as written: a local twilio.env (real credentials, ignored by
	// git) must not change what is checked.
	asWritten := func(o *loader.Options) { o.SkipResolveEnvironment = true }
	return loader.LoadWithContext(ctx, details, loader.WithProfiles([]string{"*"}), asWritten)
}

// corbService is what a compose service of the Corb image runs.
type corbService struct {
	name    string
	cmd     []string // the corb command line (the image's entrypoint is corb)
	service types.ServiceConfig
}

// isCorb reports whether the service runs a Corb image built from deploy/images.
func isCorb(s types.ServiceConfig) bool {
	return s.Build != nil && strings.HasPrefix(filepath.ToSlash(s.Build.Dockerfile), "deploy/images/") ||
		strings.HasPrefix(s.Image, "corb/")
}

func argValue(cmd []string, flag string) (string, bool) {
	for i, a := range cmd {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
		if a == flag && i+1 < len(cmd) {
			return cmd[i+1], true
		}
	}
	return "", false
}

// composeAdminPort is the port a service's corb command serves /metrics on.
func composeAdminPort(cmd []string) (string, bool) {
	v, ok := argValue(cmd, "--admin-addr")
	if !ok {
		return "", false
	}
	_, port, err := net.SplitHostPort(v)
	return port, err == nil && port != ""
}

// CheckCompose checks a loaded compose project against the topology and the
// files of the repository:
//   - every operator of the topology runs as `corb run NAME` in exactly its
//     `replicas` services, each one container (no scale), each with its own
//     CORB_INSTANCE, never more than the input's partitions; the detect kind
//     in an image built from a detect Dockerfile; no service runs an operator
//     the topology lacks;
//   - one service runs `corb topology apply` after Kafka is healthy, and
//     every other Corb service starts after it completed;
//   - one service runs `corb sms serve`; Corb's long-running services name
//     their admin port (--admin-addr) and their healthcheck asks that port;
//   - Kafka is the apache/kafka image in KRaft mode (broker and controller)
//     and advertises the address every Corb service is given (CORB_BROKERS);
//   - every build context, Dockerfile and bind-mounted file exists;
//   - no Twilio credential is written in the file, and the env file that holds
//     them is ignored by git.
func CheckCompose(p *types.Project, spec *topology.Spec) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var corb []corbService
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := p.Services[n]
		if isCorb(s) {
			corb = append(corb, corbService{name: n, cmd: s.Command, service: s})
		}
		errs = append(errs, checkComposeFiles(n, s)...)
		for k, v := range s.Environment {
			if strings.HasPrefix(k, "TWILIO_") && v != nil && *v != "" {
				fail("service %s: %s is written in the compose file: Twilio credentials belong in twilio.env (never committed)", n, k)
			}
		}
	}

	// The operators.
	replicas := map[string][]string{} // operator → its services
	instances := map[string]map[string]string{}
	for _, c := range corb {
		if len(c.cmd) < 2 || c.cmd[0] != "run" {
			continue
		}
		op, ok := spec.Operator(c.cmd[1])
		if !ok {
			fail("service %s runs operator %q, which topology %s does not have", c.name, c.cmd[1], spec.File)
			continue
		}
		replicas[op.Name] = append(replicas[op.Name], c.name)
		if scale := c.service.GetScale(); scale != 1 {
			fail("service %s runs %d containers of %s: one service per replica, each with its own CORB_INSTANCE", c.name, scale, op.Name)
		}
		inst := c.service.Environment["CORB_INSTANCE"]
		switch {
		case inst == nil || *inst == "":
			fail("service %s: no CORB_INSTANCE (the replica's id, its transactional id)", c.name)
		case instances[op.Name][*inst] != "":
			fail("services %s and %s of %s share CORB_INSTANCE %q: the second would fence the first", instances[op.Name][*inst], c.name, op.Name, *inst)
		default:
			if instances[op.Name] == nil {
				instances[op.Name] = map[string]string{}
			}
			instances[op.Name][*inst] = c.name
		}
		if op.Kind == "detect" && (c.service.Build == nil || !strings.Contains(filepath.Base(c.service.Build.Dockerfile), "detect")) {
			fail("service %s runs the detect kind in an image without ONNX Runtime and the model: build it from deploy/images/Dockerfile.detect", c.name)
		}
	}
	for _, op := range spec.Operators {
		want := max(op.Replicas, 1)
		got := len(replicas[op.Name])
		parts, err := minInputPartitions(spec, &op)
		if err != nil {
			fail("%v", err)
			continue
		}
		switch {
		case got == 0:
			fail("operator %s of topology %s has no compose service (`corb run %s`)", op.Name, spec.File, op.Name)
		case got > parts:
			fail("operator %s runs in %d services, more than the %d partitions of its input", op.Name, got, parts)
		case got != want:
			fail("operator %s runs in %d services (%s), the topology says %d replicas", op.Name, got, strings.Join(replicas[op.Name], ", "), want)
		}
	}

	// The one-shot job, the SMS connector, the order of start.
	var apply, serve []string
	for _, c := range corb {
		switch {
		case slices.Equal(c.cmd, []string{"topology", "apply"}):
			apply = append(apply, c.name)
		case len(c.cmd) >= 2 && c.cmd[0] == "sms" && c.cmd[1] == "serve":
			serve = append(serve, c.name)
		}
	}
	if len(apply) != 1 {
		fail("want one service running `corb topology apply`, found %d", len(apply))
	}
	if len(serve) == 0 {
		fail("no service runs `corb sms serve` (the SMS connector)")
	}
	kafka := ""
	for n, s := range p.Services {
		if strings.HasPrefix(s.Image, "apache/kafka:") {
			kafka = n
		}
	}
	if kafka == "" {
		fail("no apache/kafka service")
	} else {
		errs = append(errs, checkKafkaService(p.Services[kafka], corb)...)
	}
	for _, c := range corb {
		if len(apply) == 1 && c.name == apply[0] {
			if kafka != "" && c.service.DependsOn[kafka].Condition != types.ServiceConditionHealthy {
				fail("service %s must wait for %s to be healthy (depends_on condition service_healthy)", c.name, kafka)
			}
			continue
		}
		if len(apply) == 1 && c.service.DependsOn[apply[0]].Condition != types.ServiceConditionCompletedSuccessfully {
			fail("service %s must start after %s completed (depends_on condition service_completed_successfully): its topics must exist", c.name, apply[0])
		}
		port, ok := composeAdminPort(c.cmd)
		if !ok {
			fail("service %s: its command names no --admin-addr=:PORT (the port of /metrics, /healthz, /readyz)", c.name)
			continue
		}
		hc := c.service.HealthCheck
		if hc == nil || hc.Disable || !strings.Contains(strings.Join(hc.Test, " "), "/"+port) || !strings.Contains(strings.Join(hc.Test, " "), "/healthz") {
			fail("service %s: its healthcheck must ask /healthz on its admin port %s", c.name, port)
		}
	}
	return errors.Join(errs...)
}

// checkKafkaService checks KRaft mode and that the brokers Corb's services are
// given are an advertised listener.
func checkKafkaService(k types.ServiceConfig, corb []corbService) []error {
	var errs []error
	env := func(name string) string {
		if v := k.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	roles := strings.Split(env("KAFKA_PROCESS_ROLES"), ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		errs = append(errs, fmt.Errorf("kafka: KAFKA_PROCESS_ROLES %q: want broker,controller (KRaft, one node)", env("KAFKA_PROCESS_ROLES")))
	}
	advertised := map[string]bool{}
	for _, l := range strings.Split(env("KAFKA_ADVERTISED_LISTENERS"), ",") {
		if _, addr, ok := strings.Cut(l, "://"); ok {
			advertised[addr] = true
		}
	}
	for _, c := range corb {
		v := c.service.Environment["CORB_BROKERS"]
		if v == nil {
			errs = append(errs, fmt.Errorf("service %s: no CORB_BROKERS", c.name))
			continue
		}
		for _, b := range strings.Split(*v, ",") {
			if !advertised[b] {
				errs = append(errs, fmt.Errorf("service %s: CORB_BROKERS %s is not an advertised listener of kafka (%s)", c.name, b, env("KAFKA_ADVERTISED_LISTENERS")))
			}
		}
	}
	return errs
}

// checkComposeFiles checks that what a service builds from and mounts exists,
// and that its required env files exist.
func checkComposeFiles(name string, s types.ServiceConfig) []error {
	var errs []error
	exists := func(what, path string) {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %s %s does not exist", name, what, path))
		}
	}
	if b := s.Build; b != nil {
		exists("build context", b.Context)
		exists("Dockerfile", filepath.Join(b.Context, b.Dockerfile))
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			exists("bind mount", v.Source)
		}
	}
	for _, f := range s.EnvFiles {
		if bool(f.Required) {
			exists("env file", f.Path)
			continue
		}
		// An optional env file of secrets must never be committed.
		if !gitIgnored(f.Path) {
			errs = append(errs, fmt.Errorf("service %s: env file %s is not in a .gitignore beside it", name, f.Path))
		}
		exists("example of env file", f.Path+".example")
	}
	return errs
}

// gitIgnored reports whether a .gitignore in path's folder lists its name.
func gitIgnored(path string) bool {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(path), ".gitignore"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(l) == filepath.Base(path) {
			return true
		}
	}
	return false
}
