package twiliofake

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/corb-dev/corb/connectors/sms"
)

// Inbound is a text someone sends to one of the account's numbers.
type Inbound struct {
	// MessageSid is new (SM…) when empty; send the same one again to replay
	// the webhook, as Twilio does when it retries.
	MessageSid          string
	From                string // the sender's phone
	To                  string // the account's number (default: Config.Numbers[0], or MagicFrom)
	Body                string
	MessagingServiceSid string // when the number belongs to a Messaging Service
}

// InboundForm is the form of Twilio's messaging webhook for m: MessageSid
// (and its old names SmsSid, SmsMessageSid), AccountSid, From, To, Body,
// NumMedia, NumSegments, SmsStatus and ApiVersion.
func InboundForm(accountSid string, m Inbound) url.Values {
	_, segments := sms.Count(m.Body)
	v := url.Values{
		"MessageSid": {m.MessageSid}, "SmsSid": {m.MessageSid}, "SmsMessageSid": {m.MessageSid},
		"AccountSid": {accountSid}, "From": {m.From}, "To": {m.To}, "Body": {m.Body},
		"NumMedia": {"0"}, "NumSegments": {strconv.Itoa(segments)},
		"SmsStatus": {"received"}, "ApiVersion": {apiVersion},
	}
	if m.MessagingServiceSid != "" {
		v.Set("MessagingServiceSid", m.MessagingServiceSid)
	}
	return v
}

// SendInbound delivers m to the webhook at webhookURL as Twilio would,
// signed with the account's token, and keeps it among the account's
// messages. A whole-message opt-out keyword (STOP, UNSUBSCRIBE, END, QUIT,
// STOPALL, REVOKE, OPTOUT, CANCEL; any case) opts m.From out, as Twilio
// does before the webhook, and START, YES or UNSTOP opts it back in. The
// caller closes the response body.
func (s *Server) SendInbound(ctx context.Context, webhookURL string, m Inbound) (*http.Response, error) {
	if m.MessageSid == "" {
		m.MessageSid = newSid()
	}
	if m.To == "" {
		m.To = s.sender()
	}
	switch strings.ToUpper(strings.TrimSpace(m.Body)) {
	case "STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL":
		s.OptOut(m.From)
	case "START", "YES", "UNSTOP":
		s.OptIn(m.From)
	}
	s.mu.Lock()
	known := false
	for _, old := range s.messages {
		known = known || old.Sid == m.MessageSid
	}
	if !known {
		now := s.cfg.Now()
		_, segments := sms.Count(m.Body)
		s.messages = append(s.messages, &Message{
			Sid: m.MessageSid, Direction: inbound, From: m.From, To: m.To, Body: m.Body,
			MessagingServiceSid: m.MessagingServiceSid, Status: "received", NumSegments: segments,
			Created: now, Updated: now, DateSent: now,
		})
	}
	s.mu.Unlock()
	return PostWebhook(ctx, s.cfg.Client, s.cfg.AuthToken, webhookURL, InboundForm(s.cfg.AccountSid, m))
}
