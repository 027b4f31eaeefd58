package dlq_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/dlq"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtimetest"
)

// checker passes records on to out, headers included; while strict, a
// value starting with "poison" is a permanent failure: the operator whose
// config change (strict off) is the fix.
type checker struct{ strict bool }

func (c checker) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		if c.strict && bytes.HasPrefix(r.Value, []byte("poison")) {
			res[i].Err = operators.Permanentf("checker: %q refused while strict", r.Value)
			continue
		}
		res[i].Outputs = []operators.Output{{Topic: "out", Key: r.Key, Value: r.Value, Headers: r.Headers}}
	}
	return res, nil
}

// replayer opens a replay of tt's "dlq" topic to its "in" topic.
func replayer(t *testing.T, tt *runtimetest.Tester, mod ...func(*dlq.ReplayConfig)) *dlq.Replayer {
	t.Helper()
	cfg := dlq.ReplayConfig{
		Config: dlq.Config{Brokers: tt.Brokers()},
		Topic:  tt.Topic("dlq"), Log: tt.Names().ReplayLog("dlq"), TransactionalID: tt.Names().ReplayTransactionalID("dlq"),
		Targets: []string{tt.Topic("in")},
	}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := dlq.OpenReplay(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func replay(t *testing.T, r *dlq.Replayer, f dlq.Filter) dlq.Report {
	t.Helper()
	rep, err := r.Replay(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func froms(ms []dlq.Marker) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.From.Offset)
	}
	return out
}

func values(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	slices.Sort(out)
	return out
}

// The Must-show on kfake: records dead-lettered by the runtime, the
// operator's config fixed, the letters replayed: each is processed once,
// with its own headers and corb.replayed-from; a second replay sends
// nothing.
func TestReplayAfterTheFixProcessesEachLetterOnce(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Namespace("site"), runtimetest.Topics(3, "in", "out"), runtimetest.Topics(1, "dlq"))
	tt.ProduceRecords(
		&kgo.Record{Topic: "in", Key: []byte("a"), Value: []byte("ok-1")},
		&kgo.Record{Topic: "in", Key: []byte("b"), Value: []byte("poison-1"),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}},
		&kgo.Record{Topic: "in", Key: []byte("c"), Value: []byte("ok-2")},
		&kgo.Record{Topic: "in", Key: []byte("d"), Value: []byte("poison-2")},
	)
	op := runtimetest.Operator{Name: "check", Inputs: []string{"in"}, Outputs: []string{"out"}, DeadLetter: "dlq", Operator: checker{strict: true}}
	inst := tt.Run(op)
	tt.Expect("out", 2)
	dead := tt.DeadLetters("dlq", 2)
	inst.WaitConsumed()
	inst = inst.Restart(checker{strict: false}) // the fix

	rep := replay(t, replayer(t, tt), dlq.Filter{})
	if len(rep.Replayed) != 2 || len(rep.Skipped) != 0 || len(rep.Refused) != 0 || rep.Transactions != 1 {
		t.Fatalf("first replay: %+v", rep)
	}
	for i, m := range rep.Replayed {
		if m.To.Topic != "site.in" || m.To.Partition != dead[i].Partition || m.To.Offset < 0 || m.Operator != "check" || m.Reason != "permanent" {
			t.Errorf("marker %+v (dead letter from %s[%d]@%d)", m, dead[i].Topic, dead[i].Partition, dead[i].Offset)
		}
	}
	out := tt.Expect("out", 4) // exactly 4: Expect fails on a fifth
	if got := values(out); !slices.Equal(got, []string{"ok-1", "ok-2", "poison-1", "poison-2"}) {
		t.Fatalf("out holds %q", got)
	}
	for _, r := range out {
		from, replayed := runtime.Header(r, dlq.HeaderReplayedFrom)
		if strings.HasPrefix(string(r.Value), "poison") != replayed {
			t.Errorf("%s: corb.replayed-from %q (%v)", r.Value, from, replayed)
		}
		if _, ok := runtime.Header(r, "corb.error"); ok {
			t.Errorf("%s kept the dead letter's corb.error", r.Value)
		}
		if string(r.Value) == "poison-1" {
			if tr, _ := runtime.Header(r, "trace"); tr != "t-1" || !strings.HasPrefix(from, "site.dlq/0/") {
				t.Errorf("poison-1: trace %q, replayed-from %q", tr, from)
			}
		}
	}

	again := replay(t, replayer(t, tt), dlq.Filter{})
	if len(again.Replayed) != 0 || !slices.Equal(froms(again.Skipped), froms(rep.Replayed)) || again.Transactions != 0 {
		t.Fatalf("second replay: %+v", again)
	}
	inst.WaitConsumed()
	tt.Expect("out", 4)
}

// produceLetters writes n dead letters of operator op to tt's dlq topic,
// from in[0]@0..n-1; every third is "exhausted", the others "permanent".
func produceLetters(t *testing.T, tt *runtimetest.Tester, n int, op string) {
	t.Helper()
	var recs []*kgo.Record
	for i := range n {
		reason, msg := "permanent", fmt.Sprintf("bad record %d", i)
		if i%3 == 2 {
			reason, msg = "exhausted", "timeout after 3 attempts"
		}
		r := letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: tt.Topic("in"), Partition: 0, Offset: int64(i)},
			fmt.Sprint("k", i), fmt.Sprint("v", i), op, reason, msg)
		r.Timestamp = time.Time{}
		recs = append(recs, r)
	}
	tt.ProduceRecords(recs...)
}

// A range, then the whole topic: the second replay sends only what the
// first did not. The filters pick by operator and reason; a limit counts
// what is replayed.
func TestReplayFiltersAndNeverRepeats(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 9, "check")
	r := replayer(t, tt, func(c *dlq.ReplayConfig) { c.BatchRecords = 2 })

	rep := replay(t, r, dlq.Filter{From: 2, Until: 6})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{2, 3, 4, 5}) || rep.Transactions != 2 {
		t.Fatalf("range 2..5 replayed %v in %d transactions", got, rep.Transactions)
	}
	rep = replay(t, replayer(t, tt), dlq.Filter{Reason: "EXHAUSTED"})
	if got, skipped := froms(rep.Replayed), froms(rep.Skipped); !slices.Equal(got, []int64{8}) || !slices.Equal(skipped, []int64{2, 5}) {
		t.Fatalf("reason exhausted: replayed %v, skipped %v", got, skipped)
	}
	rep = replay(t, replayer(t, tt), dlq.Filter{Reason: "bad record", Limit: 2})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{0, 1}) || rep.Selected != 6 {
		t.Fatalf("limit 2: replayed %v of %d selected", got, rep.Selected)
	}
	if rep := replay(t, replayer(t, tt), dlq.Filter{Operator: "other"}); rep.Selected != 0 {
		t.Fatalf("operator other selected %d", rep.Selected)
	}
	rep = replay(t, replayer(t, tt), dlq.Filter{})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{6, 7}) || len(rep.Skipped) != 7 {
		t.Fatalf("everything: replayed %v, skipped %v", got, froms(rep.Skipped))
	}
	in := tt.Expect("in", 9)
	if got := values(in); !slices.Equal(got, []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"}) {
		t.Fatalf("in holds %q", got)
	}
}

// A dry run reads and decides and writes nothing: no log, no records.
func TestDryRunWritesNothing(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 3, "check")
	rep := replay(t, replayer(t, tt, func(c *dlq.ReplayConfig) { c.DryRun = true }), dlq.Filter{})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{0, 1, 2}) || rep.Transactions != 0 || !rep.DryRun || rep.Replayed[0].To.Offset != -1 {
		t.Fatalf("dry run: %+v", rep)
	}
	if recs := tt.Records("in"); len(recs) != 0 {
		t.Fatalf("a dry run wrote %d records", len(recs))
	}
	if log, err := dlq.LoadLog(context.Background(), dlq.Config{Brokers: tt.Brokers()}, tt.Names().ReplayLog("dlq"), tt.Topic("dlq")); err != nil || len(log.Markers) != 0 {
		t.Fatalf("log after a dry run: %+v, %v", log, err)
	}
}

// Letters that cannot be replayed are refused with the reason, and the
// others still go.
func TestReplayRefuses(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq", "elsewhere"))
	tt.ProduceRecords(
		&kgo.Record{Topic: tt.Topic("dlq"), Value: []byte("no headers")},
		letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: tt.Topic("elsewhere")}, "k", "v", "op", "permanent", "e"),
		letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: tt.Topic("in"), Partition: 7}, "k", "v", "op", "permanent", "e"),
		letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: tt.Topic("in")}, "k", "fine", "op", "permanent", "e"),
	)
	rep := replay(t, replayer(t, tt), dlq.Filter{})
	var whys []string
	for _, f := range rep.Refused {
		whys = append(whys, f.Why)
	}
	if len(rep.Refused) != 3 || !strings.Contains(whys[0], "not a readable dead letter") ||
		!strings.Contains(whys[1], "not an input of the operators") || !strings.Contains(whys[2], "partition in[7] does not exist") {
		t.Fatalf("refused %q", whys)
	}
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{3}) {
		t.Fatalf("replayed %v", got)
	}
	// Without targets any topic on the cluster will do, a missing one not.
	tt.ProduceRecords(letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: "gone"}, "k", "v", "op", "permanent", "e"))
	rep = replay(t, replayer(t, tt, func(c *dlq.ReplayConfig) { c.Targets = nil }), dlq.Filter{})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{1}) || len(rep.Refused) != 3 || !strings.Contains(rep.Refused[2].Why, "gone is not on the cluster") {
		t.Fatalf("without targets: replayed %v, refused %+v", got, rep.Refused)
	}
}

// Two replays of one topic at once: the later one fences the earlier,
// which then fails without writing anything; every letter is replayed once.
func TestAnEarlierReplayIsFenced(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 4, "check")
	first := replayer(t, tt)  // opened: log read, nothing replayed yet
	second := replayer(t, tt) // fences first
	if rep := replay(t, second, dlq.Filter{}); len(rep.Replayed) != 4 {
		t.Fatalf("second replayed %v", froms(rep.Replayed))
	}
	rep, err := first.Replay(context.Background(), dlq.Filter{})
	if err == nil || len(rep.Replayed) != 0 {
		t.Fatalf("the fenced replay: %+v, %v", rep, err)
	}
	t.Logf("the fenced replay: %v", err)
	if in := tt.Expect("in", 4); len(in) != 4 {
		t.Fatal(in)
	}
	if rep := replay(t, replayer(t, tt), dlq.Filter{}); len(rep.Replayed) != 0 || len(rep.Skipped) != 4 {
		t.Fatalf("a third replay: %+v", rep)
	}
}

// A replay that died in a transaction (records and markers written, no
// commit) left nothing: the next one aborts it as it opens, and sends
// every letter once.
func TestAReplayThatDiedMidTransactionLeavesNothing(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 3, "check")
	r := replayer(t, tt) // makes the log
	r.Close()
	dead := tt.Client(kgo.TransactionalID(tt.Names().ReplayTransactionalID("dlq")), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(time.Minute))
	if err := dead.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dead.ProduceSync(ctx,
		&kgo.Record{Topic: tt.Topic("in"), Value: []byte("v0")},
		&kgo.Record{Topic: tt.Names().ReplayLog("dlq"), Key: []byte(tt.Topic("dlq") + "/0/0"), Value: []byte(`{}`)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// dead never commits: it is the crashed replay.
	rep := replay(t, replayer(t, tt), dlq.Filter{})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("replayed %v", got)
	}
	if got := values(tt.Expect("in", 3)); !slices.Equal(got, []string{"v0", "v1", "v2"}) {
		t.Fatalf("in holds %q", got)
	}
}

// A commit that fails leaves the batches before it; the next replay sends
// the rest.
func TestAFailedCommitIsReplayedNextTime(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 5, "check")
	failEndTxn(tt, 2) // the second commit
	rep, err := replayer(t, tt, func(c *dlq.ReplayConfig) { c.BatchRecords = 2 }).Replay(context.Background(), dlq.Filter{})
	if err == nil || !slices.Equal(froms(rep.Replayed), []int64{0, 1}) || !strings.Contains(err.Error(), "run the replay again") {
		t.Fatalf("replay with a failed commit: %v, %v", froms(rep.Replayed), err)
	}
	t.Logf("the failed replay: %v", err)
	rep = replay(t, replayer(t, tt), dlq.Filter{})
	if got := froms(rep.Replayed); !slices.Equal(got, []int64{2, 3, 4}) || len(rep.Skipped) != 2 {
		t.Fatalf("the next replay: replayed %v, skipped %v", got, froms(rep.Skipped))
	}
	if got := values(tt.Expect("in", 5)); !slices.Equal(got, []string{"v0", "v1", "v2", "v3", "v4"}) {
		t.Fatalf("in holds %q", got)
	}
}

func TestSummarize(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 6, "check")
	tt.ProduceRecords(letter(tt.Topic("dlq"), 0, 0, dlq.Ref{Topic: tt.Topic("in")}, "k", "v", "other", "panic", "runtime error"))
	replay(t, replayer(t, tt), dlq.Filter{Until: 2})
	cfg := dlq.Config{Brokers: tt.Brokers()}
	s, err := dlq.Summarize(context.Background(), cfg, tt.Topic("dlq"), tt.Names().ReplayLog("dlq"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Letters != 7 || s.Replayed != 2 || s.Unreadable != 0 || s.ByOperator["check"] != 6 || s.ByOperator["other"] != 1 ||
		s.ByReason["permanent"] != 4 || s.ByReason["exhausted"] != 2 || s.ByReason["panic"] != 1 {
		t.Fatalf("summary %+v", s)
	}
	if len(s.Partitions) != 1 || s.Partitions[0].First != 0 || s.Partitions[0].Last != 6 || s.Partitions[0].Letters != 7 {
		t.Fatalf("partitions %+v", s.Partitions)
	}
	g := s.Groups
	if len(g) != 3 || g[0] != (dlq.Group{Operator: "check", Reason: "permanent", Letters: 4, Replayed: 2, Error: "bad record 0", Errors: 4, First: g[0].First, Last: g[0].Last}) ||
		g[1].Reason != "exhausted" || g[1].Error != "timeout after 3 attempts" || g[1].Errors != 1 || g[2].Operator != "other" {
		t.Fatalf("groups %+v", g)
	}
	if s.First.IsZero() || s.Last.Before(s.First) {
		t.Fatalf("times %v..%v", s.First, s.Last)
	}
	var shown []int64
	err = dlq.Each(context.Background(), cfg, tt.Topic("dlq"), dlq.Filter{Reason: "permanent", From: 1, Limit: 2}, func(l *dlq.Letter) error {
		shown = append(shown, l.Record.Offset)
		return nil
	})
	if err != nil || !slices.Equal(shown, []int64{1, 3}) {
		t.Fatalf("Each: %v, %v", shown, err)
	}
	if err := dlq.Each(context.Background(), cfg, tt.Topic("dlq"), dlq.Filter{Partitions: []int32{3}}, nil); err == nil {
		t.Fatal("Each of a partition the topic lacks: no error")
	}
}

// Markers of a topic deleted and made again (another topic id) do not hide
// the new topic's letters; a damaged marker still counts.
func TestLoadLogStaleAndDamagedMarkers(t *testing.T) {
	tt := runtimetest.New(t, runtimetest.Topics(1, "in", "dlq"))
	produceLetters(t, tt, 3, "check")
	replayer(t, tt).Close() // makes the log
	logTopic := tt.Names().ReplayLog("dlq")
	key := func(o int) []byte { return []byte(fmt.Sprintf("%s/0/%d", tt.Topic("dlq"), o)) }
	if err := tt.Client().ProduceSync(context.Background(),
		&kgo.Record{Topic: logTopic, Key: key(0), Value: []byte(fmt.Sprintf(`{"from":{"topic":%q,"partition":0,"offset":0},"topic_id":"AAAAAAAAAAAAAAAAAAAAAQ=="}`, tt.Topic("dlq")))},
		&kgo.Record{Topic: logTopic, Key: key(1), Value: []byte("damaged")},
		&kgo.Record{Topic: logTopic, Key: []byte("other/0/2"), Value: []byte("{}")},
		&kgo.Record{Topic: logTopic, Key: []byte("junk"), Value: []byte("{}")},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	log, err := dlq.LoadLog(context.Background(), dlq.Config{Brokers: tt.Brokers()}, logTopic, tt.Topic("dlq"))
	if err != nil || log.Stale != 1 || log.Unreadable != 2 || len(log.Markers) != 1 {
		t.Fatalf("log %+v, %v", log, err)
	}
	rep := replay(t, replayer(t, tt), dlq.Filter{})
	if !slices.Equal(froms(rep.Replayed), []int64{0, 2}) || !slices.Equal(froms(rep.Skipped), []int64{1}) {
		t.Fatalf("replayed %v, skipped %v", froms(rep.Replayed), froms(rep.Skipped))
	}
}
