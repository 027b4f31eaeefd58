// Package smsout is the sms operator kind: send_sms commands in, texts out
// through a connectors/sms Sender (Twilio, or the console), never twice.
//
// A text is a side effect outside any Kafka transaction, so the operator
// keeps a sent log (its state topic, key = command id) and for each command:
//
//  1. "sent" in the log: it was texted; nothing more (Dropped "duplicate").
//  2. nothing in the log: journal "attempt" (operators.Journal: durable
//     at once, whatever becomes of the batch), then send.
//  3. "attempt" in the log, no result (the instance crashed, or the batch
//     aborted, after journaling): ask Twilio whether it has the text
//     (Sender.FindSent: recipient, body, since the attempt) and send only
//     when it has not.
//
// and on success writes "sent" with Twilio's MessageSid as a state output
// of the batch. A crash can then cost a reconciliation, never a second text.
//
// Twilio's refusals (an invalid or opted-out number: *sms.PermanentError)
// dead-letter the command with Twilio's code in its corb.error. Transient
// failures (429 after its Retry-After, 5xx, the network) are retried by the
// Sender; when its attempts run out the command is dead-lettered as
// exhausted (the runtime retries no record of a stateful operator in
// memory). Either way its attempt stays in the log: replayed, the dead
// letter is reconciled before it is sent.
//
// A body is sent whole, as one Twilio message, however long (up to
// connectors/sms.MaxBody): Twilio splits it into segments that the phone
// joins again, in order. Separate messages, one per segment, can arrive out
// of order, and would each need an attempt and a reconciliation of their
// own. Segments checks the body before anything is journaled.
package smsout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/operators"
	opmetrics "github.com/corb-dev/corb/operators/metrics"
	"github.com/corb-dev/corb/schemas"
)

// The Cause.Purpose of the texts an opted-out phone still gets, as the
// commands kind writes them (operators/commands).
const (
	// PurposeOptOutConfirmation: the last text it gets.
	PurposeOptOutConfirmation = "opt-out confirmation"
	// PurposeOptInConfirmation is written with the tombstone that lifts the
	// opt-out, which the opt-outs table may not have yet.
	PurposeOptInConfirmation = "opt-in confirmation"
)

// Dropped reasons (operators.Result.Dropped).
const (
	DroppedDuplicate = "duplicate"    // the sent log has it as sent
	DroppedOptedOut  = "opted out"    // the recipient is in the opt-outs table
	DroppedNotSMS    = "not send_sms" // another command type (no match pattern keeps it away)
)

// batchSpan is how long a batch's texts may take at the rate limit: well
// within a transaction's timeout (30s), so a backlog commits as it goes.
const batchSpan = 10 * time.Second

// maxBatch bounds a batch however high the rate: each text is a request to
// Twilio of a few hundred milliseconds.
const maxBatch = 50

// Options are what the host gives the operator besides its Config.
type Options struct {
	// Name is the operator's name in the topology; it labels the metrics.
	Name string
	// State is the logical sent-log topic (see Entry). Required.
	State string
	// OptOuts is the logical opt-outs table (key phone); "" for none.
	OptOuts string
	// Sender hands the texts on. Required.
	Sender sms.Sender
	// Registry receives the metrics; nil registers none.
	Registry prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock of the sent log (default time.Now).
	Now func() time.Time
}

// Operator is the sms operator. It implements operators.Stateful,
// operators.JournalUser, operators.TableReader and operators.BatchLimiter.
type Operator struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	limit   *rate.Limiter
	m       metrics
	journal operators.Journal
	optOuts operators.Table // nil without the table

	sentLog map[int32]map[string]Entry // input partition → command id → entry
}

// New returns an operator for a valid cfg.
func New(cfg Config, opts Options) (*Operator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.State == "" || opts.Sender == nil {
		return nil, errors.New("smsout: a state topic and a sender are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registry, opts.Name)
	if err != nil {
		return nil, err
	}
	return &Operator{
		cfg: cfg, opts: opts, log: opts.Logger.With("operator", opts.Name), m: m,
		limit:   rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(math.Ceil(cfg.Rate)))),
		sentLog: map[int32]map[string]Entry{},
	}, nil
}

// UseJournal implements operators.JournalUser.
func (o *Operator) UseJournal(j operators.Journal) { o.journal = j }

// UseTables implements operators.TableReader.
func (o *Operator) UseTables(tables map[string]operators.Table) { o.optOuts = tables[o.opts.OptOuts] }

// MaxBatch implements operators.BatchLimiter: a batch is what the rate sends
// in batchSpan.
func (o *Operator) MaxBatch() int {
	return int(min(max(1, math.Ceil(o.cfg.Rate*batchSpan.Seconds())), maxBatch))
}

// Restore implements operators.Stateful.
func (o *Operator) Restore(_ context.Context, topic string, p int32, state map[string][]byte) error {
	if topic != o.opts.State {
		return fmt.Errorf("smsout: %q is not the sent log %q", topic, o.opts.State)
	}
	entries := make(map[string]Entry, len(state))
	for k, v := range state {
		e, err := parseEntry(v)
		if err != nil {
			// Skipping it could text twice.
			return fmt.Errorf("smsout: sent log %s[%d] key %q: %w", topic, p, k, err)
		}
		entries[k] = e
	}
	o.sentLog[p] = entries
	return nil
}

// Revoke implements operators.Stateful.
func (o *Operator) Revoke(p int32) { delete(o.sentLog, p) }

// Process implements operators.Operator. It fails the batch only when it
// cannot journal an attempt or ctx ends: then nothing of it was sent
// unrecorded.
func (o *Operator) Process(ctx context.Context, batch []operators.Record) ([]operators.Result, error) {
	if o.journal == nil {
		return nil, errors.New("smsout: no journal: run it in a runtime that provides one (operators.JournalUser)")
	}
	res := make([]operators.Result, len(batch))
	for i, r := range batch {
		var err error
		if res[i], err = o.one(ctx, r); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// one is the Result of one input record; err fails the batch.
func (o *Operator) one(ctx context.Context, r operators.Record) (operators.Result, error) {
	cmd, msg, refused := o.decode(r)
	if cmd == nil {
		return refused, nil
	}
	prev, logged := o.entries(r.Partition)[cmd.ID]
	switch {
	case logged && prev.State == StateSent:
		return operators.Result{Dropped: DroppedDuplicate}, nil
	case o.optedOut(msg.To) && cmd.Cause.Purpose != PurposeOptOutConfirmation && cmd.Cause.Purpose != PurposeOptInConfirmation:
		return operators.Result{Dropped: DroppedOptedOut}, nil
	case logged && (prev.To != msg.To || prev.BodySHA256 != bodyHash(msg.Body)):
		// What was attempted cannot be looked for: it may be out already.
		return operators.Result{Err: operators.Permanentf(
			"send_sms %s was attempted at %s with another recipient or body; not sent again, since that one may have gone out",
			cmd.ID, prev.At.Format(time.RFC3339))}, nil
	case logged:
		if res, done, err := o.reconcile(ctx, r.Partition, prev, msg); done {
			return res, err
		}
	default:
		prev = Entry{ID: cmd.ID, State: StateAttempt, To: msg.To, BodySHA256: bodyHash(msg.Body), At: o.opts.Now().UTC()}
		if err := o.journal.Record(ctx, o.output(prev)); err != nil {
			return operators.Result{}, fmt.Errorf("smsout: journaling the attempt of %s: %w", cmd.ID, err)
		}
		o.entries(r.Partition)[cmd.ID] = prev
	}
	return o.send(ctx, r.Partition, prev, msg)
}

// decode reads r as a send_sms and its message; a nil command means r is
// not one to send, and its Result says why.
func (o *Operator) decode(r operators.Record) (*schemas.Command, sms.Message, operators.Result) {
	var cmd schemas.Command
	refuse := func(err error) (*schemas.Command, sms.Message, operators.Result) {
		return nil, sms.Message{}, operators.Result{Err: operators.Permanent(err)}
	}
	switch err := schemas.Unmarshal(r.Value, &cmd); {
	case err != nil:
		return refuse(err)
	case cmd.CommandType != schemas.CommandSendSMS:
		return nil, sms.Message{}, operators.Result{Dropped: DroppedNotSMS}
	case cmd.SendSMS == nil:
		return refuse(fmt.Errorf("send_sms %s has no arguments", cmd.ID))
	case string(r.Key) != cmd.Key():
		// Keyed otherwise, two copies of one command may land on two
		// partitions, two owners and two sent logs.
		return refuse(fmt.Errorf("send_sms %s is keyed %q: its key must be its command id (Command.Key)", cmd.ID, r.Key))
	}
	// Checked before anything is journaled: no message could carry it.
	if _, err := sms.Segments(cmd.SendSMS.Body); err != nil {
		return refuse(fmt.Errorf("send_sms %s: %w", cmd.ID, err))
	}
	return &cmd, sms.Message{To: cmd.SendSMS.To, Body: cmd.SendSMS.Body, StatusCallback: o.cfg.StatusCallback}, operators.Result{}
}

// reconcile asks the Sender whether attempt, journaled and left without a
// result, was sent. done: it was (res records it), it cannot be told (res
// dead-letters it unsent) or err fails the batch; otherwise it is to be sent.
func (o *Operator) reconcile(ctx context.Context, p int32, attempt Entry, msg sms.Message) (res operators.Result, done bool, err error) {
	found, ok, err := o.opts.Sender.FindSent(ctx, msg, attempt.At)
	log := o.log.With("command", attempt.ID, "to", attempt.To, "attempted", attempt.At)
	switch {
	case err != nil && ctx.Err() != nil:
		return operators.Result{}, true, err
	case err != nil:
		o.m.reconciled.WithLabelValues("error").Inc()
		return operators.Result{Err: o.exhausted(fmt.Errorf("send_sms %s: reconciling its attempt: %w", attempt.ID, err))}, true, nil
	case ok:
		o.m.reconciled.WithLabelValues("found").Inc()
		log.Info("sms: an attempt without result was sent already; not sending it again", "sid", found.Sid)
		at := found.Created
		if at.IsZero() {
			at = o.opts.Now()
		}
		return o.sent(p, attempt, found.Sid, at), true, nil
	}
	o.m.reconciled.WithLabelValues("not_found").Inc()
	log.Info("sms: an attempt without result never reached Twilio; sending it")
	return operators.Result{}, false, nil
}

// send hands msg, journaled as attempt, to the Sender at the rate limit.
func (o *Operator) send(ctx context.Context, p int32, attempt Entry, msg sms.Message) (operators.Result, error) {
	if err := o.limit.Wait(ctx); err != nil {
		return operators.Result{}, err
	}
	sid, err := o.opts.Sender.Send(ctx, msg)
	var perm *sms.PermanentError
	switch {
	case errors.As(err, &perm):
		o.m.failed.WithLabelValues(strconv.Itoa(perm.Code)).Inc()
		return operators.Result{Err: operators.Permanentf("send_sms %s: %w", attempt.ID, err)}, nil
	case err != nil && ctx.Err() != nil:
		return operators.Result{}, err // shutting down: the attempt is journaled, the next run reconciles
	case err != nil:
		o.m.failed.WithLabelValues("exhausted").Inc()
		return operators.Result{Err: o.exhausted(fmt.Errorf("send_sms %s: %w", attempt.ID, err))}, nil
	}
	o.m.sent.Inc()
	o.log.Debug("sms: sent", "command", attempt.ID, "to", attempt.To, "sid", sid)
	return o.sent(p, attempt, sid, o.opts.Now()), nil
}

// exhausted is the dead-letter error of a Twilio call the Sender retried
// as long as its policy allows (the runtime does not retry a stateful
// operator's records: the Sender has).
func (o *Operator) exhausted(err error) error {
	return &operators.ExhaustedError{Attempts: o.cfg.MaxAttempts, Err: err}
}

// sent records attempt as sent with sid, in memory and as the Result's
// state output.
func (o *Operator) sent(p int32, attempt Entry, sid string, at time.Time) operators.Result {
	e := attempt
	e.State, e.Sid, e.At = StateSent, sid, at.UTC()
	o.entries(p)[e.ID] = e
	return operators.Result{Outputs: []operators.Output{o.output(e)}}
}

// output is e as a record of the sent log, keyed like its input record.
func (o *Operator) output(e Entry) operators.Output {
	return operators.Output{Topic: o.opts.State, Key: []byte(e.ID), Value: e.marshal()}
}

func (o *Operator) entries(p int32) map[string]Entry {
	m := o.sentLog[p]
	if m == nil {
		m = map[string]Entry{}
		o.sentLog[p] = m
	}
	return m
}

func (o *Operator) optedOut(phone string) bool {
	if o.optOuts == nil {
		return false
	}
	_, ok := o.optOuts.Get(phone)
	return ok
}

// metrics are the operator's own metrics, labelled with its name.
type metrics struct {
	sent       prometheus.Counter
	failed     *prometheus.CounterVec // by code
	reconciled *prometheus.CounterVec // by outcome
}

func newMetrics(reg prometheus.Registerer, name string) (metrics, error) {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_sent_total",
		Help: "Texts Twilio (or the console) accepted.",
	}, []string{"operator"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_failed_total",
		Help: "send_sms commands dead-lettered after a Twilio call: by Twilio's error code for a refusal, exhausted when its retries ran out.",
	}, []string{"operator", "code"})
	reconciled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_sms_reconciled_total",
		Help: "Attempts without a result looked for in Twilio's message list: found (not sent again), not_found (sent), error (dead-lettered unsent).",
	}, []string{"operator", "outcome"})
	var err error
	if sent, err = opmetrics.Register(reg, sent); err != nil {
		return metrics{}, err
	}
	if failed, err = opmetrics.Register(reg, failed); err != nil {
		return metrics{}, err
	}
	if reconciled, err = opmetrics.Register(reg, reconciled); err != nil {
		return metrics{}, err
	}
	by := prometheus.Labels{"operator": name}
	return metrics{sent: sent.With(by), failed: failed.MustCurryWith(by), reconciled: reconciled.MustCurryWith(by)}, nil
}
