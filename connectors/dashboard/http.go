package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

//go:embed web
var web embed.FS

var page = template.Must(template.ParseFS(web, "web/index.html"))

// writeTimeout bounds one write to a page's event stream: a page that does
// not read for this long is disconnected (it reconnects and gets a snapshot).
const writeTimeout = 10 * time.Second

// Handler serves the page, its scripts, the event stream and the frames,
// read-only and behind the token (see guard).
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.serveIndex)
	mux.HandleFunc("GET /events", d.serveEvents)
	mux.HandleFunc("GET /state", d.serveState)
	mux.HandleFunc("GET /frames/{camera}", d.serveFrame)
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "web/"+r.PathValue("file"))
	})
	return guard(d.cfg.Token, mux)
}

// serveIndex renders the page with the broker's state already in it, so
// that an unreachable broker is said before any script runs.
func (d *Dashboard) serveIndex(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	s := d.status
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := page.Execute(w, struct {
		Namespace, Brokers, Banner string
		Down                       bool
	}{d.cfg.Namespace, s.Brokers, s.Message, !s.OK})
	if err != nil {
		d.log.Debug("dashboard: writing the page", "err", err)
	}
}

// serveState is the snapshot as JSON, for scripts and curl.
func (d *Dashboard) serveState(w http.ResponseWriter, _ *http.Request) {
	var snap snapshotMsg
	d.hub.view(func(m *model) { snap = m.snapshot() })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(snap)
}

// serveFrame serves version ?v= of a camera's frames while it is held.
func (d *Dashboard) serveFrame(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseInt(r.URL.Query().Get("v"), 10, 64)
	if err != nil {
		http.Error(w, "want ?v=VERSION, as the frame event gives it", http.StatusBadRequest)
		return
	}
	var (
		ct  string
		img []byte
		ok  bool
	)
	d.hub.view(func(m *model) { ct, img, ok = m.image(r.PathValue("camera"), v) })
	if !ok {
		http.Error(w, "no such frame any more: a newer one has replaced it", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	// Versions start again at 1 when the dashboard restarts: never cached.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(img)
}

// serveEvents is the event stream: the snapshot, then every change, and a
// heartbeat comment when idle.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c := d.hub.join()
	defer d.hub.leave(c)
	beat := time.NewTicker(d.cfg.Heartbeat)
	defer beat.Stop()
	write := func(chunks ...[]byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // not every ResponseWriter has deadlines
		for _, b := range chunks {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	if err := write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	for {
		var chunks [][]byte
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			chunks = [][]byte{[]byte(": heartbeat\n\n")}
		case <-c.wake:
			for _, m := range c.take() {
				chunks = append(chunks, m.data)
			}
		}
		if err := write(chunks...); err != nil {
			d.log.Debug("dashboard: event stream closed", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
}

// Serve serves Handler on ln until ctx ends, then shuts down within 5s.
// Event streams end with ctx (their requests' context derives from it).
func (d *Dashboard) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		srv.Close()
		return fmt.Errorf("dashboard shutdown: %w", err)
	}
	return nil
}
