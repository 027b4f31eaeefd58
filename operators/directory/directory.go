// Package directory is the building's directory of people who may talk to
// Corb by SMS: each phone number with a name and roles (staff, cleaner,
// admin), and for cleaners the zones they look after. The SMS connector
// authorises senders against it; the cleaning operator finds who is on duty.
//
// The file (unknown fields, wrong types, bad numbers, unknown roles and a
// number listed twice are errors, all reported at once with file:line:col):
//
//	people:
//	  - phone: "+15550001"     # E.164, required, unique
//	    name: Ada              # required
//	    roles: [staff]         # staff | cleaner | admin; at least one
//	  - phone: "+15550002"
//	    name: Ben
//	    roles: [cleaner]
//	    zones: [lawn, walkway] # cleaners: the zones they clean (none: every zone)
package directory

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/corb-dev/corb/topology/yamlfile"
)

// Role is what a person may do.
type Role string

const (
	// Staff may ask for status, subscribe to zones and request cleaning.
	Staff Role = "staff"
	// Cleaner gets cleaning reports and closes cleaning cycles (DONE kitchen).
	Cleaner Role = "cleaner"
	// Admin may do everything.
	Admin Role = "admin"
)

// Where the directory file is when a config names none: $CORB_DIRECTORY,
// else DefaultFile (relative to the working directory).
const (
	FileEnv     = "CORB_DIRECTORY"
	DefaultFile = "deploy/directory.yaml"
)

// Path is the directory file to use: configured, else getenv(FileEnv), else
// DefaultFile. A nil getenv reads no environment.
func Path(configured string, getenv func(string) string) string {
	if p := strings.TrimSpace(configured); p != "" {
		return p
	}
	if getenv != nil {
		if p := strings.TrimSpace(getenv(FileEnv)); p != "" {
			return p
		}
	}
	return DefaultFile
}

// MaxFileSize is the largest directory file Parse accepts.
const MaxFileSize = 1 << 20

// ErrInvalid is matched (errors.Is) by every problem Parse reports.
var ErrInvalid = errors.New("invalid directory file")

// Person is one entry of the directory.
type Person struct {
	Phone string // E.164
	Name  string
	Roles []Role
	Zones []string // a cleaner's zones; empty: every zone
}

// Has reports whether p has role r; an admin has every role.
func (p Person) Has(r Role) bool {
	return slices.Contains(p.Roles, r) || slices.Contains(p.Roles, Admin)
}

// Cleans reports whether p is on cleaning duty for zone. Only people listed
// as cleaners are: an admin may do everything, but gets no reports unless
// also a cleaner.
func (p Person) Cleans(zone string) bool {
	return slices.Contains(p.Roles, Cleaner) && (len(p.Zones) == 0 || slices.Contains(p.Zones, zone))
}

// Directory is a parsed and validated directory file. It is immutable.
type Directory struct {
	people []Person
	byPh   map[string]int
}

// Lookup returns the person whose phone is phone.
func (d *Directory) Lookup(phone string) (Person, bool) {
	if d == nil {
		return Person{}, false
	}
	i, ok := d.byPh[phone]
	if !ok {
		return Person{}, false
	}
	return d.people[i], true
}

// People returns every person, in file order. The slice is the caller's.
func (d *Directory) People() []Person {
	if d == nil {
		return nil
	}
	return slices.Clone(d.people)
}

// Cleaners returns the people who clean zone, in file order.
func (d *Directory) Cleaners(zone string) []Person {
	var out []Person
	for _, p := range d.People() {
		if p.Cleans(zone) {
			out = append(out, p)
		}
	}
	return out
}

// Load reads and parses the directory file at path.
func Load(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return Parse(path, data)
}

// e164 is a phone number in E.164: '+' and 8 to 15 digits, no leading zero.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// ValidPhone reports whether s is an E.164 phone number.
func ValidPhone(s string) bool { return e164.MatchString(s) }

// Parse parses and validates a directory file; file names it in errors,
// which are yamlfile.Errors whose every element also matches ErrInvalid.
func Parse(file string, data []byte) (*Directory, error) {
	root, err := yamlfile.Load(file, data, "directory", MaxFileSize)
	if err != nil {
		return nil, invalid(err)
	}
	w := &yamlfile.Walker{File: file}
	d := &Directory{byPh: map[string]int{}}
	first := map[string]yamlfile.Position{}
	w.Mapping(root, "", yamlfile.Fields{
		"people": func(v *yaml.Node, path string) {
			w.List(v, path, func(n *yaml.Node, path string) {
				p, at, ok := person(w, n, path)
				if !ok {
					return
				}
				if prev, dup := first[p.Phone]; dup {
					w.Fail(at, yamlfile.Key(path, "phone"), yamlfile.ErrDuplicate, "phone %s is listed twice (first at %s)", p.Phone, prev)
					return
				}
				first[p.Phone] = w.At(at)
				d.byPh[p.Phone] = len(d.people)
				d.people = append(d.people, p)
			})
		},
	}, "people")
	if err := w.Err(); err != nil {
		return nil, invalid(err)
	}
	return d, nil
}

// person reads one entry; at is where its phone is written.
func person(w *yamlfile.Walker, n *yaml.Node, path string) (p Person, at *yaml.Node, ok bool) {
	before := len(w.Errs)
	at = n
	w.Mapping(n, path, yamlfile.Fields{
		"phone": func(v *yaml.Node, path string) {
			at = v
			if s, ok := w.String(v, path); ok {
				if !ValidPhone(s) {
					w.Fail(v, path, yamlfile.ErrInvalid, "phone %q is not an E.164 number (+ and 8 to 15 digits, e.g. +15550001)", s)
				}
				p.Phone = s
			}
		},
		"name": func(v *yaml.Node, path string) {
			if s, ok := w.String(v, path); ok {
				if s == "" {
					w.Fail(v, path, yamlfile.ErrInvalid, "name is empty")
				}
				p.Name = s
			}
		},
		"roles": func(v *yaml.Node, path string) {
			w.List(v, path, func(r *yaml.Node, path string) {
				s, ok := w.String(r, path)
				switch role := Role(s); {
				case !ok:
				case role != Staff && role != Cleaner && role != Admin:
					w.Fail(r, path, yamlfile.ErrInvalid, "unknown role %q (known: admin, cleaner, staff)", s)
				case slices.Contains(p.Roles, role):
					w.Fail(r, path, yamlfile.ErrDuplicate, "role %q given twice", s)
				default:
					p.Roles = append(p.Roles, role)
				}
			})
			if len(p.Roles) == 0 && len(w.Errs) == before {
				w.Fail(v, path, yamlfile.ErrMissing, "at least one role (staff, cleaner, admin)")
			}
		},
		"zones": func(v *yaml.Node, path string) { p.Zones = w.Strings(v, path) },
	}, "phone", "name", "roles")
	return p, at, len(w.Errs) == before
}

// invalid makes every problem of err (yamlfile.Errors) also match ErrInvalid.
func invalid(err error) error {
	var es yamlfile.Errors
	if !errors.As(err, &es) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, e := range es {
		e.Kind = fmt.Errorf("%w: %w", ErrInvalid, e.Kind)
	}
	return es
}
