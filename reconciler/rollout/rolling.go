package rollout

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
)

// rolling is the workloads' own rolling update, then verified.
type rolling struct{ checks []v1alpha1.RolloutCheck }

func (rolling) Type() v1alpha1.StrategyType { return v1alpha1.StrategyRolling }

func (s rolling) Phase(i int32) (Phase, bool) {
	return Phase{Name: "rollout", Checks: s.checks}, i == 0
}

func (rolling) Targets(_ int32, rev Revisions) ([]*unstructured.Unstructured, string, error) {
	return rev.New, "", nil
}
