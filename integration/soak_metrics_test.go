//go:build soak && integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The soak's view of the operator process: its /metrics scraped every
// SOAK_SAMPLE, and what the samples say about memory and goroutines.

// soakSample is one scrape of the operator process, with what the soak was
// doing at the time.
type soakSample struct {
	At         time.Time
	Elapsed    time.Duration // since the load began
	Phase      string        // warmup, load, drain, quiet
	Gen        int           // which operator process: 0, 1 after a restart, ...
	Up         time.Duration // since that process started
	OK         bool          // /metrics answered
	RSS        float64       // process_resident_memory_bytes
	HeapInuse  float64       // go_memstats_heap_inuse_bytes
	Goroutines float64       // go_goroutines
	Lag        float64       // corb_consumer_lag, every operator's partitions
	Faults     float64       // corb_faults_total: faults the runtime rode out
	Detected   float64       // corb_records_out_total of detect
	Ready      bool          // /readyz answered 200
	NodesUp    int           // broker nodes running
	Loop       int           // the video loop being ingested (-1: none)
}

const soakCSVHeader = "unix_ms,elapsed_s,phase,gen,up_s,ok,rss_bytes,heap_inuse_bytes,goroutines,consumer_lag,faults_total,detect_out,ready,nodes_up,loop"

func (s soakSample) csv() string {
	return fmt.Sprintf("%d,%.0f,%s,%d,%.0f,%t,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%t,%d,%d",
		s.At.UnixMilli(), s.Elapsed.Seconds(), s.Phase, s.Gen, s.Up.Seconds(), s.OK, s.RSS, s.HeapInuse,
		s.Goroutines, s.Lag, s.Faults, s.Detected, s.Ready, s.NodesUp, s.Loop)
}

var soakHTTP = &http.Client{Timeout: 5 * time.Second}

// scrapeMetrics reads a /metrics page and sums every metric's samples over
// their label sets, by name; "NAME{operator=X}" holds the sum of one
// operator's samples as well.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := soakHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("metric line %q: no value", line)
		}
		name, labels, rest := line[:i], "", line[i:]
		if line[i] == '{' {
			end := strings.LastIndexByte(line, '}')
			if end < i {
				return nil, fmt.Errorf("metric line %q: unterminated labels", line)
			}
			labels, rest = line[i+1:end], line[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metric line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %v", line, err)
		}
		out[name] += v
		if op, ok := labelValue(labels, "operator"); ok {
			out[name+"{operator="+op+"}"] += v
		}
	}
	return out, sc.Err()
}

// labelValue is the value of label key in a Prometheus label list
// (`a="x",b="y"`); values Corb gives its labels hold no quotes or commas.
func labelValue(labels, key string) (string, bool) {
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, key+`="`); ok {
			return strings.TrimSuffix(v, `"`), true
		}
	}
	return "", false
}

// readyzOK reports whether url's /readyz answers 200.
func readyzOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := soakHTTP.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// The bounds the soak holds the operator process to, from its values after
// the warm-up to its values at the end.
//
// Memory: at most soakMemFactor× the post-warm-up value plus soakMemSlack.
// Both ends are the largest sample of a window (soakWindow) rather than one
// sample: heap in use swings with every GC cycle (GOGC=100 lets it reach
// about twice the live heap before a collection), and RSS with ONNX
// Runtime's arenas and the fetch buffers of a backlog (franz-go fetches up to
// 50 MiB at a time, and frames are ~50 KB each), so peaks are compared with
// peaks. A leak shows as growth proportional to the work done: at the default
// duration the pipeline handles thousands of frames after the warm-up, so a
// leak of even 20 KB a frame passes the 64 MiB slack; the factor leaves room
// for a backlog after a fault, which may be larger at the end than at the
// start. The slope over the whole run is reported beside the bound.
//
// Goroutines: at most the post-warm-up count plus soakGoroutineSlack (or 10%,
// whichever is larger), both measured with every broker node up (a node down
// closes connections, each of which has its goroutines). A leak per fault or
// per reconnection grows with the faults injected and shows here.
const (
	soakMemFactor      = 1.5
	soakMemSlack       = 64 << 20
	soakGoroutineSlack = 20
	soakWindow         = time.Minute
)

// soakFigure is one measure of the final operator process: after the warm-up,
// its largest value after it, and at the end.
type soakFigure struct {
	Warm, Max, End float64
	Limit          float64
	SlopePerHour   float64 // least-squares growth over the samples after the warm-up
}

func (f soakFigure) ok() bool { return f.End <= f.Limit }

// soakFigures computes the figures of the samples of the last operator
// process: warm from the soakWindow starting warmup after it started, end
// from the last soakWindow of the load (memory) and of the quiet phase
// (goroutines). It returns an error when the process did not live long
// enough to have both windows.
func soakFigures(samples []soakSample, warmup time.Duration, nodes int) (rss, heap, gor soakFigure, err error) {
	gen := -1
	for _, s := range samples {
		gen = max(gen, s.Gen)
	}
	var own []soakSample
	for _, s := range samples {
		if s.Gen == gen && s.OK {
			own = append(own, s)
		}
	}
	var post []soakSample // after the warm-up
	for _, s := range own {
		if s.Up >= warmup {
			post = append(post, s)
		}
	}
	if len(post) == 0 {
		return rss, heap, gor, fmt.Errorf("operator process %d has no samples after its %v warm-up", gen, warmup)
	}
	w0 := post[0].At
	inWarm := func(s soakSample) bool { return s.At.Before(w0.Add(soakWindow)) }
	var loadEnd time.Time
	for _, s := range post {
		if s.Phase == "load" || s.Phase == "warmup" {
			loadEnd = s.At
		}
	}
	if loadEnd.IsZero() || !loadEnd.After(w0.Add(soakWindow)) {
		return rss, heap, gor, fmt.Errorf("operator process %d: the load ended (%v) within a window of its warm-up's end (%v)", gen, loadEnd, w0)
	}
	inLoadEnd := func(s soakSample) bool {
		return (s.Phase == "load" || s.Phase == "warmup") && s.At.After(loadEnd.Add(-soakWindow))
	}
	mem := func(v func(soakSample) float64) soakFigure {
		f := soakFigure{Warm: peak(post, inWarm, v), Max: peak(post, func(soakSample) bool { return true }, v),
			End: peak(post, inLoadEnd, v), SlopePerHour: slope(post, v)}
		f.Limit = soakMemFactor*f.Warm + soakMemSlack
		return f
	}
	rss = mem(func(s soakSample) float64 { return s.RSS })
	heap = mem(func(s soakSample) float64 { return s.HeapInuse })

	// Goroutines: the median of the first samples after the warm-up with
	// every node up, and of the quiet phase.
	g := func(s soakSample) float64 { return s.Goroutines }
	var warmG, quietG []float64
	for _, s := range post {
		if s.NodesUp == nodes && s.Phase != "quiet" && len(warmG) < int(soakWindow/(10*time.Second)) {
			warmG = append(warmG, s.Goroutines)
		}
		if s.Phase == "quiet" {
			quietG = append(quietG, s.Goroutines)
		}
	}
	if len(warmG) == 0 || len(quietG) == 0 {
		return rss, heap, gor, fmt.Errorf("operator process %d: %d goroutine samples after the warm-up with every node up, %d in the quiet phase", gen, len(warmG), len(quietG))
	}
	gor = soakFigure{Warm: median(warmG), Max: peak(post, func(soakSample) bool { return true }, g),
		End: median(quietG), SlopePerHour: slope(post, g)}
	gor.Limit = gor.Warm + max(soakGoroutineSlack, math.Ceil(gor.Warm/10))
	return rss, heap, gor, nil
}

func peak(ss []soakSample, in func(soakSample) bool, v func(soakSample) float64) float64 {
	m := math.Inf(-1)
	for _, s := range ss {
		if in(s) {
			m = max(m, v(s))
		}
	}
	return m
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// slope is the least-squares growth of v per hour over ss.
func slope(ss []soakSample, v func(soakSample) float64) float64 {
	if len(ss) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	t0 := ss[0].At
	for _, s := range ss {
		x := s.At.Sub(t0).Hours()
		y := v(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(ss))
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
