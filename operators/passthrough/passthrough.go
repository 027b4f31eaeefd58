// Package passthrough provides the passthrough operator: it copies every input
// record, key, value and headers, to its single output topic. It is the engine's
// reference operator (tests, benchmarks) and a way to mirror or re-partition a topic.
package passthrough

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/schemas"
)

// Config is the passthrough kind's config.
type Config struct {
	// Schema, when set, is the Avro full name every input value must carry
	// (e.g. corb.Command). Records that are not valid Avro single-object
	// encodings of that schema are permanent failures: they go to the dead-letter
	// topic instead of spreading downstream.
	Schema string `yaml:"schema" doc:"the Avro record every value must be (e.g. corb.Command); others are dead-lettered. None: any bytes"`
}

// Validate checks that Schema names a known schema.
func (c Config) Validate() error {
	if c.Schema == "" || slices.Contains(schemas.Known(), c.Schema) {
		return nil
	}
	return fmt.Errorf("schema %q is not a known schema (known: %s)", c.Schema, strings.Join(schemas.Known(), ", "))
}

// Operator copies records to Output.
type Operator struct {
	Output string
	Config Config
}

// New returns a passthrough operator writing to output.
func New(output string, cfg Config) *Operator { return &Operator{Output: output, Config: cfg} }

// Process implements operators.Operator.
func (p *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	results := make([]operators.Result, len(batch))
	for i, r := range batch {
		if p.Config.Schema != "" {
			name, err := schemas.NameOf(r.Value)
			if err == nil && name != p.Config.Schema {
				err = fmt.Errorf("record is %s, want %s", name, p.Config.Schema)
			}
			if err == nil {
				_, err = schemas.Fields(r.Value)
			}
			if err != nil {
				results[i].Err = operators.Permanent(fmt.Errorf("invalid %s record: %w", p.Config.Schema, err))
				continue
			}
		}
		results[i].Outputs = []operators.Output{{Topic: p.Output, Key: r.Key, Value: r.Value, Headers: r.Headers}}
	}
	return results, nil
}
