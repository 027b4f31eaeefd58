package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/corb-dev/corb/topology"
)

// KEDA's files (testdata/KEDA.md says where they come from).
const (
	KEDACRDFile           = "testdata/keda.sh_scaledobjects.yaml"
	KEDAKafkaMetadataFile = "testdata/keda-kafka-scaler-metadata.txt"
)

// CRD validates custom resources of one CustomResourceDefinition as the API
// server does on create, with the apiextensions-apiserver's own code: the
// version's structural schema (OpenAPI v3 validation), unknown fields (what
// the server prunes, or refuses with kubectl's --validate=strict), and the
// schema's x-kubernetes-validations CEL rules.
type CRD struct {
	group, kind string
	versions    map[string]crdVersion
	// kafkaKeys are the kafka scaler's trigger metadata keys; true: KEDA also
	// reads <key>FromEnv.
	kafkaKeys map[string]bool
}

type crdVersion struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// LoadCRD reads a CustomResourceDefinition (apiextensions.k8s.io/v1, decoded
// strictly) and the kafka scaler's metadata keys.
func LoadCRD(crdPath, kafkaKeysPath string) (*CRD, error) {
	raw, err := os.ReadFile(crdPath)
	if err != nil {
		return nil, err
	}
	s := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	codecs := serializer.NewCodecFactory(s, serializer.EnableStrict)
	obj, _, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", crdPath, err)
	}
	crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not a CustomResourceDefinition", crdPath, obj)
	}
	c := &CRD{group: crd.Spec.Group, kind: crd.Spec.Names.Kind, versions: map[string]crdVersion{}}
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("%s: version %s has no schema", crdPath, v.Name)
		}
		internal := &apiextensions.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("%s: version %s: %w", crdPath, v.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: version %s: %w", crdPath, v.Name, err)
		}
		st, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: version %s: not a structural schema: %w", crdPath, v.Name, err)
		}
		c.versions[v.Name] = crdVersion{
			validator:  validator,
			structural: st,
			cel:        cel.NewValidator(st, true, celconfig.PerCallLimit),
		}
	}
	if c.kafkaKeys, err = loadKafkaKeys(kafkaKeysPath); err != nil {
		return nil, err
	}
	return c, nil
}

func loadKafkaKeys(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, order, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		keys[name] = strings.Contains(order, "resolvedEnv")
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", path)
	}
	return keys, sc.Err()
}

// Validate checks one custom resource of the CRD.
func (c *CRD) Validate(u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	if gvk.Group != c.group || gvk.Kind != c.kind {
		return fmt.Errorf("%s is not a %s.%s", gvk, c.kind, c.group)
	}
	v, ok := c.versions[gvk.Version]
	if !ok {
		return fmt.Errorf("%s: the CRD has no version %s", c.kind, gvk.Version)
	}
	obj := u.DeepCopy().Object
	var errs field.ErrorList
	// Unknown fields: what the API server drops, or refuses under strict field validation.
	for _, p := range pruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, field.Invalid(field.NewPath(p), "", "field not declared in schema"))
	}
	errs = append(errs, validation.ValidateCustomResource(nil, obj, v.validator)...)
	if v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if err := errs.ToAggregate(); err != nil {
		return fmt.Errorf("%s %s: %w", c.kind, u.GetName(), err)
	}
	return nil
}

// scaledObject is the part of a ScaledObject's spec the agreement checks read.
type scaledObject struct {
	Spec struct {
		ScaleTargetRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// checkScaledObject validates so against KEDA's CRD and checks it against the
// topology: it targets a Deployment of the build running an operator; its
// kafka triggers name that operator's consumer group and one of its input
// topics as topology.Names makes them, with the brokers of corb-env; only
// keys of KEDA's kafka scaler; maxReplicaCount ≤ the input's partitions and
// minReplicaCount ≥ 1 (an operator scaled to zero reports STALE to nobody).
// It returns the Deployment it targets.
func checkScaledObject(m *Manifests, spec *topology.Spec, crd *CRD, u *unstructured.Unstructured) (string, error) {
	name := u.GetName()
	var so scaledObject
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &so); err != nil {
		return "", fmt.Errorf("ScaledObject %s: %w", name, err)
	}
	var errs []error
	if err := crd.Validate(u); err != nil {
		errs = append(errs, err)
	}
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ScaledObject %s: "+format, append([]any{name}, args...)...))
	}
	ref := so.Spec.ScaleTargetRef
	if ref.Kind != "" && ref.Kind != "Deployment" {
		fail("scales a %s: Corb's operators are Deployments", ref.Kind)
		return ref.Name, errors.Join(errs...)
	}
	d := m.Deployment(ref.Name)
	if d == nil {
		fail("targets Deployment %s, which is not in the build", ref.Name)
		return ref.Name, errors.Join(errs...)
	}
	c, err := corbContainer(&d.Spec.Template.Spec)
	if err != nil {
		fail("target %s: %v", d.Name, err)
		return ref.Name, errors.Join(errs...)
	}
	opName, ok := runs(c)
	if !ok {
		fail("target %s runs no operator", d.Name)
		return ref.Name, errors.Join(errs...)
	}
	op, ok := spec.Operator(opName)
	if !ok {
		fail("target %s runs %q, which the topology does not have", d.Name, opName)
		return ref.Name, errors.Join(errs...)
	}
	parts, err := minInputPartitions(spec, op)
	if err != nil {
		fail("%v", err)
		return ref.Name, errors.Join(errs...)
	}
	if so.Spec.MaxReplicaCount == nil {
		fail("no maxReplicaCount (KEDA's default is 100; %s's input has %d partitions)", opName, parts)
	} else if int(*so.Spec.MaxReplicaCount) > parts {
		fail("maxReplicaCount %d is more than the %d partitions of %s's input", *so.Spec.MaxReplicaCount, parts, opName)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
		fail("minReplicaCount must be at least 1 (KEDA's default is 0: the operator would stop)")
	}
	brokers := ""
	if env := m.ConfigMap("corb-env"); env != nil {
		brokers = env.Data["CORB_BROKERS"]
	}
	names := spec.Names()
	if cm := m.ConfigMap("corb-env"); cm != nil && cm.Data["CORB_NAMESPACE"] != "" {
		names = topology.Names{Namespace: cm.Data["CORB_NAMESPACE"]}
	}
	kafka := 0
	for i, t := range so.Spec.Triggers {
		if t.Type != "kafka" {
			continue
		}
		kafka++
		at := func(format string, args ...any) { fail("triggers[%d]: "+format, append([]any{i}, args...)...) }
		for k := range t.Metadata {
			base, fromEnv := strings.CutSuffix(k, "FromEnv")
			if resolved, known := crd.kafkaKeys[base]; !known || fromEnv && !resolved {
				at("metadata key %q is not one of KEDA's kafka scaler (%s)", k, KEDAKafkaMetadataFile)
			}
		}
		md := t.Metadata
		if want := names.Group(op.Name); md["consumerGroup"] != want {
			at("consumerGroup %q, want %q (the group of operator %s)", md["consumerGroup"], want, op.Name)
		}
		topicOK := false
		for _, in := range op.Inputs {
			if md["topic"] == names.Topic(in) {
				topicOK = true
			}
		}
		if !topicOK {
			at("topic %q is not an input of %s (%s)", md["topic"], op.Name, strings.Join(physical(names, op.Inputs), ", "))
		}
		if md["bootstrapServers"] != brokers {
			at("bootstrapServers %q, want corb-env's CORB_BROKERS %q", md["bootstrapServers"], brokers)
		}
		if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
			at("lagThreshold %q: want a positive number", md["lagThreshold"])
		}
		if md["allowIdleConsumers"] == "true" {
			at("allowIdleConsumers lets KEDA scale past the partitions: replicas without a partition")
		}
	}
	if kafka == 0 {
		fail("no kafka trigger")
	}
	return ref.Name, errors.Join(errs...)
}

func physical(n topology.Names, topics []string) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = n.Topic(t)
	}
	return out
}
