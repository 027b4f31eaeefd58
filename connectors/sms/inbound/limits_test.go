package inbound

import (
	"errors"
	"testing"
	"time"
)

func TestLRUForgetsTheLeastRecentlyUsed(t *testing.T) {
	c := newLRU[string, int](2)
	c.put("a", 1)
	c.put("b", 2)
	c.get("a") // b is now the oldest
	c.put("c", 3)
	if _, ok := c.get("b"); ok {
		t.Error("b was kept")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.get(k); !ok || v != want {
			t.Errorf("%s = %d, %v", k, v, ok)
		}
	}
	c.put("a", 4)
	c.remove("c")
	if v, _ := c.get("a"); v != 4 || c.len() != 1 {
		t.Errorf("a = %d, len %d", v, c.len())
	}
}

func TestRecentForgetsFailures(t *testing.T) {
	r := newRecent(10)
	f, first := r.begin("SM1")
	if !first {
		t.Fatal("the first delivery is not first")
	}
	g, again := r.begin("SM1")
	if again || g != f {
		t.Fatal("a retry during the first delivery does not share its flight")
	}
	r.end("SM1", f, errors.New("broker down"))
	<-g.done
	if g.err == nil {
		t.Error("the retry does not see the failure")
	}
	if _, first := r.begin("SM1"); !first {
		t.Error("a failed delivery was remembered: Twilio's retry would be dropped")
	}
}

func TestSendersRefuseOnceThenSilently(t *testing.T) {
	s := newSenders(time.Minute, 2, 10)
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	type step struct {
		after       time.Duration
		phone       string
		ok, firstNo bool
	}
	for i, st := range []step{
		{0, "a", true, false}, {0, "a", true, false}, // the burst
		{0, "a", false, true}, {0, "a", false, false}, // told once, then silence
		{0, "b", true, false},           // b has its own bucket
		{time.Minute, "a", true, false}, // one token back
		{0, "a", false, true},           // and told again
	} {
		now = now.Add(st.after)
		if ok, first := s.allow(st.phone, now); ok != st.ok || first != st.firstNo {
			t.Errorf("step %d (%s): allow = %v, first refusal %v; want %v, %v", i, st.phone, ok, first, st.ok, st.firstNo)
		}
	}
}
