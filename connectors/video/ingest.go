package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/corb-dev/corb/operators/runtime/fault"
	"github.com/corb-dev/corb/schemas"
)

// Image is one encoded picture.
type Image struct {
	Data          []byte // owned by the caller: never reused by the Capture
	Width, Height int
	Encoding      schemas.FrameEncoding
}

// CaptureInfo is what an opened source says about itself; zero means unknown.
type CaptureInfo struct {
	FrameCount    int64   // total frames of a file (an estimate for some containers)
	FPS           float64 // nominal frame rate
	Width, Height int
}

// Capture is an opened source delivering pictures in presentation order.
// It is used by one goroutine at a time.
type Capture interface {
	// Read decodes the next frame and returns its presentation time from the
	// start of the stream, or a negative duration when the source does not
	// say. At the end of a file it returns io.EOF; any other error means the
	// source failed (for live sources: reconnect).
	Read() (pos time.Duration, err error)
	// Encode JPEG-encodes the frame last returned by Read at quality (1..100),
	// first shrinking it to at most maxWidth pixels wide with its aspect
	// ratio kept (maxWidth <= 0: original size).
	Encode(maxWidth, quality int) (Image, error)
	// Close releases the source.
	Close() error
}

// Opener opens sources of kind KindFile, KindStream and KindDevice. An error
// that wraps ErrPermanent is not retried for live sources (e.g. an
// unsupported kind); any other open error is retried with backoff.
type Opener interface {
	Open(ctx context.Context, src Source) (Capture, CaptureInfo, error)
}

// Errors callers can classify.
var (
	// ErrPermanent marks open errors that retrying cannot fix.
	ErrPermanent = errors.New("video: permanent source error")
	// ErrConfig is wrapped by CameraConfig.Validate errors.
	ErrConfig = errors.New("video: bad camera config")
)

// CaptureError is a failure of the source (open, decode, encode) rather than of
// the sink. Ingest returns it for files; live sources reconnect instead.
type CaptureError struct {
	Source string // Source.String()
	Op     string // "open", "read", "encode"
	Err    error
}

func (e *CaptureError) Error() string {
	return fmt.Sprintf("video: %s %s: %v", e.Op, e.Source, e.Err)
}
func (e *CaptureError) Unwrap() error { return e.Err }

// DefaultQuality is the JPEG quality when CameraConfig.Quality is 0.
const DefaultQuality = 85

// CameraConfig is the per-camera part of ingest.
type CameraConfig struct {
	// CameraID names the camera; it is the Kafka key of its frames. Required.
	CameraID string
	// MaxFPS drops frames so at most this many per second (by timestamp)
	// are sent; 0 sends every frame.
	MaxFPS float64
	// MaxWidth shrinks wider frames to this width, keeping aspect; 0 keeps the size.
	MaxWidth int
	// Quality is the JPEG quality 1..100; 0 means DefaultQuality.
	Quality int
	// Realtime paces files to their own frame rate instead of as fast as possible.
	Realtime bool
	// StartTime is the capture time of a file's first frame (container time
	// 0). Zero uses the file's modification time.
	StartTime time.Time
}

// Validate checks the config; errors wrap ErrConfig.
func (c CameraConfig) Validate() error {
	switch {
	case c.CameraID == "":
		return fmt.Errorf("%w: camera id is required", ErrConfig)
	case c.MaxFPS < 0 || math.IsNaN(c.MaxFPS) || math.IsInf(c.MaxFPS, 0):
		return fmt.Errorf("%w: max_fps %v: want >= 0", ErrConfig, c.MaxFPS)
	case c.MaxWidth < 0:
		return fmt.Errorf("%w: max_width %d: want >= 0", ErrConfig, c.MaxWidth)
	case c.Quality < 0 || c.Quality > 100:
		return fmt.Errorf("%w: quality %d: want 1..100 (0: %d)", ErrConfig, c.Quality, DefaultQuality)
	}
	return nil
}

func (c CameraConfig) quality() int {
	if c.Quality == 0 {
		return DefaultQuality
	}
	return c.Quality
}

// Stats count what one Ingest call did.
type Stats struct {
	FramesRead    int64 // decoded from the source
	FramesSent    int64 // handed to the sink
	FramesDropped int64 // dropped by max_fps sampling
	FramesSkipped int64 // resumed files: kept frames an earlier run sent, decoded but not sent again
	FramesShed    int64 // live sources: oldest frames dropped while the sink was blocked (see Ingester.LiveBuffer); counted in FramesSent too, which counts frames handed over
	BytesSent     int64 // JPEG bytes handed to the sink
	Reconnects    int64 // live sources: times the source was (re)opened after a failure
	FilesIngested int64 // watched directories and object stores: files (objects) done
	FilesFailed   int64 // watched directories and object stores: files (objects) that could not be read
	Elapsed       time.Duration
}

// Add adds the counts of o (not Elapsed) to s.
func (s *Stats) Add(o Stats) {
	s.FramesRead += o.FramesRead
	s.FramesSent += o.FramesSent
	s.FramesDropped += o.FramesDropped
	s.FramesSkipped += o.FramesSkipped
	s.FramesShed += o.FramesShed
	s.BytesSent += o.BytesSent
	s.Reconnects += o.Reconnects
	s.FilesIngested += o.FilesIngested
	s.FilesFailed += o.FilesFailed
}

// State is the connection state of a live source.
type State int

const (
	StateConnecting State = iota + 1 // opening the source
	StateStreaming                   // frames are flowing
	StateBackoff                     // waiting before the next attempt
	StateStopped                     // ctx ended or the source ended for good
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateStreaming:
		return "streaming"
	case StateBackoff:
		return "backoff"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateChange is reported to Ingester.OnState.
type StateChange struct {
	Source  Source
	Camera  string
	State   State
	Attempt int           // reconnect attempt (0 for the first connection)
	Delay   time.Duration // StateBackoff: how long until the next attempt
	Err     error         // StateBackoff: why the last attempt ended
}

// ProgressBar shows how far a file is.
type ProgressBar interface {
	Add(n int)
	Finish()
}

// Ingester reads sources and sends their frames to a Sink. The zero value is
// not usable: Opener is required. One Ingester may run several Ingest calls
// concurrently (it holds no per-call state).
type Ingester struct {
	Opener Opener
	Clock  Clock        // nil: SystemClock
	Logger *slog.Logger // nil: slog.Default()
	// OnState, when set, is called on every state change of a live source
	// (connecting, streaming, backoff, stopped), e.g. to set a gauge.
	OnState func(StateChange)
	// Metrics, when set, records frame counts and live source states.
	Metrics *Metrics
	Backoff Backoff
	Watch   WatchOptions
	// NewProgress, when set, is called for each file with its frame count
	// (0 when unknown) and the returned bar is advanced per frame read.
	NewProgress func(src Source, total int64) ProgressBar
	// Limit stops a source after this many frames were sent (0: no limit).
	Limit int64
	// FlushTimeout bounds the final Sink.Flush, which runs even after ctx
	// ended so frames already read are not lost (default 30s).
	FlushTimeout time.Duration
	// LiveBuffer is how many frames of a live source (a stream, a device)
	// may wait while the sink blocks — the broker away, say (default
	// DefaultLiveBuffer). Beyond it the oldest waiting frame is dropped and
	// counted (Stats.FramesShed, corb_ingest_frames_total{result="shed"}),
	// so that the camera is read on and the newest frames go first once
	// the sink takes them again. Files are never shed: their frames block
	// the source, within the sink's own bound.
	LiveBuffer int
}

// Ingest reads src and sends its frames to sink until the source ends (a
// file), or until ctx ends (live sources and watched directories, which
// never end by themselves). It flushes the sink before returning.
//
// Errors: a file that cannot be read is a *CaptureError; a frame too large
// for the topic is a *FrameTooLargeError; a sink failure is returned as the
// sink reported it; an invalid config wraps ErrConfig. When ctx ends Ingest
// returns ctx.Err() (with the Stats so far).
func (in *Ingester) Ingest(ctx context.Context, src Source, cfg CameraConfig, sink Sink) (Stats, error) {
	return in.ingest(ctx, cfg, sink, func(st *Stats) error {
		switch src.Kind {
		case KindFile:
			return in.ingestFile(ctx, src, cfg, sink, st, Resume{})
		case KindDir:
			return in.watchDir(ctx, src, cfg, sink, st)
		case KindStream, KindDevice:
			return in.ingestLive(ctx, src, cfg, sink, st)
		}
		return fmt.Errorf("%w: unknown source kind %v", ErrConfig, src.Kind)
	})
}

// Resume continues a file's ingest where an earlier, interrupted one stopped,
// and reports progress so that the next one can.
type Resume struct {
	// From is the seq of the first frame to send. The kept frames before it
	// are decoded — the sampler sees the same timestamps, so the same frames
	// are kept and numbered as before — but not encoded or sent again.
	From int64
	// Every is how many frames are sent between checkpoints (default 50).
	Every int64
	// Checkpoint, when set, is called every Every sent frames once Sink.Flush
	// returned: every frame with a seq below next is delivered. An error
	// stops the ingest and is returned.
	Checkpoint func(ctx context.Context, next int64) error
}

func (r Resume) every() int64 {
	if r.Every <= 0 {
		return 50
	}
	return r.Every
}

// IngestFile is Ingest of one KindFile source that starts at res.From and
// checkpoints its progress through res.Checkpoint.
func (in *Ingester) IngestFile(ctx context.Context, src Source, cfg CameraConfig, sink Sink, res Resume) (Stats, error) {
	return in.ingest(ctx, cfg, sink, func(st *Stats) error {
		switch {
		case src.Kind != KindFile:
			return fmt.Errorf("%w: IngestFile of a %v source", ErrConfig, src.Kind)
		case res.From < 0:
			return fmt.Errorf("%w: resume from frame %d", ErrConfig, res.From)
		}
		return in.ingestFile(ctx, src, cfg, sink, st, res)
	})
}

// ingest checks cfg, runs body and flushes the sink, even after ctx ended.
func (in *Ingester) ingest(ctx context.Context, cfg CameraConfig, sink Sink, body func(*Stats) error) (Stats, error) {
	start := in.clock().Now()
	var st Stats
	err := cfg.Validate()
	if err == nil {
		if in.Opener == nil {
			err = fmt.Errorf("%w: Ingester.Opener is nil", ErrConfig)
		} else {
			err = body(&st)
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.flushTimeout())
	defer cancel()
	if ferr := sink.Flush(fctx); ferr != nil && err == nil {
		err = ferr
	}
	st.Elapsed = in.clock().Now().Sub(start)
	return st, err
}

func (in *Ingester) flushTimeout() time.Duration {
	if in.FlushTimeout <= 0 {
		return 30 * time.Second
	}
	return in.FlushTimeout
}

func (in *Ingester) clock() Clock {
	if in.Clock == nil {
		return SystemClock{}
	}
	return in.Clock
}

func (in *Ingester) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.Default()
	}
	return in.Logger
}

func (in *Ingester) ingestFile(ctx context.Context, src Source, cfg CameraConfig, sink Sink, st *Stats, res Resume) error {
	base := cfg.StartTime
	if base.IsZero() {
		fi, err := os.Stat(src.Location)
		if err != nil {
			return &CaptureError{Source: src.String(), Op: "open", Err: err}
		}
		base = fi.ModTime()
	}
	capt, info, err := in.Opener.Open(ctx, src)
	if err != nil {
		return &CaptureError{Source: src.String(), Op: "open", Err: err}
	}
	defer capt.Close()
	log := in.logger().With("camera", cfg.CameraID, "source", src.String())
	log.Info("ingesting file", "frames", info.FrameCount, "fps", info.FPS, "width", info.Width, "height", info.Height, "from_seq", res.From)
	var bar ProgressBar
	if in.NewProgress != nil {
		bar = in.NewProgress(src, info.FrameCount)
	}
	var seq int64
	r := &run{in: in, src: src, cfg: cfg, sink: sink, st: st, seq: &seq, bar: bar, info: info,
		base: base.UTC(), sampler: NewSampler(cfg.MaxFPS), res: res}
	if cfg.Realtime {
		r.pacer = NewPacer(in.clock())
	}
	err = r.stream(ctx, capt)
	if bar != nil {
		bar.Finish()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, errLimit) {
		err = nil
	}
	if err == nil {
		log.Info("file done", "read", st.FramesRead, "sent", st.FramesSent, "dropped", st.FramesDropped, "skipped", st.FramesSkipped)
	}
	return err
}

func (in *Ingester) ingestLive(ctx context.Context, src Source, cfg CameraConfig, sink Sink, st *Stats) error {
	clock := in.clock()
	log := in.logger().With("camera", cfg.CameraID, "source", src.String())
	report := func(c StateChange) {
		c.Source, c.Camera = src, cfg.CameraID
		switch c.State {
		case StateBackoff:
			log.Warn("video source down", "state", c.State.String(), "attempt", c.Attempt, "retry_in", c.Delay, "err", c.Err)
		default:
			log.Info("video source", "state", c.State.String(), "attempt", c.Attempt)
		}
		in.Metrics.setState(c)
		if in.OnState != nil {
			in.OnState(c)
		}
	}
	defer report(StateChange{State: StateStopped})
	faults := fault.NewLog(log, 10*time.Second, nil)
	live := newShedder(sink, in.LiveBuffer, func(*schemas.Frame) {
		in.Metrics.shed(cfg.CameraID)
		faults.Fault(slog.LevelWarn, "shed", "the frames sink is blocked (broker away?): dropping the oldest live frames", nil)
	}, func() { faults.Resolved("shed", "the frames sink takes frames again", 0) })
	defer func() {
		// Hand what is queued to the sink before Ingest's final flush,
		// bounded as that flush is.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.flushTimeout())
		defer cancel()
		_ = live.close(fctx) // a failure is the sink's: its Flush reports it
		st.FramesShed += live.shed.Load()
		faults.Resolved("shed", "the frames sink takes frames again", 0)
	}()
	sink = live
	var seq int64
	sampler := NewSampler(cfg.MaxFPS)
	epoch := clock.Now()
	attempt := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		report(StateChange{State: StateConnecting, Attempt: attempt})
		capt, info, err := in.Opener.Open(ctx, src)
		if err == nil {
			report(StateChange{State: StateStreaming, Attempt: attempt})
			r := &run{in: in, src: src, cfg: cfg, sink: sink, st: st, seq: &seq, info: info,
				live: true, epoch: epoch, sampler: sampler}
			before := st.FramesRead
			err = r.stream(ctx, capt)
			capt.Close()
			if errors.Is(err, errLimit) {
				return nil
			}
			var ce *CaptureError
			if !errors.As(err, &ce) && !errors.Is(err, io.EOF) {
				return err // sink failure, frame too large, ctx
			}
			if serr := live.failed(100 * time.Millisecond); serr != nil {
				return serr // the sink failed behind the queue
			}
			if st.FramesRead > before {
				attempt = 0 // it worked for a while: start the backoff afresh
			}
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: stream ended", io.ErrUnexpectedEOF)
			}
		} else if errors.Is(err, ErrPermanent) {
			return &CaptureError{Source: src.String(), Op: "open", Err: err}
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		d := in.Backoff.Delay(attempt)
		report(StateChange{State: StateBackoff, Attempt: attempt, Delay: d, Err: err})
		if err := clock.Sleep(ctx, d); err != nil {
			return err
		}
		attempt++
		st.Reconnects++
	}
}

// errLimit ends a stream when Ingester.Limit frames were sent.
var errLimit = errors.New("video: frame limit reached")

// run is the state of streaming one opened capture.
type run struct {
	in      *Ingester
	src     Source
	cfg     CameraConfig
	sink    Sink
	st      *Stats
	seq     *int64
	bar     ProgressBar
	info    CaptureInfo
	sampler *Sampler
	pacer   *Pacer
	live    bool
	epoch   time.Time // live: wall time the sampler counts from
	base    time.Time // file: capture time of container time 0
	res     Resume    // file: where to start, how to checkpoint
	pending int64     // frames sent since the last checkpoint
}

// stream reads frames until the capture fails (a *CaptureError, or io.EOF at
// the end of a file), the sink fails, the limit is reached or ctx ends.
func (r *run) stream(ctx context.Context, capt Capture) error {
	clock := r.in.clock()
	var index int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pos, err := capt.Read()
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if err != nil {
			return &CaptureError{Source: r.src.String(), Op: "read", Err: err}
		}
		r.st.FramesRead++
		index++
		if r.bar != nil {
			r.bar.Add(1)
		}
		var capTime time.Time
		var ts time.Duration
		if r.live {
			capTime = clock.Now().UTC()
			ts = capTime.Sub(r.epoch)
		} else {
			ts = pos
			if ts < 0 && r.info.FPS > 0 { // container gave no time: count frames
				ts = time.Duration(float64(index-1) / r.info.FPS * float64(time.Second))
			}
			if ts < 0 {
				ts = 0
			}
			capTime = r.base.Add(ts)
		}
		if !r.sampler.Keep(ts) {
			r.st.FramesDropped++
			r.in.Metrics.frame(r.cfg.CameraID, false, 0)
			continue
		}
		if *r.seq < r.res.From { // an earlier run sent it
			*r.seq++
			r.st.FramesSkipped++
			continue
		}
		if r.pacer != nil {
			if err := r.pacer.Wait(ctx, ts); err != nil {
				return err
			}
		}
		img, err := capt.Encode(r.cfg.MaxWidth, r.cfg.quality())
		if err != nil {
			return &CaptureError{Source: r.src.String(), Op: "encode", Err: err}
		}
		enc := img.Encoding
		if enc == "" {
			enc = schemas.EncodingJPEG
		}
		f := &schemas.Frame{
			CameraID:    r.cfg.CameraID,
			Source:      r.src.String(),
			Seq:         *r.seq,
			CaptureTime: capTime,
			Width:       int32(img.Width),
			Height:      int32(img.Height),
			Encoding:    enc,
			Image:       img.Data,
		}
		if err := r.sink.Send(ctx, f); err != nil {
			return err
		}
		*r.seq++
		r.st.FramesSent++
		r.st.BytesSent += int64(len(img.Data))
		r.in.Metrics.frame(r.cfg.CameraID, true, len(img.Data))
		if err := r.checkpoint(ctx); err != nil {
			return err
		}
		if r.in.Limit > 0 && *r.seq >= r.in.Limit {
			return errLimit
		}
	}
}

// checkpoint reports progress every Resume.Every sent frames, once they are
// delivered.
func (r *run) checkpoint(ctx context.Context) error {
	if r.res.Checkpoint == nil {
		return nil
	}
	if r.pending++; r.pending < r.res.every() {
		return nil
	}
	if err := r.sink.Flush(ctx); err != nil {
		return err
	}
	r.pending = 0
	return r.res.Checkpoint(ctx, *r.seq)
}
