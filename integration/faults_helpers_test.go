//go:build integration && faults

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// The cluster and proxy fault cases (faults_cluster_test.go,
// faults_proxy_test.go) run the pass operator of engine_test.go on a cluster
// of their own while nodes die or the network between the operator and the
// brokers misbehaves, and require the same operator process to carry every
// input to the output once, read_committed. Each logs one line
//
//	reliability: case=NAME records=N faults=F fault_to_complete_ms=C recover_ms=R max_gap_ms=G lost=L dup=D result=ok
//
// for RELIABILITY.md: C is from the (first) fault to the last output, R from
// the broker's return (or the end of the fault schedule) to the last output
// (0 when the output was complete before that), G the longest time without a
// new output after the first fault. With CORB_RELIABILITY_OUT set the line is
// appended to that file too.

// clusterFaultProps shorten the brokers' session (Kafka's 9 s) so that a
// killed node is fenced, and its partitions move, in about 3 s, and so that
// it registers again soon after a Start.
var clusterFaultProps = []kafkatest.ClusterOption{
	kafkatest.WithServerProperty("broker.session.timeout.ms", "3000"),
	kafkatest.WithServerProperty("broker.heartbeat.interval.ms", "500"),
	kafkatest.WithStopTimeout(20 * time.Second),
}

// clusterPass is the pass operator's pipeline on a test's own cluster. The
// test produces and checks on the direct listeners (brokers); the operator
// is given opBrokers, which are the proxies in the proxy cases.
type clusterPass struct {
	*passEnv
	opBrokers []string
}

func newClusterPass(t *testing.T, c *kafkatest.Cluster, opBrokers []string) *clusterPass {
	t.Helper()
	return &clusterPass{passEnv: passEnvOnBrokers(t, c.Brokers()), opBrokers: opBrokers}
}

// passEnvOnBrokers is newPassEnv (engine_test.go) on brokers of the test's
// choosing; its topics get the cluster's default replication (3 from 3
// nodes, min.insync.replicas 2).
func passEnvOnBrokers(t *testing.T, brokers []string) *passEnv {
	t.Helper()
	ns := kafkatest.Unique(t, "pass")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(passTopology, ns, "exactly_once")), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".in", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".out", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".dlq", 1, nil)
	return &passEnv{t: t, brokers: brokers, ns: ns, topology: file, input: map[string][]byte{},
		adm: kadm.NewClient(kafkatest.NewClient(t, brokers))}
}

// txnID is the transactional id of the operator's instance 0.
func (e *clusterPass) txnID() string {
	return topology.Names{Namespace: e.ns}.TransactionalID("pass", "0")
}

// run starts instance 0 of the pass operator on the operator's brokers.
func (e *clusterPass) run() *proc {
	return startCorb(e.t, "pass/0", "run", "--topology", e.topology, "--brokers", strings.Join(e.opBrokers, ","),
		"--instance", "0", "--admin-addr", "127.0.0.1:0", "--max-batch", "200", "--shutdown-timeout", "10s", "pass")
}

// producePaced writes n commands in chunks of 250, one chunk every
// every, on the direct listeners, remembering each in e.input (as
// passEnv.produce does, at a pace of the test's choosing). Inputs are
// recorded before they are sent; e.input must not be read until it returns.
func (e *clusterPass) producePaced(ctx context.Context, n int, every time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	const chunk = 250
	for start := 0; start < n; start += chunk {
		var recs []*kgo.Record
		for i := start; i < min(start+chunk, n); i++ {
			id := fmt.Sprintf("c-%05d", i)
			v, err := schemas.Marshal(&schemas.Command{ID: id, CommandType: "status", Channel: "test", Sender: "it",
				IssuedAt: time.UnixMilli(int64(i)), Text: &schemas.TextArgs{Raw: "STATUS " + id}})
			if err != nil {
				return err
			}
			e.input[id] = v
			recs = append(recs, &kgo.Record{Topic: e.ns + ".in", Key: []byte(id), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

// endOffsets are topic's end offsets by partition, or an error while the
// cluster cannot say (a node away).
func (e *clusterPass) endOffsets(topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, e.ns+"."+topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// busiest is the input partition holding the most records now.
func (e *clusterPass) busiest() (int32, int64, error) {
	ends, err := e.endOffsets("in")
	if err != nil {
		return -1, 0, err
	}
	best, most := int32(-1), int64(-1)
	for p, o := range ends {
		if o > most || (o == most && p < best) {
			best, most = p, o
		}
	}
	return best, most, nil
}

// arrivals reads a topic read_committed from the start, beside the test,
// without a group, and remembers when each key first arrived and how many
// times each came. It reads on the direct listeners: proxy faults do not
// touch it, a node's death does, and its client rides that out.
type arrivals struct {
	mu    sync.Mutex
	seen  map[string]int
	first map[string]time.Time
	order []time.Time // first arrivals, in order
	total int
	errs  []error
	stop  context.CancelFunc
	done  chan struct{}
}

func watchArrivals(t *testing.T, brokers []string, topic string) *arrivals {
	cl := kafkatest.NewClient(t, brokers, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithCancel(context.Background())
	a := &arrivals{seen: map[string]int{}, first: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			a.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				k := string(r.Key)
				if a.seen[k] == 0 {
					a.first[k] = now
					a.order = append(a.order, now)
				}
				a.seen[k]++
				a.total++
			})
			a.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-a.done })
	return a
}

// counts are the records read so far and the distinct keys among them.
func (a *arrivals) counts() (total, distinct int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, len(a.seen)
}

// waitDistinct waits until n distinct keys arrived, or timeout, or p
// exited. It returns when the n-th arrived, or an error saying why not.
func (a *arrivals) waitDistinct(n int, timeout time.Duration, p *proc) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		a.mu.Lock()
		got := len(a.order)
		var last time.Time
		if got > 0 {
			last = a.order[got-1]
		}
		a.mu.Unlock()
		if got >= n {
			return last, nil
		}
		if err := p.exited(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d outputs within %v", got, n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxGap is the longest time without a new key between from and to (the
// gaps at either end included).
func (a *arrivals) maxGap(from, to time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, gap := from, time.Duration(0)
	for _, at := range a.order {
		if at.Before(from) {
			continue
		}
		if at.After(to) {
			break
		}
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return max(gap, to.Sub(prev))
}

// faultFigures is one case's figures.
type faultFigures struct {
	Case            string
	Records, Faults int
	FaultToComplete time.Duration // from the first fault to the last output
	Recover         time.Duration // from the broker's return / the schedule's end to the last output (0: before)
	MaxGap          time.Duration // the longest time without a new output after the first fault
	Lost, Dup       int
	Result          string // "ok", or what went wrong ("operator-exited", "incomplete")
}

func (f faultFigures) log(t *testing.T) {
	t.Helper()
	line := fmt.Sprintf("reliability: case=%s records=%d faults=%d fault_to_complete_ms=%d recover_ms=%d max_gap_ms=%d lost=%d dup=%d result=%s",
		f.Case, f.Records, f.Faults, f.FaultToComplete.Milliseconds(), f.Recover.Milliseconds(), f.MaxGap.Milliseconds(), f.Lost, f.Dup, f.Result)
	t.Log(line)
	if out := os.Getenv("CORB_RELIABILITY_OUT"); out != "" {
		if fh, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(fh, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
			fh.Close()
		}
	}
}

// finish waits for the output to be complete (within budget of back), lets
// anything late arrive, logs the figures and fails the test on a loss, a
// duplicate, an operator that exited or a slow recovery; then checks the
// output byte for byte (checkExactlyOnce) and stops the operator.
func (e *clusterPass) finish(out *arrivals, p *proc, f faultFigures, faultAt, back time.Time, budget time.Duration) {
	t := e.t
	t.Helper()
	done, err := out.waitDistinct(f.Records, time.Until(back.Add(budget)), p)
	if err != nil {
		total, distinct := out.counts()
		f.Lost, f.Dup = f.Records-distinct, total-distinct
		f.Result = "incomplete"
		if p.exited() != nil {
			f.Result = "operator-exited"
		}
		f.MaxGap = out.maxGap(faultAt, time.Now())
		f.log(t)
		t.Fatalf("%s: %v", f.Case, err)
	}
	f.FaultToComplete = done.Sub(faultAt)
	f.Recover = max(0, done.Sub(back))
	f.MaxGap = out.maxGap(faultAt, done)
	time.Sleep(3 * time.Second) // a duplicate committed late shows up here
	total, distinct := out.counts()
	f.Lost, f.Dup = f.Records-distinct, total-distinct
	f.Result = "ok"
	if err := p.exited(); err != nil {
		f.Result = "operator-exited"
	}
	f.log(t)
	if f.Result != "ok" || f.Lost != 0 || f.Dup != 0 {
		t.Fatalf("%s: %s, %d lost, %d duplicated\n%v", f.Case, f.Result, f.Lost, f.Dup, p.exited())
	}
	e.checkExactlyOnce()
	p.stop(30 * time.Second)
}
