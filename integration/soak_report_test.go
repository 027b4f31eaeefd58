//go:build soak && integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// report writes faults.csv and summary.md to the artifact dir and logs the
// summary: what RELIABILITY.md's Soak section quotes.
func (r *soakRun) report(out *soakOutcome, load time.Duration, rss, heap, gor soakFigure, figErr error) {
	r.mu.Lock()
	faults := slices.Clone(r.faults)
	samples := slices.Clone(r.samples)
	findings := slices.Clone(r.findings)
	r.mu.Unlock()

	var fcsv strings.Builder
	fcsv.WriteString("n,kind,node,at_s,outage_s,start_s,in_sync_s,ready_s,error\n")
	var outages, starts, syncs, readies []time.Duration
	kills, opKills := 0, 0
	for i, f := range faults {
		fmt.Fprintf(&fcsv, "%d,%q,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%q\n", i+1, f.Kind, f.Node, f.At.Seconds(), f.Outage.Seconds(),
			f.StartTook.Seconds(), f.InSync.Seconds(), f.Ready.Seconds(), f.Err)
		if f.Node > 0 {
			kills++
			outages, starts, syncs, readies = append(outages, f.Outage), append(starts, f.StartTook), append(syncs, f.InSync), append(readies, f.Ready)
		} else {
			opKills++
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, "faults.csv"), []byte(fcsv.String()), 0o644); err != nil {
		r.t.Errorf("soak: %v", err)
	}

	ridden := 0.0
	for _, s := range samples {
		if s.OK && s.Gen == len(r.operators)-1 {
			ridden = max(ridden, s.Faults)
		}
	}
	fig := func(f soakFigure, unit func(float64) string) string {
		if figErr != nil {
			return "n/a: " + figErr.Error()
		}
		verdict := "within"
		if !f.ok() {
			verdict = "OVER"
		}
		return fmt.Sprintf("%s → %s → %s (bound %s: %s; slope %s/h)", unit(f.Warm), unit(f.Max), unit(f.End), unit(f.Limit), verdict, unit(f.SlopePerHour))
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	var b strings.Builder
	fmt.Fprintf(&b, "### Soak run %s, seed %d\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), r.cfg.Seed)
	fmt.Fprintf(&b, "`SOAK_SEED=%d SOAK_DURATION=%v make soak` (%d nodes, %.3g fps, warm-up %v, node faults every %v–%v, outages %v–%v)\n\n",
		r.cfg.Seed, r.cfg.Duration, r.cfg.Nodes, r.cfg.FPS, r.cfg.Warmup, r.cfg.FaultEvery[0], r.cfg.FaultEvery[1], r.cfg.Outage[0], r.cfg.Outage[1])
	row := func(k, v string, args ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(v, args...)) }
	b.WriteString("| measure | value |\n|---|---|\n")
	row("load", "%v (drain %v, quiet %v)", load.Round(time.Second), r.drainTook.Round(time.Second), r.cfg.Quiet)
	row("loops of vtest.avi", "%d", r.loops)
	row("frames ingested", "%d (%d written twice by ingest)", out.Frames, out.FrameDups)
	row("detections", "%d: **lost %d, duplicated %d**", out.Detections, out.Lost, out.Duplicated)
	row("zone counts", "%d over %d zones: lost %d, duplicated %d", out.ZoneCounts, out.Zones, out.ZoneLost, out.ZoneDup)
	row("presence events", "%d (%s), %d ids twice", out.Events, countsLine(out.EventTypes), out.EventDups)
	row("commands", "%d (%s), %d ids twice", out.Commands, countsLine(out.CommandTypes), out.CommandDups)
	row("dead letters", "%d (%s)", out.deadLetters(), countsLine(out.DeadLetters))
	row("faults injected", "%d node kills (SIGKILL), %d operator process kills/exits", kills, opKills)
	row("node outage", "%s", spread(outages))
	row("node start → ready", "%s", spread(starts))
	row("node start → all partitions in sync", "%s", spread(syncs))
	row("node back → operator /readyz 200", "%s", spread(readies))
	row("faults the runtime rode out (corb_faults_total, last process)", "%.0f", ridden)
	row("RSS after warm-up → max → end", "%s", fig(rss, mib))
	row("Go heap in use after warm-up → max → end", "%s", fig(heap, mib))
	row("goroutines after warm-up → max → end (quiet)", "%s", fig(gor, count))
	row("findings", "%s", joinFindings(findings))
	b.WriteString("\n| # | at | fault | node | down | back in | in sync | operator ready |\n|---|---|---|---|---|---|---|---|\n")
	for i, f := range faults {
		fmt.Fprintf(&b, "| %d | %v | %s | %d | %v | %v | %v | %v |%s\n", i+1, f.At.Round(time.Second), f.Kind, f.Node,
			f.Outage.Round(100*time.Millisecond), f.StartTook.Round(100*time.Millisecond), f.InSync.Round(100*time.Millisecond),
			f.Ready.Round(100*time.Millisecond), spaced(f.Err))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "summary.md"), []byte(b.String()), 0o644); err != nil {
		r.t.Errorf("soak: %v", err)
	}
	r.t.Logf("soak: summary (%s)\n%s", filepath.Join(r.dir, "summary.md"), b.String())
}

// spread is "median m, max x (n)" of ds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %v, max %v (%d)", s[len(s)/2].Round(100*time.Millisecond), s[len(s)-1].Round(100*time.Millisecond), len(s))
}

func joinFindings(fs []string) string {
	if len(fs) == 0 {
		return "none"
	}
	for i, f := range fs {
		f, _, _ = strings.Cut(f, "\n")
		fs[i] = f
	}
	return strings.Join(fs, "; ")
}

func spaced(err string) string {
	if err == "" {
		return ""
	}
	return " " + err
}

// writeLogs keeps every process's output in the artifact dir.
func (r *soakRun) writeLogs() {
	for i, p := range r.operators {
		_ = os.WriteFile(filepath.Join(r.dir, fmt.Sprintf("operators-%d.log", i)), []byte(p.log.String()), 0o644)
	}
	var b strings.Builder
	for _, p := range r.ingests {
		fmt.Fprintf(&b, "=== %s\n%s\n", p.name, p.log.String())
	}
	_ = os.WriteFile(filepath.Join(r.dir, "ingest.log"), []byte(b.String()), 0o644)
}
