package check

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/corb-dev/corb/topology"
)

// KubeTopologyFile is the key of the topology in the corb-files ConfigMap.
const KubeTopologyFile = "topology.yaml"

// Topology parses the topology that a build ships in its corb-files ConfigMap:
// the one its pods run.
func (m *Manifests) Topology() (*topology.Spec, error) {
	cm := m.ConfigMap("corb-files")
	if cm == nil {
		return nil, errors.New("no ConfigMap corb-files in the build")
	}
	data, ok := cm.Data[KubeTopologyFile]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s has no %s", cm.Name, KubeTopologyFile)
	}
	return topology.Parse(cm.Name+"/"+KubeTopologyFile, []byte(data))
}

// CheckKube checks a decoded build against the topology its pods run:
//   - every operator has exactly one Deployment, named after it, running
//     `corb run NAME`, with replicas ≤ its input's partitions (none: a
//     ScaledObject must own them), CORB_INSTANCE from the pod's name, the
//     probes, admin port, Prometheus annotations and resources of checkServer,
//     and a PodDisruptionBudget; no Deployment runs an operator the topology
//     lacks;
//   - the topology-apply Job runs `corb topology apply` with the same files;
//   - the SMS connector runs `corb sms serve` behind a Service whose target
//     port it serves, and reads the Twilio Secret;
//   - every ScaledObject is valid for KEDA's CRD (crd), targets a Deployment
//     of the build, and agrees with the topology (see checkScaledObject);
//   - Secrets are never in the build: they come from outside (secrets names them).
func CheckKube(m *Manifests, spec *topology.Spec, crd *CRD, secrets map[string]bool) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(m.Secrets) > 0 {
		fail("the build holds Secret %s: Secrets are created by the cluster's operator (secret.example.yaml), never shipped", m.Secrets[0].Name)
	}
	scaled := map[string]bool{}
	for _, so := range m.ScaledObjects {
		target, err := checkScaledObject(m, spec, crd, so)
		errs = append(errs, err)
		if target != "" {
			scaled[target] = true
		}
	}

	byOperator := map[string][]string{}
	for _, d := range m.Deployments {
		c, err := corbContainer(&d.Spec.Template.Spec)
		if err != nil {
			fail("Deployment %s: %v", d.Name, err)
			continue
		}
		name, isOp := runs(c)
		if !isOp {
			continue
		}
		byOperator[name] = append(byOperator[name], d.Name)
		op, ok := spec.Operator(name)
		if !ok {
			fail("Deployment %s runs operator %q, which topology %s does not have", d.Name, name, spec.File)
			continue
		}
		if d.Name != name {
			fail("Deployment %s runs operator %s: name it after the operator", d.Name, name)
		}
		parts, err := minInputPartitions(spec, op)
		if err != nil {
			fail("%v", err)
			continue
		}
		switch {
		case d.Spec.Replicas == nil && !scaled[d.Name]:
			fail("Deployment %s sets no replicas and no ScaledObject owns them", d.Name)
		case d.Spec.Replicas != nil && int(*d.Spec.Replicas) > parts:
			fail("Deployment %s has %d replicas, more than the %d partitions of %s's input: the extra replicas would hold no partition",
				d.Name, *d.Spec.Replicas, parts, name)
		case d.Spec.Replicas != nil && scaled[d.Name]:
			fail("Deployment %s sets replicas although a ScaledObject owns them (every apply would reset them)", d.Name)
		}
		if !instanceFromPodName(c) {
			fail("Deployment %s: CORB_INSTANCE must come from the pod's name (fieldRef metadata.name): unique among live replicas", d.Name)
		}
		errs = append(errs, checkServer(m, "Deployment", d.Name, &d.Spec.Template, secrets)...)
		if !m.pdbCovers(&d.Spec.Template) {
			fail("Deployment %s: no PodDisruptionBudget selects its pods", d.Name)
		}
	}
	for _, op := range spec.Operators {
		switch n := len(byOperator[op.Name]); {
		case n == 0:
			fail("operator %s of topology %s has no Deployment", op.Name, spec.File)
		case n > 1:
			fail("operator %s runs in %d Deployments (%s): one, with replicas", op.Name, n, strings.Join(byOperator[op.Name], ", "))
		}
	}

	errs = append(errs, checkTopologyJob(m, secrets)...)
	errs = append(errs, checkSMSConnector(m, secrets)...)
	return errors.Join(errs...)
}

func instanceFromPodName(c *corev1.Container) bool {
	for _, e := range c.Env {
		if e.Name == "CORB_INSTANCE" {
			return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		}
	}
	return false
}

func checkTopologyJob(m *Manifests, secrets map[string]bool) []error {
	var errs []error
	n := 0
	for _, j := range m.Jobs {
		c, err := corbContainer(&j.Spec.Template.Spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("a Job, %s: %v", j.Name, err))
			continue
		}
		if slices.Equal(c.Args, []string{"topology", "apply"}) {
			n++
		}
		errs = append(errs, checkRefs(m, "Job", j.Name, &j.Spec.Template.Spec, secrets)...)
	}
	if n != 1 {
		errs = append(errs, fmt.Errorf("want one Job running `corb topology apply`, found %d", n))
	}
	return errs
}

func checkSMSConnector(m *Manifests, secrets map[string]bool) []error {
	var errs []error
	found := false
	for _, d := range m.Deployments {
		c, err := corbContainer(&d.Spec.Template.Spec)
		if err != nil || len(c.Args) < 2 || c.Args[0] != "sms" || c.Args[1] != "serve" {
			continue
		}
		found = true
		errs = append(errs, checkServer(m, "Deployment", d.Name, &d.Spec.Template, secrets)...)
		if !m.pdbCovers(&d.Spec.Template) {
			errs = append(errs, fmt.Errorf("Deployment %s: no PodDisruptionBudget selects its pods", d.Name))
		}
		if !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool { return e.SecretRef != nil }) {
			errs = append(errs, fmt.Errorf("Deployment %s: `corb sms serve` needs TWILIO_AUTH_TOKEN: no Secret in envFrom", d.Name))
		}
		listen := -1
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--listen=:"); ok {
				listen, _ = strconv.Atoi(v)
			}
		}
		served := false
		for _, s := range m.Services {
			if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			for _, p := range s.Spec.Ports {
				if int(portNumber(c, p.TargetPort)) == listen {
					served = true
				}
			}
		}
		if !served {
			errs = append(errs, fmt.Errorf("Deployment %s: no Service sends traffic to its webhook port (--listen=:%d)", d.Name, listen))
		}
	}
	if !found {
		errs = append(errs, errors.New("no Deployment runs `corb sms serve` (the SMS connector)"))
	}
	return errs
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
