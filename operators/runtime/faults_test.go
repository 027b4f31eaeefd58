package runtime_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtime/fault"
)

// faultCluster is a one-broker kfake cluster on a fixed port and data
// directory, so that it can be stopped and started again on its data: a
// broker restart. Its connections go through a listener that can drop the
// answer to chosen requests (see dropAnswer).
type faultCluster struct {
	t     *testing.T
	port  int
	dir   string
	mu    sync.Mutex
	c     *kfake.Cluster
	lis   *dropListener
	addrs []string
}

func newFaultCluster(t *testing.T, partitions int32, topics ...string) *faultCluster {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	fc := &faultCluster{t: t, port: port, dir: t.TempDir()}
	fc.start(kfake.SeedTopics(partitions, topics...))
	t.Cleanup(func() { fc.cluster().Close() })
	return fc
}

func (fc *faultCluster) start(extra ...kfake.Opt) {
	fc.t.Helper()
	lis := &dropListener{}
	lis.drop.Store(-1)
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(fc.port), kfake.DataDir(fc.dir),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			l, err := net.Listen(network, addr)
			lis.Listener = l
			return lis, err
		})}, extra...)
	var c *kfake.Cluster
	var err error
	for range 50 { // the port may take a moment to be free again
		if c, err = kfake.NewCluster(opts...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fc.t.Fatal(err)
	}
	fc.mu.Lock()
	fc.c, fc.lis, fc.addrs = c, lis, c.ListenAddrs()
	fc.mu.Unlock()
}

func (fc *faultCluster) cluster() *kfake.Cluster {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.c
}

// restart stops the broker, keeps it away for down, and starts it again
// on its data and port.
func (fc *faultCluster) restart(down time.Duration) {
	fc.cluster().Close()
	time.Sleep(down)
	fc.start()
}

// dropListener hands out connections that, when armed, close instead of
// writing the answer to a request of one key: the broker did the work,
// the client never hears of it.
type dropListener struct {
	net.Listener
	drop    atomic.Int32 // the request key whose answer is dropped; -1 none
	dropped atomic.Int32 // answers dropped
	// refuse makes every connection close at once until then (unix nanos).
	refuse atomic.Int64
}

// dropAnswer drops the answer to the next request of key and refuses
// connections for the following refuse, so that the client's retries
// fail too.
func (l *dropListener) dropAnswer(key kmsg.Key, refuse time.Duration) {
	l.refuse.Store(-int64(refuse))
	l.drop.Store(int32(key))
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if until := l.refuse.Load(); until > 0 && time.Now().UnixNano() < until {
		c.Close()
		return c, nil
	}
	return &dropConn{Conn: c, l: l, keys: map[int32]int16{}}, nil
}

type dropConn struct {
	net.Conn
	l    *dropListener
	mu   sync.Mutex
	in   []byte          // request bytes not yet parsed
	keys map[int32]int16 // correlation id → request key
	out  int             // bytes left of the response being written
	kill bool
}

func (c *dropConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.in = append(c.in, b[:n]...)
	for len(c.in) >= 12 {
		size := int(binary.BigEndian.Uint32(c.in))
		if len(c.in) < 4+size {
			break
		}
		key := int16(binary.BigEndian.Uint16(c.in[4:]))
		corr := int32(binary.BigEndian.Uint32(c.in[8:]))
		c.keys[corr] = key
		c.in = c.in[4+size:]
	}
	c.mu.Unlock()
	return n, err
}

func (c *dropConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.out == 0 && len(b) >= 8 {
		c.out = 4 + int(binary.BigEndian.Uint32(b))
		corr := int32(binary.BigEndian.Uint32(b[4:]))
		if key, ok := c.keys[corr]; ok && int32(key) == c.l.drop.Load() && c.l.drop.CompareAndSwap(int32(key), -1) {
			c.kill = true
			c.l.dropped.Add(1)
			if d := c.l.refuse.Load(); d < 0 {
				c.l.refuse.Store(time.Now().Add(time.Duration(-d)).UnixNano())
			}
		}
		delete(c.keys, corr)
	}
	c.out -= min(c.out, len(b))
	kill := c.kill
	c.mu.Unlock()
	if kill {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// syncBuffer is a bytes.Buffer safe for the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// faultHooks count what the runner told of faults and stalls.
type faultHooks struct {
	runtime.NopHooks
	mu        sync.Mutex
	faults    map[fault.Kind]int
	errs      []string
	stalls    int
	recovered int
}

func (h *faultHooks) Faulted(_ runtime.Member, f runtime.Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[f.Kind]++
	h.errs = append(h.errs, f.Err.Error())
}

// saw reports whether a fault's error contained s.
func (h *faultHooks) saw(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.errs {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func (h *faultHooks) Stalled(_ runtime.Member, s runtime.Stall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.Since.IsZero() {
		h.recovered++
	} else {
		h.stalls++
	}
}

func (h *faultHooks) count() (faults, stalls, recovered int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.faults {
		faults += n
	}
	return faults, h.stalls, h.recovered
}

// produceRange writes records from..to-1 to "in", keyed by their number.
func produceRange(t *testing.T, brokers []string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// exactOutput reads "out" read_committed until it holds n records, reads
// a second more for any extra, and requires every input's output exactly
// once.
func exactOutput(t *testing.T, brokers []string, n int, within time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	total := 0
	read := func(ctx context.Context, untilN bool) {
		for ctx.Err() == nil {
			f := cl.PollFetches(ctx)
			f.EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)]++
				total++
			})
			if untilN && len(seen) >= n {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	read(ctx, true)
	cancel()
	if len(seen) < n {
		t.Fatalf("%d of %d outputs within %v", len(seen), n, within)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	read(ctx, false) // a duplicate would show here
	cancel()
	for i := range n {
		if c := seen["seen:v"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("output of record %d seen %d times", i, c)
		}
	}
	if total != n {
		t.Errorf("read %d outputs for %d inputs", total, n)
	}
}

// TestRunnerRidesOutFaults injects one fault per case into a kfake broker
// while an exactly-once runner carries records, and requires the runner
// to keep running and its output to be every input once.
func TestRunnerRidesOutFaults(t *testing.T) {
	const n = 600
	cases := []struct {
		name string
		// inject runs after the first half of the input is in; it may
		// block until the fault is over.
		inject func(t *testing.T, fc *faultCluster)
		// want are fault kinds that must have been told to the hooks.
		want []fault.Kind
		// wantErr must be in the error of a fault told to the hooks.
		wantErr string
	}{
		{
			// The bug: the broker goes away while a batch ends; the end
			// fails, and the client still believes its transaction open.
			name: "broker restarted on its data",
			inject: func(t *testing.T, fc *faultCluster) {
				fc.restart(2 * time.Second)
			},
			want: []fault.Kind{fault.Unreachable},
		},
		{
			name: "EndTxn answered coordinator not available for 2s",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.CoordinatorNotAvailable, Count: -1})
				time.Sleep(2 * time.Second)
				h.Remove()
				requireHits(t, h)
			},
		},
		{
			name: "EndTxn connections dropped for 2s",
			inject: func(t *testing.T, fc *faultCluster) {
				until := time.Now().Add(2 * time.Second)
				var hits atomic.Int32
				fc.cluster().ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
					if time.Now().After(until) {
						fc.cluster().DropControl()
						return nil, nil, false
					}
					hits.Add(1)
					fc.cluster().KeepControl()
					return nil, errors.New("connection dropped"), true
				})
				time.Sleep(3 * time.Second)
				if hits.Load() == 0 {
					t.Error("no EndTxn dropped")
				}
			},
			wantErr: "ending the batch",
		},
		{
			// The commit lands; its answer does not, nor do the retries for a
			// second. Rewinding to the offsets before the batch would repeat it.
			name: "EndTxn commit lands, its answer is lost",
			inject: func(t *testing.T, fc *faultCluster) {
				fc.mu.Lock()
				lis := fc.lis
				fc.mu.Unlock()
				lis.dropAnswer(kmsg.EndTxn, 1500*time.Millisecond)
				waitFor(t, "an EndTxn answer dropped", func() bool { return lis.dropped.Load() > 0 })
				time.Sleep(2 * time.Second)
			},
			wantErr: "ending the batch",
		},
		{
			name: "produce refused with not leader for 2s",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotLeaderForPartition, Count: -1})
				time.Sleep(2 * time.Second)
				h.Remove()
				requireHits(t, h)
			},
		},
		{
			// A transaction the broker aborted (its timeout): the producer's
			// epoch is stale.
			name: "produce refused with invalid producer epoch",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.InvalidProducerEpoch, Count: 3})
				time.Sleep(2 * time.Second)
				requireHits(t, h)
			},
		},
		{
			name: "transactional offset commit refused: the group moved on",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Err: kerr.IllegalGeneration, Count: 2})
				time.Sleep(2 * time.Second)
				requireHits(t, h)
			},
		},
		{
			name: "heartbeats refused: partitions lost mid-batch",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, Err: kerr.UnknownMemberID, Count: 2})
				time.Sleep(2 * time.Second)
				requireHits(t, h)
			},
		},
		{
			name: "coordinator loading for 2s",
			inject: func(t *testing.T, fc *faultCluster) {
				h := fc.cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.FindCoordinator}, Err: kerr.CoordinatorLoadInProgress, Count: -1},
					kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn, kmsg.TxnOffsetCommit, kmsg.AddOffsetsToTxn, kmsg.Heartbeat},
						Err: kerr.NotCoordinator, Count: -1})
				time.Sleep(2 * time.Second)
				h.Remove()
				requireHits(t, h)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each on a cluster of its own; the cases mostly wait
			fc := newFaultCluster(t, 3, "in", "out", "dlq")
			brokers := func() []string {
				fc.mu.Lock()
				defer fc.mu.Unlock()
				return fc.addrs
			}
			var log syncBuffer
			hooks := &faultHooks{faults: map[fault.Kind]int{}}
			r, err := runtime.New(runtime.Config{Name: "f", Brokers: brokers(), Inputs: []string{"in"}, Outputs: []string{"out"},
				DeadLetter: "dlq", Operator: operators.OperatorFunc(upper), MaxBatch: 20, Hooks: hooks,
				SessionTimeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			began := time.Now()
			defer func() {
				t.Logf("ran %v", time.Since(began).Round(10*time.Millisecond))
				stopping := time.Now()
				defer func() { t.Logf("stopped in %v", time.Since(stopping).Round(10*time.Millisecond)) }()
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("Run did not return within 30s of cancel")
				}
				if t.Failed() || os.Getenv("CORB_TEST_RUNNER_LOG") != "" {
					t.Logf("runner log:\n%s", log.String())
				}
			}()
			produceRange(t, brokers(), 0, n/2)
			t.Logf("first half in after %v", time.Since(began).Round(10*time.Millisecond))
			faulted := make(chan struct{})
			go func() {
				defer close(faulted)
				tc.inject(t, fc)
			}()
			// The second half comes while the fault is on.
			time.Sleep(100 * time.Millisecond)
			produceRange(t, brokers(), n/2, n)
			<-faulted
			t0 := time.Now()
			exactOutput(t, brokers(), n, time.Minute)
			t.Logf("output exact %v after the fault", time.Since(t0).Round(10*time.Millisecond))
			select {
			case err := <-done:
				t.Fatalf("the runner stopped: %v", err)
			default:
			}
			waitFor(t, "the runner to be ready again", r.Ready)
			for _, k := range tc.want {
				hooks.mu.Lock()
				got := hooks.faults[k]
				hooks.mu.Unlock()
				if got == 0 {
					t.Errorf("no %s fault told to the hooks", k)
				}
			}
			if tc.wantErr != "" && !hooks.saw(tc.wantErr) {
				t.Errorf("no fault told to the hooks says %q", tc.wantErr)
			}
			f, s, rec := hooks.count()
			t.Logf("faults %d, stalls %d, recovered %d", f, s, rec)
		})
	}
}

// requireHits fails the test when h faulted no request: the case tested nothing.
func requireHits(t *testing.T, h *kfake.FaultHandle) {
	t.Helper()
	if h.Hits() == 0 {
		t.Error("the fault hit no request")
	}
}

// While the broker is away the runner is not ready, says why, and its
// stuck gauge grows; once the broker is back it is ready again, the gauge
// reads 0 and the stall is counted.
func TestReadinessAndStuckGaugeFollowABrokerOutage(t *testing.T) {
	fc := newFaultCluster(t, 3, "in", "out", "dlq")
	brokers := func() []string {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return fc.addrs
	}
	reg := prometheus.NewRegistry()
	var log syncBuffer
	r, stop := start(t, runtime.Config{Name: "r", Brokers: brokers(), Inputs: []string{"in"}, Outputs: []string{"out"},
		DeadLetter: "dlq", Operator: operators.OperatorFunc(upper), Hooks: newPrometheus(t, reg),
		SessionTimeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	defer stop()
	produceRange(t, brokers(), 0, 50)
	waitFor(t, "the runner to be ready", r.Ready)
	exactOutput(t, brokers(), 50, 30*time.Second)

	fc.cluster().Close()
	waitFor(t, "the runner to be not ready", func() bool { return !r.Ready() })
	if err := r.Health(); err == nil || !strings.Contains(err.Error(), "no progress") {
		t.Errorf("Health while the broker is away: %v", err)
	}
	waitFor(t, "the stuck gauge", func() bool { return metricValue(t, reg, "corb_stuck_seconds", "operator", "r") >= 1 })
	waitFor(t, "an unreachable fault counted", func() bool {
		return metricValue(t, reg, "corb_faults_total", "operator", "r", "kind", "unreachable") > 0
	})
	fc.start()
	produceRange(t, brokers(), 50, 100)
	waitFor(t, "the runner to be ready again", r.Ready)
	exactOutput(t, brokers(), 100, 30*time.Second)
	waitFor(t, "the stuck gauge to read 0", func() bool { return metricValue(t, reg, "corb_stuck_seconds", "operator", "r") == 0 })
	if _, ok := lookupHistogramCount(t, reg, "corb_stuck_duration_seconds"); !ok {
		t.Error("the stall's duration was not observed")
	}
	if n := strings.Count(log.String(), "broker unreachable"); n > 6 {
		t.Errorf("%d lines say the broker is unreachable; want a bounded few:\n%s", n, log.String())
	}
}

// lookupHistogramCount is the sample count of histogram name in reg.
func lookupHistogramCount(t *testing.T, reg prometheus.Gatherer, name string) (uint64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				if c := m.GetHistogram().GetSampleCount(); c > 0 {
					return c, true
				}
			}
		}
	}
	return 0, false
}
