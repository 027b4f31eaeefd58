package kafkatest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func TestUniqueName(t *testing.T) {
	tests := []struct {
		base, test, suffix, want string
	}{
		{"frames", "TestX", "ab12", "frames-TestX-ab12"},
		{"frames", "TestX/sub case#1", "ab12", "frames-TestX_sub_case_1-ab12"},
		{"", "TestX", "ab12", "TestX-ab12"},
		{"grp", "", "ab12", "grp-ab12"},
		{"", "", "ab12", "t-ab12"},
		{"a b", "Tést", "ff", "a_b-T_st-ff"},
		{strings.Repeat("x", 300), "TestLong", "0123", strings.Repeat("x", maxNameLen-5) + "-0123"},
	}
	for _, tt := range tests {
		got := uniqueName(tt.base, tt.test, tt.suffix)
		if got != tt.want {
			t.Errorf("uniqueName(%q, %q, %q) = %q, want %q", tt.base, tt.test, tt.suffix, got, tt.want)
		}
		if !validTopic.MatchString(got) {
			t.Errorf("uniqueName(%q, %q, %q) = %q is not a valid topic name", tt.base, tt.test, tt.suffix, got)
		}
	}
}

func TestUniqueDiffers(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := Unique(t, "topic")
		if seen[n] {
			t.Fatalf("Unique returned %q twice", n)
		}
		seen[n] = true
		if !strings.HasPrefix(n, "topic-TestUniqueDiffers-") || !validTopic.MatchString(n) {
			t.Fatalf("Unique = %q", n)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{"plain", "KAFKA_BROKERS=127.0.0.1:9092\n", []string{"127.0.0.1:9092"}, nil},
		{"several", "# c\nOTHER=1\nKAFKA_BROKERS=a:1, b:2\n", []string{"a:1", "b:2"}, nil},
		{"export quoted", "export KAFKA_BROKERS=\"h:3\"", []string{"h:3"}, nil},
		{"last wins", "KAFKA_BROKERS=a:1\nKAFKA_BROKERS=b:2\n", []string{"b:2"}, nil},
		{"missing", "OTHER=1\n", nil, ErrBadEnvFile},
		{"empty value", "KAFKA_BROKERS=\n", nil, ErrBadEnvFile},
		{"no port", "KAFKA_BROKERS=localhost\n", nil, ErrBadEnvFile},
		{"empty port", "KAFKA_BROKERS=localhost:\n", nil, ErrBadEnvFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnvFile([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("KAFKA_BROKERS=127.0.0.1:9092\n"))
	f.Add([]byte("export KAFKA_BROKERS='a:1,b:2'\n# x\n"))
	f.Add([]byte("KAFKA_BROKERS=:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		brokers, err := parseEnvFile(data)
		if err != nil {
			if !errors.Is(err, ErrBadEnvFile) {
				t.Fatalf("error %v does not wrap ErrBadEnvFile", err)
			}
			return
		}
		if len(brokers) == 0 {
			t.Fatal("no error and no brokers")
		}
		for _, b := range brokers {
			i := strings.LastIndexByte(b, ':')
			if i <= 0 || i == len(b)-1 || strings.TrimSpace(b) != b {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}

// unixPingServer serves handler on a unix socket and returns its DOCKER_HOST.
func unixPingServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	// Unix socket paths are limited to ~108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "kt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + sock
}

func TestProbeDocker(t *testing.T) {
	ping := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/_ping" || r.Method != http.MethodGet {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tcpOK := httptest.NewServer(ping(http.StatusOK, "OK"))
	t.Cleanup(tcpOK.Close)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)

	tests := []struct {
		name   string
		host   string
		wantOK bool
	}{
		{"unix ok", unixPingServer(t, ping(http.StatusOK, "OK")), true},
		{"unix 500", unixPingServer(t, ping(http.StatusInternalServerError, "down")), false},
		{"unix missing", "unix:///nonexistent/docker.sock", false},
		{"tcp ok", "tcp://" + tcpOK.Listener.Addr().String(), true},
		{"tcp hangs", "tcp://" + hang.Listener.Addr().String(), false},
		{"ssh", "ssh://user@host", false},
		{"garbage", "://", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := probeDocker(ctx, tt.host)
			if tt.wantOK && err != nil {
				t.Fatalf("probeDocker(%q) = %v, want nil", tt.host, err)
			}
			if !tt.wantOK && !errors.Is(err, ErrNoDocker) {
				t.Fatalf("probeDocker(%q) = %v, want ErrNoDocker", tt.host, err)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	transient := errors.New("transient")
	t.Run("becomes true", func(t *testing.T) {
		calls := 0
		err := waitFor(context.Background(), 5*time.Second, func() (bool, error) {
			calls++
			if calls < 3 {
				return false, transient
			}
			return true, nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("err = %v, calls = %d; want nil, 3", err, calls)
		}
	})
	t.Run("deadline reports last error", func(t *testing.T) {
		err := waitFor(context.Background(), 100*time.Millisecond, func() (bool, error) { return false, transient })
		if !errors.Is(err, transient) {
			t.Fatalf("err = %v, want it to wrap %v", err, transient)
		}
	})
	t.Run("deadline without error", func(t *testing.T) {
		err := waitFor(context.Background(), 100*time.Millisecond, func() (bool, error) { return false, nil })
		if err == nil || !strings.Contains(err.Error(), "not met") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("give up stops at once", func(t *testing.T) {
		calls := 0
		err := waitFor(context.Background(), time.Minute, func() (bool, error) {
			calls++
			return false, errors.Join(ErrGiveUp, transient)
		})
		if !errors.Is(err, ErrGiveUp) || calls != 1 {
			t.Fatalf("err = %v, calls = %d; want ErrGiveUp after 1 call", err, calls)
		}
	})
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s has no go.mod: %v", root, err)
	}
	if _, err := repoRoot(t.TempDir()); err == nil {
		t.Fatal("repoRoot(temp dir) found a root")
	}
}
