package video

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/corb-dev/corb/schemas/strictjson"
)

// stateVersion is the format version of a watched directory's state file.
const stateVersion = 1

// ErrBadState is wrapped by errors from ParseDirState: the state file is not
// one this version wrote.
var ErrBadState = errors.New("video: bad watch state file")

// FileKey identifies one version of a file in a watched directory: a file
// replaced by another of a different size or modification time is new.
type FileKey struct {
	Name    string `json:"name"` // base name within the directory
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"` // modification time, ns since the Unix epoch
}

// FileOutcome is what became of one ingested file.
type FileOutcome struct {
	FileKey
	IngestedAt time.Time `json:"ingested_at"`
	Frames     int64     `json:"frames"`
	// Error is set when the file could not be read (corrupt, not a video);
	// such files are not retried either.
	Error string `json:"error,omitempty"`
}

// DirState remembers which files of a watched directory were ingested, so a
// restart does not ingest them twice. It is kept in a small JSON file that is
// replaced atomically (write to a temporary file, fsync, rename).
type DirState struct {
	Version int           `json:"version"`
	Dir     string        `json:"dir"`
	Files   []FileOutcome `json:"files"`
	index   map[FileKey]int
}

// StateFileName is the state file of camera cameraID watching dir, inside stateDir.
// It contains a hash of the absolute directory path, so two watched
// directories (or two cameras on one directory) never share a file.
func StateFileName(stateDir, cameraID, dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	sum := sha256.Sum256([]byte(cameraID + "\x00" + abs))
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, cameraID)
	if len(safe) > 40 {
		safe = safe[:40]
	}
	return filepath.Join(stateDir, "watch-"+safe+"-"+hex.EncodeToString(sum[:6])+".json")
}

// ParseDirState decodes a state file. Unknown fields, trailing data, another
// version and duplicate or invalid entries are errors wrapping ErrBadState.
func ParseDirState(b []byte) (*DirState, error) {
	var s DirState
	if err := strictjson.Decode(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadState, s.Version, stateVersion)
	}
	s.index = make(map[FileKey]int, len(s.Files))
	for i, f := range s.Files {
		if f.Name == "" || strings.ContainsAny(f.Name, "/\x00") || f.Size < 0 || f.Frames < 0 {
			return nil, fmt.Errorf("%w: entry %d: invalid", ErrBadState, i)
		}
		if _, dup := s.index[f.FileKey]; dup {
			return nil, fmt.Errorf("%w: entry %d: duplicate %q", ErrBadState, i, f.Name)
		}
		s.index[f.FileKey] = i
	}
	return &s, nil
}

// LoadDirState reads the state file at path; a missing file is an empty state.
func LoadDirState(path, dir string) (*DirState, error) {
	return LoadStateFile(path, ParseDirState, func() *DirState {
		return &DirState{Version: stateVersion, Dir: dir, index: map[FileKey]int{}}
	})
}

// LoadStateFile reads the state file at path with parse; a missing file is
// empty(). Errors name the file.
func LoadStateFile[S any](path string, parse func([]byte) (*S, error), empty func() *S) (*S, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("video: read state: %w", err)
	}
	s, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Has reports whether this version of a file was already handled.
func (s *DirState) Has(k FileKey) bool {
	_, ok := s.index[k]
	return ok
}

// Add records an outcome (replacing an earlier one for the same key).
func (s *DirState) Add(o FileOutcome) {
	if s.index == nil {
		s.index = map[FileKey]int{}
	}
	if i, ok := s.index[o.FileKey]; ok {
		s.Files[i] = o
		return
	}
	s.index[o.FileKey] = len(s.Files)
	s.Files = append(s.Files, o)
}

// Marshal encodes the state, entries sorted by name for stable diffs.
func (s *DirState) Marshal() ([]byte, error) {
	out := *s
	out.Version = stateVersion
	out.Files = append([]FileOutcome(nil), s.Files...)
	sort.SliceStable(out.Files, func(i, j int) bool { return out.Files[i].Name < out.Files[j].Name })
	return json.MarshalIndent(&out, "", "  ")
}

// Save writes the state to path atomically: a crash leaves either the old or
// the new file, never a torn one.
func (s *DirState) Save(path string) error {
	b, err := s.Marshal()
	if err != nil {
		return fmt.Errorf("video: encode watch state: %w", err)
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic replaces the file at path with b (creating its directory):
// written to a temporary file beside it, synced and renamed, so a crash
// leaves the old file or the new one, never a torn one. Ingest's state files
// (watched directories, object stores) are written this way.
func WriteFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("video: state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("video: write watch state: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("video: write watch state: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("video: write watch state: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("video: write watch state: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("video: write watch state: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: makes the rename durable where supported
		d.Close()
	}
	return nil
}
