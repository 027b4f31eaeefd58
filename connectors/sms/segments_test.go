package sms_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/corb-dev/corb/connectors/sms"
)

// The GSM 03.38 default alphabet by position, 0x00 to 0x7F, with the escape
// (0x1B) as a space holder; and the extension table. The tests' own oracle.
const (
	gsmTable = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// units is the length of s in enc's units, by the oracle.
func units(enc sms.Encoding, s string) int {
	n := 0
	for _, r := range s {
		switch {
		case enc == sms.UCS2:
			n += utf16.RuneLen(r)
		case strings.ContainsRune(gsmExtension, r):
			n += 2
		default:
			n++
		}
	}
	return n
}

func TestGSMAlphabet(t *testing.T) {
	if n := utf8.RuneCountInString(gsmTable); n != 128 {
		t.Fatalf("the oracle has %d positions", n)
	}
	for i, r := range []rune(gsmTable) {
		if r == '\x1b' {
			continue
		}
		c := string(r)
		if e, n := sms.Count(strings.Repeat(c, 160)); e != sms.GSM7 || n != 1 {
			t.Errorf("0x%02X %q ×160: %v, %d segments; want GSM-7, 1", i, r, e, n)
		}
		if _, n := sms.Count(strings.Repeat(c, 161)); n != 2 {
			t.Errorf("0x%02X %q ×161: %d segments, want 2", i, r, n)
		}
	}
	for _, r := range gsmExtension {
		c := string(r)
		if e, n := sms.Count(strings.Repeat(c, 80)); e != sms.GSM7 || n != 1 {
			t.Errorf("extension %q ×80: %v, %d; want GSM-7, 1 (2 septets each)", r, e, n)
		}
		if _, n := sms.Count(strings.Repeat(c, 81)); n != 2 {
			t.Errorf("extension %q ×81: %d segments, want 2", r, n)
		}
	}
	for _, r := range "`\t\x1b\x00\x7fáçÀ“”‘’…–—😀中ё\u00a0" {
		if e := sms.EncodingOf("ok " + string(r)); e != sms.UCS2 {
			t.Errorf("%q: %v, want UCS-2", r, e)
		}
	}
}

func TestCount(t *testing.T) {
	a, á, smile := "a", "á", "😀"
	cases := []struct {
		name     string
		body     string
		enc      sms.Encoding
		segments int
	}{
		{"empty", "", sms.GSM7, 0},
		{"short", "Room 2 is free again.", sms.GSM7, 1},
		{"160 GSM", strings.Repeat(a, 160), sms.GSM7, 1},
		{"161 GSM", strings.Repeat(a, 161), sms.GSM7, 2},
		{"306 GSM", strings.Repeat(a, 306), sms.GSM7, 2},
		{"307 GSM", strings.Repeat(a, 307), sms.GSM7, 3},
		{"extension counts 2", strings.Repeat(a, 158) + "€", sms.GSM7, 1},
		{"extension over 160", strings.Repeat(a, 159) + "€", sms.GSM7, 2},
		{"extension never straddles", strings.Repeat(a, 152) + "€" + strings.Repeat(a, 152), sms.GSM7, 3},
		{"70 UCS-2", strings.Repeat(á, 70), sms.UCS2, 1},
		{"71 UCS-2", strings.Repeat(á, 71), sms.UCS2, 2},
		{"134 UCS-2", strings.Repeat(á, 134), sms.UCS2, 2},
		{"135 UCS-2", strings.Repeat(á, 135), sms.UCS2, 3},
		{"one curly quote", strings.Repeat(a, 69) + "’", sms.UCS2, 1},
		{"one emoji", strings.Repeat(a, 69) + smile, sms.UCS2, 2},
		{"35 emoji", strings.Repeat(smile, 35), sms.UCS2, 1},
		{"surrogate pair never straddles", strings.Repeat(á, 66) + smile + strings.Repeat(á, 66), sms.UCS2, 3},
	}
	for _, c := range cases {
		if enc, n := sms.Count(c.body); enc != c.enc || n != c.segments {
			t.Errorf("%s: %v, %d segments; want %v, %d", c.name, enc, n, c.enc, c.segments)
		}
	}
}

func TestSegments(t *testing.T) {
	words := func(n int) string { return strings.TrimSpace(strings.Repeat("kitchen ", n)) }
	family := "👨\u200d👩\u200d👧\u200d👦" // 11 UTF-16 units, one picture
	accented := "e\u0301"              // e and a combining acute: UCS-2 units 2
	cases := []struct {
		name  string
		body  string
		enc   sms.Encoding
		parts []string
	}{
		{"fits, kept as is", "  STATUS lobby \n", sms.GSM7, []string{"  STATUS lobby \n"}},
		{"160 GSM in one", strings.Repeat("a", 160), sms.GSM7, []string{strings.Repeat("a", 160)}},
		{"split on words", words(25), sms.GSM7, []string{words(19), words(6)}},
		{"the whitespace at a cut goes", words(19) + "  \n\r\n  " + words(6), sms.GSM7, []string{words(19), words(6)}},
		{"whitespace inside a part stays", words(3) + " \t " + words(10), sms.UCS2, []string{words(3) + " \t " + words(5), words(5)}},
		{"a word longer than a part", strings.Repeat("a", 200), sms.GSM7, []string{strings.Repeat("a", 153), strings.Repeat("a", 47)}},
		{"extension chars count 2", strings.Repeat("{}", 40) + " x", sms.GSM7, []string{strings.Repeat("{}", 38), "{}{} x"}},
		{"UCS-2 parts of 67", strings.Repeat("á", 100), sms.UCS2, []string{strings.Repeat("á", 67), strings.Repeat("á", 33)}},
		{"emoji whole", strings.Repeat("😀", 40), sms.UCS2, []string{strings.Repeat("😀", 33), strings.Repeat("😀", 7)}},
		{"ZWJ sequences whole", "áá" + strings.Repeat(family, 10), sms.UCS2, []string{"áá" + strings.Repeat(family, 5), strings.Repeat(family, 5)}},
		{"combining marks stay", strings.Repeat(accented, 40), sms.UCS2, []string{strings.Repeat(accented, 33), strings.Repeat(accented, 7)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := sms.Segments(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if got.Encoding != c.enc || strings.Join(got.Parts, "|") != strings.Join(c.parts, "|") {
				t.Errorf("got %v %q\nwant %v %q", got.Encoding, got.Parts, c.enc, c.parts)
			}
			checkParts(t, c.body, got)
		})
	}
}

func TestSegmentsRefuses(t *testing.T) {
	cases := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", sms.ErrEmptyBody},
		{"blank", " \n\t", sms.ErrEmptyBody},
		{"invalid UTF-8", "caf\xe9", sms.ErrInvalidUTF8},
		{"1601 characters", strings.Repeat("a", 1601), sms.ErrBodyTooLong},
		{"801 emoji are 1602 units", strings.Repeat("😀", 801), sms.ErrBodyTooLong},
		{"1600 characters", strings.Repeat("a", 1600), nil},
		{"800 emoji", strings.Repeat("😀", 800), nil},
	}
	for _, c := range cases {
		s, err := sms.Segments(c.body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
		if err == nil {
			checkParts(t, c.body, s)
		}
	}
}

// checkParts holds for every split: each part is non-empty valid UTF-8 and
// fits its encoding's segment; a body that fits one segment is its only part;
// and the parts, in order, are the body less whitespace at the cuts and ends.
func checkParts(t *testing.T, body string, s sms.Segmented) {
	t.Helper()
	if s.Encoding != sms.EncodingOf(body) {
		t.Fatalf("encoding %v, EncodingOf says %v", s.Encoding, sms.EncodingOf(body))
	}
	single, part := sms.GSM7Single, sms.GSM7Part
	if s.Encoding == sms.UCS2 {
		single, part = sms.UCS2Single, sms.UCS2Part
	}
	if units(s.Encoding, body) <= single {
		if len(s.Parts) != 1 || s.Parts[0] != body {
			t.Fatalf("a body of one segment came back as %q", s.Parts)
		}
		return
	}
	rest := body
	for i, p := range s.Parts {
		if p == "" || !utf8.ValidString(p) || units(s.Encoding, p) > part {
			t.Fatalf("part %d %q: empty, invalid or %d units > %d", i, p, units(s.Encoding, p), part)
		}
		if strings.TrimSpace(p) != p {
			t.Fatalf("part %d %q keeps whitespace at a cut", i, p)
		}
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if !strings.HasPrefix(rest, p) {
			t.Fatalf("part %d %q is not what follows in the body: %q", i, p, rest)
		}
		rest = rest[len(p):]
	}
	if strings.TrimSpace(rest) != "" {
		t.Fatalf("the parts leave %q of the body out", rest)
	}
}

func FuzzSegments(f *testing.F) {
	for _, s := range []string{
		"STATUS lobby", strings.Repeat("kitchen vacated ", 30), strings.Repeat("😀 ", 50),
		strings.Repeat("👨\u200d👩\u200d👧", 20), strings.Repeat("{[~]}", 40), "a\u0301\u0302\u0303" + strings.Repeat("b", 200),
		strings.Repeat("x", 1600), " \n ", "中文没有空格" + strings.Repeat("字", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s, err := sms.Segments(body)
		switch {
		case strings.TrimSpace(body) == "":
			if !errors.Is(err, sms.ErrEmptyBody) {
				t.Fatalf("blank body: %v", err)
			}
		case !utf8.ValidString(body):
			if !errors.Is(err, sms.ErrInvalidUTF8) {
				t.Fatalf("invalid UTF-8: %v", err)
			}
		case units(sms.UCS2, body) > sms.MaxBody:
			if !errors.Is(err, sms.ErrBodyTooLong) {
				t.Fatalf("%d units: %v", units(sms.UCS2, body), err)
			}
		case err != nil:
			t.Fatal(err)
		default:
			checkParts(t, body, s)
		}
	})
}
