package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Encoding is the character set a message travels in.
type Encoding uint8

const (
	// GSM7 is the GSM 03.38 default alphabet: 7 bits a character, and 14 for
	// the characters of its extension table (an escape, then the character).
	GSM7 Encoding = iota + 1
	// UCS2 is 16 bits a UTF-16 code unit; characters beyond the Basic
	// Multilingual Plane (most emoji) take two. One character outside GSM-7
	// makes the whole message UCS-2.
	UCS2
)

func (e Encoding) String() string {
	switch e {
	case GSM7:
		return "GSM-7"
	case UCS2:
		return "UCS-2"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Segment sizes, in the encoding's units: GSM-7 septets or UTF-16 code units.
// A concatenated message loses room in every segment to the header that
// numbers the parts.
const (
	GSM7Single = 160 // a message that fits one segment
	GSM7Part   = 153 // each segment of a longer one
	UCS2Single = 70
	UCS2Part   = 67
)

// MaxBody is Twilio's limit on a message body (error 21617 beyond it). Corb
// counts it in UTF-16 code units, which are never fewer than characters, so
// a body that passes here is not refused there.
const MaxBody = 1600

// Errors of Segments. They are permanent: the same body always fails.
var (
	ErrEmptyBody   = errors.New("sms: empty message body")
	ErrBodyTooLong = errors.New("sms: message body too long")
	ErrInvalidUTF8 = errors.New("sms: message body is not valid UTF-8")
)

// Segmented is a body ready to send: its encoding, and its parts, each of
// which fits one segment.
type Segmented struct {
	Encoding Encoding
	// Parts is the body itself when it fits one segment (GSM7Single or
	// UCS2Single). Otherwise it is the body split on word boundaries into
	// parts of at most GSM7Part or UCS2Part units each, without the
	// whitespace at the cuts and around the body; a word too long for a
	// part is cut between characters, never inside a UTF-16 surrogate pair
	// and, where the part has room, not before a combining mark or inside an
	// emoji sequence.
	//
	// Parts of the concatenated size fit either way they are sent: as one
	// message (Twilio bills about len(Parts) segments) or one message a part,
	// each then a single segment that cannot break inside a word.
	Parts []string
}

// Segments splits body into parts of one segment each (see Segmented). It
// fails on an empty or blank body, on invalid UTF-8 and on a body longer
// than MaxBody: cutting a message short is a decision for whoever wrote it.
func Segments(body string) (Segmented, error) {
	switch {
	case strings.TrimSpace(body) == "":
		return Segmented{}, ErrEmptyBody
	case !utf8.ValidString(body):
		return Segmented{}, ErrInvalidUTF8
	}
	if n := utf16Len(body); n > MaxBody {
		return Segmented{}, fmt.Errorf("%w: %d characters, at most %d", ErrBodyTooLong, n, MaxBody)
	}
	enc := EncodingOf(body)
	single, part := enc.limits()
	if enc.units(body) <= single {
		return Segmented{Encoding: enc, Parts: []string{body}}, nil
	}
	return Segmented{Encoding: enc, Parts: split(body, part, enc.cost)}, nil
}

// Count is the encoding of body and the number of segments Twilio bills
// for it sent as one message: characters packed greedily, an extension
// character or a surrogate pair never straddling two segments. An empty
// body is 0 segments.
func Count(body string) (Encoding, int) {
	enc := EncodingOf(body)
	single, part := enc.limits()
	switch n := enc.units(body); {
	case n == 0:
		return enc, 0
	case n <= single:
		return enc, 1
	}
	segments, used := 1, 0
	for _, r := range body {
		c := enc.cost(r)
		if used+c > part {
			segments, used = segments+1, 0
		}
		used += c
	}
	return enc, segments
}

// EncodingOf is GSM7 when every character of body is in the GSM-7 alphabet
// or its extension table, and UCS2 otherwise.
func EncodingOf(body string) Encoding {
	for _, r := range body {
		if gsmCost(r) == 0 {
			return UCS2
		}
	}
	return GSM7
}

func (e Encoding) limits() (single, part int) {
	if e == GSM7 {
		return GSM7Single, GSM7Part
	}
	return UCS2Single, UCS2Part
}

func (e Encoding) cost(r rune) int {
	if e == GSM7 {
		return gsmCost(r)
	}
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1 // invalid UTF-8 decodes to U+FFFD, one unit
}

func (e Encoding) units(s string) int {
	n := 0
	for _, r := range s {
		n += e.cost(r)
	}
	return n
}

func utf16Len(s string) int { return UCS2.units(s) }

// gsmCost is the septets r takes in GSM-7: 1 in the default alphabet, 2 in
// the extension table, 0 when GSM-7 cannot carry it.
func gsmCost(r rune) int {
	switch {
	case r == '\n' || r == '\r':
		return 1
	case r == '\f' || r == '€' || r < 0x80 && strings.ContainsRune(`^{}\[]~|`, r):
		return 2
	case r < 0x20 || r == '`' || r == 0x7f:
		return 0
	case r < 0x80:
		return 1
	case strings.ContainsRune(gsmBasicNonASCII, r):
		return 1
	}
	return 0
}

// gsmBasicNonASCII is the default alphabet outside ASCII; with \n, \r and
// printable ASCII but for ` and the extension characters it makes up all 128
// positions but the escape.
const gsmBasicNonASCII = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà"

// split cuts body into parts of at most limit units, at whitespace where it
// can; see Segmented.Parts.
func split(body string, limit int, cost func(rune) int) []string {
	var parts []string
	rest := strings.TrimFunc(body, unicode.IsSpace)
	for rest != "" {
		used, end, lastBreak := 0, 0, -1
		prevSpace := false
		for i, r := range rest {
			c := cost(r)
			if used+c > limit {
				break
			}
			space := unicode.IsSpace(r)
			if space && !prevSpace {
				lastBreak = i
			}
			used, end, prevSpace = used+c, i+utf8.RuneLen(r), space
		}
		if end == len(rest) {
			parts = append(parts, rest)
			break
		}
		next, _ := utf8.DecodeRuneInString(rest[end:])
		cut := end
		switch {
		case unicode.IsSpace(next):
		case lastBreak > 0:
			cut = lastBreak
		default:
			cut = clusterCut(rest, end)
		}
		parts = append(parts, strings.TrimRightFunc(rest[:cut], unicode.IsSpace))
		rest = strings.TrimLeftFunc(rest[cut:], unicode.IsSpace)
	}
	return parts
}

// clusterCut moves a cut inside a word back to before the character that
// the next one joins to (a combining mark, a variation selector, an emoji
// modifier or tag, either side of a zero-width joiner), unless that empties
// the part: then a cluster longer than a part is cut where it must be.
func clusterCut(s string, end int) int {
	for cut := end; cut > 0; {
		after, _ := utf8.DecodeRuneInString(s[cut:])
		before, size := utf8.DecodeLastRuneInString(s[:cut])
		if !joins(after) && before != zeroWidthJoiner {
			return cut
		}
		cut -= size
	}
	return end
}

const zeroWidthJoiner = '\u200d'

func joins(r rune) bool {
	return r == zeroWidthJoiner ||
		unicode.In(r, unicode.Mn, unicode.Me) ||
		r >= 0xfe00 && r <= 0xfe0f || // variation selectors
		r >= 0x1f3fb && r <= 0x1f3ff || // skin tone modifiers
		r >= 0xe0020 && r <= 0xe007f // tag characters (subdivision flags)
}
