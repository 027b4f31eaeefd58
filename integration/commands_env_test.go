//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/presence"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// The building of the command tests: zones and people of their own, each
// subtest with its own zone and phones so that they do not see each other.
const cmdZones = `zones:
  - {id: kitchen, name: Kitchen, cameras: [{camera: cam-kitchen, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}
  - {id: lobby, name: Lobby, cameras: [{camera: cam-lobby, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}
  - {id: pantry, name: Pantry, cameras: [{camera: cam-pantry, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}
  - {id: garage, name: Garage, cameras: [{camera: cam-garage, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}
  - {id: attic, name: Attic, cameras: [{camera: cam-attic, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}
`

// cmdZoneNames are cmdZones' zones in file order (STATUS lists them so).
var cmdZoneNames = [][2]string{{"kitchen", "Kitchen"}, {"lobby", "Lobby"}, {"pantry", "Pantry"}, {"garage", "Garage"}, {"attic", "Attic"}}

const (
	phoneAda  = "+15550101" // staff: subscribes to the kitchen
	phoneBea  = "+15550102" // staff: asks for status
	phoneCal  = "+15550103" // cleaner of the pantry
	phoneDot  = "+15550104" // staff: the webhook's refusals and replays
	phoneEve  = "+15550105" // staff: STOP and START
	phoneStr  = "+15550999" // not in the directory
	phoneFay  = "+15550106" // texted by send_sms commands alone
	phoneBad  = "+15005550001"
	cmdPeople = `people:
  - {phone: "` + phoneAda + `", name: Ada, roles: [staff]}
  - {phone: "` + phoneBea + `", name: Bea, roles: [staff]}
  - {phone: "` + phoneCal + `", name: Cal, roles: [cleaner], zones: [pantry]}
  - {phone: "` + phoneDot + `", name: Dot, roles: [staff]}
  - {phone: "` + phoneEve + `", name: Eve, roles: [staff]}
`
)

// publicURL is the webhook's URL as Twilio would call it: what is signed.
// corb sms serve listens elsewhere (a port it picks, read from its log),
// as behind a proxy.
const publicURL = "https://sms.corb.test/twilio/sms"

// cmdEnv is the command half of the default topology in a namespace of its
// own on the real broker: rules in a process of its own (to be killed),
// command-handlers, cleaning-report and sms-out in another, corb sms serve,
// and a fake Twilio that sms-out texts through.
//
// Its methods fail t, the test or subtest using it (in); the processes
// belong to root, the test that started them.
type cmdEnv struct {
	t, root  *testing.T
	brokers  []string
	spec     *topology.Spec
	topology string
	fake     *twiliofake.Server
	webhook  *http.Client // to corb sms serve's address, whatever the URL's host
	adm      *kadm.Client
	producer *kgo.Client

	procs *cmdProcs // shared by the copies of in
}

type cmdProcs struct {
	rules, handlers, serve *proc
	rulesRuns              int
}

// in is e for the subtest t.
func (e *cmdEnv) in(t *testing.T) *cmdEnv {
	c := *e
	c.t = t
	return &c
}

func newCmdEnv(t *testing.T) *cmdEnv {
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "cmd")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := write("topology.yaml", string(commandTopology(t, ns)))
	spec, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	fake := twiliofake.Start(t, twiliofake.Config{})

	// The processes inherit these: the fake's account, the files, UTC for
	// the times in texts.
	t.Setenv("TWILIO_ACCOUNT_SID", fake.AccountSid())
	t.Setenv("TWILIO_AUTH_TOKEN", fake.AuthToken())
	t.Setenv("TWILIO_FROM", twiliofake.MagicFrom)
	t.Setenv("TWILIO_MESSAGING_SERVICE_SID", "")
	t.Setenv(smsout.APIURLEnv, fake.URL())
	t.Setenv(smsout.DriverEnv, "")
	t.Setenv(zones.FileEnv, write("zones.yaml", cmdZones))
	t.Setenv(directory.FileEnv, write("directory.yaml", cmdPeople))
	t.Setenv("TZ", "UTC")

	applyTopology(t, brokers, file, "")
	e := &cmdEnv{t: t, root: t, brokers: brokers, spec: spec, topology: file, fake: fake,
		adm: kadm.NewClient(kafkatest.NewClient(t, brokers)), producer: kafkatest.NewClient(t, brokers), procs: &cmdProcs{}}
	e.startRules()
	e.procs.handlers = startCorb(t, "handlers", "run", "--topology", file, "--brokers", brokers[0], "--instance", "0",
		"--admin-addr", "", "--shutdown-timeout", "5s", "command-handlers", "cleaning-report", "sms-out")
	// A generous rate and timeout: neither is under test, and 2 busy cores
	// must not turn a text into a 503.
	e.procs.serve = startCorb(t, "sms-serve", "sms", "serve", "--topology", file, "--brokers", brokers[0],
		"--listen", "127.0.0.1:0", "--public-url", publicURL, "--admin-addr", "", "--rate", "600", "--timeout", "5s")
	addr := e.listenAddr()
	e.webhook = &http.Client{Timeout: 10 * time.Second, Transport: toAddr{addr}}
	return e
}

// commandTopology is deploy/topology.yaml in namespace ns, with a cleaning
// policy a test reaches in two visits, no cooldown (which would hold back a
// redelivered event's second text by itself: the test is of rules' state),
// and sms-out sending 20 texts a second.
func commandTopology(t *testing.T, ns string) []byte {
	b, err := os.ReadFile("../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	setKey(root, "namespace", ns)
	found := map[string]bool{}
	for _, op := range lookupKey(root, "operators").Content {
		name := lookupKey(op, "name").Value
		switch name {
		case "rules":
			cfg := lookupKey(op, "config")
			if cfg == nil {
				t.Fatal("deploy/topology.yaml: the rules operator has no config to lower the policy of")
			}
			setKey(cfg, "cooldown", "0s")
			setKey(cfg, "visits", "2")
			deleteKey(cfg, "person_minutes")
			deleteKey(cfg, "hours_occupied")
		case "sms-out":
			cfg := lookupKey(op, "config")
			if cfg == nil {
				cfg = &yaml.Node{Kind: yaml.MappingNode}
				op.Content = append(op.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "config"}, cfg)
			}
			setKey(cfg, "rate", "20")
		}
		found[name] = true
	}
	for _, name := range []string{"rules", "command-handlers", "cleaning-report", "sms-out"} {
		if !found[name] {
			t.Fatalf("deploy/topology.yaml has no operator %s", name)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lookupKey(m *yaml.Node, key string) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key, value string) {
	if v := lookupKey(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Content = yaml.ScalarNode, "", value, nil
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

// startRules starts rules, always as instance 0: a restart fences the
// transactions of the one before.
func (e *cmdEnv) startRules() {
	e.procs.rules = startCorb(e.root, fmt.Sprintf("rules/%d", e.procs.rulesRuns), "run", "--topology", e.topology, "--brokers", e.brokers[0],
		"--instance", "0", "--admin-addr", "", "--shutdown-timeout", "5s", "rules")
	e.procs.rulesRuns++
}

// alive is an error wrapping kafkatest.ErrGiveUp, with the process's log,
// once one of the processes has stopped.
func (e *cmdEnv) alive() error {
	for _, p := range []*proc{e.procs.rules, e.procs.handlers, e.procs.serve} {
		if err := p.exited(); err != nil {
			return fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
	}
	return nil
}

var listenRE = regexp.MustCompile(`serving Twilio's webhook.* listen=(\S+)`)

// listenAddr is where corb sms serve listens, from its log.
func (e *cmdEnv) listenAddr() string {
	var addr string
	kafkatest.WaitFor(e.t, time.Minute, func() (bool, error) {
		if err := e.procs.serve.exited(); err != nil {
			return false, fmt.Errorf("%w: %v", kafkatest.ErrGiveUp, err)
		}
		m := listenRE.FindStringSubmatch(e.procs.serve.log.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil, nil
	})
	return addr
}

// toAddr sends every request to addr, keeping its URL otherwise: a proxy in
// front of corb sms serve.
type toAddr struct{ addr string }

func (a toAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host = "http", a.addr
	return http.DefaultTransport.RoundTrip(out)
}

func (e *cmdEnv) topic(name string) string { return e.spec.Names().Topic(name) }

func newMessageSid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "SM" + hex.EncodeToString(b)
}

// inboundID is the id of the command a text with MessageSid sid becomes.
func inboundID(sid string) string {
	return schemas.NewCommand("", schemas.Cause{Kind: schemas.CauseSMS, ID: sid}).ID
}

// replyID is the id of the reply (purpose "reply", or a confirmation's) to
// the command id.
func replyID(id, purpose string) string {
	return (&schemas.Command{ID: id}).Child(schemas.CommandSendSMS, purpose).ID
}

// form is Twilio's webhook of a text from from.
func (e *cmdEnv) form(sid, from, body string) url.Values {
	return twiliofake.InboundForm(e.fake.AccountSid(), twiliofake.Inbound{MessageSid: sid, From: from, To: twiliofake.MagicFrom, Body: body})
}

// post posts a webhook signed with signature ("" for none) and returns the
// answer's status.
func (e *cmdEnv) post(form url.Values, signature string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, publicURL, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := e.webhook.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postSigned posts form as Twilio does (twiliofake.PostWebhook) and
// requires a 200.
func (e *cmdEnv) postSigned(form url.Values) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := twiliofake.PostWebhook(ctx, e.webhook, e.fake.AuthToken(), publicURL, form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("webhook of %q from %s: %s, want 200", form.Get("Body"), form.Get("From"), resp.Status)
	}
}

// text is a text from a phone, through Twilio's webhook; it returns the id
// of the command it becomes.
func (e *cmdEnv) text(from, body string) string {
	e.t.Helper()
	sid := newMessageSid()
	e.postSigned(e.form(sid, from, body))
	return inboundID(sid)
}

// produce writes records, non-transactionally, and returns them with their
// partitions and offsets.
func (e *cmdEnv) produce(recs ...*kgo.Record) []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := e.producer.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// event writes ev to the events topic as presence does, and to the
// occupancy view; it returns the events record.
func (e *cmdEnv) event(ev schemas.PresenceEvent) *kgo.Record {
	e.t.Helper()
	v, err := schemas.Marshal(&ev)
	if err != nil {
		e.t.Fatal(err)
	}
	occ := &kgo.Record{Topic: e.topic("occupancy"), Key: []byte(ev.ZoneID), Value: v, Timestamp: ev.EventTime}
	rec := &kgo.Record{Topic: e.topic("events"), Key: []byte(ev.ZoneID), Value: v, Timestamp: ev.EventTime}
	e.produce(occ)
	return e.produce(rec)[0]
}

// redeliver writes rec's key and value again to its topic, as a producer
// retry or a replay would.
func (e *cmdEnv) redeliver(rec *kgo.Record) *kgo.Record {
	e.t.Helper()
	return e.produce(&kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp})[0]
}

// usage writes u to the usage view, as presence does.
func (e *cmdEnv) usage(u presence.Usage) {
	e.t.Helper()
	v, err := u.MarshalBinary()
	if err != nil {
		e.t.Fatal(err)
	}
	e.produce(&kgo.Record{Topic: e.topic("usage"), Key: []byte(u.ZoneID), Value: v})
}

// read is the topic's committed records (read_committed) up to its last
// stable offsets as of the call: all that is there, and nothing of an open
// or aborted transaction. Control records are read too, only to know when
// a partition is done.
func (e *cmdEnv) read(name string) []*kgo.Record {
	e.t.Helper()
	topic := e.topic(name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := e.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	limit := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			limit[o.Partition], from[o.Partition] = o.Offset, kgo.NewOffset().AtStart()
		}
	})
	if len(limit) == 0 {
		return nil
	}
	cl := kafkatest.NewClient(e.t, e.brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	defer cl.Close()
	pending := map[int32]bool{}
	for p := range limit {
		pending[p] = true
	}
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading %s: partitions %v not read to their ends %v within 30s", topic, pending, limit)
		}
		for _, fe := range fs.Errors() {
			e.t.Fatalf("reading %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= limit[r.Partition] {
				return
			}
			if r.Offset+1 >= limit[r.Partition] {
				delete(pending, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// table is a compacted topic as a table: the last value of each key (nil: a
// tombstone).
func (e *cmdEnv) table(name string) map[string][]byte {
	out := map[string][]byte{}
	for _, r := range e.read(name) {
		out[string(r.Key)] = r.Value
	}
	return out
}

// busCommand is a command on the commands topic and its record.
type busCommand struct {
	rec *kgo.Record
	cmd schemas.Command
}

// bus is every command on the commands topic now.
func (e *cmdEnv) bus() []busCommand {
	e.t.Helper()
	var out []busCommand
	for _, r := range e.read("commands") {
		var c schemas.Command
		if err := schemas.Unmarshal(r.Value, &c); err != nil {
			e.t.Errorf("commands[%d]@%d is no command: %v", r.Partition, r.Offset, err)
			continue
		}
		out = append(out, busCommand{r, c})
	}
	return out
}

// commands are the commands on the bus that keep returns true for.
func (e *cmdEnv) commands(keep func(c schemas.Command) bool) []busCommand {
	var out []busCommand
	for _, b := range e.bus() {
		if keep(b.cmd) {
			out = append(out, b)
		}
	}
	return out
}

// byID keeps the commands of id.
func byID(id string) func(schemas.Command) bool {
	return func(c schemas.Command) bool { return c.ID == id }
}

// textsTo keeps the send_sms commands to phone.
func textsTo(phone string) func(schemas.Command) bool {
	return func(c schemas.Command) bool {
		return c.CommandType == schemas.CommandSendSMS && c.SendSMS != nil && c.SendSMS.To == phone
	}
}

// waitCommand waits until the bus has a command of id, and returns it.
func (e *cmdEnv) waitCommand(id string) busCommand {
	e.t.Helper()
	var found busCommand
	kafkatest.WaitFor(e.t, 60*time.Second, func() (bool, error) {
		if err := e.alive(); err != nil {
			return false, err
		}
		cs := e.commands(byID(id))
		if len(cs) == 0 {
			return false, fmt.Errorf("no command %s on the bus", id)
		}
		found = cs[0]
		return true, nil
	})
	return found
}

// waitProcessed waits until the operator's consumer group has committed
// past rec: what it made of rec is then committed too.
func (e *cmdEnv) waitProcessed(operator string, rec *kgo.Record) {
	e.t.Helper()
	group := e.spec.Names().Group(operator)
	kafkatest.WaitFor(e.t, 90*time.Second, func() (bool, error) {
		if err := e.alive(); err != nil {
			return false, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := e.adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, err
		}
		o, ok := offs.Lookup(rec.Topic, rec.Partition)
		if !ok || o.Err != nil || o.At <= rec.Offset {
			return false, fmt.Errorf("%s has not committed past %s[%d]@%d (at %d)", group, rec.Topic, rec.Partition, rec.Offset, o.At)
		}
		return true, nil
	})
}

// texts are the texts the fake Twilio was asked to send to phone.
func (e *cmdEnv) texts(phone string) []twiliofake.Message {
	var out []twiliofake.Message
	for _, m := range e.fake.Sent() {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

// bodies are the bodies of msgs.
func bodies(msgs []twiliofake.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

// sentSoFar is the fake's texts, for a failure's message.
func (e *cmdEnv) sentSoFar() string {
	var b strings.Builder
	for _, m := range e.fake.Sent() {
		fmt.Fprintf(&b, "\n  → %s: %q", m.To, m.Body)
	}
	return b.String()
}

// sent is the sent log's entry of the send_sms id, if any.
func (e *cmdEnv) sent(id string) (smsout.Entry, bool) {
	e.t.Helper()
	v, ok := e.table("sms-sent")[id]
	if !ok || v == nil {
		return smsout.Entry{}, false
	}
	var entry smsout.Entry
	if err := json.Unmarshal(v, &entry); err != nil {
		e.t.Fatalf("sent log of %s: %v", id, err)
	}
	return entry, true
}

// waitSent waits until sms-out's sent log has the send_sms id as sent, and
// returns the one text at the fake with its sid: a command counted by its
// id. It fails if the fake has another text with the same recipient and
// body (the command texted twice).
func (e *cmdEnv) waitSent(id string) twiliofake.Message {
	e.t.Helper()
	var entry smsout.Entry
	kafkatest.WaitFor(e.t, 60*time.Second, func() (bool, error) {
		if err := e.alive(); err != nil {
			return false, err
		}
		var ok bool
		if entry, ok = e.sent(id); !ok || entry.State != smsout.StateSent {
			return false, fmt.Errorf("send_sms %s not sent (sent log: %+v); the fake's texts: %s", id, entry, e.sentSoFar())
		}
		return true, nil
	})
	var mine []twiliofake.Message
	var twins int
	for _, m := range e.fake.Sent() {
		if m.Sid == entry.Sid {
			mine = append(mine, m)
		}
	}
	if len(mine) != 1 {
		e.t.Fatalf("send_sms %s: sent log says sid %s, the fake has %d texts of that sid", id, entry.Sid, len(mine))
	}
	for _, m := range e.texts(mine[0].To) {
		if m.Body == mine[0].Body {
			twins++
		}
	}
	if twins != 1 {
		e.t.Fatalf("send_sms %s: %d texts to %s of %q, want 1", id, twins, mine[0].To, mine[0].Body)
	}
	return mine[0]
}
