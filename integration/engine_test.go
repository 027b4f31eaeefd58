//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

const passTopology = `namespace: %s
topics:
  - name: in
    partitions: 6
    schema: corb.Command
  - name: out
    partitions: 6
    schema: corb.Command
  - name: dlq
    schema: bytes
operators:
  - name: pass
    kind: passthrough
    inputs: [in]
    outputs: [out]
    on_failure: dlq
    replicas: 2
    guarantee: %s
    config: {schema: corb.Command}
`

// passEnv is one isolated pass-through pipeline on the real broker.
type passEnv struct {
	t        *testing.T
	brokers  []string
	ns       string
	topology string
	input    map[string][]byte // id → encoded record
	adm      *kadm.Client
}

func newPassEnv(t *testing.T, guarantee string) *passEnv {
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "pass")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(passTopology, ns, guarantee)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".in", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".out", 6, nil)
	kafkatest.CreateTopic(t, brokers, ns+".dlq", 1, nil)
	return &passEnv{t: t, brokers: brokers, ns: ns, topology: file, input: map[string][]byte{},
		adm: kadm.NewClient(kafkatest.NewClient(t, brokers))}
}

// run starts one replica of the pass operator.
func (e *passEnv) run(instance string) *proc {
	return startCorb(e.t, "pass/"+instance, "run", "--topology", e.topology, "--brokers", e.brokers[0],
		"--instance", instance, "--admin-addr", "127.0.0.1:0", "--max-batch", "200", "--shutdown-timeout", "10s", "pass")
}

// produce writes n commands (and, with poison, one record that is not Avro),
// in chunks with short pauses so that operators see a stream, not one lump.
func (e *passEnv) produce(ctx context.Context, n int, poison bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	// 250 records every 150 ms: 10 000 take about 6 s, long enough for the
	// faults to land mid-stream even when the operators keep up.
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
		if poison && start == chunk {
			recs = append(recs, &kgo.Record{Topic: e.ns + ".in", Key: []byte("poison"), Value: []byte("\xc3\x01 not avro at all")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
	return nil
}

// written is how many offsets the topic's partitions hold (records, aborted ones and markers included):
// a cheap progress gauge to time faults mid-stream.
func (e *passEnv) written(topic string) int64 {
	ends, err := e.adm.ListEndOffsets(context.Background(), e.ns+"."+topic)
	if err != nil {
		e.t.Fatalf("list end offsets: %v", err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// waitWritten waits until topic holds at least n offsets, failing if a process
// died. It polls every 10 ms (not with WaitFor's growing backoff) so that a
// fault timed by it lands close to the offset chosen.
func (e *passEnv) waitWritten(topic string, n int64, procs ...*proc) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for e.written(topic) < n {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				e.t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s holds %d offsets after 2m, want %d", topic, e.written(topic), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkExactlyOnce reads the output read_committed and requires it to be the input exactly.
func (e *passEnv) checkExactlyOnce() {
	t := e.t
	want := len(e.input)
	// Wait (generously: CI machines are small and shared) until every output is
	// committed, then read once more asking for one record too many: a duplicate
	// would show up there. The data is already written, so that wait only bounds the read.
	kafkatest.ConsumeAll(t, e.brokers, e.ns+".out", want, 3*time.Minute, true)
	got := kafkatest.ConsumeAll(t, e.brokers, e.ns+".out", want+1, 5*time.Second, true)
	seen := map[string]int{}
	for _, r := range got {
		id := string(r.Key)
		seen[id]++
		if !bytes.Equal(r.Value, e.input[id]) {
			t.Fatalf("output %s differs from its input", id)
		}
	}
	var missing, dups []string
	for id := range e.input {
		switch seen[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			dups = append(dups, id)
		}
	}
	if len(got) != want || len(missing) > 0 || len(dups) > 0 {
		t.Fatalf("read %d outputs for %d inputs: %d missing (e.g. %v), %d duplicated (e.g. %v)",
			len(got), want, len(missing), first(missing, 5), len(dups), first(dups, 5))
	}
}

func TestPassthroughCarries10000RecordsAndDeadLettersPoison(t *testing.T) {
	for _, g := range []string{"exactly_once", "at_least_once"} {
		t.Run(g, func(t *testing.T) {
			e := newPassEnv(t, g)
			if err := e.produce(context.Background(), 10000, true); err != nil {
				t.Fatal(err)
			}
			p := e.run("0")
			e.checkExactlyOnce()
			dlq := kafkatest.ConsumeAll(t, e.brokers, e.ns+".dlq", 1, 30*time.Second, true)
			if len(dlq) != 1 || string(dlq[0].Key) != "poison" {
				t.Fatalf("dead-letter topic holds %d records, want the poison record", len(dlq))
			}
			why, _ := runtime.Header(dlq[0], runtime.HeaderError)
			reason, _ := runtime.Header(dlq[0], runtime.HeaderReason)
			if reason != "permanent" || !bytes.Contains([]byte(why), []byte("invalid corb.Command record")) {
				t.Fatalf("dead letter reason %q / error %q", reason, why)
			}
			if string(dlq[0].Value) != "\xc3\x01 not avro at all" {
				t.Fatalf("dead letter does not keep the original bytes: %q", dlq[0].Value)
			}
			p.stop(20 * time.Second)
		})
	}
}

func TestExactlyOnceSurvivesSIGKILL(t *testing.T) {
	e := newPassEnv(t, "exactly_once")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() { produced <- e.produce(ctx, 10000, false) }()

	p := e.run("0")
	// Kill at a random point mid-stream, then once more after the restart.
	for round := range 2 {
		// Somewhere in the next 1000–3000 offsets (markers included), well before the end.
		at := min(e.written("out")+int64(1000+rand.IntN(2000)), 8000)
		e.waitWritten("out", at, p)
		p.kill9()
		t.Logf("round %d: SIGKILL after %d output offsets", round, e.written("out"))
		p = e.run("0")
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.checkExactlyOnce()
	p.stop(20 * time.Second)
}

func TestExactlyOnceSurvivesReplicasJoiningAndLeaving(t *testing.T) {
	e := newPassEnv(t, "exactly_once")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() { produced <- e.produce(ctx, 10000, false) }()

	a := e.run("0")
	e.waitWritten("out", 1500, a)
	b := e.run("1") // joins: partitions are split between a and b
	e.waitWritten("out", 4500, a, b)
	a.stop(20 * time.Second) // leaves: b takes over every partition
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.checkExactlyOnce()
	b.stop(20 * time.Second)
	// The partitions really moved: b was given some while a ran, and a gave some up.
	if !assignedMore(b.log.String()) || !strings.Contains(a.log.String(), "partitions revoked") {
		t.Fatalf("no rebalance seen: replica 1 log has no assignment, or replica 0 revoked nothing")
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

var assignedRe = regexp.MustCompile(`msg="partitions assigned".* assigned=([1-9][0-9]*)`)

// assignedMore reports whether an operator's log shows it holding partitions.
func assignedMore(log string) bool { return assignedRe.MatchString(log) }
