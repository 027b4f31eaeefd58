package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/corb-dev/corb/integration/faultproxy"
)

// ErrNoNode means a node number is not one of the cluster's (1..Len).
var ErrNoNode = errors.New("kafkatest: no such node")

// Node is one combined broker+controller JVM of a Cluster.
type Node struct {
	Node       int    // kafka.sh's number for it, 1..Len
	ID         int32  // its Kafka node.id (its broker id in metadata)
	Broker     string // the PLAINTEXT listener: brokers and Brokers() use it
	Controller string // the CONTROLLER listener of the KRaft quorum
	Client     string // the CLIENT listener a proxy forwards to; "" without WithProxies
	Proxied    string // the address the CLIENT listener is advertised at (its proxy); "" without WithProxies
}

// ClusterOption configures StartCluster.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	proxies      bool
	props        []string // key=value
	heap         string
	stopTimeout  time.Duration
	readyTimeout time.Duration
	upTimeout    time.Duration
}

// WithProxies puts a faultproxy.Proxy in front of every node and has each
// node advertise its proxy's address on a listener of its own, so a client
// seeded with ProxyBrokers talks to the cluster only through the proxies
// (brokers replicate and controllers vote directly, untouched by faults).
func WithProxies() ClusterOption { return func(c *clusterConfig) { c.proxies = true } }

// WithServerProperty adds a broker setting to every node's
// server.properties (KAFKA_SERVER_PROPS of kafka.sh), overriding kafka.sh's.
// For example broker.session.timeout.ms=3000 (with
// broker.heartbeat.interval.ms below it) fences a killed node in 3s instead of
// 9s, and lets it register again that much sooner after a Start.
func WithServerProperty(key, value string) ClusterOption {
	return func(c *clusterConfig) { c.props = append(c.props, key+"="+value) }
}

// WithHeap sets each JVM's heap options (KAFKA_HEAP_OPTS; kafka.sh's default
// is -Xms128m -Xmx512m a node from 2 nodes, -Xms256m -Xmx1g for one).
func WithHeap(opts string) ClusterOption { return func(c *clusterConfig) { c.heap = opts } }

// WithStopTimeout bounds a node's controlled shutdown on Stop, Restart and
// Close before kafka.sh sends SIGKILL (default 30s).
func WithStopTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.stopTimeout = d }
}

// WithReadyTimeout bounds the wait for readiness at start and in Start and
// Restart (default 90s).
func WithReadyTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.readyTimeout = d }
}

// Cluster is a Kafka cluster of its own for one test, started by
// deploy/kafka/kafka.sh in a state dir of the test's, and brought down when
// the test ends. Its nodes can be killed, stopped and started again on their
// data and ports. Methods are safe for concurrent use; kafka.sh serialises
// the commands that start and stop nodes.
type Cluster struct {
	t       testing.TB
	cfg     clusterConfig
	root    string // repository root
	dir     string // CORB_KAFKA_DIR
	nodes   []Node
	proxies []*faultproxy.Proxy

	admOnce sync.Once
	adm     *kadm.Client
	admCl   *kgo.Client
	admErr  error

	closeOnce sync.Once
	closeErr  error
}

// StartCluster starts a cluster of n nodes (a KRaft quorum of n voters; from
// 3 nodes, topics default to replication factor 3 and min.insync.replicas 2,
// as do the offsets and transaction state topics) and waits until every
// broker is ready. It is brought down when the test ends (Close). It fails
// the test if the cluster cannot start, with kafka.sh's own words for what is
// missing (Java, Maven, Go, flock); it never skips.
func StartCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	cfg := clusterConfig{upTimeout: scriptTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if n < 1 {
		t.Fatalf("kafkatest: a cluster needs at least 1 node, not %d", n)
	}
	for _, kv := range cfg.props {
		if k, v, _ := strings.Cut(kv, "="); k == "" || strings.ContainsAny(kv, ";\n") || strings.TrimSpace(k) != k || strings.TrimSpace(v) != v {
			t.Fatalf("kafkatest: WithServerProperty %q: want a key and a value without ';', newlines or surrounding blanks", kv)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	root, err := repoRoot(wd)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("kafkatest: %s needs bash: %v", scriptPath, err)
	}
	c := &Cluster{t: t, cfg: cfg, root: root, dir: t.TempDir()}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("kafkatest: %v", err)
		}
	})

	env := []string{"NODES=" + strconv.Itoa(n), "ADVERTISE_PORTS=", "KAFKA_SERVER_PROPS=" + strings.Join(cfg.props, "\n")}
	if cfg.proxies {
		ports := make([]string, n)
		for i := range n {
			p, err := faultproxy.Listen("127.0.0.1:0", "", faultproxy.WithName(fmt.Sprintf("node-%d", i+1)))
			if err != nil {
				t.Fatalf("kafkatest: proxy for node %d: %v", i+1, err)
			}
			c.proxies = append(c.proxies, p)
			ports[i] = strconv.Itoa(p.Port())
		}
		env[1] = "ADVERTISE_PORTS=" + strings.Join(ports, ",")
	}
	// A test binary that dies without its cleanups (a -timeout panic) does
	// not leave JVMs behind: kafka.sh's watcher brings the cluster down.
	env = append(env, "KAFKA_OWNER_PID="+strconv.Itoa(os.Getpid()))

	ctx, cancel := context.WithTimeout(context.Background(), cfg.upTimeout)
	defer cancel()
	start := time.Now()
	if _, err := c.script(ctx, env, "up"); err != nil {
		t.Fatalf("kafkatest: start a %d-node cluster: %v", n, err)
	}
	if err := c.loadNodes(ctx); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	for i, p := range c.proxies {
		p.SetTarget(c.nodes[i].Client)
	}
	via := ""
	if cfg.proxies {
		via = " (through proxies at " + strings.Join(c.ProxyBrokers(), ",") + ")"
	}
	t.Logf("kafkatest: %d-node cluster up in %s: %s%s", n, time.Since(start).Round(time.Millisecond), strings.Join(c.Brokers(), ","), via)
	return c
}

// Dir is the cluster's state dir (CORB_KAFKA_DIR of kafka.sh).
func (c *Cluster) Dir() string { return c.dir }

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Nodes describes every node, in node order.
func (c *Cluster) Nodes() []Node { return slices.Clone(c.nodes) }

// Brokers are the seed brokers of the cluster's direct listeners, one a node.
func (c *Cluster) Brokers() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Broker
	}
	return out
}

// ProxyBrokers are the seed brokers that go through the proxies (nil without
// WithProxies). A client seeded with them stays on the proxies: the brokers
// advertise the proxies' addresses to it.
func (c *Cluster) ProxyBrokers() []string {
	if len(c.proxies) == 0 {
		return nil
	}
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Proxied
	}
	return out
}

// Proxies are the fault proxies in front of the nodes, in node order (nil
// without WithProxies).
func (c *Cluster) Proxies() []*faultproxy.Proxy { return slices.Clone(c.proxies) }

// Proxy is node's fault proxy (nil without WithProxies or for no such node).
func (c *Cluster) Proxy(node int) *faultproxy.Proxy {
	if node < 1 || node > len(c.proxies) {
		return nil
	}
	return c.proxies[node-1]
}

// NodeID is node's Kafka broker id.
func (c *Cluster) NodeID(node int) (int32, error) {
	if node < 1 || node > len(c.nodes) {
		return -1, fmt.Errorf("%w: %d (the cluster has nodes 1 to %d)", ErrNoNode, node, len(c.nodes))
	}
	return c.nodes[node-1].ID, nil
}

// NodeOf is the node whose broker id is id.
func (c *Cluster) NodeOf(id int32) (int, error) {
	for _, n := range c.nodes {
		if n.ID == id {
			return n.Node, nil
		}
	}
	return 0, fmt.Errorf("%w: broker id %d", ErrNoNode, id)
}

// LogPath is node's server log.
func (c *Cluster) LogPath(node int) string {
	return filepath.Join(c.dir, fmt.Sprintf("node-%d", node), "logs", "server.log")
}

// Kill sends SIGKILL to node: no controlled shutdown, no flush. Its data and
// ports are kept for Start.
func (c *Cluster) Kill(ctx context.Context, node int) error { return c.nodeCmd(ctx, "kill", node) }

// Stop sends SIGTERM to node and waits until it has shut down (controlled
// shutdown: its partitions' leadership moves first); SIGKILL after the stop
// timeout.
func (c *Cluster) Stop(ctx context.Context, node int) error { return c.nodeCmd(ctx, "stop", node) }

// Start starts a stopped or killed node again on its data and ports, and
// blocks until the controller lists it as an unfenced broker. After a Kill
// that takes the controller's broker session timeout (9s) longer: the new
// incarnation cannot register before the old one's session expires. With a
// static quorum a node is never ready while a majority of controllers is down.
func (c *Cluster) Start(ctx context.Context, node int) error { return c.nodeCmd(ctx, "start", node) }

// Restart stops node (SIGTERM) and starts it again on its data.
func (c *Cluster) Restart(ctx context.Context, node int) error {
	return c.nodeCmd(ctx, "restart", node)
}

// RestartAll stops every node and starts them again on their data.
func (c *Cluster) RestartAll(ctx context.Context) error {
	_, err := c.script(ctx, nil, "restart")
	return err
}

// Running reports which nodes run now, as kafka.sh sees them.
func (c *Cluster) Running(ctx context.Context) ([]int, error) {
	out, err := c.script(ctx, nil, "nodes")
	if err != nil {
		return nil, err
	}
	nodes, err := parseNodes(out)
	if err != nil {
		return nil, err
	}
	var running []int
	for _, n := range nodes {
		if n.state == "running" {
			running = append(running, n.node.Node)
		}
	}
	return running, nil
}

func (c *Cluster) nodeCmd(ctx context.Context, cmd string, node int) error {
	if _, err := c.NodeID(node); err != nil {
		return err
	}
	_, err := c.script(ctx, nil, cmd, strconv.Itoa(node))
	return err
}

// Close brings the cluster down (kafka.sh down: every node stopped, SIGKILL
// after the stop timeout) and closes the proxies. It runs when the test ends
// and may be called earlier; later calls return the first call's result. If
// the test failed, the tail of every node's server log is logged, and the
// logs are copied into CORB_TEST_LOGDIR when that is set.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		if c.admCl != nil {
			c.admCl.Close()
		}
		if c.t.Failed() {
			c.keepLogs()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var errs []error
		if _, err := c.script(ctx, nil, "down"); err != nil {
			errs = append(errs, fmt.Errorf("cluster down: %w", err))
		}
		for _, p := range c.proxies {
			if err := p.Close(); err != nil {
				errs = append(errs, fmt.Errorf("proxy %s: %w", p.Name(), err))
			}
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

func (c *Cluster) keepLogs() {
	logDir := os.Getenv("CORB_TEST_LOGDIR")
	for _, n := range c.nodes {
		data, err := os.ReadFile(c.LogPath(n.Node))
		if err != nil {
			continue
		}
		c.t.Logf("--- kafka node %d: %s (last lines) ---\n%s", n.Node, c.LogPath(n.Node), tail(string(data), 30))
		if logDir != "" {
			name := fmt.Sprintf("%s-kafka-node-%d.log", strings.ReplaceAll(c.t.Name(), "/", "_"), n.Node)
			_ = os.WriteFile(filepath.Join(logDir, name), data, 0o644)
		}
	}
}

// admin is a kadm client on the direct listeners, made on first use.
func (c *Cluster) admin() (*kadm.Client, error) {
	c.admOnce.Do(func() {
		c.admCl, c.admErr = kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DialTimeout(2*time.Second))
		if c.admErr == nil {
			c.adm = kadm.NewClient(c.admCl)
		}
	})
	return c.adm, c.admErr
}

// Leader is the node that leads topic's partition, polling fresh metadata
// until it names a live leader or ctx ends. Right after a Kill, metadata
// still names the killed node until the controller fences it (its broker
// session timeout, 9s by default); pass exclude to wait for a leader elsewhere.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int32, exclude ...int) (int, error) {
	return c.pollNode(ctx, fmt.Sprintf("leader of %s[%d]", topic, partition), exclude, func() (int32, error) {
		resp, err := c.metadata(ctx, topic)
		if err != nil {
			return -1, err
		}
		for _, t := range resp.Topics {
			if t.Topic == nil || *t.Topic != topic {
				continue
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				return -1, fmt.Errorf("topic %q: %w", topic, err)
			}
			for _, p := range t.Partitions {
				if p.Partition == partition {
					return p.Leader, kerr.ErrorForCode(p.ErrorCode)
				}
			}
			return -1, fmt.Errorf("topic %q has no partition %d", topic, partition)
		}
		return -1, fmt.Errorf("topic %q not in metadata", topic)
	})
}

// metadata asks a broker for metadata of topics (all topics when none),
// bypassing the client's metadata cache.
func (c *Cluster) metadata(ctx context.Context, topics ...string) (*kmsg.MetadataResponse, error) {
	if _, err := c.admin(); err != nil {
		return nil, err
	}
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, c.admCl)
}

// TxnCoordinator is the node that is the transaction coordinator of txnID
// (FindCoordinator of type transaction: the leader of txnID's partition of
// __transaction_state, created on first use). It polls until a coordinator
// is named or ctx ends.
func (c *Cluster) TxnCoordinator(ctx context.Context, txnID string, exclude ...int) (int, error) {
	adm, err := c.admin()
	if err != nil {
		return 0, err
	}
	return c.pollNode(ctx, "transaction coordinator of "+txnID, exclude, func() (int32, error) {
		return coordinator(adm.FindTxnCoordinators(ctx, txnID), txnID)
	})
}

// GroupCoordinator is the node that coordinates consumer group group.
func (c *Cluster) GroupCoordinator(ctx context.Context, group string, exclude ...int) (int, error) {
	adm, err := c.admin()
	if err != nil {
		return 0, err
	}
	return c.pollNode(ctx, "group coordinator of "+group, exclude, func() (int32, error) {
		return coordinator(adm.FindGroupCoordinators(ctx, group), group)
	})
}

// coordinator is the broker id that rs names for key.
func coordinator(rs kadm.FindCoordinatorResponses, key string) (int32, error) {
	r, ok := rs[key]
	if !ok {
		return -1, fmt.Errorf("no FindCoordinator answer for %q", key)
	}
	if r.Err != nil {
		return -1, r.Err
	}
	return r.NodeID, nil
}

// pollNode calls find until it names a broker that is a node of c and not in
// exclude, or ctx ends (2 minutes without a deadline).
func (c *Cluster) pollNode(ctx context.Context, what string, exclude []int, find func() (int32, error)) (int, error) {
	var node int
	err := waitFor(ctx, time.Until(deadlineOr(ctx, 2*time.Minute)), func() (bool, error) {
		id, err := find()
		if err != nil {
			return false, err
		}
		if id < 0 {
			return false, fmt.Errorf("no %s yet", what)
		}
		n, err := c.NodeOf(id)
		if err != nil {
			return false, fmt.Errorf("%s is broker %d: %w", what, id, err)
		}
		if slices.Contains(exclude, n) {
			return false, fmt.Errorf("%s is still node %d", what, n)
		}
		node = n
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("kafkatest: %s: %w", what, err)
	}
	return node, nil
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

// WaitInSync blocks until every partition of topics (of every topic when none
// is named) has all its replicas in sync and a leader, as after a restarted
// node caught up; or ctx ends. Kill a second node only after this, or
// min.insync.replicas may refuse writes for a while.
func (c *Cluster) WaitInSync(ctx context.Context, topics ...string) error {
	err := waitFor(ctx, time.Until(deadlineOr(ctx, 2*time.Minute)), func() (bool, error) {
		resp, err := c.metadata(ctx, topics...)
		if err != nil {
			return false, err
		}
		for _, t := range resp.Topics {
			name := kmsg.StringPtr("")
			if t.Topic != nil {
				name = t.Topic
			}
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
				return false, fmt.Errorf("%s: %w", *name, err)
			}
			for _, p := range t.Partitions {
				if p.Leader < 0 || len(p.ISR) < len(p.Replicas) {
					return false, fmt.Errorf("%s[%d]: leader %d, replicas %v, in sync %v", *name, p.Partition, p.Leader, p.Replicas, p.ISR)
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("kafkatest: replicas in sync: %w", err)
	}
	return nil
}

// script runs kafka.sh with the cluster's state dir and returns its stdout.
func (c *Cluster) script(ctx context.Context, extraEnv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(c.root, scriptPath)}, args...)...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "CORB_KAFKA_DIR="+c.dir)
	if c.cfg.heap != "" {
		cmd.Env = append(cmd.Env, "KAFKA_HEAP_OPTS="+c.cfg.heap)
	}
	if c.cfg.stopTimeout > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("KAFKA_STOP_TIMEOUT=%d", int(c.cfg.stopTimeout.Round(time.Second).Seconds())))
	}
	if c.cfg.readyTimeout > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("KAFKA_READY_TIMEOUT=%d", int(c.cfg.readyTimeout.Round(time.Second).Seconds())))
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	// The JVMs kafka.sh starts write to their own files; a probe still
	// running when ctx ends must not hold Wait on the pipes.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s (CORB_KAFKA_DIR=%s): %w\n%s", scriptPath, strings.Join(args, " "), c.dir, err, tail(stderr.String(), 40))
	}
	return stdout.String(), nil
}

func (c *Cluster) loadNodes(ctx context.Context) error {
	out, err := c.script(ctx, nil, "nodes")
	if err != nil {
		return err
	}
	nodes, err := parseNodes(out)
	if err != nil {
		return err
	}
	c.nodes = make([]Node, len(nodes))
	for i, n := range nodes {
		c.nodes[i] = n.node
	}
	if c.cfg.proxies {
		for i, n := range c.nodes {
			if n.Client == "" || n.Proxied != c.proxies[i].Addr() {
				return fmt.Errorf("node %d: CLIENT listener %q advertised at %q, want it at its proxy %s", n.Node, n.Client, n.Proxied, c.proxies[i].Addr())
			}
		}
	}
	return nil
}

// nodeLine is one line of `kafka.sh nodes`.
type nodeLine struct {
	node  Node
	state string
}

// parseNodes reads `kafka.sh nodes`: one line a node of key=value words
// (node= id= state= pid= broker= controller= client= advertised=; "-" for none).
func parseNodes(out string) ([]nodeLine, error) {
	var nodes []nodeLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		kv := map[string]string{}
		for _, w := range strings.Fields(line) {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("kafka.sh nodes: %q: word %q is not key=value", line, w)
			}
			if v == "-" {
				v = ""
			}
			kv[k] = v
		}
		node, err1 := strconv.Atoi(kv["node"])
		id, err2 := strconv.ParseInt(kv["id"], 10, 32)
		if err := errors.Join(err1, err2); err != nil || kv["broker"] == "" {
			return nil, fmt.Errorf("kafka.sh nodes: %q: want node=, id= and broker=", line)
		}
		if node != len(nodes)+1 {
			return nil, fmt.Errorf("kafka.sh nodes: %q: node %d out of order", line, node)
		}
		nodes = append(nodes, nodeLine{
			node:  Node{Node: node, ID: int32(id), Broker: kv["broker"], Controller: kv["controller"], Client: kv["client"], Proxied: kv["advertised"]},
			state: kv["state"],
		})
	}
	if len(nodes) == 0 {
		return nil, errors.New("kafka.sh nodes listed no node")
	}
	return nodes, nil
}
