//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
)

// The broker-fault tests run operators on a broker of their own
// (faultBroker), SIGKILL it mid-stream, start it again on its data and
// require the operator to ride it out: the same process carries on, and
// the output is every input once and nothing else. Each logs a line
// starting "RELIABILITY" with its figures (see RELIABILITY.md); with
// CORB_RELIABILITY_OUT set they are appended to that file too.

func newAdmin(t *testing.T, brokers []string) *kadm.Client {
	return kadm.NewClient(kafkatest.NewClient(t, brokers))
}

// outputWatch reads a topic read_committed from the start, beside the
// test, and remembers when each key arrived: when the output is complete,
// when it moved again after a fault, and whether a key came twice. Its
// client rides out the broker's outage like any other.
type outputWatch struct {
	mu    sync.Mutex
	seen  map[string]int
	first map[string]time.Time // when each key first arrived
	total int
	last  time.Time
	stop  context.CancelFunc
	done  chan struct{}
}

func watchOutput(t *testing.T, brokers []string, topic string) *outputWatch {
	cl := kafkatest.NewClient(t, brokers, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithCancel(context.Background())
	w := &outputWatch{seen: map[string]int{}, first: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			w.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				k := string(r.Key)
				if w.seen[k] == 0 {
					w.first[k] = now
				}
				w.seen[k]++
				w.total++
				w.last = now
			})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// count is the records read so far and the distinct keys among them.
func (w *outputWatch) count() (total, distinct int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total, len(w.seen)
}

// firstAfter is when the first key new after t arrived (zero: none yet).
func (w *outputWatch) firstAfter(t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var at time.Time
	for _, ts := range w.first {
		if ts.After(t) && (at.IsZero() || ts.Before(at)) {
			at = ts
		}
	}
	return at
}

// waitDistinct waits until n distinct keys arrived, failing the test after
// timeout or when one of procs exited; it returns when the n-th arrived.
func (w *outputWatch) waitDistinct(t *testing.T, n int, timeout time.Duration, procs ...*proc) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				t.Fatal(err)
			}
		}
		w.mu.Lock()
		got, last := len(w.seen), w.last
		w.mu.Unlock()
		if got >= n {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outputs within %v", got, n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writtenOK is passEnv.written that tolerates a broker away (-1).
func (e *passEnv) writtenOK(topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, e.ns+"."+topic)
	if err != nil || ends.Error() != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// reliability is one run's figures, for RELIABILITY.md.
type reliability struct {
	Case       string
	Records    int
	Faults     int
	Lost, Dups int
	// Recover is from the broker's return to the first output committed
	// after it; Complete from the broker's return to the last output,
	// SinceFault from the kill to the last output.
	Recover, Complete, SinceFault time.Duration
	Note                          string
}

func (r reliability) report(t *testing.T) {
	line := fmt.Sprintf("RELIABILITY | %s | records %d | faults %d | lost %d | duplicated %d | recover %.1fs | complete %.1fs after the return, %.1fs after the fault | %s",
		r.Case, r.Records, r.Faults, r.Lost, r.Dups, r.Recover.Seconds(), r.Complete.Seconds(), r.SinceFault.Seconds(), r.Note)
	t.Log(line)
	if f := os.Getenv("CORB_RELIABILITY_OUT"); f != "" {
		out, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(out, "%s | %s\n", time.Now().UTC().Format(time.RFC3339), line)
			out.Close()
		}
	}
}

// readyz is the status of p's /readyz and its body.
func readyz(url string) (int, string) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape is the value of the first sample of name (with labels matching
// the substring sel) on p's /metrics, or "" when there is none.
func scrape(url, name, sel string) string {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) && strings.Contains(line, sel) {
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				return line[i+1:]
			}
		}
	}
	return ""
}

// readyWatch samples /readyz every 100ms and remembers whether, once
// ready, it was seen not ready, and ready again after that.
type readyWatch struct {
	mu             sync.Mutex
	sawReady       bool // before the fault: the operator had joined
	sawUnready     bool
	readyAfter     bool
	unreadyBody    string
	stop           context.CancelFunc
	done           chan struct{}
	stuckAtUnready string
}

func watchReady(url string) *readyWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &readyWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			code, body := readyz(url)
			w.mu.Lock()
			switch {
			case !w.sawReady:
				w.sawReady = code == http.StatusOK
			case code == http.StatusServiceUnavailable:
				if !w.sawUnready {
					w.unreadyBody = body
				}
				w.sawUnready, w.readyAfter = true, false
				w.stuckAtUnready = scrape(url, "corb_stuck_seconds", "")
			case code == http.StatusOK && w.sawUnready:
				w.readyAfter = true
			}
			w.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return w
}

func (w *readyWatch) result() (sawUnready, readyAfter bool, body, stuck string) {
	w.stop()
	<-w.done
	return w.sawUnready, w.readyAfter, w.unreadyBody, w.stuckAtUnready
}

// brokerFault runs the pass operator over n records while fault does its
// work on the broker (it returns when the broker is back), then requires
// the same operator process to finish the stream exactly, within budget
// of the broker's return. It returns the run's figures.
//
// fault may replace the operator process (*p): the new one must then ride
// out the rest. It returns the faults injected and when the broker went
// away and came back.
func brokerFault(t *testing.T, b *faultBroker, n int, budget time.Duration, fault func(e *passEnv, p **proc) (faults int, down, back time.Time)) reliability {
	e := passEnvOn(t, b.brokers, "exactly_once")
	out := watchOutput(t, b.brokers, e.ns+".out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() { produced <- e.produce(ctx, n, false) }()
	p := e.run("0")
	url := p.adminURL()
	ready := watchReady(url)

	first := p
	faults, down, back := fault(e, &p)
	if p != first {
		ready.stop()
		<-ready.done
		ready = watchReady(p.adminURL())
		ready.mu.Lock()
		ready.sawReady, ready.sawUnready = true, true // a new process: not ready until it joins
		ready.mu.Unlock()
	}
	if err := p.exited(); err != nil {
		t.Fatalf("the operator did not ride out the broker: %v", err)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	// Wait well past the budget, so that a slow recovery still gives its figures.
	done := out.waitDistinct(t, n, time.Until(back.Add(budget+2*time.Minute)), p)
	rec := reliability{Records: n, Faults: faults, Complete: done.Sub(back), SinceFault: done.Sub(down)}
	if at := out.firstAfter(back); !at.IsZero() {
		rec.Recover = at.Sub(back)
	}
	// Let anything late (a duplicate) arrive, then count.
	time.Sleep(3 * time.Second)
	total, distinct := out.count()
	rec.Lost, rec.Dups = n-distinct, total-distinct
	e.checkExactlyOnce()
	if err := p.exited(); err != nil {
		t.Fatal(err)
	}
	sawUnready, readyAfter, body, stuck := ready.result()
	rec.Note = fmt.Sprintf("readyz unready during fault %v, ready after %v; stuck gauge while unready %s", sawUnready, readyAfter, stuck)
	if !sawUnready || !readyAfter {
		t.Errorf("/readyz: not ready seen %v, ready again after %v", sawUnready, readyAfter)
	} else {
		t.Logf("/readyz while stuck: %s", strings.TrimSpace(body))
	}
	p.stop(20 * time.Second)
	keepLog(t, p)
	return rec
}

// keepLog writes p's whole output to CORB_TEST_LOGDIR, pass or fail.
func keepLog(t *testing.T, p *proc) {
	if d := os.Getenv("CORB_TEST_LOGDIR"); d != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + p.name)
		_ = os.WriteFile(filepath.Join(d, name+".log"), []byte(p.log.String()), 0o644)
	}
}

// TestOperatorRidesOutBrokerRestart is issue 12's must-show: a passthrough
// operator (corb run, exactly-once) carrying 20 000 records; the broker
// SIGKILLed mid-stream and started again on its data and ports 8 s later.
// The operator stays up, and the output is complete and exact within 30 s
// of the broker's return.
func TestOperatorRidesOutBrokerRestart(t *testing.T) {
	passBrokerCase(t, "single broker SIGKILLed mid-stream, back after 8 s (passthrough)",
		func(e *passEnv, b *faultBroker, p **proc) (int, time.Time, time.Time) {
			return 1, killMidStream(t, e, b, *p), restartAfter(t, b, 8*time.Second)
		})
}

// passBrokerCase runs brokerFault for 20 000 records on a broker of the
// test's own, reports the figures and requires the output complete within
// 30 s of the broker's return.
func passBrokerCase(t *testing.T, name string, fault func(e *passEnv, b *faultBroker, p **proc) (int, time.Time, time.Time)) {
	b := newFaultBroker(t)
	rec := brokerFault(t, b, 20000, 30*time.Second, func(e *passEnv, p **proc) (int, time.Time, time.Time) {
		return fault(e, b, p)
	})
	rec.Case = name
	rec.report(t)
	if rec.Complete > 30*time.Second {
		t.Errorf("output complete %.1fs after the broker's return, want within 30s", rec.Complete.Seconds())
	}
}

// killMidStream SIGKILLs the broker once the output holds 5 000–9 000
// offsets (of 20 000 records) and returns when.
func killMidStream(t *testing.T, e *passEnv, b *faultBroker, p *proc) time.Time {
	at := int64(5000 + rand.IntN(4000))
	e.waitWritten("out", at, p)
	b.kill()
	t.Logf("broker SIGKILLed after %d output offsets", at)
	return time.Now()
}

// restartAfter starts the broker again on its data after down and returns
// when it is back.
func restartAfter(t *testing.T, b *faultBroker, down time.Duration) time.Time {
	time.Sleep(down)
	b.start()
	t.Logf("broker back after %v", down)
	return time.Now()
}

// The broker away for 60 s, twice the transaction timeout: the broker
// aborts the open transaction when it comes back (and bumps the producer's
// epoch); the operator starts it again and carries on.
func TestOperatorRidesOutBrokerDown60s(t *testing.T) {
	passBrokerCase(t, "single broker SIGKILLed mid-stream, back after 60 s (passthrough)",
		func(e *passEnv, b *faultBroker, p **proc) (int, time.Time, time.Time) {
			return 1, killMidStream(t, e, b, *p), restartAfter(t, b, 60*time.Second)
		})
}

// The operator SIGKILLed while the broker is away, and started again
// before it is back: the new process waits for the cluster (it must not
// exit because it cannot initialize its producer), fences what its
// predecessor left open, and finishes the stream exactly.
func TestOperatorSIGKILLedWhileBrokerAway(t *testing.T) {
	passBrokerCase(t, "operator SIGKILLed while the broker is away, restarted before it is back (passthrough)",
		func(e *passEnv, b *faultBroker, p **proc) (int, time.Time, time.Time) {
			down := killMidStream(t, e, b, *p)
			time.Sleep(3 * time.Second)
			(*p).kill9()
			t.Log("operator SIGKILLed while the broker is away; started again")
			*p = e.run("0")
			time.Sleep(5 * time.Second)
			if err := (*p).exited(); err != nil {
				t.Fatalf("the new operator did not wait for the broker: %v", err)
			}
			return 2, down, restartAfter(t, b, 0)
		})
}

// Presence over a broker restart: state restored from the changelog after
// the aborted batches, and the same event ids as an uninterrupted run.
func TestPresenceRidesOutBrokerRestart(t *testing.T) {
	b := newFaultBroker(t)
	e := presenceEnvOn(t, b.brokers)
	produced := e.produceInBackground()
	p := e.run("0")
	total := int64(len(e.input))
	e.waitCommitted(total/3, 2*time.Minute, p)
	c, _ := e.committed()
	b.kill()
	down := time.Now()
	t.Logf("broker SIGKILLed with about %d of %d input records committed", c, total)
	back := restartAfter(t, b, 8*time.Second)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.waitCommitted(total, 3*time.Minute, p)
	done := time.Now()
	if err := p.exited(); err != nil {
		t.Fatalf("the operator did not ride out the broker: %v", err)
	}
	e.check()
	reliability{Case: "single broker SIGKILLed mid-stream, back after 8 s (presence: same event ids as an uninterrupted run)",
		Records: len(e.input), Faults: 1, Complete: done.Sub(back), SinceFault: done.Sub(down),
		Note: fmt.Sprintf("%d events", e.nEvents)}.report(t)
	p.stop(20 * time.Second)
	keepLog(t, p)
}
