package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/rollout"
)

// rollbackBackoff is how long a failed rollback waits before its next attempt.
func rollbackBackoff(attempts int32) time.Duration {
	return min(time.Second<<min(attempts, 9), 5*time.Minute)
}

// failRollout ends the rollout with the failed check: by default it rolls back to the last good
// revision at once — from its snapshot, without analysis: it was verified before — and with
// rollbackOnFailure off it halts at a safe state. Either way the failed revision is not applied
// again until git moves on or a person asks (bollard deploy, bollard rollback).
//
// The failure is persisted first (phase Failing, the failed check in the log): a daemon killed
// while it rolls back or halts does it again when it restarts, and never reads the rolled-back
// state as the failed revision's health.
func (r *Reconciler) failRollout(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, failed v1alpha1.LogStep) (ctrl.Result, error) {
	if ro.Phase != PhaseFailing {
		ro.Phase, ro.Message = PhaseFailing, failed.Name+": "+failed.Detail
		err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
			s.Rollout = &ro
			s.Phase, s.Message = "Failed", fmt.Sprintf("revision %s failed: %s; ending it safely", short(ro.Revision), ro.Message)
			updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) { l.Steps = append(l.Steps, failed) })
		})
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	if rel.Spec.RollbackOnFailure != nil && !*rel.Spec.RollbackOnFailure {
		return r.halt(ctx, eng, rel, ro, log)
	}
	return r.rollback(ctx, eng, rel, ro, log)
}

// rollback returns to the last good revision with the pin it was verified with (when a pinned
// artifact or a promotion failed on the good revision, to that pin, or to the revision's own
// images when it had none). A failed attempt is retried with backoff (phase RollbackFailed, log
// ROLLBACK_FAILED).
func (r *Reconciler) rollback(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger) (ctrl.Result, error) {
	var steps []v1alpha1.LogStep
	lastGood, goodPin := rel.Status.LastGoodRevision, rel.Status.LastGoodArtifact
	// A pin (an artifact, a promotion) on the good revision failed: back to the pin it was
	// verified with (git's images when none).
	unpin := lastGood == ro.Revision && ro.Artifact != goodPin
	// The same commit rendered otherwise (a values change) failed: back to how it was verified.
	rerender := lastGood == ro.Revision && !unpin && ro.Render != "" && rel.Status.LastGoodRender != "" && ro.Render != rel.Status.LastGoodRender
	if !unpin && !rerender && (lastGood == "" || lastGood == ro.Revision) {
		steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: "SKIP", Detail: "no earlier good revision to return to: the revision stays as it is, and is not applied again until git moves on"})
		return r.endRollout(ctx, rel, ro, log, PhaseFailed, v1alpha1.LogFailed, steps)
	}
	t0 := time.Now()
	var from, detail string
	var err error
	ctx = asRollback(ctx, rel, lastGood)
	if unpin {
		// The pin (and the promotion it came from) goes back to what was verified.
		from, err = r.apply(ctx, eng, rel, lastGood, goodPin, goodPin != "")
		if err == nil {
			err = r.restorePins(ctx, rel)
		}
		failed := "artifact " + ro.Artifact
		if ro.Artifact == "" {
			failed = "git's images"
		}
		if goodPin == "" {
			detail = failed + " unpinned: back to the images of " + short(lastGood)
		} else {
			detail = failed + " replaced: back to " + goodPin + " as verified on " + short(lastGood)
		}
	} else {
		from, err = r.apply(ctx, eng, rel, lastGood, goodPin, true)
		if err == nil {
			err = r.restorePins(ctx, rel)
		}
		detail = "to " + short(lastGood)
		if goodPin != "" {
			detail += " with artifact " + goodPin
		}
		if rerender {
			detail += " as it was verified (the render settings before this change)"
		}
		if s := strategyOf(rel, ro); s.Type() == v1alpha1.StrategyBlueGreen && ro.From != "" {
			if rollout.BeforeSwitch(s, ro) {
				detail += ": green deleted, the active Service never left blue"
			} else {
				detail += ": switched back to blue, green deleted"
			}
		}
	}
	detail += sourceNote(from)
	step := v1alpha1.LogStep{Name: "rollback", Result: "OK", Detail: detail, DurationMillis: time.Since(t0).Milliseconds()}
	if err == nil {
		if ro.Attempts > 0 {
			step.Detail += fmt.Sprintf(" (attempt %d)", ro.Attempts+1)
		}
		return r.endRollout(ctx, rel, ro, log, PhaseRolledBack, v1alpha1.LogRolledBack, append(steps, step))
	}
	// Not rolled back: say so everywhere, and try again.
	ro.Attempts++
	wait := rollbackBackoff(ro.Attempts)
	next := metav1.NewTime(time.Now().Add(wait))
	ro.NextAttempt = &next
	step.Result, step.Detail = "FAIL", fmt.Sprintf("%s: %v (attempt %d; next in %s)", detail, err, ro.Attempts, wait)
	if _, uerr := r.endRollout(ctx, rel, ro, log, PhaseRollbackFailed, v1alpha1.LogRollbackFailed, append(steps, step)); uerr != nil {
		return ctrl.Result{}, uerr
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// sourceNote says where a rollback's objects came from.
func sourceNote(from string) string {
	switch from {
	case fromSnapshot:
		return " (its snapshot: the objects and image digests it ran with)"
	case fromGit:
		return " (re-rendered from git: no snapshot kept)"
	}
	return ""
}

// retryRollback is the next attempt of a failed rollback, once its backoff is over.
func (r *Reconciler) retryRollback(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger) (ctrl.Result, error) {
	if ro.NextAttempt != nil {
		if wait := time.Until(ro.NextAttempt.Time); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	return r.rollback(ctx, eng, rel, ro, log)
}

// halt stops a failed rollout without rolling back (rollbackOnFailure off) at a safe state: a
// canary at 0 % (the stable version whole, the canary Deployment kept at no replicas), a
// blue/green on blue (green kept for inspection); a rolling update stays as it is.
func (r *Reconciler) halt(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger) (ctrl.Result, error) {
	var steps []v1alpha1.LogStep
	t0 := time.Now()
	var err error
	step := v1alpha1.LogStep{Name: "halt", Result: "OK"}
	ctx = asRollback(ctx, rel, ro.From)
	strategy := strategyOf(rel, ro)
	if ro.From == "" || strategy.Type() == v1alpha1.StrategyRolling {
		steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: v1alpha1.ResultSkip, Detail: "rollbackOnFailure is off: the revision stays as it is, and is not applied again until git moves on or bollard deploy"})
		return r.endRollout(ctx, rel, ro, log, PhaseFailed, v1alpha1.LogFailed, steps)
	}
	step.Detail = "rollbackOnFailure is off: canary at 0 % (the stable version whole, the canary kept at 0 replicas)"
	if strategy.Type() == v1alpha1.StrategyBlueGreen {
		step.Detail = fmt.Sprintf("rollbackOnFailure is off: %s on blue, green kept for inspection", rel.Spec.Strategy.ActiveService)
	}
	if !rollout.BeforeSwitch(strategy, ro) {
		var rev rollout.Revisions
		var targets []*unstructured.Unstructured
		if rev, err = r.revisions(ctx, rel, ro); err == nil {
			if targets, _, err = rollout.Halt(strategy, rev); err == nil {
				_, err = r.sync(ctx, eng, rel, withoutHooks(targets), ro.Revision)
			}
		}
	}
	step.DurationMillis = time.Since(t0).Milliseconds()
	if err != nil {
		step.Result, step.Detail = v1alpha1.ResultFail, step.Detail+": "+err.Error()
		return r.endRollout(ctx, rel, ro, log, PhaseFailed, v1alpha1.LogFailed, append(steps, step))
	}
	return r.endRollout(ctx, rel, ro, log, PhaseHalted, v1alpha1.LogHalted, append(steps, step))
}

// endRollout records how a failed rollout ended: the phase, the Deployment Log's status and its
// last lines, an Event, and the failed revision, held until git moves on.
func (r *Reconciler) endRollout(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, phase v1alpha1.RolloutPhase, status v1alpha1.LogStatus, steps []v1alpha1.LogStep) (ctrl.Result, error) {
	ro.Phase = phase
	lastGood := rel.Status.LastGoodRevision
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Rollout = &ro
		switch {
		case phase == PhaseRolledBack && ro.Artifact != s.LastGoodArtifact && lastGood == ro.Revision:
			s.Artifact = s.LastGoodArtifact // the pinned artifact was the failure
			s.Phase, s.Message = "Synced", fmt.Sprintf("artifact rolled back: %s", ro.Message)
		case phase == PhaseRolledBack:
			s.ObservedRevision, s.FailedRevision, s.Artifact = lastGood, ro.Revision, s.LastGoodArtifact
			s.ObservedRender = s.LastGoodRender
			s.Phase, s.Message = "Synced", fmt.Sprintf("revision %s rolled back to %s: %s", short(ro.Revision), short(lastGood), ro.Message)
		case phase == PhaseRollbackFailed:
			s.FailedRevision = ro.Revision
			s.Phase, s.Message = "Failed", fmt.Sprintf("revision %s failed and its rollback to %s failed (attempt %d, retried): %s", short(ro.Revision), short(lastGood), ro.Attempts, ro.Message)
		case phase == PhaseHalted:
			s.FailedRevision = ro.Revision
			s.Phase, s.Message = "Failed", fmt.Sprintf("revision %s failed and was halted at a safe state: %s", short(ro.Revision), ro.Message)
		default:
			s.FailedRevision = ro.Revision
			s.Phase, s.Message = "Failed", fmt.Sprintf("revision %s failed: %s", short(ro.Revision), ro.Message)
		}
		setCondition(s, metav1.ConditionFalse, "Rollout"+string(phase), s.Message, rel.Generation)
		updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) {
			if n := len(l.Steps); n > 0 && len(steps) > 0 && steps[0].Name == "rollback" && l.Steps[n-1].Name == "rollback" && l.Steps[n-1].Result == "FAIL" {
				l.Steps = l.Steps[:n-1] // a retry replaces the attempt before it
			}
			l.Steps = append(l.Steps, steps...)
			l.Status, l.Finished = status, metav1.Now()
		})
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, string(status)).Inc()
	r.event(rel, corev1.EventTypeWarning, "Rollout"+string(phase), "revision %s: %s", short(ro.Revision), ro.Message)
	log.Info("rollout failed", "revision", ro.Revision, "phase", phase, "check", ro.Message)
	return ctrl.Result{RequeueAfter: r.next(rel)}, err
}

// manualRollback is `bollard rollback`: put revision to (or the last good one) back at once,
// without analysis, keep the revision it replaces from coming back until git moves on, record it,
// and clear the request.
func (r *Reconciler) manualRollback(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, to string, log logr.Logger) (ctrl.Result, error) {
	logs, err := r.logs(ctx, rel)
	target := ""
	if err == nil {
		target, err = rollbackTarget(rel, logs, to)
	}
	source := ""
	started := metav1.Now()
	step := v1alpha1.LogStep{Name: "rollback", Result: "OK"}
	if err == nil {
		t0 := time.Now()
		source, err = r.apply(asRollback(ctx, rel, target), eng, rel, target, "", true)
		step.DurationMillis = time.Since(t0).Milliseconds()
	}
	from := rel.Status.ObservedRevision
	if err != nil {
		step.Result, step.Detail = "FAIL", err.Error()
	} else {
		step.Detail = fmt.Sprintf("from %s to %s, by request (%s)%s", short(from), short(target), v1alpha1.AnnotationRollbackTo, sourceNote(source))
	}
	rec := v1alpha1.DeploymentLog{Started: started, Finished: metav1.Now(), Trigger: "manual", Revision: target,
		Strategy: "rollback (apply)", Steps: []v1alpha1.LogStep{step}, Status: v1alpha1.LogRolledBack}
	r.target(ctx, rel, &rec)
	if err != nil {
		rec.Status = v1alpha1.LogFailed
	}
	if serr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		if err == nil {
			if s.DesiredRevision != "" && s.DesiredRevision != target {
				s.FailedRevision = s.DesiredRevision
			}
			s.ObservedRevision, s.LastGoodRevision = target, target
			s.Phase, s.Message = "Synced", "rolled back by request: "+step.Detail
			now := metav1.Now()
			s.Rollout = &v1alpha1.RolloutStatus{Revision: target, Phase: PhaseRolledBack, Message: step.Detail, StartedAt: started, CheckStartedAt: now}
		} else {
			s.Message = "rollback requested, not done: " + err.Error()
		}
		pushHistory(s, rec)
	}); serr != nil {
		return ctrl.Result{}, serr
	}
	// The request is done (or refused, with the reason in the status): clear it.
	patch := AnnotationsPatch(map[string]string{v1alpha1.AnnotationRollbackTo: ""})
	r.writing(rel)
	if perr := r.Client.Patch(ctx, rel, patch); perr != nil {
		return ctrl.Result{}, perr
	}
	if err != nil {
		r.event(rel, corev1.EventTypeWarning, "RollbackFailed", "%v", err)
	} else {
		r.event(rel, corev1.EventTypeNormal, "RolledBack", "%s", step.Detail)
		log.Info("rolled back by request", "from", from, "to", target)
	}
	return ctrl.Result{RequeueAfter: interval(rel)}, nil
}

// rollbackTarget resolves a rollback request: a revision (or its start) from the Release's
// Deployment Logs (newest first), or the last good revision.
func rollbackTarget(rel *v1alpha1.Release, logs []v1alpha1.DeploymentLog, to string) (string, error) {
	if to == "" || to == "last-good" {
		// The newest verified revision other than the one running now.
		for _, l := range logs {
			if l.Status == "SUCCESS" && l.Revision != rel.Status.ObservedRevision {
				return l.Revision, nil
			}
		}
		if good := rel.Status.LastGoodRevision; good != "" && good != rel.Status.ObservedRevision {
			return good, nil
		}
		return "", errors.New("no earlier good revision in the Release's history: give one (--to)")
	}
	if len(to) == 40 {
		return to, nil
	}
	for _, l := range logs {
		if strings.HasPrefix(l.Revision, to) {
			return l.Revision, nil
		}
	}
	return "", fmt.Errorf("revision %q is not in the Release's history: give the full commit hash", to)
}

// restorePins sets rel's bollard.dev/artifact and bollard.dev/promoted-from back to what the last
// good revision was verified with, when they say otherwise: a pass would else roll the failed
// pin out again.
func (r *Reconciler) restorePins(ctx context.Context, rel *v1alpha1.Release) error {
	pin, from := rel.Status.LastGoodArtifact, rel.Status.LastGoodPromotedFrom
	if rel.Annotations[v1alpha1.AnnotationArtifact] == pin && rel.Annotations[v1alpha1.AnnotationPromotedFrom] == from {
		return nil
	}
	r.writing(rel)
	return r.Client.Patch(ctx, rel, AnnotationsPatch(map[string]string{v1alpha1.AnnotationArtifact: pin, v1alpha1.AnnotationPromotedFrom: from}))
}

// AnnotationsPatch is the merge patch that sets a Release's annotations to values, removing each
// whose value is "".
func AnnotationsPatch(values map[string]string) client.Patch {
	annotations := make(map[string]any, len(values))
	for k, v := range values {
		annotations[k] = v
		if v == "" {
			annotations[k] = nil
		}
	}
	data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}}) // strings and nil: never fails
	return client.RawPatch(types.MergePatchType, data)
}
