package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testHub(t *testing.T, maxQueue int) *hub {
	t.Helper()
	mt, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return newHub(newModel(configMsg{Namespace: "test"}), maxQueue, mt)
}

// sseEvent is one event of a stream as a browser's EventSource sees it.
type sseEvent struct {
	name, data string
}

// names are the event names of a client's queue.
func names(msgs []message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, parseEvents(string(m.data))[0].name)
	}
	return out
}

func parseEvents(s string) []sseEvent {
	var out []sseEvent
	for _, block := range strings.Split(s, "\n\n") {
		var e sseEvent
		for _, l := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(l, "event: "); ok {
				e.name = v
			} else if v, ok := strings.CutPrefix(l, "data: "); ok {
				e.data = v
			}
		}
		if e.name != "" {
			out = append(out, e)
		}
	}
	return out
}

func zoneUpdate(id string, count int32) func(*model) []message {
	return func(m *model) []message {
		z := m.zoneEntry(id)
		z.seen, z.occ.Count = true, count
		return []message{{data: event("zone", z.msg(id))}}
	}
}

func frameUpdate(camera string, seq int64) func(*model) []message {
	return func(m *model) []message { return frameMessages(m.frame(testFrame(camera, seq), t0)) }
}

// Every client gets the snapshot and then every change, in order.
func TestHubFansOutToEveryClient(t *testing.T) {
	h := testHub(t, 0)
	clients := []*client{h.join(), h.join(), h.join()}
	h.update(zoneUpdate("lawn", 1))
	h.update(frameUpdate("vtest", 0))
	h.update(zoneUpdate("lawn", 2))
	for i, c := range clients {
		select {
		case <-c.wake:
		default:
			t.Fatalf("client %d was not woken", i)
		}
		if got, want := names(c.take()), []string{"snapshot", "zone", "frame", "zone"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("client %d got %v, want %v", i, got, want)
		}
	}
	h.leave(clients[0])
	h.update(zoneUpdate("lawn", 3))
	if got := clients[0].take(); len(got) != 0 {
		t.Errorf("a client that left still got %v", names(got))
	}
	if got := names(clients[1].take()); len(got) != 1 {
		t.Errorf("a client that stayed got %v", got)
	}
	if n := testutil.ToFloat64(h.metrics.clients); n != 2 {
		t.Errorf("corb_dashboard_clients = %v, want 2", n)
	}
}

// A client that does not read gets only the newest frame of each camera, and
// the reader is never held up by it.
func TestSlowClientDropsIntermediateFrames(t *testing.T) {
	h := testHub(t, 0)
	slow, fast := h.join(), h.join()
	fast.take()
	const n = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := range int64(n) {
			h.update(frameUpdate("a", seq))
			h.update(frameUpdate("b", seq))
			if seq == n/2 {
				h.update(zoneUpdate("lawn", 1)) // not a frame: never dropped
			}
			fast.take()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("updates blocked on a client that does not read")
	}
	msgs := slow.take()
	if got, want := names(msgs), []string{"snapshot", "frame", "frame", "zone"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the slow client got %v, want %v", got, want)
	}
	for _, m := range msgs[1:3] {
		var f frameMsg
		if err := json.Unmarshal([]byte(parseEvents(string(m.data))[0].data), &f); err != nil {
			t.Fatal(err)
		}
		if f.Seq != n-1 {
			t.Errorf("camera %s: the slow client got frame %d, want the newest, %d", f.Camera, f.Seq, n-1)
		}
	}
	if d := testutil.ToFloat64(h.metrics.droppedFrames); d != 2*(n-1) {
		t.Errorf("dropped frames %v, want %d", d, 2*(n-1))
	}
}

// A client whose queue overflows gets a fresh snapshot instead of what it
// missed, then the changes after it: the state it shows is still whole, and
// its queue stays bounded.
func TestOverflowingClientIsSentASnapshot(t *testing.T) {
	const max = 4
	h := testHub(t, max)
	c := h.join()
	for i := range int32(10) {
		h.update(zoneUpdate("lawn", i))
	}
	msgs := c.take()
	if len(msgs) > max || names(msgs)[0] != "snapshot" {
		t.Fatalf("got %v, want a snapshot and at most %d events", names(msgs), max-1)
	}
	var s snapshotMsg
	if err := json.Unmarshal([]byte(parseEvents(string(msgs[0].data))[0].data), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Zones) != 1 {
		t.Fatalf("snapshot zones %+v", s.Zones)
	}
	count := s.Zones[0].Count
	for _, m := range msgs[1:] {
		var z zoneMsg
		if err := json.Unmarshal([]byte(parseEvents(string(m.data))[0].data), &z); err != nil {
			t.Fatal(err)
		}
		if z.Count != count+1 {
			t.Errorf("after count %d came %d: an update was lost after the snapshot", count, z.Count)
		}
		count = z.Count
	}
	if count != 9 {
		t.Errorf("the client ends at count %d, want 9", count)
	}
	if r := testutil.ToFloat64(h.metrics.resyncs); r < 1 {
		t.Errorf("resyncs %v", r)
	}
}

// Over HTTP: the stream opens with the state as it is (a replay for a page
// that connects late), then carries changes, and heartbeats when idle.
func TestEventStreamReplaysStateThenStreams(t *testing.T) {
	d, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Zones: parseZones(t), Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.hub.update(frameUpdate("vtest", 7))
	d.hub.update(zoneUpdate("lawn", 2))
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var mu sync.Mutex
	var events []sseEvent
	beats := 0
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var e sseEvent
		for sc.Scan() {
			l := sc.Text()
			mu.Lock()
			switch {
			case l == ": heartbeat":
				beats++
			case strings.HasPrefix(l, "event: "):
				e.name = l[len("event: "):]
			case strings.HasPrefix(l, "data: "):
				e.data = l[len("data: "):]
			case l == "" && e.name != "":
				events = append(events, e)
				e = sseEvent{}
			}
			mu.Unlock()
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for ctx.Err() == nil {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no %s; events %+v", what, events)
	}
	waitFor("snapshot", func() bool { return len(events) > 0 })
	var s snapshotMsg
	if events[0].name != "snapshot" || json.Unmarshal([]byte(events[0].data), &s) != nil {
		t.Fatalf("first event %+v, want the snapshot", events[0])
	}
	if len(s.Frames) != 1 || s.Frames[0].Seq != 7 || len(s.Config.Cameras) != 2 || s.Zones[0].Count != 2 {
		t.Errorf("snapshot %+v", s)
	}
	d.hub.update(zoneUpdate("hall", 1))
	waitFor("zone event after the snapshot", func() bool { return len(events) > 1 })
	if events[1].name != "zone" || !strings.Contains(events[1].data, `"id":"hall"`) {
		t.Errorf("second event %+v", events[1])
	}
	waitFor("heartbeat", func() bool { return beats > 0 })

	// The frame it names can be fetched.
	img, err := srv.Client().Get(fmt.Sprintf("%s/frames/vtest?v=%d", srv.URL, s.Frames[0].V))
	if err != nil {
		t.Fatal(err)
	}
	img.Body.Close()
	if img.StatusCode != http.StatusOK || img.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("frame: %s %q", img.Status, img.Header.Get("Content-Type"))
	}
	gone, err := srv.Client().Get(srv.URL + "/frames/vtest?v=99")
	if err != nil {
		t.Fatal(err)
	}
	gone.Body.Close()
	if gone.StatusCode != http.StatusNotFound {
		t.Errorf("a frame not held: %s, want 404", gone.Status)
	}
}
