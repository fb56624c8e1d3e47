package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
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

func isBlueGreen(rel *v1alpha1.Release) bool {
	return rel.Spec.Strategy != nil && rel.Spec.Strategy.Type == "blueGreen" && rel.Spec.Strategy.ActiveService != ""
}

// blueGreenTargets builds the targets of a phase from the new revision's and the running one's.
func blueGreenTargets(rel *v1alpha1.Release, newTargets, oldTargets []*unstructured.Unstructured, phase, blueVersion, greenVersion string) []*unstructured.Unstructured {
	old := map[string]*unstructured.Unstructured{}
	for _, o := range oldTargets {
		if o.GetKind() == "Deployment" {
			old[o.GetName()] = o
		}
	}
	active, preview := rel.Spec.Strategy.ActiveService, rel.Spec.Strategy.PreviewService
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
		case t.GetKind() == "Deployment" && old[t.GetName()] != nil && !sameTemplate(t, old[t.GetName()]):
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

// applyBlueGreen syncs phase of the blue/green rollout from revision from (its verified
// snapshot) to to (applied with artifact); hooks only when green first comes up.
func (r *Reconciler) applyBlueGreen(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, from, to, artifact, phase string, hooks bool) error {
	newTargets, greenVersion, _, err := r.revisionTargets(ctx, rel, to, artifact, false)
	if err != nil {
		return err
	}
	oldTargets, blueVersion, _, err := r.revisionTargets(ctx, rel, from, "", true)
	if err != nil {
		return err
	}
	targets := blueGreenTargets(rel, newTargets, oldTargets, phase, blueVersion, greenVersion)
	if !hooks {
		targets = withoutHooks(targets)
	}
	_, err = r.sync(ctx, eng, rel, targets, to)
	return err
}

// startBlueGreen brings green up beside blue (from, the revision that runs) and records the
// rollout; one that cannot start is a failed revision, like a canary's.
func (r *Reconciler) startBlueGreen(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog, from, revision, artifact, version string, log logr.Logger) (ctrl.Result, error) {
	t0 := time.Now()
	err := r.applyBlueGreen(ctx, eng, rel, from, revision, artifact, bgGreen, true)
	step := v1alpha1.LogStep{Name: "apply", Result: "OK", DurationMillis: time.Since(t0).Milliseconds(),
		Detail: fmt.Sprintf("green (%s) beside blue; %s on blue, %s on green", short(revision), rel.Spec.Strategy.ActiveService, rel.Spec.Strategy.PreviewService)}
	if err != nil {
		step.Result, step.Detail = "FAIL", "blue/green: "+err.Error()
		return r.startFailed(ctx, eng, rel, rec, from, revision, "blue/green", step, log)
	}
	rec.Status = "VERIFYING"
	rec.Steps = append(rec.Steps, step)
	now := metav1.Now()
	uerr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.ObservedGeneration = rel.Generation
		s.History = pushHistory(s.History, rec)
		s.DesiredRevision, s.ObservedRevision = revision, revision
		s.Phase, s.Message = PhaseVerifying, "green up beside blue"
		s.Rollout = &v1alpha1.RolloutStatus{Revision: revision, Artifact: artifact, Strategy: "blueGreen", Phase: PhaseVerifying, Step: stepHealth, Version: version, From: from,
			Weight: bgGreen, StartedAt: now, StepStartedAt: now, LogID: s.History[0].ID, Message: s.Message}
	})
	log.Info("blue/green started", "revision", revision, "from", from)
	return ctrl.Result{RequeueAfter: time.Second}, uerr
}

// nextBlueGreen is called when a phase has been verified: switch, then promote, then git's state.
func (r *Reconciler) nextBlueGreen(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	switch ro.Weight {
	case bgGreen:
		if err := r.applyBlueGreen(ctx, eng, rel, ro.From, ro.Revision, ro.Artifact, bgSwitch, false); err != nil {
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "switch", Result: "FAIL", Detail: err.Error()})
		}
		steps = append(steps, v1alpha1.LogStep{Name: "switch", Result: "OK", Detail: fmt.Sprintf("%s now selects green (%s)", rel.Spec.Strategy.ActiveService, ro.Version)})
		ro.Weight, ro.Step, ro.StepStartedAt, ro.Message = bgSwitch, stepHealth, metav1.Now(), "switched to green: verifying again"
		return r.saveRollout(ctx, rel, ro, time.Second, steps...)
	case bgSwitch:
		if err := r.applyBlueGreen(ctx, eng, rel, ro.From, ro.Revision, ro.Artifact, bgPromote, false); err != nil {
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "promote", Result: "FAIL", Detail: err.Error()})
		}
		ro.Weight, ro.Step, ro.StepStartedAt, ro.Message = bgPromote, stepHealth, metav1.Now(), "blue takes green's template"
		return r.saveRollout(ctx, rel, ro, time.Second, steps...)
	}
	// Promoted and healthy: git's state exactly; green (and a synthesized preview) pruned.
	if _, err := r.apply(ctx, eng, rel, ro.Revision, ro.Artifact, false); err != nil {
		return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "promote", Result: "FAIL", Detail: err.Error()})
	}
	steps = append(steps, v1alpha1.LogStep{Name: "promote", Result: "OK", Detail: "blue runs the new version; green deleted"})
	ro.Weight = "100%"
	return r.succeed(ctx, rel, ro, log, steps...)
}
