// Package twiliofake is a test double of Twilio's REST API, the part Corb
// uses: create, list and fetch Messages (/2010-04-01/Accounts/{sid}/Messages),
// answered with the JSON Twilio sends, so that the real twilio-go client can
// be pointed at it (Transport, Client: twilio-go's base URL is fixed).
//
// It checks Basic auth (20003), applies Twilio's test "magic numbers"
// (From +15005550006 passes; To +15005550001 is 21211, +15005550004 21610, …),
// records what was sent (Sent), fails on request (FailNext: 500, 429 with
// Retry-After, an HTML 503, an answer lost after the message was created;
// RefuseTo: a permanent code for a number), honours opt-out (a number that
// texted STOP through SendInbound gets 21610 until START), posts signed status
// callbacks (queued → sent → delivered, or undelivered/failed with an
// ErrorCode), and signs inbound webhooks as Twilio does (Sign, PostWebhook).
//
// It fakes Twilio only: no Kafka, nothing of Corb's but the segment count.
package twiliofake

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of Config. Both are letters and digits, as twilio-go requires.
const (
	DefaultAccountSid = "ACc0ffeec0ffeec0ffeec0ffeec0ffee00"
	DefaultAuthToken  = "f4kef4kef4kef4kef4kef4kef4kef4ke"
)

// MagicFrom is the From number that passes every check, as with Twilio's
// test credentials.
const MagicFrom = "+15005550006"

// Config configures a Server. The zero value works.
type Config struct {
	AccountSid string // default DefaultAccountSid
	AuthToken  string // default DefaultAuthToken
	// Numbers are the From numbers the account owns besides MagicFrom.
	// Others are refused with 21606, as Twilio refuses numbers it does not
	// know for the account.
	Numbers []string
	// Addr is where to listen (default 127.0.0.1:0, a free port).
	Addr string
	// Hold keeps created messages queued, with no date_sent and no status
	// callback, until Flush: a message Twilio accepted and has not sent yet.
	Hold bool
	// Client posts status callbacks and webhooks (default: a client that
	// gives up after 15s, as Twilio does).
	Client *http.Client
	// Now is the fake's clock (default time.Now).
	Now func() time.Time
}

// Message is a message the fake holds, outbound or inbound.
type Message struct {
	Sid                 string
	Direction           string // outbound-api or inbound
	From                string // empty until sent when created with a MessagingServiceSid
	To                  string
	Body                string
	MessagingServiceSid string
	StatusCallback      string
	ValidityPeriod      int // seconds; 0 when not given
	Status              string
	ErrorCode           int
	NumSegments         int
	Created, Updated    time.Time
	DateSent            time.Time // zero until sent
}

// Request is an API request the fake received.
type Request struct {
	Method, Path string
	Form         url.Values // query and POST form
	Status       int        // the answer's status; 0 when the connection was dropped
}

// Callback is a status callback the fake posted.
type Callback struct {
	URL    string
	Params url.Values
	Status int   // the HTTP status it was answered with
	Err    error // why it was not answered
}

// Server is a running fake. Create it with NewServer; Close it.
type Server struct {
	cfg  Config
	url  string
	http *http.Server
	ctx  context.Context // ends at Close, and with it every callback
	stop context.CancelFunc

	mu         sync.Mutex
	messages   []*Message // in creation order
	requests   []Request
	faults     map[Endpoint][]Fault
	refusals   map[string]int // To number → Twilio code
	deliveries map[string]delivery
	optedOut   map[string]bool
	callbacks  []Callback
	held       []*Message

	lifecycles sync.WaitGroup
}

type delivery struct {
	status string
	code   int
}

// NewServer starts a fake listening on cfg.Addr.
func NewServer(cfg Config) (*Server, error) {
	if cfg.AccountSid == "" {
		cfg.AccountSid = DefaultAccountSid
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = DefaultAuthToken
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("twiliofake: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		url:        "http://" + ln.Addr().String(),
		faults:     map[Endpoint][]Fault{},
		refusals:   map[string]int{},
		deliveries: map[string]delivery{},
		optedOut:   map[string]bool{},
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	const messages = "/2010-04-01/Accounts/{account}/Messages"
	mux.HandleFunc("POST "+messages+".json", s.authed(s.create))
	mux.HandleFunc("GET "+messages+".json", s.authed(s.list))
	mux.HandleFunc("GET "+messages+"/{file}", s.authed(s.fetch))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.http = &http.Server{Handler: s.recording(mux), ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// Start starts a fake for a test, which it fails if the fake cannot
// listen, and closes it when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL is the fake's base URL (http://127.0.0.1:port), where Transport sends
// what twilio-go addresses to https://api.twilio.com.
func (s *Server) URL() string { return s.url }

// AccountSid is the account the fake serves.
func (s *Server) AccountSid() string { return s.cfg.AccountSid }

// AuthToken is the token the fake accepts and signs with.
func (s *Server) AuthToken() string { return s.cfg.AuthToken }

// Close stops the server, cancels callbacks in flight and waits for them.
func (s *Server) Close() error {
	err := s.http.Close()
	s.mu.Lock() // no lifecycle starts after this (startLifecycle)
	s.stop()
	s.mu.Unlock()
	s.lifecycles.Wait()
	return err
}

// Sent returns copies of the outbound messages created, oldest first.
func (s *Server) Sent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.Direction == outbound {
			out = append(out, *m)
		}
	}
	return out
}

// Requests returns the API requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Callbacks returns the status callbacks posted so far, oldest first. Flush
// first to wait for those in flight.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbacks)
}

// RefuseTo makes every message to number fail with Twilio code (HTTP 400),
// as a permanent refusal does.
func (s *Server) RefuseTo(number string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals[number] = code
}

// Undeliverable makes messages to number end with status (undelivered or
// failed) and Twilio's code (e.g. 30003 unreachable, 30006 landline) instead of
// delivered.
func (s *Server) Undeliverable(number, status string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries[number] = delivery{status: status, code: code}
}

// OptOut refuses messages to number with 21610 until OptIn, as after the
// number texted STOP.
func (s *Server) OptOut(number string) { s.setOptOut(number, true) }

// OptIn undoes OptOut, as START does.
func (s *Server) OptIn(number string) { s.setOptOut(number, false) }

func (s *Server) setOptOut(number string, out bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if out {
		s.optedOut[number] = true
	} else {
		delete(s.optedOut, number)
	}
}

// Flush sends every held message (Config.Hold) on its way, and waits until
// every message has reached its final status and its callbacks are posted.
func (s *Server) Flush() {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, m := range held {
		s.startLifecycle(m)
	}
	s.lifecycles.Wait()
}

// authed checks Basic auth against the configured account, and that the
// account in the path is that account, as Twilio answers 20003 otherwise.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !equal(user, s.cfg.AccountSid) || !equal(pass, s.cfg.AuthToken) || r.PathValue("account") != s.cfg.AccountSid {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		h(w, r)
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// recording logs every request, and its status as the answer starts, so
// that a client never sees an answer the log does not have yet.
func (s *Server) recording(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm() //nolint:errcheck // a bad form reads as missing parameters, as Twilio's validation then reports
		s.mu.Lock()
		i := len(s.requests)
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Form: r.Form})
		s.mu.Unlock()
		h.ServeHTTP(&statusWriter{ResponseWriter: w, answer: func(status int) {
			s.mu.Lock()
			s.requests[i].Status = status
			s.mu.Unlock()
		}}, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	answer   func(status int)
	answered bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.answered {
		w.answered = true
		w.answer(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.answered {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Fault.Drop).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newSid() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24)
	return "SM" + hex.EncodeToString(b)
}

// Transport sends requests for *.twilio.com to the fake (as plain HTTP) and
// refuses every other host, so a test never reaches the real Twilio or
// anything else through it.
func (s *Server) Transport() http.RoundTripper {
	u, _ := url.Parse(s.url) // s.url is ours
	return Rewrite(u, nil)
}

// Client is an *http.Client over Transport that does not follow redirects
// and gives up after 10s, as twilio-go's default client.
func (s *Server) Client() *http.Client {
	return &http.Client{
		Transport:     s.Transport(),
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Rewrite is a RoundTripper that sends requests for twilio.com and its
// subdomains (api.twilio.com, and the edge and region forms twilio-go builds)
// to target through base (nil: http.DefaultTransport), and refuses others.
func Rewrite(target *url.URL, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return rewrite{target: target, base: base}
}

type rewrite struct {
	target *url.URL
	base   http.RoundTripper
}

func (rw rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if host != "twilio.com" && !strings.HasSuffix(host, ".twilio.com") {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("twiliofake: refusing %s: not a Twilio host", req.URL.Host)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = rw.target.Scheme, rw.target.Host, ""
	return rw.base.RoundTrip(out)
}
