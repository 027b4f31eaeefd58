package kind

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Key documents one key of a kind's config block.
type Key struct {
	Name    string // the YAML key
	Type    string // duration, string, integer, number, boolean, list of strings, ...
	Default string // the default, as written in YAML ("" when there is none)
	Doc     string // what it means
}

// keysOf lists the config keys of t (a struct), inline structs flattened, in
// field order.
func keysOf(t reflect.Type) []Key {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []Key
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			keys = append(keys, keysOf(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, Key{Name: name, Type: typeName(f.Type), Doc: f.Tag.Get("doc"), Default: f.Tag.Get("default")})
	}
	return keys
}

// withDefaults fills in each key's default from cfg (a pointer to the
// kind's config with its defaults) where no `default` tag says it.
func withDefaults(keys []Key, cfg any) []Key {
	values := map[string]reflect.Value{}
	collect(reflect.ValueOf(cfg), values)
	out := make([]Key, len(keys))
	for i, k := range keys {
		if v, ok := values[k.Name]; ok && k.Default == "" && !v.IsZero() {
			k.Default = literal(v)
		}
		out[i] = k
	}
	return out
}

func collect(v reflect.Value, into map[string]reflect.Value) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(","+opts+",", ",inline,"):
			collect(v.Field(i), into)
		case f.IsExported():
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			into[name] = v.Field(i)
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		return "map of " + typeName(t.Elem()) + "s"
	case reflect.Struct:
		return "mapping"
	}
	return t.Kind().String()
}

func literal(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = literal(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}
