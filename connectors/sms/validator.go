package sms

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/twilio/twilio-go/client"
)

// Errors of Validator.Validate. A webhook server answers the first two with
// 403 and the third with 413, and acts on none of them.
var (
	ErrMissingSignature = errors.New("sms: webhook has no X-Twilio-Signature")
	ErrInvalidSignature = errors.New("sms: webhook signature does not match")
	ErrWebhookTooLarge  = errors.New("sms: webhook body too large")
)

// MaxWebhookBody bounds the body Validate reads. Twilio's messaging webhooks
// are a few kilobytes even with a 1600-character body.
const MaxWebhookBody = 64 << 10

// Validator checks that a webhook request comes from Twilio: its
// X-Twilio-Signature is the HMAC, under the account's auth token, of the URL
// Twilio called and the POST parameters (twilio-go's RequestValidator).
//
// That URL is the public one: behind a proxy or a TLS terminator the server
// sees another scheme and host, and r.URL has neither. So the Validator
// signs the configured public origin followed by the request's own path and
// query, as they came (r.URL.RequestURI(), never re-encoded). The server must
// serve the webhook at the path of its public URL.
type Validator struct {
	rv     client.RequestValidator
	origin string // scheme://host[:port] of the public URL
}

// NewValidator validates webhooks signed with authToken and addressed to
// publicURL (e.g. https://corb.example.com/sms; only its scheme and host are
// used, the path and query are the request's).
func NewValidator(authToken, publicURL string) (*Validator, error) {
	u, err := url.Parse(publicURL)
	switch {
	case authToken == "":
		return nil, errors.New("sms: validator: empty auth token")
	case err != nil:
		return nil, fmt.Errorf("sms: validator: public URL: %w", err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return nil, fmt.Errorf("sms: validator: public URL %q: want http(s)://host/…", publicURL)
	}
	return &Validator{rv: client.NewRequestValidator(authToken), origin: u.Scheme + "://" + u.Host}, nil
}

// Validate checks r's signature and returns its parameters: the form of the
// body, then those of the query. It reads the body (at most MaxWebhookBody)
// before anything parses it, and puts it back, so r.ParseForm still works.
// A JSON body is signed through the URL's bodySHA256 and its digest; its
// parameters are the query's, and the body stays for the caller to decode.
//
// It fails with ErrMissingSignature, ErrInvalidSignature, ErrWebhookTooLarge,
// or an error reading the body.
func (v *Validator) Validate(r *http.Request) (url.Values, error) {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil, ErrMissingSignature
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
		if err != nil {
			return nil, fmt.Errorf("sms: reading webhook: %w", err)
		}
		if len(body) > MaxWebhookBody {
			return nil, fmt.Errorf("%w: over %d bytes", ErrWebhookTooLarge, MaxWebhookBody)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	signed := v.origin + r.URL.RequestURI()
	if !v.rv.ValidateBody(signed, body, sig) {
		return nil, fmt.Errorf("%w for %s", ErrInvalidSignature, signed)
	}
	query := r.URL.Query()
	if query.Has("bodySHA256") {
		return query, nil
	}
	params, err := url.ParseQuery(string(body))
	if err != nil { // ValidateBody parsed it already
		return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	for k, vs := range query {
		params[k] = append(params[k], vs...)
	}
	return params, nil
}
