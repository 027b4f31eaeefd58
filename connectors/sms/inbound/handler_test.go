package inbound_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// A webhook that Twilio did not sign for the public URL is refused with 403
// and produces nothing.
func TestSignatureRequired(t *testing.T) {
	signed := form("SM1", staff, "STATUS lobby")
	tests := []struct {
		name string
		form url.Values
		edit func(*http.Request)
	}{
		{"missing", signed, func(r *http.Request) { r.Header.Del("X-Twilio-Signature") }},
		{"forged", signed, func(r *http.Request) { r.Header.Set("X-Twilio-Signature", "vOEb5UThFn24KEfnOFLQY2AE5FY=") }},
		{"another token", signed, func(r *http.Request) {
			r.Header.Set("X-Twilio-Signature", twiliofake.Sign("another-token", publicURL, signed))
		}},
		{"signed for the URL the server sees", signed, func(r *http.Request) {
			r.Header.Set("X-Twilio-Signature", twiliofake.Sign(token, internalOrigin+msgPath, signed))
		}},
		{"tampered body", signed, func(r *http.Request) {
			f := form("SM1", staff, "CLEAN lobby")
			r.Body = io.NopCloser(strings.NewReader(f.Encode()))
			r.ContentLength = int64(len(f.Encode()))
		}},
		{"tampered sender", signed, func(r *http.Request) {
			f := form("SM1", admin, "STATUS lobby")
			r.Body = io.NopCloser(strings.NewReader(f.Encode()))
			r.ContentLength = int64(len(f.Encode()))
		}},
		{"query added", signed, func(r *http.Request) { r.URL.RawQuery = "From=%2B15550003" }},
		{"another account", func() url.Values {
			f := form("SM1", staff, "STATUS lobby")
			f.Set("AccountSid", "AC0000")
			return f
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil)
			w := hs.post(msgPath, tt.form, tt.edit)
			if w.Code != http.StatusForbidden {
				t.Errorf("answer %d %q, want 403", w.Code, w.Body)
			}
			if hs.p.calls != 0 {
				t.Errorf("produced %d times", hs.p.calls)
			}
			if got := hs.h.Counter("corb_sms_webhook_requests_total", "message", "forbidden"); got != 1 {
				t.Errorf("forbidden requests = %v, want 1", got)
			}
		})
	}
	// The same request, signed as it should be, is accepted: the cases above
	// fail for the reason they name.
	hs := newHarness(t, nil)
	if w := hs.post(msgPath, signed, nil); w.Code != http.StatusOK {
		t.Fatalf("a signed webhook: %d %q", w.Code, w.Body)
	}
}

// Twilio's answer: 200, text/xml, an empty TwiML response.
func TestAnswerIsEmptyTwiML(t *testing.T) {
	hs := newHarness(t, nil)
	w := hs.post(msgPath, form(hs.newSid(), staff, "STATUS"), nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" || !strings.HasSuffix(w.Body.String(), "<Response></Response>") {
		t.Fatalf("answer %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

// Twilio retries a webhook with the same MessageSid: one command, whose id
// is derived from the sid, however often and however concurrently it comes.
func TestReplayedMessageSidProducesOnce(t *testing.T) {
	hs := newHarness(t, nil)
	f := form("SMreplayed", staff, "STATUS lobby")
	block := make(chan struct{})
	hs.p.set(nil, block) // the first delivery is still producing when the retries arrive
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() { codes[i] = hs.post(msgPath, f, nil).Code })
	}
	time.Sleep(20 * time.Millisecond)
	close(block)
	wg.Wait()
	codes = append(codes, hs.post(msgPath, f, nil).Code)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("delivery %d: %d", i, c)
		}
	}
	cmds := hs.commands(t)
	if len(cmds) != 1 {
		t.Fatalf("%d commands, want 1", len(cmds))
	}
	want := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SMreplayed"})
	if c := cmds[0]; c.ID != want.ID || c.Cause != want.Cause || c.CommandType != schemas.CommandStatus || c.ZoneID != "lobby" {
		t.Errorf("command %+v, want id %s of %+v about lobby", c, want.ID, want.Cause)
	}
	if got := hs.h.Counter("corb_sms_webhook_requests_total", "message", "duplicate"); got != 4 {
		t.Errorf("duplicates = %v, want 4", got)
	}
}

// What each text from each sender becomes on the bus.
func TestTextToCommand(t *testing.T) {
	tests := []struct {
		from, text string
		want       []schemas.Command // ID and Cause are checked by the id rule
	}{
		{staff, "STATUS lobby", []schemas.Command{{CommandType: "status", ZoneID: "lobby"}}},
		{staff, "status", []schemas.Command{{CommandType: "status"}}},
		{cleaner, "STATUS Kitchen", []schemas.Command{{CommandType: "status", ZoneID: "kitchen"}}},
		{staff, "SUBSCRIBE kitchen vacated", []schemas.Command{{CommandType: "subscribe", ZoneID: "kitchen",
			Subscribe: &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated}, Subscriber: staff}}}},
		{staff, "subscribe meeting room all", []schemas.Command{{CommandType: "subscribe", ZoneID: "room-2",
			Subscribe: &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated, schemas.Occupied}, Subscriber: staff}}}},
		{admin, "SUBSCRIBE all occupied", []schemas.Command{{CommandType: "subscribe",
			Subscribe: &schemas.SubscribeArgs{AllZones: true, Transitions: []schemas.PresenceType{schemas.Occupied}, Subscriber: admin}}}},
		{staff, "NOTIFY room-2 when free", []schemas.Command{{CommandType: "subscribe", ZoneID: "room-2",
			Subscribe: &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated}, Once: true, Subscriber: staff}}}},
		{staff, "UNSUBSCRIBE kitchen", []schemas.Command{{CommandType: "unsubscribe", ZoneID: "kitchen",
			Unsubscribe: &schemas.UnsubscribeArgs{Subscriber: staff}}}},
		{staff, "UNSUBSCRIBE all", []schemas.Command{{CommandType: "unsubscribe",
			Unsubscribe: &schemas.UnsubscribeArgs{AllZones: true, Subscriber: staff}}}},
		{staff, "CLEAN kitchen spilled coffee", []schemas.Command{{CommandType: "request_cleaning", ZoneID: "kitchen",
			RequestCleaning: &schemas.RequestCleaningArgs{Reason: "spilled coffee", RequestedBy: staff}}}},
		{cleaner, "DONE kitchen", []schemas.Command{{CommandType: "cleaning_done", ZoneID: "kitchen",
			CleaningDone: &schemas.CleaningDoneArgs{By: cleaner}}}},
		{admin, "done lobby", []schemas.Command{{CommandType: "cleaning_done", ZoneID: "lobby",
			CleaningDone: &schemas.CleaningDoneArgs{By: admin}}}},
		{staff, "HELP", []schemas.Command{{CommandType: "help", Help: &schemas.HelpArgs{}}}},
		{cleaner, "help subscribe", []schemas.Command{{CommandType: "help", Help: &schemas.HelpArgs{Topic: "subscribe"}}}},
		{staff, "STOP", []schemas.Command{{CommandType: "opt_out"}}},
		{staff, "start", []schemas.Command{{CommandType: "opt_in"}}},
		// Several zones: one child of the inbound command per zone.
		{staff, "STATUS lobby kitchen", []schemas.Command{{CommandType: "status", ZoneID: "lobby"}, {CommandType: "status", ZoneID: "kitchen"}}},
	}
	for _, tt := range tests {
		t.Run(tt.from+" "+tt.text, func(t *testing.T) {
			hs := newHarness(t, nil)
			sid := hs.text(t, tt.from, tt.text)
			got := hs.commands(t)
			if len(got) != len(tt.want) {
				t.Fatalf("%d commands %+v, want %d", len(got), got, len(tt.want))
			}
			for i, c := range got {
				w := tt.want[i]
				w.Channel, w.Sender, w.IssuedAt = "sms", tt.from, hs.clock.Now()
				w.Cause = schemas.Cause{Kind: schemas.CauseSMS, ID: sid}
				if len(got) > 1 {
					w.Cause = schemas.Cause{Kind: schemas.CauseCommand, ID: inboundID(sid), Purpose: "zone " + w.ZoneID}
					w.CorrelationID = inboundID(sid)
				}
				w.ID = w.Cause.CommandID()
				if !equalCommands(c, &w) {
					t.Errorf("command %d:\n got %+v\nwant %+v", i, c, &w)
				}
			}
		})
	}
}

// equalCommands compares a decoded command with a wanted one.
func equalCommands(a, b *schemas.Command) bool {
	ab, err1 := schemas.Marshal(a)
	bb, err2 := schemas.Marshal(b)
	return err1 == nil && err2 == nil && string(ab) == string(bb)
}

// replies returns the send_sms commands produced, checking that each is the
// reply child of the text's inbound command and goes to `to`.
func replies(t *testing.T, hs *harness, sids map[string]string) []*schemas.Command {
	t.Helper()
	var out []*schemas.Command
	for _, c := range hs.commands(t) {
		if c.CommandType != schemas.CommandSendSMS {
			t.Errorf("a %s command, want only replies", c.CommandType)
			continue
		}
		var sid string
		for s := range sids {
			if c.CorrelationID == inboundID(s) {
				sid = s
			}
		}
		want := schemas.Cause{Kind: schemas.CauseCommand, ID: inboundID(sid), Purpose: "reply"}
		if sid == "" || c.Cause != want || c.SendSMS.To != sids[sid] {
			t.Errorf("reply %+v (to %s): not the reply to any text sent %v", c, c.SendSMS.To, sids)
		}
		out = append(out, c)
	}
	return out
}

// A sender whose roles do not allow a command gets a reply saying what it
// may use, and no command reaches the handlers.
func TestRolesRefused(t *testing.T) {
	tests := []struct {
		from, text string
		reply      string
	}{
		{cleaner, "SUBSCRIBE kitchen", "Sorry, SUBSCRIBE is not open to you. You may use: STATUS, DONE, HELP."},
		{cleaner, "NOTIFY kitchen when free", "Sorry, NOTIFY is not open to you."},
		{cleaner, "CLEAN kitchen", "Sorry, CLEAN is not open to you."},
		{staff, "DONE kitchen", "Sorry, DONE is not open to you. You may use: STATUS, SUBSCRIBE, NOTIFY, UNSUBSCRIBE, CLEAN, HELP."},
		{cleaner, "DONE lobby", "Sorry, you are not on the cleaning list for Lobby."},
		{cleaner, "DONE kitchen lobby", "Sorry, you are not on the cleaning list for Lobby."},
	}
	for _, tt := range tests {
		t.Run(tt.from+" "+tt.text, func(t *testing.T) {
			hs := newHarness(t, nil)
			sid := hs.text(t, tt.from, tt.text)
			rs := replies(t, hs, map[string]string{sid: tt.from})
			if len(rs) != 1 || !strings.HasPrefix(rs[0].SendSMS.Body, tt.reply) {
				t.Fatalf("replies %+v, want one starting %q", rs, tt.reply)
			}
			if got := hs.h.Counter("corb_sms_replies_total", inbound.ReasonForbidden); got != 1 {
				t.Errorf("forbidden replies = %v", got)
			}
		})
	}
}

// A text the parser cannot act on gets a reply written by the connector,
// with its suggestion.
func TestNotUnderstood(t *testing.T) {
	tests := []struct{ text, reply string }{
		{"STATUS lobbby", "I don't know the zone 'lobbby'. Did you mean Lobby?"},
		{"STATUS garage", "I don't know the zone 'garage'. STATUS lists every zone."},
		{"stauts lobby", "I don't know the command 'stauts'. Did you mean STATUS?"},
		{"SUBSCRIBE", "Which zone? SUBSCRIBE zone"},
		{"SUBSCRIBE kitchen vacatd", "I don't understand 'vacatd'. Did you mean vacated?"},
		{"   ", "Commands: STATUS"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			hs := newHarness(t, nil)
			sid := hs.text(t, staff, tt.text)
			rs := replies(t, hs, map[string]string{sid: staff})
			if len(rs) != 1 || !strings.HasPrefix(rs[0].SendSMS.Body, tt.reply) {
				t.Fatalf("replies %+v, want one starting %q", rs, tt.reply)
			}
			if rs[0].Sender != inbound.ReplySender || rs[0].Key() != rs[0].ID {
				t.Errorf("reply sender %q, key %q; want %q and its id", rs[0].Sender, rs[0].Key(), inbound.ReplySender)
			}
		})
	}
}

// buildingWords are what would tell a stranger something about the
// building: every zone's ID and name (the test zones and deploy/zones.yaml),
// the states, and any digit (a count).
func buildingWords(t *testing.T) []string {
	words := []string{"occupied", "vacated", "vacant", "free", "empty", "busy"}
	for _, z := range testZones() {
		words = append(words, z.ID, z.Name)
		words = append(words, z.Aliases...)
	}
	f, err := zones.Load("../../../deploy/zones.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range f.Zones {
		words = append(words, z.ID, z.Name)
	}
	return words
}

// A sender who is not in the directory gets one polite reply an hour, which
// names no zone, state or count, whatever it asks; STOP and HELP still work.
func TestUnknownSender(t *testing.T) {
	hs := newHarness(t, nil)
	sids := map[string]string{}
	for _, text := range []string{"STATUS lobby", "STATUS", "SUBSCRIBE kitchen", "status lobbby", "DONE kitchen", "hello"} {
		sids[hs.text(t, stranger, text)] = stranger
		hs.clock.Add(time.Minute)
	}
	rs := replies(t, hs, sids)
	if len(rs) != 1 {
		t.Fatalf("%d replies within an hour, want 1", len(rs))
	}
	hs.clock.Add(time.Hour)
	sids[hs.text(t, stranger, "STATUS kitchen")] = stranger
	if rs = replies(t, hs, sids); len(rs) != 2 {
		t.Fatalf("%d replies after an hour, want 2", len(rs))
	}
	digit := regexp.MustCompile(`[0-9]`)
	for _, r := range rs {
		body := strings.ToLower(r.SendSMS.Body)
		for _, w := range buildingWords(t) {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(strings.ToLower(w)) + `\b`).MatchString(body) {
				t.Errorf("the reply to a stranger names %q: %q", w, r.SendSMS.Body)
			}
		}
		if digit.MatchString(body) {
			t.Errorf("the reply to a stranger has a number: %q", r.SendSMS.Body)
		}
		if _, n := sms.Count(r.SendSMS.Body); n != 1 {
			t.Errorf("the reply takes %d segments", n)
		}
	}
	if got := hs.h.Counter("corb_sms_replies_total", inbound.ReasonUnknownSender); got != 2 {
		t.Errorf("unknown-sender replies = %v, want 2", got)
	}

	// The carrier keywords work for strangers too, however often.
	for _, tt := range []struct{ text, want string }{{"STOP", "opt_out"}, {"stop", "opt_out"}, {"START", "opt_in"}, {"HELP", "help"}, {"Info", "help"}} {
		n := len(hs.commands(t))
		hs.text(t, stranger, tt.text)
		cmds := hs.commands(t)
		if len(cmds) != n+1 || cmds[n].CommandType != tt.want || cmds[n].Sender != stranger {
			t.Errorf("%s from a stranger: %+v, want one %s from %s", tt.text, cmds[n:], tt.want, stranger)
		}
	}
}

// The carrier keywords and their synonyms, for people in the directory.
func TestCarrierKeywords(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"STOP", "opt_out"}, {"Stop", "opt_out"}, {"UNSUBSCRIBE", "opt_out"}, {"cancel", "opt_out"},
		{"END", "opt_out"}, {"QUIT", "opt_out"}, {"STOPALL", "opt_out"}, {"stop texting me", "opt_out"},
		{"START", "opt_in"}, {"YES", "opt_in"}, {"UNSTOP", "opt_in"},
		{"HELP", "help"}, {"INFO", "help"},
	} {
		t.Run(tt.text, func(t *testing.T) {
			hs := newHarness(t, nil)
			sid := hs.text(t, cleaner, tt.text)
			cmds := hs.commands(t)
			if len(cmds) != 1 {
				t.Fatalf("%d commands", len(cmds))
			}
			c := cmds[0]
			if c.CommandType != tt.want || c.Sender != cleaner || c.ZoneID != "" || c.ID != inboundID(sid) || c.Key() != cleaner {
				t.Errorf("%+v, want %s from %s, keyed by the phone", c, tt.want, cleaner)
			}
		})
	}
}

// A sender over its rate gets one "slow down", then silence until its
// bucket refills; STOP is never limited.
func TestCommandRateLimit(t *testing.T) {
	hs := newHarness(t, func(c *inbound.Config) { c.CommandsPerMinute = 10 })
	for range 10 {
		hs.text(t, staff, "STATUS lobby")
	}
	count := func(typ string) int {
		n := 0
		for _, c := range hs.commands(t) {
			if c.CommandType == typ {
				n++
			}
		}
		return n
	}
	if n := count("status"); n != 10 {
		t.Fatalf("%d of a burst of 10 passed", n)
	}
	hs.text(t, staff, "STATUS lobby")
	hs.text(t, staff, "STATUS lobby")
	hs.text(t, staff, "SUBSCRIBE kitchen")
	if n, r := count("status"), count("send_sms"); n != 10 || r != 1 {
		t.Fatalf("over the limit: %d status, %d replies; want 10 and one slow-down", n, r)
	}
	if body := hs.commands(t)[10].SendSMS.Body; !strings.Contains(body, "wait a minute") {
		t.Errorf("the slow-down reply: %q", body)
	}
	if got := hs.h.Counter("corb_sms_webhook_requests_total", "message", "silenced"); got != 2 {
		t.Errorf("silenced = %v, want 2", got)
	}
	hs.text(t, staff, "STOP")
	if count("opt_out") != 1 {
		t.Errorf("STOP over the rate limit was not honoured")
	}
	hs.text(t, admin, "STATUS") // another sender has a bucket of its own
	if count("status") != 11 {
		t.Errorf("another sender was limited too")
	}
	hs.clock.Add(6 * time.Second) // one token back
	hs.text(t, staff, "STATUS lobby")
	hs.text(t, staff, "STATUS lobby")
	if n, r := count("status"), count("send_sms"); n != 12 || r != 2 {
		t.Errorf("after 6s: %d status and %d replies, want 12 and 2 (one passes, the next is told again)", n, r)
	}
}

// A body over the limit is refused with 413 before it is parsed.
func TestBodyTooLarge(t *testing.T) {
	hs := newHarness(t, nil)
	w := hs.post(msgPath, form(hs.newSid(), staff, strings.Repeat("x", sms.MaxWebhookBody)), nil)
	if w.Code != http.StatusRequestEntityTooLarge || hs.p.calls != 0 {
		t.Fatalf("answer %d, %d produce calls; want 413 and none", w.Code, hs.p.calls)
	}
}

// A produce that fails is answered 503, so that Twilio retries; the retry is
// then acted on, once.
func TestProduceFailure(t *testing.T) {
	hs := newHarness(t, nil)
	hs.p.set(errors.New("broker down"), nil)
	f := form("SMfails", staff, "STATUS lobby")
	if w := hs.post(msgPath, f, nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503", w.Code)
	}
	hs.p.set(nil, nil)
	for range 2 {
		if w := hs.post(msgPath, f, nil); w.Code != http.StatusOK {
			t.Fatalf("the retry: %d", w.Code)
		}
	}
	if n := len(hs.commands(t)); n != 1 {
		t.Fatalf("%d commands, want 1", n)
	}
}

// A produce that does not finish in time is answered 503 within the timeout.
func TestProduceTimeout(t *testing.T) {
	hs := newHarness(t, func(c *inbound.Config) { c.Timeout = 50 * time.Millisecond })
	hs.p.set(nil, make(chan struct{})) // never done
	start := time.Now()
	w := hs.post(msgPath, form(hs.newSid(), staff, "STATUS"), nil)
	if w.Code != http.StatusServiceUnavailable || time.Since(start) > time.Second {
		t.Fatalf("answer %d after %v, want 503 within the timeout", w.Code, time.Since(start))
	}
}

// Requests beyond MaxConcurrent wait for a slot within the timeout, then
// 503. The first holds its slot with a body that comes slowly, as a slow
// client's does.
func TestBoundedConcurrency(t *testing.T) {
	hs := newHarness(t, func(c *inbound.Config) { c.MaxConcurrent, c.Timeout = 1, 100*time.Millisecond })
	slow := make(chan struct{})
	done := make(chan int)
	go func() {
		done <- hs.post(msgPath, form(hs.newSid(), staff, "STATUS"), func(r *http.Request) {
			r.Body = io.NopCloser(io.MultiReader(blockingReader(slow), r.Body))
		}).Code
	}()
	time.Sleep(20 * time.Millisecond)
	if w := hs.post(msgPath, form("SMsecond", admin, "STATUS"), nil); w.Code != http.StatusServiceUnavailable {
		t.Errorf("second request: %d, want 503", w.Code)
	}
	close(slow)
	if code := <-done; code != http.StatusOK {
		t.Errorf("first request: %d", code)
	}
	if got := hs.h.Counter("corb_sms_webhook_requests_total", "message", "busy"); got != 1 {
		t.Errorf("busy = %v", got)
	}
}

// blockingReader reads nothing until c closes.
type blockingReader chan struct{}

func (b blockingReader) Read([]byte) (int, error) {
	<-b
	return 0, io.EOF
}

func TestMethodAndPath(t *testing.T) {
	hs := newHarness(t, nil)
	for _, tt := range []struct {
		method, path string
		code         int
	}{{http.MethodGet, msgPath, 405}, {http.MethodPost, "/elsewhere", 404}, {http.MethodPost, msgPath + "/status/x", 404}} {
		w := hs.post(tt.path, form(hs.newSid(), staff, "STATUS"), func(r *http.Request) { r.Method = tt.method })
		if w.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
	}
	if hs.p.calls != 0 {
		t.Errorf("produced %d times", hs.p.calls)
	}
}

// A signed webhook without a MessageSid or a From is not Twilio's messaging
// webhook: 400.
func TestIncompleteWebhook(t *testing.T) {
	hs := newHarness(t, nil)
	for _, drop := range []string{"From", "MessageSid"} {
		f := form("SMx", staff, "STATUS")
		f.Del(drop)
		if drop == "MessageSid" {
			f.Del("SmsSid")
		}
		if w := hs.post(msgPath, f, nil); w.Code != http.StatusBadRequest {
			t.Errorf("without %s: %d, want 400", drop, w.Code)
		}
	}
}

// statusForm is a status callback as Twilio posts it.
func statusForm(sid, status string, code int) url.Values {
	f := url.Values{"AccountSid": {account}, "MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {status},
		"SmsStatus": {status}, "To": {staff}, "From": {twiliofake.MagicFrom}, "ApiVersion": {"2010-04-01"}}
	if code != 0 {
		f.Set("ErrorCode", strconv.Itoa(code))
	}
	return f
}

// Status callbacks become one receipt per (MessageSid, status) on
// sms-status; undelivered and failed are counted by code.
func TestStatusCallbacks(t *testing.T) {
	hs := newHarness(t, nil)
	path := msgPath + "/status"
	posts := []url.Values{
		statusForm("SMa", "queued", 0), statusForm("SMa", "sent", 0), statusForm("SMa", "delivered", 0),
		statusForm("SMa", "sent", 0), // out of order and repeated
		statusForm("SMb", "undelivered", 30003), statusForm("SMb", "undelivered", 30003),
		statusForm("SMc", "failed", 30008),
	}
	for _, f := range posts {
		if w := hs.post(path, f, nil); w.Code != http.StatusOK {
			t.Fatalf("%v: %d", f, w.Code)
		}
	}
	forged := statusForm("SMd", "failed", 30008)
	if w := hs.post(path, forged, func(r *http.Request) { r.Header.Set("X-Twilio-Signature", "x") }); w.Code != http.StatusForbidden {
		t.Errorf("a forged callback: %d", w.Code)
	}
	var got []string
	for _, r := range hs.p.records(statusTopic) {
		var rc inbound.Receipt
		if err := json.Unmarshal(r.Value, &rc); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != rc.Sid || rc.To != staff || !rc.At.Equal(hs.clock.Now()) {
			t.Errorf("receipt %+v keyed %q", rc, r.Key)
		}
		got = append(got, rc.Sid+" "+rc.Status+" "+strconv.Itoa(rc.ErrorCode))
	}
	want := []string{"SMa queued 0", "SMa sent 0", "SMa delivered 0", "SMb undelivered 30003", "SMc failed 30008"}
	if !slices.Equal(got, want) {
		t.Errorf("receipts %q, want %q", got, want)
	}
	for code, n := range map[string]float64{"30003": 1, "30008": 1} {
		if got := hs.h.Counter("corb_sms_delivery_failed_total", code); got != n {
			t.Errorf("delivery failed %s = %v, want %v", code, got, n)
		}
	}
	if len(hs.commands(t)) != 0 {
		t.Error("a status callback put a command on the bus")
	}
}

// The handler's status path can be set apart from the webhook's.
func TestStatusPath(t *testing.T) {
	hs := newHarness(t, func(c *inbound.Config) { c.StatusPath = "/twilio/receipts" })
	if hs.h.StatusPath() != "/twilio/receipts" {
		t.Fatal(hs.h.StatusPath())
	}
	if w := hs.post("/twilio/receipts", statusForm("SMa", "sent", 0), nil); w.Code != 200 || len(hs.p.records(statusTopic)) != 1 {
		t.Fatalf("%d", w.Code)
	}
	_, err := inbound.New(inbound.Config{AuthToken: token, PublicURL: publicURL, StatusPath: msgPath, Producer: &producer{},
		CommandsTopic: "c", StatusTopic: "s", Directory: nil})
	if err == nil {
		t.Error("New accepted a config without a directory")
	}
}

// The zones file in deploy/ reads as zones a text may name.
func TestDeployZonesParse(t *testing.T) {
	if _, err := os.Stat("../../../deploy/zones.yaml"); err != nil {
		t.Skip(err)
	}
	hs := newHarness(t, func(c *inbound.Config) {
		f, err := zones.Load("../../../deploy/zones.yaml")
		if err != nil {
			t.Fatal(err)
		}
		c.Zones = inbound.ZonesOf(f)
	})
	hs.text(t, staff, "status footpath")
	if cmds := hs.commands(t); len(cmds) != 1 || cmds[0].ZoneID != "walkway" {
		t.Fatalf("%+v", cmds)
	}
}

// BenchmarkServeHTTP is the Handler's own cost per text, signature to
// encoded command, with a producer that keeps nothing.
func BenchmarkServeHTTP(b *testing.B) {
	hs := newHarness(b, func(c *inbound.Config) { c.CommandsPerMinute = 1e12; c.Producer = discard{} })
	forms := make([]string, 1024)
	sigs := make([]string, len(forms))
	for i := range forms {
		f := form(hs.newSid(), staff, "STATUS kitchen")
		forms[i], sigs[i] = f.Encode(), twiliofake.Sign(token, publicURL, f)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i == len(forms) { // new sids, or every text is a duplicate
			b.StopTimer()
			for j := range forms {
				f := form(hs.newSid(), staff, "STATUS kitchen")
				forms[j], sigs[j] = f.Encode(), twiliofake.Sign(token, publicURL, f)
			}
			i = 0
			b.StartTimer()
		}
		r := httptest.NewRequest(http.MethodPost, internalOrigin+msgPath, strings.NewReader(forms[i]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", sigs[i])
		w := httptest.NewRecorder()
		hs.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

type discard struct{}

func (discard) Produce(context.Context, []inbound.Record) error { return nil }
