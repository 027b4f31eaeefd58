//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/smsout"
	"github.com/corb-dev/corb/schemas"
)

// smsTopology is deploy/topology.yaml's sms-out on its own, sending from
// Twilio's magic test number. At 40 texts a second, 1 000 take 25s: long
// enough to be killed several times mid-batch (a batch is 50 texts).
const smsTopology = `namespace: %s
topics:
  - {name: commands, partitions: 3, schema: corb.Command}
  - {name: sms-sent, partitions: 3, schema: bytes, configs: {cleanup.policy: compact}}
  - {name: opt-outs, partitions: 1, schema: bytes, configs: {cleanup.policy: compact}}
  - {name: commands-dlq, schema: bytes}
operators:
  - name: sms-out
    kind: sms
    inputs: [commands]
    match: {command_type: [send_sms]}
    state: [sms-sent]
    tables: [opt-outs]
    stateful: true
    on_failure: commands-dlq
    config: {driver: twilio, from: '+15005550006', rate: 40}
`

const killBody = "corb kill test: command " // + the command id: how the fake's texts are counted by command

// sms-out, SIGKILLed at random points while it sends 1 000 send_sms commands
// and restarted each time, texts every command exactly once: what it had sent
// without committing is found again in Twilio's list (here the fake's, which
// the real twilio-go client talks to through CORB_TWILIO_API_URL), and its
// sent log ends up agreeing with Twilio, sid for sid.
func TestSMSSendsEachCommandOnceThroughSIGKILLs(t *testing.T) {
	const commands, kills = 1000, 5
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "sms")
	fake, err := twiliofake.NewServer(twiliofake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	// The corb processes inherit the environment: the fake's account and URL.
	t.Setenv("TWILIO_ACCOUNT_SID", fake.AccountSid())
	t.Setenv("TWILIO_AUTH_TOKEN", fake.AuthToken())
	t.Setenv("TWILIO_MESSAGING_SERVICE_SID", "")
	t.Setenv(smsout.APIURLEnv, fake.URL())
	t.Setenv(smsout.DriverEnv, "")

	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(smsTopology, ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, ns+".commands", 3, nil)
	kafkatest.CreateTopic(t, brokers, ns+".sms-sent", 3, map[string]string{"cleanup.policy": "compact"})
	kafkatest.CreateTopic(t, brokers, ns+".opt-outs", 1, map[string]string{"cleanup.policy": "compact"})
	kafkatest.CreateTopic(t, brokers, ns+".commands-dlq", 1, nil)

	ids := make([]string, commands)
	var recs []*kgo.Record
	for i := range ids {
		c := schemas.NewCommand(schemas.CommandSendSMS, schemas.Cause{Kind: schemas.CauseCLI, ID: fmt.Sprintf("kill-%04d", i)})
		c.Channel, c.Sender, c.IssuedAt = "test", "integration", time.Now()
		c.SendSMS = &schemas.SendSMSArgs{To: fmt.Sprintf("+1555010%04d", i%10), Body: killBody + c.ID}
		v, err := schemas.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
		recs = append(recs, &kgo.Record{Topic: ns + ".commands", Key: []byte(c.Key()), Value: v})
	}
	if err := kafkatest.NewClient(t, brokers).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	run := func(round int) *proc {
		return startCorb(t, fmt.Sprintf("sms-out/%d", round), "run", "--topology", file, "--brokers", brokers[0],
			"--instance", "0", "--admin-addr", "127.0.0.1:0", "--shutdown-timeout", "10s", "sms-out")
	}
	p := run(0)
	killed := 0
	for round := range kills {
		// Somewhere in the next 60–200 texts: mid-batch, most likely with
		// texts sent and not yet committed.
		at := len(fake.Sent()) + 60 + rand.IntN(140)
		if at >= commands-50 {
			break
		}
		waitTexts(t, "texts", func() int { return len(fake.Sent()) }, at, p)
		p.kill9()
		killed++
		t.Logf("round %d: SIGKILL after %d texts", round, len(fake.Sent()))
		p = run(round + 1)
	}
	waitTexts(t, "commands texted", func() int { return len(textsByCommand(fake)) }, commands, p)
	// Anything sent twice would be sent by now, or within the settle.
	time.Sleep(3 * time.Second)
	p.stop(20 * time.Second)
	took := time.Since(start)

	sent := textsByCommand(fake)
	if len(sent) != len(ids) {
		t.Errorf("texts of %d distinct bodies for %d commands", len(sent), len(ids))
	}
	var lost, dups []string
	for _, id := range ids {
		switch n := len(sent[id]); {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			dups = append(dups, id)
		}
	}
	lists := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet {
			lists++
		}
	}
	t.Logf("%d SIGKILLs; %d commands, %d texts at the fake: %d lost, %d sent twice; %d list requests (reconciliations); %v",
		killed, commands, len(fake.Sent()), len(lost), len(dups), lists, took.Round(time.Second))
	if len(lost) > 0 || len(dups) > 0 {
		t.Fatalf("%d commands lost (e.g. %v), %d texted more than once (e.g. %v)", len(lost), first(lost, 5), len(dups), first(dups, 5))
	}

	// The sent log agrees with Twilio: every command sent, with its sid.
	log := map[string]smsout.Entry{}
	for _, r := range kafkatest.ConsumeAll(t, brokers, ns+".sms-sent", math.MaxInt, 5*time.Second, true) {
		var e smsout.Entry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("sent log record %s: %v", r.Key, err)
		}
		log[string(r.Key)] = e
	}
	for _, id := range ids {
		if e := log[id]; e.State != smsout.StateSent || e.Sid != sent[id][0] {
			t.Errorf("sent log of %s = %+v, want sent with sid %s", id, e, sent[id][0])
		}
	}
	if dead := kafkatest.ConsumeAll(t, brokers, ns+".commands-dlq", 1, 2*time.Second, true); len(dead) > 0 {
		t.Errorf("%d dead letters, want none", len(dead))
	}
}

// textsByCommand is the sids of the fake's texts, by the command id in
// their body.
func textsByCommand(fake *twiliofake.Server) map[string][]string {
	sent := map[string][]string{}
	for _, m := range fake.Sent() {
		id, _ := strings.CutPrefix(m.Body, killBody)
		sent[id] = append(sent[id], m.Sid)
	}
	return sent
}

// waitTexts waits until count() reaches n, failing if p died.
func waitTexts(t *testing.T, what string, count func() int, n int, p *proc) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for count() < n {
		if err := p.exited(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s after 90s, want %d", count(), what, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
