package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
)

// LabelCanary marks the canary Deployment and its pods (and keeps their selector apart from the
// stable Deployment's).
const LabelCanary = "bollard.dev/canary"

func canarySteps(rel *v1alpha1.Release) []int32 {
	if s := rel.Spec.Strategy; s != nil && len(s.Steps) > 0 {
		return s.Steps
	}
	return []int32{1, 10, 50, 100}
}

func isCanary(rel *v1alpha1.Release) bool {
	return rel.Spec.Strategy != nil && rel.Spec.Strategy.Type == "canary"
}

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
		if t.GetKind() != "Deployment" || prev == nil || sameTemplate(t, prev) {
			out = append(out, t)
			continue
		}
		n := replicasOf(t)
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

func sameTemplate(a, b *unstructured.Unstructured) bool {
	ta, _, _ := unstructured.NestedMap(a.Object, "spec", "template")
	tb, _, _ := unstructured.NestedMap(b.Object, "spec", "template")
	ja, _ := json.Marshal(ta)
	jb, _ := json.Marshal(tb)
	return string(ja) == string(jb)
}

// applyCanary syncs the canary split for weight between revision from (its verified snapshot)
// and to (applied with artifact); hooks only with the canary's first step.
func (r *Reconciler) applyCanary(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, from, to, artifact string, weight int32, hooks bool) (string, error) {
	newTargets, _, _, err := r.revisionTargets(ctx, rel, to, artifact, false)
	if err != nil {
		return "", err
	}
	oldTargets, oldVersion, _, err := r.revisionTargets(ctx, rel, from, "", true)
	if err != nil {
		return "", err
	}
	targets, desc := canaryTargets(newTargets, oldTargets, weight)
	if route := rel.Spec.Strategy.HTTPRoute; route != "" {
		if targets, desc, err = routeWeights(targets, route, weight, oldVersion); err != nil {
			return "", err
		}
	}
	if !hooks {
		targets = withoutHooks(targets)
	}
	_, err = r.sync(ctx, eng, rel, targets, to)
	return desc, err
}

// canaryStep verifies the current canary step — the canary's pods healthy, then the SLO guard
// for the hold — and moves to the next weight; at 100 % the new revision is applied whole (the
// canary Deployment is pruned) and verified like any rollout's last step: health.
func (r *Reconciler) canaryStep(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, now time.Time) (ctrl.Result, error) {
	steps := canarySteps(rel)
	weight := steps[min(int(ro.CanaryIndex), len(steps)-1)]
	name := fmt.Sprintf("canary %d%%", weight)
	ok, detail, fatal, err := r.healthy(ctx, rel)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		elapsed := now.Sub(ro.StepStartedAt.Time)
		if fatal || elapsed > healthTimeout(rel) {
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: name, Result: "FAIL",
				Detail: fmt.Sprintf("%s; health: %s after %.0f s", ro.Weight, detail, elapsed.Seconds())})
		}
		ro.Message = name + ": " + detail
		return r.saveRollout(ctx, rel, ro, time.Second)
	}
	done := v1alpha1.LogStep{Name: name, Result: "OK", Detail: ro.Weight + "; " + detail}
	if rel.Spec.Prove != nil && ro.Check != stepAnalysis {
		// The proof of this step, before its SLO guard: a canary is proven at every weight.
		if ro.Check != stepProve {
			ro.Check, ro.StepStartedAt, ro.Message = stepProve, metav1.Now(), name+": healthy; proving"
			return r.saveRollout(ctx, rel, ro, time.Second)
		}
		ok, pdetail, fatal, err := r.prove(ctx, rel, ro)
		if err != nil {
			return ctrl.Result{}, err
		}
		elapsed := now.Sub(ro.StepStartedAt.Time)
		switch {
		case ok:
			ro.Check, ro.StepStartedAt = stepAnalysis, metav1.Now()
			if a := rel.Spec.Analysis; a != nil && a.InitialDelay != nil {
				ro.StepStartedAt = metav1.NewTime(time.Now().Add(a.InitialDelay.Duration))
			}
			ro.Message = name + ": proven"
			return r.saveRollout(ctx, rel, ro, time.Second, v1alpha1.LogStep{Name: name + " prove", Result: "OK", Detail: pdetail, DurationMillis: elapsed.Milliseconds()})
		case fatal || elapsed > proveTimeout(rel):
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: name + " prove", Result: "FAIL", DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s; %s after %.0f s (timeout %s)", ro.Weight, pdetail, elapsed.Seconds(), proveTimeout(rel))})
		}
		ro.Message = name + ": proving: " + pdetail
		return r.saveRollout(ctx, rel, ro, time.Second)
	}
	if rel.Spec.Analysis != nil {
		state, slo, wait := r.slo(ctx, rel, &ro, now)
		switch state {
		case sloFail:
			slo.Name = name + " " + slo.Name
			slo.Detail = ro.Weight + "; " + slo.Detail
			return r.failRollout(ctx, eng, rel, ro, log, slo)
		case sloHold, sloWait:
			return r.saveRollout(ctx, rel, ro, wait)
		}
		done.Detail += "; " + slo.Detail
	}
	// Next weight, or promotion.
	ro.CanaryIndex++
	next := steps[min(int(ro.CanaryIndex), len(steps)-1)]
	if int(ro.CanaryIndex) >= len(steps) || next >= 100 {
		if _, err := r.apply(ctx, eng, rel, ro.Revision, ro.Artifact, false); err != nil {
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "promote", Result: "FAIL", Detail: err.Error()})
		}
		ro.Step, ro.StepStartedAt, ro.Weight, ro.Message = stepHealth, metav1.Now(), "100%", "promoted: "+name+" held"
		return r.saveRollout(ctx, rel, ro, time.Second, done, v1alpha1.LogStep{Name: "promote", Result: "OK", Detail: "100%: the new revision replaces the stable one; canary removed"})
	}
	desc, err := r.applyCanary(ctx, eng, rel, ro.From, ro.Revision, ro.Artifact, next, false)
	if err != nil {
		return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: fmt.Sprintf("canary %d%%", next), Result: "FAIL", Detail: err.Error()})
	}
	ro.Weight, ro.StepStartedAt, ro.Check = desc, metav1.Now(), ""
	if rel.Spec.Prove == nil && rel.Spec.Analysis != nil && rel.Spec.Analysis.InitialDelay != nil {
		ro.StepStartedAt = metav1.NewTime(time.Now().Add(rel.Spec.Analysis.InitialDelay.Duration))
	}
	ro.Message = fmt.Sprintf("canary %d%%: %s", next, desc)
	return r.saveRollout(ctx, rel, ro, time.Second, done)
}

// startCanary applies the first canary step of revision beside from (the revision that runs)
// and records the rollout (its Deployment Log goes on step by step). A canary that cannot start
// is a failed revision: one log, from put back, nothing retried until git moves on.
func (r *Reconciler) startCanary(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog, from, revision, artifact, version string, log logr.Logger) (ctrl.Result, error) {
	first := canarySteps(rel)[0]
	t0 := time.Now()
	desc, err := r.applyCanary(ctx, eng, rel, from, revision, artifact, first, true)
	step := v1alpha1.LogStep{Name: "apply", Result: "OK", Detail: fmt.Sprintf("canary %d%%: %s", first, desc), DurationMillis: time.Since(t0).Milliseconds()}
	if err != nil {
		step.Result, step.Detail = "FAIL", fmt.Sprintf("canary %d%%: %v", first, err)
		return r.startFailed(ctx, eng, rel, rec, from, revision, "canary", step, log)
	}
	rec.Status = "VERIFYING"
	rec.Steps = append(rec.Steps, step)
	started := metav1.Now()
	stepStart := started
	if a := rel.Spec.Analysis; a != nil && a.InitialDelay != nil && rel.Spec.Prove == nil {
		stepStart = metav1.NewTime(started.Add(a.InitialDelay.Duration))
	}
	uerr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.ObservedGeneration = rel.Generation
		s.History = pushHistory(s.History, rec)
		s.DesiredRevision, s.ObservedRevision = revision, revision
		s.Phase, s.Message = PhaseVerifying, fmt.Sprintf("canary %d%%: %s", first, desc)
		s.Rollout = &v1alpha1.RolloutStatus{Revision: revision, Artifact: artifact, Strategy: "canary", Phase: PhaseVerifying, Step: stepCanary, Version: version, From: from,
			Weight: desc, StartedAt: started, StepStartedAt: stepStart, LogID: s.History[0].ID, Message: s.Message}
	})
	r.event(rel, "Normal", "Canary", "revision %s: canary %d%%: %s", short(revision), first, desc)
	log.Info("canary started", "revision", revision, "from", from, "weight", desc)
	return ctrl.Result{RequeueAfter: time.Second}, uerr
}

// startFailed records a canary or blue/green that could not start: one FAILED Deployment Log
// with the reason, from put back as it ran (from its snapshot), and the revision held — the
// Release waits for git, its spec or a person, instead of retrying.
func (r *Reconciler) startFailed(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog, from, revision, strategy string, step v1alpha1.LogStep, log logr.Logger) (ctrl.Result, error) {
	rec.Steps = append(rec.Steps, step)
	t0 := time.Now()
	restore := v1alpha1.LogStep{Name: "restore", Result: "OK", Detail: "back to " + short(from)}
	src, err := r.apply(asRollback(ctx, rel, from), eng, rel, from, rel.Status.Artifact, true)
	restore.Detail += sourceNote(src)
	restore.DurationMillis = time.Since(t0).Milliseconds()
	if err != nil {
		restore.Result, restore.Detail = "FAIL", restore.Detail+": "+err.Error()
	}
	rec.Steps = append(rec.Steps, restore)
	rec.Status, rec.Finished = "FAILED", metav1.Now()
	msg := fmt.Sprintf("revision %s: the %s could not start: %s", short(revision), strategy, step.Detail)
	uerr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.ObservedGeneration = rel.Generation
		s.DesiredRevision, s.FailedRevision = revision, revision
		if err == nil {
			s.ObservedRevision, s.Artifact = from, rel.Status.Artifact // what runs: from, as it ran
		}
		s.History = pushHistory(s.History, rec)
		s.Phase, s.Message = "Failed", msg
		setCondition(s, metav1.ConditionFalse, "RolloutFailed", msg, rel.Generation)
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, "FAILED").Inc()
	r.event(rel, "Warning", "RolloutFailed", "%s", msg)
	log.Info("rollout could not start", "revision", revision, "strategy", strategy, "reason", step.Detail)
	return ctrl.Result{RequeueAfter: interval(rel)}, uerr
}

// replicasOf reads spec.replicas whatever number type the decoder left (default 1).
func replicasOf(u *unstructured.Unstructured) int64 {
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
		rm, _ := rule.(map[string]any)
		refs, _ := rm["backendRefs"].([]any)
		var out []any
		for _, ref := range refs {
			m, _ := ref.(map[string]any)
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
