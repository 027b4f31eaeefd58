package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// scriptPath is kafka.sh relative to the repository root.
const scriptPath = "deploy/kafka/kafka.sh"

// defaultStateDir is kafka.sh's state dir when CORB_KAFKA_DIR is unset.
const defaultStateDir = "/tmp/corb-kafka"

// ErrBadEnvFile means kafka.sh's env file has no usable KAFKA_BROKERS line.
var ErrBadEnvFile = errors.New("kafkatest: env file has no KAFKA_BROKERS line")

// getenvBrokers reads KAFKA_BROKERS (comma-separated, blanks ignored).
func getenvBrokers() []string {
	return splitBrokers(os.Getenv("KAFKA_BROKERS"))
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// parseEnvFile reads the KAFKA_BROKERS=host:port[,host:port] line that
// kafka.sh up writes to $CORB_KAFKA_DIR/env. Blank lines, comments and other
// variables are ignored; the last KAFKA_BROKERS line wins.
func parseEnvFile(data []byte) ([]string, error) {
	var brokers []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		v, ok := strings.CutPrefix(line, "KAFKA_BROKERS=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		brokers = splitBrokers(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEnvFile, err)
	}
	if len(brokers) == 0 {
		return nil, ErrBadEnvFile
	}
	for _, b := range brokers {
		if i := strings.LastIndexByte(b, ':'); i <= 0 || i == len(b)-1 {
			return nil, fmt.Errorf("%w: %q is not host:port", ErrBadEnvFile, b)
		}
	}
	return brokers, nil
}

// repoRoot walks up from dir to the directory holding deploy/kafka/kafka.sh.
func repoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, scriptPath)); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the test's directory", scriptPath)
		}
		dir = parent
	}
}

// stateDir is kafka.sh's state dir.
func stateDir() string {
	if d := os.Getenv("CORB_KAFKA_DIR"); d != "" {
		return d
	}
	return defaultStateDir
}

// startScript runs kafka.sh up (which reuses a running broker) and reads the
// broker address from the env file it writes.
func startScript(ctx context.Context) ([]string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := repoRoot(wd)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, scriptPath), "up")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s up: %w\n%s", scriptPath, err, tail(out.String(), 40))
	}
	envFile := filepath.Join(stateDir(), "env")
	data, err := os.ReadFile(envFile)
	if err != nil {
		return nil, fmt.Errorf("%s up succeeded but: %w", scriptPath, err)
	}
	brokers, err := parseEnvFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envFile, err)
	}
	return brokers, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
