package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/corb-dev/corb/connectors/video"
	"github.com/corb-dev/corb/schemas/strictjson"
)

// stateVersion is the format version of a watcher's state file.
const stateVersion = 1

// ErrBadState is wrapped by ParseState errors: the file is not one this
// version wrote.
var ErrBadState = errors.New("s3: bad watch state file")

// ObjectKey is one version of an object: an object overwritten with other
// content has another ETag, and is new.
type ObjectKey struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
}

// Status is where an object's ingest stands.
type Status string

const (
	// InProgress: frames below Next are on the frames topic; a restart
	// continues at Next (or later, see ObjectState.Offsets).
	InProgress Status = "in_progress"
	// Done: every frame is on the frames topic; never ingested again.
	Done Status = "done"
	// Failed: the object could not be read as a video (or vanished);
	// recorded so that it is not retried forever.
	Failed Status = "failed"
)

// ObjectState is what the watcher remembers of one object version.
type ObjectState struct {
	ObjectKey
	Status Status `json:"status"`
	Camera string `json:"camera"`
	// StartTime is the capture time of the object's first frame, fixed when
	// its ingest began, so a resumed run stamps its frames alike.
	StartTime time.Time `json:"start_time"`
	// Next is the seq of the first frame not known to be delivered.
	Next int64 `json:"next_seq"`
	// Offsets are the frames topic's end offsets, per partition, taken when
	// Next was recorded: frames a run sent after that (and a crash kept from
	// being recorded) are at or above them.
	Offsets map[int32]int64 `json:"frames_offsets,omitempty"`
	Frames  int64           `json:"frames"` // done: frames the object has (sent over all runs)
	Error   string          `json:"error,omitempty"`
	Updated time.Time       `json:"updated"`
}

// State remembers the objects a watcher has seen, so that a restart neither
// skips nor repeats one. It is kept in a small JSON file, replaced atomically.
// One watcher uses one state file at a time.
type State struct {
	Version int           `json:"version"`
	Store   string        `json:"store"` // what the file is for (endpoint, location, topic): a check, not a key
	Objects []ObjectState `json:"objects"`
	index   map[ObjectKey]int
}

// StateFileName is the state file, inside stateDir, of a watcher of loc on
// endpoint that sends to topic: one file per such triple, so two watchers
// (or one bucket sent to two namespaces) never share one.
func StateFileName(stateDir, endpoint string, loc Location, topic string) string {
	sum := sha256.Sum256([]byte(storeID(endpoint, loc, topic)))
	return filepath.Join(stateDir, "s3-"+loc.Bucket+"-"+hex.EncodeToString(sum[:6])+".json")
}

func storeID(endpoint string, loc Location, topic string) string {
	return endpoint + " " + loc.String() + " → " + topic
}

// ParseState decodes a state file strictly: unknown fields, another version,
// trailing data and invalid or duplicate entries are errors wrapping ErrBadState.
func ParseState(b []byte) (*State, error) {
	var s State
	if err := strictjson.Decode(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadState, s.Version, stateVersion)
	}
	s.index = make(map[ObjectKey]int, len(s.Objects))
	for i, o := range s.Objects {
		switch {
		case o.Bucket == "" || o.Key == "" || o.Next < 0 || o.Frames < 0:
			return nil, fmt.Errorf("%w: entry %d: invalid", ErrBadState, i)
		case o.Status != InProgress && o.Status != Done && o.Status != Failed:
			return nil, fmt.Errorf("%w: entry %d: status %q", ErrBadState, i, o.Status)
		case o.Status == InProgress && o.Camera == "":
			return nil, fmt.Errorf("%w: entry %d: in progress without a camera", ErrBadState, i)
		}
		if _, dup := s.index[o.ObjectKey]; dup {
			return nil, fmt.Errorf("%w: entry %d: duplicate %s", ErrBadState, i, keyEscape(o.Key))
		}
		s.index[o.ObjectKey] = i
	}
	return &s, nil
}

// LoadState reads the state file at path; a missing file is an empty state.
// A file written for another store is refused.
func LoadState(path, endpoint string, loc Location, topic string) (*State, error) {
	id := storeID(endpoint, loc, topic)
	s, err := video.LoadStateFile(path, ParseState, func() *State {
		return &State{Version: stateVersion, Store: id, index: map[ObjectKey]int{}}
	})
	if err != nil {
		return nil, err
	}
	if s.Store != id {
		return nil, fmt.Errorf("%s: %w: written for %q, not %q", path, ErrBadState, s.Store, id)
	}
	return s, nil
}

// Get returns what is known of an object version.
func (s *State) Get(k ObjectKey) (ObjectState, bool) {
	i, ok := s.index[k]
	if !ok {
		return ObjectState{}, false
	}
	return s.Objects[i], true
}

// Put records o, replacing an earlier entry of the same version.
func (s *State) Put(o ObjectState) {
	if s.index == nil {
		s.index = map[ObjectKey]int{}
	}
	if i, ok := s.index[o.ObjectKey]; ok {
		s.Objects[i] = o
		return
	}
	s.index[o.ObjectKey] = len(s.Objects)
	s.Objects = append(s.Objects, o)
}

// InProgress lists the objects a crashed or stopped run left unfinished.
func (s *State) InProgress() []ObjectState {
	var out []ObjectState
	for _, o := range s.Objects {
		if o.Status == InProgress {
			out = append(out, o)
		}
	}
	return out
}

// Save writes the state to path atomically, entries sorted for stable diffs.
func (s *State) Save(path string) error {
	out := *s
	out.Version = stateVersion
	out.Objects = append([]ObjectState(nil), s.Objects...)
	sort.SliceStable(out.Objects, func(i, j int) bool {
		a, b := out.Objects[i], out.Objects[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return strings.Compare(a.ETag, b.ETag) < 0
	})
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("s3: encode watch state: %w", err)
	}
	return video.WriteFileAtomic(path, b)
}
