// Command ready waits until a Kafka cluster answers a metadata request that
// lists at least one broker and an active controller, then prints them. It is
// the readiness probe of deploy/kafka/kafka.sh.
//
//	go run ./deploy/kafka/ready -brokers 127.0.0.1:9092 -timeout 60s
//	go run ./deploy/kafka/ready -brokers 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094 -want-brokers 3
//	go run ./deploy/kafka/ready -brokers 127.0.0.1:9093 -node-id 2
//
// -want-brokers N waits until N brokers are listed; -node-id K until broker K
// is (a KRaft broker is listed once the controller has unfenced it, that is,
// once it has caught up with the metadata log after a restart).
//
// Exit status 0 means ready; 1 means the deadline passed (the last error is
// printed); 2 means bad flags. With -free-ports N it instead prints N distinct
// free TCP ports on 127.0.0.1, one a line, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errNotReady means the cluster answered but does not yet list a broker and a controller.
var errNotReady = errors.New("cluster not ready")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	freePorts := fs.Int("free-ports", 0, "print this many distinct free TCP ports on 127.0.0.1 and exit")
	want := fs.Int("want-brokers", 1, "wait until metadata lists at least this many brokers")
	nodeID := fs.Int("node-id", -1, "wait until metadata lists the broker with this node id")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *freePorts > 0 {
		ports, err := pickFreePorts(*freePorts)
		if err != nil {
			fmt.Fprintln(stderr, "ready:", err)
			return 1
		}
		for _, p := range ports {
			fmt.Fprintln(stdout, p)
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	desc, err := waitReady(ctx, strings.Split(*brokers, ","), readiness{brokers: *want, nodeID: int32(*nodeID)})
	if err != nil {
		fmt.Fprintf(stderr, "ready: %s not ready after %s: %v\n", *brokers, *timeout, err)
		return 1
	}
	fmt.Fprintln(stdout, desc)
	return 0
}

// pickFreePorts asks the kernel for n unused ports on loopback. The listeners
// stay open until all n are chosen, so the ports are distinct; another process
// may still take one before Kafka binds it (the broker then fails to start and
// kafka.sh up reports it).
func pickFreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen on 127.0.0.1:0: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// readiness is what a metadata response must show.
type readiness struct {
	brokers int   // at least this many brokers
	nodeID  int32 // this broker among them, when >= 0
}

// waitReady polls metadata until it shows r (and a controller) or ctx ends.
func waitReady(ctx context.Context, seeds []string, r readiness) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last error
	for {
		desc, err := probe(ctx, adm, r)
		if err == nil {
			return desc, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", errors.Join(ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, adm *kadm.Client, r readiness) (string, error) {
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	m, err := adm.BrokerMetadata(actx)
	if err != nil {
		return "", err
	}
	if len(m.Brokers) == 0 || len(m.Brokers) < r.brokers || m.Controller < 0 {
		return "", fmt.Errorf("%w: %d brokers (want %d), controller %d", errNotReady, len(m.Brokers), max(r.brokers, 1), m.Controller)
	}
	if r.nodeID >= 0 && !slices.ContainsFunc(m.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == r.nodeID }) {
		return "", fmt.Errorf("%w: broker %d not among %v", errNotReady, r.nodeID, m.Brokers.NodeIDs())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster=%s controller=%d brokers=", m.Cluster, m.Controller)
	for i, br := range m.Brokers {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d@%s:%d", br.NodeID, br.Host, br.Port)
	}
	return b.String(), nil
}
