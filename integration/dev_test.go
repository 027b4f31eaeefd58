//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// `corb dev` over the sample video on the real broker tells the whole story —
// the West path OCCUPIED, VACATED and OCCUPIED again, the staff member's
// SUBSCRIBE and STATUS and the texts they get, a cleaning request and its
// report — and its summary's counts are the topics' own. The dashboard it
// serves shows the video's frames with boxes and the zone changing, in a
// real browser, while it runs.
func TestDevTellsTheWholeStory(t *testing.T) {
	detecttest.NeedFile(t, filepath.Join(detect.CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh")
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "dev")
	for env, file := range map[string]string{zones.FileEnv: "../deploy/zones.yaml", directory.FileEnv: "../deploy/directory.yaml"} {
		abs, err := filepath.Abs(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, abs)
	}
	logFile := filepath.Join(t.TempDir(), "dev.log")
	p := startCorb(t, "dev", "dev", "--topology", "../deploy/topology.yaml", "--namespace", ns,
		"--brokers", strings.Join(brokers, ","), "--dashboard", "127.0.0.1:0", "--sms-listen", "127.0.0.1:0",
		"--admin-addr", "", "--log-file", logFile)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("--- corb dev's log ---\n%s", tail(string(b), 40))
		}
	})

	// The page, while the video plays.
	var url string
	kafkatest.WaitFor(t, 2*time.Minute, func() (bool, error) {
		m := regexp.MustCompile(`dashboard at (http://\S+/)`).FindStringSubmatch(p.log.String())
		if m != nil {
			url = m[1]
		}
		return m != nil, p.exited()
	})
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 960), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	// Every state the West path's card takes, sampled faster than it changes.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.seen = []; setInterval(() => {
		const s = document.querySelector('.zone[data-zone="path-west"]')?.dataset.state;
		if (s && window.seen[window.seen.length - 1] !== s) window.seen.push(s);
	}, 20)`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "vtest's frames with boxes", `(() => {
		const c = document.querySelector('figure[data-camera="vtest"] canvas');
		return !!c && Number(c.dataset.drawn) > 0 && Number(c.dataset.boxes) > 0 && c.dataset.detected === "true";
	})()`)
	waitPage(t, ctx, "the West path occupied, then free", `window.seen.indexOf("free") > window.seen.indexOf("occupied") && window.seen.includes("occupied")`)
	waitPage(t, ctx, "texts in the conversation", `document.querySelectorAll("#conversation li.out").length >= 2`)
	file := screenshot(t, ctx, "dev-dashboard.png")
	if os.Getenv("CORB_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile("../deploy/docs/dashboard.png", paletted(t, file), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if err := p.wait(5 * time.Minute); err != nil {
		t.Fatal(err)
	}
	out := p.log.String()
	summary := out[strings.LastIndex(out, "\nsummary\n"):]
	t.Logf("%s", summary)
	number := func(pattern string) int {
		t.Helper()
		m := regexp.MustCompile(`(?m)` + pattern).FindStringSubmatch(summary)
		if m == nil {
			t.Fatalf("the summary has no line like %q", pattern)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	events, commands, texts := number(`^events\s+(\d+)`), number(`^commands\s+(\d+)`), number(`^texts\s+(\d+) sent`)
	if occupied, vacated := number(`^\s+path-west\s+\w+\s+\d+\s+\d+\s+(\d+)`), number(`^\s+path-west\s+\w+\s+\d+\s+\d+\s+\d+\s+(\d+)`); occupied < 2 || vacated < 1 {
		t.Errorf("the West path was occupied %d and vacated %d times, want 2 and 1 at least", occupied, vacated)
	}
	for _, want := range []string{"← Ada +15550001    SUBSCRIBE path-west", "← Ada +15550001    STATUS",
		"→ Ada +15550001    West path is free again", "→ Ben +15550002    Cleaning needed: West path", "dead letters none"} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}

	// The topics hold exactly what the summary counted (read_committed; one
	// more is asked for, so that an extra record would be seen).
	read := func(topic string, n int) [][]byte {
		var vs [][]byte
		for _, r := range kafkatest.ConsumeAll(t, brokers, ns+"."+topic, n+1, 5*time.Second, true) {
			vs = append(vs, r.Value)
		}
		return vs
	}
	if got := len(read("events", events)); got != events {
		t.Errorf("the events topic has %d records, the summary says %d", got, events)
	}
	ids, sends := map[string]bool{}, map[string]bool{}
	types := map[string]int{}
	for _, v := range read("commands", commands) {
		var c schemas.Command
		if err := schemas.Unmarshal(v, &c); err != nil {
			t.Fatal(err)
		}
		if !ids[c.ID] {
			types[c.CommandType]++
		}
		ids[c.ID] = true
		if c.CommandType == schemas.CommandSendSMS {
			sends[c.ID] = true
		}
	}
	if len(ids) != commands {
		t.Errorf("the commands topic has %d commands, the summary says %d", len(ids), commands)
	}
	for _, typ := range []string{schemas.CommandSubscribe, schemas.CommandStatus, schemas.CommandRequestCleaning} {
		if types[typ] != 1 {
			t.Errorf("%d %s commands, want 1 (all: %v)", types[typ], typ, types)
		}
	}
	sent := map[string]bool{}
	for _, v := range read("sms-sent", 2*len(sends)) {
		var e struct{ ID, Sid string }
		if err := json.Unmarshal(v, &e); err == nil && e.Sid != "" {
			sent[e.ID] = true
		}
	}
	if len(sent) != texts || len(sends) != texts || texts < 4 {
		t.Errorf("the sent log has %d texts sent, the bus %d send_sms, the summary %d; want them equal and at least 4", len(sent), len(sends), texts)
	}
}
