package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// Topic is a topic the dashboard reads: its name in the topology, shown on
// the page, and in Kafka. A Topic with an empty Physical name is not read.
type Topic struct {
	Logical, Physical string
}

// Topics are what the dashboard reads, each optional.
type Topics struct {
	Frames     Topic // corb.Frame
	Detections Topic // corb.Detections
	Events     Topic // corb.PresenceEvent: the timeline and the zones' state
	Occupancy  Topic // corb.PresenceEvent, compacted: the zones' state before History
	Commands   Topic // corb.Command: texts in (channel sms) and out (send_sms)
	SMSSent    Topic // the sms operator's sent log (JSON): which MessageSid a send_sms became
	SMSStatus  Topic // Twilio's delivery receipts (JSON)
	// DeadLetters are the on_failure topics, whose records are counted.
	DeadLetters []Topic
}

// Defaults of Config.
const (
	DefaultHistory   = 6 * time.Hour
	DefaultHeartbeat = 15 * time.Second
	// How often the broker is pinged, and how long a ping may take.
	pingEvery   = 2 * time.Second
	pingTimeout = 3 * time.Second
	// How many records per partition of frames and detections are read back
	// at the start: only the newest frames matter.
	framesBack     = 4
	detectionsBack = 16 // transaction markers take offsets too
)

// Config configures a Dashboard.
type Config struct {
	Brokers   []string // required
	Namespace string   // shown on the page
	Topics    Topics
	// Zones are drawn over the frames of their cameras, and listed even
	// before their first event; nil: the zones the events name.
	Zones *zones.File
	// Token, when set, is required of every request (see guard).
	Token string
	// History is how far back (by record time) events, commands and
	// receipts are read at the start; default DefaultHistory.
	History time.Duration
	// Heartbeat is how often an idle event stream gets a comment; default DefaultHeartbeat.
	Heartbeat time.Duration
	// ClientQueue bounds the events waiting for one page; default DefaultClientQueue.
	ClientQueue int
	Logger      *slog.Logger          // default slog.Default()
	Registry    prometheus.Registerer // nil: no metrics registered
	Now         func() time.Time      // default time.Now
	// KafkaOptions are added to the client's options (tests).
	KafkaOptions []kgo.Opt
}

// Dashboard reads the topics (Run) and serves the page (Handler, Serve).
type Dashboard struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	hub     *hub
	kinds   map[string]topicKind // by physical name
	logical map[string]string    // physical → logical

	mu     sync.Mutex // guards status (the hub has its copy for pages)
	status statusMsg
}

type topicKind int

const (
	kindFrames topicKind = iota
	kindDetections
	kindEvents
	kindOccupancy
	kindCommands
	kindSMSSent
	kindSMSStatus
	kindDeadLetter
)

// New checks cfg and returns a dashboard.
func New(cfg Config) (*Dashboard, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("dashboard: no brokers")
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("dashboard metrics: %w", err)
	}
	d := &Dashboard{cfg: cfg, log: cfg.Logger, metrics: m, kinds: map[string]topicKind{}, logical: map[string]string{}}
	t := cfg.Topics
	for _, k := range []struct {
		t    Topic
		kind topicKind
	}{{t.Frames, kindFrames}, {t.Detections, kindDetections}, {t.Events, kindEvents}, {t.Occupancy, kindOccupancy},
		{t.Commands, kindCommands}, {t.SMSSent, kindSMSSent}, {t.SMSStatus, kindSMSStatus}} {
		d.add(k.t, k.kind)
	}
	conf := configMsg{Namespace: cfg.Namespace, Brokers: strings.Join(cfg.Brokers, ","), DeadLetters: []string{}}
	for _, dl := range t.DeadLetters {
		d.add(dl, kindDeadLetter)
		conf.DeadLetters = append(conf.DeadLetters, dl.Logical)
	}
	conf.Zones, conf.Cameras = geometry(cfg.Zones)
	if conf.Zones == nil {
		conf.Zones = []zoneName{}
	}
	if conf.Cameras == nil {
		conf.Cameras = []cameraGeometry{}
	}
	d.status = statusMsg{Brokers: conf.Brokers, Since: cfg.Now().UTC()}
	d.status.Message = bannerText(d.status)
	model := newModel(conf)
	model.status = d.status
	d.hub = newHub(model, cfg.ClientQueue, m)
	return d, nil
}

func (d *Dashboard) add(t Topic, k topicKind) {
	if t.Physical == "" {
		return
	}
	if t.Logical == "" {
		t.Logical = t.Physical
	}
	d.kinds[t.Physical], d.logical[t.Physical] = k, t.Logical
}

// Ready is nil while the broker is reachable: the admin endpoint's readiness.
func (d *Dashboard) Ready() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.status.OK {
		return errors.New(d.status.Message)
	}
	return nil
}

// setStatus changes the status, and so what the banner says, and tells the
// pages when that changed.
func (d *Dashboard) setStatus(fn func(*statusMsg)) {
	d.mu.Lock()
	s := d.status
	fn(&s)
	s.Message = bannerText(s)
	changed := s.OK != d.status.OK || s.Message != d.status.Message
	d.status = s
	d.mu.Unlock()
	if !changed {
		return
	}
	if s.OK {
		d.metrics.kafkaUp.Set(1)
	} else {
		d.metrics.kafkaUp.Set(0)
	}
	d.hub.update(func(m *model) []message {
		m.status = s
		return []message{{key: "status", data: event("status", s)}}
	})
}

// bannerText is what the page says about the broker: "" when all is well.
func bannerText(s statusMsg) string {
	switch {
	case !s.OK && s.err != nil:
		return fmt.Sprintf("Kafka at %s is unreachable since %s; retrying (%v)", s.Brokers,
			s.Since.Local().Format("2006-01-02 15:04:05 MST"), s.err)
	case !s.OK:
		return "Connecting to Kafka at " + s.Brokers + "…"
	case len(s.Missing) > 0:
		return fmt.Sprintf("Not on the cluster at %s (create them with 'corb topology apply'): %s", s.Brokers, strings.Join(s.Missing, ", "))
	}
	return ""
}

// Run reads the topics until ctx ends, retrying while the broker is
// unreachable or a topic is missing. It returns nil when ctx ends.
func (d *Dashboard) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(d.cfg.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxPartitionBytes(8 << 20), // frames are up to 4 MiB
	}, d.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("dashboard: kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { d.watch(ctx, cl) })
	wg.Go(func() { d.assign(ctx, cl) })
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				d.log.Warn("dashboard: reading", "topic", topic, "partition", p, "err", err)
			}
		})
		fs.EachRecord(d.record)
	}
}

// watch pings the broker and keeps the status (and so the banner) true.
func (d *Dashboard) watch(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := cl.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := d.cfg.Now().UTC()
		d.setStatus(func(s *statusMsg) {
			if (err == nil) != s.OK { // a first failure keeps the start: unreachable since then
				s.Since = now
			}
			s.OK, s.err = err == nil, err
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// assign finds where to start reading each topic and adds it to the client,
// retrying the topics that are not on the cluster yet.
func (d *Dashboard) assign(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	pending := map[string]bool{}
	for t := range d.kinds {
		pending[t] = true
	}
	for len(pending) > 0 {
		offsets, missing, err := d.offsets(ctx, adm, pending)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Debug("dashboard: listing offsets", "err", err)
		} else {
			cl.AddConsumePartitions(offsets)
			for t := range offsets {
				delete(pending, t)
			}
			var names []string
			for _, t := range missing {
				names = append(names, d.logical[t])
			}
			d.setStatus(func(s *statusMsg) { s.Missing = names })
		}
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pingEvery):
		}
	}
}

// offsets lists where to start reading each of topics: the last few frames
// and detections, everything of the compacted occupancy view and of the
// dead letters, and History of the rest. Topics not on the cluster are
// returned as missing.
func (d *Dashboard) offsets(ctx context.Context, adm *kadm.Client, topics map[string]bool) (map[string]map[int32]kgo.Offset, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var names []string
	for t := range topics {
		names = append(names, t)
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, nil, err
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, d.cfg.Now().Add(-d.cfg.History).UnixMilli(), names...)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	var missing []string
	for _, t := range names {
		ps := map[int32]kgo.Offset{}
		var failed error
		ends.Each(func(e kadm.ListedOffset) {
			if e.Topic != t {
				return
			}
			s, _ := starts.Lookup(t, e.Partition)
			a, _ := after.Lookup(t, e.Partition)
			if failed = errors.Join(failed, e.Err, s.Err, a.Err); failed != nil {
				return
			}
			var at int64
			switch d.kinds[t] {
			case kindFrames:
				at = max(s.Offset, e.Offset-framesBack)
			case kindDetections:
				at = max(s.Offset, e.Offset-detectionsBack)
			case kindOccupancy, kindDeadLetter:
				at = s.Offset
			default:
				at = max(s.Offset, a.Offset)
			}
			ps[e.Partition] = kgo.NewOffset().At(at)
		})
		switch {
		case errors.Is(failed, kerr.UnknownTopicOrPartition) || failed == nil && len(ps) == 0:
			missing = append(missing, t)
		case failed != nil:
			return nil, nil, fmt.Errorf("topic %s: %w", t, failed)
		default:
			out[t] = ps
		}
	}
	return out, missing, nil
}

// sentEntry is what the dashboard reads of the sms operator's sent log
// (operators/smsout.Entry; its other fields are not needed here).
type sentEntry struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Sid   string `json:"sid"`
}

// receiptRecord is what the dashboard reads of a delivery receipt
// (connectors/sms/inbound.Receipt).
type receiptRecord struct {
	Sid       string `json:"sid"`
	Status    string `json:"status"`
	ErrorCode int    `json:"error_code"`
}

// record folds one record into the model and tells the pages.
func (d *Dashboard) record(r *kgo.Record) {
	kind, ok := d.kinds[r.Topic]
	if !ok {
		return
	}
	logical := d.logical[r.Topic]
	d.metrics.records.WithLabelValues(logical).Inc()
	if r.Value == nil && kind != kindDeadLetter {
		return // a tombstone of a compacted topic
	}
	now := d.cfg.Now()
	var err error
	switch kind {
	case kindFrames:
		var f schemas.Frame
		if err = schemas.Unmarshal(r.Value, &f); err == nil {
			d.hub.update(func(m *model) []message { return frameMessages(m.frame(&f, now)) })
		}
	case kindDetections:
		var det schemas.Detections
		if err = schemas.Unmarshal(r.Value, &det); err == nil {
			d.hub.update(func(m *model) []message { return frameMessages(m.detections(&det, now)) })
		}
	case kindEvents, kindOccupancy:
		var e schemas.PresenceEvent
		if err = schemas.Unmarshal(r.Value, &e); err == nil {
			d.hub.update(func(m *model) []message {
				z, ev := m.event(&e, kind == kindEvents)
				msgs := []message{{key: "zone/" + z.ID, data: event("zone", z)}}
				if ev != nil {
					msgs = append(msgs, message{data: event("event", ev)})
				}
				return msgs
			})
		}
	case kindCommands:
		var c schemas.Command
		if err = schemas.Unmarshal(r.Value, &c); err == nil {
			d.hub.update(func(m *model) []message { return smsMessages(m.command(&c)) })
		}
	case kindSMSSent:
		var e sentEntry
		if err = json.Unmarshal(r.Value, &e); err == nil {
			d.hub.update(func(m *model) []message { return smsMessages(m.sent(e.ID, e.State, e.Sid)) })
		}
	case kindSMSStatus:
		var rc receiptRecord
		if err = json.Unmarshal(r.Value, &rc); err == nil {
			d.hub.update(func(m *model) []message { return smsMessages(m.receipt(rc.Sid, rc.Status, rc.ErrorCode)) })
		}
	case kindDeadLetter:
		h := func(k string) string { v, _ := runtime.Header(r, k); return v }
		d.hub.update(func(m *model) []message {
			dl := m.deadLetter(logical, h(runtime.HeaderReason), h(runtime.HeaderOperator), h(runtime.HeaderError), r.Timestamp)
			return []message{{key: "dlq/" + logical, data: event("dlq", dl)}}
		})
	}
	if err != nil {
		d.metrics.undecodable.WithLabelValues(logical).Inc()
		d.log.Debug("dashboard: undecodable record", "topic", logical, "partition", r.Partition, "offset", r.Offset, "err", err)
	}
}

func frameMessages(fs []frameMsg) []message {
	var out []message
	for _, f := range fs {
		out = append(out, message{key: "frame/" + f.Camera, data: event("frame", f)})
	}
	return out
}

func smsMessages(s *smsMsg) []message {
	if s == nil {
		return nil
	}
	return []message{{key: "sms/" + s.ID, data: event("sms", s)}}
}
