package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// What `corb command send TYPE --zone Z --arg k=v...` puts on the bus.
func TestBuildCommand(t *testing.T) {
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		typ, zone string
		args      []string
		want      schemas.Command // ID, Cause, Channel, Sender and IssuedAt are the invocation's
		err       string
	}{
		{typ: "status", zone: "kitchen", want: schemas.Command{ZoneID: "kitchen"}},
		{typ: "status", want: schemas.Command{}},
		{typ: "subscribe", zone: "kitchen", args: []string{"subscriber=+15550001"},
			want: schemas.Command{ZoneID: "kitchen", Subscribe: &schemas.SubscribeArgs{Subscriber: "+15550001", Transitions: []schemas.PresenceType{schemas.Vacated}}}},
		{typ: "subscribe", args: []string{"subscriber=+15550001", "transitions=all", "once=true", "all_zones=true"},
			want: schemas.Command{Subscribe: &schemas.SubscribeArgs{Subscriber: "+15550001", AllZones: true, Once: true,
				Transitions: []schemas.PresenceType{schemas.Vacated, schemas.Occupied}}}},
		{typ: "subscribe", zone: "lobby", args: []string{"subscriber=+15550001", "transitions=Occupied"},
			want: schemas.Command{ZoneID: "lobby", Subscribe: &schemas.SubscribeArgs{Subscriber: "+15550001", Transitions: []schemas.PresenceType{schemas.Occupied}}}},
		{typ: "unsubscribe", args: []string{"subscriber=+15550001", "all_zones=1"},
			want: schemas.Command{Unsubscribe: &schemas.UnsubscribeArgs{Subscriber: "+15550001", AllZones: true}}},
		{typ: "help", args: []string{"topic=subscribe"}, want: schemas.Command{Help: &schemas.HelpArgs{Topic: "subscribe"}}},
		{typ: "request_cleaning", zone: "kitchen", args: []string{"reason=spilled coffee", "requested_by=+15550001", "visits=12",
			"person_minutes=30.5", "peak=4", "occupied_ms=1h30m", "first_use=2026-05-01T07:00:00Z", "last_use=2026-05-01T07:45:00Z",
			"policy=visits >= 10", "cycle=3"},
			want: schemas.Command{ZoneID: "kitchen", RequestCleaning: &schemas.RequestCleaningArgs{Reason: "spilled coffee",
				RequestedBy: "+15550001", Visits: 12, PersonMinutes: 30.5, Peak: 4, Occupied: 90 * time.Minute,
				FirstUse: at.Add(-time.Hour), LastUse: at.Add(-15 * time.Minute), Policy: "visits >= 10", Cycle: 3}}},
		{typ: "request_cleaning", zone: "kitchen", args: []string{"occupied_ms=5400000"},
			want: schemas.Command{ZoneID: "kitchen", RequestCleaning: &schemas.RequestCleaningArgs{Occupied: 90 * time.Minute}}},
		{typ: "cleaning_done", zone: "kitchen", args: []string{"by=Ben"},
			want: schemas.Command{ZoneID: "kitchen", CleaningDone: &schemas.CleaningDoneArgs{By: "Ben"}}},
		{typ: "send_sms", args: []string{"to=+15550001", "body=Hello, world=1"},
			want: schemas.Command{SendSMS: &schemas.SendSMSArgs{To: "+15550001", Body: "Hello, world=1"}}},
		{typ: "opt_out", args: []string{"phone=+15550001"}, want: schemas.Command{Sender: "+15550001"}},
		{typ: "opt_in", args: []string{"phone=+15550001"}, want: schemas.Command{Sender: "+15550001"}},

		{typ: "reboot", err: `unknown command type "reboot" (known: cleaning_done, help, opt_in, opt_out, request_cleaning, send_sms, status, subscribe, unsubscribe)`},
		{typ: "send_sms", args: []string{"colour=red"}, err: `send_sms has no argument "colour" (its keys: body, to)`},
		{typ: "status", args: []string{"zone=kitchen"}, err: "status takes no arguments"},
		{typ: "send_sms", args: []string{"to"}, err: `--arg "to": want KEY=VALUE`},
		{typ: "send_sms", args: []string{"to=a", "to=b"}, err: "--arg to: given twice"},
		{typ: "subscribe", args: []string{"once=maybe"}, err: "--arg once=maybe: strconv.ParseBool"},
		{typ: "subscribe", args: []string{"transitions=gone"}, err: `"gone": want vacated, occupied or all`},
		{typ: "request_cleaning", args: []string{"visits=-1"}, err: "want a whole number"},
		{typ: "request_cleaning", args: []string{"first_use=yesterday"}, err: "want an RFC 3339 time"},
		{typ: "request_cleaning", args: []string{"occupied_ms=long"}, err: "want milliseconds or a duration"},
		{typ: "opt_out", err: "opt_out needs --arg phone=PHONE"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			c, err := buildCommand(tt.typ, tt.zone, tt.args, "ops", "inv-1", at)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			w.CommandType, w.Channel, w.IssuedAt = tt.typ, "cli", at
			if w.Sender == "" {
				w.Sender = "ops"
			}
			w.Cause = schemas.Cause{Kind: schemas.CauseCLI, ID: "inv-1"}
			w.ID = w.Cause.CommandID()
			got, err1 := schemas.Marshal(c)
			want, err2 := schemas.Marshal(&w)
			if err1 != nil || err2 != nil || string(got) != string(want) {
				t.Errorf("command %+v (%v)\nwant    %+v (%v)", c, err1, &w, err2)
			}
		})
	}
}

// busFixture is a kfake cluster with a topology of the command bus applied.
type busFixture struct {
	brokers, file string
	spec          *topology.Spec
}

func newBusFixture(t *testing.T) *busFixture {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	f := &busFixture{brokers: cluster.ListenAddrs()[0], file: filepath.Join(t.TempDir(), "topology.yaml")}
	src := `namespace: bus
topics:
  - {name: commands, partitions: 3, schema: corb.Command}
  - {name: sms-status, schema: bytes}
`
	if err := os.WriteFile(f.file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if f.spec, err = topology.Load(f.file); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	plan, err := topology.MakePlan(ctx, adm, f.spec)
	if err == nil {
		err = topology.Apply(ctx, adm, plan, topology.ApplyOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// commands reads the commands on the bus, waiting until there are n.
func (f *busFixture) commands(t *testing.T, n int) ([]*schemas.Command, []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers), kgo.ConsumeTopics(f.spec.Names().Topic("commands")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cmds []*schemas.Command
	var recs []*kgo.Record
	for len(cmds) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d commands on the bus, want %d", len(cmds), n)
		}
		for _, r := range fs.Records() {
			c := &schemas.Command{}
			if err := schemas.Unmarshal(r.Value, c); err != nil {
				t.Fatal(err)
			}
			cmds, recs = append(cmds, c), append(recs, r)
		}
	}
	return cmds, recs
}

// `corb command send` produces the command and prints its id; each
// invocation is a new cause.
func TestCommandSend(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	var ids []string
	for range 2 {
		out, err := runApp(ctx, "command", "send", "send_sms", "--topology", f.file, "--brokers", f.brokers,
			"--arg", "to=+15550001", "--arg", "body=Hello, world", "--sender", "ops")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	cmds, recs := f.commands(t, 2) // from two partitions: in either order
	for i, c := range cmds {
		if !slices.Contains(ids, c.ID) || string(recs[i].Key) != c.ID || c.Cause.Kind != schemas.CauseCLI || c.SendSMS.Body != "Hello, world" || c.Sender != "ops" {
			t.Errorf("command %+v keyed %q; printed %q", c, recs[i].Key, ids)
		}
	}
	if ids[0] == ids[1] {
		t.Error("two invocations made one id")
	}
	_, err := runApp(ctx, "command", "send", "subscribe", "--topology", f.file, "--brokers", f.brokers, "--arg", "subscriber=+15550001")
	if err == nil || !strings.Contains(err.Error(), "no zone: set zone_id or args.all_zones") {
		t.Errorf("a subscribe to no zone: %v", err)
	}
}
