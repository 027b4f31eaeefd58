package sms_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
)

const (
	token  = "webhookT0ken"
	public = "https://corb.example.com/sms"
)

func TestValidator(t *testing.T) {
	v, err := sms.NewValidator(token, public)
	if err != nil {
		t.Fatal(err)
	}
	inbound := url.Values{"MessageSid": {"SM1"}, "From": {"+15550001"}, "To": {twiliofake.MagicFrom}, "Body": {"STATUS lobby"}, "NumSegments": {"1"}}
	jsonBody := `{"MessageSid":"SM1","Body":"STATUS lobby"}`
	sum := sha256.Sum256([]byte(jsonBody))
	jsonQuery := "?bodySHA256=" + hex.EncodeToString(sum[:])
	form := func(v url.Values) string { return v.Encode() }
	with := func(k, val string) url.Values {
		c := url.Values{}
		for key, vs := range inbound {
			c[key] = vs
		}
		c.Set(k, val)
		return c
	}
	cases := []struct {
		name string
		// Twilio signed signedURL with signedParams; the server sees method
		// target (behind the proxy: another scheme, host and port) and body.
		signedURL    string
		signedParams url.Values
		token        string
		noHeader     bool
		method       string
		target       string
		body         string
		want         error
		wantBody     string // a parameter Validate returns
	}{
		{name: "behind a proxy", signedURL: public, signedParams: inbound,
			target: "http://10.0.0.7:8080/sms", body: form(inbound), wantBody: "STATUS lobby"},
		{name: "query kept as sent", signedURL: public + "?zone=a%2Fb&x=%7e", signedParams: inbound,
			target: "http://10.0.0.7:8080/sms?zone=a%2Fb&x=%7e", body: form(inbound), wantBody: "STATUS lobby"},
		{name: "GET, parameters in the query", signedURL: public + "?Body=hi&From=%2B15550001",
			method: http.MethodGet, target: "http://10.0.0.7/sms?Body=hi&From=%2B15550001", wantBody: "hi"},
		{name: "JSON body with bodySHA256", signedURL: public + jsonQuery,
			target: "http://10.0.0.7/sms" + jsonQuery, body: jsonBody},
		{name: "missing header", noHeader: true, signedURL: public, signedParams: inbound,
			target: "http://10.0.0.7/sms", body: form(inbound), want: sms.ErrMissingSignature},
		{name: "tampered body", signedURL: public, signedParams: inbound,
			target: "http://10.0.0.7/sms", body: form(with("Body", "STATUS kitchen")), want: sms.ErrInvalidSignature},
		{name: "added parameter", signedURL: public, signedParams: inbound,
			target: "http://10.0.0.7/sms", body: form(with("Extra", "1")), want: sms.ErrInvalidSignature},
		{name: "signed for another URL", signedURL: "https://other.example.com/sms", signedParams: inbound,
			target: "http://10.0.0.7/sms", body: form(inbound), want: sms.ErrInvalidSignature},
		{name: "signed for another path", signedURL: "https://corb.example.com/other", signedParams: inbound,
			target: "http://10.0.0.7/sms", body: form(inbound), want: sms.ErrInvalidSignature},
		{name: "query re-encoded on the way", signedURL: public + "?x=%7e", signedParams: inbound,
			target: "http://10.0.0.7/sms?x=~", body: form(inbound), want: sms.ErrInvalidSignature},
		{name: "another token", signedURL: public, signedParams: inbound, token: "n0tTheToken",
			target: "http://10.0.0.7/sms", body: form(inbound), want: sms.ErrInvalidSignature},
		{name: "JSON body tampered", signedURL: public + jsonQuery,
			target: "http://10.0.0.7/sms" + jsonQuery, body: strings.Replace(jsonBody, "lobby", "kitchen", 1), want: sms.ErrInvalidSignature},
		{name: "too large", signedURL: public, target: "http://10.0.0.7/sms",
			body: "Body=" + strings.Repeat("a", sms.MaxWebhookBody), want: sms.ErrWebhookTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.method == "" {
				c.method = http.MethodPost
			}
			if c.token == "" {
				c.token = token
			}
			r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if !c.noHeader {
				r.Header.Set("X-Twilio-Signature", twiliofake.Sign(c.token, c.signedURL, c.signedParams))
			}
			params, err := v.Validate(r)
			if !errors.Is(err, c.want) {
				t.Fatalf("Validate: %v, want %v", err, c.want)
			}
			if err != nil {
				if params != nil {
					t.Errorf("a refused request returned parameters %v", params)
				}
				return
			}
			if got := params.Get("Body"); got != c.wantBody {
				t.Errorf("Body parameter %q, want %q", got, c.wantBody)
			}
			// The body is still there for the handler.
			rest, _ := io.ReadAll(r.Body)
			if string(rest) != c.body {
				t.Errorf("body after Validate %q, want %q", rest, c.body)
			}
		})
	}
}

// After Validate, r.ParseForm sees the body as if nothing had read it.
func TestValidatorThenParseForm(t *testing.T) {
	v, _ := sms.NewValidator(token, public)
	params := url.Values{"Body": {"DONE kitchen"}, "From": {"+15550001"}}
	r := httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader(params.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", twiliofake.Sign(token, public, params))
	if _, err := v.Validate(r); err != nil {
		t.Fatal(err)
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Body") != "DONE kitchen" {
		t.Fatalf("ParseForm after Validate: %v, %v", r.PostForm, err)
	}
}

func TestNewValidatorRefuses(t *testing.T) {
	for _, c := range []struct{ token, url string }{
		{"", public}, {token, "corb.example.com/sms"}, {token, "/sms"}, {token, "ftp://corb.example.com/sms"}, {token, "https://%zz"},
	} {
		if _, err := sms.NewValidator(c.token, c.url); err == nil {
			t.Errorf("NewValidator(%q, %q) accepted", c.token, c.url)
		}
	}
}

// End to end: the fake's inbound webhooks pass; a forged one is a 403.
func TestValidatorWithTwiliofake(t *testing.T) {
	s := twiliofake.Start(t, twiliofake.Config{})
	var (
		mu       sync.Mutex // the handler runs on the server's goroutines
		v        *sms.Validator
		received []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		params, err := v.Validate(r)
		if errors.Is(err, sms.ErrMissingSignature) || errors.Is(err, sms.ErrInvalidSignature) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		received = append(received, params.Get("Body"))
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response></Response>")
	}))
	defer hook.Close()
	// Twilio calls the public URL; here it is the server's own.
	mu.Lock()
	v, _ = sms.NewValidator(s.AuthToken(), hook.URL)
	mu.Unlock()
	ctx := context.Background()
	post := func(resp *http.Response, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(s.SendInbound(ctx, hook.URL+"/sms", twiliofake.Inbound{From: "+15550001", Body: "STATUS"})); code != 200 {
		t.Errorf("the fake's webhook: %d", code)
	}
	forged := url.Values{"From": {"+15550001"}, "Body": {"UNSUBSCRIBE all"}}
	if code := post(twiliofake.PostWebhook(ctx, http.DefaultClient, "forgedT0ken", hook.URL+"/sms", forged)); code != 403 {
		t.Errorf("forged webhook: %d, want 403", code)
	}
	if code := post(http.PostForm(hook.URL+"/sms", forged)); code != 403 {
		t.Errorf("unsigned webhook: %d, want 403", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 1 || received[0] != "STATUS" {
		t.Errorf("the handler acted on %q", received)
	}
}
