// Package yamlfile reads YAML files strictly and reports what is wrong with
// them as errors that carry file:line:col and the path of each problem: one
// document loaded from bytes (Load), a Walker that reads its nodes into Go
// values, and strict decoding of a node into a struct (Walker.Decode).
package yamlfile

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors classify every *Error that this package reports; test them
// with errors.Is. Callers classify their own problems with their own sentinels.
var (
	ErrSyntax       = errors.New("yaml syntax error")
	ErrUnknownField = errors.New("unknown field")
	ErrType         = errors.New("wrong type")
	ErrMissing      = errors.New("missing required field")
	ErrInvalid      = errors.New("invalid value")
	ErrDuplicate    = errors.New("duplicate name")
)

// Position is a place in a file. Line and Col count from 1; a zero Line means
// the element was not loaded from a file, a zero Col that only the line is known.
type Position struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether p points into a file.
func (p Position) IsValid() bool { return p.Line > 0 }

// String is "FILE:LINE:COL" (or "FILE:LINE" without a column, or "FILE" when
// the line is unknown).
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

// Error is one problem in a file, e.g.
//
//	topology.yaml:14:5: operators[1].replica: unknown field "replica" (known: …)
//
// Kind is a sentinel error (ErrUnknownField above), so errors.Is(err, ErrUnknownField) holds.
type Error struct {
	Pos  Position
	Path string // e.g. operators[1].inputs[0]; "" for the whole document
	Kind error  // sentinel classifying the problem
	Msg  string // human-readable detail
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if p := e.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errors is every problem found in one pass, in document order, one a line in
// Error. errors.Is and errors.As look through all of them.
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

// Err returns es as an error, or nil when it is empty (never a typed nil).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Add appends a problem at pos.
func (es *Errors) Add(pos Position, path string, kind error, format string, args ...any) {
	*es = append(*es, &Error{Pos: pos, Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}
