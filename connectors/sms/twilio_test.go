package sms_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators"
)

// sleeps records the waits a sender asks for, and waits none of them.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

const backoff = 100 * time.Millisecond

// sender is a Twilio sender on s through the real twilio-go client, with
// recorded sleeps of 100ms doubling, and options after those.
func sender(t *testing.T, s *twiliofake.Server, opts ...sms.Option) (*sms.Twilio, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	opts = append([]sms.Option{
		sms.WithTransport(s.Transport()),
		sms.WithRetry(operators.RetryPolicy{MaxAttempts: 5, InitialBackoff: backoff, MaxBackoff: time.Second, Sleep: sl.sleep}),
		sms.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	tw, err := sms.NewTwilio(sms.TwilioConfig{AccountSid: s.AccountSid(), AuthToken: s.AuthToken(), From: twiliofake.MagicFrom}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tw, sl
}

func creates(s *twiliofake.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost {
			n++
		}
	}
	return n
}

func hi(to string) sms.Message { return sms.Message{To: to, Body: "Kitchen is free again."} }

// 500 twice, then 201: one message at Twilio, its sid, two backoffs.
func TestSendRetriesServerErrors(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.FailNext(twiliofake.Create, 2, twiliofake.ServerError())
	tw, sl := sender(t, s)
	sid, err := tw.Send(context.Background(), hi("+15551230001"))
	if err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].Sid != sid || sent[0].Body != "Kitchen is free again." {
		t.Fatalf("sid %q; the fake has %+v", sid, sent)
	}
	if n := creates(s); n != 3 {
		t.Errorf("%d create requests, want 3", n)
	}
	waits := sl.waits()
	if len(waits) != 2 {
		t.Fatalf("waits %v, want 2", waits)
	}
	for i, w := range waits {
		d := backoff << i // capped exponential, jittered within [d/2, d]
		if w < d/2 || w > d {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, w, d/2, d)
		}
	}
}

func TestSendHonoursRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "2", 2 * time.Second},
		{"HTTP date", now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"shorter than the backoff", "0", -1},
		{"none", "", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := twiliofake.Start(t, twiliofake.Config{})
			s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests(c.retryAfter))
			tw, sl := sender(t, s, sms.WithNow(func() time.Time { return now }))
			if _, err := tw.Send(context.Background(), hi("+15551230001")); err != nil {
				t.Fatal(err)
			}
			waits := sl.waits()
			switch {
			case len(waits) != 1 || len(s.Sent()) != 1:
				t.Fatalf("waits %v, %d sent; want one wait, one message", waits, len(s.Sent()))
			case c.want < 0 && (waits[0] < backoff/2 || waits[0] > backoff):
				t.Errorf("waited %v, want the backoff", waits[0])
			case c.want >= 0 && waits[0] != c.want:
				t.Errorf("waited %v, want Retry-After's %v", waits[0], c.want)
			}
		})
	}
}

// A Retry-After past ctx's deadline ends Send at once rather than sleeping
// into a certain failure.
func TestSendRetryAfterPastDeadline(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("30"))
	tw, sl := sender(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := tw.Send(ctx, hi("+15551230001"))
	var tre *client.TwilioRestError
	if err == nil || !errors.As(err, &tre) || tre.Code != 20429 || len(sl.waits()) != 0 {
		t.Fatalf("error %v, waits %v; want the 429 and no wait", err, sl.waits())
	}
}

func TestSendPermanent(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.RefuseTo("+15557770000", 21612)
	s.OptOut("+15557770001")
	cases := []struct {
		name string
		m    sms.Message
		code int
	}{
		{"invalid To", hi("+15005550001"), 21211},
		{"unroutable To", hi("+15005550002"), 21612},
		{"opted out (magic)", hi("+15005550004"), 21610},
		{"opted out (STOP)", hi("+15557770001"), 21610},
		{"not SMS-capable", hi("+15005550009"), 21614},
		{"region", hi("+15005550003"), 21408},
		{"From not ours", sms.Message{To: "+15551230001", Body: "x", From: "+15559999999"}, 21606},
		{"refused", hi("+15557770000"), 21612},
		{"validity over 10h, a 4xx not in the list", sms.Message{To: "+15551230001", Body: "x", ValidityPeriod: 11 * time.Hour}, 90007},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tw, sl := sender(t, s)
			before := creates(s)
			_, err := tw.Send(context.Background(), c.m)
			var perm *sms.PermanentError
			if !errors.As(err, &perm) || perm.Code != c.code || perm.Status != 400 {
				t.Fatalf("error %v, want a PermanentError with code %d", err, c.code)
			}
			var tre *client.TwilioRestError
			if !errors.As(err, &tre) || tre.Code != c.code {
				t.Errorf("the TwilioRestError is not reachable through %v", err)
			}
			if !operators.IsPermanent(err) {
				t.Error("the operator runtime would retry it")
			}
			if n := creates(s) - before; n != 1 || len(sl.waits()) != 0 {
				t.Errorf("%d requests, waits %v: a permanent error was retried", n, sl.waits())
			}
		})
	}
	if n := len(s.Sent()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

// What Twilio would refuse of any message is refused without a request.
func TestSendRefusesLocally(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	tw, _ := sender(t, s)
	cases := []struct {
		m    sms.Message
		code int
	}{
		{sms.Message{Body: "x"}, 21604},
		{sms.Message{To: "+15551230001", Body: " \n"}, 21602},
		{sms.Message{To: "+15551230001", Body: strings.Repeat("😀", 801)}, 21617},
	}
	for _, c := range cases {
		_, err := tw.Send(context.Background(), c.m)
		var perm *sms.PermanentError
		if !errors.As(err, &perm) || perm.Code != c.code || !errors.Is(err, sms.ErrInvalidMessage) {
			t.Errorf("%+v: %v, want code %d", c.m, err, c.code)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests reached Twilio", n)
	}
}

func TestSendTransient(t *testing.T) {
	cases := []struct {
		name  string
		fault twiliofake.Fault
	}{
		{"HTML 503", twiliofake.Unavailable()},
		{"500", twiliofake.ServerError()},
		{"429", twiliofake.TooManyRequests("1")},
		{"queue full", twiliofake.Fault{Status: 400, Code: 21611, Message: "queue full"}},
		{"connection dropped before Twilio acted", twiliofake.Fault{Drop: true}},
	}
	for _, c := range cases {
		t.Run(c.name+" then 201", func(t *testing.T) {
			s := twiliofake.Start(t, twiliofake.Config{})
			s.FailNext(twiliofake.Create, 1, c.fault)
			tw, sl := sender(t, s)
			sid, err := tw.Send(context.Background(), hi("+15551230001"))
			if err != nil || len(s.Sent()) != 1 || s.Sent()[0].Sid != sid || len(sl.waits()) != 1 {
				t.Fatalf("sid %q, err %v, %d sent, waits %v; want one retry, one message", sid, err, len(s.Sent()), sl.waits())
			}
		})
		t.Run(c.name+" until the attempts end", func(t *testing.T) {
			s := twiliofake.Start(t, twiliofake.Config{})
			s.FailNext(twiliofake.Create, 5, c.fault)
			tw, sl := sender(t, s)
			_, err := tw.Send(context.Background(), hi("+15551230001"))
			var perm *sms.PermanentError
			if err == nil || errors.As(err, &perm) || operators.IsPermanent(err) || !strings.Contains(err.Error(), "after 5 attempts") {
				t.Fatalf("error %v, want a transient error after 5 attempts", err)
			}
			if creates(s) != 5 || len(sl.waits()) != 4 || len(s.Sent()) != 0 {
				t.Errorf("%d requests, %d waits, %d sent", creates(s), len(sl.waits()), len(s.Sent()))
			}
		})
	}
}

// Twilio created the message and its answer was lost: Send finds it rather
// than sending it again.
func TestSendLostAnswer(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.FailNext(twiliofake.Create, 1, twiliofake.LostAnswer())
	tw, _ := sender(t, s)
	sid, err := tw.Send(context.Background(), hi("+15551230001"))
	if err != nil {
		t.Fatal(err)
	}
	if sent := s.Sent(); len(sent) != 1 || sent[0].Sid != sid || creates(s) != 1 {
		t.Fatalf("sid %q; %d creates, sent %+v", sid, creates(s), sent)
	}
}

// When it cannot find out, Send says so and does not send again.
func TestSendLostAnswerUnknown(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.FailNext(twiliofake.Create, 1, twiliofake.LostAnswer())
	s.FailNext(twiliofake.List, 100, twiliofake.ServerError())
	tw, _ := sender(t, s)
	_, err := tw.Send(context.Background(), hi("+15551230001"))
	var perm *sms.PermanentError
	if !errors.Is(err, sms.ErrOutcomeUnknown) || errors.As(err, &perm) {
		t.Fatalf("error %v, want a transient ErrOutcomeUnknown", err)
	}
	if creates(s) != 1 || len(s.Sent()) != 1 {
		t.Errorf("%d creates: sent again without knowing", creates(s))
	}
}

// twilio-go takes no context; Send's still ends a request in flight.
func TestSendCancelsInFlight(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	started := make(chan struct{})
	hang := roundTripper(func(req *http.Request) (*http.Response, error) {
		close(started)
		<-req.Context().Done()
		return nil, req.Context().Err()
	})
	tw, sl := sender(t, s, sms.WithTransport(hang))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	done := make(chan error, 1)
	go func() { _, err := tw.Send(ctx, hi("+15551230001")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || len(sl.waits()) != 0 {
			t.Fatalf("error %v, waits %v; want context.Canceled, no retry", err, sl.waits())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context ended")
	}
}

// Each try is bounded by the attempt timeout, then retried.
func TestSendAttemptTimeout(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	var mu sync.Mutex
	tries := 0
	slowOnce := roundTripper(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		tries++
		first := tries == 1
		mu.Unlock()
		if first {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
		return s.Transport().RoundTrip(req)
	})
	tw, _ := sender(t, s, sms.WithTransport(slowOnce), sms.WithAttemptTimeout(50*time.Millisecond))
	if _, err := tw.Send(context.Background(), hi("+15551230001")); err != nil || len(s.Sent()) != 1 || tries != 2 {
		t.Fatalf("err %v, %d sent, %d tries", err, len(s.Sent()), tries)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendParameters(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{Numbers: []string{"+15551119999"}})
	tw, _ := sender(t, s)
	m := sms.Message{To: "+15551230001", Body: "x", From: "+15551119999",
		StatusCallback: "https://corb.example.com/sms/status", ValidityPeriod: 10 * time.Minute}
	if _, err := tw.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	service := sms.Message{To: "+15551230001", Body: "y", MessagingServiceSid: "MG00000000000000000000000000000001"}
	if _, err := tw.Send(context.Background(), service); err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[0].From != m.From || sent[0].StatusCallback != m.StatusCallback || sent[0].ValidityPeriod != 600 ||
		sent[1].MessagingServiceSid != service.MessagingServiceSid {
		t.Errorf("the fake received %+v", sent)
	}
}

func TestFindSent(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{Hold: true})
	tw, _ := sender(t, s)
	ctx := context.Background()
	since := time.Now()
	m := hi("+15551230001")
	sid, err := tw.Send(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	viaService := sms.Message{To: "+15551230001", Body: "via a service", MessagingServiceSid: "MG00000000000000000000000000000001"}
	serviceSid, err := tw.Send(ctx, viaService)
	if err != nil {
		t.Fatal(err)
	}
	find := func(m sms.Message, since time.Time) (string, bool) {
		t.Helper()
		got, ok, err := tw.FindSent(ctx, m, since)
		if err != nil {
			t.Fatal(err)
		}
		return got.Sid, ok
	}
	check := func(when string) {
		t.Helper()
		if got, ok := find(m, since); !ok || got != sid {
			t.Errorf("%s: FindSent of the sent message: %q, %v; want %q", when, got, ok, sid)
		}
		if got, ok := find(viaService, since); !ok || got != serviceSid {
			t.Errorf("%s: FindSent through the service: %q, %v; want %q", when, got, ok, serviceSid)
		}
		unsent := []sms.Message{
			{To: m.To, Body: "another body"},
			{To: "+15551230002", Body: m.Body},
			{To: m.To, Body: m.Body, From: "+15551119999"},
			{To: m.To, Body: viaService.Body, MessagingServiceSid: "MG00000000000000000000000000000002"},
		}
		for _, u := range unsent {
			if got, ok := find(u, since); ok {
				t.Errorf("%s: FindSent(%+v) found %q", when, u, got)
			}
		}
		if got, ok := find(m, time.Now().Add(time.Minute)); ok {
			t.Errorf("%s: FindSent since after the send found %q", when, got)
		}
	}
	check("queued, not sent yet") // no date_sent: only the unfiltered page finds it
	s.Flush()
	check("delivered")
}

// FindSent allows for Twilio's clock being behind, and its whole seconds.
func TestFindSentClockSkew(t *testing.T) {
	twilioNow := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := twiliofake.Start(t, twiliofake.Config{Now: func() time.Time { return twilioNow }})
	tw, _ := sender(t, s, sms.WithClockSkew(5*time.Second))
	m := hi("+15551230001")
	if _, err := tw.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	for _, c := range []struct {
		since time.Time
		found bool
	}{
		{twilioNow.Add(-time.Hour), true},
		{twilioNow.Add(999 * time.Millisecond), true},
		{twilioNow.Add(5 * time.Second), true},
		{twilioNow.Add(6 * time.Second), false},
	} {
		if _, ok, err := tw.FindSent(context.Background(), m, c.since); err != nil || ok != c.found {
			t.Errorf("since Twilio's time %+v: found %v, %v; want %v", c.since.Sub(twilioNow), ok, err, c.found)
		}
	}
}

func TestFindSentRetriesAndFails(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	tw, sl := sender(t, s)
	s.FailNext(twiliofake.List, 1, twiliofake.Unavailable())
	if _, _, err := tw.FindSent(context.Background(), hi("+15551230001"), time.Now()); err != nil || len(sl.waits()) != 1 {
		t.Errorf("one 503: %v, waits %v; want a retry", err, sl.waits())
	}
	s.FailNext(twiliofake.List, 10, twiliofake.ServerError())
	if _, ok, err := tw.FindSent(context.Background(), hi("+15551230001"), time.Now()); err == nil || ok {
		t.Errorf("Twilio down: %v, %v; want an error", ok, err)
	}
}

func TestNewTwilioFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		name    string
		getenv  func(string) string
		wantErr []string
	}{
		{"from a number", env("TWILIO_ACCOUNT_SID", "AC1", "TWILIO_AUTH_TOKEN", "t0k", "TWILIO_FROM", "+15005550006"), nil},
		{"from a service", env("TWILIO_ACCOUNT_SID", "AC1", "TWILIO_AUTH_TOKEN", "t0k", "TWILIO_MESSAGING_SERVICE_SID", "MG1"), nil},
		{"nothing", env(), []string{"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"}},
		{"token with symbols", env("TWILIO_ACCOUNT_SID", "AC1", "TWILIO_AUTH_TOKEN", "t0k-en!", "TWILIO_FROM", "+1"), []string{"TWILIO_AUTH_TOKEN"}},
	}
	for _, c := range cases {
		_, err := sms.NewTwilioFromEnv(c.getenv)
		if (err != nil) != (len(c.wantErr) > 0) {
			t.Errorf("%s: error %v", c.name, err)
		}
		for _, w := range c.wantErr {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v does not name %s", c.name, err, w)
			}
		}
	}
}

func TestNewTwilioFromEnvSends(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	vars := map[string]string{"TWILIO_ACCOUNT_SID": s.AccountSid(), "TWILIO_AUTH_TOKEN": s.AuthToken(), "TWILIO_FROM": twiliofake.MagicFrom}
	tw, err := sms.NewTwilioFromEnv(func(k string) string { return vars[k] }, sms.WithTransport(s.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Send(context.Background(), hi("+15551230001")); err != nil || len(s.Sent()) != 1 {
		t.Fatalf("%v, %d sent", err, len(s.Sent()))
	}
}

func TestConsole(t *testing.T) {
	var b strings.Builder
	c := sms.NewConsole(&b)
	sid, err := c.Send(context.Background(), sms.Message{To: "+15551230001", Body: "Kitchen is free."})
	if err != nil || !strings.HasPrefix(sid, "SM") || len(sid) != 34 {
		t.Fatalf("sid %q, %v", sid, err)
	}
	if got, want := b.String(), "→ +15551230001 : Kitchen is free.\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	var perm *sms.PermanentError
	if _, err := c.Send(context.Background(), sms.Message{Body: "x"}); !errors.As(err, &perm) || perm.Code != 21604 {
		t.Errorf("no To: %v", err)
	}
	if _, ok, err := c.FindSent(context.Background(), sms.Message{To: "+15551230001", Body: "Kitchen is free."}, time.Time{}); ok || err != nil {
		t.Errorf("FindSent = %v, %v", ok, err)
	}
	if _, err := sms.NewConsole(failingWriter{}).Send(context.Background(), hi("+1555")); err == nil || errors.As(err, &perm) {
		t.Errorf("a failing writer: %v, want a transient error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// Both senders are Senders.
var _ = []sms.Sender{(*sms.Twilio)(nil), (*sms.Console)(nil)}
