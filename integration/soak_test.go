//go:build soak && integration

package integration

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/topology"
)

// TestSoak is `make soak`: the whole default pipeline (deploy/topology.yaml,
// every operator in one `corb run` process) on a 3-node cluster of its own,
// fed vtest.avi in a loop for SOAK_DURATION while broker nodes are killed and
// started again at random, and the operator process SIGKILLed once. It
// samples the process's memory and goroutines every SOAK_SAMPLE and requires
// them, at the end, within the bounds stated at soakMemFactor; and, once the
// pipeline has caught up, every frame ingested detected exactly once, every
// zone count and presence event and command once, and no dead letters.
//
// Its samples (samples.csv), faults (faults.csv), summary (summary.md) and the
// processes' logs go to $CORB_TEST_LOGDIR/soak-<time>-<seed>, else to
// t.ArtifactDir(). The settings (environment):
//
//	SOAK_DURATION       how long the video is fed (30m)
//	SOAK_SEED           the seed of the fault schedule (random; printed)
//	SOAK_NODES          broker nodes (3)
//	SOAK_FPS            frames a second sent of vtest's 10 (2: detection keeps up on 2 shared cores)
//	SOAK_WARMUP         not measured, after the operator process starts (3m; a quarter of a shorter run)
//	SOAK_FAULT_EVERY    time between node faults, uniform (1m-4m; off: none)
//	SOAK_OUTAGE         how long a killed node stays down, uniform (5s-60s)
//	SOAK_KILL_OPERATOR  SIGKILL the operator process once during the warm-up (1; 0: never)
//	SOAK_SAMPLE         the sampling interval (10s)
//	SOAK_DRAIN          how long the pipeline may take to catch up after the load (10m)
//	SOAK_QUIET          idle time at the end, for the goroutine count (1m)
func TestSoak(t *testing.T) {
	vtest := needDetector(t)
	cfg := soakConfigFromEnv(t)
	plan := newSoakPlan(cfg)
	t.Logf("soak: seed %d (SOAK_SEED=%d repeats the schedule); %v of load, %d nodes, %.3g fps, warm-up %v, %d node faults planned, operator SIGKILL at %v",
		cfg.Seed, cfg.Seed, cfg.Duration, cfg.Nodes, cfg.FPS, cfg.Warmup, len(plan.nodeFaults), plan.operatorKill)

	dir := soakArtifactDir(t, cfg.Seed)
	t.Logf("soak: artifacts in %s", dir)

	cluster := kafkatest.StartCluster(t, cfg.Nodes)
	brokers := cluster.Brokers()
	ns := kafkatest.Unique(t, "soak")
	topoFile, err := filepath.Abs("../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := topology.Load(topoFile)
	if err != nil {
		t.Fatal(err)
	}
	spec = spec.WithNamespace(ns)
	applyTopology(t, brokers, topoFile, ns)
	// The checks count every frame, detection and zone count of the run:
	// none may expire under them (frames keep an hour by default).
	soakKeepForever(t, brokers, spec, "frames", "detections", "zone-counts")

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORB_SMS_DRIVER", "console")
	t.Setenv("CORB_ZONES", filepath.Join(root, "deploy", "zones.yaml"))
	t.Setenv("CORB_DIRECTORY", filepath.Join(root, "deploy", "directory.yaml"))

	r := &soakRun{t: t, cfg: cfg, cluster: cluster, spec: spec, brokers: brokers, dir: dir, loop: -1, phase: "start",
		down: map[int]bool{}}
	t.Cleanup(r.writeLogs) // after the processes' own cleanups have stopped them
	addr := e2eFreeAddr(t)
	r.url = "http://" + addr
	var ops []string
	for _, op := range spec.Operators {
		ops = append(ops, op.Name)
	}
	r.opArgs = append([]string{"run", "--topology", topoFile, "--namespace", ns, "--brokers", strings.Join(brokers, ","),
		"--instance", "soak", "--admin-addr", addr, "--shutdown-timeout", "30s"}, ops...)
	csv, err := os.Create(filepath.Join(dir, "samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	fmt.Fprintln(csv, soakCSVHeader)
	r.csv = csv

	op := r.startOperator()
	kafkatest.WaitFor(t, 3*time.Minute, func() (bool, error) {
		if err := op.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		return readyzOK(context.Background(), r.url), nil
	})
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() { defer close(sampled); r.sampleEvery(sampleCtx) }()
	defer func() { stopSampling(); <-sampled }()

	// The load: vtest looped, each loop at its own event time, at the
	// video's own pace, while the nodes fail.
	r.mu.Lock()
	r.start = time.Now()
	r.phase = "warmup"
	r.mu.Unlock()
	t0 := r.start.UTC().Truncate(time.Second)
	faultCtx, stopFaults := context.WithCancel(context.Background())
	faulted := make(chan struct{})
	go func() { defer close(faulted); r.injectNodeFaults(faultCtx, plan.nodeFaults) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	every := func() {
		if time.Since(r.start) >= cfg.Warmup {
			r.setPhase("load")
		}
		if err := op.exited(); err != nil {
			r.finding("the operator process exited by itself (restarted): %v", err)
			r.addFault(soakFault{Kind: "operator exited", At: time.Since(r.start)})
			op = r.startOperator()
		}
		if plan.operatorKill > 0 && !r.killed && time.Since(r.start) >= plan.operatorKill {
			r.killed = true
			op.kill9()
			r.addFault(soakFault{Kind: "operator SIGKILL", At: time.Since(r.start)})
			op = r.startOperator()
		}
	}
	for k := 0; k == 0 || time.Since(r.start)+soakLoop <= cfg.Duration; k++ {
		r.setLoop(k)
		args := []string{"ingest", "--topology", topoFile, "--namespace", ns, "--brokers", strings.Join(brokers, ","),
			"--camera", "vtest", "--realtime", "--max-fps", strconv.FormatFloat(cfg.FPS, 'f', -1, 64),
			"--start-time", t0.Add(time.Duration(k) * soakLoop).Format(time.RFC3339Nano), vtest}
		ing := startCorb(t, fmt.Sprintf("ingest-%02d", k), args...)
		r.ingests = append(r.ingests, ing)
		began := time.Now()
		for running := true; running; {
			select {
			case err := <-ing.done:
				ing.done <- err
				running = false
				if err != nil {
					r.finding("ingest of loop %d exited with %v:\n%s", k, err, tail(ing.log.String(), 20))
				}
			case <-tick.C:
				every()
				if time.Since(began) > 4*soakLoop {
					r.finding("ingest of loop %d still running after %v: stopped", k, time.Since(began).Round(time.Second))
					ing.kill9()
					running = false
				}
			}
		}
		r.loops++
	}
	loadTook := time.Since(r.start)
	r.setLoop(-1)
	stopFaults()
	<-faulted
	r.startStoppedNodes()

	// The drain: until every operator has committed past the last record
	// of each of its inputs, twice in a row with nothing new.
	r.setPhase("drain")
	drainStart := time.Now()
	var prev map[string]map[int32]int64
	for {
		every()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		lagging, lasts, err := soakLagging(ctx, brokers, spec)
		cancel()
		if err == nil && len(lagging) == 0 && maps.EqualFunc(lasts, prev, maps.Equal) {
			break
		}
		prev = lasts
		if time.Since(drainStart) > cfg.Drain {
			t.Errorf("soak: the pipeline did not catch up within %v of the load's end: %v %v", cfg.Drain, err, first(lagging, 8))
			break
		}
		time.Sleep(5 * time.Second)
	}
	r.drainTook = time.Since(drainStart)
	r.setPhase("quiet")
	for end := time.Now().Add(cfg.Quiet); time.Now().Before(end); {
		<-tick.C
		every()
	}
	stopSampling()
	<-sampled

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := soakVerify(ctx, brokers, spec)
	if err != nil {
		t.Fatalf("soak: reading the outputs: %v", err)
	}
	rss, heap, gor, figErr := soakFigures(r.samples, cfg.Warmup, cfg.Nodes)
	r.report(out, loadTook, rss, heap, gor, figErr)

	// Judge.
	switch {
	case figErr != nil:
		t.Errorf("soak: no memory figures: %v", figErr)
	default:
		if !rss.ok() {
			t.Errorf("soak: RSS %s at the end, over its bound %s (%.1f× %s after the warm-up + %s)", mib(rss.End), mib(rss.Limit), soakMemFactor, mib(rss.Warm), mib(soakMemSlack))
		}
		if !heap.ok() {
			t.Errorf("soak: heap in use %s at the end, over its bound %s (%.1f× %s after the warm-up + %s)", mib(heap.End), mib(heap.Limit), soakMemFactor, mib(heap.Warm), mib(soakMemSlack))
		}
		if !gor.ok() {
			t.Errorf("soak: %.0f goroutines at the end, over their bound %.0f (%.0f after the warm-up)", gor.End, gor.Limit, gor.Warm)
		}
	}
	if out.Frames == 0 {
		t.Error("soak: no frames ingested")
	}
	if out.Lost+out.Duplicated+out.ZoneLost+out.ZoneDup+out.EventDups+out.CommandDups > 0 {
		t.Errorf("soak: not exactly once: %d frames lost, %d duplicated; zone counts %d lost, %d duplicated; %d events and %d commands twice; e.g. %v",
			out.Lost, out.Duplicated, out.ZoneLost, out.ZoneDup, out.EventDups, out.CommandDups, out.Examples)
	}
	if n := out.deadLetters(); n > 0 {
		t.Errorf("soak: %d dead letters: %s; e.g. %v", n, countsLine(out.DeadLetters), out.DeadLetterErrors)
	}
	if out.FrameDups > 0 {
		t.Errorf("soak: %d frames written twice by ingest", out.FrameDups)
	}
	for _, f := range r.findings {
		t.Errorf("soak: finding: %s", f)
	}
	op.stop(time.Minute)
}

// soakLoop is how far event time moves between two loops of vtest.avi
// (795 frames at 10 fps: 79.5 s).
const soakLoop = 80 * time.Second

type soakConfig struct {
	Duration, Warmup, Sample, Drain, Quiet time.Duration
	Seed                                   uint64
	Nodes                                  int
	FPS                                    float64
	FaultEvery, Outage                     [2]time.Duration // [0,0]: no node faults
	KillOperator                           bool
}

func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	dur := func(key string, def time.Duration) time.Duration {
		v := os.Getenv(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("%s=%q: want a duration such as 5m", key, v)
		}
		return d
	}
	span := func(key, def string) [2]time.Duration {
		v := cmp.Or(os.Getenv(key), def)
		if v == "off" {
			return [2]time.Duration{}
		}
		lo, hi, ok := strings.Cut(v, "-")
		a, err1 := time.ParseDuration(lo)
		b, err2 := time.ParseDuration(hi)
		if !ok || err1 != nil || err2 != nil || a <= 0 || b < a {
			t.Fatalf("%s=%q: want MIN-MAX such as %s, or off", key, v, def)
		}
		return [2]time.Duration{a, b}
	}
	c := soakConfig{
		Duration:     dur("SOAK_DURATION", 30*time.Minute),
		Sample:       dur("SOAK_SAMPLE", 10*time.Second),
		Drain:        dur("SOAK_DRAIN", 10*time.Minute),
		Quiet:        dur("SOAK_QUIET", time.Minute),
		Nodes:        3,
		FPS:          2,
		FaultEvery:   span("SOAK_FAULT_EVERY", "1m-4m"),
		Outage:       span("SOAK_OUTAGE", "5s-60s"),
		KillOperator: os.Getenv("SOAK_KILL_OPERATOR") != "0",
		Seed:         rand.Uint64() % 1e9,
	}
	c.Warmup = dur("SOAK_WARMUP", min(3*time.Minute, c.Duration/4))
	if v := os.Getenv("SOAK_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: want a number", v)
		}
		c.Seed = s
	}
	if v := os.Getenv("SOAK_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SOAK_NODES=%q: want a number of nodes", v)
		}
		c.Nodes = n
	}
	if v := os.Getenv("SOAK_FPS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 10 {
			t.Fatalf("SOAK_FPS=%q: want 0 < fps ≤ 10", v)
		}
		c.FPS = f
	}
	if c.Duration < 2*soakLoop {
		t.Fatalf("SOAK_DURATION=%v: want at least two loops of the video (%v)", c.Duration, 2*soakLoop)
	}
	if c.Sample <= 0 {
		t.Fatalf("SOAK_SAMPLE must be positive")
	}
	return c
}

// soakPlan is the schedule of faults drawn from the seed before the run:
// the same seed, the same times, outages and kinds of target (which node a
// kind hits depends on the cluster's state then).
type soakPlan struct {
	nodeFaults   []plannedFault
	operatorKill time.Duration // since the load began; 0: never
}

type plannedFault struct {
	At, Outage time.Duration // since the load began; how long the node stays down
	Target     string        // random, leader, txn-coordinator, group-coordinator
	Pick       int           // which node, or operator, of the target's choices
}

var soakTargets = []string{"random", "leader", "txn-coordinator", "group-coordinator"}

func newSoakPlan(c soakConfig) soakPlan {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	between := func(r [2]time.Duration) time.Duration {
		return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])+1))
	}
	var p soakPlan
	if c.KillOperator {
		// In the warm-up's second half, so that the process measured after
		// its own warm-up is the one that lives to the end.
		p.operatorKill = between([2]time.Duration{c.Warmup / 2, c.Warmup})
	}
	if c.FaultEvery[0] > 0 {
		for at := between(c.FaultEvery); at < c.Duration; at += between(c.FaultEvery) {
			p.nodeFaults = append(p.nodeFaults, plannedFault{At: at, Outage: between(c.Outage),
				Target: soakTargets[rng.IntN(len(soakTargets))], Pick: rng.IntN(1 << 20)})
		}
	}
	return p
}

// soakFault is one fault as it happened.
type soakFault struct {
	Kind      string
	Node      int
	At        time.Duration // since the load began
	Outage    time.Duration // killed until started again
	StartTook time.Duration // kafka.sh start until the node was ready
	InSync    time.Duration // from the start until every partition was in sync again
	Ready     time.Duration // from the node's return until the operator's /readyz said 200
	Err       string
}

type soakRun struct {
	t       *testing.T
	cfg     soakConfig
	cluster *kafkatest.Cluster
	spec    *topology.Spec
	brokers []string
	url     string // the operator process's admin endpoint
	opArgs  []string
	dir     string
	csv     *os.File

	// The test's goroutine only.
	ingests   []*proc
	operators []*proc
	loops     int
	killed    bool
	drainTook time.Duration

	mu       sync.Mutex
	start    time.Time // the load's
	phase    string
	gen      int
	genStart time.Time
	loop     int
	down     map[int]bool
	samples  []soakSample
	faults   []soakFault
	findings []string
}

func (r *soakRun) setPhase(p string) { r.mu.Lock(); r.phase = p; r.mu.Unlock() }
func (r *soakRun) setLoop(k int)     { r.mu.Lock(); r.loop = k; r.mu.Unlock() }

func (r *soakRun) addFault(f soakFault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
	r.t.Logf("soak: fault %d at %v: %s node %d, down %v, back in %v, in sync after %v, ready after %v %s",
		len(r.faults), f.At.Round(time.Second), f.Kind, f.Node, f.Outage.Round(100*time.Millisecond),
		f.StartTook.Round(100*time.Millisecond), f.InSync.Round(100*time.Millisecond), f.Ready.Round(100*time.Millisecond), f.Err)
}

func (r *soakRun) finding(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := fmt.Sprintf(format, args...)
	r.findings = append(r.findings, f)
	r.t.Logf("soak: FINDING: %s", f)
}

// startOperator starts the operator process, generation after generation,
// on the same instance id (a restart fences its predecessor) and port.
func (r *soakRun) startOperator() *proc {
	r.mu.Lock()
	gen := len(r.operators)
	r.gen, r.genStart = gen, time.Now()
	r.mu.Unlock()
	p := startCorb(r.t, fmt.Sprintf("operators-%d", gen), r.opArgs...)
	r.operators = append(r.operators, p)
	return p
}

func (r *soakRun) sampleEvery(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Sample)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := soakSample{At: time.Now()}
		r.mu.Lock()
		s.Phase, s.Gen, s.Up, s.Loop = r.phase, r.gen, s.At.Sub(r.genStart), r.loop
		if !r.start.IsZero() {
			s.Elapsed = s.At.Sub(r.start)
		}
		s.NodesUp = r.cfg.Nodes - len(r.down)
		r.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if m, err := scrapeMetrics(sctx, r.url); err == nil {
			s.OK = true
			s.RSS, s.HeapInuse, s.Goroutines = m["process_resident_memory_bytes"], m["go_memstats_heap_inuse_bytes"], m["go_goroutines"]
			s.Lag, s.Faults, s.Detected = m["corb_consumer_lag"], m["corb_faults_total"], m["corb_records_out_total{operator=detect}"]
		}
		s.Ready = readyzOK(sctx, r.url)
		cancel()
		r.mu.Lock()
		r.samples = append(r.samples, s)
		fmt.Fprintln(r.csv, s.csv())
		r.mu.Unlock()
		if n%6 == 0 {
			r.t.Logf("soak %v %s: loop %d, process %d up %v: RSS %s, heap %s, %.0f goroutines, lag %.0f, %.0f detected, %.0f faults ridden out, nodes %d/%d, ready %t",
				s.Elapsed.Round(time.Second), s.Phase, s.Loop, s.Gen, s.Up.Round(time.Second), mib(s.RSS), mib(s.HeapInuse),
				s.Goroutines, s.Lag, s.Detected, s.Faults, s.NodesUp, r.cfg.Nodes, s.Ready)
		}
	}
}

// injectNodeFaults kills nodes as planned until ctx ends; a node down when
// it ends is started at once.
func (r *soakRun) injectNodeFaults(ctx context.Context, plan []plannedFault) {
	for _, f := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(r.start.Add(f.At))):
		}
		r.nodeFault(ctx, f)
	}
}

func (r *soakRun) nodeFault(ctx context.Context, f plannedFault) {
	bg := context.Background()
	node, kind := r.target(f)
	got := soakFault{Kind: "kill " + kind, Node: node, At: time.Since(r.start)}
	kctx, cancel := context.WithTimeout(bg, 2*time.Minute)
	defer cancel()
	if err := r.cluster.Kill(kctx, node); err != nil {
		got.Err = "kill: " + err.Error()
		r.addFault(got)
		return
	}
	killed := time.Now()
	r.mu.Lock()
	r.down[node] = true
	r.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(f.Outage):
	}
	started := time.Now()
	got.Outage = started.Sub(killed)
	sctx, cancel2 := context.WithTimeout(bg, 3*time.Minute)
	defer cancel2()
	if err := r.cluster.Start(sctx, node); err != nil {
		got.Err = "start: " + err.Error()
		r.addFault(got)
		return
	}
	got.StartTook = time.Since(started)
	r.mu.Lock()
	delete(r.down, node)
	r.mu.Unlock()
	back := time.Now()
	for !readyzOK(bg, r.url) && time.Since(back) < 2*time.Minute {
		time.Sleep(500 * time.Millisecond)
	}
	got.Ready = time.Since(back)
	ictx, cancel3 := context.WithTimeout(bg, 3*time.Minute)
	defer cancel3()
	if err := r.cluster.WaitInSync(ictx); err != nil {
		got.Err = "in sync: " + err.Error()
	}
	got.InSync = time.Since(started)
	r.addFault(got)
}

// target is the node a planned fault kills: any node, the leader of the
// busiest frames partition, or the transaction or group coordinator of an
// operator. A target that cannot be found falls back to any node.
func (r *soakRun) target(f plannedFault) (int, string) {
	n := r.cluster.Len()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := r.spec.Names()
	op := r.spec.Operators[f.Pick%len(r.spec.Operators)].Name
	var node int
	var err error
	switch f.Target {
	case "leader":
		var p int32
		if p, err = r.busiest(ctx, names.Topic("frames")); err == nil {
			node, err = r.cluster.Leader(ctx, names.Topic("frames"), p)
		}
		op = fmt.Sprintf("frames[%d]", p)
	case "txn-coordinator":
		node, err = r.cluster.TxnCoordinator(ctx, names.TransactionalID(op, "soak"))
	case "group-coordinator":
		node, err = r.cluster.GroupCoordinator(ctx, names.Group(op))
	default:
		return 1 + f.Pick%n, "random"
	}
	if err != nil {
		return 1 + f.Pick%n, fmt.Sprintf("random (no %s of %s: %v)", f.Target, op, err)
	}
	return node, f.Target + " of " + op
}

// busiest is the partition of topic holding the most records.
func (r *soakRun) busiest(ctx context.Context, topic string) (int32, error) {
	adm := kadm.NewClient(kafkatest.NewClient(r.t, r.brokers))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	best, most := int32(0), int64(-1)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > most {
			best, most = o.Partition, o.Offset
		}
	})
	return best, nil
}

// startStoppedNodes starts any node a failed Start left down.
func (r *soakRun) startStoppedNodes() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	running, err := r.cluster.Running(ctx)
	if err != nil {
		r.finding("listing the running nodes: %v", err)
		return
	}
	for n := 1; n <= r.cluster.Len(); n++ {
		if !slices.Contains(running, n) {
			r.finding("node %d was still down after the load", n)
			if err := r.cluster.Start(ctx, n); err != nil {
				r.t.Fatalf("soak: start node %d: %v", n, err)
			}
		}
	}
	r.mu.Lock()
	clear(r.down)
	r.mu.Unlock()
}

// soakKeepForever sets retention.ms -1 on the logical topics.
func soakKeepForever(t *testing.T, brokers []string, spec *topology.Spec, topics ...string) {
	t.Helper()
	adm := kadm.NewClient(kafkatest.NewClient(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	forever := "-1"
	for _, tp := range topics {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &forever}}, spec.Names().Topic(tp))
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resp.On(spec.Names().Topic(tp), nil); err == nil {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatalf("soak: retention of %s: %v", tp, err)
		}
	}
}

func soakArtifactDir(t *testing.T, seed uint64) string {
	base := os.Getenv("CORB_TEST_LOGDIR")
	if base == "" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(base, fmt.Sprintf("soak-%s-%d", time.Now().Format("20060102-150405"), seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
