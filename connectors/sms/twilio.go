package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	twilio "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/corb-dev/corb/operators"
)

// TwilioConfig is the account a Twilio sender sends from.
type TwilioConfig struct {
	AccountSid string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN
	// The default sender of a message: a number of the account, or a
	// Messaging Service (which picks the number, and is what Advanced
	// Opt-Out needs). At least one is required; with both, Twilio sends from
	// From through the service.
	From                string // TWILIO_FROM
	MessagingServiceSid string // TWILIO_MESSAGING_SERVICE_SID
	// Edge and Region pick Twilio's point of presence; empty for the default.
	Edge   string // TWILIO_EDGE
	Region string // TWILIO_REGION
}

// Twilio is the Sender over Twilio's REST API (twilio-go). Create it with
// NewTwilio or NewTwilioFromEnv.
//
// Send retries what Twilio may answer differently later — 429 (waiting at
// least its Retry-After), 5xx, answers that are not Twilio's JSON, network
// errors — with capped exponential backoff and jitter, and returns at once
// on a refusal (a *PermanentError). When a request went out whole and no
// answer came back, it asks Twilio whether the message exists (FindSent)
// before it tries again, so its own retries never text twice.
type Twilio struct {
	cfg TwilioConfig
	o   options
}

// Option configures a Twilio sender.
type Option func(*options)

type options struct {
	transport      http.RoundTripper
	retry          operators.RetryPolicy
	attemptTimeout time.Duration
	clockSkew      time.Duration
	now            func() time.Time
	log            *slog.Logger
}

// WithTransport sends Twilio's requests through rt (default
// http.DefaultTransport): a proxy, or twiliofake's transport in tests, since
// twilio-go's base URL cannot be changed.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithRetry sets how often and how fast Send and FindSent retry transient
// failures (default: 5 attempts, 500ms doubling to at most 10s; zero fields
// of p take RetryPolicy's own defaults). Each wait is drawn from [d/2, d] of
// the policy's backoff d, and is never shorter than a Retry-After Twilio
// sent. p.Sleep is how tests see the waits.
func WithRetry(p operators.RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithAttemptTimeout bounds one request to Twilio (default 10s, twilio-go's own).
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTimeout = d } }

// WithClockSkew is how far Twilio's clock may be behind ours (default 5s):
// FindSent counts messages created up to this long before since.
func WithClockSkew(d time.Duration) Option { return func(o *options) { o.clockSkew = d } }

// WithNow sets the clock (default time.Now), for Retry-After dates and the
// time Send starts from when it reconciles.
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger logs retries to l (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// NewTwilioFromEnv reads the account from getenv (os.Getenv in production):
// TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM and/or
// TWILIO_MESSAGING_SERVICE_SID, and optionally TWILIO_EDGE and TWILIO_REGION.
func NewTwilioFromEnv(getenv func(string) string, opts ...Option) (*Twilio, error) {
	return NewTwilio(TwilioConfig{
		AccountSid:          getenv("TWILIO_ACCOUNT_SID"),
		AuthToken:           getenv("TWILIO_AUTH_TOKEN"),
		From:                getenv("TWILIO_FROM"),
		MessagingServiceSid: getenv("TWILIO_MESSAGING_SERVICE_SID"),
		Edge:                getenv("TWILIO_EDGE"),
		Region:              getenv("TWILIO_REGION"),
	}, opts...)
}

// NewTwilio checks cfg — every problem at once — and returns a sender.
func NewTwilio(cfg TwilioConfig, opts ...Option) (*Twilio, error) {
	var errs []error
	// twilio-go refuses other characters at every request (21222, 21224).
	if !alphanumeric(cfg.AccountSid) {
		errs = append(errs, errors.New("TWILIO_ACCOUNT_SID: want letters and digits (AC…)"))
	}
	if !alphanumeric(cfg.AuthToken) {
		errs = append(errs, errors.New("TWILIO_AUTH_TOKEN: want letters and digits"))
	}
	if cfg.From == "" && cfg.MessagingServiceSid == "" {
		errs = append(errs, errors.New("TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID: one is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sms: twilio: %w", err)
	}
	o := options{
		transport:      http.DefaultTransport,
		retry:          operators.RetryPolicy{MaxAttempts: 5, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second},
		attemptTimeout: 10 * time.Second,
		clockSkew:      5 * time.Second,
		now:            time.Now,
		log:            slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.retry.Sleep == nil {
		o.retry.Sleep = operators.SleepContext
	}
	if o.retry.MaxAttempts <= 0 {
		o.retry.MaxAttempts = 5
	}
	return &Twilio{cfg: cfg, o: o}, nil
}

// Send implements Sender.
func (t *Twilio) Send(ctx context.Context, m Message) (string, error) {
	params, err := t.createParams(m)
	if err != nil {
		return "", err
	}
	since := t.o.now()
	var sid string
	err = t.retry(ctx, "send", func(api *openapi.ApiService) error {
		msg, err := api.CreateMessage(params)
		if err != nil {
			return err
		}
		if msg.Sid == nil || *msg.Sid == "" {
			return fmt.Errorf("%w: Twilio accepted it without a MessageSid", ErrOutcomeUnknown)
		}
		sid = *msg.Sid
		return nil
	}, func(ctx context.Context) (bool, error) {
		found, ok, err := t.FindSent(ctx, m, since)
		sid = found.Sid
		return ok, err
	})
	return sid, err
}

func (t *Twilio) createParams(m Message) (*openapi.CreateMessageParams, error) {
	if err := checkMessage(m); err != nil {
		return nil, err
	}
	from, service := t.sender(m)
	p := (&openapi.CreateMessageParams{}).SetTo(m.To).SetBody(m.Body)
	if from != "" {
		p.SetFrom(from)
	}
	if service != "" {
		p.SetMessagingServiceSid(service)
	}
	if m.StatusCallback != "" {
		p.SetStatusCallback(m.StatusCallback)
	}
	if m.ValidityPeriod > 0 {
		p.SetValidityPeriod(int(max(m.ValidityPeriod.Round(time.Second), time.Second) / time.Second))
	}
	return p, nil
}

func alphanumeric(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return s != ""
}

// sender is who sends m: its own From or service, else the configured ones.
func (t *Twilio) sender(m Message) (from, service string) {
	if m.From != "" || m.MessagingServiceSid != "" {
		return m.From, m.MessagingServiceSid
	}
	return t.cfg.From, t.cfg.MessagingServiceSid
}

// recentPage is how many of a recipient's newest messages FindSent reads
// without a date filter.
const recentPage = 50

// FindSent implements Sender. It reads the recipient's messages twice: the
// newest page unfiltered, because a message Twilio has not sent yet has no
// date_sent and a DateSent filter may pass it over; and every message sent
// on or after the day of since (Twilio filters by UTC day). It matches body,
// sender and direction, and a creation time no earlier than since less the
// clock skew. Two identical texts to the same person in that window cannot
// be told apart; FindSent then reports the earliest. A zero since reads all
// of the recipient's messages.
func (t *Twilio) FindSent(ctx context.Context, m Message, since time.Time) (Sent, bool, error) {
	from, service := t.sender(m)
	anyTime := since.IsZero()
	since = since.Add(-t.o.clockSkew).Truncate(time.Second) // Twilio's times are whole seconds
	list := func() *openapi.ListMessageParams {
		p := (&openapi.ListMessageParams{}).SetTo(m.To)
		if service == "" && from != "" {
			p.SetFrom(from)
		}
		return p
	}
	var best Sent
	found := false
	match := func(msgs []openapi.ApiV2010Message) {
		for _, msg := range msgs {
			s, ok := matchSent(msg, m.Body, from, service, since)
			if ok && (!found || s.Created.Before(best.Created)) {
				best, found = s, true
			}
		}
	}
	err := t.retry(ctx, "find", func(api *openapi.ApiService) error {
		best, found = Sent{}, false
		recent, err := api.ListMessage(list().SetPageSize(recentPage).SetLimit(recentPage))
		if err != nil {
			return err
		}
		all := list().SetPageSize(200)
		if !anyTime {
			all.SetDateSentAfter(since.UTC().Truncate(24 * time.Hour))
		}
		sent, err := api.ListMessage(all)
		if err != nil {
			return err
		}
		match(recent)
		match(sent)
		return nil
	}, nil)
	if err != nil {
		return Sent{}, false, err
	}
	return best, found, nil
}

// matchSent is msg as a Sent, if it is the outbound message of this body and
// sender created at or after since. A creation time that does not parse
// counts as inside the window: a false match costs a text, a missed one
// sends it twice.
func matchSent(msg openapi.ApiV2010Message, body, from, service string, since time.Time) (Sent, bool) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch {
	case str(msg.Body) != body,
		!strings.HasPrefix(str(msg.Direction), "outbound"),
		service != "" && str(msg.MessagingServiceSid) != service,
		service == "" && from != "" && str(msg.From) != from:
		return Sent{}, false
	}
	s := Sent{Sid: str(msg.Sid), Status: str(msg.Status)}
	if msg.ErrorCode != nil {
		s.ErrorCode = *msg.ErrorCode
	}
	if created, err := time.Parse(time.RFC1123Z, str(msg.DateCreated)); err == nil {
		if created.Before(since) {
			return Sent{}, false
		}
		s.Created = created
	}
	return s, true
}

// retry runs op with a fresh twilio-go client per try until it succeeds,
// fails for good, or the policy or ctx ends. After a try whose answer was
// lost, reconcile (if any) says whether op had taken effect.
func (t *Twilio) retry(ctx context.Context, what string, op func(*openapi.ApiService) error, reconcile func(context.Context) (bool, error)) error {
	var last error
	lost := false
	for n := 1; ; n++ {
		if lost && reconcile != nil {
			done, err := reconcile(ctx)
			if err != nil {
				return fmt.Errorf("sms: twilio %s: %w: %w (finding it: %w)", what, ErrOutcomeUnknown, last, err)
			}
			if done {
				return nil
			}
		}
		at := &attempt{base: t.o.transport}
		var cancel context.CancelFunc
		at.ctx, cancel = context.WithTimeout(ctx, t.o.attemptTimeout)
		err := op(t.api(at))
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrOutcomeUnknown) {
			return fmt.Errorf("sms: twilio %s: %w", what, err)
		}
		status, retryAfter := at.last()
		if perm := permanent(err); perm != nil {
			return perm
		}
		lost, last = at.lostAnswer(), err
		if lost && reconcile != nil {
			last = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sms: twilio %s: %w (%w)", what, last, context.Cause(ctx))
		}
		if n >= t.o.retry.MaxAttempts {
			return fmt.Errorf("sms: twilio %s: giving up after %d attempts: %w", what, n, last)
		}
		d := t.o.retry.Backoff(n)
		wait := max(d/2+rand.N(d/2+1), parseRetryAfter(retryAfter, t.o.now()))
		if deadline, ok := ctx.Deadline(); ok && t.o.now().Add(wait).After(deadline) {
			return fmt.Errorf("sms: twilio %s: next try in %v is past the deadline: %w", what, wait, last)
		}
		t.o.log.LogAttrs(ctx, slog.LevelWarn, "twilio: retrying", slog.String("call", what),
			slog.Int("attempt", n), slog.Int("status", status), slog.Duration("wait", wait), slog.Any("err", err))
		if err := t.o.retry.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("sms: twilio %s: %w (%w)", what, last, err)
		}
	}
}

// api is a twilio-go client whose requests all go through at: twilio-go
// takes no context, so the client is made per try.
func (t *Twilio) api(at *attempt) *openapi.ApiService {
	c := &client.Client{
		Credentials: client.NewCredentials(t.cfg.AccountSid, t.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport:     at,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.cfg.AccountSid)
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
	rc.SetEdge(t.cfg.Edge) // not twilio-go's reading of the process environment
	rc.SetRegion(t.cfg.Region)
	return rc.Api
}

// permanent is err as a *PermanentError if Twilio refused for good: a
// TwilioRestError with a code of permanentReason, or any 4xx but 429.
// Everything else may succeed later: 429 and 20429, 5xx, 21611 (the sender's
// queue is full), answers that are not Twilio's JSON, network errors.
func permanent(err error) *PermanentError {
	var tre *client.TwilioRestError
	if !errors.As(err, &tre) {
		return nil
	}
	_, known := permanentReason(tre.Code)
	switch {
	case known:
	case tre.Status == http.StatusTooManyRequests || tre.Code == 20429 || tre.Code == 21611:
		return nil
	case tre.Status < 400 || tre.Status >= 500:
		return nil
	}
	return &PermanentError{Code: tre.Code, Status: tre.Status, Message: tre.Message, Err: tre}
}
