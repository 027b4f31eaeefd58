package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corb-dev/corb/operators"
)

// Message is one text to send.
type Message struct {
	To   string // E.164, e.g. +15551230001
	Body string // at most MaxBody; split it with Segments first to choose the parts
	// From or MessagingServiceSid, or both, override the sender's default
	// for this message (with both, Twilio sends from From through the
	// service).
	From                string
	MessagingServiceSid string
	// StatusCallback is the URL Twilio posts delivery receipts to (queued,
	// sent, delivered, undelivered, failed); empty for none.
	StatusCallback string
	// ValidityPeriod drops the message if Twilio cannot hand it on within this
	// long (whole seconds, 1s to 10h); zero leaves Twilio's default.
	ValidityPeriod time.Duration
}

// Sent is a message the provider has, as FindSent finds it.
type Sent struct {
	Sid       string
	Status    string    // queued, sent, delivered, undelivered, failed, …
	ErrorCode int       // Twilio's code for undelivered and failed; 0 otherwise
	Created   time.Time // when the provider accepted it
}

// Sender hands text messages to a carrier. Implementations are safe for
// concurrent use.
type Sender interface {
	// Send asks for m to be delivered and returns the provider's id for it
	// (Twilio's MessageSid).
	//
	//   - nil error: the provider has accepted m; it will attempt delivery
	//     and report how that went later, on m.StatusCallback. Record the sid.
	//   - a *PermanentError (errors.As): the provider refused m and will
	//     refuse it again (an invalid or opted-out recipient, a body it
	//     rejects). Nothing was sent; do not retry; dead-letter with its Code.
	//   - any other error: transient, and Send has already retried as long as
	//     its policy and ctx allow. m may or may not have been accepted (an
	//     answer can be lost after Twilio acted: then the error wraps
	//     ErrOutcomeUnknown), so reconcile with FindSent before sending m again.
	Send(ctx context.Context, m Message) (sid string, err error)

	// FindSent reports whether a message like m (same recipient, body and
	// sender) was accepted at or after since, the time the attempt was
	// recorded: how a sender that crashed between "attempt recorded" and
	// "result recorded" tells whether to send again. An error means it could
	// not tell; do not send then either.
	FindSent(ctx context.Context, m Message, since time.Time) (Sent, bool, error)
}

// PermanentError is a message the provider refused for good, with its code
// (https://www.twilio.com/docs/errors/<Code>).
type PermanentError struct {
	Code    int    // Twilio's error code, e.g. 21211
	Status  int    // the HTTP status of the refusal; 0 when refused before asking Twilio
	Message string // Twilio's explanation
	Err     error  // the underlying error (a *client.TwilioRestError from Twilio)
}

func (e *PermanentError) Error() string {
	reason := e.Message
	if known, ok := permanentReason(e.Code); ok {
		reason = known + ": " + reason
	}
	if e.Status == 0 {
		return fmt.Sprintf("sms: refused with code %d: %s", e.Code, reason)
	}
	return fmt.Sprintf("sms: refused with code %d (HTTP %d): %s", e.Code, e.Status, reason)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Is makes a PermanentError permanent to the operator runtime too
// (operators.IsPermanent): it dead-letters the record rather than retry it.
func (e *PermanentError) Is(target error) bool { return target == operators.ErrPermanent }

// ErrOutcomeUnknown is wrapped by a transient Send error when a request
// reached the provider and its answer was lost, and Send could not find out
// whether the message was accepted.
var ErrOutcomeUnknown = errors.New("sms: outcome unknown: the message may have been sent")

// ErrInvalidMessage is the cause of a PermanentError for a message refused
// before it was sent to Twilio (Status 0), with the code Twilio would give.
var ErrInvalidMessage = errors.New("sms: invalid message")

// checkMessage refuses, with Twilio's own codes, what Twilio would refuse
// of any message: that costs no request and no retries.
func checkMessage(m Message) error {
	refuse := func(code int, msg string) error {
		return &PermanentError{Code: code, Message: msg, Err: ErrInvalidMessage}
	}
	switch n := utf16Len(m.Body); {
	case m.To == "":
		return refuse(21604, "a 'To' phone number is required")
	case strings.TrimSpace(m.Body) == "":
		return refuse(21602, "message body is required")
	case n > MaxBody:
		return refuse(21617, fmt.Sprintf("body of %d characters exceeds the %d character limit", n, MaxBody))
	}
	return nil
}

// permanentReason names Twilio's refusals of a message for good (sms.md).
// Any other 4xx but 429 is permanent too; these say why.
func permanentReason(code int) (string, bool) {
	switch code {
	case 20003:
		return "authentication failed", true
	case 21211:
		return "invalid To number", true
	case 21212:
		return "invalid From number", true
	case 21408:
		return "region not enabled for this account", true
	case 21606:
		return "From number not SMS-capable or not owned", true
	case 21608:
		return "unverified To number (trial account)", true
	case 21610:
		return "recipient opted out (STOP)", true
	case 21612:
		return "To number not reachable", true
	case 21614:
		return "To number not SMS-capable", true
	case 21617:
		return "body over 1600 characters", true
	}
	return "", false
}
