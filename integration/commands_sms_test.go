//go:build integration

package integration

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/cleaning/cleanings"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/schemas"
)

// The command half end to end on the real broker: texts signed as Twilio
// signs them go to `corb sms serve`, the operators of the default topology
// run as `corb run` processes, and what people are texted is what the fake
// Twilio was asked to send. The test plays presence: it writes the events,
// and the occupancy and usage views, as presence writes them (the usage
// folded by presence's own Usage.Apply and Cleaned), so every event and its
// time is the test's. The subtests share one topology and one set of
// processes; each has its own zone and phones.
func TestCommands(t *testing.T) {
	e := newCmdEnv(t)
	start := time.Now()
	t.Run("subscriber texted once per event", func(t *testing.T) { testSubscribeOnce(e.in(t)) })
	t.Run("status", func(t *testing.T) { testStatus(e.in(t)) })
	t.Run("cleaning cycle", func(t *testing.T) { testCleaningCycle(e.in(t)) })
	t.Run("webhook refusals, replays, strangers", func(t *testing.T) { testWebhookRefusals(e.in(t)) })
	t.Run("stop and start", func(t *testing.T) { testStopStart(e.in(t)) })
	t.Run("twilio retries and refusals", func(t *testing.T) { testTwilioFailures(e.in(t)) })
	t.Logf("subtests took %v; %d texts at the fake", time.Since(start).Round(100*time.Millisecond), len(e.fake.Sent()))
}

// notifyID is the id of rules' notification of event to phone.
func notifyID(eventID, phone string) string {
	return schemas.NewCommand(schemas.CommandSendSMS, schemas.Cause{Kind: schemas.CauseEvent, ID: eventID, Purpose: "notify " + phone}).ID
}

// requestID is the id of rules' automatic request_cleaning of a zone's cycle.
func requestID(zone string, cycle int64) string {
	return schemas.NewCommand(schemas.CommandRequestCleaning, schemas.Cause{Kind: schemas.CauseCycle, ID: schemas.CycleID(zone, cycle)}).ID
}

// onBus requires exactly n commands of id on the bus.
func (e *cmdEnv) onBus(id string, n int) {
	e.t.Helper()
	if got := e.commands(byID(id)); len(got) != n {
		e.t.Fatalf("%d commands %s on the bus, want %d", len(got), id, n)
	}
}

// requireTexts requires phone's texts at the fake to be exactly want, in order.
func (e *cmdEnv) requireTexts(phone string, want ...string) {
	e.t.Helper()
	if got := bodies(e.texts(phone)); !slices.Equal(got, want) {
		e.t.Fatalf("texts to %s:\n%q\nwant\n%q", phone, got, want)
	}
}

// SUBSCRIBE kitchen, then a VACATED event of the kitchen: one text; the
// event again: nothing more; rules SIGKILLed, the event again, rules
// restarted: nothing more. Rules' state (the events it applied) keeps the
// notification off the bus the second and third time, not only sms-out's
// sent log from texting it.
func testSubscribeOnce(e *cmdEnv) {
	sub := e.text(phoneAda, "SUBSCRIBE kitchen")
	conf := e.waitSent(replyID(sub, "reply"))
	if want := "You'll get a text when Kitchen is free. Reply UNSUBSCRIBE kitchen to stop."; conf.Body != want {
		e.t.Fatalf("subscription confirmed with %q, want %q", conf.Body, want)
	}
	e.waitKey("subscriptions", "kitchen "+phoneAda, true)

	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := schemas.PresenceEvent{EventID: "kitchen-vacated-1", ZoneID: "kitchen", Type: schemas.Vacated, Peak: 2,
		WindowStart: now.Add(-time.Second), WindowEnd: now,
		OccupiedSince: now.Add(-10 * time.Minute), Duration: 9*time.Minute + 30*time.Second, EventTime: now}
	rec := e.event(ev)
	id := notifyID(ev.EventID, phoneAda)
	note := e.waitSent(id)
	if want := "Kitchen is free again (vacated " + now.Add(-30*time.Second).Format("15:04") + ")."; note.Body != want {
		e.t.Fatalf("notification %q, want %q", note.Body, want)
	}

	e.waitProcessed("rules", e.redeliver(rec))
	e.onBus(id, 1)

	// Killed, then the event again: the next rules knows it from the
	// rules-state it restores, or texts it twice.
	e.procs.rules.kill9()
	again := e.redeliver(rec)
	e.startRules()
	e.waitProcessed("rules", again)
	e.onBus(id, 1)
	if cs := e.commands(textsTo(phoneAda)); len(cs) != 2 {
		e.t.Fatalf("%d send_sms to %s on the bus, want the confirmation and one notification", len(cs), phoneAda)
	}
	e.requireTexts(phoneAda, conf.Body, note.Body)
}

// waitKey waits until the compacted topic's last record of key is a value
// (present) or a tombstone (!present).
func (e *cmdEnv) waitKey(topic, key string, present bool) []byte {
	e.t.Helper()
	var v []byte
	kafkatest.WaitFor(e.t, 60*time.Second, func() (bool, error) {
		if err := e.alive(); err != nil {
			return false, err
		}
		var ok bool
		if v, ok = e.table(topic)[key]; !ok || (v != nil) != present {
			return false, fmt.Errorf("%s[%q] = %q, want present %v", topic, key, v, present)
		}
		return true, nil
	})
	return v
}

// STATUS lobby answers with the lobby's current state and count, from the
// occupancy view; STATUS with a line for every zone of the zones file.
func testStatus(e *cmdEnv) {
	since := time.Now().UTC().Truncate(time.Minute)
	status := func(text string) string {
		e.t.Helper()
		return e.waitSent(replyID(e.text(phoneBea, text), "reply")).Body
	}
	// "since 14:05", or "since yesterday 23:59" when midnight passed meanwhile.
	line := func(state string) []string {
		return []string{"Lobby: " + state + " since " + since.Format("15:04"), "Lobby: " + state + " since yesterday " + since.Format("15:04")}
	}
	ev := schemas.PresenceEvent{EventID: "lobby-occupied-1", ZoneID: "lobby", Type: schemas.Occupied, Count: 3, Peak: 3,
		WindowStart: since, WindowEnd: since.Add(time.Second), OccupiedSince: since, EventTime: since.Add(time.Second)}
	e.event(ev)
	e.waitKey("occupancy", "lobby", true)
	if got, want := status("STATUS lobby"), line("occupied (3 people)"); !slices.Contains(want, got) {
		e.t.Fatalf("STATUS lobby: %q, want %q", got, want[0])
	}

	ev = schemas.PresenceEvent{EventID: "lobby-count-1", ZoneID: "lobby", Type: schemas.CountChanged, Count: 4, Peak: 4,
		WindowStart: since.Add(time.Second), WindowEnd: since.Add(2 * time.Second), OccupiedSince: since, EventTime: since.Add(2 * time.Second)}
	v, _ := schemas.Marshal(&ev)
	e.event(ev)
	kafkatest.WaitFor(e.t, 30*time.Second, func() (bool, error) {
		if string(e.table("occupancy")["lobby"]) != string(v) {
			return false, errors.New("the occupancy view does not have the count change yet")
		}
		return true, nil
	})
	if got, want := status("STATUS lobby"), line("occupied (4 people)"); !slices.Contains(want, got) {
		e.t.Fatalf("STATUS lobby after a count change: %q, want %q", got, want[0])
	}

	all := strings.Split(status("STATUS"), "\n")
	if len(all) != len(cmdZoneNames) {
		e.t.Fatalf("STATUS: %d lines %q, want one per zone (%d)", len(all), all, len(cmdZoneNames))
	}
	for i, z := range cmdZoneNames {
		if !strings.HasPrefix(all[i], z[1]+": ") {
			e.t.Errorf("STATUS line %d %q, want %s's", i, all[i], z[1])
		}
	}
	if want := line("occupied (4 people)"); !slices.Contains(want, all[1]) {
		e.t.Errorf("STATUS: lobby's line %q, want %q", all[1], want[0])
	}
	if want := "Attic: no data yet"; all[4] != want {
		e.t.Errorf("STATUS: attic's line %q, want %q", all[4], want)
	}
	if got := e.texts(phoneBea); len(got) != 3 {
		e.t.Fatalf("%d texts to %s, want the 3 replies: %q", len(got), phoneBea, bodies(got))
	}
}

// presenceSim writes one zone's events and usage view as presence would.
type presenceSim struct {
	e    *cmdEnv
	zone string
	u    presence.Usage
	n    int
}

// visit is one occupancy of the zone by people, starting now: OCCUPIED,
// then VACATED two seconds later, each after its usage view, as presence
// commits both at once. It returns when rules has processed both.
func (p *presenceSim) visit(people int32) {
	p.e.t.Helper()
	start := time.Now().UTC().Truncate(time.Millisecond)
	end := start.Add(2 * time.Second)
	for _, ev := range []schemas.PresenceEvent{
		{Type: schemas.Occupied, Count: people, Peak: people, WindowStart: start.Add(-time.Second), WindowEnd: start, OccupiedSince: start, EventTime: start},
		{Type: schemas.Vacated, Peak: people, WindowStart: end, WindowEnd: end.Add(time.Second), OccupiedSince: start, Duration: end.Sub(start), EventTime: end},
	} {
		p.n++
		ev.ZoneID, ev.EventID = p.zone, fmt.Sprintf("%s-%d", p.zone, p.n)
		p.u = p.u.Apply(ev)
		p.e.usage(p.u)
		p.e.waitProcessed("rules", p.e.event(ev))
	}
}

// requests are the request_cleaning commands of zone on the bus.
func (e *cmdEnv) requests(zone string) []busCommand {
	return e.commands(func(c schemas.Command) bool {
		return c.CommandType == schemas.CommandRequestCleaning && c.ZoneID == zone
	})
}

// Usage past the policy (2 visits in the test's topology) → one
// request_cleaning → the report to the pantry's cleaner; DONE pantry → the
// cleanings view's cycle 1; one more visit (below the policy again) → no
// request; the next → one request of cycle 2 and a second report.
func testCleaningCycle(e *cmdEnv) {
	sim := &presenceSim{e: e, zone: "pantry"}
	sim.visit(2)
	if rs := e.requests("pantry"); len(rs) != 0 {
		e.t.Fatalf("a request_cleaning after 1 visit, with the policy at 2: %+v", rs[0].cmd)
	}
	sim.visit(3)
	first := e.waitCommand(requestID("pantry", 1))
	if a := first.cmd.RequestCleaning; a == nil || a.Cycle != 1 || a.Visits != 2 || a.Policy != "visits >= 2" {
		e.t.Fatalf("request_cleaning %+v, want cycle 1 for 2 visits (visits >= 2)", first.cmd.RequestCleaning)
	}
	if rs := e.requests("pantry"); len(rs) != 1 {
		e.t.Fatalf("%d request_cleaning of the pantry after the policy was passed, want 1", len(rs))
	}
	report := e.waitSent(first.cmd.Child(schemas.CommandSendSMS, "report "+phoneCal).ID).Body
	for _, want := range []string{"Cleaning needed: Pantry.\n", "Since records began: 2 visits", "peak 3 people", "(visits >= 2)", "Reply DONE Pantry when it is clean."} {
		if !strings.Contains(report, want) {
			e.t.Errorf("report %q lacks %q", report, want)
		}
	}

	done := e.text(phoneCal, "DONE pantry")
	thanks := e.waitSent(replyID(done, "reply")).Body
	if want := "Thanks, Cal: Pantry is marked clean (cleaning 1); its usage counts from zero again."; thanks != want {
		e.t.Errorf("DONE answered %q, want %q", thanks, want)
	}
	var rec cleanings.Record
	if err := rec.UnmarshalBinary(e.waitKey("cleanings", "pantry", true)); err != nil {
		e.t.Fatal(err)
	}
	if rec.Cycle != 1 || rec.By != phoneCal || rec.CommandID != done {
		e.t.Fatalf("cleanings record %+v, want cycle 1 by %s, command %s", rec, phoneCal, done)
	}
	sim.u = sim.u.Cleaned(rec.CleanedAt) // presence resets the usage at the zone's next event

	sim.visit(1)
	if rs := e.requests("pantry"); len(rs) != 1 {
		e.t.Fatalf("%d request_cleaning of the pantry after 1 visit of its second cycle, want only the first cycle's", len(rs))
	}
	sim.visit(1)
	second := e.waitCommand(requestID("pantry", 2))
	if a := second.cmd.RequestCleaning; a == nil || a.Cycle != 2 || a.Visits != 2 {
		e.t.Fatalf("request_cleaning %+v, want cycle 2 for 2 visits", second.cmd.RequestCleaning)
	}
	report2 := e.waitSent(second.cmd.Child(schemas.CommandSendSMS, "report "+phoneCal).ID).Body
	if want := "Since the last cleaning (" + rec.CleanedAt.Format("2 Jan 15:04") + "): 2 visits"; !strings.Contains(report2, want) {
		e.t.Errorf("second report %q lacks %q", report2, want)
	}
	if rs := e.requests("pantry"); len(rs) != 2 {
		e.t.Fatalf("%d request_cleaning of the pantry, want one per cycle (2)", len(rs))
	}
	e.requireTexts(phoneCal, report, thanks, report2)
}

// A forged, a tampered, a missing signature, and one for the URL the
// server sees rather than its public URL: 403 and nothing on the bus. A
// replayed MessageSid: one command, one reply. A stranger: one polite line
// that tells nothing of the building, then silence.
func testWebhookRefusals(e *cmdEnv) {
	token := e.fake.AuthToken()
	var refused []string
	for _, c := range []struct {
		what string
		sign func(f url.Values) string
		edit func(f url.Values)
	}{
		{"forged", func(f url.Values) string { return twiliofake.Sign("n0tth3t0k3n", publicURL, f) }, nil},
		{"tampered", func(f url.Values) string { return twiliofake.Sign(token, publicURL, f) }, func(f url.Values) { f["Body"] = []string{"STATUS"} }},
		{"missing", func(url.Values) string { return "" }, nil},
		{"signed for another URL", func(f url.Values) string {
			return twiliofake.Sign(token, "http://127.0.0.1/twilio/sms", f)
		}, nil},
	} {
		sid := newMessageSid()
		f := e.form(sid, phoneDot, "HELP")
		sig := c.sign(f)
		if c.edit != nil {
			c.edit(f)
		}
		if status := e.post(f, sig); status != http.StatusForbidden {
			e.t.Errorf("%s signature: %d, want 403", c.what, status)
		}
		refused = append(refused, inboundID(sid))
	}

	// The same webhook twice, as Twilio retries it.
	sid := newMessageSid()
	replay := e.form(sid, phoneDot, "HELP subscribe")
	e.postSigned(replay)
	e.postSigned(replay)
	help := e.waitSent(replyID(inboundID(sid), "reply"))
	if !strings.HasPrefix(help.Body, "SUBSCRIBE zone") {
		e.t.Errorf("HELP subscribe answered %q", help.Body)
	}
	e.onBus(inboundID(sid), 1)
	// The refused texts would be keyed by their sender, as the replay is, so
	// on its partition, before it.
	for _, id := range refused {
		e.onBus(id, 0)
		e.onBus(replyID(id, "reply"), 0)
	}
	if cs := e.commands(func(c schemas.Command) bool { return c.Sender == phoneDot }); len(cs) != 1 {
		e.t.Errorf("%d commands from %s on the bus, want the replayed one alone", len(cs), phoneDot)
	}
	e.requireTexts(phoneDot, help.Body)

	// A stranger asks about the kitchen, whose state rules and STATUS know.
	polite := e.waitSent(replyID(e.text(phoneStr, "STATUS kitchen"), "reply")).Body
	low := strings.ToLower(polite)
	for _, z := range cmdZoneNames {
		if strings.Contains(low, z[0]) {
			e.t.Errorf("the reply to a stranger %q names zone %s", polite, z[0])
		}
	}
	// A count would be a number: the digits are checked below.
	for _, w := range []string{"occupied", "free", "vacant", "in use", "clean"} {
		if strings.Contains(low, w) {
			e.t.Errorf("the reply to a stranger %q tells a state (%q)", polite, w)
		}
	}
	if strings.ContainsAny(polite, "0123456789") {
		e.t.Errorf("the reply to a stranger %q has a number in it", polite)
	}
	// Answered once an hour: the connector produces nothing for the second
	// text, before it answers the webhook.
	e.text(phoneStr, "STATUS")
	if cs := e.commands(textsTo(phoneStr)); len(cs) != 1 {
		e.t.Errorf("%d send_sms to the stranger on the bus, want the one polite line", len(cs))
	}
	if cs := e.commands(func(c schemas.Command) bool { return c.Sender == phoneStr }); len(cs) != 0 {
		e.t.Errorf("%d commands from the stranger on the bus, want none: %+v", len(cs), cs[0].cmd)
	}
	e.requireTexts(phoneStr, polite)
}

// STOP: the opt-out confirmation is the last text until START. The
// garage's next VACATED (the phone subscribed to it) texts nothing, nor does
// STATUS, whose reply is on the bus and consumed by sms-out; START: texts
// again. The fake is posted to directly, not through SendInbound, so that it
// does not opt the phone out itself: what keeps the texts back is Corb.
func testStopStart(e *cmdEnv) {
	sub := e.waitSent(replyID(e.text(phoneEve, "SUBSCRIBE garage"), "reply")).Body
	e.waitKey("subscriptions", "garage "+phoneEve, true)

	stop := e.text(phoneEve, "STOP")
	bye := e.waitSent(replyID(stop, "opt-out confirmation")).Body
	if !strings.Contains(bye, "START") {
		e.t.Errorf("STOP confirmed with %q, which does not say how to undo it", bye)
	}
	e.waitKey("opt-outs", phoneEve, true)
	e.waitKey("subscriptions", "garage "+phoneEve, false)

	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := schemas.PresenceEvent{EventID: "garage-vacated-1", ZoneID: "garage", Type: schemas.Vacated, Peak: 1,
		WindowStart: now.Add(-time.Second), WindowEnd: now, OccupiedSince: now.Add(-time.Minute), Duration: 50 * time.Second, EventTime: now}
	e.waitProcessed("rules", e.event(ev))
	e.onBus(notifyID(ev.EventID, phoneEve), 0)

	held := e.waitCommand(replyID(e.text(phoneEve, "STATUS"), "reply"))
	e.waitProcessed("sms-out", held.rec)
	if entry, ok := e.sent(held.cmd.ID); ok {
		e.t.Fatalf("the STATUS reply to an opted-out phone is in the sent log: %+v", entry)
	}
	e.requireTexts(phoneEve, sub, bye)

	hello := e.waitSent(replyID(e.text(phoneEve, "START"), "opt-in confirmation")).Body
	e.waitKey("opt-outs", phoneEve, false)
	status := e.waitSent(replyID(e.text(phoneEve, "STATUS"), "reply")).Body
	if !strings.HasPrefix(status, "Kitchen: ") {
		e.t.Errorf("STATUS after START answered %q", status)
	}
	e.requireTexts(phoneEve, sub, bye, hello, status)
}

// commandSend puts a send_sms on the bus with `corb command send` and
// returns its id.
func (e *cmdEnv) commandSend(to, body string) string {
	e.t.Helper()
	p := startCorb(e.t, "command-send", "command", "send", "--topology", e.topology, "--brokers", e.brokers[0],
		"--sender", "integration", "--arg", "to="+to, "--arg", "body="+body, schemas.CommandSendSMS)
	if err := p.wait(time.Minute); err != nil {
		e.t.Fatal(err)
	}
	lines := strings.Fields(p.log.String())
	if len(lines) == 0 {
		e.t.Fatal("corb command send printed no id")
	}
	return lines[len(lines)-1]
}

// creates are the statuses the fake answered the creates of body with.
func (e *cmdEnv) creates(body string) []int {
	var out []int
	for _, r := range e.fake.Requests() {
		if r.Method == http.MethodPost && r.Form.Get("Body") == body {
			out = append(out, r.Status)
		}
	}
	return out
}

// Twilio answers 500 twice, then 201: one text; 429 with Retry-After 2:
// one text, not sooner; an invalid number (21211): a dead letter with
// Twilio's code, and the next text goes out.
func testTwilioFailures(e *cmdEnv) {
	retried := "corb test: sent after two 500s"
	e.fake.FailNext(twiliofake.Create, 2, twiliofake.ServerError())
	e.waitSent(e.commandSend(phoneFay, retried))
	if got := e.creates(retried); !slices.Equal(got, []int{500, 500, 201}) {
		e.t.Errorf("creates of the retried text answered %v, want [500 500 201]", got)
	}

	// When the 429 and the 201 were answered, watched every 5ms.
	throttled := "corb test: sent after a 429"
	e.fake.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("2"))
	var mu sync.Mutex
	seen := map[int]time.Time{}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			for _, s := range e.creates(throttled) {
				mu.Lock()
				if _, ok := seen[s]; !ok && s != 0 {
					seen[s] = time.Now()
				}
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	e.waitSent(e.commandSend(phoneFay, throttled))
	close(stop)
	<-watched
	if got := e.creates(throttled); !slices.Equal(got, []int{429, 201}) {
		e.t.Errorf("creates of the throttled text answered %v, want [429 201]", got)
	} else if wait := seen[201].Sub(seen[429]); wait < 1900*time.Millisecond {
		e.t.Errorf("retried %v after a 429 with Retry-After: 2", wait)
	}

	invalid := e.commandSend(phoneBad, "corb test: to an invalid number")
	var dead *kgo.Record
	kafkatest.WaitFor(e.t, 60*time.Second, func() (bool, error) {
		if err := e.alive(); err != nil {
			return false, err
		}
		for _, r := range e.read("commands-dlq") {
			var c schemas.Command
			if schemas.Unmarshal(r.Value, &c) == nil && c.ID == invalid {
				dead = r
			}
		}
		if dead == nil {
			return false, fmt.Errorf("no dead letter of send_sms %s", invalid)
		}
		return true, nil
	})
	headers := map[string]string{}
	for _, h := range dead.Headers {
		headers[h.Key] = string(h.Value)
	}
	if !strings.Contains(headers[runtime.HeaderError], "21211") || headers[runtime.HeaderOperator] != "sms-out" {
		e.t.Errorf("dead letter of the invalid number: %s %q, %s %q; want sms-out's, with Twilio's code 21211",
			runtime.HeaderOperator, headers[runtime.HeaderOperator], runtime.HeaderError, headers[runtime.HeaderError])
	}
	if entry, ok := e.sent(invalid); ok && entry.State == "sent" {
		e.t.Errorf("the invalid number's send_sms is sent in the log: %+v", entry)
	}
	after := "corb test: sent after a refusal"
	e.waitSent(e.commandSend(phoneFay, after))
	e.requireTexts(phoneFay, retried, throttled, after)
	if got := e.texts(phoneBad); len(got) != 0 {
		e.t.Errorf("the fake created %d texts to the invalid number", len(got))
	}
}
