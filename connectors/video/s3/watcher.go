package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/corb-dev/corb/connectors/video"
)

// Watcher ingests the video objects of a Location: every one once
// (IngestAll), or each new upload once, across restarts (Watch).
type Watcher struct {
	Store    Store    // required
	Location Location // required
	// Endpoint and Topic name the store and the frames topic in the state
	// file, which is refused when they differ.
	Endpoint, Topic string
	Camera          CameraRule        // zero: CameraKeyDir
	Suffixes        video.SuffixRules // zero: video.DefaultSuffixes
	Ingester        *video.Ingester   // required: its Opener decodes the downloaded files
	// Config is every object's camera config; CameraID comes from Camera, and
	// a zero StartTime means the object's LastModified.
	Config video.CameraConfig

	// Watch only.
	StateDir   string        // required: where the state file is
	Frames     FrameLog      // required: finds frames a killed run sent but did not record
	Events     EventSource   // nil: list the bucket every ListEvery
	ListEvery  time.Duration // default 30s
	Checkpoint int64         // frames between two records of progress (0: video.Resume's default)

	TempDir string       // where objects are downloaded ("" = os.TempDir)
	Logger  *slog.Logger // nil: slog.Default()
	Clock   video.Clock  // nil: video.SystemClock
}

func (w *Watcher) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

func (w *Watcher) clock() video.Clock {
	if w.Clock == nil {
		return video.SystemClock{}
	}
	return w.Clock
}

func (w *Watcher) listEvery() time.Duration {
	if w.ListEvery <= 0 {
		return 30 * time.Second
	}
	return w.ListEvery
}

// StatePath is the watcher's state file.
func (w *Watcher) StatePath() string {
	return StateFileName(w.StateDir, w.Endpoint, w.Location, w.Topic)
}

func (w *Watcher) check(watch bool) error {
	switch {
	case w.Store == nil || w.Ingester == nil:
		return fmt.Errorf("%w: watcher needs a store and an ingester", ErrConfig)
	case w.Location.Bucket == "":
		return fmt.Errorf("%w: watcher needs a bucket", ErrConfig)
	case watch && (w.StateDir == "" || w.Frames == nil):
		return fmt.Errorf("%w: watching %s needs a state dir and the frames log", ErrConfig, w.Location)
	}
	return w.Camera.Validate()
}

// wants reports whether an object is one to ingest: under the location and
// matching the suffix rules (by its base name).
func (w *Watcher) wants(bucket, key string) bool {
	return w.Location.Contains(bucket, key) && w.Suffixes.Match(path.Base(key))
}

// IngestAll ingests every matching object once, in key order, remembering
// nothing. An object that cannot be decoded is reported and counted
// (Stats.FilesFailed) and the others are still ingested; it returns when the
// listing is done, or at the first error of the store or the sink.
func (w *Watcher) IngestAll(ctx context.Context, sink video.Sink) (video.Stats, error) {
	var st video.Stats
	if err := w.check(false); err != nil {
		return st, err
	}
	err := w.Store.List(ctx, w.Location.Bucket, w.Location.Prefix, func(o ObjectInfo) error {
		if !w.wants(w.Location.Bucket, o.Key) {
			return nil
		}
		camera, err := w.Camera.Camera(w.Location.Prefix, o.Key)
		if err != nil {
			return err
		}
		ost, err := w.ingestObject(ctx, o, camera, w.startTime(o), sink, video.Resume{})
		st.Add(ost)
		if failed(ctx, err) {
			st.FilesFailed++
			w.logger().Error("object could not be ingested", "object", ObjectURL(w.Location.Bucket, o.Key), "err", err)
			return nil
		}
		if err == nil {
			st.FilesIngested++
		}
		return err
	})
	return st, err
}

func (w *Watcher) startTime(o ObjectInfo) time.Time {
	if !w.Config.StartTime.IsZero() {
		return w.Config.StartTime
	}
	return o.LastModified
}

// failed reports an error that retrying cannot fix: the object is gone, was
// replaced, or is not a video; rather than a store, sink or ctx failure.
func failed(ctx context.Context, err error) bool {
	var ce *video.CaptureError
	return err != nil && ctx.Err() == nil &&
		(errors.Is(err, ErrNotFound) || errors.Is(err, ErrChanged) || errors.As(err, &ce))
}

// ingestObject downloads one object version to a temporary file and
// ingests it as a video file named by the object's URL.
func (w *Watcher) ingestObject(ctx context.Context, o ObjectInfo, camera string, start time.Time, sink video.Sink, res video.Resume) (video.Stats, error) {
	name := ObjectURL(w.Location.Bucket, o.Key)
	// The extension is kept: FFmpeg probes by content, but some containers
	// are told apart by name.
	f, err := os.CreateTemp(w.TempDir, "corb-s3-*"+path.Ext(o.Key))
	if err != nil {
		return video.Stats{}, fmt.Errorf("s3: download %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	began := w.clock().Now()
	err = w.Store.Download(ctx, w.Location.Bucket, o.Key, o.ETag, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("s3: download %s: %w", name, cerr)
	}
	if err != nil {
		return video.Stats{}, err
	}
	w.logger().Info("object downloaded", "object", name, "bytes", o.Size, "took", w.clock().Now().Sub(began).Round(time.Millisecond))
	cfg := w.Config
	cfg.CameraID, cfg.StartTime = camera, start
	return w.Ingester.IngestFile(ctx, video.Source{Kind: video.KindFile, Location: f.Name(), Device: -1, Name: name}, cfg, sink, res)
}

// Watch ingests each new matching object once, until ctx ends: from Events
// when set, else by listing the bucket every ListEvery. Progress is kept in
// the state file (StatePath): an object is done, failed, or in progress at a
// frame. On start, objects a previous run left in progress are resumed
// first, at their next frame, after the frames topic was searched for frames
// that run sent but had not recorded; done and failed objects are never
// ingested again. It returns ctx.Err() when ctx ends, or the first error of
// the store, the state file, the events or the sink (after which a restart
// resumes where it stopped).
func (w *Watcher) Watch(ctx context.Context, sink video.Sink) (video.Stats, error) {
	var st video.Stats
	if err := w.check(true); err != nil {
		return st, err
	}
	statePath := w.StatePath()
	state, err := LoadState(statePath, w.Endpoint, w.Location, w.Topic)
	if err != nil {
		return st, err
	}
	log := w.logger().With("location", w.Location.String())
	mode := "listing every " + w.listEvery().String()
	if w.Events != nil {
		mode = "event notifications"
	}
	log.Info("watching object store", "by", mode, "suffixes", w.Suffixes.String(), "camera_from", w.Camera.From.String(),
		"state", statePath, "known", len(state.Objects), "in_progress", len(state.InProgress()))
	r := &watchRun{w: w, sink: sink, st: &st, state: state, path: statePath, log: log}
	for _, o := range state.InProgress() {
		if err := r.resume(ctx, o); err != nil {
			return st, err
		}
	}
	if w.Events != nil {
		return st, r.events(ctx)
	}
	for {
		err := w.Store.List(ctx, w.Location.Bucket, w.Location.Prefix, func(o ObjectInfo) error {
			if !w.wants(w.Location.Bucket, o.Key) {
				return nil
			}
			return r.handle(ctx, o)
		})
		if err != nil {
			return st, err
		}
		if err := w.clock().Sleep(ctx, w.listEvery()); err != nil {
			return st, err
		}
	}
}

// watchRun is the state of one Watch call.
type watchRun struct {
	w     *Watcher
	sink  video.Sink
	st    *video.Stats
	state *State
	path  string
	log   *slog.Logger
}

func (r *watchRun) events(ctx context.Context) error {
	for {
		evs, err := r.w.Events.Next(ctx)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if !r.w.wants(ev.Bucket, ev.Key) {
				continue
			}
			// The object now, which may be a later version than the event's:
			// that one is the one to ingest, and its own event will find it done.
			o, err := r.w.Store.Stat(ctx, ev.Bucket, ev.Key)
			if errors.Is(err, ErrNotFound) {
				r.log.Info("uploaded object is gone; nothing to ingest", "object", ObjectURL(ev.Bucket, ev.Key), "event", ev.Name)
				continue
			}
			if err != nil {
				return err
			}
			if err := r.handle(ctx, o); err != nil {
				return err
			}
		}
		if err := r.w.Events.Commit(ctx); err != nil {
			return err
		}
	}
}

// resume continues an object a previous run left in progress, if it is
// still the same version.
func (r *watchRun) resume(ctx context.Context, e ObjectState) error {
	o, err := r.w.Store.Stat(ctx, e.Bucket, e.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		return r.fail(e, err)
	case err != nil:
		return err
	case o.ETag != e.ETag:
		return r.fail(e, fmt.Errorf("%w: replaced (etag %s) before it was ingested whole", ErrChanged, o.ETag))
	}
	return r.handle(ctx, o)
}

// handle ingests an object version unless it is done or failed; a version
// in progress continues at its next frame.
func (r *watchRun) handle(ctx context.Context, o ObjectInfo) error {
	w := r.w
	k := ObjectKey{Bucket: w.Location.Bucket, Key: o.Key, ETag: o.ETag}
	e, known := r.state.Get(k)
	if known && e.Status != InProgress {
		return nil
	}
	name := ObjectURL(k.Bucket, k.Key)
	if !known {
		camera, err := w.Camera.Camera(w.Location.Prefix, o.Key)
		if err != nil {
			return r.fail(ObjectState{ObjectKey: k}, err)
		}
		mark, err := w.Frames.Mark(ctx)
		if err != nil {
			return err
		}
		e = ObjectState{ObjectKey: k, Status: InProgress, Camera: camera, StartTime: w.startTime(o).UTC(), Offsets: mark}
		if err := r.save(e); err != nil {
			return err
		}
		r.log.Info("new object", "object", name, "camera", camera, "bytes", o.Size)
	} else {
		last, err := w.Frames.LastSeq(ctx, e.Offsets, e.Camera, name)
		if err != nil {
			return err
		}
		if last+1 > e.Next {
			r.log.Info("frames past the last checkpoint are on the topic already", "object", name, "recorded_next", e.Next, "found_last", last)
			e.Next = last + 1
		}
		r.log.Info("resuming object", "object", name, "camera", e.Camera, "from_seq", e.Next)
	}
	res := video.Resume{From: e.Next, Every: w.Checkpoint, Checkpoint: func(ctx context.Context, next int64) error {
		mark, err := w.Frames.Mark(ctx)
		if err != nil {
			return err
		}
		e.Next, e.Offsets = next, mark
		return r.save(e)
	}}
	ost, err := w.ingestObject(ctx, o, e.Camera, e.StartTime, r.sink, res)
	r.st.Add(ost)
	if failed(ctx, err) {
		return r.fail(e, err)
	}
	if err != nil {
		return err // in progress: a restart resumes it
	}
	// IngestFile flushed the sink: every frame is delivered.
	e.Status, e.Frames, e.Next, e.Offsets = Done, ost.FramesSkipped+ost.FramesSent, ost.FramesSkipped+ost.FramesSent, nil
	if err := r.save(e); err != nil {
		return err
	}
	r.st.FilesIngested++
	r.log.Info("object ingested", "object", name, "camera", e.Camera, "frames", e.Frames, "sent", ost.FramesSent, "skipped", ost.FramesSkipped)
	return nil
}

// fail records an object version that cannot be ingested, so it is not tried again.
func (r *watchRun) fail(e ObjectState, err error) error {
	e.Status, e.Error, e.Offsets = Failed, err.Error(), nil
	r.st.FilesFailed++
	r.log.Error("object could not be ingested; recorded as failed, not retried", "object", ObjectURL(e.Bucket, e.Key), "err", err)
	return r.save(e)
}

func (r *watchRun) save(e ObjectState) error {
	e.Updated = r.w.clock().Now().UTC()
	r.state.Put(e)
	return r.state.Save(r.path)
}
