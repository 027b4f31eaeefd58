package detect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release the project ships and tests with.
const ORTVersion = "1.24.1"

// ErrLibraryNotFound is returned when the ONNX Runtime shared library is not
// where the configuration, CORB_ORT_LIB or the cache says it is.
var ErrLibraryNotFound = errors.New("ONNX Runtime library not found")

// ErrLibraryConflict is returned when a Detector asks for a different ONNX
// Runtime library than the one this process already loaded.
var ErrLibraryConflict = errors.New("ONNX Runtime already initialised with another library")

// ErrModelNotFound is returned when the model file does not exist.
var ErrModelNotFound = errors.New("model not found")

// CacheDir is ${CORB_CACHE:-$HOME/.cache/corb}.
func CacheDir() string {
	if d := os.Getenv("CORB_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "corb-cache")
	}
	return filepath.Join(home, ".cache", "corb")
}

// DefaultModelPath is where `make model` (deploy/model) puts NanoDet-g.
func DefaultModelPath() string { return filepath.Join(CacheDir(), "models", "nanodet-g-416.onnx") }

// DefaultLibraryPath is where deploy/ort/fetch.sh puts the ONNX Runtime library.
func DefaultLibraryPath() string {
	return filepath.Join(CacheDir(), "ort", ORTVersion, "libonnxruntime.so.1")
}

// LibraryPath resolves the ONNX Runtime library: configured (if not empty),
// else $CORB_ORT_LIB, else DefaultLibraryPath. The file must exist.
func LibraryPath(configured string) (string, error) {
	p, from := configured, "configured"
	if p == "" {
		p, from = os.Getenv("CORB_ORT_LIB"), "CORB_ORT_LIB"
	}
	if p == "" {
		p, from = DefaultLibraryPath(), "default cache path"
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w at %s (%s): run deploy/ort/fetch.sh (or `make model`), or set CORB_ORT_LIB to libonnxruntime.so.1 of onnxruntime %s",
			ErrLibraryNotFound, p, from, ORTVersion)
	}
	return p, nil
}

// ModelPath resolves the model file: configured (if not empty), else
// DefaultModelPath. The file must exist.
func ModelPath(configured string) (string, error) {
	p := configured
	if p == "" {
		p = DefaultModelPath()
	}
	if _, err := os.Stat(p); err != nil {
		if configured == "" {
			return "", fmt.Errorf("%w at %s: run `make model` (deploy/model) to convert NanoDet-g, or pass a model path", ErrModelNotFound, p)
		}
		return "", fmt.Errorf("%w: %w", ErrModelNotFound, err)
	}
	return p, nil
}

// ortEnv owns ONNX Runtime's environment, which is process-wide: the library
// is loaded with dlopen and onnxruntime_go keeps a single OrtEnv that
// InitializeEnvironment refuses to create twice. So the first Detector
// initialises it with its library, later Detectors share it, and asking for
// another library is ErrLibraryConflict. It is never destroyed: sessions may
// outlive any one Detector and a loaded library cannot be unloaded safely, so
// it lives as long as the process. A failed initialisation records nothing,
// so a later call may try again. This is the package's only mutable state.
var ortEnv struct {
	mu  sync.Mutex
	lib string
}

// initEnvironment makes sure ONNX Runtime is initialised with lib.
func initEnvironment(lib string) error {
	ortEnv.mu.Lock()
	defer ortEnv.mu.Unlock()
	abs, err := filepath.Abs(lib)
	if err != nil {
		return err
	}
	if ortEnv.lib != "" {
		if ortEnv.lib != abs {
			return fmt.Errorf("%w: loaded %s, asked for %s", ErrLibraryConflict, ortEnv.lib, abs)
		}
		return nil
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialising ONNX Runtime from %s: %w", abs, err)
	}
	ortEnv.lib = abs
	return nil
}
