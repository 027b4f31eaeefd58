package smsout

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
)

// Drivers: what hands the texts on.
const (
	DriverTwilio  = "twilio"  // Twilio's REST API, through twilio-go
	DriverConsole = "console" // prints each text to stdout instead: corb dev
)

// Environment variables the kind reads.
const (
	// DriverEnv names the driver when the config does not (corb dev sets
	// console).
	DriverEnv = "CORB_SMS_DRIVER"
	// APIURLEnv, for tests and fakes only, is the base URL of a fake of
	// Twilio's API (connectors/sms/twiliofake) that the twilio driver sends
	// to instead of https://api.twilio.com.
	APIURLEnv = "CORB_TWILIO_API_URL"
)

// Config is the sms kind's config, as written under an operator's `config:`
// in the topology. Every key is optional. Twilio's credentials are never in
// the topology: they come from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.
type Config struct {
	// Driver is DriverTwilio or DriverConsole; "" means $CORB_SMS_DRIVER,
	// then twilio.
	Driver string `yaml:"driver" default:"$CORB_SMS_DRIVER, else twilio" doc:"twilio sends through Twilio's API (credentials from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); console prints each text to stdout instead, for corb dev"`
	// From and MessagingServiceSid are the sender; "" means the
	// environment's. The twilio driver needs one of them.
	From                string `yaml:"from" default:"$TWILIO_FROM" doc:"the account's number texts are sent from (E.164)"`
	MessagingServiceSid string `yaml:"messaging_service_sid" default:"$TWILIO_MESSAGING_SERVICE_SID" doc:"the Messaging Service (MG…) that sends: it picks the number, and Advanced Opt-Out needs it; with from as well, Twilio sends from that number through the service"`
	// StatusCallback is where Twilio posts delivery receipts.
	StatusCallback string `yaml:"status_callback" doc:"the URL Twilio posts delivery receipts to (corb sms serve's status endpoint); none when empty"`
	// MaxAttempts bounds the tries of one Twilio call.
	MaxAttempts int `yaml:"max_attempts" doc:"tries of one Twilio call, the first included: 429 (after its Retry-After), 5xx and network errors are retried with backoff, then the send_sms is dead-lettered as exhausted"`
	// Rate is how many texts a second are handed to Twilio at most.
	Rate float64 `yaml:"rate" doc:"texts handed to Twilio per second at most, per instance: 1 is what a US long code sends, and Twilio would only queue the rest; raise it for a Messaging Service with several numbers, toll-free (3) or a short code (100)"`
}

// DefaultConfig is the config an empty block gives.
func DefaultConfig() Config { return Config{MaxAttempts: 5, Rate: 1} }

// Validate checks the values of the config alone; credentials and senders
// from the environment are checked when the operator is built.
func (c Config) Validate() error {
	var errs []error
	switch c.Driver {
	case "", DriverTwilio, DriverConsole:
	default:
		errs = append(errs, fmt.Errorf("driver %q: want %s or %s", c.Driver, DriverTwilio, DriverConsole))
	}
	if c.MessagingServiceSid != "" && !strings.HasPrefix(c.MessagingServiceSid, "MG") {
		errs = append(errs, fmt.Errorf("messaging_service_sid %q: a Messaging Service's sid starts with MG", c.MessagingServiceSid))
	}
	if c.StatusCallback != "" {
		if err := checkURL(c.StatusCallback); err != nil {
			errs = append(errs, fmt.Errorf("status_callback: %w", err))
		}
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max_attempts %d: at least 1", c.MaxAttempts))
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 1) {
		errs = append(errs, fmt.Errorf("rate %v: want a number of texts a second above 0", c.Rate))
	}
	return errors.Join(errs...)
}

// driver is the driver the config selects in getenv's environment.
func (c Config) driver(getenv func(string) string) string {
	if c.Driver != "" {
		return c.Driver
	}
	if d := strings.TrimSpace(getenv(DriverEnv)); d != "" {
		return d
	}
	return DriverTwilio
}

// checkURL accepts an absolute http or https URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http or https URL", s)
	}
	return nil
}
