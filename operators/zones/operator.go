package zones

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corb-dev/corb/operators"
	"github.com/corb-dev/corb/operators/metrics"
	"github.com/corb-dev/corb/schemas"
)

// DefaultFile is the zones file an operator loads when its config names none,
// relative to the working directory (the repository root in development).
const DefaultFile = "deploy/zones.yaml"

// FileEnv is the environment variable that names the zones file when the
// operator's config does not.
const FileEnv = "CORB_ZONES"

// OperatorConfig is the zones kind's config, as written under an operator's
// `config:` in the topology. Every field is optional.
type OperatorConfig struct {
	// ZonesFile is the zones file (see Parse). "" means $CORB_ZONES, then DefaultFile.
	ZonesFile string `yaml:"zones_file" default:"$CORB_ZONES, else deploy/zones.yaml" doc:"the zones file: polygons per camera"`
}

// Path is the zones file the config selects: ZonesFile, else getenv(FileEnv),
// else DefaultFile. A nil getenv reads no environment.
func (c OperatorConfig) Path(getenv func(string) string) string {
	if p := strings.TrimSpace(c.ZonesFile); p != "" {
		return p
	}
	if getenv != nil {
		if p := strings.TrimSpace(getenv(FileEnv)); p != "" {
			return p
		}
	}
	return DefaultFile
}

// OperatorOptions are what the host gives a zones operator besides its zones.
type OperatorOptions struct {
	// Name is the operator's name in the topology; it labels the metrics.
	Name string
	// Output is the logical topic the zone counts go to.
	Output string
	// Registry receives the operator's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Operator is the zones operator: corb.Detections records in, one
// corb.ZoneCounts record out per zone the frame's camera sees, keyed by zone
// id (so the counts of every camera of a zone meet on one partition), with
// the frame's capture time as the record timestamp. A frame from a camera
// that sees no zone is consumed with zero outputs and marked dropped
// (DroppedNoZone), so that the runtime counts and logs what would otherwise
// be a silent gap: a camera's detections that never become events.
//
// A record that is not a decodable corb.Detections is a permanent failure:
// the runtime dead-letters it and the rest of the batch goes on.
// The operator holds no state between records.
type Operator struct {
	zoner   *Zoner
	out     string
	records *prometheus.CounterVec // by zone, curried with the operator name
}

// DroppedNoZone is the operators.Result.Dropped reason of a frame whose
// camera no zone of the zones file names.
const DroppedNoZone = "camera-without-zones"

// ErrNoOutput is returned by NewOperator when OperatorOptions.Output is empty.
var ErrNoOutput = errors.New("zones: operator needs an output topic")

// NewOperator returns a zones operator counting with the zones of f.
func NewOperator(f *File, opts OperatorOptions) (*Operator, error) {
	if f == nil {
		return nil, errors.New("zones: operator needs a zones file")
	}
	if opts.Output == "" {
		return nil, ErrNoOutput
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corb_zones_records_total",
		Help: "ZoneCounts records produced, by operator and zone.",
	}, []string{"operator", "zone"})
	vec, err := metrics.Register(opts.Registry, vec)
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	return &Operator{
		zoner:   NewZoner(f),
		out:     opts.Output,
		records: vec.MustCurryWith(prometheus.Labels{"operator": opts.Name}),
	}, nil
}

// Zoner is the zoner the operator counts with.
func (o *Operator) Zoner() *Zoner { return o.zoner }

// Process implements operators.Operator.
func (o *Operator) Process(_ context.Context, batch []operators.Record) ([]operators.Result, error) {
	results := make([]operators.Result, len(batch))
	for i, r := range batch {
		results[i] = o.process(r)
	}
	return results, nil
}

func (o *Operator) process(r operators.Record) operators.Result {
	var d schemas.Detections
	if err := schemas.Unmarshal(r.Value, &d); err != nil {
		return operators.Result{Err: operators.Permanent(fmt.Errorf("zones: not a corb.Detections: %w", err))}
	}
	counts := o.zoner.Count(&d)
	if len(counts) == 0 {
		return operators.Result{Dropped: DroppedNoZone}
	}
	outs := make([]operators.Output, 0, len(counts))
	for i := range counts {
		v, err := schemas.Marshal(&counts[i])
		if err != nil {
			// Only fields the schema refuses (an invalid UTF-8 camera id) get here.
			return operators.Result{Err: operators.Permanent(fmt.Errorf("zones: encoding zone counts: %w", err))}
		}
		outs = append(outs, operators.Output{
			Topic: o.out, Key: []byte(counts[i].ZoneID), Value: v, Timestamp: counts[i].CaptureTime,
		})
	}
	for i := range counts {
		o.records.WithLabelValues(counts[i].ZoneID).Inc()
	}
	return operators.Result{Outputs: outs}
}
