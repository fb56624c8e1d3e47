package rollout

import (
	"encoding/json"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
)

// LabelVersion is the version label bollard sets on workloads and their pods.
const LabelVersion = "app.kubernetes.io/version"

// canary splits each changed Deployment in two, replicas shared for each step's weight; at 100 %
// the new revision replaces the stable one.
type canary struct {
	steps  []int32
	checks []v1alpha1.RolloutCheck
}

func newCanary(steps []int32, checks []v1alpha1.RolloutCheck) *canary {
	if len(steps) == 0 {
		steps = []int32{1, 10, 50, 100}
	}
	var below []int32
	for _, w := range steps {
		if w < 100 {
			below = append(below, w)
		}
	}
	if len(below) == 0 {
		below = []int32{steps[0]}
	}
	return &canary{steps: below, checks: checks}
}

func (*canary) Type() v1alpha1.StrategyType { return v1alpha1.StrategyCanary }

// Phase: each step below 100 % (health, prove, the SLO guard — a canary is proven at every
// weight), then the promoted revision (health).
func (c *canary) Phase(i int32) (Phase, bool) {
	switch {
	case i < 0 || int(i) > len(c.steps):
		return Phase{}, false
	case int(i) == len(c.steps):
		return Phase{Name: "promote", Weight: 100, Checks: []v1alpha1.RolloutCheck{v1alpha1.CheckHealth}}, true
	}
	name := fmt.Sprintf("canary %d%%", c.steps[i])
	return Phase{Name: name, Weight: c.steps[i], Checks: c.checks, Prefix: name + " "}, true
}

func (c *canary) Targets(i int32, rev Revisions) ([]*unstructured.Unstructured, string, error) {
	p, ok := c.Phase(i)
	if !ok {
		return nil, "", fmt.Errorf("canary phase %d: the strategy has %d steps", i, len(c.steps))
	}
	if p.Weight >= 100 {
		return rev.New, "100%: the new revision replaces the stable one; canary removed", nil
	}
	targets, desc := canaryTargets(rev.New, rev.Old, p.Weight)
	return targets, desc, nil
}

// LabelCanary marks the canary Deployment and its pods (and keeps their selector apart from the
// stable Deployment's).
const LabelCanary = "bollard.dev/canary"

// canaryTargets are newTargets with each Deployment whose pod template changed since oldTargets
// split in two: the stable Deployment keeps the old template, a "<name>-canary" Deployment runs
// the new one, replicas shared for weight percent (approximated: at least one canary pod, at
// least one stable pod). It returns the weight achieved, as a person reads it.
func canaryTargets(newTargets, oldTargets []*unstructured.Unstructured, weight int32) ([]*unstructured.Unstructured, string) {
	old := map[string]*unstructured.Unstructured{}
	for _, o := range oldTargets {
		if o.GetKind() == "Deployment" {
			old[o.GetName()] = o
		}
	}
	var out []*unstructured.Unstructured
	desc := "no workload changed"
	for _, t := range newTargets {
		prev := old[t.GetName()]
		if t.GetKind() != "Deployment" || prev == nil || SameTemplate(t, prev) {
			out = append(out, t)
			continue
		}
		n := ReplicasOf(t)
		c := max(1, int64(math.Round(float64(n)*float64(weight)/100)))
		s := max(1, n-c)
		if c >= n {
			c, s = n, max(1, n-c) // a single replica: canary beside one stable pod
		}
		if weight == 0 { // halted: the stable version whole, the canary kept at no replicas
			c, s = 0, n
		}
		stable := prev.DeepCopy()
		_ = unstructured.SetNestedField(stable.Object, s, "spec", "replicas")
		canary := t.DeepCopy()
		canary.SetName(t.GetName() + "-canary")
		_ = unstructured.SetNestedField(canary.Object, c, "spec", "replicas")
		_ = unstructured.SetNestedField(canary.Object, "true", "spec", "selector", "matchLabels", LabelCanary)
		_ = unstructured.SetNestedField(canary.Object, "true", "spec", "template", "metadata", "labels", LabelCanary)
		out = append(out, stable, canary)
		desc = fmt.Sprintf("%d%% asked: %d/%d replicas on the new version = %.0f%%", weight, c, c+s, 100*float64(c)/float64(max(1, c+s)))
	}
	return out, desc
}

// SameTemplate reports two workloads with the same pod template.
func SameTemplate(a, b *unstructured.Unstructured) bool {
	ta, _, _ := unstructured.NestedMap(a.Object, "spec", "template")
	tb, _, _ := unstructured.NestedMap(b.Object, "spec", "template")
	ja, _ := json.Marshal(ta)
	jb, _ := json.Marshal(tb)
	return string(ja) == string(jb)
}

// ReplicasOf reads spec.replicas whatever number type the decoder left (default 1).
func ReplicasOf(u *unstructured.Unstructured) int64 {
	v, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas")
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	if !found {
		return 1
	}
	return 1
}
