package smsout_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/commands"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/schemas"
)

// Phones of the tests: any valid number but Twilio's magic ones is sent.
const (
	alice   = "+15551230001"
	bob     = "+15551230002"
	invalid = "+15005550001" // Twilio's test number for 21211
)

// env is the sms operator's world in a test: a kfake cluster with the
// topics of deploy/topology.yaml's sms-out, and a fake of Twilio's API that
// the real twilio-go client talks to.
type env struct {
	t     *testing.T
	tt    *runtimetest.Tester
	fake  *twiliofake.Server
	waits chan time.Duration // what the sender's retries waited (they wait for nothing)
	reg   *prometheus.Registry
	drops *drops
	n     int // commands made
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake, err := twiliofake.NewServer(twiliofake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	return &env{
		t:     t,
		tt:    runtimetest.New(t, runtimetest.Topics(3, "commands", "sms-sent"), runtimetest.Topics(1, "opt-outs", "commands-dlq")),
		fake:  fake,
		waits: make(chan time.Duration, 100),
		reg:   prometheus.NewRegistry(),
		drops: &drops{reasons: map[string]int{}},
	}
}

// sender is a Twilio sender on the fake whose retries wait for nothing
// (the waits asked for are in e.waits).
func (e *env) sender(maxAttempts int) *sms.Twilio {
	e.t.Helper()
	tw, err := sms.NewTwilio(sms.TwilioConfig{AccountSid: e.fake.AccountSid(), AuthToken: e.fake.AuthToken(), From: twiliofake.MagicFrom},
		sms.WithTransport(e.fake.Transport()),
		sms.WithRetry(operators.RetryPolicy{MaxAttempts: maxAttempts, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Sleep: func(ctx context.Context, d time.Duration) error {
			e.waits <- d
			return ctx.Err()
		}}),
		sms.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		e.t.Fatal(err)
	}
	return tw
}

// operator is the sms operator on the fake, as the kind builds it.
func (e *env) operator(s sms.Sender) *smsout.Operator {
	e.t.Helper()
	cfg := smsout.DefaultConfig()
	cfg.Rate = 1000
	if s == nil {
		s = e.sender(cfg.MaxAttempts)
	}
	op, err := smsout.New(cfg, smsout.Options{Name: "sms-out", State: "sms-sent", OptOuts: "opt-outs", Sender: s,
		Registry: e.reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	return op
}

// run runs op as deploy/topology.yaml's sms-out.
func (e *env) run(op operators.Operator) *runtimetest.Instance {
	return e.tt.Run(runtimetest.Operator{
		Name: "sms-out", Inputs: []string{"commands"}, State: []string{"sms-sent"}, Tables: []string{"opt-outs"},
		DeadLetter: "commands-dlq", Operator: op,
		Config: func(c *runtime.Config) { c.Hooks = e.drops },
	})
}

// command is a new send_sms command (a new id each call) for purpose.
func (e *env) command(to, body, purpose string) *schemas.Command {
	e.n++
	c := schemas.NewCommand(schemas.CommandSendSMS, schemas.Cause{Kind: schemas.CauseCLI, ID: fmt.Sprint("test-", e.n), Purpose: purpose})
	c.Channel, c.Sender, c.IssuedAt = "test", "test", time.Now()
	c.SendSMS = &schemas.SendSMSArgs{To: to, Body: body}
	return c
}

// produce puts commands on the bus, keyed as the bus keys them (a
// send_sms by its id).
func (e *env) produce(cmds ...*schemas.Command) {
	e.t.Helper()
	for _, c := range cmds {
		e.tt.ProduceAvro("commands", c.Key(), c)
	}
}

// sent is the fake's outbound messages by body.
func (e *env) sent() map[string][]twiliofake.Message {
	m := map[string][]twiliofake.Message{}
	for _, msg := range e.fake.Sent() {
		m[msg.Body] = append(m[msg.Body], msg)
	}
	return m
}

// expectSent requires the fake to hold exactly one message of each command
// and nothing else, to the command's recipient, and the sent log to say
// each was sent with its sid. The bodies of a test tell its texts apart.
func (e *env) expectSent(cmds ...*schemas.Command) {
	e.t.Helper()
	got := e.sent()
	if n := len(e.fake.Sent()); n != len(cmds) {
		e.t.Errorf("the fake holds %d messages, want %d", n, len(cmds))
	}
	state := e.tt.State("sms-sent")
	for _, c := range cmds {
		msgs := got[c.SendSMS.Body]
		if len(msgs) != 1 || msgs[0].To != c.SendSMS.To {
			e.t.Errorf("command %s: %d messages at the fake (%+v), want one to %s", c.ID, len(msgs), msgs, c.SendSMS.To)
			continue
		}
		var entry smsout.Entry
		if err := json.Unmarshal(state[c.ID], &entry); err != nil {
			e.t.Errorf("sent log of %s: %v (%q)", c.ID, err, state[c.ID])
			continue
		}
		if entry.State != smsout.StateSent || entry.Sid != msgs[0].Sid || entry.ID != c.ID || entry.To != c.SendSMS.To {
			e.t.Errorf("sent log of %s = %+v, want sent with sid %s", c.ID, entry, msgs[0].Sid)
		}
	}
}

// counter is the value of the counter name{label=value}; 0 when there is none.
func (e *env) counter(name, label, value string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == name && l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// drops counts the records the runtime reports dropped, by reason.
type drops struct {
	runtime.NopHooks
	mu      sync.Mutex
	reasons map[string]int
}

func (d *drops) Dropped(_ runtime.Member, x runtime.Drop) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons[x.Reason]++
}

func (d *drops) count(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reasons[reason]
}

func TestOneSendSMSIsOneText(t *testing.T) {
	e := newEnv(t)
	c := e.command(alice, "Kitchen is free again.", "notify "+alice)
	e.produce(c)
	e.run(e.operator(nil)).WaitConsumed()
	e.expectSent(c)
	if got := e.counter("corb_sms_sent_total", "operator", "sms-out"); got != 1 {
		t.Errorf("corb_sms_sent_total = %v, want 1", got)
	}
	// The sent log: the journaled attempt, then the batch's sent.
	var states []string
	for _, r := range e.tt.Records("sms-sent") {
		var entry smsout.Entry
		if err := json.Unmarshal(r.Value, &entry); err != nil || string(r.Key) != c.ID {
			t.Fatalf("sent log record %s=%s: %v", r.Key, r.Value, err)
		}
		if sum := sha256.Sum256([]byte(c.SendSMS.Body)); entry.BodySHA256 != hex.EncodeToString(sum[:]) || entry.To != alice || entry.At.IsZero() {
			t.Errorf("sent log entry %+v: want the body's SHA-256, the recipient and a time", entry)
		}
		states = append(states, entry.State)
	}
	if got := strings.Join(states, " "); got != "attempt sent" {
		t.Errorf("sent log holds %q, want %q", got, "attempt sent")
	}
}

// The same command twice, in one batch and after a restart that restores
// the sent log, is one text.
func TestTheSameCommandTwiceIsOneText(t *testing.T) {
	e := newEnv(t)
	c := e.command(alice, "Kitchen is free again.", "notify "+alice)
	e.produce(c, c)
	in := e.run(e.operator(nil))
	in.WaitConsumed()
	e.expectSent(c)

	in = in.Restart(e.operator(nil))
	e.produce(c)
	in.WaitConsumed()
	e.expectSent(c)
	if got := e.drops.count(smsout.DroppedDuplicate); got != 2 {
		t.Errorf("%d records dropped as duplicates, want 2", got)
	}
}

// Twilio's failures: what is retried is sent once, what is refused or
// keeps failing is dead-lettered with why, and the next command goes out.
func TestTwilioFailures(t *testing.T) {
	tests := []struct {
		name     string
		fault    func(*twiliofake.Server)
		to       string
		sent     bool     // the first command is sent
		reason   string   // its dead letter's reason; "" for none
		contains []string // its dead letter's error has these
		creates  int      // requests to create a message for it
		waits    int      // backoffs of the sender's retries
		minWait  time.Duration
		failed   string // the corb_sms_failed_total code counted once
	}{
		{name: "500 twice, then 201", to: alice, sent: true, creates: 3, waits: 2,
			fault: func(s *twiliofake.Server) { s.FailNext(twiliofake.Create, 2, twiliofake.ServerError()) }},
		{name: "429 with Retry-After", to: alice, sent: true, creates: 2, waits: 1, minWait: 7 * time.Second,
			fault: func(s *twiliofake.Server) { s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("7")) }},
		{name: "an HTML 503", to: alice, sent: true, creates: 2, waits: 1,
			fault: func(s *twiliofake.Server) { s.FailNext(twiliofake.Create, 1, twiliofake.Unavailable()) }},
		{name: "the answer lost after Twilio created it", to: alice, sent: true, creates: 1, waits: 1,
			fault: func(s *twiliofake.Server) { s.FailNext(twiliofake.Create, 1, twiliofake.LostAnswer()) }},
		{name: "invalid number", to: invalid, reason: "permanent", creates: 1, failed: "21211",
			contains: []string{"21211", "invalid To number"}},
		{name: "refused: opted out at Twilio", to: bob, reason: "permanent", creates: 1, failed: "21610",
			fault:    func(s *twiliofake.Server) { s.OptOut(bob) },
			contains: []string{"21610"}},
		{name: "500 until the attempts run out", to: alice, reason: "exhausted", creates: 5, waits: 4, failed: "exhausted",
			fault:    func(s *twiliofake.Server) { s.FailNext(twiliofake.Create, 5, twiliofake.ServerError()) },
			contains: []string{"giving up after 5 attempts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.fault != nil {
				tc.fault(e.fake)
			}
			first := e.command(tc.to, "first", "reply")
			e.produce(first)
			in := e.run(e.operator(nil))
			in.WaitConsumed()
			creates := 0
			for _, r := range e.fake.Requests() {
				if r.Method == http.MethodPost {
					creates++
				}
			}
			if creates != tc.creates {
				t.Errorf("%d create requests, want %d", creates, tc.creates)
			}
			next := e.command(alice, "next", "reply")
			e.produce(next)
			in.WaitConsumed()
			if tc.sent {
				e.expectSent(first, next)
			} else {
				e.expectSent(next)
			}
			dead := e.tt.DeadLetters("commands-dlq", map[bool]int{true: 1}[tc.reason != ""])
			if tc.reason != "" {
				dl := dead[0]
				if string(dl.Key) != first.ID || dl.Reason != tc.reason || dl.Operator != "sms-out" {
					t.Errorf("dead letter %s: reason %q by %q, want %s, %q by sms-out", dl.Key, dl.Reason, dl.Operator, first.ID, tc.reason)
				}
				for _, s := range tc.contains {
					if !strings.Contains(dl.Error, s) {
						t.Errorf("dead letter error %q lacks %q", dl.Error, s)
					}
				}
			}
			if tc.failed != "" {
				if got := e.counter("corb_sms_failed_total", "code", tc.failed); got != 1 {
					t.Errorf("corb_sms_failed_total{code=%q} = %v, want 1", tc.failed, got)
				}
			}
			if len(e.waits) != tc.waits {
				t.Errorf("the sender backed off %d times, want %d", len(e.waits), tc.waits)
			}
			if tc.minWait > 0 {
				if d := <-e.waits; d < tc.minWait {
					t.Errorf("the sender waited %v, want at least %v (Retry-After)", d, tc.minWait)
				}
			}
		})
	}
}

// crashing fails its first batch after the operator has done its work: the
// texts are out (or not), and their results are never committed, as when
// the instance dies between sending and committing.
type crashing struct {
	*smsout.Operator
	crashed atomic.Bool
}

func (c *crashing) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	res, err := c.Operator.Process(ctx, batch)
	if c.crashed.CompareAndSwap(false, true) {
		return nil, errors.New("crash before the commit")
	}
	return res, err
}

// lostFirst loses its first Send before it reaches Twilio.
type lostFirst struct {
	sms.Sender
	lost atomic.Bool
}

func (l *lostFirst) Send(ctx context.Context, m sms.Message) (string, error) {
	if l.lost.CompareAndSwap(false, true) {
		return "", errors.New("crashed before the request")
	}
	return l.Sender.Send(ctx, m)
}

// An attempt journaled and then left without a result, because the batch
// aborted, is reconciled against Twilio's list when it comes again: found,
// it is recorded as sent and not sent again; not found, it is sent.
func TestAnAttemptWithoutResultIsReconciled(t *testing.T) {
	tests := []struct {
		name    string
		lost    bool   // the first send never reached Twilio
		outcome string // corb_sms_reconciled_total's
		creates int
	}{
		{name: "Twilio accepted it, then the batch aborted", outcome: "found", creates: 1},
		{name: "journaled, then lost before Twilio", lost: true, outcome: "not_found", creates: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var s sms.Sender = e.sender(5)
			if tc.lost {
				s = &lostFirst{Sender: s}
			}
			c := e.command(alice, "Kitchen is free again.", "notify "+alice)
			e.produce(c)
			e.run(&crashing{Operator: e.operator(s)}).WaitConsumed()
			e.expectSent(c)
			creates, lists := 0, 0
			for _, r := range e.fake.Requests() {
				switch r.Method {
				case http.MethodPost:
					creates++
				case http.MethodGet:
					lists++
				}
			}
			if creates != tc.creates || lists == 0 {
				t.Errorf("%d creates and %d lists at the fake, want %d creates and a reconciliation", creates, lists, tc.creates)
			}
			if got := e.counter("corb_sms_reconciled_total", "outcome", tc.outcome); got != 1 {
				t.Errorf("corb_sms_reconciled_total{outcome=%q} = %v, want 1", tc.outcome, got)
			}
		})
	}
}

// An opted-out phone gets nothing but the confirmations of its opt-out and
// opt-in.
func TestOptedOutPhoneIsDropped(t *testing.T) {
	e := newEnv(t)
	e.tt.Produce("opt-outs", bob, []byte(`{"phone":"`+bob+`","at":"2026-01-02T03:04:05Z"}`))
	notify := e.command(bob, "Kitchen is free again.", "notify "+bob)
	confirm := e.command(bob, "You will get no more texts from Corb. Reply START to undo.", smsout.PurposeOptOutConfirmation)
	// Written with the tombstone that lifts the opt-out: the table may
	// not have it yet.
	welcome := e.command(bob, "Welcome back to Corb.", smsout.PurposeOptInConfirmation)
	other := e.command(alice, "Lobby is free again.", "notify "+alice)
	e.produce(notify, confirm, welcome, other)
	e.run(e.operator(nil)).WaitConsumed()
	e.expectSent(confirm, welcome, other)
	if got := e.drops.count(smsout.DroppedOptedOut); got != 1 {
		t.Errorf("%d records dropped as opted out, want 1", got)
	}
	if _, ok := e.tt.State("sms-sent")[notify.ID]; ok {
		t.Errorf("the dropped command has a sent log entry")
	}
}

// A body is sent whole, as one message Twilio splits into segments; what
// no message may carry is dead-lettered before anything is journaled.
func TestBodies(t *testing.T) {
	e := newEnv(t)
	long := e.command(alice, strings.Repeat("The kitchen was used 14 times today. ", 11), "report "+alice) // 407 GSM-7 characters
	tooLong := e.command(alice, strings.Repeat("x", sms.MaxBody+1), "reply")
	blank := e.command(alice, "  ", "reply")
	e.produce(long, tooLong, blank)
	e.run(e.operator(nil)).WaitConsumed()
	e.expectSent(long)
	if msg := e.sent()[long.SendSMS.Body]; len(msg) == 1 && msg[0].NumSegments != 3 {
		t.Errorf("the long body went out in %d segments, want 3", msg[0].NumSegments)
	}
	dead := e.tt.DeadLetters("commands-dlq", 2)
	for _, dl := range dead {
		if dl.Reason != "permanent" {
			t.Errorf("dead letter %s: reason %q, want permanent", dl.Key, dl.Reason)
		}
	}
	state := e.tt.State("sms-sent")
	for _, c := range []*schemas.Command{tooLong, blank} {
		if _, ok := state[c.ID]; ok {
			t.Errorf("%s was journaled though no message can carry its body", c.ID)
		}
	}
}

// What is not a send_sms for this operator: another command type is
// dropped; a send_sms keyed other than by its id, or not Avro, is
// dead-lettered.
func TestRecordsThatAreNotItsSends(t *testing.T) {
	e := newEnv(t)
	status := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseCLI, ID: "status-1"})
	status.Channel, status.Sender, status.IssuedAt = "test", "test", time.Now()
	e.tt.ProduceAvro("commands", status.ID, status)
	misKeyed := e.command(alice, "keyed by phone", "reply")
	e.tt.ProduceAvro("commands", alice, misKeyed)
	e.tt.Produce("commands", "junk", []byte("not avro"))
	e.run(e.operator(nil)).WaitConsumed()
	if n := len(e.fake.Sent()); n != 0 {
		t.Errorf("%d messages sent, want none", n)
	}
	if got := e.drops.count(smsout.DroppedNotSMS); got != 1 {
		t.Errorf("%d records dropped as not send_sms, want 1", got)
	}
	for _, dl := range e.tt.DeadLetters("commands-dlq", 2) {
		if string(dl.Key) == alice && !strings.Contains(dl.Error, "its key must be its command id") {
			t.Errorf("mis-keyed send_sms dead-lettered with %q", dl.Error)
		}
	}
}

// The purposes an opted-out phone still gets texts of are those the
// commands kind gives them.
func TestPurposesAreThoseOfTheCommandsKind(t *testing.T) {
	if smsout.PurposeOptOutConfirmation != commands.PurposeOptOutConfirmation ||
		smsout.PurposeOptInConfirmation != commands.PurposeOptInConfirmation {
		t.Fatalf("smsout exempts %q and %q from opt-outs, the commands kind writes %q and %q",
			smsout.PurposeOptOutConfirmation, smsout.PurposeOptInConfirmation,
			commands.PurposeOptOutConfirmation, commands.PurposeOptInConfirmation)
	}
}
