package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/connectors/dashboard"
	"github.com/corb-dev/corb/operators/admin"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/topology"
)

const defaultDashboardAddr = "127.0.0.1:8088"

func dashboardCommand() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "serve a live web page: frames with boxes and zones, zone states, a timeline, dead letters, the SMS conversation",
		Description: `Serves a web page that shows the pipeline live, read from the topology's topics
alone (read_committed, no consumer group), so it runs anywhere the brokers are
reachable: each camera's latest frame with its person boxes and the zone
outlines over it (frames), each zone's state and count and a timeline of
counts and events (events, occupancy), the dead-letter counts (the on_failure
topics) and the SMS conversation with delivery status (commands, sms-sent,
sms-status). One server-sent-event stream updates it; no reload, nothing from
the internet.

It listens on 127.0.0.1 unless told otherwise. Any other address needs a token
(--token or CORB_DASHBOARD_TOKEN), which every request must then carry: open the
page once as http://HOST:PORT/?token=TOKEN (it keeps it in a cookie), or send
"Authorization: Bearer TOKEN". The page is read-only.

The zones drawn are those of --zones, else of the topology's zones operator
(its zones_file), else $CORB_ZONES, else deploy/zones.yaml.

Examples:
  corb dashboard                                   http://127.0.0.1:8088/
  CORB_DASHBOARD_TOKEN=s3cret corb dashboard --listen :8088`,
		Flags: append([]cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(), adminFlag(":9466"),
			&cli.StringFlag{Name: "listen", Usage: "address to serve the page on (not loopback: --token is required)", Value: defaultDashboardAddr, Sources: cli.EnvVars("CORB_DASHBOARD_LISTEN")},
			&cli.StringFlag{Name: "token", Usage: "token every request must carry (required off loopback)", Sources: cli.EnvVars("CORB_DASHBOARD_TOKEN")},
			&cli.StringFlag{Name: "zones", Usage: "the zones file whose outlines are drawn (default: the topology's zones operator's)"},
			&cli.DurationFlag{Name: "history", Usage: "how far back events, commands and receipts are read at the start", Value: dashboard.DefaultHistory},
		}, logFlags()...),
		Action: runDashboard,
	}
}

func runDashboard(ctx context.Context, cmd *cli.Command) error {
	log, err := newLogger(cmd)
	if err != nil {
		return err
	}
	spec, err := loadTopology(cmd)
	if err != nil {
		return err
	}
	bs := brokers(cmd)
	if len(bs) == 0 {
		return errors.New("no brokers: set --brokers or CORB_BROKERS")
	}
	listen, token := cmd.String("listen"), cmd.String("token")
	if err := dashboard.CheckListen(listen, token); err != nil {
		return err
	}
	reg := newRegistry()
	d, err := newDashboard(spec, bs, dashboardSettings{zones: cmd.String("zones"), token: token,
		history: cmd.Duration("history"), log: log, registry: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	printDashboard(cmd.Root().Writer, ln, token)
	return serveDashboard(ctx, d, ln, func(ctx context.Context) error {
		return admin.New(reg, map[string]admin.Check{"kafka": d.Ready}).Serve(ctx, cmd.String("admin-addr"), log)
	})
}

type dashboardSettings struct {
	zones    string // "" : the topology's zones operator's file
	token    string
	history  time.Duration
	log      *slog.Logger
	registry prometheus.Registerer
}

// newDashboard builds a dashboard over spec's topics on brokers bs.
func newDashboard(spec *topology.Spec, bs []string, s dashboardSettings) (*dashboard.Dashboard, error) {
	path := s.zones
	if path == "" {
		path = topologyZonesFile(spec)
	}
	zf, err := zones.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w (set --zones or %s)", err, zones.FileEnv)
	}
	return dashboard.New(dashboard.Config{Brokers: bs, Namespace: spec.Namespace, Topics: dashboardTopics(spec), Zones: zf,
		Token: s.token, History: s.history, Logger: s.log, Registry: s.registry})
}

// topologyZonesFile is the zones file of spec's first zones operator, as it
// would load it, else $CORB_ZONES, else the default.
func topologyZonesFile(spec *topology.Spec) string {
	var cfg zones.OperatorConfig
	for _, op := range spec.Operators {
		if op.Kind == "zones" && !op.Config.IsZero() {
			if err := op.Config.Decode(&cfg); err == nil { // the topology was validated: it decodes
				break
			}
		}
	}
	return cfg.Path(os.Getenv)
}

// dashboardTopics are the topics of spec the dashboard reads, by the names
// of the default topology; those spec does not have are not read.
func dashboardTopics(spec *topology.Spec) dashboard.Topics {
	topic := func(name string) dashboard.Topic {
		if _, ok := spec.Topic(name); !ok {
			return dashboard.Topic{}
		}
		return dashboard.Topic{Logical: name, Physical: spec.PhysicalName(name)}
	}
	ts := dashboard.Topics{Frames: topic("frames"), Detections: topic("detections"), Events: topic("events"),
		Occupancy: topic("occupancy"), Commands: topic("commands"), SMSSent: topic("sms-sent"), SMSStatus: topic("sms-status")}
	for _, t := range spec.Topics {
		if isDeadLetterTopic(spec, t.Name) {
			ts.DeadLetters = append(ts.DeadLetters, topic(t.Name))
		}
	}
	return ts
}

func printDashboard(w io.Writer, ln net.Listener, token string) {
	u := "http://" + ln.Addr().String() + "/"
	if token != "" {
		u += " (open it once as " + u + "?token=…)"
	}
	fmt.Fprintln(w, "dashboard at "+u)
}

// serveDashboard reads the topics and serves the page on ln, and runs each
// of also, until ctx ends or one of them fails.
func serveDashboard(ctx context.Context, d *dashboard.Dashboard, ln net.Listener, also ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runs := append([]func(context.Context) error{d.Run, func(ctx context.Context) error { return d.Serve(ctx, ln) }}, also...)
	errc := make(chan error, len(runs))
	for _, run := range runs {
		go func() { errc <- run(ctx) }()
	}
	var first error
	for range runs {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// devDashboard starts the dashboard inside corb dev on addr (none when
// empty), or on a free port of its host when addr is taken: a second corb dev
// still gets one. It prints the address; stop ends it and waits.
// listenOrFree listens on addr, or on a free port of its host when addr's
// port is taken: corb dev's pages and webhook need an address, not that one.
func listenOrFree(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	return ln, err
}

func devDashboard(ctx context.Context, addr string, spec *topology.Spec, bs []string, log *slog.Logger, out io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if err := dashboard.CheckListen(addr, ""); err != nil {
		return nil, fmt.Errorf("--dashboard: %w", err)
	}
	d, err := newDashboard(spec, bs, dashboardSettings{log: log})
	if err != nil {
		return nil, err
	}
	ln, err := listenOrFree(addr)
	if err != nil {
		return nil, fmt.Errorf("--dashboard: %w", err)
	}
	printDashboard(out, ln, "")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The pipeline does not depend on its page: a dashboard that fails
		// says so and the run goes on.
		if err := serveDashboard(ctx, d, ln); err != nil {
			log.Error("dashboard stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
