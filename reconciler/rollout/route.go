package rollout

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// routeCanary is a canary whose share of requests a Gateway API HTTPRoute sets exactly.
type routeCanary struct {
	*canary
	route string
}

func (c *routeCanary) Targets(i int32, rev Revisions) ([]*unstructured.Unstructured, string, error) {
	p, ok := c.Phase(i)
	if !ok || p.Weight >= 100 {
		return c.canary.Targets(i, rev)
	}
	targets, _ := canaryTargets(rev.New, rev.Old, p.Weight)
	return routeWeights(targets, c.route, p.Weight, rev.OldVersion)
}

// routeWeights sets exact canary weights on the HTTPRoute named route: every backendRef to a
// Service gets a "<service>-canary" sibling with weight percent, the Service itself the rest; the
// Service is pinned to the stable version's pods and the canary Service selects the canary's.
func routeWeights(targets []*unstructured.Unstructured, route string, weight int32, stableVersion string) ([]*unstructured.Unstructured, string, error) {
	var routeObj *unstructured.Unstructured
	for _, t := range targets {
		if t.GetKind() == "HTTPRoute" && t.GetName() == route {
			routeObj = t
		}
	}
	if routeObj == nil {
		return nil, "", fmt.Errorf("strategy.httpRoute %s: the revision has no HTTPRoute of that name", route)
	}
	routeObj = routeObj.DeepCopy()
	rules, _, _ := unstructured.NestedSlice(routeObj.Object, "spec", "rules")
	services := map[string]bool{}
	for i, rule := range rules {
		rm, ok := rule.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("strategy.httpRoute %s: spec.rules[%d] is not an object", route, i)
		}
		refs, _ := rm["backendRefs"].([]any)
		var out []any
		for j, ref := range refs {
			m, ok := ref.(map[string]any)
			if !ok {
				return nil, "", fmt.Errorf("strategy.httpRoute %s: spec.rules[%d].backendRefs[%d] is not an object", route, i, j)
			}
			if kind, _ := m["kind"].(string); kind != "" && kind != "Service" {
				out = append(out, ref)
				continue
			}
			name, _ := m["name"].(string)
			services[name] = true
			stable, canary := deepCopyMap(m), deepCopyMap(m)
			stable["weight"], canary["weight"] = int64(100-weight), int64(weight)
			canary["name"] = name + "-canary"
			out = append(out, stable, canary)
		}
		rm["backendRefs"] = out
		rules[i] = rm
	}
	if len(services) == 0 {
		return nil, "", fmt.Errorf("strategy.httpRoute %s: no backendRef to a Service", route)
	}
	_ = unstructured.SetNestedSlice(routeObj.Object, rules, "spec", "rules")
	var out []*unstructured.Unstructured
	for _, t := range targets {
		switch {
		case t == nil:
		case t.GetKind() == "HTTPRoute" && t.GetName() == route:
			out = append(out, routeObj)
		case t.GetKind() == "Service" && services[t.GetName()]:
			stable := t.DeepCopy()
			_ = unstructured.SetNestedField(stable.Object, stableVersion, "spec", "selector", LabelVersion)
			canary := t.DeepCopy()
			canary.SetName(t.GetName() + "-canary")
			unstructured.RemoveNestedField(canary.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(canary.Object, "spec", "clusterIPs")
			_ = unstructured.SetNestedField(canary.Object, "true", "spec", "selector", LabelCanary)
			out = append(out, stable, canary)
		default:
			out = append(out, t)
		}
	}
	return out, fmt.Sprintf("%d%% of requests by HTTPRoute %s (exact weights)", weight, route), nil
}

func deepCopyMap(m map[string]any) map[string]any {
	return runtime.DeepCopyJSON(m)
}
