//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/intent"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/directory"
)

// BenchmarkSMSWebhookVsBareProduce measures, in each iteration, the inbound
// SMS connector end to end on the real broker — signed Twilio webhooks
// (texts "STATUS <zone>" from staff phones) posted over loopback HTTP by
// `concurrency` clients, each answered once its command is acknowledged by
// the broker (idempotent, acks=all) — against a bare franz-go loop that
// produces the same records (the connector's own, recorded beforehand) with
// the same concurrency, client options and one ProduceSync per record. It
// reports requests/s and p99 latency of each, and their ratio.
//
//	KAFKA_BROKERS=... go test -tags integration -run '^$' -bench SMSWebhookVsBareProduce -benchtime 3x ./integration/
func BenchmarkSMSWebhookVsBareProduce(b *testing.B) {
	const requests, concurrency, phones = 2000, 16, 50
	brokers := kafkatest.Brokers(b)
	var people strings.Builder
	people.WriteString("people:\n")
	for i := range phones {
		fmt.Fprintf(&people, "  - {phone: \"+1555%07d\", name: p%d, roles: [staff]}\n", i, i)
	}
	dir, err := directory.Parse("bench.yaml", []byte(people.String()))
	if err != nil {
		b.Fatal(err)
	}
	zones := []intent.Zone{{ID: "lobby", Name: "Lobby"}, {ID: "kitchen", Name: "Kitchen"}, {ID: "room-2", Name: "Room 2"}}
	newHandler := func(p inbound.Producer, publicURL, topic string) *inbound.Handler {
		h, err := inbound.New(inbound.Config{
			AuthToken: twiliofake.DefaultAuthToken, PublicURL: publicURL,
			Producer: p, CommandsTopic: topic, StatusTopic: topic + "-status",
			Directory: func() *directory.Directory { return dir }, Zones: zones,
			Timeout: 10 * time.Second, MaxConcurrent: 4 * concurrency, CommandsPerMinute: 1e9,
			Log: quietLogger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	var webhook, bare timing
	for i := range b.N {
		ns := kafkatest.Unique(b, fmt.Sprintf("smsbench%d", i))
		forms := make([]url.Values, requests)
		for j := range forms {
			forms[j] = twiliofake.InboundForm(twiliofake.DefaultAccountSid, twiliofake.Inbound{
				MessageSid: fmt.Sprintf("SM%s%08d", ns, j), From: fmt.Sprintf("+1555%07d", j%phones),
				To: twiliofake.MagicFrom, Body: "STATUS " + zones[j%len(zones)].ID,
			})
		}
		webhookTopic, bareTopic := ns+".webhook.commands", ns+".bare.commands"
		kafkatest.CreateTopic(b, brokers, webhookTopic, 3, nil)
		kafkatest.CreateTopic(b, brokers, bareTopic, 3, nil)

		// The same records: what the connector produces for these texts.
		rec := &recording{}
		h0 := newHandler(rec, "http://bench.invalid/twilio/sms", bareTopic)
		for _, f := range forms {
			if code := serveSigned(h0, "http://bench.invalid/twilio/sms", f); code != http.StatusOK {
				b.Fatalf("recording: %d", code)
			}
		}
		if len(rec.recs) != requests {
			b.Fatalf("recorded %d records for %d texts", len(rec.recs), requests)
		}

		runWebhook := func() {
			p, err := inbound.NewKafkaProducer(brokers, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background()) //nolint:errcheck // every request waited for its record
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			defer srv.Close()
			public := srv.URL + "/twilio/sms"
			mux.Handle("/", newHandler(p, public, webhookTopic))
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
			post := func(f url.Values) error {
				resp, err := twiliofake.PostWebhook(context.Background(), client, twiliofake.DefaultAuthToken, public, f)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body) // so that the connection is kept
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("webhook answered %s", resp.Status)
				}
				return nil
			}
			// Warm up: the connection and the topic's metadata, as the bare loop's.
			if err := post(twiliofake.InboundForm(twiliofake.DefaultAccountSid, twiliofake.Inbound{MessageSid: "SMwarm" + ns, From: "+15550000000", Body: "HELP"})); err != nil {
				b.Fatal(err)
			}
			webhook.run(b, requests, concurrency, func(j int) error { return post(forms[j]) })
		}
		runBare := func() {
			cl := kafkatest.NewClient(b, brokers, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: bareTopic, Value: []byte("warm")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			bare.run(b, requests, concurrency, func(j int) error {
				r := rec.recs[j]
				return cl.ProduceSync(context.Background(), &kgo.Record{Topic: bareTopic, Key: r.Key, Value: r.Value}).FirstErr()
			})
		}
		if i%2 == 0 { // alternate which goes first: the broker's state is not the same for both
			runWebhook()
			runBare()
		} else {
			runBare()
			runWebhook()
		}
	}
	b.ReportMetric(webhook.rate(), "webhook_req/s")
	b.ReportMetric(bare.rate(), "bare_rec/s")
	b.ReportMetric(webhook.rate()/bare.rate(), "webhook/bare")
	b.ReportMetric(webhook.p99().Seconds()*1000, "webhook_p99_ms")
	b.ReportMetric(bare.p99().Seconds()*1000, "bare_p99_ms")
}

// timing accumulates the runs of one side: their wall time and every
// operation's latency.
type timing struct {
	elapsed   time.Duration
	n         int
	latencies []time.Duration
}

// run does op(0..n-1) with `workers` goroutines, timing each call.
func (t *timing) run(b *testing.B, n, workers int, op func(int) error) {
	b.Helper()
	next := make(chan int)
	lat := make([]time.Duration, n)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for j := range next {
				s := time.Now()
				if err := op(j); err != nil {
					errs <- err
					return
				}
				lat[j] = time.Since(s)
			}
		})
	}
	for j := range n {
		next <- j
	}
	close(next)
	wg.Wait()
	t.elapsed += time.Since(start)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	t.n += n
	t.latencies = append(t.latencies, lat...)
}

func (t *timing) rate() float64 { return float64(t.n) / t.elapsed.Seconds() }

func (t *timing) p99() time.Duration {
	s := slices.Clone(t.latencies)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// recording is a Producer that keeps what it is given.
type recording struct {
	mu   sync.Mutex
	recs []inbound.Record
}

func (r *recording) Produce(_ context.Context, recs []inbound.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, recs...)
	return nil
}

// serveSigned hands f to h in process, signed for publicURL.
func serveSigned(h http.Handler, publicURL string, f url.Values) int {
	req := httptest.NewRequest(http.MethodPost, publicURL, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliofake.Sign(twiliofake.DefaultAuthToken, publicURL, f))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}
