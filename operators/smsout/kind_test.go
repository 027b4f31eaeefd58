package smsout_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/topology"
)

// smsOut is deploy/topology.yaml's sms-out, with config as its config block.
func smsOut(t *testing.T, config string) *topology.Operator {
	t.Helper()
	spec, err := topology.Load("../../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	op, ok := spec.Operator("sms-out")
	if !ok {
		t.Fatal("deploy/topology.yaml has no sms-out")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("{"+config+"}"), &doc); err != nil {
		t.Fatal(err)
	}
	op.Config = topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[sms-out].config")
	return op
}

// build builds sms-out with config in the environment env.
func build(t *testing.T, config string, env map[string]string) (operators.Operator, error) {
	t.Helper()
	return smsout.Kind().Build(context.Background(),
		kind.Env{Log: slog.New(slog.DiscardHandler), Getenv: func(k string) string { return env[k] }}, smsOut(t, config))
}

// credentials is an environment with the fake's account.
func credentials(fake *twiliofake.Server) map[string]string {
	return map[string]string{"TWILIO_ACCOUNT_SID": fake.AccountSid(), "TWILIO_AUTH_TOKEN": fake.AuthToken(),
		smsout.APIURLEnv: fake.URL()}
}

func TestKindRefuses(t *testing.T) {
	tests := []struct {
		name, config string
		env          map[string]string
		want         string
	}{
		{"unknown key", "rates: 2", nil, "rates"},
		{"unknown driver", "driver: pigeon", nil, `driver "pigeon"`},
		{"unknown driver from the environment", "", map[string]string{smsout.DriverEnv: "pigeon"}, `CORB_SMS_DRIVER "pigeon"`},
		{"no attempts", "max_attempts: 0, driver: console", nil, "max_attempts 0"},
		{"no rate", "rate: 0, driver: console", nil, "rate 0"},
		{"a negative rate", "rate: -1, driver: console", nil, "rate -1"},
		{"an infinite rate", "rate: .inf, driver: console", nil, "rate +Inf"},
		{"a relative status callback", "status_callback: /status, driver: console", nil, "status_callback"},
		{"an ftp status callback", "status_callback: 'ftp://x/status', driver: console", nil, "status_callback"},
		{"a service that is not one", "messaging_service_sid: PN123, driver: console", nil, "starts with MG"},
		{"twilio without credentials", "from: '+15005550006'", nil, "TWILIO_ACCOUNT_SID"},
		{"twilio without a sender", "", map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t0k"},
			"TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"},
		{"a fake's URL that is not one", "from: '+15005550006'", map[string]string{"TWILIO_ACCOUNT_SID": "AC1",
			"TWILIO_AUTH_TOKEN": "t0k", smsout.APIURLEnv: "localhost:1234"}, smsout.APIURLEnv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, tc.config, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestKindBuilds(t *testing.T) {
	fake, err := twiliofake.NewServer(twiliofake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	withSender := func(extra map[string]string) map[string]string {
		env := credentials(fake)
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	tests := []struct {
		name, config string
		env          map[string]string
	}{
		{"console", "driver: console", nil},
		{"console from the environment", "", map[string]string{smsout.DriverEnv: "console"}},
		{"twilio from a number of the config", "from: '+15005550006'", credentials(fake)},
		{"twilio from a number of the environment", "", withSender(map[string]string{"TWILIO_FROM": "+15005550006"})},
		{"twilio through a service of the environment", "", withSender(map[string]string{"TWILIO_MESSAGING_SERVICE_SID": "MG0"})},
		{"the config's driver over the environment's", "driver: console", map[string]string{smsout.DriverEnv: "twilio"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := build(t, tc.config, tc.env); err != nil {
				t.Fatalf("Build: %v", err)
			}
		})
	}
}

// The twilio driver, built from the topology and the environment, sends
// to the fake that CORB_TWILIO_API_URL names, with the config's sender and
// status callback.
func TestBuiltTwilioDriverSends(t *testing.T) {
	e := newEnv(t)
	op, err := build(t, "from: '+15005550006', status_callback: 'https://corb.example/sms/status', rate: 100", credentials(e.fake))
	if err != nil {
		t.Fatal(err)
	}
	c := e.command(alice, "Kitchen is free again.", "notify "+alice)
	e.produce(c)
	e.run(op).WaitConsumed()
	e.expectSent(c)
	if sent := e.fake.Sent(); len(sent) == 1 && (sent[0].From != twiliofake.MagicFrom || sent[0].StatusCallback != "https://corb.example/sms/status") {
		t.Errorf("sent from %q with status callback %q", sent[0].From, sent[0].StatusCallback)
	}
}

// A batch is about ten seconds of texts at the rate, within bounds.
func TestMaxBatch(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want int
	}{{1, 10}, {0.05, 1}, {3, 30}, {1000, 50}} {
		cfg := smsout.DefaultConfig()
		cfg.Rate = tc.rate
		op, err := smsout.New(cfg, smsout.Options{State: "sms-sent", Sender: sms.NewConsole(io.Discard)})
		if err != nil {
			t.Fatal(err)
		}
		if got := op.MaxBatch(); got != tc.want {
			t.Errorf("rate %v: MaxBatch %d, want %d", tc.rate, got, tc.want)
		}
	}
}
