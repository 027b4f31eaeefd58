//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/schemas"
)

// The people of deploy/directory.yaml the test texts as.
const (
	e2eAda = "+15550001" // staff
	e2eBen = "+15550002" // cleaner of lawn and walkway
)

// e2eEnv is the command half of the default topology on the real broker:
// rules, command-handlers, cleaning-report and sms-out in one process, and
// `corb sms serve`, with Twilio's API faked.
type e2eEnv struct {
	t         *testing.T
	brokers   []string
	ns        string
	file      string
	fake      *twiliofake.Server
	webhook   string // the connector's public URL
	client    *kgo.Client
	operators *proc
	connector *proc
}

// e2eRulesPolicy is the rules operator's config of deploy/topology.yaml, which
// the test replaces with a low policy and no cooldown.
var e2eRulesPolicy = regexp.MustCompile(`(?m)^(\s+)cooldown: 10m.*\n\s+visits: 20.*\n\s+person_minutes: 240.*$`)

func newE2EEnv(t *testing.T) *e2eEnv {
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "cmd")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "deploy", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if !e2eRulesPolicy.MatchString(text) {
		t.Fatal("deploy/topology.yaml: the rules operator's config (cooldown 10m, visits 20, person_minutes 240) not found")
	}
	text = e2eRulesPolicy.ReplaceAllString(text, "${1}cooldown: 0s\n${1}visits: 2")
	text = strings.Replace(text, "\nnamespace: corb\n", "\nnamespace: "+ns+"\n", 1)
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	applyTopology(t, brokers, file, "")

	fake := twiliofake.Start(t, twiliofake.Config{})
	// The corb processes inherit the environment.
	t.Setenv("TWILIO_ACCOUNT_SID", fake.AccountSid())
	t.Setenv("TWILIO_AUTH_TOKEN", fake.AuthToken())
	t.Setenv("TWILIO_FROM", twiliofake.MagicFrom)
	t.Setenv("TWILIO_MESSAGING_SERVICE_SID", "")
	t.Setenv(smsout.APIURLEnv, fake.URL())
	t.Setenv(smsout.DriverEnv, "")
	t.Setenv("CORB_ZONES", filepath.Join(root, "deploy", "zones.yaml"))
	t.Setenv("CORB_DIRECTORY", filepath.Join(root, "deploy", "directory.yaml"))

	e := &e2eEnv{t: t, brokers: brokers, ns: ns, file: file, fake: fake, client: kafkatest.NewClient(t, brokers)}
	e.operators = startCorb(t, "operators", "run", "--topology", file, "--brokers", brokers[0],
		"--instance", "0", "--admin-addr", "127.0.0.1:0", "--shutdown-timeout", "10s",
		"rules", "command-handlers", "cleaning-report", "sms-out")

	addr := e2eFreeAddr(t)
	e.webhook = "http://" + addr + "/twilio/sms"
	e.connector = startCorb(t, "sms-serve", "sms", "serve", "--listen", addr, "--public-url", e.webhook,
		"--topology", file, "--brokers", brokers[0], "--admin-addr", "127.0.0.1:0")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := e.connector.exited(); err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corb sms serve not listening on %s after 30s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// text posts a webhook from phone with body, signed with token, and returns
// the HTTP status. sid "" is a new MessageSid.
func (e *e2eEnv) text(phone, body, sid, token string) int {
	e.t.Helper()
	if sid == "" {
		sid = fmt.Sprintf("SM%032x", time.Now().UnixNano())
	}
	form := twiliofake.InboundForm(e.fake.AccountSid(), twiliofake.Inbound{
		MessageSid: sid, From: phone, To: twiliofake.MagicFrom, Body: body})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := twiliofake.PostWebhook(ctx, http.DefaultClient, token, e.webhook, form)
	if err != nil {
		e.t.Fatalf("webhook %q: %v", body, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// textOK texts as Twilio would and requires a 2xx answer.
func (e *e2eEnv) textOK(phone, body, sid string) {
	e.t.Helper()
	if st := e.text(phone, body, sid, e.fake.AuthToken()); st/100 != 2 {
		e.t.Fatalf("webhook %q from %s: HTTP %d", body, phone, st)
	}
}

// sentTo is the bodies the fake texted to phone that contain substr.
func (e *e2eEnv) sentTo(phone, substr string) []string {
	var out []string
	for _, m := range e.fake.Sent() {
		if m.To == phone && strings.Contains(m.Body, substr) {
			out = append(out, m.Body)
		}
	}
	return out
}

// waitSent waits until at least n texts to phone contain substr, and
// returns them.
func (e *e2eEnv) waitSent(phone, substr string, n int) []string {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := e.sentTo(phone, substr)
		if len(got) >= n {
			return got
		}
		for _, p := range []*proc{e.operators, e.connector} {
			if err := p.exited(); err != nil {
				e.t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d texts to %s containing %q after 60s, want %d; all texts: %s", len(got), phone, substr, n, e.allSent())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *e2eEnv) allSent() string {
	var b strings.Builder
	for _, m := range e.fake.Sent() {
		fmt.Fprintf(&b, "\n  → %s: %q", m.To, m.Body)
	}
	return b.String()
}

// produce writes records and waits for them to be acknowledged.
func (e *e2eEnv) produce(recs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// event produces ev on events and on occupancy, as presence does.
func (e *e2eEnv) event(ev schemas.PresenceEvent) {
	e.t.Helper()
	v, err := schemas.Marshal(&ev)
	if err != nil {
		e.t.Fatal(err)
	}
	e.produce(
		&kgo.Record{Topic: e.ns + ".occupancy", Key: []byte(ev.ZoneID), Value: v},
		&kgo.Record{Topic: e.ns + ".events", Key: []byte(ev.ZoneID), Value: v},
	)
}

// usage produces u on the usage view, as presence does.
func (e *e2eEnv) usage(u presence.Usage) {
	e.t.Helper()
	v, err := u.MarshalBinary()
	if err != nil {
		e.t.Fatal(err)
	}
	e.produce(&kgo.Record{Topic: e.ns + ".usage", Key: []byte(u.ZoneID), Value: v})
}

func TestCommandsEndToEnd(t *testing.T) {
	e := newE2EEnv(t)
	start := time.Now().Add(-30 * time.Minute).Truncate(time.Second)

	t.Run("SubscribeThenVacatedTextsOnce", func(t *testing.T) {
		e.t = t
		e.textOK(e2eAda, "SUBSCRIBE lawn", "")
		// The subscription is in the table once its reply went out.
		ack := e.waitSent(e2eAda, "", 1)
		t.Logf("subscribe reply: %q", ack[0])
		time.Sleep(2 * time.Second) // the rules operator's subscriptions table catches up
		before := len(e.sentTo(e2eAda, ""))
		ev := schemas.PresenceEvent{EventID: e.ns + "-lawn-vacated-1", ZoneID: "lawn", Type: schemas.Vacated,
			Count: 0, Peak: 2, WindowStart: start, WindowEnd: start.Add(time.Minute),
			Duration: 20 * time.Minute, EventTime: start.Add(time.Minute)}
		e.event(ev)
		e.waitSent(e2eAda, "", before+1)
		got := e.sentTo(e2eAda, "")[before:]
		if !strings.Contains(got[0], "Lawn") || !strings.Contains(strings.ToLower(got[0]), "free") {
			t.Errorf("notification %q: want Lawn and free", got[0])
		}
		e.event(ev) // redelivered
		time.Sleep(5 * time.Second)
		if got := e.sentTo(e2eAda, "")[before:]; len(got) != 1 {
			t.Errorf("%d texts to Ada after the event and its redelivery, want 1: %q", len(got), got)
		}
	})

	t.Run("StatusLawn", func(t *testing.T) {
		e.t = t
		before := len(e.sentTo(e2eAda, ""))
		e.textOK(e2eAda, "STATUS lawn", "")
		e.waitSent(e2eAda, "", before+1)
		got := e.sentTo(e2eAda, "")[before:]
		if !strings.Contains(got[0], "Lawn") {
			t.Errorf("status reply %q: want Lawn", got[0])
		}
		t.Logf("status reply: %q", got[0])
	})

	t.Run("StatusEveryZone", func(t *testing.T) {
		e.t = t
		before := len(e.sentTo(e2eAda, ""))
		e.textOK(e2eAda, "STATUS", "")
		e.waitSent(e2eAda, "", before+1)
		time.Sleep(2 * time.Second) // a long reply may be sent as several texts
		all := strings.Join(e.sentTo(e2eAda, "")[before:], "\n")
		for _, name := range []string{"Lawn", "Footpath", "Crossing"} {
			if !strings.Contains(all, name) {
				t.Errorf("STATUS reply %q: want %s", all, name)
			}
		}
		t.Logf("status of every zone: %q", all)
	})

	t.Run("ForgedSignatureAndReplay", func(t *testing.T) {
		e.t = t
		before := len(e.sentTo(e2eAda, ""))
		if st := e.text(e2eAda, "STATUS walkway", "", "not-the-auth-token"); st != http.StatusForbidden {
			t.Errorf("forged signature: HTTP %d, want 403", st)
		}
		sid := fmt.Sprintf("SMreplay%024x", time.Now().UnixNano())
		e.textOK(e2eAda, "STATUS crossing", sid)
		e.textOK(e2eAda, "STATUS crossing", sid) // Twilio retries the webhook
		e.waitSent(e2eAda, "", before+1)
		time.Sleep(5 * time.Second)
		got := e.sentTo(e2eAda, "")[before:]
		if len(got) != 1 {
			t.Errorf("%d replies to a forged text and a replayed one, want 1: %q", len(got), got)
		}
		for _, b := range got {
			if strings.Contains(b, "Footpath") {
				t.Errorf("a reply to the forged text: %q", b)
			}
		}
	})

	t.Run("UsagePastPolicyReportsToCleaner", func(t *testing.T) {
		e.t = t
		e.usage(presence.Usage{ZoneID: "lawn", Visits: 3, PersonMinutes: 42, Peak: 2,
			FirstSeen: start, LastSeen: start.Add(25 * time.Minute), CountSince: start.Add(25 * time.Minute)})
		time.Sleep(2 * time.Second) // the usage table catches up
		at := start.Add(26 * time.Minute)
		e.event(schemas.PresenceEvent{EventID: e.ns + "-lawn-occupied-2", ZoneID: "lawn", Type: schemas.Occupied,
			Count: 1, Peak: 1, WindowStart: at.Add(-time.Minute), WindowEnd: at, OccupiedSince: at, EventTime: at})
		got := e.waitSent(e2eBen, "Cleaning needed: Lawn", 1)
		t.Logf("report: %q", got[0])
		time.Sleep(3 * time.Second)
		if got := e.sentTo(e2eBen, "Cleaning needed"); len(got) != 1 {
			t.Errorf("%d reports to Ben, want 1: %q", len(got), got)
		}
	})

	t.Run("InvalidNumberDeadLetters", func(t *testing.T) {
		e.t = t
		send := startCorb(t, "command-send", "command", "send", "send_sms", "--topology", e.file, "--brokers", e.brokers[0],
			"--arg", "to=+15005550001", "--arg", "body=x")
		if err := send.wait(30 * time.Second); err != nil {
			t.Fatalf("corb command send: %v", err)
		}
		dead := kafkatest.ConsumeAll(t, e.brokers, e.ns+".commands-dlq", 1, 60*time.Second, true)
		if len(dead) != 1 {
			t.Fatalf("%d dead letters on %s.commands-dlq, want 1", len(dead), e.ns)
		}
		var hs []string
		for _, h := range dead[0].Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		t.Logf("dead letter headers: %s", strings.Join(hs, " "))
		if !strings.Contains(strings.Join(hs, " "), "21211") {
			t.Errorf("dead letter headers %q: want Twilio's code 21211", hs)
		}
		for _, m := range e.fake.Sent() {
			if m.To == "+15005550001" {
				t.Errorf("a text to the invalid number: %+v", m)
			}
		}
	})
	e.t = t
}
