package commands_test

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/commands"
	"github.com/corb-dev/corb/operators/kind"
	"github.com/corb-dev/corb/operators/runtimetest"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

const zonesYAML = `
zones:
  - id: kitchen
    name: Kitchen
    cameras: [{camera: cam1, polygon: [[0, 0], [0.5, 0], [0.5, 1]]}]
  - id: lobby
    name: Lobby
    cameras: [{camera: cam1, polygon: [[0.5, 0], [1, 0], [1, 1]]}]
`

func zonesFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zones.yaml")
	if err := os.WriteFile(path, []byte(zonesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// handlers is the command-handlers operator of the default topology, with config.
func handlers(t *testing.T, config string) (*topology.Spec, *topology.Operator) {
	t.Helper()
	spec, err := topology.Load("../../deploy/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	op, ok := spec.Operator("command-handlers")
	if !ok {
		t.Fatal("the default topology has no command-handlers")
	}
	c := *op
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) > 0 {
		c.Config = topology.NewConfigNode(doc.Content[0], "topology.yaml", "operators[0].config")
	}
	return spec, &c
}

func TestKindBuilds(t *testing.T) {
	zones := zonesFile(t)
	tests := []struct {
		name, config string
		edit         func(*topology.Operator)
		want         string // error text; "" for success
	}{
		{"the default topology's", "zones_file: " + zones + "\ntimezone: Europe/Paris", nil, ""},
		{"without the optional topics", "zones_file: " + zones, func(op *topology.Operator) {
			op.Outputs, op.Tables = op.Outputs[:2], op.Tables[:1]
		}, ""},
		{"unknown key", "zones_file: " + zones + "\nzone: kitchen", nil, "zone"},
		{"bad timezone", "zones_file: " + zones + "\ntimezone: Mars/Olympus", nil, "Mars/Olympus"},
		{"missing zones file", "zones_file: /nonexistent/zones.yaml", nil, "nonexistent"},
		{"tables out of order", "zones_file: " + zones, func(op *topology.Operator) {
			op.Tables = []string{"occupancy", "subscriptions", "cleanings"}
		}, `tables[1] "subscriptions" is the cleanings and must carry [bytes], not corb.Command`},
		{"no subscriptions output", "zones_file: " + zones, func(op *topology.Operator) { op.Outputs = op.Outputs[:1] }, "takes 2 to 3 outputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, op := handlers(t, tc.config)
			if tc.edit != nil {
				tc.edit(op)
			}
			got, err := commands.Kind().Build(context.Background(), kind.Env{Spec: spec, Log: slog.New(slog.DiscardHandler)}, op)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error about %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got.(operators.TableReader); !ok {
				t.Error("not a TableReader")
			}
		})
	}
}

// The kind through the real runtime, as the default topology runs it (its
// match on command_type), on kfake.
func TestKindThroughTheRuntime(t *testing.T) {
	spec, op := handlers(t, "zones_file: "+zonesFile(t)+"\ntimezone: UTC")
	impl, err := commands.Kind().Build(context.Background(), kind.Env{Spec: spec, Log: slog.New(slog.DiscardHandler)}, op)
	if err != nil {
		t.Fatal(err)
	}
	tt := runtimetest.New(t, runtimetest.Topics(3, "commands", "subscriptions", "opt-outs", "occupancy", "cleanings"),
		runtimetest.Topics(1, "commands-dlq"))
	since := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	tt.ProduceAvro("occupancy", "kitchen", &schemas.PresenceEvent{EventID: "e1", ZoneID: "kitchen", Type: schemas.Occupied, Count: 2, Peak: 2,
		WindowStart: since, WindowEnd: since.Add(2 * time.Second), OccupiedSince: since, EventTime: since.Add(2 * time.Second)})
	tt.Produce("cleanings", "kitchen", cleaned("kitchen", since.Add(-time.Hour)))
	tt.Run(runtimetest.Operator{
		Name: op.Name, Inputs: op.Inputs, Outputs: op.Outputs, Tables: op.Tables, DeadLetter: op.OnFailure,
		Match: func(r operators.Record) (bool, error) {
			fields, err := schemas.Fields(r.Value)
			return err == nil && op.Matches(fields), err
		},
		Operator: impl,
	})

	// Commands are keyed by zone, or by sender when they name none.
	send := func(c *schemas.Command) {
		tt.ProduceAvro("commands", cmp.Or(c.ZoneID, c.Sender), c)
	}
	status := command(schemas.CommandStatus, "kitchen", ann, "r1", nil)
	send(status)
	send(status) // delivered twice
	send(command(schemas.CommandStatus, "", ann, "r2", nil))
	send(command(schemas.CommandSubscribe, "kitchen", ann, "r3", subscribe("kitchen", ann, false, schemas.Vacated)))
	send(command(schemas.CommandSubscribe, "", ann, "r4", subscribe("", ann, true, schemas.Occupied)))
	send(command(schemas.CommandSubscribe, "kitchen", bob, "r5", subscribe("kitchen", bob, false, schemas.Vacated)))
	send(command(schemas.CommandHelp, "", bob, "r6", nil))
	tt.Produce("commands", ann, []byte("STATUS kitchen")) // no command: a dead letter

	// 7 inputs, 7 replies (one a repeat), the garbage.
	replies := sent(t, tt.Expect("commands", 15))
	if got := replies[status.Child(schemas.CommandSendSMS, commands.PurposeReply).ID]; len(got) != 2 || got[0] != got[1] ||
		!strings.HasPrefix(got[0], ann+": Kitchen: occupied (2 people) since ") || !strings.Contains(got[0], since.UTC().Format("15:04")+", cleaned ") {
		t.Errorf("STATUS kitchen twice: replies %q, want the state and count twice under one id", got)
	}
	if len(replies) != 6 {
		t.Errorf("%d distinct reply ids, want 6: %v", len(replies), replies)
	}
	if !hasReply(replies, ann+": Kitchen: occupied (2 people) since ") || !hasReply(replies, "\nLobby: no data yet") {
		t.Errorf("no STATUS reply with every zone: %v", replies)
	}
	if !hasReply(replies, bob+": STATUS: how every zone is.") {
		t.Errorf("no help for bob: %v", replies)
	}
	if dl := tt.DeadLetters("commands-dlq", 1); dl[0].Operator != "command-handlers" || string(dl[0].Value) != "STATUS kitchen" {
		t.Errorf("dead letter %+v, want the garbage from command-handlers", dl[0])
	}
	subs := tt.Expect("subscriptions", 3)
	if got := keys(subs); !slices.Equal(got, []string{"* " + ann, "kitchen " + ann, "kitchen " + bob}) {
		t.Fatalf("subscriptions %v", got)
	}

	// The table has caught up with the subscriptions while Expect settled.
	send(command(schemas.CommandUnsubscribe, "", ann, "r7", unsubscribe("", ann)))
	send(command(schemas.CommandOptOut, "", bob, "r8", nil))
	all := tt.Expect("subscriptions", 6)
	if n := len(slices.DeleteFunc(all, hasValue)); n != 3 || len(tt.State("subscriptions")) != 0 {
		t.Errorf("after UNSUBSCRIBE all and STOP: %d tombstones, subscriptions left %v; want a tombstone for each", n, tt.State("subscriptions"))
	}
	if st := tt.State("opt-outs"); len(st) != 1 || st[bob] == nil {
		t.Errorf("opt-outs %v, want bob", st)
	}
	replies = sent(t, tt.Expect("commands", 19))
	if got := replies[command(schemas.CommandOptOut, "", bob, "r8", nil).Child(schemas.CommandSendSMS, commands.PurposeOptOutConfirmation).ID]; len(got) != 1 || !strings.HasPrefix(got[0], bob+": You are unsubscribed") {
		t.Errorf("STOP confirmation: %q", got)
	}

	send(command(schemas.CommandOptIn, "", bob, "r9", nil))
	tt.Expect("commands", 21)
	opts := tt.Expect("opt-outs", 2)
	if opts[1].Value != nil || string(opts[1].Key) != bob {
		t.Errorf("START wrote %s=%q, want a tombstone for bob", opts[1].Key, opts[1].Value)
	}
}

// sent is every send_sms of recs as "to: body", by command id.
func sent(t *testing.T, recs []*kgo.Record) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range recs {
		var c schemas.Command
		if schemas.Unmarshal(r.Value, &c) != nil || c.CommandType != schemas.CommandSendSMS {
			continue
		}
		if string(r.Key) != c.ID {
			t.Errorf("send_sms %s keyed %q", c.ID, r.Key)
		}
		out[c.ID] = append(out[c.ID], c.SendSMS.To+": "+c.SendSMS.Body)
	}
	return out
}

func hasReply(replies map[string][]string, part string) bool {
	for _, bodies := range replies {
		for _, b := range bodies {
			if strings.Contains(b, part) {
				return true
			}
		}
	}
	return false
}

func keys(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Key))
	}
	slices.Sort(out)
	return out
}

func hasValue(r *kgo.Record) bool { return r.Value != nil }
