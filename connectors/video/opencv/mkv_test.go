package opencv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/corb-dev/corb/connectors/video"
)

// An upload remuxed into Matroska is the same video: the FFmpeg backend
// decodes vtest.mkv (ffmpeg -c copy of vtest.avi) to the same frames, at the
// same times, as the .avi, so both ingest alike.
func TestMatroskaRemuxDecodesAlike(t *testing.T) {
	avi := vtestPath()
	need(t, "vtest.avi (deploy/media/fetch.sh)", avi != "")
	ff, err := exec.LookPath("ffmpeg")
	need(t, "ffmpeg", err == nil)
	mkv := filepath.Join(t.TempDir(), "vtest.mkv")
	if b, err := exec.Command(ff, "-nostdin", "-v", "error", "-i", avi, "-c", "copy", mkv).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg -c copy: %v\n%s", err, b)
	}
	type frame struct {
		pos  time.Duration
		jpeg []byte
	}
	decode := func(path string) []frame {
		t.Helper()
		c, _, err := Opener{}.Open(context.Background(), video.Source{Kind: video.KindFile, Location: path, Device: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var out []frame
		for {
			pos, err := c.Read()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			f := frame{pos: pos}
			if len(out)%100 == 0 { // a sample of the pictures
				img, err := c.Encode(192, 80)
				if err != nil {
					t.Fatal(err)
				}
				f.jpeg = img.Data
			}
			out = append(out, f)
		}
	}
	a, m := decode(avi), decode(mkv)
	if len(a) != 795 || len(m) != len(a) {
		t.Fatalf("vtest.avi has %d frames, vtest.mkv %d; want 795 each", len(a), len(m))
	}
	for i := range a {
		// Matroska stores times in milliseconds; AVI counts frames at 10 fps.
		if d := m[i].pos - a[i].pos; d < -time.Millisecond || d > time.Millisecond || !bytes.Equal(a[i].jpeg, m[i].jpeg) {
			t.Fatalf("frame %d: avi at %v, mkv at %v (pictures equal: %v)", i, a[i].pos, m[i].pos, bytes.Equal(a[i].jpeg, m[i].jpeg))
		}
	}
}
