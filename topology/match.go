package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/corb-dev/corb/topology/yamlfile"
	"go.yaml.in/yaml/v3"
)

// Match selects records by their decoded fields (schemas.Fields), in the
// grammar of AWS EventBridge's event patterns. A record passes when every
// field of the Match accepts it, and a field accepts it when one of its
// patterns does: a list is OR'd, separate fields are AND'd. An empty Match
// passes every record. In YAML:
//
//	match:
//	  command_type: [send_sms, "request_*"]          # exact values; a string ending in '*' is a prefix
//	  zone_id: [{anything-but: [lobby, "test-*"]}]
//	  sender: [{prefix: "+44"}, {suffix: "0000"}]
//	  count: [{numeric: [">", 0, "<=", 5]}]
//	  text: [{equals-ignore-case: help}]
//	  reason: [{exists: true}]
//	  $or:                                           # and at least one alternative passes
//	    - {channel: [sms]}
//	    - {sender: [{exists: false}]}
//
// The patterns, in YAML and as Go values:
//
//   - a value (Exact): the field's string form equals it, case-sensitively;
//     numbers and booleans compare as Go prints them (5, 2.5, true), so
//     [5] accepts the number 5 and the string "5".
//   - a string ending in '*' (Prefix): the string form starts with what comes
//     before the '*'; "*" alone accepts any value. A '*' anywhere else is an
//     error.
//   - {prefix: s}, {suffix: s}, {equals-ignore-case: s} (Prefix, Suffix,
//     EqualsIgnoreCase, which uses Unicode case folding): s is literal.
//   - {anything-but: v | [v, ...] | {prefix|suffix|equals-ignore-case: s}}
//     (AnythingBut): a value that none of those accepts.
//   - {numeric: [op, n]} or {numeric: [op, n, op, n]} (Numeric): a number
//     (an Avro int, long, float or double; never a string that looks like
//     one) for which each comparison holds; op is <, <=, =, >= or >, and two
//     comparisons are a lower and an upper bound. Numbers compare as float64.
//   - {exists: true|false} (Exists): the field is present, or absent; a field
//     whose value is null is present.
//   - under the key "$or" (OrKey): alternative Matches, at least one of which
//     must pass too; alternatives may hold $or of their own.
//
// A null value and an absent field are accepted only by {exists: ...}. An
// array (a decoded Avro array) is accepted when one of its elements is. A
// single-entry map (an Avro union as goavro decodes it, {"string": "x"}) is
// unwrapped first; any other map (a record) is accepted only by exists.
//
// Patterns are checked when the topology loads; a bad one is an Error with
// its file:line:col and path. The same syntax, restricted to exact values and
// prefixes, declares an operator's emits (see Operator.Emits).
type Match map[string][]Pattern

// OrKey is the Match key whose patterns are alternative Matches.
const OrKey = "$or"

// Pattern is one accepted form of a field's value: Exact, Prefix, Suffix,
// EqualsIgnoreCase, AnythingBut, Exists or Numeric, or under OrKey a Match.
// String renders it as graphs show it.
type Pattern interface {
	String() string
	isPattern() // the grammar is closed: mayReach must know every form
}

// Exact accepts a value whose string form is the string.
type Exact string

// Prefix accepts a value whose string form starts with the string; the empty
// Prefix accepts any value.
type Prefix string

// Suffix accepts a value whose string form ends with the string.
type Suffix string

// EqualsIgnoreCase accepts a value whose string form equals the string under
// Unicode case folding.
type EqualsIgnoreCase string

// AnythingBut accepts a value that none of its patterns accepts; they are
// Exact, Prefix, Suffix or EqualsIgnoreCase.
type AnythingBut []Pattern

// Exists(true) accepts a present field, even a null one; Exists(false) accepts
// an absent field.
type Exists bool

// Numeric accepts a number for which every comparison holds: one comparison,
// or a lower bound (> or >=) and an upper bound (< or <=).
type Numeric []Comparison

// Comparison is one condition of a Numeric: the value Op Value, where Op is
// "<", "<=", "=", ">=" or ">".
type Comparison struct {
	Op    string
	Value float64
}

func (Exact) isPattern()            {}
func (Prefix) isPattern()           {}
func (Suffix) isPattern()           {}
func (EqualsIgnoreCase) isPattern() {}
func (AnythingBut) isPattern()      {}
func (Exists) isPattern()           {}
func (Numeric) isPattern()          {}
func (Match) isPattern()            {}

// Matches reports whether fields (a decoded record, e.g. from schemas.Fields)
// pass m.
func (m Match) Matches(fields map[string]any) bool {
	for name, patterns := range m {
		if name == OrKey {
			if !slices.ContainsFunc(patterns, func(alt Pattern) bool { return alternativeMatches(alt, fields) }) {
				return false
			}
			continue
		}
		v, present := fields[name]
		if acceptedBy(patterns, v, present) == nil {
			return false
		}
	}
	return true
}

// Matches reports whether the operator's match pattern accepts fields.
func (o *Operator) Matches(fields map[string]any) bool { return o.Match.Matches(fields) }

func alternativeMatches(alt Pattern, fields map[string]any) bool {
	m, ok := alt.(Match)
	return ok && m.Matches(fields)
}

// Explain is a dry run of Matches: whether fields pass m, and why, one clause
// per field in sorted order joined by "; ". When fields pass, each clause
// names the pattern that accepted the field; when they do not, only the fields
// that failed are named:
//
//	command_type: "status" matches none of send_sms|request_*; zone_id: (missing) matches none of {exists: true}
func (m Match) Explain(fields map[string]any) (bool, string) {
	if len(m) == 0 {
		return true, "an empty match passes every record"
	}
	var passed, failed []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		ok, why := m.explainField(name, fields)
		if ok {
			passed = append(passed, why)
		} else {
			failed = append(failed, why)
		}
	}
	if len(failed) > 0 {
		return false, strings.Join(failed, "; ")
	}
	return true, strings.Join(passed, "; ")
}

func (m Match) explainField(name string, fields map[string]any) (bool, string) {
	patterns := m[name]
	if name == OrKey {
		var whys []string
		for i, alt := range patterns {
			am, ok := alt.(Match)
			if !ok {
				whys = append(whys, fmt.Sprintf("[%d] %s is not a match", i+1, joinPatterns([]Pattern{alt})))
				continue
			}
			ok, why := am.Explain(fields)
			if ok {
				return true, fmt.Sprintf("%s: alternative %d matches (%s)", OrKey, i+1, why)
			}
			whys = append(whys, fmt.Sprintf("[%d] %s", i+1, why))
		}
		return false, fmt.Sprintf("%s: no alternative matches (%s)", OrKey, strings.Join(whys, "; "))
	}
	v, present := fields[name]
	shown := "(missing)"
	if present {
		shown = describeValue(v, 0)
	}
	if p := acceptedBy(patterns, v, present); p != nil {
		return true, fmt.Sprintf("%s: %s matches %s", name, shown, p)
	}
	return false, fmt.Sprintf("%s: %s matches none of %s", name, shown, joinPatterns(patterns))
}

// maxValueDepth bounds how deep Matches looks into arrays and unions, so a
// value that contains itself cannot recurse forever.
const maxValueDepth = 16

// acceptedBy returns the first of patterns that accepts a field's value v,
// or nil; present says whether the field is there at all.
func acceptedBy(patterns []Pattern, v any, present bool) Pattern {
	for _, p := range patterns {
		if e, ok := p.(Exists); ok && bool(e) == present {
			return p
		}
	}
	if !present {
		return nil
	}
	var found Pattern
	eachScalar(v, 0, func(s scalar) bool {
		for _, p := range patterns {
			if accepts(p, s) {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// scalar is one value a pattern compares with: its string form and, when it
// is a number, its value.
type scalar struct {
	s     string
	n     float64
	isNum bool
}

// eachScalar calls f on v, on each element of an array, on the inside of a
// single-entry map (an Avro union), until f returns true; nil and other maps
// are not values. It reports whether f returned true.
func eachScalar(v any, depth int, f func(scalar) bool) bool {
	if depth > maxValueDepth {
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return eachScalar(e, depth+1, f) })
	case []string:
		return slices.ContainsFunc(x, func(e string) bool { return f(scalar{s: e}) })
	case map[string]any:
		if len(x) != 1 {
			return false
		}
		for _, inner := range x {
			return eachScalar(inner, depth+1, f)
		}
	}
	n, isNum := number(v)
	return f(scalar{s: stringForm(v), n: n, isNum: isNum})
}

func stringForm(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// number returns v as a float64 when it is a Go number. A float32 converts
// through its shortest decimal form, so 0.1 as a float compares as 0.1.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		f, err := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f, err == nil
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// accepts reports whether a value pattern accepts one present, non-null value.
func accepts(p Pattern, v scalar) bool {
	switch p := p.(type) {
	case Exact:
		return v.s == string(p)
	case Prefix:
		return strings.HasPrefix(v.s, string(p))
	case Suffix:
		return strings.HasSuffix(v.s, string(p))
	case EqualsIgnoreCase:
		return strings.EqualFold(v.s, string(p))
	case AnythingBut:
		return !slices.ContainsFunc(p, func(q Pattern) bool { return accepts(q, v) })
	case Numeric:
		return v.isNum && p.holds(v.n)
	}
	return false // Exists is decided by presence; a Match only under OrKey
}

func (n Numeric) holds(x float64) bool {
	for _, c := range n {
		var ok bool
		switch c.Op {
		case "<":
			ok = x < c.Value
		case "<=":
			ok = x <= c.Value
		case "=":
			ok = x == c.Value
		case ">=":
			ok = x >= c.Value
		case ">":
			ok = x > c.Value
		}
		if !ok {
			return false
		}
	}
	return true
}

// String renders m deterministically, fields sorted and patterns in order:
// "command_type: send_sms|req*, count: {numeric: [>, 0]}".
func (m Match) String() string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + joinPatterns(m[k])
	}
	return strings.Join(parts, ", ")
}

func joinPatterns(ps []Pattern) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			s[i] = "<nil>"
			continue
		}
		if m, ok := p.(Match); ok {
			s[i] = "{" + m.String() + "}"
			continue
		}
		s[i] = p.String()
	}
	return strings.Join(s, "|")
}

func (e Exact) String() string { return quoteIfNeeded(string(e)) }

func (p Prefix) String() string {
	if p == "" {
		return "*"
	}
	return quoteIfNeeded(string(p)) + "*"
}

func (s Suffix) String() string { return "{suffix: " + quoteIfNeeded(string(s)) + "}" }
func (e EqualsIgnoreCase) String() string {
	return "{equals-ignore-case: " + quoteIfNeeded(string(e)) + "}"
}
func (a AnythingBut) String() string { return "{anything-but: " + joinPatterns(a) + "}" }
func (e Exists) String() string      { return "{exists: " + strconv.FormatBool(bool(e)) + "}" }

func (n Numeric) String() string {
	parts := make([]string, 0, 2*len(n))
	for _, c := range n {
		parts = append(parts, c.Op, strconv.FormatFloat(c.Value, 'g', -1, 64))
	}
	return "{numeric: [" + strings.Join(parts, ", ") + "]}"
}

// quoteIfNeeded quotes a value that would otherwise read as another pattern
// or as the separators of String.
func quoteIfNeeded(s string) string {
	if s == "" || strings.HasSuffix(s, "*") || strings.HasPrefix(s, `"`) ||
		strings.ContainsAny(s, "|,{}[]") || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}

func describeValue(v any, depth int) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []byte:
		return strconv.Quote(string(x))
	case []string:
		return fmt.Sprintf("%q", x)
	case []any:
		if depth > maxValueDepth {
			return "[…]"
		}
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = describeValue(e, depth+1)
		}
		return "[" + strings.Join(s, " ") + "]"
	case map[string]any:
		if len(x) == 1 && depth <= maxValueDepth {
			for _, inner := range x {
				return describeValue(inner, depth+1)
			}
		}
		return "a record"
	}
	return stringForm(v)
}

func (m Match) clone() Match {
	if m == nil {
		return nil
	}
	c := make(Match, len(m))
	for k, ps := range m {
		c[k] = clonePatterns(ps)
	}
	return c
}

func clonePatterns(ps []Pattern) []Pattern {
	out := slices.Clone(ps)
	for i, p := range out {
		switch p := p.(type) {
		case Match:
			out[i] = p.clone()
		case AnythingBut:
			out[i] = AnythingBut(clonePatterns(p))
		case Numeric:
			out[i] = slices.Clone(p)
		}
	}
	return out
}

// check reports what makes m invalid, at path; declared restricts it to what
// emits may declare (exact values and prefixes). field, when not nil, is
// called for each field (those of alternatives too) after its patterns are
// checked, with the field's path: the caller checks it against the schemas.
func (m Match) check(l *errorList, path string, declared bool, field func(name, path string)) {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		fp := join(path, name)
		patterns := m[name]
		switch {
		case name == "":
			l.add(path, ErrInvalid, "empty field name")
			continue
		case name == OrKey && declared:
			l.add(fp, ErrInvalid, "emits declares the values written, not alternatives: %s is for match", OrKey)
			continue
		case name == OrKey:
			if len(patterns) == 0 {
				l.add(fp, ErrInvalid, "%s needs at least one alternative", OrKey)
			}
			for k, alt := range patterns {
				ap := index(fp, k)
				am, ok := alt.(Match)
				switch {
				case !ok:
					l.add(ap, ErrInvalid, "%s lists matches ({field: [patterns]}), got %s", OrKey, joinPatterns([]Pattern{alt}))
				case len(am) == 0:
					l.add(ap, ErrInvalid, "empty alternative: it would pass every record")
				default:
					am.check(l, ap, false, field)
				}
			}
			continue
		case strings.HasPrefix(name, "$"):
			l.add(fp, ErrInvalid, "unknown operator %q: the only one is %s", name, OrKey)
			continue
		}
		if len(patterns) == 0 {
			l.add(fp, ErrInvalid, "no patterns for field %q", name)
		}
		for k, p := range patterns {
			if why := checkPattern(p, declared); why != "" {
				l.add(index(fp, k), ErrInvalid, "%s", why)
			}
		}
		if field != nil {
			field(name, fp)
		}
	}
}

// checkPattern returns why p is malformed, or "".
func checkPattern(p Pattern, declared bool) string {
	switch p := p.(type) {
	case nil:
		return "missing pattern"
	case Exact, Prefix:
		return ""
	case Match:
		return fmt.Sprintf("a match ({%s}) is only allowed as an alternative of %s", p, OrKey)
	}
	if declared {
		return fmt.Sprintf("emits declares the values written: exact values and prefixes only, got %s", p)
	}
	switch p := p.(type) {
	case AnythingBut:
		if len(p) == 0 {
			return "anything-but needs at least one value"
		}
		for _, q := range p {
			switch q.(type) {
			case Exact, Prefix, Suffix, EqualsIgnoreCase:
			default:
				return fmt.Sprintf("anything-but takes values, prefixes, suffixes and equals-ignore-case, got %s", joinPatterns([]Pattern{q}))
			}
		}
	case Numeric:
		return p.check()
	}
	return ""
}

func (n Numeric) check() string {
	if len(n) == 0 || len(n) > 2 {
		return fmt.Sprintf("numeric takes one comparison or a lower and an upper bound, got %d comparisons", len(n))
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	var loOpen, hiOpen, hasLo, hasHi bool
	for _, c := range n {
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			return fmt.Sprintf("numeric: %v is not a finite number", c.Value)
		}
		switch c.Op {
		case ">", ">=":
			if hasLo {
				return "numeric: two lower bounds"
			}
			hasLo, lo, loOpen = true, c.Value, c.Op == ">"
		case "<", "<=":
			if hasHi {
				return "numeric: two upper bounds"
			}
			hasHi, hi, hiOpen = true, c.Value, c.Op == "<"
		case "=":
			if len(n) > 1 {
				return `numeric: "=" stands alone`
			}
		default:
			return fmt.Sprintf("numeric: unknown comparison %q (known: <, <=, =, >=, >)", c.Op)
		}
	}
	if lo > hi || lo == hi && (loOpen || hiOpen) {
		return fmt.Sprintf("numeric: %s accepts no number", n)
	}
	return ""
}

// mayReach reports whether a record emitted under emits can pass match:
// false only when they are provably disjoint, so cycle detection errs towards
// reporting a cycle. emits declares that each of its fields is present and
// that every value written there (every element of an array) is accepted by
// one of its patterns; fields it does not name, and patterns other than the
// exact values and prefixes it may hold, can be anything.
func mayReach(emits, match Match) bool {
	for field, want := range match {
		if field == OrKey {
			if !slices.ContainsFunc(want, func(alt Pattern) bool {
				am, ok := alt.(Match)
				return !ok || mayReach(emits, am)
			}) {
				return false
			}
			continue
		}
		got, ok := emits[field]
		if !ok {
			continue
		}
		if !slices.ContainsFunc(got, func(e Pattern) bool {
			return slices.ContainsFunc(want, func(q Pattern) bool { return declaredMayPass(e, q) })
		}) {
			return false
		}
	}
	return true
}

// declaredMayPass reports whether some value that declaration e describes
// can pass pattern q.
func declaredMayPass(e, q Pattern) bool {
	if x, ok := q.(Exists); ok {
		return bool(x) // a declared field is present
	}
	switch e := e.(type) {
	case Exact:
		// The values whose string form is e: the string, and a number that prints so.
		v := scalar{s: string(e)}
		if f, err := strconv.ParseFloat(v.s, 64); err == nil {
			v.n, v.isNum = f, true
		}
		return accepts(q, v) || !isValuePattern(q)
	case Prefix:
		return prefixMayPass(string(e), q)
	}
	return true
}

// prefixMayPass reports whether some value starting with x can pass q.
func prefixMayPass(x string, q Pattern) bool {
	switch q := q.(type) {
	case Exact:
		return strings.HasPrefix(string(q), x)
	case Prefix:
		return strings.HasPrefix(x, string(q)) || strings.HasPrefix(string(q), x)
	case EqualsIgnoreCase:
		y := string(q)
		if !isASCII(x) || !isASCII(y) {
			return true // folding may change lengths: no proof either way
		}
		return len(y) >= len(x) && strings.EqualFold(y[:len(x)], x)
	case AnythingBut:
		// Only a prefix of x excludes every value starting with x: the rest
		// exclude finitely many values or suffixes, and x continues past them.
		return !slices.ContainsFunc(q, func(r Pattern) bool {
			p, ok := r.(Prefix)
			return ok && strings.HasPrefix(x, string(p))
		})
	}
	return true
}

func isValuePattern(p Pattern) bool {
	switch p.(type) {
	case Exact, Prefix, Suffix, EqualsIgnoreCase, AnythingBut, Numeric:
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// mayBoth reports whether one record can pass both filters a and b (a dead
// letter passed its producer's match and meets its consumer's). A field may
// hold an array whose elements meet different patterns, so values never prove
// two filters disjoint; only one that needs a field absent while the other
// needs it present does. Alternatives are not looked into.
func mayBoth(a, b Match) bool {
	for field, pa := range a {
		pb, ok := b[field]
		if !ok || field == OrKey {
			continue
		}
		if needsAbsent(pa) && needsPresent(pb) || needsPresent(pa) && needsAbsent(pb) {
			return false
		}
	}
	return true
}

func needsAbsent(ps []Pattern) bool {
	return len(ps) > 0 && !slices.ContainsFunc(ps, func(p Pattern) bool { return p != Exists(false) })
}

func needsPresent(ps []Pattern) bool {
	return len(ps) > 0 && !slices.Contains(ps, Pattern(Exists(false)))
}

// maxMatchDepth bounds how deep $or and anything-but nest in YAML, so that
// matching, explaining and mayReach stay cheap whatever a file holds.
const maxMatchDepth = 8

// ParseMatch parses a match pattern on its own, written in YAML or JSON
// (`{command_type: [send_sms]}`; an EventBridge pattern is JSON), as a dry
// run with Explain needs it; name is the file name in error positions.
// Problems are reported as Errors, as Parse reports them.
func ParseMatch(name string, data []byte) (Match, error) {
	root, err := yamlfile.Load(name, data, "match pattern", 0)
	if err != nil {
		return nil, err
	}
	p := newParser(name)
	p.pos[""] = p.at(root)
	m := p.parseMatch(root, "")
	if err := p.Err(); err != nil {
		return nil, err
	}
	l := &errorList{pos: (&Spec{File: name, pos: p.pos}).position}
	m.check(l, "", false, nil)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// matchParser reads match patterns from YAML into a Match. It checks their
// shape only: what they mean is Match.check's, which also sees Matches built
// in Go.
type matchParser struct{ *parser }

func (p *parser) parseMatch(n *yaml.Node, path string) Match {
	return matchParser{p}.match(n, path, 0)
}

func (mp matchParser) match(n *yaml.Node, path string, depth int) Match {
	orPath := join(path, OrKey)
	return keyed(mp.parser, n, path, "a mapping of field: [patterns]", "field", func(v *yaml.Node, fp string) ([]Pattern, bool) {
		isOr := fp == orPath
		if v.Kind != yaml.SequenceNode {
			want := "a list of patterns"
			if isOr {
				want = "a list of alternatives ({field: [patterns]})"
			}
			mp.fail(v, fp, ErrType, "must be %s, got %s", want, describe(v))
			return nil, false
		}
		if isOr && depth+1 > maxMatchDepth {
			mp.fail(v, fp, ErrInvalid, "patterns nest more than %d deep", maxMatchDepth)
			return nil, false
		}
		out := make([]Pattern, 0, len(v.Content))
		mp.items(v, fp, func(c *yaml.Node, ip string) {
			var pat Pattern
			if isOr {
				if alt := mp.match(c, ip, depth+1); alt != nil {
					pat = alt
				}
			} else {
				pat = mp.pattern(c, ip, depth)
			}
			if pat != nil {
				out = append(out, pat)
			}
		})
		return out, true
	})
}

// items calls item for each element of the list n, aliases resolved, with
// its path, recording where it is written.
func (mp matchParser) items(n *yaml.Node, path string, item func(c *yaml.Node, path string)) {
	for j, c := range n.Content {
		c, ip := resolve(c), index(path, j)
		mp.pos[ip] = mp.at(c)
		item(c, ip)
	}
}

const patternKeys = "anything-but, equals-ignore-case, exists, numeric, prefix, suffix"

func (mp matchParser) pattern(n *yaml.Node, path string, depth int) Pattern {
	switch n.Kind {
	case yaml.ScalarNode:
		if yamlfile.IsNull(n) {
			mp.fail(n, path, ErrType, "must be a value or {operator: argument}, got null (a null value passes {exists: true})")
			return nil
		}
		s := n.Value
		if strings.Contains(strings.TrimSuffix(s, "*"), "*") {
			mp.fail(n, path, ErrInvalid, "pattern %q: '*' is only allowed at the end", s)
			return nil
		}
		if prefix, ok := strings.CutSuffix(s, "*"); ok {
			return Prefix(prefix)
		}
		return Exact(s)
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			mp.fail(n, path, ErrInvalid, "a pattern is a mapping with one key (%s), got %d keys", patternKeys, len(n.Content)/2)
			return nil
		}
		k, v := resolve(n.Content[0]), resolve(n.Content[1])
		op, ok := mp.String(k, path)
		if !ok {
			return nil
		}
		ap := join(path, op)
		mp.pos[ap] = mp.at(v)
		switch op {
		case "prefix":
			return Prefix(mp.scalar(v, ap))
		case "suffix":
			return Suffix(mp.scalar(v, ap))
		case "equals-ignore-case":
			return EqualsIgnoreCase(mp.scalar(v, ap))
		case "exists":
			b, _ := mp.Bool(v, ap)
			return Exists(b)
		case "numeric":
			return mp.numeric(v, ap)
		case "anything-but":
			if depth+1 > maxMatchDepth {
				mp.fail(v, ap, ErrInvalid, "patterns nest more than %d deep", maxMatchDepth)
				return nil
			}
			return mp.anythingBut(v, ap, depth+1)
		}
		mp.fail(k, ap, ErrUnknownField, "unknown pattern %q (known: %s)", op, patternKeys)
		return nil
	}
	mp.fail(n, path, ErrType, "must be a value or {operator: argument}, got %s", describe(n))
	return nil
}

// anythingBut reads one pattern or a list of them; Match.check restricts
// which.
func (mp matchParser) anythingBut(n *yaml.Node, path string, depth int) Pattern {
	var out AnythingBut
	add := func(c *yaml.Node, path string) {
		if p := mp.pattern(c, path, depth); p != nil {
			out = append(out, p)
		}
	}
	if n.Kind == yaml.SequenceNode {
		out = make(AnythingBut, 0, len(n.Content))
		mp.items(n, path, add)
	} else {
		add(n, path)
	}
	return out
}

func (mp matchParser) numeric(n *yaml.Node, path string) Pattern {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 || len(n.Content)%2 != 0 {
		mp.fail(n, path, ErrType, "must be [op, number] or [op, number, op, number], got %s", describe(n))
		return nil
	}
	out := make(Numeric, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		o, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		op, vp := index(path, i), index(path, i+1)
		mp.pos[op], mp.pos[vp] = mp.at(o), mp.at(v)
		var c Comparison
		c.Op, _ = mp.String(o, op)
		c.Value, _ = mp.Float(v, vp)
		out = append(out, c)
	}
	return out
}
