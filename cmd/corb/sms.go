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

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/operators/admin"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// Twilio's own environment variables (twilio-go reads the same).
const (
	envAccountSid = "TWILIO_ACCOUNT_SID"
	envAuthToken  = "TWILIO_AUTH_TOKEN"
)

// defaultWebhookURL is where `corb sms simulate` posts: the webhook of a
// connector started with --listen 127.0.0.1:8080 --public-url this.
const defaultWebhookURL = "http://127.0.0.1:8080/twilio/sms"

// smsCommand is `corb sms`: Twilio's side of talking to Corb by SMS.
func smsCommand() *cli.Command {
	return &cli.Command{
		Name:     "sms",
		Usage:    "talk to Corb by SMS: the Twilio webhook connector, and a phone to try it with",
		Commands: []*cli.Command{smsServeCommand(), smsSimulateCommand()},
	}
}

func smsServeCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve Twilio's messaging webhook: texts become commands on the bus",
		Description: `Serves Twilio's messaging webhook at the path of --public-url, the URL
configured for the number at Twilio (Phone Numbers > Messaging > "A message
comes in", HTTP POST), and Twilio's status callbacks at --status-path. Each
text is checked (X-Twilio-Signature, signed with $` + envAuthToken + ` for
--public-url: behind a proxy, the URL Twilio calls, not the one this server
sees), parsed, authorised against the directory, and put on the topology's
commands topic as a command whose id derives from its MessageSid, so Twilio's
retries change nothing. Twilio is answered within --timeout with an empty
TwiML response; the replies are send_sms commands, sent by the sms-out
operator. Delivery receipts go to the sms-status topic.

Who may do what (the directory, reloaded when it changes): staff STATUS,
SUBSCRIBE, NOTIFY, UNSUBSCRIBE, CLEAN; cleaners STATUS, and DONE for the zones
they clean; admins all; everybody HELP, STOP and START. A number not in the directory gets one polite
reply per --stranger-every that says nothing about the building.

Environment: ` + envAuthToken + ` (required), ` + envAccountSid + ` (when set,
webhooks of another account are refused).

Examples:
  corb sms serve --listen :8080 --public-url https://corb.example.com/twilio/sms
  corb sms serve --listen 127.0.0.1:8080 --public-url ` + defaultWebhookURL,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "address to serve the webhook on", Value: ":8080", Sources: cli.EnvVars("CORB_SMS_LISTEN")},
			&cli.StringFlag{Name: "public-url", Usage: "the webhook's URL as Twilio calls it (required); its path is where the webhook is served", Sources: cli.EnvVars("CORB_SMS_PUBLIC_URL")},
			&cli.StringFlag{Name: "status-path", Usage: "path of Twilio's status callbacks (default: the webhook's path + /status)", Sources: cli.EnvVars("CORB_SMS_STATUS_PATH")},
			&cli.StringFlag{Name: "directory", Usage: "the directory of people who may text Corb", Value: directory.DefaultFile, Sources: cli.EnvVars(directory.FileEnv)},
			&cli.StringFlag{Name: "zones", Usage: "the zones file: the zones texts may name", Value: zones.DefaultFile, Sources: cli.EnvVars(zones.FileEnv)},
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag(":9465"),
			&cli.FloatFlag{Name: "rate", Usage: "commands per minute per sender (then one 'slow down' reply, then silence)", Value: inbound.DefaultCommandsPerMinute},
			&cli.DurationFlag{Name: "stranger-every", Usage: "how often a number not in the directory is answered at most", Value: inbound.DefaultStrangerEvery},
			&cli.IntFlag{Name: "max-concurrent", Usage: "webhooks handled at once at most", Value: inbound.DefaultMaxConcurrent},
			&cli.DurationFlag{Name: "timeout", Usage: "how long a webhook may take, produce included, before a 503", Value: inbound.DefaultTimeout},
			&cli.DurationFlag{Name: "shutdown-timeout", Usage: "how long requests in flight may take to finish at shutdown", Value: 10 * time.Second},
		}, logFlags()...),
		Action: runSMSServe,
	}
}

func runSMSServe(ctx context.Context, cmd *cli.Command) error {
	log, err := newLogger(cmd)
	if err != nil {
		return err
	}
	token := os.Getenv(envAuthToken)
	if token == "" {
		return fmt.Errorf("%s is not set: the account's auth token checks that webhooks come from Twilio", envAuthToken)
	}
	if cmd.String("public-url") == "" {
		return errors.New("--public-url is required: the webhook's URL as configured at Twilio, e.g. https://corb.example.com/twilio/sms")
	}
	spec, commandsTopic, err := busTopic(cmd)
	if err != nil {
		return err
	}
	statusTopic, err := schemaTopic(spec, "sms-status", topology.SchemaBytes)
	if err != nil {
		return err
	}
	zf, err := zones.Load(cmd.String("zones"))
	if err != nil {
		return fmt.Errorf("%w (set --zones or %s)", err, zones.FileEnv)
	}
	dir, err := directory.NewWatcher(cmd.String("directory"), log)
	if err != nil {
		return fmt.Errorf("directory: %w (set --directory or %s)", err, directory.FileEnv)
	}
	timeout := cmd.Duration("timeout")
	p, err := busProducer(cmd, timeout)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmd.Duration("shutdown-timeout"))
		defer cancel()
		if err := p.Close(fctx); err != nil {
			log.Warn("records not flushed at shutdown", "err", err)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = p.Check(cctx, commandsTopic, statusTopic)
	cancel()
	if err != nil {
		return fmt.Errorf("%w (on %s; create the topics with 'corb topology apply')", err, strings.Join(brokers(cmd), ","))
	}
	reg := newRegistry()
	h, err := inbound.New(inbound.Config{
		AuthToken: token, PublicURL: cmd.String("public-url"), StatusPath: cmd.String("status-path"),
		AccountSid: os.Getenv(envAccountSid),
		Producer:   p, CommandsTopic: commandsTopic, StatusTopic: statusTopic,
		Directory: dir.Current, Zones: inbound.ZonesOf(zf),
		Timeout: timeout, MaxConcurrent: cmd.Int("max-concurrent"),
		CommandsPerMinute: cmd.Float("rate"), StrangerEvery: cmd.Duration("stranger-every"),
		Log: log, Registry: reg,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cmd.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second, // a slow body holds a slot no longer than this
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving Twilio's webhook", "listen", ln.Addr().String(), "public_url", cmd.String("public-url"),
		"webhook_path", h.MessagePath(), "status_path", h.StatusPath(), "commands", commandsTopic, "receipts", statusTopic,
		"people", len(dir.Current().People()), "zones", len(zf.Zones))
	return serveUntilDone(ctx, log, srv, ln, cmd.Duration("shutdown-timeout"),
		func(ctx context.Context) error {
			ready := func() error {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return p.Ping(pctx)
			}
			return admin.New(reg, map[string]admin.Check{"kafka": ready}).Serve(ctx, cmd.String("admin-addr"), log)
		},
		func(ctx context.Context) error { return dir.Run(ctx, 2*time.Second) },
	)
}

// serveUntilDone serves srv on ln, and runs each of also, until ctx ends or
// one of them fails; then it shuts srv down within shutdown (requests in
// flight finish) and waits for the others.
func serveUntilDone(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, shutdown time.Duration, also ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(also)+1)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("webhook server: %w", err)
			return
		}
		errc <- nil
	}()
	for _, run := range also {
		go func() { errc <- run(ctx) }()
	}
	var first error
	pending := len(also) + 1
	select {
	case first = <-errc:
		pending--
	case <-ctx.Done():
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdown)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("webhook server: requests cut off at shutdown", "err", err)
		srv.Close()
	}
	for ; pending > 0; pending-- {
		if err := <-errc; first == nil {
			first = err
		}
	}
	return first
}

func smsSimulateCommand() *cli.Command {
	return &cli.Command{
		Name:      "simulate",
		Usage:     "text Corb as a phone would, through a running 'corb sms serve', and print the replies",
		ArgsUsage: "TEXT...",
		Description: `Posts TEXT (the words, joined by spaces) to the webhook of a running connector
(--url) as Twilio would, from --from, signed with $` + envAuthToken + `, with a
new MessageSid. Then reads the topology's commands topic (read_committed) for
the replies — the send_sms commands whose CorrelationID is the id of the text's
inbound command, whoever wrote them — and prints each as "→ PHONE: BODY",
until a second passes without another or --timeout passes without any.
Replies come from the operators (command-handlers, cleaning-report) that must
be running, or from the connector itself (a text it cannot act on).

Examples:
  corb sms simulate --from +15550001 STATUS lobby
  corb sms simulate --from +15550001 "NOTIFY kitchen when free"
  corb sms simulate --from +15550002 --no-wait DONE kitchen`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the phone that texts (E.164; required)", Sources: cli.EnvVars("CORB_SMS_FROM")},
			&cli.StringFlag{Name: "to", Usage: "the building's number it texts", Value: twiliofake.MagicFrom},
			&cli.StringFlag{Name: "url", Usage: "the connector's webhook (its --public-url)", Value: defaultWebhookURL, Sources: cli.EnvVars("CORB_SMS_URL")},
			&cli.StringFlag{Name: "sid", Usage: "the MessageSid (default: a new one; give one again to replay a webhook)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the first reply", Value: 30 * time.Second},
			&cli.BoolFlag{Name: "no-wait", Usage: "post the text and print its command id, without waiting for replies"},
			topologyFlag(), namespaceFlag(), brokersFlag(),
		},
		Action: runSMSSimulate,
	}
}

// replyQuiet is how long simulate waits for another reply after one: a
// text about several zones gets one each.
const replyQuiet = time.Second

func runSMSSimulate(ctx context.Context, cmd *cli.Command) error {
	token := os.Getenv(envAuthToken)
	if token == "" {
		return fmt.Errorf("%s is not set: the webhook must be signed with the connector's auth token", envAuthToken)
	}
	from := cmd.String("from")
	if !directory.ValidPhone(from) {
		return fmt.Errorf("--from %q: want the sender's phone in E.164, e.g. +15550001", from)
	}
	account := os.Getenv(envAccountSid)
	if account == "" {
		account = twiliofake.DefaultAccountSid
	}
	sid := cmd.String("sid")
	if sid == "" {
		sid = "SM" + strings.ToLower(newInvocationID())
	}
	id := schemas.NewCommand("", schemas.Cause{Kind: schemas.CauseSMS, ID: sid}).ID
	text := strings.Join(cmd.Args().Slice(), " ")

	// The reader starts before the post, at a minute ago, so no reply can be
	// missed (and clocks a little apart do not matter: replies are matched by id).
	var replies *kgo.Client
	if !cmd.Bool("no-wait") {
		_, topic, err := busTopic(cmd)
		if err != nil {
			return err
		}
		bs := brokers(cmd)
		if len(bs) == 0 {
			return errors.New("no brokers: set --brokers or CORB_BROKERS to read the replies (or --no-wait)")
		}
		replies, err = kgo.NewClient(kgo.SeedBrokers(bs...), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(time.Now().Add(-time.Minute).UnixMilli())),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		defer replies.Close()
	}

	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := twiliofake.PostWebhook(pctx, http.DefaultClient, token, cmd.String("url"),
		twiliofake.InboundForm(account, twiliofake.Inbound{MessageSid: sid, From: from, To: cmd.String("to"), Body: text}))
	if err != nil {
		return fmt.Errorf("posting to the connector: %w (is 'corb sms serve' running at %s?)", err, cmd.String("url"))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		return fmt.Errorf("the connector refused the signature (403): --url must be its --public-url, and %s its token", envAuthToken)
	default:
		return fmt.Errorf("the connector answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(cmd.Root().ErrWriter, "%s → %s: %q sent as %s, command %s\n", from, cmd.String("to"), text, sid, id)
	if replies == nil {
		_, err := fmt.Fprintln(cmd.Root().Writer, id)
		return err
	}
	return awaitReplies(ctx, replies, id, cmd.Duration("timeout"), cmd.Root().Writer)
}

// awaitReplies prints the send_sms commands of the chain id as they come,
// until replyQuiet passes after one, or timeout before the first.
func awaitReplies(ctx context.Context, cl *kgo.Client, id string, timeout time.Duration, w io.Writer) error {
	deadline := time.Now().Add(timeout)
	printed := map[string]bool{} // a command twice on the bus is one reply
	for {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		for it := fs.RecordIter(); !it.Done(); {
			var c schemas.Command
			if schemas.Unmarshal(it.Next().Value, &c) != nil || c.CommandType != schemas.CommandSendSMS || c.CorrelationID != id || c.SendSMS == nil || printed[c.ID] {
				continue
			}
			printed[c.ID] = true
			if _, err := fmt.Fprintf(w, "→ %s: %s\n", c.SendSMS.To, c.SendSMS.Body); err != nil {
				return err
			}
			deadline = time.Now().Add(replyQuiet)
		}
		if time.Now().After(deadline) {
			if len(printed) == 0 {
				return fmt.Errorf("no reply within %v (are the operators that answer running? 'corb run command-handlers cleaning-report sms-out')", timeout)
			}
			return nil
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				return fmt.Errorf("reading %s[%d]: %w", e.Topic, e.Partition, e.Err)
			}
		}
	}
}
