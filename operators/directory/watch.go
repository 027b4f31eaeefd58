package directory

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Watcher keeps a directory current while a process runs: it reloads the
// file when its size or modification time changes. A reload that fails is
// logged and the last good directory stays in use, so a half-saved edit never
// locks everybody out. Create it with NewWatcher; it is safe for concurrent use.
type Watcher struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	current *Directory
	stamp   stamp
}

type stamp struct {
	size int64
	mod  time.Time
}

// NewWatcher loads the directory at path; a file that does not load is an
// error. log may be nil (slog.Default()).
func NewWatcher(path string, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{path: path, log: log}
	st, err := w.stat()
	if err != nil {
		return nil, err
	}
	d, err := Load(path)
	if err != nil {
		return nil, err
	}
	w.current, w.stamp = d, st
	return w, nil
}

// Current is the directory as last loaded.
func (w *Watcher) Current() *Directory {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Check reloads the file if it changed since the last load, and reports
// whether a new directory is in use. A failed reload keeps the old one and
// returns the error.
func (w *Watcher) Check() (bool, error) {
	st, err := w.stat()
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st == w.stamp {
		return false, nil
	}
	w.stamp = st // a broken file is reported once, not at every check
	d, err := Load(w.path)
	if err != nil {
		return false, err
	}
	w.current = d
	return true, nil
}

// Run checks the file every interval until ctx ends, logging reloads and
// failed reloads. It returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			switch changed, err := w.Check(); {
			case err != nil:
				w.log.Warn("directory not reloaded; the previous one stays in use", "file", w.path, "err", err)
			case changed:
				w.log.Info("directory reloaded", "file", w.path, "people", len(w.Current().people))
			}
		}
	}
}

func (w *Watcher) stat() (stamp, error) {
	fi, err := os.Stat(w.path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{size: fi.Size(), mod: fi.ModTime()}, nil
}
