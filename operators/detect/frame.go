package detect

import (
	"errors"
	"fmt"

	"gocv.io/x/gocv"

	"github.com/corb-dev/corb/operators/detect/turbojpeg"
	"github.com/corb-dev/corb/schemas"
)

// ErrUndecodable is returned by FrameDecoder.Decode for a frame whose image
// cannot be decoded or does not match its declared encoding and size.
var ErrUndecodable = errors.New("undecodable frame")

// FrameDecoder decodes the images of corb.Frame records. It holds a
// libjpeg-turbo handle: use one per goroutine and Close it when done.
type FrameDecoder struct {
	jpeg *turbojpeg.Decoder
}

// NewFrameDecoder returns a FrameDecoder.
func NewFrameDecoder() (*FrameDecoder, error) {
	j, err := turbojpeg.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	return &FrameDecoder{jpeg: j}, nil
}

// Close frees the decoder.
func (d *FrameDecoder) Close() error { return d.jpeg.Close() }

// Decode decodes f's image into an 8-bit BGR Mat, which the caller must
// close, and returns the image's full width and height. When need is not nil
// it gives, for a full size, the least size the caller will use; a JPEG at
// least twice that is decoded reduced (1/2, 1/4 or 1/8), which is much cheaper.
//
// JPEG must be complete (start and end markers) and is decoded with
// libjpeg-turbo; PNG with OpenCV; RAW_BGR must hold exactly Width×Height×3
// bytes. Errors wrap ErrUndecodable.
func (d *FrameDecoder) Decode(f *schemas.Frame, need func(w, h int) (int, int)) (m gocv.Mat, w, h int, err error) {
	bad := func(format string, args ...any) (gocv.Mat, int, int, error) {
		return gocv.Mat{}, 0, 0, fmt.Errorf("%w: camera %q seq %d: %s", ErrUndecodable, f.CameraID, f.Seq, fmt.Sprintf(format, args...))
	}
	if len(f.Image) == 0 {
		return bad("no image bytes")
	}
	switch f.Encoding {
	case schemas.EncodingJPEG:
		if !completeJPEG(f.Image) {
			// libjpeg would "decode" it, filling the missing part with grey.
			return bad("JPEG is truncated (no start or end of image marker)")
		}
		m, w, h, err := d.jpeg.Decode(f.Image, need)
		if err != nil {
			return bad("%d bytes are not a decodable JPEG image: %v", len(f.Image), err)
		}
		return m, w, h, nil
	case schemas.EncodingPNG:
		m, err := gocv.IMDecode(f.Image, gocv.IMReadColor)
		if err != nil {
			return bad("%s: %v", f.Encoding, err)
		}
		if m.Empty() {
			m.Close()
			return bad("%d bytes are not a decodable %s image", len(f.Image), f.Encoding)
		}
		return m, m.Cols(), m.Rows(), nil
	case schemas.EncodingRawBGR:
		w, h := int(f.Width), int(f.Height)
		if w <= 0 || h <= 0 || len(f.Image) != w*h*3 {
			return bad("RAW_BGR %dx%d needs %d bytes, has %d", w, h, max(w, 0)*max(h, 0)*3, len(f.Image))
		}
		m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, f.Image)
		if err != nil {
			return bad("RAW_BGR: %v", err)
		}
		return m, w, h, nil
	default:
		return bad("unknown encoding %q", f.Encoding)
	}
}

// completeJPEG reports whether b starts with a JPEG start-of-image marker and
// ends, bar zero padding, with an end-of-image marker.
func completeJPEG(b []byte) bool {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return len(b) >= 4 && b[0] == 0xff && b[1] == 0xd8 && end >= 4 && b[end-2] == 0xff && b[end-1] == 0xd9
}
