//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/integration/kafkatest"
)

// faultBroker is a single-node Kafka of the test's own, started by
// deploy/kafka/kafka.sh in a private state dir: the fault tests kill and
// start it, which they must never do to the broker other tests share
// (/tmp/corb-kafka). It keeps its data and ports across Kill and Start.
type faultBroker struct {
	t       testing.TB
	dir     string
	script  string
	brokers []string
}

// newFaultBroker starts a fresh single-node cluster in a state dir of its
// own and stops it (and removes its data) when the test ends. The
// cluster's JVM is also stopped should the test binary die: kafka.sh
// watches the binary's pid (KAFKA_OWNER_PID).
func newFaultBroker(t testing.TB) *faultBroker {
	t.Helper()
	dir, err := os.MkdirTemp("", "corb-fault-kafka-")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	b := &faultBroker{t: t, dir: dir, script: filepath.Join(root, "deploy", "kafka", "kafka.sh")}
	t.Cleanup(func() {
		_, _ = b.run("down")
		_ = os.RemoveAll(dir)
	})
	if out, err := b.run("up", "--fresh"); err != nil {
		t.Fatalf("kafka.sh up: %v\n%s", err, out)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "KAFKA_BROKERS="); ok {
			b.brokers = strings.Split(v, ",")
		}
	}
	if len(b.brokers) == 0 {
		t.Fatalf("kafka.sh wrote no KAFKA_BROKERS in %s/env:\n%s", dir, env)
	}
	t.Logf("fault broker %s (state in %s)", strings.Join(b.brokers, ","), dir)
	return b
}

func (b *faultBroker) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{b.script}, args...)...)
	cmd.Env = append(os.Environ(), "CORB_KAFKA_DIR="+b.dir, "NODES=1", fmt.Sprintf("KAFKA_OWNER_PID=%d", os.Getpid()))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// kill SIGKILLs the broker: no controlled shutdown, its data stays.
func (b *faultBroker) kill() {
	b.t.Helper()
	if out, err := b.run("kill", "1"); err != nil {
		b.t.Fatalf("kafka.sh kill 1: %v\n%s", err, out)
	}
}

// start starts the broker again on its data and ports and returns once a
// metadata request lists it.
func (b *faultBroker) start() {
	b.t.Helper()
	if out, err := b.run("start", "1"); err != nil {
		b.t.Fatalf("kafka.sh start 1: %v\n%s", err, out)
	}
}

// passEnvOn is newPassEnv on brokers of the test's choosing.
func passEnvOn(t *testing.T, brokers []string, guarantee string) *passEnv {
	t.Helper()
	ns := kafkatest.Unique(t, "pass")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(passTopology, ns, guarantee)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".in", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".out", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".dlq", 1, nil)
	e := &passEnv{t: t, brokers: brokers, ns: ns, topology: file, input: map[string][]byte{}}
	e.adm = newAdmin(t, brokers)
	return e
}
