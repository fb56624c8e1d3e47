package reconciler

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/rollout"
)

// describeStrategy is how a rollout runs, as its Deployment Log records it: the strategy and its
// phases in order (rolling: rollout; canary 10% → 50% → promote; blue/green: green → switch → …).
func describeStrategy(s rollout.Strategy) string {
	var phases []string
	for i := int32(0); ; i++ {
		p, ok := s.Phase(i)
		if !ok {
			break
		}
		phases = append(phases, p.Name)
	}
	typ := string(s.Type())
	if s.Type() == v1alpha1.StrategyBlueGreen {
		typ = "blue/green"
	}
	return typ + ": " + strings.Join(phases, " → ")
}

// target fills a Deployment Log's target: the namespace applied to, its environment (the
// namespace's bollard.dev/environment label) and the daemon's cluster name.
func (r *Reconciler) target(ctx context.Context, rel *v1alpha1.Release, rec *v1alpha1.DeploymentLog) {
	rec.Namespace = rel.Target()
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, client.ObjectKey{Name: rec.Namespace}, &ns); err == nil {
		rec.Environment = ns.Labels[v1alpha1.LabelEnvironment]
	}
	var parts []string
	if r.Cluster != "" {
		parts = append(parts, "cluster "+r.Cluster)
	}
	parts = append(parts, "namespace "+rec.Namespace)
	rec.Target = strings.Join(parts, ", ")
	if rec.Environment != "" {
		rec.Target = rec.Environment + " (" + rec.Target + ")"
	}
}

// drained is the Deployment Log's drain step once a revision is verified: where the old
// instances went — each Deployment's ReplicaSets of earlier templates and the pods they still
// run (0 once drained). Read from the daemon's cache of ReplicaSets.
func (r *Reconciler) drained(ctx context.Context, rel *v1alpha1.Release) (v1alpha1.LogStep, bool) {
	var deps []string
	for _, res := range rel.Status.Resources {
		if res.Kind == "Deployment" {
			deps = append(deps, res.Name)
		}
	}
	if len(deps) == 0 {
		return v1alpha1.LogStep{}, false
	}
	step := v1alpha1.LogStep{Name: "drain", Result: v1alpha1.ResultOK}
	var lines []string
	sort.Strings(deps)
	for _, d := range deps {
		var oldNames, oldCounts []string // each earlier ReplicaSet, and with the pods it still runs
		running := int32(0)
		newest := int64(-1)
		var owned appsv1.ReplicaSetList
		if err := r.Client.List(ctx, &owned, client.InNamespace(rel.Target()), client.MatchingFields{indexDeploymentOwner: d}, client.UnsafeDisableDeepCopy); err != nil {
			return v1alpha1.LogStep{Name: "drain", Result: v1alpha1.ResultWarn, Detail: "old instances not read: " + err.Error()}, true
		}
		for i := range owned.Items {
			newest = max(newest, revisionOf(&owned.Items[i]))
		}
		for i := range owned.Items {
			rs := &owned.Items[i] // the cache's own copy: read, never changed
			if revisionOf(rs) == newest {
				continue
			}
			oldNames = append(oldNames, rs.Name)
			oldCounts = append(oldCounts, fmt.Sprintf("%s %d", rs.Name, rs.Status.Replicas))
			running += rs.Status.Replicas
		}
		switch {
		case len(oldNames) == 0:
			lines = append(lines, "Deployment "+d+": no earlier instances")
		case running == 0:
			lines = append(lines, fmt.Sprintf("Deployment %s: old instances drained (ReplicaSets at 0 pods: %s; pods stopping finish their grace period)", d, strings.Join(oldNames, ", ")))
		default:
			step.Result = v1alpha1.ResultWarn
			lines = append(lines, fmt.Sprintf("Deployment %s: %d old pods still running (%s)", d, running, strings.Join(oldCounts, ", ")))
		}
	}
	step.Detail = strings.Join(lines, "; ")
	return step, true
}

// indexDeploymentOwner indexes the daemon's cache of ReplicaSets by the Deployment that
// controls them.
const indexDeploymentOwner = "bollard.dev/deployment-owner"

func deploymentOwner(o client.Object) []string {
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Deployment" {
		return []string{ref.Name}
	}
	return nil
}

// revisionOf is a ReplicaSet's deployment.kubernetes.io/revision (its template's turn).
func revisionOf(rs *appsv1.ReplicaSet) int64 {
	var n int64
	_, _ = fmt.Sscan(rs.Annotations["deployment.kubernetes.io/revision"], &n)
	return n
}
