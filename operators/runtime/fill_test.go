package runtime

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pollStep is one answer of a scripted poll: records, a partition error,
// or (block) nothing until the poll's context is done.
type pollStep struct {
	records int
	err     error
	block   bool
}

// fetchOf is a fetch of n records of one partition, with err.
func fetchOf(n int, err error) kgo.Fetches {
	p := kgo.FetchPartition{Partition: 0, Err: err}
	for range n {
		p.Records = append(p.Records, &kgo.Record{Topic: "in"})
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "in", Partitions: []kgo.FetchPartition{p}}}}}
}

func TestFill(t *testing.T) {
	fenced := kerr.ProducerFenced
	tests := []struct {
		name      string
		wait      time.Duration
		first     int // records of the poll before fill
		n         int
		steps     []pollStep
		want      int   // records in the batch
		wantAsked []int // the max of each poll fill made
		wantErr   string
	}{
		{"no batch wait: no poll", 0, 3, 10, []pollStep{{records: 5}}, 3, nil, ""},
		{"full already", time.Second, 10, 10, []pollStep{{records: 5}}, 10, nil, ""},
		{"nothing polled: no wait", time.Second, 0, 10, []pollStep{{records: 5}}, 0, nil, ""},
		{"topped up to n", time.Second, 3, 10, []pollStep{{records: 4}, {records: 3}}, 10, []int{7, 3}, ""},
		{"stops at an empty poll", time.Second, 3, 10, []pollStep{{records: 2}, {}, {records: 5}}, 5, []int{7, 5}, ""},
		{"stops when the wait is over", 20 * time.Millisecond, 3, 10, []pollStep{{records: 1}, {block: true}, {records: 5}}, 4, []int{7, 6}, ""},
		{"a fatal error fails the batch", time.Second, 3, 10, []pollStep{{err: fenced}}, 0, []int{7}, "PRODUCER_FENCED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{cfg: Config{Name: "fill"}, batchWait: tt.wait}
			var asked []int
			poll := func(ctx context.Context, max int) kgo.Fetches {
				step := tt.steps[len(asked)]
				asked = append(asked, max)
				if step.block {
					<-ctx.Done()
					return fetchOf(0, ctx.Err())
				}
				return fetchOf(step.records, step.err)
			}
			got, err := r.fill(context.Background(), poll, fetchOf(tt.first, nil).Records(), tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("%d records, want %d", len(got), tt.want)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("polls asked for %v, want %v", asked, tt.wantAsked)
			}
		})
	}
}

// TestFillKeepsWhatALatePollReturned: records a poll hands over are consumed
// (the client's position moved past them), so they join the batch even when
// they come back after the wait is over.
func TestFillKeepsWhatALatePollReturned(t *testing.T) {
	r := &Runner{cfg: Config{Name: "fill"}, batchWait: 10 * time.Millisecond}
	poll := func(ctx context.Context, max int) kgo.Fetches {
		<-ctx.Done()
		return fetchOf(2, nil)
	}
	got, err := r.fill(context.Background(), poll, fetchOf(1, nil).Records(), 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d records, %v; want 3", len(got), err)
	}
}
