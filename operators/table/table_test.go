package table_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/operators/table"
)

// logical is the table's topic in the tests; it lives in namespace "ns", as in production.
const logical = "subscriptions"

func newTester(t testing.TB, topics ...string) *runtimetest.Tester {
	return runtimetest.New(t, runtimetest.Namespace("ns"), runtimetest.Topics(3, topics...))
}

// rec is a record of the table's topic (value nil: a tombstone).
func rec(key string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: logical, Key: []byte(key), Value: value}
}

func waitReady(t testing.TB, tbl *table.Table) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tbl.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
}

func newTable(t testing.TB, tt *runtimetest.Tester, onChange func(string, []byte)) *table.Table {
	t.Helper()
	tbl, err := table.New(table.Config{Brokers: tt.Brokers(), Topic: tt.Topic(logical), OnChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  table.Config
	}{
		{"no brokers", table.Config{Topic: "t"}},
		{"no topic", table.Config{Brokers: []string{"127.0.0.1:1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := table.New(tc.cfg); !errors.Is(err, table.ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// WaitReady returns only once every record produced before Run is applied:
// the snapshot right after it is complete, with overwrites and tombstones
// resolved, across every partition.
func TestInitialLoad(t *testing.T) {
	tt := newTester(t, logical)
	want := map[string][]byte{}
	var batch []*kgo.Record
	for i := range 3000 {
		k := fmt.Sprintf("k%d", i%700)
		switch {
		case i%11 == 0:
			batch = append(batch, rec(k, nil))
			delete(want, k)
		default:
			v := fmt.Appendf(nil, "v%d", i)
			batch = append(batch, rec(k, v))
			want[k] = v
		}
	}
	tt.ProduceRecords(batch...)

	tbl := newTable(t, tt, nil)
	select {
	case <-tbl.Ready():
		t.Fatal("ready before Run")
	default:
	}
	tt.Go("table", tbl.Run)
	waitReady(t, tbl)
	got := tbl.Snapshot()
	if !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("snapshot at ready has %d keys, want %d", len(got), len(want))
	}
	if tbl.Len() != len(want) {
		t.Errorf("Len = %d, want %d", tbl.Len(), len(want))
	}
	for k, v := range want {
		if g, ok := tbl.Get(k); !ok || string(g) != string(v) {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, g, ok, v)
		}
	}
	deleted := 0
	for i := range 700 {
		k := fmt.Sprintf("k%d", i)
		if _, live := want[k]; !live {
			deleted++
			if _, ok := tbl.Get(k); ok {
				t.Errorf("%s was tombstoned last but is present", k)
			}
		}
	}
	if deleted == 0 {
		t.Fatal("the test wrote no key whose last record is a tombstone")
	}
}

func TestUpdatesAndTombstonesAfterReady(t *testing.T) {
	tt := newTester(t, logical)
	tt.ProduceRecords(rec("a", []byte("1")), rec("b", []byte("2")))

	type change struct {
		key   string
		value []byte
	}
	var mu sync.Mutex
	var changes []change
	tbl := newTable(t, tt, func(k string, v []byte) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, change{k, v})
	})
	tt.Go("table", tbl.Run)
	waitReady(t, tbl)

	tt.ProduceRecords(rec("a", []byte("10")))
	tt.Eventually("a=10", func() bool { v, _ := tbl.Get("a"); return string(v) == "10" })

	tt.ProduceRecords(rec("b", nil))
	tt.Eventually("b deleted", func() bool { _, ok := tbl.Get("b"); return !ok })

	tt.ProduceRecords(rec("c", []byte{}))
	tt.Eventually("c present", func() bool { _, ok := tbl.Get("c"); return ok })
	if v, _ := tbl.Get("c"); v == nil || len(v) != 0 {
		t.Errorf("an empty value is %#v, want an empty non-nil slice (nil is a tombstone)", v)
	}

	// No-op changes: a tombstone of an absent key, an equal value.
	tt.ProduceRecords(rec("zz", nil), rec("a", []byte("10")), rec("d", []byte("4")))
	tt.Eventually("d=4", func() bool { _, ok := tbl.Get("d"); return ok })

	mu.Lock()
	defer mu.Unlock()
	// Keys land on partitions the test does not pin: compare the order per key.
	got := map[string][]string{}
	for _, c := range changes {
		got[c.key] = append(got[c.key], fmt.Sprintf("%q", c.value))
	}
	want := map[string][]string{
		"a": {`"1"`, `"10"`},
		"b": {`"2"`, `""`}, // the delete: a nil value
		"c": {`""`},
		"d": {`"4"`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("changes per key %v, want %v", got, want)
	}
	var deletes []string
	for _, c := range changes {
		if c.value == nil {
			deletes = append(deletes, c.key)
		}
	}
	if fmt.Sprint(deletes) != "[b]" {
		t.Errorf("deletes reported for %v, want [b] (zz was absent, c is empty, not deleted)", deletes)
	}
	if last := changes[len(changes)-1]; last.key != "d" {
		t.Errorf("last change %v, want d", last)
	}
}

func TestEmptyTopicIsReadyAtOnce(t *testing.T) {
	tt := newTester(t, logical)
	tbl := newTable(t, tt, nil)
	tt.Go("table", tbl.Run)
	waitReady(t, tbl)
	if n := tbl.Len(); n != 0 {
		t.Errorf("Len = %d", n)
	}
	tt.ProduceRecords(rec("x", []byte("y")))
	tt.Eventually("x after ready", func() bool { _, ok := tbl.Get("x"); return ok })
}

// A topic whose partitions end in transaction markers (every partition
// written by an exactly-once operator) becomes ready, and holds neither
// aborted records nor those of a transaction still open when Run started;
// those appear once committed.
func TestTransactions(t *testing.T) {
	tt := newTester(t, logical)
	ctx := context.Background()
	// send writes recs with a transactional producer of the test's own.
	send := func(cl *kgo.Client, recs ...*kgo.Record) {
		t.Helper()
		for _, r := range recs {
			r.Topic = tt.Topic(logical)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tx := tt.Client(kgo.TransactionalID("tx"))
	inTxn := func(commit kgo.TransactionEndTry, recs ...*kgo.Record) {
		t.Helper()
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		send(tx, recs...)
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	inTxn(kgo.TryCommit, rec("a", []byte("1")), rec("b", []byte("1")), rec("c", []byte("1")))
	inTxn(kgo.TryAbort, rec("a", []byte("aborted")), rec("d", []byte("aborted")))

	open := tt.Client(kgo.TransactionalID("open"))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	send(open, rec("e", []byte("open")))

	tbl := newTable(t, tt, nil)
	tt.Go("table", tbl.Run)
	waitReady(t, tbl)
	got := tbl.Snapshot()
	want := map[string]string{"a": "1", "b": "1", "c": "1"}
	if len(got) != len(want) {
		t.Fatalf("snapshot %q, want %v", got, want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	tt.Eventually("e after commit", func() bool { v, _ := tbl.Get("e"); return string(v) == "open" })
	if _, ok := tbl.Get("d"); ok {
		t.Error("aborted record d is in the table")
	}
}

func TestWaitReadyBeforeRun(t *testing.T) {
	tt := newTester(t, logical)
	tbl := newTable(t, tt, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tbl.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady without Run = %v, want deadline exceeded", err)
	}
}

func TestUnknownTopic(t *testing.T) {
	tt := newTester(t, "other")
	tbl := newTable(t, tt, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := tbl.Run(ctx)
	if !errors.Is(err, table.ErrUnknownTopic) {
		t.Fatalf("Run = %v, want table.ErrUnknownTopic", err)
	}
	if err := tbl.WaitReady(ctx); !errors.Is(err, table.ErrStopped) || !errors.Is(err, table.ErrUnknownTopic) {
		t.Errorf("WaitReady after a failed Run = %v, want table.ErrStopped wrapping table.ErrUnknownTopic", err)
	}
	if err := tbl.Run(ctx); !errors.Is(err, table.ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want table.ErrAlreadyRunning", err)
	}
}

func TestStoppedBeforeReady(t *testing.T) {
	// A "broker" that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tbl, err := table.New(table.Config{Brokers: []string{ln.Addr().String()}, Topic: logical})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- tbl.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if err := tbl.WaitReady(context.Background()); !errors.Is(err, table.ErrStopped) {
		t.Errorf("WaitReady = %v, want table.ErrStopped", err)
	}
}

// Readers and the consumer run concurrently (meaningful under -race).
func TestConcurrentReaders(t *testing.T) {
	tt := newTester(t, logical)
	tbl := newTable(t, tt, nil)
	tt.Go("table", tbl.Run)
	waitReady(t, tbl)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tbl.Get("k1")
				for k, v := range tbl.Snapshot() {
					_ = k + string(v)
				}
			}
		})
	}
	for i := range 200 {
		tt.ProduceRecords(rec(fmt.Sprintf("k%d", i%5), fmt.Appendf(nil, "%d", i)))
	}
	tt.Eventually("last write", func() bool { v, _ := tbl.Get("k4"); return string(v) == "199" })
	close(stop)
	wg.Wait()
}
