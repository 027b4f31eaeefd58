package runtime

import (
	"bytes"
	"testing"
	"time"
)

// Progress logs a line per instance that did something since the last
// line, with what it did, and nothing for the others; uncommitted batches
// do not count.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(testLogger(&buf), time.Hour)
	a, b := Member{Operator: "zones", Instance: "0"}, Member{Operator: "detect", Instance: "1"}
	p.BatchDone(a, Batch{Records: 5, Out: map[string]int{"zone-counts": 8, "state": 2}, DeadLetters: 1, Dropped: 2, Committed: true})
	p.BatchDone(a, Batch{Records: 3, Out: map[string]int{"zone-counts": 3}, Committed: true})
	p.BatchDone(b, Batch{Records: 4, Committed: false})
	p.BatchDone(b, Batch{Committed: true}) // a tick with nothing to say
	p.flush()
	got := lines(&buf)
	if len(got) != 1 {
		t.Fatalf("lines %q, want one, for zones/0", got)
	}
	f := fields(got[0])
	want := map[string]string{"msg": "progress", "operator": "zones", "instance": "0", "in": "8", "out": "13", "dead_letters": "1", "dropped": "2"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q in %q", k, f[k], v, got[0])
		}
	}
	buf.Reset()
	p.flush()
	if got := lines(&buf); len(got) != 0 {
		t.Errorf("lines %q after a quiet interval, want none", got)
	}
}
