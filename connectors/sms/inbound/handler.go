package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/intent"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// Record is one record for Kafka.
type Record struct {
	Topic      string // physical
	Key, Value []byte
}

// Producer writes records to Kafka. The Handler calls it with a context that
// ends at its answer's deadline, and answers 503 (so that Twilio retries)
// when it fails; it must be safe for concurrent use. KafkaProducer is the
// real one.
type Producer interface {
	Produce(ctx context.Context, recs []Record) error
}

// Defaults of Config.
const (
	DefaultTimeout           = time.Second
	DefaultMaxConcurrent     = 64
	DefaultCommandsPerMinute = 10
	DefaultStrangerEvery     = time.Hour
	DefaultRecent            = 10000
)

// Config configures a Handler. Fields without a default are required.
type Config struct {
	// AuthToken is the Twilio account's auth token, which signs webhooks.
	AuthToken string
	// PublicURL is the messaging webhook's URL as configured at Twilio
	// (https://corb.example.com/twilio/sms): what Twilio signs. The webhook
	// is served at its path, whatever the host the server sees.
	PublicURL string
	// StatusPath is the path of the status callbacks (Twilio's delivery
	// receipts); default: PublicURL's path + "/status".
	StatusPath string
	// AccountSid, when set, refuses (403) webhooks of another account.
	AccountSid string

	Producer Producer
	// CommandsTopic and StatusTopic are the physical names of the topology's
	// commands and sms-status topics.
	CommandsTopic, StatusTopic string

	// Directory is the directory in use now (a directory.Watcher's Current).
	Directory func() *directory.Directory
	// Zones are what texts may name (IDs, names and aliases).
	Zones []intent.Zone

	// Timeout bounds each request, from its arrival to the answer, the wait
	// for a free slot and the produce included (default 1s: Twilio waits 15s
	// in all, and an answer is due quickly).
	Timeout time.Duration
	// MaxConcurrent bounds the requests handled at once (default 64); one
	// that finds no slot within Timeout is answered 503.
	MaxConcurrent int
	// CommandsPerMinute is each sender's rate (default 10, in bursts of as
	// many); a sender over it gets one "slow down" reply, then silence.
	// STOP and START are never limited.
	CommandsPerMinute float64
	// StrangerEvery is how often a sender who is not in the directory is
	// answered at most (default 1h): one polite line, then silence.
	StrangerEvery time.Duration
	// Recent is how many webhooks (and senders) are remembered, for Twilio's
	// retries and the rate limits (default 10000).
	Recent int

	Now      func() time.Time      // default time.Now; the rate limits' clock and IssuedAt
	Log      *slog.Logger          // default slog.Default()
	Registry prometheus.Registerer // where the metrics are registered; nil: nowhere
}

// Handler is the http.Handler of Twilio's messaging webhook and status
// callbacks. Create it with New.
type Handler struct {
	cfg        Config
	validator  *sms.Validator
	parser     *intent.Parser
	names      map[string]string // zone ID → the name people know it by
	msgPath    string
	statusPath string
	slots      chan struct{}
	messages   *recent // by MessageSid
	receipts   *recent // by MessageSid and status
	senders    *senders
	strangers  *senders
	m          *handlerMetrics
}

// New checks cfg and returns its Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.CommandsPerMinute <= 0 {
		cfg.CommandsPerMinute = DefaultCommandsPerMinute
	}
	if cfg.StrangerEvery <= 0 {
		cfg.StrangerEvery = DefaultStrangerEvery
	}
	if cfg.Recent <= 0 {
		cfg.Recent = DefaultRecent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var errs []error
	v, err := sms.NewValidator(cfg.AuthToken, cfg.PublicURL)
	if err != nil {
		errs = append(errs, err)
	}
	parser, err := intent.NewParser(cfg.Zones)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case cfg.Producer == nil:
		errs = append(errs, errors.New("inbound: no Producer"))
	case cfg.CommandsTopic == "" || cfg.StatusTopic == "":
		errs = append(errs, errors.New("inbound: CommandsTopic and StatusTopic are required"))
	case cfg.Directory == nil:
		errs = append(errs, errors.New("inbound: no Directory"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.PublicURL) // NewValidator parsed it
	h := &Handler{
		cfg: cfg, validator: v, parser: parser, names: map[string]string{},
		msgPath: u.Path, statusPath: cfg.StatusPath,
		slots:     make(chan struct{}, cfg.MaxConcurrent),
		messages:  newRecent(cfg.Recent),
		receipts:  newRecent(cfg.Recent),
		senders:   newSenders(time.Duration(float64(time.Minute)/cfg.CommandsPerMinute), max(1, int(cfg.CommandsPerMinute)), cfg.Recent),
		strangers: newSenders(cfg.StrangerEvery, 1, cfg.Recent),
	}
	if h.msgPath == "" {
		h.msgPath = "/"
	}
	if h.statusPath == "" {
		h.statusPath = strings.TrimSuffix(h.msgPath, "/") + "/status"
	}
	if !strings.HasPrefix(h.statusPath, "/") || h.statusPath == h.msgPath {
		return nil, fmt.Errorf("inbound: status path %q: want an absolute path other than the webhook's %q", h.statusPath, h.msgPath)
	}
	for _, z := range cfg.Zones {
		h.names[z.ID] = z.ID
		if z.Name != "" {
			h.names[z.ID] = z.Name
		}
	}
	if h.m, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	return h, nil
}

// MessagePath and StatusPath are where the Handler serves the webhook and
// the status callbacks.
func (h *Handler) MessagePath() string { return h.msgPath }
func (h *Handler) StatusPath() string  { return h.statusPath }

// emptyTwiML is the answer to every webhook: replies go out asynchronously,
// as send_sms commands. (An empty 200 body has made Twilio report error 11200.)
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// Outcomes of a request (the outcome label of corb_sms_webhook_requests_total).
const (
	outcomeAccepted    = "accepted"    // commands produced
	outcomeReplied     = "replied"     // the connector's own reply produced
	outcomeSilenced    = "silenced"    // nothing to produce: a rate limit
	outcomeDuplicate   = "duplicate"   // a retry of a webhook handled already
	outcomeForbidden   = "forbidden"   // 403: no or a wrong signature, another account
	outcomeTooLarge    = "too_large"   // 413
	outcomeBadRequest  = "bad_request" // 400: a signed form without what Twilio always sends
	outcomeUnavailable = "unavailable" // 503: the produce failed or took too long
	outcomeBusy        = "busy"        // 503: no free slot in time
	outcomeMethod      = "method"      // 405
	outcomeInternal    = "internal"    // 500: a command that does not encode (a bug)
)

// ServeHTTP serves the webhook at the public URL's path and the status
// callbacks at the status path; anything else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var endpoint string
	var handle func(context.Context, url.Values) (int, string)
	switch r.URL.Path {
	case h.msgPath:
		endpoint, handle = "message", h.message
	case h.statusPath:
		endpoint, handle = "status", h.status
	default:
		http.NotFound(w, r)
		return
	}
	start := time.Now()
	code, outcome := h.serve(r, handle)
	h.m.requests.WithLabelValues(endpoint, outcome).Inc()
	if code == http.StatusOK {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(emptyTwiML))
	} else {
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		http.Error(w, outcome, code)
	}
	h.m.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

// serve does what every webhook needs before handle: a slot, the body within
// its bound, the signature.
func (h *Handler) serve(r *http.Request, handle func(context.Context, url.Values) (int, string)) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, outcomeMethod
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return http.StatusServiceUnavailable, outcomeBusy
	}
	params, err := h.validator.Validate(r)
	switch {
	case errors.Is(err, sms.ErrMissingSignature), errors.Is(err, sms.ErrInvalidSignature):
		h.cfg.Log.Warn("webhook refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		return http.StatusForbidden, outcomeForbidden
	case errors.Is(err, sms.ErrWebhookTooLarge):
		return http.StatusRequestEntityTooLarge, outcomeTooLarge
	case err != nil:
		return http.StatusBadRequest, outcomeBadRequest
	}
	if a := params.Get("AccountSid"); h.cfg.AccountSid != "" && a != h.cfg.AccountSid {
		h.cfg.Log.Warn("webhook of another account refused", "account", a, "remote", r.RemoteAddr)
		return http.StatusForbidden, outcomeForbidden
	}
	return handle(ctx, params)
}

// param is a form value as valid UTF-8 (Avro strings must be): a form can
// encode any byte.
func param(v url.Values, keys ...string) string {
	for _, k := range keys {
		if s := v.Get(k); s != "" {
			return strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	return ""
}

// message handles one inbound text.
func (h *Handler) message(ctx context.Context, v url.Values) (int, string) {
	sid, from := param(v, "MessageSid", "SmsSid"), param(v, "From")
	if sid == "" || from == "" {
		return http.StatusBadRequest, outcomeBadRequest
	}
	return h.once(ctx, h.messages, sid, func() ([]Record, func(), string, error) {
		d := h.decide(sid, from, param(v, "Body"), h.cfg.Now().UTC())
		recs := make([]Record, 0, len(d.cmds))
		for _, c := range d.cmds {
			val, err := schemas.Marshal(c)
			if err != nil {
				return nil, nil, "", fmt.Errorf("command %s of message %s: %w", c.CommandType, sid, err)
			}
			recs = append(recs, Record{Topic: h.cfg.CommandsTopic, Key: []byte(c.Key()), Value: val})
		}
		outcome := outcomeAccepted
		switch {
		case len(recs) == 0:
			outcome = outcomeSilenced
		case d.reason != "":
			outcome = outcomeReplied
		}
		done := func() {
			for _, c := range d.cmds {
				h.m.produced.WithLabelValues(c.CommandType).Inc()
			}
			if d.reason != "" {
				h.m.replies.WithLabelValues(d.reason).Inc()
			}
		}
		return recs, done, outcome, nil
	})
}

// Receipt is a delivery receipt as the sms-status topic carries it (JSON,
// key MessageSid): Twilio's status callback for an outbound message.
type Receipt struct {
	Sid       string    `json:"sid"`
	Status    string    `json:"status"`               // queued, sent, delivered, undelivered, failed, ...
	ErrorCode int       `json:"error_code,omitempty"` // Twilio's code of an undelivered or failed message
	To        string    `json:"to"`
	At        time.Time `json:"at"` // when the connector received it
}

// status handles one status callback.
func (h *Handler) status(ctx context.Context, v url.Values) (int, string) {
	rc := Receipt{Sid: param(v, "MessageSid", "SmsSid"), Status: param(v, "MessageStatus", "SmsStatus"), To: param(v, "To")}
	if rc.Sid == "" || rc.Status == "" {
		return http.StatusBadRequest, outcomeBadRequest
	}
	code := param(v, "ErrorCode")
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			return http.StatusBadRequest, outcomeBadRequest
		}
		rc.ErrorCode = n
	}
	// Callbacks repeat and arrive out of order: one record per status.
	return h.once(ctx, h.receipts, rc.Sid+" "+rc.Status, func() ([]Record, func(), string, error) {
		rc.At = h.cfg.Now().UTC()
		val, err := json.Marshal(rc)
		if err != nil {
			return nil, nil, "", err
		}
		done := func() {
			h.m.receipts.WithLabelValues(rc.Status).Inc()
			if rc.Status == "undelivered" || rc.Status == "failed" {
				label := code
				if label == "" {
					label = "none"
				}
				h.m.deliveryFailed.WithLabelValues(label).Inc()
				h.cfg.Log.Warn("sms not delivered", "sid", rc.Sid, "status", rc.Status, "error_code", rc.ErrorCode, "to", rc.To)
			}
		}
		return []Record{{Topic: h.cfg.StatusTopic, Key: []byte(rc.Sid), Value: val}}, done, outcomeAccepted, nil
	})
}

// once acts on the webhook key once among its retries: build says what to
// produce, and done what to count once it is. A retry of a webhook acted on
// is a duplicate, answered 200 without producing again.
func (h *Handler) once(ctx context.Context, seen *recent, key string, build func() (recs []Record, done func(), outcome string, err error)) (int, string) {
	f, first := seen.begin(key)
	if !first {
		select {
		case <-f.done:
			if f.err == nil {
				return http.StatusOK, outcomeDuplicate
			}
			return http.StatusServiceUnavailable, outcomeUnavailable
		case <-ctx.Done():
			return http.StatusServiceUnavailable, outcomeUnavailable
		}
	}
	recs, done, outcome, err := build()
	if err != nil {
		seen.end(key, f, err)
		h.cfg.Log.Error("webhook not acted on", "key", key, "err", err)
		return http.StatusInternalServerError, outcomeInternal
	}
	if len(recs) > 0 {
		err = h.cfg.Producer.Produce(ctx, recs)
	}
	seen.end(key, f, err)
	if err != nil {
		h.cfg.Log.Warn("webhook not produced; Twilio will retry", "key", key, "err", err)
		return http.StatusServiceUnavailable, outcomeUnavailable
	}
	done()
	return http.StatusOK, outcome
}

// ZonesOf is what texts may name of the zones file f: each zone's ID and name.
func ZonesOf(f *zones.File) []intent.Zone {
	out := make([]intent.Zone, 0, len(f.Zones))
	for _, z := range f.Zones {
		out = append(out, intent.Zone{ID: z.ID, Name: z.Name})
	}
	return out
}
