//go:build integration

package faultproxy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/faultproxy"
	"github.com/corb-dev/corb/integration/kafkatest"
)

// TestProduceThroughCuts produces through the proxy to a real broker while the
// proxy cuts every connection at random points, and checks that every record
// arrives exactly once (franz-go's idempotent producer retries what a cut
// lost) and that the client really went through the proxy.
func TestProduceThroughCuts(t *testing.T) {
	c := kafkatest.StartCluster(t, 1, kafkatest.WithProxies())
	p := c.Proxy(1)
	topic := kafkatest.Unique(t, "cuts")
	kafkatest.CreateTopic(t, c.Brokers(), topic, 3, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cl := kafkatest.NewClient(t, c.ProxyBrokers(), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	// The brokers the client discovered are the proxy, not the broker's own listener.
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 1 || fmt.Sprintf("%s:%d", m.Brokers[0].Host, m.Brokers[0].Port) != p.Addr() {
		t.Fatalf("metadata through the proxy lists %v; want the proxy %s", m.Brokers, p.Addr())
	}

	seed := rand.Uint64()
	t.Logf("fault schedule seed %d", seed)
	drv, err := faultproxy.Random(rand.New(rand.NewPCG(seed, seed)), faultproxy.Schedule{
		Faults: []faultproxy.Spec{{Kind: faultproxy.KindCut}},
		MinGap: 20 * time.Millisecond,
		MaxGap: 200 * time.Millisecond,
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = drv.Run(fctx) }()

	const n = 5000
	var (
		mu       sync.Mutex
		firstErr error
		pending  sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		pending.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			defer pending.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
		if i%500 == 0 {
			time.Sleep(100 * time.Millisecond) // spread the records over the faults
		}
	}
	pending.Wait()
	stopFaults()
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	faults := drv.Faults()
	cut := 0
	for _, f := range faults {
		cut += f.Conns
	}
	st := p.Stats()
	t.Logf("%d records in %s through %s; %s, %d connections cut; proxy %+v",
		n, time.Since(start).Round(time.Millisecond), p.Addr(), drv.Summary(), cut, st)
	if cut == 0 {
		t.Fatal("no connection was cut while producing: the test proved nothing")
	}
	if st.BytesToTarget < n {
		t.Fatalf("only %d bytes went through the proxy for %d records", st.BytesToTarget, n)
	}

	got := map[string]int{}
	for _, r := range kafkatest.ConsumeAll(t, c.Brokers(), topic, n, time.Minute, false) {
		got[string(r.Value)]++
	}
	for i := range n {
		if v := strconv.Itoa(i); got[v] != 1 {
			t.Errorf("record %s read %d times, want once", v, got[v])
		}
	}
	if len(got) != n {
		t.Errorf("read %d distinct records, want %d", len(got), n)
	}
}

// TestStallPastRequestTimeout stalls the proxy for longer than the client's
// request timeout: the produce request in flight times out, the client
// reconnects once the stall ends, and the record arrives once.
func TestStallPastRequestTimeout(t *testing.T) {
	c := kafkatest.StartCluster(t, 1, kafkatest.WithProxies())
	p := c.Proxy(1)
	topic := kafkatest.Unique(t, "stall")
	kafkatest.CreateTopic(t, c.Brokers(), topic, 1, nil)
	cl := kafkatest.NewClient(t, c.ProxyBrokers(), kgo.DefaultProduceTopic(topic),
		kgo.RequestTimeoutOverhead(time.Second), kgo.ProduceRequestTimeout(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	const stall = 5 * time.Second // past the 2s the client waits for a produce response
	p.Stall(stall)
	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("during")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < stall {
		t.Fatalf("produce during a %s stall returned after %s", stall, took)
	} else {
		t.Logf("produce during a %s stall acknowledged after %s; proxy %+v", stall, took.Round(time.Millisecond), p.Stats())
	}
	got := map[string]int{}
	for _, r := range kafkatest.ConsumeAll(t, c.Brokers(), topic, 2, 30*time.Second, false) {
		got[string(r.Value)]++
	}
	if got["before"] != 1 || got["during"] != 1 || len(got) != 2 {
		t.Fatalf("read %v; want before and during once each", got)
	}
}
