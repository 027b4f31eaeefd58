package yamlfile

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxAliasNodes is how many nodes aliases may add to a walk of a document
// that Load returns. A walk visits an aliased node once per alias, so without
// a bound a few lines of nested aliases would cost exponential time.
const MaxAliasNodes = 1 << 20

// Load parses data, the contents of file, as exactly one YAML document and
// returns its root node. What it refuses is reported as Errors: data longer
// than maxSize bytes (0: no limit), a syntax error (with its line), an empty
// document or more than one, an alias inside the node it refers to, and
// aliases that add more than MaxAliasNodes nodes. what names the document
// in those messages: "topology" gives "empty topology document".
func Load(file string, data []byte, what string, maxSize int) (*yaml.Node, error) {
	whole := Position{File: file}
	if maxSize > 0 && len(data) > maxSize {
		return nil, errorf(whole, ErrInvalid, "file is %d bytes, larger than the %d allowed", len(data), maxSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, errorf(whole, ErrMissing, "empty %s document", what)
	} else if err != nil {
		return nil, syntaxError(file, err)
	}
	if err := dec.Decode(&extra); err == nil {
		return nil, errorf(at(file, &extra), ErrSyntax, "more than one YAML document; a %s is one document", what)
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	a := aliases{file: file, sizes: map[*yaml.Node]int{}}
	if a.size(root); len(a.errs) > 0 {
		return nil, a.errs
	}
	return root, nil
}

func errorf(pos Position, kind error, format string, args ...any) Errors {
	var es Errors
	es.Add(pos, "", kind, format, args...)
	return es
}

func at(file string, n *yaml.Node) Position {
	return Position{File: file, Line: n.Line, Col: n.Column}
}

func syntaxError(file string, err error) Errors {
	pos, msg := located(file, err.Error(), Position{File: file})
	return errorf(pos, ErrSyntax, "%s", msg)
}

var lineMessage = regexp.MustCompile(`^line (\d+): (.*)$`)

// located moves the line out of a go-yaml message ("yaml: line 3: …") into
// its position; a message without one keeps pos.
func located(file, msg string, pos Position) (Position, string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := lineMessage.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Position{File: file, Line: line}, m[2]
	}
	return pos, msg
}

// aliases measures how many nodes a walk of a document visits with its
// aliases followed. YAML defines an anchor before any alias to it, so in
// document order every alias finds its target measured already — or still
// being measured (sizes -1), when the alias is inside it.
type aliases struct {
	file  string
	sizes map[*yaml.Node]int // anchored node → nodes a walk of it visits
	added int                // nodes the aliases add so far
	errs  Errors
}

func (a *aliases) size(n *yaml.Node) int {
	if len(a.errs) > 0 {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		s, ok := a.sizes[n.Alias]
		if !ok || s < 0 {
			a.errs.Add(at(a.file, n), "", ErrInvalid, "alias *%s is inside the node it refers to", n.Value)
			return 0
		}
		if a.added += s; a.added > MaxAliasNodes {
			a.errs.Add(at(a.file, n), "", ErrInvalid, "aliases repeat more than %d nodes", MaxAliasNodes)
		}
		return s
	}
	if n.Anchor != "" {
		a.sizes[n] = -1
	}
	total := 1
	for _, c := range n.Content {
		total += a.size(c) // bounded: the walk stops once aliases add too much
	}
	if n.Anchor != "" {
		a.sizes[n] = total
	}
	return total
}
