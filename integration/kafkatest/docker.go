package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ErrNoDocker means no Docker engine answered the ping.
var ErrNoDocker = errors.New("kafkatest: no Docker engine answers")

const defaultDockerSocket = "/var/run/docker.sock"

// dockerHost is DOCKER_HOST, or the default unix socket.
func dockerHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix://" + defaultDockerSocket
}

// probeDocker sends GET /_ping to the engine at host (unix:// or tcp://) and
// returns nil only when it answers 200 OK. It runs before testcontainers-go is
// touched, because testcontainers can panic when no Docker host is found.
// A tcp:// engine that requires TLS is reported as not answering.
func probeDocker(ctx context.Context, host string) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("%w: DOCKER_HOST %q: %w", ErrNoDocker, host, err)
	}
	var (
		dial    func(ctx context.Context, _, _ string) (net.Conn, error)
		pingURL string
	)
	var d net.Dialer
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%w: %w", ErrNoDocker, err)
		}
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }
		pingURL = "http://docker/_ping"
	case "tcp", "http":
		dial = d.DialContext
		pingURL = "http://" + u.Host + "/_ping"
	default:
		return fmt.Errorf("%w: DOCKER_HOST scheme %q is not probed (unix or tcp only)", ErrNoDocker, u.Scheme)
	}
	client := &http.Client{
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pingURL, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoDocker, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoDocker, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: GET /_ping: %s %q", ErrNoDocker, host, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Container-side settings of the apache/kafka broker. The client-facing
// listener's advertised address is only known once Docker has mapped its
// port, so the container waits for a start script that a PostStarts hook
// writes with that address.
const (
	containerPort   = "9092/tcp"
	containerScript = "/tmp/corb-start.sh"
	clusterID       = "corbkafkatest0000000000" // 22 chars, base64url like a UUID
)

func containerEnv() map[string]string {
	return map[string]string{
		"CLUSTER_ID":                                             clusterID,
		"KAFKA_NODE_ID":                                          "1",
		"KAFKA_PROCESS_ROLES":                                    "broker,controller",
		"KAFKA_LISTENERS":                                        "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9094,CONTROLLER://0.0.0.0:9093",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":                   "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"KAFKA_INTER_BROKER_LISTENER_NAME":                       "BROKER",
		"KAFKA_CONTROLLER_LISTENER_NAMES":                        "CONTROLLER",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                         "1@localhost:9093",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                        "false",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":                 "1",
		"KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS":                     "10",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":                    "1",
		"KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS":             "10",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
		"KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":                 "0",
		"KAFKA_HEAP_OPTS":                                        "-Xms256m -Xmx1g",
	}
}

// startContainer runs image as a single-node KRaft broker and returns its
// host-side address and a function that terminates it.
func startContainer(ctx context.Context, image string) ([]string, func(context.Context) error, error) {
	advertise := func(ctx context.Context, c testcontainers.Container) error {
		host, err := c.Host(ctx)
		if err != nil {
			return fmt.Errorf("container host: %w", err)
		}
		port, err := c.MappedPort(ctx, containerPort)
		if err != nil {
			return fmt.Errorf("mapped port: %w", err)
		}
		script := fmt.Sprintf("export KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://%s,BROKER://localhost:9094'\nexec /etc/kafka/docker/run\n",
			net.JoinHostPort(host, port.Port()))
		return c.CopyToContainer(ctx, []byte(script), containerScript, 0o755)
	}
	ctr, err := testcontainers.Run(ctx, image,
		testcontainers.WithExposedPorts(containerPort),
		testcontainers.WithEnv(containerEnv()),
		testcontainers.WithEntrypoint("sh"),
		testcontainers.WithCmd("-c", "while [ ! -f "+containerScript+" ]; do sleep 0.1; done; exec sh "+containerScript),
		testcontainers.WithLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{advertise},
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("Kafka Server started").WithStartupTimeout(2*time.Minute)),
	)
	stop := func(ctx context.Context) error {
		if ctr == nil {
			return nil
		}
		return ctr.Terminate(ctx)
	}
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("start %s: %w", image, err), stop(context.Background()))
	}
	addr, err := ctr.PortEndpoint(ctx, containerPort, "")
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("endpoint: %w", err), stop(context.Background()))
	}
	return []string{addr}, stop, nil
}
