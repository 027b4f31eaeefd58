package smsout

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/topology"
)

// Kind is the sms kind: send_sms commands in (key = command id), texts out
// through Twilio or the console, its sent log as state (key = command id),
// and optionally the opt-outs table (key phone).
func Kind() kind.Kind {
	return kind.Declare(kind.Decl[Config]{
		Name:     "sms",
		Summary:  "send_sms → Twilio → phones, never twice: each attempt is journaled before the call and reconciled against Twilio's message list after a crash",
		Inputs:   []kind.Port{{Role: "commands", Schemas: []string{"corb.Command"}}},
		Tables:   []kind.Port{{Role: "opt-outs", Schemas: []string{topology.SchemaBytes}, Optional: true}},
		State:    []kind.Port{{Role: "sent log", Schemas: []string{topology.SchemaBytes}}},
		Stateful: true,
		Defaults: DefaultConfig,
		Build:    build,
	})
}

func build(_ context.Context, env kind.Env, op *topology.Operator, cfg Config) (operators.Operator, error) {
	driver := cfg.driver(env.Env)
	var sender sms.Sender
	switch driver {
	case DriverConsole:
		sender = sms.NewConsole(env.Out())
	case DriverTwilio:
		tw, err := cfg.twilio(env)
		if err != nil {
			return nil, err
		}
		sender = tw
	default:
		return nil, fmt.Errorf("$%s %q: want %s or %s", DriverEnv, driver, DriverTwilio, DriverConsole)
	}
	opts := Options{Name: op.Name, State: op.State[0], Sender: sender, Registry: env.Registry, Logger: env.Log}
	if len(op.Tables) > 0 {
		opts.OptOuts = op.Tables[0]
	}
	o, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	env.Logger().Info("sms configured", "operator", op.Name, "driver", driver, "rate", cfg.Rate, "max_attempts", cfg.MaxAttempts)
	return o, nil
}

// twilio is the Twilio sender of the config: credentials from the
// environment, the sender from the config or else the environment.
func (c Config) twilio(env kind.Env) (*sms.Twilio, error) {
	getenv := func(key string) string {
		switch {
		case key == "TWILIO_FROM" && c.From != "":
			return c.From
		case key == "TWILIO_MESSAGING_SERVICE_SID" && c.MessagingServiceSid != "":
			return c.MessagingServiceSid
		}
		return env.Env(key)
	}
	opts := []sms.Option{
		// The Sender's own backoff, with the config's attempts.
		sms.WithRetry(operators.RetryPolicy{MaxAttempts: c.MaxAttempts, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second}),
		sms.WithLogger(env.Logger()),
	}
	if base := env.Env(APIURLEnv); base != "" {
		u, err := url.Parse(base)
		if err == nil {
			err = checkURL(base)
		}
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", APIURLEnv, err)
		}
		opts = append(opts, sms.WithTransport(twiliofake.Rewrite(u, nil)))
		env.Logger().Warn("sms: sending to a fake of Twilio's API, not to Twilio", "url", base)
	}
	return sms.NewTwilioFromEnv(getenv, opts...)
}
