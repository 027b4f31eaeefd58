package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corb-dev/corb/schemas"
)

const testDirectoryFile = `people:
  - {phone: "+15550001", name: Ada, roles: [staff]}
  - {phone: "+15550002", name: Ben, roles: [cleaner]}
`

// freeAddr is a loopback address nothing listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// `corb sms serve` on a kfake bus, talked to with `corb sms simulate`: the
// replies the connector writes itself come back through the bus; SIGTERM
// (the context) stops it within its bound.
func TestSMSServeAndSimulate(t *testing.T) {
	f := newBusFixture(t)
	t.Setenv(envAuthToken, "s3cr3t")
	t.Setenv(envAccountSid, "")
	dir := filepath.Join(t.TempDir(), "directory.yaml")
	if err := os.WriteFile(dir, []byte(testDirectoryFile), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	url := "http://" + listen + "/twilio/sms"
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		_, err := runApp(ctx, "sms", "serve", "--listen", listen, "--public-url", url, "--admin-addr", "",
			"--topology", f.file, "--brokers", f.brokers, "--directory", dir, "--zones", "../../deploy/zones.yaml",
			"--shutdown-timeout", "2s", "--log-level", "error")
		served <- err
	}()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("serve does not listen")
		}
	}
	simulate := func(args ...string) (string, error) {
		return runApp(ctx, append([]string{"sms", "simulate", "--url", url, "--topology", f.file, "--brokers", f.brokers, "--timeout", "10s"}, args...)...)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "+15559999", "STATUS", "lawn"}, "→ +15559999: Hello. This number only answers people registered with the building."},
		{[]string{"--from", "+15550001", "status lawnn"}, "→ +15550001: I don't know the zone 'lawnn'. Did you mean Lawn?\n"},
		{[]string{"--from", "+15550002", "SUBSCRIBE", "lawn"}, "→ +15550002: Sorry, SUBSCRIBE is not open to you."},
		{[]string{"--from", "+15550001", "--sid", "SMfixed", "--no-wait", "STATUS", "footpath"},
			schemas.NewCommand("", schemas.Cause{Kind: schemas.CauseSMS, ID: "SMfixed"}).ID + "\n"},
	}
	for _, tt := range tests {
		out, err := simulate(tt.args...)
		if err != nil || !strings.HasPrefix(out, tt.want) {
			t.Errorf("simulate %q: %q, %v; want %q", tt.args, out, err, tt.want)
		}
	}
	cmds, _ := f.commands(t, 4) // three replies and the status
	i := slices.IndexFunc(cmds, func(c *schemas.Command) bool { return c.Cause.ID == "SMfixed" })
	if i < 0 || cmds[i].CommandType != "status" || cmds[i].ZoneID != "walkway" {
		t.Errorf("the text's command is not on the bus: %+v", cmds)
	}

	t.Setenv(envAuthToken, "wrong")
	if _, err := simulate("--from", "+15550001", "--no-wait", "STATUS"); err == nil || !strings.Contains(err.Error(), "refused the signature (403)") {
		t.Errorf("a wrong token: %v", err)
	}

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve at shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop within 5s of its context")
	}
}

// `corb sms serve` refuses to start, and says why, without what it needs.
func TestSMSServeRefuses(t *testing.T) {
	f := newBusFixture(t)
	dir := filepath.Join(t.TempDir(), "directory.yaml")
	if err := os.WriteFile(dir, []byte(testDirectoryFile), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"sms", "serve", "--listen", "127.0.0.1:0", "--admin-addr", "", "--topology", f.file, "--brokers", f.brokers, "--zones", "../../deploy/zones.yaml"}
	tests := []struct {
		token string
		args  []string
		err   string
	}{
		{"", []string{"--public-url", "http://x/sms", "--directory", dir}, "TWILIO_AUTH_TOKEN is not set"},
		{"t", []string{"--directory", dir}, "--public-url is required"},
		{"t", []string{"--public-url", "ftp://x/sms", "--directory", dir}, "want http(s)://host/"},
		{"t", []string{"--public-url", "http://x/sms", "--directory", dir + ".missing"}, "(set --directory or CORB_DIRECTORY)"},
		{"t", []string{"--public-url", "http://x/sms", "--directory", dir, "--zones", "absent.yaml"}, "(set --zones or CORB_ZONES)"},
		{"t", []string{"--public-url", "http://x/sms", "--directory", dir, "--namespace", "other"}, "are not on the cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			t.Setenv(envAuthToken, tt.token)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := runApp(ctx, append(base, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}
