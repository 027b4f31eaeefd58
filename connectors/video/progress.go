package video

import (
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// TerminalProgress returns an Ingester.NewProgress that draws a progress bar
// (frames done / total frame count) on f, or nil when f is not a terminal,
// so logs and CI output stay clean.
func TerminalProgress(f *os.File) func(src Source, total int64) ProgressBar {
	if f == nil || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(src Source, total int64) ProgressBar {
		if total <= 0 {
			total = -1 // unknown: a spinner
		}
		return barAdapter{progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(filepath.Base(src.Location)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("frames"),
			progressbar.OptionThrottle(100_000_000),
			progressbar.OptionClearOnFinish(),
		)}
	}
}

type barAdapter struct{ b *progressbar.ProgressBar }

func (a barAdapter) Add(n int) { _ = a.b.Add(n) } // a bar that cannot draw is not worth failing ingest
func (a barAdapter) Finish()   { _ = a.b.Finish() }
