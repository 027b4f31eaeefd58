package schemas

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZTiming(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		lines := strings.SplitN(string(raw), "\n", 2)
		s := strings.TrimSpace(lines[1])
		s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
		b, err := strconv.Unquote(s)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fuzzDecode[Detections](t, []byte(b))
		if d := time.Since(start); d > 5*time.Millisecond {
			t.Logf("%s: %d bytes, %v", filepath.Base(f), len(b), d)
		}
	}
}
