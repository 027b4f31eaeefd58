package video

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// WatchOptions configure watched-directory sources.
type WatchOptions struct {
	// Suffixes choose the files to ingest; the zero value is DefaultSuffixes.
	Suffixes SuffixRules
	// StateDir holds the per-directory state files that remember ingested
	// files across restarts. Required for KindDir sources.
	StateDir string
	// Poll is how often the directory is listed (default 1s).
	Poll time.Duration
	// Settle is how long a file's size and modification time must stay
	// unchanged before it counts as complete (default 2s).
	Settle time.Duration
}

func (w WatchOptions) poll() time.Duration {
	if w.Poll <= 0 {
		return time.Second
	}
	return w.Poll
}

func (w WatchOptions) settle() time.Duration {
	if w.Settle <= 0 {
		return 2 * time.Second
	}
	return w.Settle
}

type observation struct {
	size, mtime int64
	since       time.Time
}

// watchDir ingests every complete matching file of src once, until ctx ends.
// A file that cannot be read is recorded as failed (and not retried); a sink
// failure or a frame too large for the topic stops the watch.
func (in *Ingester) watchDir(ctx context.Context, src Source, cfg CameraConfig, sink Sink, st *Stats) error {
	if in.Watch.StateDir == "" {
		return fmt.Errorf("%w: watching %s needs a state dir", ErrConfig, src.Location)
	}
	fi, err := os.Stat(src.Location)
	if err != nil {
		return &CaptureError{Source: src.String(), Op: "open", Err: err}
	}
	if !fi.IsDir() {
		return &CaptureError{Source: src.String(), Op: "open", Err: errors.New("not a directory")}
	}
	statePath := StateFileName(in.Watch.StateDir, cfg.CameraID, src.Location)
	absDir, _ := filepath.Abs(src.Location)
	state, err := LoadDirState(statePath, absDir)
	if err != nil {
		return err
	}
	clock := in.clock()
	log := in.logger().With("camera", cfg.CameraID, "dir", src.Location)
	log.Info("watching directory", "suffixes", in.Watch.Suffixes.String(), "state", statePath, "known", len(state.Files))
	pending := map[string]observation{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := os.ReadDir(src.Location)
		if err != nil {
			return &CaptureError{Source: src.String(), Op: "read", Err: err}
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		now := clock.Now()
		seen := map[string]bool{}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || !in.Watch.Suffixes.Match(name) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // vanished between listing and stat: it is not there
			}
			seen[name] = true
			key := FileKey{Name: name, Size: info.Size(), ModTime: info.ModTime().UnixNano()}
			if state.Has(key) {
				continue
			}
			obs, ok := pending[name]
			if !ok || obs.size != key.Size || obs.mtime != key.ModTime {
				pending[name] = observation{size: key.Size, mtime: key.ModTime, since: now}
				continue
			}
			if now.Sub(obs.since) < in.Watch.settle() || key.Size == 0 {
				continue
			}
			delete(pending, name)
			if err := in.ingestDropped(ctx, src, key, cfg, sink, st, state, statePath); err != nil {
				return err
			}
		}
		for name := range pending {
			if !seen[name] {
				delete(pending, name)
			}
		}
		if err := clock.Sleep(ctx, in.Watch.poll()); err != nil {
			return err
		}
	}
}

func (in *Ingester) ingestDropped(ctx context.Context, dir Source, key FileKey, cfg CameraConfig, sink Sink,
	st *Stats, state *DirState, statePath string) error {
	file := Source{Kind: KindFile, Location: filepath.Join(dir.Location, key.Name), Device: -1}
	var fst Stats
	err := in.ingestFile(ctx, file, cfg, sink, &fst, Resume{})
	st.Add(fst)
	out := FileOutcome{FileKey: key, IngestedAt: in.clock().Now().UTC(), Frames: fst.FramesSent}
	var ce *CaptureError
	switch {
	case err == nil:
		// The frames must be on the broker before the file counts as done.
		if ferr := sink.Flush(ctx); ferr != nil {
			return ferr
		}
		st.FilesIngested++
	case errors.As(err, &ce) && ctx.Err() == nil:
		st.FilesFailed++
		out.Error = err.Error()
		in.logger().Error("dropped file could not be read; recorded as failed, not retried",
			"camera", cfg.CameraID, "file", file.Location, "err", err)
	default:
		return err // ctx, sink, frame too large: not recorded, retried on restart
	}
	state.Add(out)
	return state.Save(statePath)
}
