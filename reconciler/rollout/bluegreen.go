package rollout

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
)

// Blue/green phases, in order: green runs beside blue and is verified through the preview Service
// (the active one pinned to blue); the active Service switches to green and it is verified again;
// the stable Deployments take green's template with the active Service still on green; then git's
// state exactly (green and a synthesized preview Service pruned). A failure before the promotion
// applies the last good revision: green deleted, the active Service back on blue.
const (
	LabelColor = "bollard.dev/color"

	bgGreen   = "green"
	bgSwitch  = "switch"
	bgPromote = "promote"
)

// blueGreen is a blue/green rollout between the active and the preview Service.
type blueGreen struct {
	active, preview string
	checks          []v1alpha1.RolloutCheck
}

func (*blueGreen) Type() v1alpha1.StrategyType { return v1alpha1.StrategyBlueGreen }

// Phase: green beside blue (health, prove — point it at the preview — and the SLO guard); the
// switch (health, the SLO guard); blue on the new template (health); git's state (no checks).
func (b *blueGreen) Phase(i int32) (Phase, bool) {
	switch i {
	case 0:
		return Phase{Name: "green", Checks: b.checks}, true
	case 1:
		return Phase{Name: "switch", Checks: without(b.checks, v1alpha1.CheckProve)}, true
	case 2:
		return Phase{Name: "blue takes green's template", Checks: []v1alpha1.RolloutCheck{v1alpha1.CheckHealth}}, true
	case 3:
		return Phase{Name: "promote"}, true
	}
	return Phase{}, false
}

func (b *blueGreen) Targets(i int32, rev Revisions) ([]*unstructured.Unstructured, string, error) {
	switch i {
	case 0:
		return b.targets(rev, bgGreen), fmt.Sprintf("green beside blue; %s on blue, %s on green", b.active, b.preview), nil
	case 1:
		return b.targets(rev, bgSwitch), fmt.Sprintf("%s now selects green (%s)", b.active, rev.NewVersion), nil
	case 2:
		return b.targets(rev, bgPromote), fmt.Sprintf("blue runs green's template; %s still on green", b.active), nil
	case 3:
		return rev.New, "blue runs the new version; green deleted", nil
	}
	return nil, "", fmt.Errorf("blue/green phase %d: there are 4", i)
}

// BeforeSwitch reports a blue/green rollout whose active Service never left blue.
func BeforeSwitch(s Strategy, ro v1alpha1.RolloutStatus) bool {
	_, ok := s.(*blueGreen)
	return ok && ro.Index == 0
}

// targets builds the targets of a phase from the new revision's and the running one's.
func (b *blueGreen) targets(rev Revisions, phase string) []*unstructured.Unstructured {
	newTargets, oldTargets, blueVersion, greenVersion := rev.New, rev.Old, rev.OldVersion, rev.NewVersion
	old := map[string]*unstructured.Unstructured{}
	for _, o := range oldTargets {
		if o.GetKind() == "Deployment" {
			old[o.GetName()] = o
		}
	}
	active, preview := b.active, b.preview
	pin := func(svc *unstructured.Unstructured, version string) *unstructured.Unstructured {
		svc = svc.DeepCopy()
		_ = unstructured.SetNestedField(svc.Object, version, "spec", "selector", LabelVersion)
		return svc
	}
	var out []*unstructured.Unstructured
	var activeSvc *unstructured.Unstructured
	hasPreview := false
	for _, t := range newTargets {
		switch {
		case t.GetKind() == "Deployment" && old[t.GetName()] != nil && !SameTemplate(t, old[t.GetName()]):
			if phase == bgPromote {
				out = append(out, t) // the stable Deployment takes green's template
			} else {
				out = append(out, old[t.GetName()]) // blue, untouched
			}
			green := t.DeepCopy()
			green.SetName(t.GetName() + "-green")
			_ = unstructured.SetNestedField(green.Object, "true", "spec", "selector", "matchLabels", LabelColor)
			_ = unstructured.SetNestedField(green.Object, "true", "spec", "template", "metadata", "labels", LabelColor)
			out = append(out, green)
		case t.GetKind() == "Service" && t.GetName() == active:
			activeSvc = t
			if phase == bgGreen {
				out = append(out, pin(t, blueVersion))
			} else {
				out = append(out, pin(t, greenVersion))
			}
		case t.GetKind() == "Service" && t.GetName() == preview:
			hasPreview = true
			out = append(out, pin(t, greenVersion))
		default:
			out = append(out, t)
		}
	}
	if !hasPreview && preview != "" && activeSvc != nil {
		p := pin(activeSvc, greenVersion)
		p.SetName(preview)
		unstructured.RemoveNestedField(p.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(p.Object, "spec", "clusterIPs")
		out = append(out, p)
	}
	return out
}
