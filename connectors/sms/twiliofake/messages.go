package twiliofake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corb-dev/corb/connectors/sms"
)

const (
	outbound   = "outbound-api"
	inbound    = "inbound"
	apiVersion = "2010-04-01"
)

// Endpoint is the API call a Fault applies to.
type Endpoint int

const (
	Create Endpoint = iota + 1 // POST …/Messages.json
	List                       // GET …/Messages.json
	Fetch                      // GET …/Messages/{sid}.json
)

// Fault is how the fake fails one request instead of answering it.
type Fault struct {
	Status     int    // HTTP status
	Code       int    // Twilio code in the JSON error body
	Message    string // its message
	RetryAfter string // the Retry-After header, if any
	HTML       bool   // answer an HTML page, as a load balancer in front of Twilio does
	// Drop closes the connection without an answer; with AfterCreate the
	// message is created first, so the client cannot know it was sent.
	Drop        bool
	AfterCreate bool
}

// ServerError is Twilio's 500.
func ServerError() Fault {
	return Fault{Status: http.StatusInternalServerError, Code: 20500, Message: "An internal server error has occurred"}
}

// TooManyRequests is Twilio's 429 (code 20429) with a Retry-After header
// ("2", or an HTTP date; empty for none).
func TooManyRequests(retryAfter string) Fault {
	return Fault{Status: http.StatusTooManyRequests, Code: 20429, Message: "Too Many Requests", RetryAfter: retryAfter}
}

// Unavailable is a 503 with an HTML body, not Twilio's JSON.
func Unavailable() Fault { return Fault{Status: http.StatusServiceUnavailable, HTML: true} }

// LostAnswer creates the message and drops the connection before answering.
func LostAnswer() Fault { return Fault{Drop: true, AfterCreate: true} }

// FailNext makes the next n requests to e fail with f (after those queued
// before). AfterCreate means something only for Create.
func (s *Server) FailNext(e Endpoint, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[e] = append(s.faults[e], f)
	}
}

func (s *Server) nextFault(e Endpoint) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[e]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[e] = q[1:]
	return q[0], true
}

func fail(w http.ResponseWriter, f Fault) {
	if f.Drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.HTML {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		text := http.StatusText(f.Status)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%[1]d %[2]s</h1></body></html>\n", f.Status, text)
		return
	}
	writeError(w, f.Status, f.Code, f.Message)
}

// writeError answers as Twilio does (client.TwilioRestError's fields).
func writeError(w http.ResponseWriter, status, code int, message string) {
	body := map[string]any{"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	f, faulty := s.nextFault(Create)
	if faulty && !f.AfterCreate {
		fail(w, f)
		return
	}
	m, code, msg := s.newMessage(r.PostForm)
	if code != 0 {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	if faulty {
		fail(w, f)
		return
	}
	writeJSON(w, http.StatusCreated, s.wire(m))
}

// newMessage checks a create request as Twilio does, and creates the
// message, or returns Twilio's code and message for the refusal.
func (s *Server) newMessage(form url.Values) (Message, int, string) {
	to, from, service := form.Get("To"), form.Get("From"), form.Get("MessagingServiceSid")
	body, callback := form.Get("Body"), form.Get("StatusCallback")
	switch {
	case to == "":
		return Message{}, 21604, "A 'To' phone number is required."
	case from == "" && service == "":
		return Message{}, 21603, "A 'From' phone number is required."
	case body == "":
		return Message{}, 21602, "Message body is required."
	case utf8.RuneCountInString(body) > sms.MaxBody:
		return Message{}, 21617, "The concatenated message body exceeds the 1600 character limit."
	case !e164(to):
		return Message{}, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	}
	if code, msg := magicTo(to); code != 0 {
		return Message{}, code, msg
	}
	if from != "" {
		if code, msg := s.checkFrom(from); code != 0 {
			return Message{}, code, msg
		}
	}
	if callback != "" {
		if u, err := url.Parse(callback); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			return Message{}, 21609, "Invalid StatusCallback url: " + callback
		}
	}
	validity := 0
	if v := form.Get("ValidityPeriod"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			return Message{}, 90014, "Validity Period should be positive integer"
		case n > 36000:
			return Message{}, 90007, "Invalid validity period value"
		}
		validity = n
	}

	s.mu.Lock()
	if code, ok := s.refusals[to]; ok {
		s.mu.Unlock()
		return Message{}, code, "Refused by twiliofake for " + to
	}
	if s.optedOut[to] {
		s.mu.Unlock()
		return Message{}, 21610, "Attempt to send to unsubscribed recipient"
	}
	now := s.cfg.Now()
	m := &Message{
		Sid: newSid(), Direction: outbound, From: from, To: to, Body: body,
		MessagingServiceSid: service, StatusCallback: callback, ValidityPeriod: validity,
		Status: "queued", Created: now, Updated: now,
	}
	if service != "" {
		// A service picks the sender later: no From and no segments yet.
		m.Status = "accepted"
	} else {
		_, m.NumSegments = sms.Count(body)
	}
	s.messages = append(s.messages, m)
	snapshot := *m
	if s.cfg.Hold {
		s.held = append(s.held, m)
	}
	s.mu.Unlock()
	if !s.cfg.Hold {
		s.startLifecycle(m)
	}
	return snapshot, 0, ""
}

// e164 reports whether n is +, a digit 1-9 and up to 14 more digits.
func e164(n string) bool {
	if len(n) < 3 || len(n) > 16 || n[0] != '+' || n[1] == '0' {
		return false
	}
	for _, c := range n[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// magicTo is Twilio's test inputs for To.
func magicTo(to string) (int, string) {
	switch to {
	case "+15005550001":
		return 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case "+15005550002":
		return 21612, fmt.Sprintf("The 'To' phone number: %s, is not currently reachable via SMS.", to)
	case "+15005550003":
		return 21408, fmt.Sprintf("Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %s.", to)
	case "+15005550004":
		return 21610, "Attempt to send to unsubscribed recipient"
	case "+15005550009":
		return 21614, fmt.Sprintf("'To' number %s is not a valid mobile number", to)
	}
	return 0, ""
}

// checkFrom is Twilio's test inputs for From, then the account's numbers.
func (s *Server) checkFrom(from string) (int, string) {
	notOurs := fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", from)
	switch from {
	case MagicFrom:
		return 0, ""
	case "+15005550001":
		return 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from)
	case "+15005550007":
		return 21606, notOurs
	case "+15005550008":
		return 21611, "This 'From' number has exceeded the maximum number of queued messages"
	}
	if slices.Contains(s.cfg.Numbers, from) {
		return 0, ""
	}
	return 21606, notOurs
}

// startLifecycle moves m through its statuses in the background, unless
// the server is closing.
func (s *Server) startLifecycle(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.lifecycles.Add(1)
	go func() {
		defer s.lifecycles.Done()
		s.lifecycle(m)
	}()
}

// lifecycle is what Twilio does with a message after accepting it:
// (accepted →) queued → sent → delivered, or → undelivered with a code, or
// queued → failed with a code, posting a status callback at each step.
func (s *Server) lifecycle(m *Message) {
	s.mu.Lock()
	end := s.deliveries[m.To]
	s.mu.Unlock()
	if end.status == "" {
		end.status = "delivered"
	}
	steps := []string{m.Status}
	if m.Status == "accepted" {
		steps = append(steps, "queued")
	}
	if end.status != "failed" {
		steps = append(steps, "sent")
	}
	steps = append(steps, end.status)
	for _, status := range steps {
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		now := s.cfg.Now()
		m.Status, m.Updated = status, now
		switch status {
		case "sent":
			m.DateSent = now
			if m.From == "" {
				m.From = s.sender()
				_, m.NumSegments = sms.Count(m.Body)
			}
		case "undelivered", "failed":
			m.ErrorCode = end.code
		}
		snapshot := *m
		s.mu.Unlock()
		if snapshot.StatusCallback != "" && status != "accepted" {
			s.postCallback(snapshot)
		}
	}
}

// sender is the number a Messaging Service sends from.
func (s *Server) sender() string {
	if len(s.cfg.Numbers) > 0 {
		return s.cfg.Numbers[0]
	}
	return MagicFrom
}

func (s *Server) postCallback(m Message) {
	params := url.Values{
		"AccountSid": {s.cfg.AccountSid}, "ApiVersion": {apiVersion},
		"MessageSid": {m.Sid}, "SmsSid": {m.Sid},
		"MessageStatus": {m.Status}, "SmsStatus": {m.Status},
		"To": {m.To}, "From": {m.From},
	}
	if m.MessagingServiceSid != "" {
		params.Set("MessagingServiceSid", m.MessagingServiceSid)
	}
	if m.ErrorCode != 0 {
		params.Set("ErrorCode", strconv.Itoa(m.ErrorCode))
	}
	cb := Callback{URL: m.StatusCallback, Params: params}
	resp, err := PostWebhook(s.ctx, s.cfg.Client, s.cfg.AuthToken, m.StatusCallback, params)
	if err != nil {
		cb.Err = err
	} else {
		cb.Status = resp.StatusCode
		resp.Body.Close()
	}
	s.mu.Lock()
	s.callbacks = append(s.callbacks, cb)
	s.mu.Unlock()
}

// list answers GET Messages.json: filtered by To, From and DateSent (a UTC
// day, or on/before and on/after it with DateSent< and DateSent>), newest
// first — messages not sent yet (no date_sent) first, and left out by any
// DateSent filter — in pages of PageSize (default 50, at most 1000) reached
// by the next_page_uri twilio-go follows.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.nextFault(List); ok {
		fail(w, f)
		return
	}
	q := r.URL.Query()
	filters := url.Values{}
	for _, k := range []string{"To", "From", "DateSent", "DateSent<", "DateSent>"} {
		if q.Has(k) {
			filters.Set(k, q.Get(k))
		}
	}
	var days [3]time.Time // on, on or before, on or after
	for i, k := range []string{"DateSent", "DateSent<", "DateSent>"} {
		if !filters.Has(k) {
			continue
		}
		day, ok := parseDay(filters.Get(k))
		if !ok {
			writeError(w, http.StatusBadRequest, 0, "Invalid "+k+": "+filters.Get(k))
			return
		}
		days[i] = day
	}
	pageSize := 50
	if v, err := strconv.Atoi(q.Get("PageSize")); err == nil {
		pageSize = min(max(v, 1), 1000)
	}
	page, _ := strconv.Atoi(q.Get("Page"))
	page = max(page, 0)

	var found []Message
	s.mu.Lock()
	for _, m := range slices.Backward(s.messages) { // newest first among equals
		if matches(m, filters, days) {
			found = append(found, *m)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(found, func(a, b Message) int {
		if a.DateSent.IsZero() || b.DateSent.IsZero() {
			return boolOrder(!a.DateSent.IsZero(), !b.DateSent.IsZero())
		}
		return b.DateSent.Compare(a.DateSent)
	})

	start := min(page*pageSize, len(found))
	if token := q.Get("PageToken"); strings.HasPrefix(token, "PA") {
		// After the token's message, so pages do not shift as messages arrive.
		if i := slices.IndexFunc(found, func(m Message) bool { return m.Sid == token[2:] }); i >= 0 {
			start = i + 1
		}
	}
	items := found[start:min(start+pageSize, len(found))]
	p := wirePage{
		FirstPageURI: pageURI(r.URL.Path, filters, pageSize, 0, ""),
		URI:          pageURI(r.URL.Path, filters, pageSize, page, q.Get("PageToken")),
		Page:         page, PageSize: pageSize, Start: start, End: start + max(len(items)-1, 0),
		Messages: make([]wireMessage, 0, len(items)),
	}
	for _, m := range items {
		p.Messages = append(p.Messages, s.wire(m))
	}
	if start+len(items) < len(found) {
		next := pageURI(r.URL.Path, filters, pageSize, page+1, "PA"+items[len(items)-1].Sid)
		p.NextPageURI = &next
	}
	if page > 0 {
		prev := pageURI(r.URL.Path, filters, pageSize, page-1, "")
		p.PreviousPageURI = &prev
	}
	writeJSON(w, http.StatusOK, p)
}

// boolOrder sorts false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func matches(m *Message, filters url.Values, days [3]time.Time) bool {
	if filters.Has("To") && m.To != filters.Get("To") || filters.Has("From") && m.From != filters.Get("From") {
		return false
	}
	if days == [3]time.Time{} {
		return true
	}
	if m.DateSent.IsZero() {
		return false
	}
	day := m.DateSent.UTC().Truncate(24 * time.Hour)
	on, before, after := days[0], days[1], days[2]
	return (on.IsZero() || day.Equal(on)) && (before.IsZero() || !day.After(before)) && (after.IsZero() || !day.Before(after))
}

// parseDay reads a DateSent value: YYYY-MM-DD as documented, or the RFC 3339
// time twilio-go sends, taken as its UTC day.
func parseDay(v string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC().Truncate(24 * time.Hour), true
	}
	return time.Time{}, false
}

func pageURI(path string, filters url.Values, pageSize, page int, token string) string {
	v := url.Values{}
	for k, vs := range filters {
		v[k] = vs
	}
	v.Set("PageSize", strconv.Itoa(pageSize))
	v.Set("Page", strconv.Itoa(page))
	if token != "" {
		v.Set("PageToken", token)
	}
	return path + "?" + v.Encode()
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.nextFault(Fetch); ok {
		fail(w, f)
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	s.mu.Lock()
	i := slices.IndexFunc(s.messages, func(m *Message) bool { return ok && m.Sid == sid })
	var m Message
	if i >= 0 {
		m = *s.messages[i]
	}
	s.mu.Unlock()
	if i < 0 {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, s.wire(m))
}

// wireMessage is a Message resource as Twilio's JSON has it: every field
// present, null where unset, counts as strings, dates in RFC 2822.
type wireMessage struct {
	AccountSid          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	Sid                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

type wirePage struct {
	FirstPageURI    string        `json:"first_page_uri"`
	End             int           `json:"end"`
	PreviousPageURI *string       `json:"previous_page_uri"`
	Messages        []wireMessage `json:"messages"`
	URI             string        `json:"uri"`
	PageSize        int           `json:"page_size"`
	Start           int           `json:"start"`
	NextPageURI     *string       `json:"next_page_uri"`
	Page            int           `json:"page"`
}

func (s *Server) wire(m Message) wireMessage {
	orNull := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	date := func(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }
	base := fmt.Sprintf("/%s/Accounts/%s/Messages/%s", apiVersion, s.cfg.AccountSid, m.Sid)
	w := wireMessage{
		AccountSid: s.cfg.AccountSid, APIVersion: apiVersion, Body: m.Body,
		DateCreated: date(m.Created), DateUpdated: date(m.Updated), Direction: m.Direction,
		From: orNull(m.From), MessagingServiceSid: orNull(m.MessagingServiceSid),
		NumMedia: "0", NumSegments: strconv.Itoa(m.NumSegments), PriceUnit: "USD",
		Sid: m.Sid, Status: m.Status, To: m.To, URI: base + ".json",
		SubresourceURIs: map[string]string{"media": base + "/Media.json", "feedback": base + "/Feedback.json"},
	}
	if !m.DateSent.IsZero() {
		w.DateSent = orNull(date(m.DateSent))
	}
	if m.ErrorCode != 0 {
		w.ErrorCode = &m.ErrorCode
	}
	return w
}
