//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/png"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/corb-dev/corb/integration/kafkatest"
	"github.com/corb-dev/corb/operators/detect"
	"github.com/corb-dev/corb/operators/detect/detecttest"
	"github.com/corb-dev/corb/operators/directory"
	"github.com/corb-dev/corb/operators/runtime"
	"github.com/corb-dev/corb/operators/zones"
	"github.com/corb-dev/corb/schemas"
)

// chromium finds Debian's Chromium (deploy/setup.sh installs it): $CORB_CHROMIUM,
// else chromium on the PATH, else /usr/bin/chromium. Without it the test is
// skipped, or failed under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CORB_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return detecttest.NeedFile(t, "/usr/bin/chromium", "deploy/setup.sh system (apt-get install chromium)")
}

// newBrowser starts a headless Chromium for the test: no sandbox (tests run
// as root), no GPU, a fresh profile. It ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 960))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// startDashboard runs `corb dashboard` for the default topology in namespace
// ns on brokers and returns the page's address.
func startDashboard(t *testing.T, ns string, brokers []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// The default topology's operators name the zones and directory files
	// relative to the repository's root; the dashboard draws those zones.
	for env, file := range map[string]string{zones.FileEnv: "../deploy/zones.yaml", directory.FileEnv: "../deploy/directory.yaml"} {
		abs, err := filepath.Abs(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, abs)
	}
	p := startCorb(t, "dashboard", "dashboard", "--topology", "../deploy/topology.yaml", "--namespace", ns,
		"--brokers", strings.Join(brokers, ","), "--listen", addr, "--admin-addr", "")
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr + "/"
		}
		if err := p.exited(); err != nil {
			t.Fatalf("corb dashboard stopped: %v\n%s", err, p.log.String())
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("corb dashboard does not listen on %s\n%s", addr, p.log.String())
		}
	}
}

// waitPage polls a JavaScript predicate in the page; on a timeout it fails
// the test with what the page shows.
func waitPage(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page never showed %s: %v\n--- page text ---\n%s", what, err, text)
	}
}

// screenshot saves the whole page as PNG in CORB_TEST_LOGDIR, else in the
// test's artifact directory (kept under -outputdir with go test -artifacts),
// and returns the file.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CORB_TEST_LOGDIR")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", file, len(png)>>10)
	return file
}

// labelledBoxes are the hand-drawn person boxes of vtest.avi's frame 0
// (operators/detect/testdata/labels.json), normalised to the frame.
func labelledBoxes(t *testing.T, width, height int32) []schemas.Box {
	t.Helper()
	raw, err := os.ReadFile("../operators/detect/testdata/labels.json")
	if err != nil {
		t.Fatal(err)
	}
	var labels struct {
		Samples []struct {
			File  string
			Frame int
			Boxes [][4]float32
		}
	}
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	for _, s := range labels.Samples {
		if s.File != "vtest.avi" || s.Frame != 0 {
			continue
		}
		var out []schemas.Box
		scores := []float32{0.91, 0.84, 0.78}
		for i, b := range s.Boxes {
			out = append(out, schemas.Box{ClassID: 0, Label: "person", Score: scores[i%len(scores)],
				X1: b[0] / float32(width), Y1: b[1] / float32(height), X2: b[2] / float32(width), Y2: b[3] / float32(height)})
		}
		return out
	}
	t.Fatal("labels.json has no boxes of vtest.avi's frame 0")
	return nil
}

// dashProducer writes records of the dashboard's topics in namespace ns.
type dashProducer struct {
	t  *testing.T
	ns string
	cl *kgo.Client
}

func (p *dashProducer) send(topic, key string, v any, headers ...kgo.RecordHeader) {
	p.t.Helper()
	var value []byte
	var err error
	switch v := v.(type) {
	case schemas.Record:
		value, err = schemas.Marshal(v)
	case []byte:
		value = v
	default:
		value, err = json.Marshal(v)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	rec := &kgo.Record{Topic: p.ns + "." + topic, Key: []byte(key), Value: value, Headers: headers}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		p.t.Fatalf("produce to %s: %v", rec.Topic, err)
	}
}

func (p *dashProducer) event(base time.Time, zone string, typ schemas.PresenceType, count int32, at time.Duration) {
	e := &schemas.PresenceEvent{EventID: fmt.Sprintf("%s-%s-%d", zone, typ, at), ZoneID: zone, Type: typ, Count: count, Peak: count,
		WindowStart: base.Add(at - 2*time.Second), WindowEnd: base.Add(at), EventTime: base.Add(at)}
	if typ != schemas.Vacated {
		e.OccupiedSince = base.Add(at)
	}
	p.send("events", zone, e)
}

// The dashboard in a real browser, against the real broker: the default
// topology in a namespace of its own, with a frame of the sample video, its
// person boxes, presence events, an SMS conversation and a dead letter
// produced as the pipeline would. The page draws the frame with its boxes,
// follows a zone from OCCUPIED to VACATED without a reload, and shows the
// conversation and the dead letter; a screenshot is kept (and, with
// CORB_UPDATE_SCREENSHOT=1, copied to deploy/docs/dashboard.png for the README).
func TestDashboardInBrowser(t *testing.T) {
	vtest := detecttest.NeedFile(t, filepath.Join(detect.CacheDir(), "media", "vtest.avi"), "deploy/media/fetch.sh")
	brokers := kafkatest.Brokers(t)
	ns := kafkatest.Unique(t, "dash")
	applyTopology(t, brokers, "../deploy/topology.yaml", ns)
	p := &dashProducer{t: t, ns: ns, cl: kafkatest.NewClient(t, brokers)}

	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	frame := videoFramesWidth(t, vtest, 1, base, 0)[0]
	frame.CameraID = "vtest"
	boxes := labelledBoxes(t, frame.Width, frame.Height)
	p.send("frames", "vtest", frame)
	p.send("detections", "vtest", &schemas.Detections{CameraID: "vtest", FrameSeq: frame.Seq, CaptureTime: frame.CaptureTime,
		Model: "nanodet-g-416", FrameWidth: frame.Width, FrameHeight: frame.Height, Boxes: boxes, InferenceTime: 95 * time.Millisecond})
	// What happened before the page was opened: it is replayed to it.
	p.event(base, "walkway", schemas.Occupied, 1, 0)
	p.event(base, "crossing", schemas.Occupied, 1, 5*time.Second)
	p.event(base, "walkway", schemas.CountChanged, 2, 15*time.Second)
	p.event(base, "crossing", schemas.Vacated, 0, 35*time.Second)
	p.event(base, "crossing", schemas.Occupied, 1, 50*time.Second)
	status := schemas.NewCommand(schemas.CommandStatus, schemas.Cause{Kind: schemas.CauseSMS, ID: "SM" + ns})
	status.Channel, status.Sender, status.ZoneID, status.IssuedAt = "sms", "+15550001", "walkway", base.Add(40*time.Second)
	reply := status.Child(schemas.CommandSendSMS, "reply")
	reply.Channel, reply.Sender, reply.IssuedAt = "sms", "command-handlers", status.IssuedAt
	reply.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Footpath: occupied (2 people) since " + base.Local().Format("15:04")}
	p.send("commands", status.Key(), status)
	p.send("commands", reply.Key(), reply)
	p.send("sms-sent", reply.ID, map[string]any{"id": reply.ID, "state": "sent", "to": "+15550001", "sid": "SMr" + ns, "at": status.IssuedAt})
	p.send("sms-status", "SMr"+ns, map[string]any{"sid": "SMr" + ns, "status": "delivered", "to": "+15550001", "at": status.IssuedAt})
	p.send("frames-dlq", "vtest", []byte("truncated JPEG"),
		kgo.RecordHeader{Key: runtime.HeaderReason, Value: []byte("permanent")},
		kgo.RecordHeader{Key: runtime.HeaderOperator, Value: []byte("detect")},
		kgo.RecordHeader{Key: runtime.HeaderError, Value: []byte("decoding frame: not a JPEG")},
		kgo.RecordHeader{Key: runtime.HeaderTopic, Value: []byte(ns + ".frames")})

	url := startDashboard(t, ns, brokers)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 960), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the live stream", `document.getElementById("live").textContent === "live"`)

	// The frame, drawn with its boxes: the page says so, and the canvas has
	// the picture and a box's yellow edge in its pixels.
	waitPage(t, ctx, "vtest's frame with 3 boxes", `(() => {
		const c = document.querySelector('figure[data-camera="vtest"] canvas');
		return !!c && Number(c.dataset.drawn) > 0 && c.dataset.boxes === "3" && c.dataset.detected === "true";
	})()`)
	b := boxes[0]
	pixels, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](fmt.Sprintf(`(() => {
		const c = document.querySelector('figure[data-camera="vtest"] canvas');
		const g = c.getContext("2d");
		const edge = g.getImageData(Math.round(%f * c.width), Math.round(%f * c.height), 1, 1).data;
		const all = g.getImageData(0, 0, c.width, c.height).data;
		let lit = 0;
		for (let i = 0; i < all.length; i += 4 * 97) if (all[i] + all[i + 1] + all[i + 2] > 60) lit++;
		return [edge[0], edge[1], edge[2], c.width, c.height, lit, Math.ceil(all.length / (4 * 97))];
	})()`, b.X1, (b.Y1+b.Y2)/2)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("canvas %dx%d, box edge rgb(%d,%d,%d), %d of %d sampled pixels lit", pixels[3], pixels[4], pixels[0], pixels[1], pixels[2], pixels[5], pixels[6])
	if pixels[3] != int(frame.Width) || pixels[4] != int(frame.Height) {
		t.Errorf("the canvas is %dx%d, want the frame's %dx%d", pixels[3], pixels[4], frame.Width, frame.Height)
	}
	if r, g, bl := pixels[0], pixels[1], pixels[2]; r < 200 || g < 160 || bl > 90 {
		t.Errorf("the left edge of the first box is rgb(%d,%d,%d), want the boxes' yellow", r, g, bl)
	}
	if pixels[5] < pixels[6]/2 {
		t.Errorf("only %d of %d sampled pixels are lit: the frame is not drawn", pixels[5], pixels[6])
	}

	// What was replayed: zones, the conversation with its delivery, the dead letter.
	waitPage(t, ctx, "the replayed state", `(() => {
		const z = (id) => document.querySelector('.zone[data-zone="' + id + '"]');
		const dl = document.querySelector('#dlq tr[data-topic="frames-dlq"] td.count');
		return z("walkway")?.dataset.state === "occupied" && z("walkway")?.dataset.count === "2" &&
			z("crossing")?.dataset.state === "occupied" && z("lawn")?.dataset.state === "unknown" &&
			document.querySelectorAll("#conversation li.in").length === 1 &&
			document.querySelector('#conversation li.out')?.dataset.status === "delivered" &&
			dl?.textContent === "1" && Number(document.getElementById("timeline").dataset.points) === 5;
	})()`)

	// A zone changes while the page is open: it follows, without a reload.
	p.event(base, "lawn", schemas.Occupied, 1, 20*time.Second)
	waitPage(t, ctx, "lawn occupied", `document.querySelector('.zone[data-zone="lawn"]')?.dataset.state === "occupied"`)
	p.event(base, "lawn", schemas.CountChanged, 2, 30*time.Second)
	p.event(base, "lawn", schemas.Vacated, 0, 60*time.Second)
	notify := schemas.NewCommand(schemas.CommandSendSMS, schemas.Cause{Kind: schemas.CauseEvent, ID: "lawn-VACATED-60", Purpose: "notify +15550001"})
	notify.ZoneID, notify.Channel, notify.Sender, notify.IssuedAt = "lawn", "rules", "rules", base.Add(60*time.Second)
	notify.SendSMS = &schemas.SendSMSArgs{To: "+15550001", Body: "Lawn is free again (vacated " + base.Add(time.Minute).Local().Format("15:04") + ")."}
	p.send("commands", notify.Key(), notify)
	p.send("sms-sent", notify.ID, map[string]any{"id": notify.ID, "state": "sent", "to": "+15550001", "sid": "SMn" + ns, "at": notify.IssuedAt})
	waitPage(t, ctx, "lawn vacated, and the notification", `(() => {
		const lawn = document.querySelector('.zone[data-zone="lawn"]');
		return lawn?.dataset.state === "free" && document.querySelectorAll("#conversation li.out").length === 2 &&
			Number(document.getElementById("timeline").dataset.points) === 8;
	})()`)

	file := screenshot(t, ctx, "dashboard.png")
	if os.Getenv("CORB_UPDATE_SCREENSHOT") == "1" {
		small := paletted(t, file)
		if len(small) > 300<<10 {
			t.Fatalf("the README's screenshot is %d KB, more than 300 KB", len(small)>>10)
		}
		if err := os.WriteFile("../deploy/docs/dashboard.png", small, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// paletted re-encodes the PNG file in 256 colours, for the README: the page's
// 64 most used colours exactly (its flat backgrounds and text), the rest of
// Plan 9's palette for the camera picture, dithered. A third of the bytes.
func paletted(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	common := slices.SortedFunc(maps.Keys(counts), func(a, b color.RGBA) int { return counts[b] - counts[a] })
	pal := color.Palette{}
	for _, c := range common[:min(64, len(common))] {
		pal = append(pal, c)
	}
	for i, step := 0.0, float64(len(palette.Plan9))/float64(256-len(pal)); len(pal) < 256; i += step {
		pal = append(pal, palette.Plan9[int(i)])
	}
	out := image.NewPaletted(b, pal)
	draw.FloydSteinberg.Draw(out, b, img, image.Point{})
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// With the broker down the page still loads and says so: the banner names
// the broker and since when, in the first page and on the stream.
func TestDashboardInBrowserBrokerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there any more
	url := startDashboard(t, kafkatest.Unique(t, "dash"), []string{down})
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	// The first page has the banner already; the stream's snapshot keeps it.
	waitPage(t, ctx, "the live stream", `document.getElementById("live").textContent === "live" && document.querySelector(".zone") !== null`)
	waitPage(t, ctx, "the unreachable banner", fmt.Sprintf(`(() => {
		const b = document.getElementById("banner");
		return !b.hidden && b.classList.contains("down") && document.body.dataset.kafka === "down" &&
			b.textContent.startsWith("Kafka at %s is unreachable since ") && b.textContent.includes("retrying");
	})()`, down))
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Zones", "Lawn", "Timeline", "Conversation", "Dead letters", "frames-dlq"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q; it shows:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "dashboard-broker-down.png")
}
