// Package kafkatest gives integration tests a real Apache Kafka broker and the
// small helpers they need around it (unique names, topic creation, polling with
// a deadline, reading a topic to the end).
//
// Brokers finds a broker in this order:
//
//  1. the KAFKA_BROKERS environment variable (comma-separated host:port);
//  2. a container of the apache/kafka image through testcontainers-go, only
//     when a Docker engine answers GET /_ping on DOCKER_HOST or
//     /var/run/docker.sock;
//  3. deploy/kafka/kafka.sh up: a single-node KRaft broker on loopback, built
//     from Maven Central jars and left running for later test binaries (stop
//     it with `deploy/kafka/kafka.sh down`).
//
// Whatever the source, the broker must answer a metadata request listing a
// broker and a controller before Brokers returns. If no broker can be had the
// test fails (t.Fatal); it is never skipped.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Source says where a broker came from.
type Source string

const (
	// SourceEnv is a broker named by the KAFKA_BROKERS environment variable.
	SourceEnv Source = "env"
	// SourceDocker is an apache/kafka container started through testcontainers-go.
	SourceDocker Source = "docker"
	// SourceScript is a local broker started by deploy/kafka/kafka.sh up.
	SourceScript Source = "script"
)

// DefaultImage is the container image used when a Docker engine is available.
const DefaultImage = "apache/kafka:4.1.1"

// ErrNoBroker means no source could provide a working broker. The error that
// wraps it says what each source tried.
var ErrNoBroker = errors.New("kafkatest: no Kafka broker available")

// ErrNotReady means a broker address is known but it did not answer a
// metadata request listing a broker and a controller in time.
var ErrNotReady = errors.New("kafkatest: broker not ready")

// Timeouts for finding a broker. Starting the script broker may include a
// cold fetch of Kafka's jars from Maven Central.
const (
	readyTimeout     = 60 * time.Second
	scriptTimeout    = 10 * time.Minute
	containerTimeout = 5 * time.Minute
)

// Harness finds (or starts) one broker and hands the same one to every test
// that asks, so a test binary starts at most one broker. The zero value is
// ready to use; a Harness must not be copied after first use.
type Harness struct {
	once    sync.Once
	brokers []string
	source  Source
	err     error
	stop    func(context.Context) error // terminates a container this Harness started; nil otherwise
}

// shared is the Harness behind the package-level Brokers. It is the one
// package-level variable: "one broker per test binary" needs state that
// outlives a single test, and tests call Brokers without wiring anything up.
// Tests that want their own lifetime use a Harness value of their own.
var shared Harness

// Brokers returns the seed brokers of a real Kafka cluster, starting one the
// first time it is called in a test binary. It calls t.Fatal if none can be had.
func Brokers(t testing.TB) []string {
	t.Helper()
	return shared.Brokers(t)
}

// Brokers returns the seed brokers of h's cluster, finding or starting it on
// the first call. It calls t.Fatal if none can be had; later calls fail the
// same way without trying again.
func (h *Harness) Brokers(t testing.TB) []string {
	t.Helper()
	h.once.Do(func() {
		h.source, h.brokers, h.stop, h.err = find(context.Background(), t.Logf)
		if h.err == nil {
			t.Logf("kafkatest: using %s broker %s", h.source, strings.Join(h.brokers, ","))
		}
	})
	if h.err != nil {
		t.Fatalf("%v", h.err)
	}
	return append([]string(nil), h.brokers...)
}

// Source says where h's broker came from; empty before the first Brokers call
// or when none was found.
func (h *Harness) Source() Source {
	if h.err != nil {
		return ""
	}
	return h.source
}

// Close terminates a container h started. A broker from KAFKA_BROKERS or from
// kafka.sh is left running (kafka.sh's is shared by later test binaries).
func (h *Harness) Close(ctx context.Context) error {
	if h.stop == nil {
		return nil
	}
	stop := h.stop
	h.stop = nil
	return stop(ctx)
}

type logf func(format string, args ...any)

// find tries the sources in order and returns the first broker that is ready.
func find(ctx context.Context, log logf) (Source, []string, func(context.Context) error, error) {
	if env := getenvBrokers(); len(env) > 0 {
		if err := waitReady(ctx, env, readyTimeout); err != nil {
			return "", nil, nil, fmt.Errorf("%w: KAFKA_BROKERS=%s is set but: %w", ErrNoBroker, strings.Join(env, ","), err)
		}
		return SourceEnv, env, nil, nil
	}

	var reasons []error
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	dockerErr := probeDocker(pctx, dockerHost())
	cancel()
	if dockerErr == nil {
		cctx, cancel := context.WithTimeout(ctx, containerTimeout)
		brokers, stop, err := startContainer(cctx, DefaultImage)
		cancel()
		if err == nil {
			if err = waitReady(ctx, brokers, readyTimeout); err == nil {
				return SourceDocker, brokers, stop, nil
			}
			_ = stop(ctx) // the broker is unusable; its error is reported below
		}
		log("kafkatest: Docker answers but the container failed (%v); trying kafka.sh", err)
		reasons = append(reasons, fmt.Errorf("docker: %w", err))
	} else {
		reasons = append(reasons, fmt.Errorf("docker: %w", dockerErr))
	}

	sctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	brokers, err := startScript(sctx)
	cancel()
	if err == nil {
		if err = waitReady(ctx, brokers, readyTimeout); err == nil {
			return SourceScript, brokers, nil, nil
		}
	}
	reasons = append(reasons, fmt.Errorf("kafka.sh: %w", err))
	return "", nil, nil, fmt.Errorf("%w (set KAFKA_BROKERS, start Docker, or fix deploy/kafka/kafka.sh up):\n%w",
		ErrNoBroker, errors.Join(reasons...))
}

// waitReady polls metadata until it lists a broker and a controller.
func waitReady(ctx context.Context, brokers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := adm.BrokerMetadata(actx)
		acancel()
		switch {
		case err != nil:
			last = err
		case len(m.Brokers) == 0 || m.Controller < 0:
			last = fmt.Errorf("metadata lists %d brokers and controller %d", len(m.Brokers), m.Controller)
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %s: %w", ErrNotReady, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
