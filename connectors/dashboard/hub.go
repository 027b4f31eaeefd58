package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// DefaultClientQueue is how many events wait for one slow page (frames not
// counted: they coalesce) before it is sent a fresh snapshot instead.
const DefaultClientQueue = 256

// message is one server-sent event, encoded. Messages with the same non-empty
// key replace each other while they wait for a client: only the newest frame
// of a camera matters.
type message struct {
	key  string
	data []byte
}

// event encodes v as the server-sent event name.
func event(name string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only a NaN could do it, and the model rounds every float it keeps
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "event: %s\ndata: %s\n\n", name, b)
	return out.Bytes()
}

// hub owns the model and the connected pages. Every change to the model and
// its fan-out happen under one lock, and a page joins under it too, so a page
// gets its snapshot and then every change after it: none missed, none twice.
// Fan-out never blocks: it appends to each client's bounded queue.
type hub struct {
	mu       sync.Mutex
	m        *model
	clients  map[*client]struct{}
	maxQueue int
	metrics  *metrics
}

func newHub(m *model, maxQueue int, mt *metrics) *hub {
	if maxQueue <= 0 {
		maxQueue = DefaultClientQueue
	}
	return &hub{m: m, clients: map[*client]struct{}{}, maxQueue: maxQueue, metrics: mt}
}

// update changes the model with fn and sends the messages it returns to
// every client.
func (h *hub) update(fn func(*model) []message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	msgs := fn(h.m)
	if len(msgs) == 0 {
		return
	}
	var snap []byte // encoded once for every client that overflows
	for c := range h.clients {
		for _, msg := range msgs {
			dropped, overflow := c.push(msg, h.maxQueue)
			h.metrics.droppedFrames.Add(float64(dropped))
			if overflow {
				if snap == nil {
					snap = event("snapshot", h.m.snapshot())
				}
				c.reset(snap)
				h.metrics.resyncs.Inc()
				break
			}
		}
	}
}

// view reads the model.
func (h *hub) view(fn func(*model)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(h.m)
}

// join registers a new client, its snapshot first in its queue.
func (h *hub) join() *client {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := &client{wake: make(chan struct{}, 1)}
	c.reset(event("snapshot", h.m.snapshot()))
	h.clients[c] = struct{}{}
	h.metrics.clients.Set(float64(len(h.clients)))
	return c
}

func (h *hub) leave(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	h.metrics.clients.Set(float64(len(h.clients)))
}

// client is the queue of one connected page.
type client struct {
	mu    sync.Mutex
	queue []message
	wake  chan struct{} // a value when the queue has something
}

// push queues msg, replacing a waiting message with its key. It reports how
// many messages that dropped (0 or 1), and whether the queue overflowed.
func (c *client) push(msg message, max int) (dropped int, overflow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.signal()
	if msg.key != "" {
		for i := range c.queue {
			if c.queue[i].key == msg.key {
				c.queue[i] = msg
				return 1, false
			}
		}
	}
	c.queue = append(c.queue, msg)
	return 0, len(c.queue) > max
}

// reset replaces the whole queue with a snapshot.
func (c *client) reset(snapshot []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue[:0:0], message{data: snapshot})
	c.signal()
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take empties the queue and returns what was in it, oldest first.
func (c *client) take() []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}
