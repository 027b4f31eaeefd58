package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// devAuthToken signs corb dev's webhooks when TWILIO_AUTH_TOKEN is not set.
// The webhook listens on loopback only, so a well-known token costs nothing.
const devAuthToken = "corb-dev"

// devTexts is corb dev's SMS side: the webhook connector of 'corb sms serve'
// in process, so that the demo's texts take the path a real phone's take
// (signed webhook, directory, parse, commands topic), and anyone can text the
// running demo with 'corb sms simulate'.
type devTexts struct {
	url, token string
	people     *directory.Directory
	stop       func()
}

// startDevTexts serves the webhook on addr (loopback; a free port if taken)
// until stop.
func startDevTexts(ctx context.Context, addr string, spec *topology.Spec, bs []string, getenv func(string) string, log *slog.Logger) (*devTexts, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, fmt.Errorf("--sms-listen: %w", err)
	}
	commands, err := schemaTopic(spec, "commands", (*schemas.Command)(nil).SchemaName())
	if err != nil {
		return nil, err
	}
	status, err := schemaTopic(spec, "sms-status", topology.SchemaBytes)
	if err != nil {
		return nil, err
	}
	zf, err := zones.Load(zones.OperatorConfig{}.Path(getenv))
	if err != nil {
		return nil, fmt.Errorf("%w (set %s)", err, zones.FileEnv)
	}
	dir, err := directory.Load(directory.Path("", getenv))
	if err != nil {
		return nil, fmt.Errorf("directory: %w (set %s)", err, directory.FileEnv)
	}
	p, err := inbound.NewKafkaProducer(bs, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ln, err := listenOrFree(addr)
	if err != nil {
		p.Close(ctx)
		return nil, fmt.Errorf("--sms-listen: %w", err)
	}
	token := os.Getenv(envAuthToken)
	if token == "" {
		token = devAuthToken
	}
	url := "http://" + ln.Addr().String() + "/twilio/sms"
	h, err := inbound.New(inbound.Config{
		AuthToken: token, PublicURL: url, Producer: p, CommandsTopic: commands, StatusTopic: status,
		Directory: func() *directory.Directory { return dir }, Zones: inbound.ZonesOf(zf),
		Timeout: 5 * time.Second, Log: log,
	})
	if err != nil {
		ln.Close()
		p.Close(ctx)
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("sms webhook stopped", "err", err)
		}
	}()
	return &devTexts{url: url, token: token, people: dir, stop: func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
		p.Close(sctx)
	}}, nil
}

// checkLoopback refuses an address that is not on loopback: the demo's
// webhook has a well-known token.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

// text posts body from phone to the webhook as Twilio would.
func (d *devTexts) text(ctx context.Context, from, body string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	form := twiliofake.InboundForm(twiliofake.DefaultAccountSid, twiliofake.Inbound{
		MessageSid: "SM" + strings.ToLower(newInvocationID()), From: from, To: twiliofake.MagicFrom, Body: body})
	resp, err := twiliofake.PostWebhook(ctx, http.DefaultClient, d.token, d.url, form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the webhook answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// names are the directory's people by phone, for the live account.
func (d *devTexts) names() map[string]string {
	if d == nil {
		return nil
	}
	out := map[string]string{}
	for _, p := range d.people.People() {
		out[p.Phone] = p.Name
	}
	return out
}
