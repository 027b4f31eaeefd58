package twiliofake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
)

// api is twilio-go's Messages API pointed at the fake with the given token.
func api(s *twiliofake.Server, token string) *openapi.ApiService {
	c := &client.Client{Credentials: client.NewCredentials(s.AccountSid(), token), HTTPClient: s.Client()}
	c.SetAccountSid(s.AccountSid())
	return openapi.NewApiServiceWithClient(c)
}

func send(to, body string) *openapi.CreateMessageParams {
	return (&openapi.CreateMessageParams{}).SetTo(to).SetFrom(twiliofake.MagicFrom).SetBody(body)
}

func restError(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var tre *client.TwilioRestError
	if !errors.As(err, &tre) {
		t.Fatalf("error %v (%T) is not a *client.TwilioRestError", err, err)
	}
	return tre
}

func TestCreateFetchList(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{Hold: true})
	a := api(s, s.AuthToken())
	body := strings.Repeat("x", 161) // two segments
	m, err := a.CreateMessage(send("+15551230001", body).SetValidityPeriod(600))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*m.Sid, "SM") || len(*m.Sid) != 34 {
		t.Errorf("sid %q: want SM + 32 hex", *m.Sid)
	}
	if *m.Status != "queued" || m.DateSent != nil || *m.NumSegments != "2" || *m.Direction != "outbound-api" ||
		*m.From != twiliofake.MagicFrom || *m.To != "+15551230001" || *m.Body != body || *m.AccountSid != s.AccountSid() {
		t.Errorf("created message decodes as %+v", m)
	}
	if _, err := time.Parse(time.RFC1123Z, *m.DateCreated); err != nil {
		t.Errorf("date_created: %v", err)
	}
	got, err := a.FetchMessage(*m.Sid, nil)
	if err != nil || *got.Sid != *m.Sid || *got.Body != body {
		t.Fatalf("FetchMessage = %+v, %v", got, err)
	}
	if _, err := a.FetchMessage("SMnope", nil); restError(t, err).Code != 20404 {
		t.Errorf("fetch of an unknown sid: %v, want 20404", err)
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].Sid != *m.Sid || sent[0].ValidityPeriod != 600 {
		t.Errorf("Sent() = %+v", sent)
	}
	list, err := a.ListMessage((&openapi.ListMessageParams{}).SetTo("+15551230001"))
	if err != nil || len(list) != 1 || *list[0].Sid != *m.Sid {
		t.Fatalf("ListMessage = %v, %v", list, err)
	}
	if list, _ := a.ListMessage((&openapi.ListMessageParams{}).SetTo("+15551230002")); len(list) != 0 {
		t.Errorf("To filter: listed %d messages of another recipient", len(list))
	}
}

// ListMessage follows next_page_uri through every page, newest first, each
// message once, and Limit stops it.
func TestListPaging(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{Hold: true})
	a := api(s, s.AuthToken())
	var sids []string
	for i := range 7 {
		m, err := a.CreateMessage(send("+15551230001", fmt.Sprint("message ", i)))
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, *m.Sid)
	}
	slices.Reverse(sids)
	list, err := a.ListMessage((&openapi.ListMessageParams{}).SetPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, *m.Sid)
	}
	if !slices.Equal(got, sids) {
		t.Errorf("listed %v, want newest first %v", got, sids)
	}
	gets := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet {
			gets++
		}
	}
	if gets != 3 {
		t.Errorf("%d list requests for 7 messages in pages of 3, want 3", gets)
	}
	limited, err := a.ListMessage((&openapi.ListMessageParams{}).SetLimit(4))
	if err != nil || len(limited) != 4 {
		t.Errorf("Limit 4: %d messages, %v", len(limited), err)
	}
}

// DateSent filters by UTC day, and passes over messages not sent yet.
func TestListDateSent(t *testing.T) {
	now := time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC)
	var mu sync.Mutex
	s := twiliofake.Start(t, twiliofake.Config{Hold: true, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	a := api(s, s.AuthToken())
	if _, err := a.CreateMessage(send("+15551230001", "day 10")); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	mu.Lock()
	now = now.Add(2 * time.Minute) // the 11th
	mu.Unlock()
	if _, err := a.CreateMessage(send("+15551230001", "day 11")); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	if _, err := a.CreateMessage(send("+15551230001", "held")); err != nil {
		t.Fatal(err)
	}
	day11 := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	bodies := func(p *openapi.ListMessageParams) []string {
		list, err := a.ListMessage(p)
		if err != nil {
			t.Fatal(err)
		}
		var b []string
		for _, m := range list {
			b = append(b, *m.Body)
		}
		return b
	}
	cases := []struct {
		name string
		p    *openapi.ListMessageParams
		want []string
	}{
		{"none", &openapi.ListMessageParams{}, []string{"held", "day 11", "day 10"}},
		{"on or after the 11th", (&openapi.ListMessageParams{}).SetDateSentAfter(day11.Add(5 * time.Hour)), []string{"day 11"}},
		{"on or before the 10th", (&openapi.ListMessageParams{}).SetDateSentBefore(day11.Add(-time.Hour)), []string{"day 10"}},
		{"on the 10th", (&openapi.ListMessageParams{}).SetDateSent(day11.Add(-time.Hour)), []string{"day 10"}},
	}
	for _, c := range cases {
		if got := bodies(c.p); !slices.Equal(got, c.want) {
			t.Errorf("%s: listed %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAuthentication(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	_, err := api(s, "wrongtoken").CreateMessage(send("+15551230001", "hi"))
	if tre := restError(t, err); tre.Code != 20003 || tre.Status != 401 {
		t.Errorf("wrong token: %v, want 20003/401", err)
	}
	other := send("+15551230001", "hi").SetPathAccountSid("AC99999999999999999999999999999999")
	if _, err := api(s, s.AuthToken()).CreateMessage(other); restError(t, err).Code != 20003 {
		t.Errorf("another account's path: %v, want 20003", err)
	}
	if len(s.Sent()) != 0 {
		t.Errorf("unauthenticated requests created %d messages", len(s.Sent()))
	}
}

func TestRefusals(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{Numbers: []string{"+15551119999"}})
	s.RefuseTo("+15557770000", 21612)
	a := api(s, s.AuthToken())
	p := func(to, from, body string) *openapi.CreateMessageParams {
		c := (&openapi.CreateMessageParams{}).SetTo(to).SetBody(body)
		if from != "" {
			c.SetFrom(from)
		}
		return c
	}
	const ok, magic = "+15551230001", twiliofake.MagicFrom
	cases := []struct {
		name string
		p    *openapi.CreateMessageParams
		code int // 0: created
	}{
		{"magic From", p(ok, magic, "hi"), 0},
		{"owned From", p(ok, "+15551119999", "hi"), 0},
		{"messaging service", p(ok, "", "hi").SetMessagingServiceSid("MG00000000000000000000000000000000"), 0},
		{"To invalid", p("+15005550001", magic, "hi"), 21211},
		{"To not E.164", p("555-1234", magic, "hi"), 21211},
		{"To unroutable", p("+15005550002", magic, "hi"), 21612},
		{"To region", p("+15005550003", magic, "hi"), 21408},
		{"To blocked", p("+15005550004", magic, "hi"), 21610},
		{"To not SMS-capable", p("+15005550009", magic, "hi"), 21614},
		{"From invalid", p(ok, "+15005550001", "hi"), 21212},
		{"From not owned (magic)", p(ok, "+15005550007", "hi"), 21606},
		{"From queue full", p(ok, "+15005550008", "hi"), 21611},
		{"From unknown", p(ok, "+15559999999", "hi"), 21606},
		{"no To", (&openapi.CreateMessageParams{}).SetFrom(magic).SetBody("hi"), 21604},
		{"no From", p(ok, "", "hi"), 21603},
		{"no Body", p(ok, magic, ""), 21602},
		{"Body over 1600", p(ok, magic, strings.Repeat("é", 1601)), 21617},
		{"Body of 1600", p(ok, magic, strings.Repeat("é", 1600)), 0},
		{"ValidityPeriod 0", p(ok, magic, "hi").SetValidityPeriod(0), 90014},
		{"ValidityPeriod over 10h", p(ok, magic, "hi").SetValidityPeriod(36001), 90007},
		{"StatusCallback relative", p(ok, magic, "hi").SetStatusCallback("/status"), 21609},
		{"RefuseTo", p("+15557770000", magic, "hi"), 21612},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.Sent())
			_, err := a.CreateMessage(c.p)
			if c.code == 0 {
				if err != nil || len(s.Sent()) != before+1 {
					t.Fatalf("want created: %v", err)
				}
				return
			}
			if tre := restError(t, err); tre.Code != c.code || tre.Status != 400 || tre.Message == "" ||
				tre.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", c.code) {
				t.Errorf("got %+v, want code %d", tre, c.code)
			}
			if len(s.Sent()) != before {
				t.Error("a refused message was recorded as sent")
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	a := api(s, s.AuthToken())
	s.FailNext(twiliofake.Create, 1, twiliofake.ServerError())
	s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("2"))
	s.FailNext(twiliofake.Create, 1, twiliofake.Unavailable())
	s.FailNext(twiliofake.Create, 1, twiliofake.LostAnswer())
	s.FailNext(twiliofake.List, 1, twiliofake.ServerError())

	if _, err := a.CreateMessage(send("+15551230001", "1")); restError(t, err).Status != 500 {
		t.Errorf("ServerError: %v", err)
	}
	if _, err := a.CreateMessage(send("+15551230001", "2")); restError(t, err).Code != 20429 {
		t.Errorf("TooManyRequests: %v", err)
	}
	_, err := a.CreateMessage(send("+15551230001", "3"))
	if tre := (*client.TwilioRestError)(nil); err == nil || errors.As(err, &tre) {
		t.Errorf("Unavailable: %v, want an error that is not Twilio's JSON", err)
	}
	if _, err := a.CreateMessage(send("+15551230001", "4")); err == nil {
		t.Error("LostAnswer: no error")
	}
	if _, err := a.ListMessage(nil); restError(t, err).Status != 500 {
		t.Errorf("List fault: %v", err)
	}
	if _, err := a.CreateMessage(send("+15551230001", "5")); err != nil {
		t.Errorf("after the faults: %v", err)
	}
	var bodies []string
	for _, m := range s.Sent() {
		bodies = append(bodies, m.Body)
	}
	if !slices.Equal(bodies, []string{"4", "5"}) {
		t.Errorf("sent %q, want the lost answer's message and the last", bodies)
	}
	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{500, 429, 503, 0, 500, 201}; !slices.Equal(statuses, want) {
		t.Errorf("answered %v, want %v", statuses, want)
	}
}

// The raw answers: a Retry-After header, an HTML body.
func TestFaultAnswers(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("7"))
	s.FailNext(twiliofake.Create, 1, twiliofake.Unavailable())
	post := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, "https://api.twilio.com/2010-04-01/Accounts/"+s.AccountSid()+"/Messages.json",
			strings.NewReader(url.Values{"To": {"+15551230001"}, "From": {twiliofake.MagicFrom}, "Body": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(s.AccountSid(), s.AuthToken())
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := post(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "7" {
		t.Errorf("429: status %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	r := post()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 503 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "<html>") {
		t.Errorf("503: status %d, %q, %q", r.StatusCode, r.Header.Get("Content-Type"), b)
	}
}

func TestTransportRefusesOtherHosts(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	for _, u := range []string{"https://example.com/", "https://api.twilio.com.evil.example/", "https://nottwilio.com/"} {
		if resp, err := s.Client().Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s went through", u)
		}
	}
	// Edge and region hosts, as twilio-go builds them, reach the fake.
	resp, err := s.Client().Get("https://api.sydney.au1.twilio.com/2010-04-01/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("edge host: status %d, want the fake's 404", resp.StatusCode)
	}
}

// callbackServer records status callbacks whose signature twilio-go accepts.
type callbackServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses map[string][]string // by MessageSid
	codes    map[string]string
	forged   int
}

func newCallbackServer(t *testing.T, token string) *callbackServer {
	cs := &callbackServer{statuses: map[string][]string{}, codes: map[string]string{}}
	v := client.NewRequestValidator(token)
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if !v.ValidateBody(cs.URL+r.URL.RequestURI(), body, r.Header.Get("X-Twilio-Signature")) {
			cs.forged++
			w.WriteHeader(http.StatusForbidden)
			return
		}
		form, _ := url.ParseQuery(string(body))
		sid := form.Get("MessageSid")
		cs.statuses[sid] = append(cs.statuses[sid], form.Get("MessageStatus"))
		if c := form.Get("ErrorCode"); c != "" {
			cs.codes[sid] = c
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func TestStatusCallbacks(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	cs := newCallbackServer(t, s.AuthToken())
	s.Undeliverable("+15551230002", "undelivered", 30003)
	s.Undeliverable("+15551230003", "failed", 30008)
	a := api(s, s.AuthToken())
	cases := []struct {
		to   string
		want []string
		code string
	}{
		{"+15551230001", []string{"queued", "sent", "delivered"}, ""},
		{"+15551230002", []string{"queued", "sent", "undelivered"}, "30003"},
		{"+15551230003", []string{"queued", "failed"}, "30008"},
	}
	sids := map[string]string{}
	for _, c := range cases {
		m, err := a.CreateMessage(send(c.to, "hi").SetStatusCallback(cs.URL + "/status?op=sms-out"))
		if err != nil {
			t.Fatal(err)
		}
		sids[c.to] = *m.Sid
	}
	s.Flush()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.forged != 0 {
		t.Errorf("%d callbacks failed twilio-go's signature check", cs.forged)
	}
	for _, c := range cases {
		sid := sids[c.to]
		if got := cs.statuses[sid]; !slices.Equal(got, c.want) || cs.codes[sid] != c.code {
			t.Errorf("%s: callbacks %v, ErrorCode %q; want %v, %q", c.to, got, cs.codes[sid], c.want, c.code)
		}
	}
	for _, cb := range s.Callbacks() {
		if cb.Err != nil || cb.Status != http.StatusNoContent {
			t.Errorf("callback %v answered %d, %v", cb.Params, cb.Status, cb.Err)
		}
	}
	for _, m := range s.Sent() {
		if m.To == "+15551230001" && (m.Status != "delivered" || m.DateSent.IsZero()) {
			t.Errorf("delivered message: %+v", m)
		}
	}
}

func TestSendInbound(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	var mu sync.Mutex
	var got []url.Values
	var tokens []string
	v := client.NewRequestValidator(s.AuthToken())
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !v.ValidateBody("http://"+r.Host+r.URL.RequestURI(), body, r.Header.Get("X-Twilio-Signature")) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		form, _ := url.ParseQuery(string(body))
		mu.Lock()
		got = append(got, form)
		tokens = append(tokens, r.Header.Get("I-Twilio-Idempotency-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response></Response>")
	}))
	defer hook.Close()
	ctx := context.Background()
	in := twiliofake.Inbound{MessageSid: "SM11111111111111111111111111111111", From: "+15550001", Body: "STOP"}
	for range 2 { // a replay, as Twilio retries
		resp, err := s.SendInbound(ctx, hook.URL+"/sms?via=test", in)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}
	}
	if len(got) != 2 || got[0].Get("MessageSid") != in.MessageSid || got[0].Get("Body") != "STOP" ||
		got[0].Get("From") != "+15550001" || got[0].Get("To") != twiliofake.MagicFrom || got[0].Get("NumSegments") != "1" ||
		got[0].Get("AccountSid") != s.AccountSid() {
		t.Fatalf("webhooks received: %v", got)
	}
	if tokens[0] == "" || tokens[0] != tokens[1] {
		t.Errorf("idempotency tokens %q: want the same non-empty token on a replay", tokens)
	}
	// STOP opted the sender out; START opts back in.
	a := api(s, s.AuthToken())
	if _, err := a.CreateMessage(send("+15550001", "hello?")); restError(t, err).Code != 21610 {
		t.Errorf("after STOP: %v, want 21610", err)
	}
	resp, err := s.SendInbound(ctx, hook.URL, twiliofake.Inbound{From: "+15550001", Body: " start "})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := a.CreateMessage(send("+15550001", "welcome back")); err != nil {
		t.Errorf("after START: %v", err)
	}
	inbound, _ := a.ListMessage((&openapi.ListMessageParams{}).SetFrom("+15550001"))
	if len(inbound) != 2 || *inbound[0].Direction != "inbound" {
		t.Errorf("inbound messages listed: %d, want 2 (the replay once)", len(inbound))
	}
}

// Sent, Requests and creates are safe for concurrent use (go test -race).
func TestConcurrentSends(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	a := api(s, s.AuthToken())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := a.CreateMessage(send("+15551230001", fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
			_ = s.Sent()
		})
	}
	wg.Wait()
	s.Flush()
	if n := len(s.Sent()); n != 20 {
		t.Errorf("%d messages recorded, want 20", n)
	}
}
