package sms

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"
)

// attempt is the RoundTripper of one try of a Twilio call. twilio-go builds
// its requests with context.Background() and never shows a caller the
// response of a failed call, so attempt puts the try's context on every
// request (cancellation and the attempt timeout) and keeps what the caller
// needs from the last exchange: its status, Retry-After, and whether the
// request was written whole and then went unanswered — the one failure after
// which Twilio may have acted.
type attempt struct {
	ctx  context.Context
	base http.RoundTripper

	mu         sync.Mutex // twilio-go pages lists from a goroutine of its own
	wrote      bool
	answered   bool
	status     int
	retryAfter string
}

// maxErrorBody bounds what attempt reads of an error answer; Twilio's are
// a few hundred bytes.
const maxErrorBody = 64 << 10

func (a *attempt) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.wrote, a.answered, a.status, a.retryAfter = false, false, 0, ""
	a.mu.Unlock()
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			a.mu.Lock()
			a.wrote = true
			a.mu.Unlock()
		}
	}}
	resp, err := a.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(a.ctx, trace)))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.answered, a.status, a.retryAfter = true, resp.StatusCode, resp.Header.Get("Retry-After")
	a.mu.Unlock()
	if resp.StatusCode >= 400 {
		// twilio-go decodes an error answer but never closes it, which
		// would cost the connection: read it here and close it.
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// lostAnswer reports whether the last request reached the server whole and
// no answer came back.
func (a *attempt) lostAnswer() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wrote && !a.answered
}

func (a *attempt) last() (status int, retryAfter string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status, a.retryAfter
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date;
// anything else is no wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 32); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
