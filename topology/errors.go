package topology

import (
	"errors"

	"github.com/corb-dev/corb/topology/yamlfile"
)

// Sentinel errors classify every *Error; test them with errors.Is. The first
// six are yamlfile's: the YAML reader reports them.
var (
	ErrSyntax       = yamlfile.ErrSyntax
	ErrUnknownField = yamlfile.ErrUnknownField
	ErrType         = yamlfile.ErrType
	ErrMissing      = yamlfile.ErrMissing
	ErrInvalid      = yamlfile.ErrInvalid
	ErrDuplicate    = yamlfile.ErrDuplicate
	ErrUnknownTopic = errors.New("unknown topic")
	ErrUnknownKind  = errors.New("unknown operator kind")
	ErrCycle        = errors.New("cycle among operators")
	ErrPartitions   = errors.New("partition mismatch")
	ErrSchema       = errors.New("schema mismatch")
)

// Position is a place in a topology file.
type Position = yamlfile.Position

// Error is one problem in a topology, e.g.
// `topology.yaml:14:5: operators[1].inputs[0]: unknown topic "framez"`;
// its Kind is one of the sentinels above.
type Error = yamlfile.Error

// Errors is every problem found in one pass (errors.Is and errors.As look through them).
type Errors = yamlfile.Errors

// errorList accumulates Errors with positions looked up by path.
type errorList struct {
	errs problems
	pos  func(path string) Position
}

// problems is Errors with the err method Validate returns them by (Errors,
// an alias of a yamlfile type, cannot take methods here).
type problems Errors

func (es problems) err() error { return Errors(es).Err() }

func (l *errorList) add(path string, kind error, format string, args ...any) {
	var p Position
	if l.pos != nil {
		p = l.pos(path)
	}
	l.addAt(p, path, kind, format, args...)
}

func (l *errorList) addAt(p Position, path string, kind error, format string, args ...any) {
	(*Errors)(&l.errs).Add(p, path, kind, format, args...)
}
