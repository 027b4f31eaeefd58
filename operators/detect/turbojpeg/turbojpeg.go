// Package turbojpeg decodes JPEG frames with libjpeg-turbo's TurboJPEG API,
// straight into OpenCV Mats, and as small as a detector can use: when a
// frame is at least twice the size needed, the decoder's DCT scaling (1/2,
// 1/4 or 1/8) skips most of the inverse DCT, upsampling and colour conversion
// of the pixels a resize would throw away.
//
// It is faster than OpenCV's imdecode on the same library, and a scaled
// decode costs a fraction of a full one (figures in BENCHMARKS.md). The M/8
// scales between 1/2 and 1 are not used: on x86 they have no SIMD and are
// slower than a full decode.
package turbojpeg

/*
#cgo pkg-config: libturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

// scaledFactor picks the smallest of libjpeg-turbo's scaling factors 1/2,
// 1/4 and 1/8 whose scaled image is at least minW×minH, or 1 when none is.
static void scaledFactor(int w, int h, int minW, int minH, int *num, int *denom) {
	*num = 1; *denom = 1;
	int n = 0;
	tjscalingfactor *f = tjGetScalingFactors(&n);
	double best = 1.0;
	for (int i = 0; f != NULL && i < n; i++) {
		double s = (double)f[i].num / f[i].denom;
		if (f[i].num != 1 || s >= best) continue;
		if (TJSCALED(w, f[i]) >= minW && TJSCALED(h, f[i]) >= minH) {
			best = s; *num = f[i].num; *denom = f[i].denom;
		}
	}
}

static int scaled(int dim, int num, int denom) {
	tjscalingfactor f = {num, denom};
	return TJSCALED(dim, f);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"
)

// ErrDecode wraps every failure to decode an image.
var ErrDecode = errors.New("turbojpeg")

// MaxPixels bounds the full size of an image Decode accepts, so that a forged
// header cannot make it allocate gigabytes (64 MP: above 8K video).
const MaxPixels = 1 << 26

// Decoder decodes JPEG images. It holds a libjpeg-turbo handle: use one per
// goroutine, and Close it when done.
type Decoder struct {
	h C.tjhandle
}

// NewDecoder returns a Decoder.
func NewDecoder() (*Decoder, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, fmt.Errorf("%w: cannot start a decompressor: %s", ErrDecode, C.GoString(C.tjGetErrorStr2(nil)))
	}
	return &Decoder{h: h}, nil
}

// Close frees the handle.
func (d *Decoder) Close() error {
	if d.h == nil {
		return nil
	}
	rc := C.tjDestroy(d.h)
	d.h = nil
	if rc != 0 {
		return fmt.Errorf("%w: closing: %s", ErrDecode, C.GoString(C.tjGetErrorStr2(nil)))
	}
	return nil
}

// size reads the width and height in b's header.
func (d *Decoder) size(b []byte) (width, height int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: no bytes", ErrDecode)
	}
	var w, h, sub, cs C.int
	if C.tjDecompressHeader3(d.h, (*C.uchar)(unsafe.Pointer(&b[0])), C.ulong(len(b)), &w, &h, &sub, &cs) != 0 {
		return 0, 0, d.err("reading the header")
	}
	if w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%w: no frame header", ErrDecode)
	}
	if int(w)*int(h) > MaxPixels {
		return 0, 0, fmt.Errorf("%w: %d×%d image: want at most %d pixels", ErrDecode, w, h, MaxPixels)
	}
	return int(w), int(h), nil
}

// Decode decodes b into an 8-bit BGR Mat (which the caller must close) and
// returns the image's full size. need, given that size, says the least size
// the caller will use: the image is decoded at the smallest of 1/8, 1/4 and
// 1/2 that is still at least that, else at full size (a nil need, or 0×0,
// asks for full size). Warnings from libjpeg (recoverable corruption) are not
// errors, as in OpenCV's imdecode; a truncated or undecodable image is.
func (d *Decoder) Decode(b []byte, need func(w, h int) (minW, minH int)) (m gocv.Mat, width, height int, err error) {
	width, height, err = d.size(b)
	if err != nil {
		return gocv.Mat{}, 0, 0, err
	}
	minW, minH := width, height
	if need != nil {
		if minW, minH = need(width, height); minW <= 0 && minH <= 0 {
			minW, minH = width, height
		}
	}
	var num, denom C.int
	C.scaledFactor(C.int(width), C.int(height), C.int(minW), C.int(minH), &num, &denom)
	sw, sh := int(C.scaled(C.int(width), num, denom)), int(C.scaled(C.int(height), num, denom))
	m = gocv.NewMatWithSize(sh, sw, gocv.MatTypeCV8UC3)
	pix, perr := m.DataPtrUint8()
	if perr != nil || len(pix) != sw*sh*3 {
		m.Close()
		return gocv.Mat{}, 0, 0, fmt.Errorf("%w: cannot allocate a %d×%d image: %v", ErrDecode, sw, sh, perr)
	}
	rc := C.tjDecompress2(d.h, (*C.uchar)(unsafe.Pointer(&b[0])), C.ulong(len(b)),
		(*C.uchar)(unsafe.Pointer(&pix[0])), C.int(sw), C.int(sw*3), C.int(sh), C.TJPF_BGR, C.TJFLAG_LIMITSCANS)
	if rc != 0 && C.tjGetErrorCode(d.h) != C.TJERR_WARNING {
		m.Close()
		return gocv.Mat{}, 0, 0, d.err("decoding")
	}
	return m, width, height, nil
}

func (d *Decoder) err(doing string) error {
	return fmt.Errorf("%w: %s: %s", ErrDecode, doing, C.GoString(C.tjGetErrorStr2(d.h)))
}
