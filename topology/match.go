package topology

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Match selects records by decoded field values: field name → accepted patterns.
// A record matches when, for every field of the Match, the record has the field
// and its value matches one of the patterns. A pattern is an exact value, or
// "prefix*" for every value starting with prefix ("*" alone: any value).
// An empty Match matches every record.
type Match map[string][]string

// Matches reports whether fields (a decoded record, e.g. from schemas.Fields)
// satisfy m. Values are compared in their string form; a single-entry map (an
// Avro union as goavro decodes it, {"string": "x"}) is unwrapped first, and a
// nil value never matches.
func (m Match) Matches(fields map[string]any) bool {
	for name, patterns := range m {
		v, ok := fields[name]
		if !ok {
			return false
		}
		s, ok := matchString(v)
		if !ok {
			return false
		}
		if !slices.ContainsFunc(patterns, func(p string) bool { return patternMatches(p, s) }) {
			return false
		}
	}
	return true
}

// Matches reports whether the operator's match pattern accepts fields.
func (o *Operator) Matches(fields map[string]any) bool { return o.Match.Matches(fields) }

// String renders m deterministically: "command_type: send_sms|status".
func (m Match) String() string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + strings.Join(m[k], "|")
	}
	return strings.Join(parts, ", ")
}

func (m Match) clone() Match {
	if m == nil {
		return nil
	}
	c := make(Match, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}

func matchString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	case fmt.Stringer:
		return x.String(), true
	case map[string]any:
		if len(x) != 1 {
			return "", false
		}
		for _, inner := range x {
			return matchString(inner)
		}
	}
	return fmt.Sprint(v), true
}

func patternMatches(pattern, s string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, prefix)
	}
	return pattern == s
}

// checkPattern returns why pattern is malformed, or "".
func checkPattern(p string) string {
	switch {
	case p == "":
		return "empty pattern"
	case strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return fmt.Sprintf("pattern %q: '*' is only allowed at the end", p)
	}
	return ""
}

// patternsOverlap reports whether some value matches a pattern of a and one of b.
func patternsOverlap(a, b []string) bool {
	for _, p := range a {
		for _, q := range b {
			if patternOverlap(p, q) {
				return true
			}
		}
	}
	return false
}

func patternOverlap(p, q string) bool {
	pp, pw := strings.CutSuffix(p, "*")
	qp, qw := strings.CutSuffix(q, "*")
	switch {
	case pw && qw:
		return strings.HasPrefix(pp, qp) || strings.HasPrefix(qp, pp)
	case pw:
		return strings.HasPrefix(q, pp)
	case qw:
		return strings.HasPrefix(p, qp)
	default:
		return p == q
	}
}

// mayReach reports whether records emitted under emits can pass match:
// false only when some field is constrained by both and the constraints are disjoint.
func mayReach(emits, match Match) bool {
	for field, want := range match {
		if got, ok := emits[field]; ok && !patternsOverlap(got, want) {
			return false
		}
	}
	return true
}
