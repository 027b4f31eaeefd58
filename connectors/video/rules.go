package video

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// DefaultSuffixes are the suffix rules of a watched directory when none are given.
const DefaultSuffixes = "*.mp4,*.mkv,*.avi,*.mov,*.webm,*.m4v,*.ts"

// ErrBadSuffixRule is wrapped by ParseSuffixRules errors.
var ErrBadSuffixRule = errors.New("video: bad suffix rule")

// SuffixRules decide which files of a watched directory are ingested. Each
// rule is a shell pattern (path.Match syntax) matched case-insensitively
// against the file's base name; a file is taken when any rule matches.
// Names that start with a dot (editor and upload temporaries) never match.
type SuffixRules struct {
	patterns []string
}

// ParseSuffixRules parses a comma-separated list such as "*.mp4,*.avi".
// A bare extension ("mp4" or ".mp4") means "*.mp4". The empty string gives
// DefaultSuffixes.
func ParseSuffixRules(spec string) (SuffixRules, error) {
	if strings.TrimSpace(spec) == "" {
		spec = DefaultSuffixes
	}
	var r SuffixRules
	for _, raw := range strings.Split(spec, ",") {
		p := strings.ToLower(strings.TrimSpace(raw))
		if p == "" {
			continue
		}
		if strings.ContainsAny(p, "/\\\x00") {
			return SuffixRules{}, fmt.Errorf("%w: %q: rules match base names, not paths", ErrBadSuffixRule, raw)
		}
		if !strings.ContainsAny(p, "*?[") {
			p = "*." + strings.TrimPrefix(p, ".")
		}
		if _, err := path.Match(p, ""); err != nil {
			return SuffixRules{}, fmt.Errorf("%w: %q: %v", ErrBadSuffixRule, raw, err)
		}
		r.patterns = append(r.patterns, p)
	}
	if len(r.patterns) == 0 {
		return SuffixRules{}, fmt.Errorf("%w: %q has no rules", ErrBadSuffixRule, spec)
	}
	return r, nil
}

// Match reports whether a file with this base name is to be ingested.
// The zero SuffixRules match DefaultSuffixes.
func (r SuffixRules) Match(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") {
		return false
	}
	pats := r.patterns
	if len(pats) == 0 {
		def, _ := ParseSuffixRules(DefaultSuffixes)
		pats = def.patterns
	}
	name = strings.ToLower(name)
	for _, p := range pats {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// String is the rules in their canonical comma-separated form.
func (r SuffixRules) String() string {
	if len(r.patterns) == 0 {
		return DefaultSuffixes
	}
	return strings.Join(r.patterns, ",")
}
