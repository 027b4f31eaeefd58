package inbound_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/intent"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/schemas"
)

const (
	token     = twiliofake.DefaultAuthToken
	account   = twiliofake.DefaultAccountSid
	origin    = "https://corb.example.com" // what Twilio calls
	msgPath   = "/twilio/sms"
	publicURL = origin + msgPath
	// The server behind the proxy sees another scheme and host.
	internalOrigin = "http://10.0.0.7:8080"

	staff    = "+15550001"
	cleaner  = "+15550002" // cleans the kitchen only
	admin    = "+15550003"
	stranger = "+15559999" // not in the directory

	commandsTopic = "corb.commands"
	statusTopic   = "corb.sms-status"
)

const testDirectory = `people:
  - {phone: "+15550001", name: Ada, roles: [staff]}
  - {phone: "+15550002", name: Ben, roles: [cleaner], zones: [kitchen]}
  - {phone: "+15550003", name: Cy, roles: [admin]}
`

func testZones() []intent.Zone {
	return []intent.Zone{
		{ID: "lobby", Name: "Lobby"},
		{ID: "kitchen", Name: "Kitchen"},
		{ID: "room-2", Name: "Room 2", Aliases: []string{"meeting room"}},
	}
}

// producer records what the Handler produces; fail and block make it fail.
type producer struct {
	mu    sync.Mutex
	recs  []inbound.Record
	fail  error         // Produce returns it
	block chan struct{} // Produce waits for it to close, or for ctx
	calls int
}

func (p *producer) Produce(ctx context.Context, recs []inbound.Record) error {
	p.mu.Lock()
	p.calls++
	fail, block := p.fail, p.block
	p.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, recs...)
	return nil
}

func (p *producer) set(fail error, block chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail, p.block = fail, block
}

func (p *producer) records(topic string) []inbound.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []inbound.Record
	for _, r := range p.recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}

// clock is the Handler's injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	h     *inbound.Handler
	p     *producer
	clock *clock
	reg   *prometheus.Registry
	sids  int
}

// newHarness is a Handler on a recording producer, the test directory and
// zones, and a clock that moves only when told; edit changes its Config.
func newHarness(t testing.TB, edit func(*inbound.Config)) *harness {
	t.Helper()
	dir, err := directory.Parse("directory.yaml", []byte(testDirectory))
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{p: &producer{}, clock: &clock{t: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry()}
	cfg := inbound.Config{
		AuthToken: token, PublicURL: publicURL, AccountSid: account,
		Producer: hs.p, CommandsTopic: commandsTopic, StatusTopic: statusTopic,
		Directory: func() *directory.Directory { return dir },
		Zones:     testZones(),
		Now:       hs.clock.Now,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry:  hs.reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	if hs.h, err = inbound.New(cfg); err != nil {
		t.Fatal(err)
	}
	return hs
}

func (hs *harness) newSid() string {
	hs.sids++
	return fmt.Sprintf("SM%032x", hs.sids)
}

// form is Twilio's webhook form of a text.
func form(sid, from, body string) url.Values {
	return twiliofake.InboundForm(account, twiliofake.Inbound{MessageSid: sid, From: from, To: twiliofake.MagicFrom, Body: body})
}

// post sends form to path as Twilio would, signed for the public URL, as it
// reaches the server behind the proxy; edit may change the request first.
func (hs *harness) post(path string, f url.Values, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, internalOrigin+path, strings.NewReader(f.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", twiliofake.Sign(token, origin+path, f))
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	return w
}

// text posts a new text from `from` and returns its MessageSid; it fails
// the test unless the answer is Twilio's 200.
func (hs *harness) text(t testing.TB, from, body string) string {
	t.Helper()
	sid := hs.newSid()
	if w := hs.post(msgPath, form(sid, from, body), nil); w.Code != http.StatusOK {
		t.Fatalf("%s from %s: %d %s", body, from, w.Code, w.Body)
	}
	return sid
}

// commands decodes what was produced to the commands topic, checking each
// record's key.
func (hs *harness) commands(t testing.TB) []*schemas.Command {
	t.Helper()
	var out []*schemas.Command
	for _, r := range hs.p.records(commandsTopic) {
		c := &schemas.Command{}
		if err := schemas.Unmarshal(r.Value, c); err != nil {
			t.Fatalf("a record on %s is no command: %v", commandsTopic, err)
		}
		if want := c.Key(); string(r.Key) != want {
			t.Errorf("%s %s keyed %q, want %q", c.CommandType, c.ID, r.Key, want)
		}
		out = append(out, c)
	}
	return out
}

// inboundID is the id of the inbound command of a text with sid.
func inboundID(sid string) string {
	return schemas.NewCommand("", schemas.Cause{Kind: schemas.CauseSMS, ID: sid}).ID
}
