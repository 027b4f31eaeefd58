package yamlfile

import (
	"errors"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode decodes n (not nil) into v, a non-nil pointer, strictly: a mapping
// key that matches no field of the type it decodes into (by yaml tag, or the
// lower-cased field name, as go.yaml.in/yaml/v3 names them) is an
// ErrUnknownField at the key, with the known keys, a key given twice an
// ErrDuplicate, and then nothing is decoded; a value of the wrong type is an
// ErrType on its line (the decoder knows no column). Types that implement yaml.Unmarshaler check their own
// contents. It reports false on any problem.
func (w *Walker) Decode(n *yaml.Node, path string, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		w.Fail(n, path, ErrType, "Decode needs a non-nil pointer")
		return false
	}
	found := len(w.Errs)
	w.checkKnown(n, rv.Type().Elem(), path, 0)
	if len(w.Errs) > found {
		return false
	}
	if err := n.Decode(v); err != nil {
		w.decodeError(n, path, err)
		return false
	}
	return true
}

// decodeError adds one problem per message of a *yaml.TypeError.
func (w *Walker) decodeError(n *yaml.Node, path string, err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		w.Fail(n, path, ErrType, "%v", err)
		return
	}
	for _, msg := range te.Errors {
		pos, msg := located(w.File, msg, w.At(n))
		w.Errs.Add(pos, path, ErrType, "%s", msg)
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkKnown reports mapping keys that t has no field for (the decoder
// ignores them, and they are usually misspelt field names) and keys given twice.
func (w *Walker) checkKnown(n *yaml.Node, t reflect.Type, path string, depth int) {
	n = Resolve(n)
	if n == nil || depth > 64 {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		types := map[string]reflect.Type{}
		if open := structFields(t, types); open || n.Kind != yaml.MappingNode {
			return // an inline map takes any key; the decoder reports a type error
		}
		fields := Fields{}
		for name, ft := range types {
			fields[name] = func(v *yaml.Node, path string) { w.checkKnown(v, ft, path, depth+1) }
		}
		w.Mapping(n, path, fields)
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, e := range n.Content {
				w.checkKnown(e, t.Elem(), Index(path, i), depth+1)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				w.checkKnown(n.Content[i+1], t.Elem(), Key(path, Resolve(n.Content[i]).Value), depth+1)
			}
		}
	}
}

// structFields collects the yaml keys of t's fields as go.yaml.in/yaml/v3
// names them; it reports true when an inline map accepts any other key.
func structFields(t reflect.Type, into map[string]reflect.Type) (open bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				open = structFields(ft, into) || open
			case reflect.Map:
				open = true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
	return open
}
