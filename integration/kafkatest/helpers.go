package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrGiveUp, wrapped in an error returned by a WaitFor condition, stops the
// polling at once instead of retrying until the deadline.
var ErrGiveUp = errors.New("kafkatest: give up")

// maxNameLen keeps names well under Kafka's 249-character topic limit, leaving
// room for suffixes such as "-changelog".
const maxNameLen = 180

// Unique returns a name for a test's topics, groups and transactional IDs:
// base, the test's name and a random suffix, restricted to the characters
// Kafka allows in topic names ([a-zA-Z0-9._-]). Two calls never return the
// same name, so reruns against a long-lived broker do not collide.
func Unique(t testing.TB, base string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("kafkatest: random suffix: %v", err)
	}
	return uniqueName(base, t.Name(), hex.EncodeToString(b[:]))
}

func uniqueName(base, testName, suffix string) string {
	name := sanitize(base)
	if tn := sanitize(testName); tn != "" {
		if name != "" {
			name += "-"
		}
		name += tn
	}
	if len(name) > maxNameLen-len(suffix)-1 {
		name = name[:maxNameLen-len(suffix)-1]
	}
	if name == "" || name == "." || name == ".." {
		return "t-" + suffix
	}
	return name + "-" + suffix
}

// sanitize maps every character Kafka refuses in a topic name to '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		default:
			return '_'
		}
	}, s)
}

// NewClient returns a franz-go client for brokers with opts, closed when the
// test ends.
func NewClient(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates topic name with the given partitions (replication
// factor: the broker's default) and configs, then waits until every partition
// has a leader, so producing right away works. It fails the test on any error,
// including "topic already exists".
func CreateTopic(t testing.TB, brokers []string, name string, partitions int32, configs map[string]string) {
	t.Helper()
	adm := kadm.NewClient(NewClient(t, brokers))
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = &v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %q (%d partitions): %v", name, partitions, err)
	}
	WaitFor(t, 30*time.Second, func() (bool, error) {
		mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
		defer mcancel()
		m, err := adm.Metadata(mctx, name)
		if err != nil {
			return false, err
		}
		td, ok := m.Topics[name]
		if !ok || td.Err != nil {
			return false, td.Err
		}
		if int32(len(td.Partitions)) != partitions {
			return false, fmt.Errorf("topic %q has %d of %d partitions", name, len(td.Partitions), partitions)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false, fmt.Errorf("partition %d: leader %d, err %v", p.Partition, p.Leader, p.Err)
			}
		}
		return true, nil
	})
}

// WaitFor calls cond until it returns true, failing the test if that does not
// happen within timeout. An error from cond counts as "not yet" and the last
// one is reported at the deadline, unless it wraps ErrGiveUp, which fails the
// test at once. Polling starts at 20ms and backs off to 500ms.
func WaitFor(t testing.TB, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	if err := waitFor(context.Background(), timeout, cond); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := 20 * time.Millisecond
	var last error
	for {
		ok, err := cond()
		switch {
		case err != nil && errors.Is(err, ErrGiveUp):
			return err
		case err != nil:
			last = err
		case ok:
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("condition not met within %s; last error: %w", timeout, last)
			}
			return fmt.Errorf("condition not met within %s", timeout)
		case <-time.After(interval):
		}
		interval = min(2*interval, 500*time.Millisecond)
	}
}

// ConsumeAll reads topic from the start of every partition, without a
// consumer group, until it has n records or timeout passes, and returns what
// it read (possibly fewer than n, or more if the last fetch brought extra).
// With readCommitted it reads at isolation level read_committed, so records of
// aborted and still-open transactions are not returned. Fetch errors other
// than the deadline fail the test.
func ConsumeAll(t testing.TB, brokers []string, topic string, n int, timeout time.Duration, readCommitted bool) []*kgo.Record {
	t.Helper()
	opts := []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	} else {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	}
	cl := NewClient(t, brokers, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			t.Fatalf("kafkatest: consume %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		recs = append(recs, fetches.Records()...)
		if ctx.Err() != nil {
			break
		}
	}
	return recs
}
