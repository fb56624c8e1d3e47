package rollout

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
)

// Strategy is how a revision rolls out: its phases, and what each applies.
type Strategy interface {
	Type() v1alpha1.StrategyType
	// Phase is phase i, and whether the strategy has one.
	Phase(i int32) (Phase, bool)
	// Targets is what phase i applies, made from the new revision's targets and those of the
	// revision that runs (from; newVersion and oldVersion are their versions), and what it
	// achieves, as a person reads it.
	Targets(i int32, rev Revisions) ([]*unstructured.Unstructured, string, error)
}

// Revisions are the two revisions a phase is made from.
type Revisions struct {
	New, Old               []*unstructured.Unstructured
	NewVersion, OldVersion string
}

// For is the strategy of a rollout of rel: typ (the one a rollout started with; a first revision
// rolls out as a rolling update, having nothing to split from), or the spec's when typ is empty.
func For(rel *v1alpha1.Release, typ v1alpha1.StrategyType) Strategy {
	checks := []v1alpha1.RolloutCheck{v1alpha1.CheckHealth}
	if rel.Spec.Prove != nil {
		checks = append(checks, v1alpha1.CheckProve)
	}
	if rel.Spec.Analysis != nil {
		checks = append(checks, v1alpha1.CheckAnalysis)
	}
	s := rel.Spec.Strategy
	if typ == "" && s != nil {
		typ = s.Type
	}
	if s == nil || typ != s.Type {
		return rolling{checks: checks}
	}
	switch {
	case s != nil && s.Type == v1alpha1.StrategyCanary && s.HTTPRoute != "":
		return &routeCanary{canary: newCanary(s.Steps, checks), route: s.HTTPRoute}
	case s != nil && s.Type == v1alpha1.StrategyCanary:
		return newCanary(s.Steps, checks)
	case s != nil && s.Type == v1alpha1.StrategyBlueGreen && s.ActiveService != "":
		return &blueGreen{active: s.ActiveService, preview: s.PreviewService, checks: checks}
	}
	return rolling{checks: checks}
}

// Halt is what a failed rollout halts at with rollbackOnFailure off: a canary at 0 % (the
// stable version whole, the canary at no replicas), a blue/green on blue (green kept).
func Halt(s Strategy, rev Revisions) ([]*unstructured.Unstructured, string, error) {
	switch s := s.(type) {
	case *canary:
		targets, desc := canaryTargets(rev.New, rev.Old, 0)
		return targets, desc, nil
	case *routeCanary:
		targets, _ := canaryTargets(rev.New, rev.Old, 0)
		return routeWeights(targets, s.route, 0, rev.OldVersion)
	case *blueGreen:
		return s.Targets(0, rev)
	}
	return nil, "", fmt.Errorf("a %s rollout has no safe state but its last good revision", s.Type())
}

// without is checks less c.
func without(checks []v1alpha1.RolloutCheck, c v1alpha1.RolloutCheck) []v1alpha1.RolloutCheck {
	var out []v1alpha1.RolloutCheck
	for _, x := range checks {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}
