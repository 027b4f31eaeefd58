package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/schemas"
	"github.com/corb-dev/corb/topology"
)

// commandCommand is `corb command`: the command bus from the command line.
func commandCommand() *cli.Command {
	return &cli.Command{
		Name:     "command",
		Usage:    "put commands on the command bus",
		Commands: []*cli.Command{commandSendCommand()},
	}
}

func commandSendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "put one command on the bus and print its id",
		ArgsUsage: "TYPE",
		Description: `Produces one corb.Command of TYPE to the topology's commands topic
(<namespace>.commands), as a person texting Corb would, for scripts and
operators. Its cause is this invocation (CLI and a fresh id), so its id is new
each time; --sender says who sent it (default: the user name).

Arguments are --arg KEY=VALUE, the fields of TYPE's arguments (repeatable; a
key not of TYPE is refused with the keys it has):

` + commandKeysHelp() + `
Examples:
  corb command send status --zone kitchen
  corb command send subscribe --zone kitchen --arg subscriber=+15550001 --arg transitions=vacated --arg once=true
  corb command send request_cleaning --zone kitchen --arg reason="spilled coffee"
  corb command send send_sms --arg to=+15550001 --arg body="Hello, from the building"`,
		Flags: []cli.Flag{
			topologyFlag(), namespaceFlag(), brokersFlag(),
			&cli.StringFlag{Name: "zone", Usage: "the zone the command is about (default: none; status: every zone)"},
			&cli.StringSliceFlag{Name: "arg", Usage: "KEY=VALUE: an argument of TYPE (repeatable)"},
			&cli.StringFlag{Name: "sender", Usage: "who sends it (default: the user name)", Sources: cli.EnvVars("CORB_SENDER")},
			&cli.DurationFlag{Name: "timeout", Usage: "how long the produce may take", Value: 30 * time.Second},
		},
		// A body may hold commas: --arg is never split.
		DisableSliceFlagSeparator: true,
		Action:                    runCommandSend,
	}
}

func runCommandSend(ctx context.Context, cmd *cli.Command) error {
	sender := cmd.String("sender")
	if sender == "" {
		sender = "cli"
		if u, err := user.Current(); err == nil && u.Username != "" {
			sender = u.Username
		}
	}
	c, err := buildCommand(cmd.Args().First(), cmd.String("zone"), cmd.StringSlice("arg"), sender, newInvocationID(), time.Now())
	if err != nil {
		return err
	}
	value, err := schemas.Marshal(c)
	if err != nil {
		return fmt.Errorf("%s: %w", c.CommandType, err)
	}
	_, topic, err := busTopic(cmd)
	if err != nil {
		return err
	}
	p, err := busProducer(cmd, cmd.Duration("timeout"))
	if err != nil {
		return err
	}
	defer p.Close(context.WithoutCancel(ctx)) //nolint:errcheck // Produce waited for the record
	ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
	defer cancel()
	if err := p.Produce(ctx, []inbound.Record{{Topic: topic, Key: []byte(c.Key()), Value: value}}); err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.Root().Writer, c.ID)
	return err
}

// busProducer is the producer of the commands that put records on the bus:
// idempotent, acks from every in-sync replica, each record failed after
// deliveryTimeout.
func busProducer(cmd *cli.Command, deliveryTimeout time.Duration) (*inbound.KafkaProducer, error) {
	bs := brokers(cmd)
	if len(bs) == 0 {
		return nil, errors.New("no brokers: set --brokers or CORB_BROKERS")
	}
	return inbound.NewKafkaProducer(bs, deliveryTimeout)
}

// newInvocationID is a fresh id for a command line's cause.
func newInvocationID() string { return rand.Text() }

// busTopic loads the topology and returns it with the physical name of its
// commands topic, the bus.
func busTopic(cmd *cli.Command) (*topology.Spec, string, error) {
	spec, err := loadTopology(cmd)
	if err != nil {
		return nil, "", err
	}
	topic, err := schemaTopic(spec, "commands", (*schemas.Command)(nil).SchemaName())
	return spec, topic, err
}

// schemaTopic is the physical name of the topology's topic name, which must
// carry schema.
func schemaTopic(spec *topology.Spec, name, schema string) (string, error) {
	t, ok := spec.Topic(name)
	switch {
	case !ok:
		return "", fmt.Errorf("topology %s has no topic %q", spec.File, name)
	case t.Schema != schema:
		return "", fmt.Errorf("topic %q of topology %s carries %s, want %s", name, spec.File, t.Schema, schema)
	}
	return spec.Names().Topic(name), nil
}

// argSetter sets one --arg of a command.
type argSetter func(c *schemas.Command, value string) error

// commandArgs are the types `command send` knows, each with the keys of its
// arguments, and how a command of that type starts (its argument record).
func commandArgs() map[string]struct {
	init func(*schemas.Command)
	keys map[string]argSetter
} {
	type spec = struct {
		init func(*schemas.Command)
		keys map[string]argSetter
	}
	return map[string]spec{
		schemas.CommandStatus: {init: func(*schemas.Command) {}},
		schemas.CommandHelp: {init: func(c *schemas.Command) { c.Help = &schemas.HelpArgs{} }, keys: map[string]argSetter{
			"topic": func(c *schemas.Command, v string) error { c.Help.Topic = v; return nil },
		}},
		schemas.CommandSubscribe: {
			init: func(c *schemas.Command) {
				c.Subscribe = &schemas.SubscribeArgs{Transitions: []schemas.PresenceType{schemas.Vacated}}
			},
			keys: map[string]argSetter{
				"subscriber": func(c *schemas.Command, v string) error { c.Subscribe.Subscriber = v; return nil },
				"transitions": func(c *schemas.Command, v string) (err error) {
					c.Subscribe.Transitions, err = parseTransitions(v)
					return err
				},
				"once":      boolArg(func(c *schemas.Command) *bool { return &c.Subscribe.Once }),
				"all_zones": boolArg(func(c *schemas.Command) *bool { return &c.Subscribe.AllZones }),
			},
		},
		schemas.CommandUnsubscribe: {init: func(c *schemas.Command) { c.Unsubscribe = &schemas.UnsubscribeArgs{} }, keys: map[string]argSetter{
			"subscriber": func(c *schemas.Command, v string) error { c.Unsubscribe.Subscriber = v; return nil },
			"all_zones":  boolArg(func(c *schemas.Command) *bool { return &c.Unsubscribe.AllZones }),
		}},
		schemas.CommandRequestCleaning: {init: func(c *schemas.Command) { c.RequestCleaning = &schemas.RequestCleaningArgs{} }, keys: map[string]argSetter{
			"reason":       func(c *schemas.Command, v string) error { c.RequestCleaning.Reason = v; return nil },
			"requested_by": func(c *schemas.Command, v string) error { c.RequestCleaning.RequestedBy = v; return nil },
			"policy":       func(c *schemas.Command, v string) error { c.RequestCleaning.Policy = v; return nil },
			"visits":       int32Arg(func(c *schemas.Command) *int32 { return &c.RequestCleaning.Visits }),
			"peak":         int32Arg(func(c *schemas.Command) *int32 { return &c.RequestCleaning.Peak }),
			"person_minutes": func(c *schemas.Command, v string) (err error) {
				c.RequestCleaning.PersonMinutes, err = strconv.ParseFloat(v, 64)
				return err
			},
			"occupied_ms": func(c *schemas.Command, v string) error {
				if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
					c.RequestCleaning.Occupied = time.Duration(ms) * time.Millisecond
					return nil
				}
				d, err := time.ParseDuration(v)
				if err != nil {
					return errors.New("want milliseconds or a duration such as 1h30m")
				}
				c.RequestCleaning.Occupied = d
				return nil
			},
			"first_use": timeArg(func(c *schemas.Command) *time.Time { return &c.RequestCleaning.FirstUse }),
			"last_use":  timeArg(func(c *schemas.Command) *time.Time { return &c.RequestCleaning.LastUse }),
			"cycle": func(c *schemas.Command, v string) (err error) {
				c.RequestCleaning.Cycle, err = strconv.ParseInt(v, 10, 64)
				return err
			},
		}},
		schemas.CommandCleaningDone: {init: func(c *schemas.Command) { c.CleaningDone = &schemas.CleaningDoneArgs{} }, keys: map[string]argSetter{
			"by": func(c *schemas.Command, v string) error { c.CleaningDone.By = v; return nil },
		}},
		schemas.CommandSendSMS: {init: func(c *schemas.Command) { c.SendSMS = &schemas.SendSMSArgs{} }, keys: map[string]argSetter{
			"to":   func(c *schemas.Command, v string) error { c.SendSMS.To = v; return nil },
			"body": func(c *schemas.Command, v string) error { c.SendSMS.Body = v; return nil },
		}},
		// No arguments: the phone is the command's sender.
		schemas.CommandOptOut: {init: func(*schemas.Command) {}, keys: map[string]argSetter{"phone": phoneArg}},
		schemas.CommandOptIn:  {init: func(*schemas.Command) {}, keys: map[string]argSetter{"phone": phoneArg}},
	}
}

func phoneArg(c *schemas.Command, v string) error { c.Sender = v; return nil }

func boolArg(field func(*schemas.Command) *bool) argSetter {
	return func(c *schemas.Command, v string) (err error) {
		*field(c), err = strconv.ParseBool(v)
		return err
	}
}

func int32Arg(field func(*schemas.Command) *int32) argSetter {
	return func(c *schemas.Command, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return errors.New("want a whole number, 0 or more")
		}
		*field(c) = int32(n)
		return nil
	}
}

func timeArg(field func(*schemas.Command) *time.Time) argSetter {
	return func(c *schemas.Command, v string) (err error) {
		*field(c), err = time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errors.New("want an RFC 3339 time, e.g. 2026-05-01T08:00:00Z")
		}
		return nil
	}
}

// parseTransitions reads vacated, occupied or all, or a list of them.
func parseTransitions(v string) ([]schemas.PresenceType, error) {
	var vac, occ bool
	for _, w := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ',' || r == ' ' }) {
		switch w {
		case "vacated":
			vac = true
		case "occupied":
			occ = true
		case "all":
			vac, occ = true, true
		default:
			return nil, fmt.Errorf("%q: want vacated, occupied or all", w)
		}
	}
	var out []schemas.PresenceType
	if vac {
		out = append(out, schemas.Vacated)
	}
	if occ {
		out = append(out, schemas.Occupied)
	}
	if len(out) == 0 {
		return nil, errors.New("want vacated, occupied or all")
	}
	return out, nil
}

// buildCommand is the command `corb command send TYPE --zone zone --arg
// args...` puts on the bus: caused by the invocation inv, sent by sender at now.
func buildCommand(typ, zone string, args []string, sender, inv string, now time.Time) (*schemas.Command, error) {
	types := commandArgs()
	spec, ok := types[typ]
	if !ok {
		return nil, fmt.Errorf("unknown command type %q (known: %s)", typ, strings.Join(slices.Sorted(maps.Keys(types)), ", "))
	}
	c := schemas.NewCommand(typ, schemas.Cause{Kind: schemas.CauseCLI, ID: inv})
	c.ZoneID, c.Channel, c.Sender, c.IssuedAt = zone, "cli", sender, now.UTC()
	spec.init(c)
	seen := map[string]bool{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		set, known := spec.keys[k]
		switch {
		case !ok:
			return nil, fmt.Errorf("--arg %q: want KEY=VALUE", a)
		case !known && len(spec.keys) == 0:
			return nil, fmt.Errorf("--arg %s: %s takes no arguments", k, typ)
		case !known:
			return nil, fmt.Errorf("--arg %s: %s has no argument %q (its keys: %s)", k, typ, k, strings.Join(slices.Sorted(maps.Keys(spec.keys)), ", "))
		case seen[k]:
			return nil, fmt.Errorf("--arg %s: given twice", k)
		}
		seen[k] = true
		if err := set(c, v); err != nil {
			return nil, fmt.Errorf("--arg %s=%s: %w", k, v, err)
		}
	}
	if (typ == schemas.CommandOptOut || typ == schemas.CommandOptIn) && !seen["phone"] {
		return nil, fmt.Errorf("%s needs --arg phone=PHONE: the phone that opts out or in", typ)
	}
	return c, nil
}

// commandKeysHelp lists every type with its keys, for --help.
func commandKeysHelp() string {
	types := commandArgs()
	var b strings.Builder
	for _, typ := range slices.Sorted(maps.Keys(types)) {
		keys := slices.Sorted(maps.Keys(types[typ].keys))
		if len(keys) == 0 {
			keys = []string{"(none)"}
		}
		fmt.Fprintf(&b, "  %-17s %s\n", typ, strings.Join(keys, ", "))
	}
	return b.String()
}
