package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors classify every *Error; test them with errors.Is.
var (
	ErrSyntax       = errors.New("yaml syntax error")
	ErrUnknownField = errors.New("unknown field")
	ErrType         = errors.New("wrong type")
	ErrMissing      = errors.New("missing required field")
	ErrInvalid      = errors.New("invalid value")
	ErrDuplicate    = errors.New("duplicate name")
	ErrUnknownTopic = errors.New("unknown topic")
	ErrUnknownKind  = errors.New("unknown operator kind")
	ErrCycle        = errors.New("cycle among operators")
	ErrPartitions   = errors.New("partition mismatch")
	ErrSchema       = errors.New("schema mismatch")
)

// Position is a place in a topology file. Line and Col count from 1; a zero
// Line means the element was not loaded from a file.
type Position struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether p points into a file.
func (p Position) IsValid() bool { return p.Line > 0 }

// String is "FILE:LINE:COL" (or "FILE:LINE" without a column, or "" when unknown).
func (p Position) String() string {
	switch {
	case p.Line <= 0:
		return p.File
	case p.Col <= 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Error is one problem in a topology, e.g.
//
//	topology.yaml:14:5: operators[1].inputs[0]: unknown topic "framez"
//
// Kind is one of the package's sentinel errors (ErrUnknownTopic above), so
// errors.Is(err, ErrUnknownTopic) holds.
type Error struct {
	Pos  Position
	Path string // e.g. operators[1].inputs[0]; "" for the whole document
	Kind error  // sentinel classifying the problem
	Msg  string // human-readable detail
}

func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errors is every problem found in one pass, in document order.
// errors.Is and errors.As look through all of them.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, or nil when empty (never a typed nil).
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// errorList accumulates Errors with positions looked up by path.
type errorList struct {
	errs Errors
	pos  func(path string) Position
}

func (l *errorList) add(path string, kind error, format string, args ...any) {
	var p Position
	if l.pos != nil {
		p = l.pos(path)
	}
	l.errs = append(l.errs, &Error{Pos: p, Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

func (l *errorList) addAt(p Position, path string, kind error, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: p, Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}
