//go:build integration && faults

package integration

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/corb-dev/corb/integration/faultproxy"
	"github.com/corb-dev/corb/integration/kafkatest"
)

// proxySchedule cuts, stalls past the request timeout and slows the
// operator's connections to every broker at once (the operator host losing
// its network): franz-go gives a request 10 s beyond its own timeout, and the
// group drops a member silent for 10 s (its session), so a 12–15 s stall
// times out requests in flight and costs the operator its partitions.
func proxySchedule() faultproxy.Schedule {
	return faultproxy.Schedule{
		Faults: []faultproxy.Spec{
			{Kind: faultproxy.KindCut, Weight: 3},
			{Kind: faultproxy.KindStall, Min: 12 * time.Second, Max: 15 * time.Second, Weight: 1},
			{Kind: faultproxy.KindSlow, Min: 2 * time.Second, Max: 5 * time.Second, Latency: 100 * time.Millisecond, BytesPerSec: 128 << 10, Weight: 2},
		},
		MinGap: time.Second,
		MaxGap: 4 * time.Second,
	}
}

// TestFaultsProxyRandom: the pass operator talks to a 3-node cluster only
// through fault proxies (the brokers advertise them) while a seeded random
// schedule cuts, stalls and slows its connections for 60 s; the test
// produces and reads on the brokers' direct listeners. CORB_FAULT_SEED
// repeats a run's schedule (the choices, not the timings).
func TestFaultsProxyRandom(t *testing.T) {
	const (
		n        = 20000
		schedule = 60 * time.Second
	)
	seed := rand.Uint64()
	if s := os.Getenv("CORB_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CORB_FAULT_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("fault schedule seed %d (CORB_FAULT_SEED=%d repeats it)", seed, seed)

	c := kafkatest.StartCluster(t, 3, append(clusterFaultProps, kafkatest.WithProxies())...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newClusterPass(t, c, c.ProxyBrokers())
	out := watchArrivals(t, c.Brokers(), e.ns+".out")
	drv, err := faultproxy.Random(rand.New(rand.NewPCG(seed, seed)), proxySchedule(), c.Proxies()...)
	if err != nil {
		t.Fatal(err)
	}

	// 250 records every 700 ms: 20 000 over about 60 s, under the faults.
	produced := make(chan error, 1)
	go func() { produced <- e.producePaced(ctx, n, 700*time.Millisecond) }()
	p := e.run()
	e.waitWritten("out", 500, p)

	fctx, stopFaults := context.WithTimeout(ctx, schedule)
	defer stopFaults()
	faultAt := time.Now()
	_ = drv.Run(fctx) // nil when the schedule's time is up; it heals the proxies
	back := time.Now()
	faults := drv.Faults()
	t.Logf("proxy schedule over after %s: %s", back.Sub(faultAt).Round(time.Millisecond), drv.Summary())
	for _, f := range faults {
		t.Logf("fault: %s", f)
	}
	var through int64
	for _, px := range c.Proxies() {
		through += px.Stats().BytesToTarget
	}
	if through == 0 {
		t.Fatal("no byte went through the proxies: the operator did not use them")
	}
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	e.finish(out, p, faultFigures{Case: "cluster3-proxy-random", Records: n, Faults: len(faults)}, faultAt, back, 90*time.Second)
	t.Logf("reliability: case=cluster3-proxy-random seed=%d %s", seed, drv.Summary())
}
