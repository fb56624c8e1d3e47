package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/analysis"
	"bollard.dev/bollard/reconciler/engine"
)

// Rollout phases and steps (status.rollout).
const (
	PhaseVerifying  = "Verifying"
	PhaseSucceeded  = "Succeeded"
	PhaseRolledBack = "RolledBack"
	PhaseFailed     = "Failed"
	PhasePaused     = "Paused"
	// PhaseHalted: failed with rollbackOnFailure off, stopped at a safe state.
	PhaseHalted = "Halted"
	// PhaseRollbackFailed: failed, and its rollback too; retried with backoff.
	PhaseRollbackFailed = "RollbackFailed"
	// PhaseFailing: failed, being rolled back or halted (persisted before either starts).
	PhaseFailing = "Failing"

	stepHealth   = "health"
	stepProve    = "prove"
	stepAnalysis = "analysis"
	stepCanary   = "canary"
)

// verifying reports a rollout the daemon must carry on with (after a restart too).
func verifying(rel *v1alpha1.Release) bool {
	ro := rel.Status.Rollout
	return ro != nil && (ro.Phase == PhaseVerifying || ro.Phase == PhasePaused || ro.Phase == PhaseRollbackFailed || ro.Phase == PhaseFailing) && ro.Revision == rel.Status.ObservedRevision
}

func healthTimeout(rel *v1alpha1.Release) time.Duration {
	if rel.Spec.HealthTimeout != nil && rel.Spec.HealthTimeout.Duration > 0 {
		return rel.Spec.HealthTimeout.Duration
	}
	return 60 * time.Second
}

// verify carries the rollout of the revision applied last one step further: health of the new
// instances within the health timeout, then the SLO guard for its hold period. Each step is
// persisted in the status; a failure rolls back to the last good revision.
func (r *Reconciler) verify(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, log logr.Logger) (ctrl.Result, error) {
	ro := *rel.Status.Rollout
	now := time.Now()
	switch ro.Phase {
	case PhaseRollbackFailed:
		return r.retryRollback(ctx, eng, rel, ro, log)
	case PhaseFailing: // interrupted while it rolled back or halted: again
		return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{})
	}
	switch ro.Step {
	case stepHealth:
		ok, detail, fatal, err := r.healthy(ctx, rel)
		if err != nil {
			return ctrl.Result{}, err
		}
		elapsed := now.Sub(ro.StepStartedAt.Time)
		switch {
		case ok:
			step := v1alpha1.LogStep{Name: "health", Result: "OK", Detail: fmt.Sprintf("%s in %.1f s", detail, elapsed.Seconds()), DurationMillis: elapsed.Milliseconds()}
			if ro.From != "" && ro.Weight == "100%" {
				return r.succeed(ctx, rel, ro, log, step) // a promoted canary: its steps were verified
			}
			if blueGreenPhase(rel, ro) == bgPromote {
				return r.nextBlueGreen(ctx, eng, rel, ro, log, step) // verified as green and after the switch
			}
			if rel.Spec.Prove != nil && blueGreenPhase(rel, ro) != bgSwitch {
				ro.Step, ro.StepStartedAt, ro.Message = stepProve, metav1.Now(), "health: "+step.Detail+"; proving"
				return r.saveRollout(ctx, rel, ro, 0, step)
			}
			return r.toAnalysis(ctx, eng, rel, ro, log, step)
		case fatal || elapsed > healthTimeout(rel):
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "health", Result: "FAIL", DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s after %.0f s (health timeout %s)", detail, elapsed.Seconds(), healthTimeout(rel))})
		}
		if detail != ro.Message {
			ro.Message = detail
			return r.saveRollout(ctx, rel, ro, time.Second)
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil

	case stepProve:
		if rel.Spec.Prove == nil {
			return r.toAnalysis(ctx, eng, rel, ro, log)
		}
		timeout := proveTimeout(rel)
		ok, detail, fatal, err := r.prove(ctx, rel, ro)
		if err != nil {
			return ctrl.Result{}, err
		}
		elapsed := now.Sub(ro.StepStartedAt.Time)
		switch {
		case ok:
			return r.toAnalysis(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "prove", Result: "OK", Detail: detail, DurationMillis: elapsed.Milliseconds()})
		case fatal || elapsed > timeout:
			return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{Name: "prove", Result: "FAIL", DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s after %.0f s (timeout %s)", detail, elapsed.Seconds(), timeout)})
		}
		ro.Message = "proving: " + detail
		return r.saveRollout(ctx, rel, ro, time.Second)

	case stepAnalysis:
		if rel.Spec.Analysis == nil { // removed while running: nothing left to check
			return r.finishStep(ctx, eng, rel, ro, log)
		}
		state, step, wait := r.slo(ctx, rel, &ro, now)
		switch state {
		case sloPass:
			return r.finishStep(ctx, eng, rel, ro, log, step)
		case sloFail:
			return r.failRollout(ctx, eng, rel, ro, log, step)
		}
		return r.saveRollout(ctx, rel, ro, wait)

	case stepCanary:
		return r.canaryStep(ctx, eng, rel, ro, log, now)
	}
	return r.succeed(ctx, rel, ro, log)
}

const (
	sloHold = iota
	sloPass
	sloFail
	sloWait
)

// slo evaluates the SLO guard once for the current step (started at ro.StepStartedAt, which an
// initial delay puts in the future): pass once every metric held for the hold period, fail on a
// breach (or no data, unless onNoData is pause), else hold on (ro's message updated).
func (r *Reconciler) slo(ctx context.Context, rel *v1alpha1.Release, ro *v1alpha1.RolloutStatus, now time.Time) (int, v1alpha1.LogStep, time.Duration) {
	a := rel.Spec.Analysis
	interval, hold := 10*time.Second, time.Minute
	if a.Interval != nil && a.Interval.Duration > 0 {
		interval = a.Interval.Duration
	}
	if a.Hold != nil && a.Hold.Duration > 0 {
		hold = a.Hold.Duration
	}
	name := fmt.Sprintf("SLO guard (%s)", hold)
	if wait := ro.StepStartedAt.Sub(now); wait > 0 { // the initial delay: the hold starts after it
		return sloWait, v1alpha1.LogStep{}, wait
	}
	prom, err := analysis.New(a.Prometheus)
	if err != nil {
		return sloFail, v1alpha1.LogStep{Name: name, Result: "FAIL", Detail: err.Error()}, 0
	}
	results := prom.Evaluate(ctx, a.Metrics, ro.Version, now)
	values := describe(results)
	elapsed := now.Sub(ro.StepStartedAt.Time)
	for _, res := range results {
		if res.Breached() {
			return sloFail, v1alpha1.LogStep{Name: name, Result: "FAIL", DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s after %.0f s: query %s", values, elapsed.Seconds(), res.Query)}, 0
		}
	}
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		if a.OnNoData == "pause" && errors.Is(res.Err, analysis.ErrNoData) {
			if ro.Phase != PhasePaused {
				r.event(rel, corev1.EventTypeWarning, "RolloutPaused", "revision %s: %s (onNoData: pause)", short(ro.Revision), values)
			}
			ro.Phase, ro.Message = PhasePaused, "paused: "+values+" (onNoData: pause)"
			return sloHold, v1alpha1.LogStep{}, interval
		}
		return sloFail, v1alpha1.LogStep{Name: name, Result: "FAIL", DurationMillis: elapsed.Milliseconds(),
			Detail: fmt.Sprintf("%s after %.0f s: no data counts as a failure (onNoData: fail)", values, elapsed.Seconds())}, 0
	}
	if elapsed >= hold {
		return sloPass, v1alpha1.LogStep{Name: name, Result: "OK", Detail: values + ": PASS", DurationMillis: elapsed.Milliseconds()}, 0
	}
	ro.Phase, ro.Message = PhaseVerifying, fmt.Sprintf("SLO guard %.0f/%.0f s: %s", elapsed.Seconds(), hold.Seconds(), values)
	return sloHold, v1alpha1.LogStep{}, min(interval, hold-elapsed)
}

// finishStep ends a verified rollout, or a verified blue/green phase (on to the next one).
func (r *Reconciler) finishStep(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	if blueGreenPhase(rel, ro) != "" {
		return r.nextBlueGreen(ctx, eng, rel, ro, log, steps...)
	}
	return r.succeed(ctx, rel, ro, log, steps...)
}

// blueGreenPhase is the blue/green phase ro is in ("" for other rollouts).
func blueGreenPhase(rel *v1alpha1.Release, ro v1alpha1.RolloutStatus) string {
	if !isBlueGreen(rel) || ro.From == "" {
		return ""
	}
	switch ro.Weight {
	case bgGreen, bgSwitch, bgPromote:
		return ro.Weight
	}
	return ""
}

// toAnalysis moves on to the SLO guard (after its initial delay), or ends the rollout when there
// is none.
func (r *Reconciler) toAnalysis(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	if rel.Spec.Analysis == nil {
		return r.finishStep(ctx, eng, rel, ro, log, steps...)
	}
	delay := time.Duration(0)
	if rel.Spec.Analysis.InitialDelay != nil {
		delay = rel.Spec.Analysis.InitialDelay.Duration
	}
	ro.Step, ro.StepStartedAt = stepAnalysis, metav1.NewTime(time.Now().Add(delay))
	ro.Message = "SLO guard from " + ro.StepStartedAt.UTC().Format(time.TimeOnly)
	if len(steps) > 0 {
		ro.Message = steps[len(steps)-1].Name + ": " + steps[len(steps)-1].Detail + "; " + ro.Message
	}
	return r.saveRollout(ctx, rel, ro, 0, steps...)
}

func proveTimeout(rel *v1alpha1.Release) time.Duration {
	if p := rel.Spec.Prove; p != nil && p.Timeout != nil && p.Timeout.Duration > 0 {
		return p.Timeout.Duration
	}
	return time.Minute
}

// prove runs one attempt of the post-deploy proof: ok, what it saw, and whether it can no
// longer succeed (a failed Job).
func (r *Reconciler) prove(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus) (ok bool, detail string, fatal bool, err error) {
	p := rel.Spec.Prove
	switch {
	case p.HTTP != nil:
		url := strings.ReplaceAll(p.HTTP.URL, "{{version}}", ro.Version)
		want := int(p.HTTP.ExpectStatus)
		if want == 0 {
			want = http.StatusOK
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(hctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Sprintf("GET %s: %v", url, err), true, nil
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, fmt.Sprintf("GET %s: %v", url, err), false, nil
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return false, fmt.Sprintf("GET %s: status %d (want %d)", url, resp.StatusCode, want), false, nil
		}
		return true, fmt.Sprintf("GET %s: %d", url, resp.StatusCode), false, nil
	case p.Job != nil:
		name := rel.Name + "-prove-" + short(ro.Revision)
		if ro.Step == stepCanary { // one proof per canary step
			name += fmt.Sprintf("-%d", ro.CanaryIndex)
		}
		job := &batchv1.Job{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: rel.Target(), Name: name}, job)
		if apierrors.IsNotFound(err) {
			job = &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: rel.Target(), Name: name, Labels: p.Job.Labels, Annotations: p.Job.Annotations},
				Spec: *p.Job.Spec.DeepCopy()}
			if job.Labels == nil {
				job.Labels = map[string]string{}
			}
			job.Labels["bollard.dev/prove"] = rel.Name
			job.Spec.TTLSecondsAfterFinished = ptr.To[int32](3600)
			if err := r.Client.Create(ctx, job); err != nil {
				return false, "", false, fmt.Errorf("create prove Job: %w", err)
			}
			return false, "Job " + name + " started", false, nil
		}
		if err != nil {
			return false, "", false, err
		}
		for _, c := range job.Status.Conditions {
			if c.Status == corev1.ConditionTrue && c.Type == batchv1.JobComplete {
				return true, "Job " + name + " succeeded", false, nil
			}
			if c.Status == corev1.ConditionTrue && c.Type == batchv1.JobFailed {
				return false, fmt.Sprintf("Job %s failed: %s", name, c.Message), true, nil
			}
		}
		return false, fmt.Sprintf("Job %s running (%d active)", name, job.Status.Active), false, nil
	}
	return true, "nothing to prove", false, nil
}

func describe(results []analysis.Result) string {
	parts := make([]string, len(results))
	for i, res := range results {
		parts[i] = res.String()
	}
	return strings.Join(parts, ", ")
}

// healthy reports whether every workload of the Release runs its new revision on Ready pods.
// fatal is true when one can no longer get there (progress deadline exceeded).
func (r *Reconciler) healthy(ctx context.Context, rel *v1alpha1.Release) (ok bool, detail string, fatal bool, err error) {
	sel := client.MatchingLabels{engine.LabelRelease: rel.Name, engine.LabelReleaseNamespace: rel.Namespace}
	var deps appsv1.DeploymentList
	if err := r.Client.List(ctx, &deps, client.InNamespace(rel.Target()), sel); err != nil {
		return false, "", false, err
	}
	var sets appsv1.StatefulSetList
	if err := r.Client.List(ctx, &sets, client.InNamespace(rel.Target()), sel); err != nil {
		return false, "", false, err
	}
	ready, want := int32(0), int32(0)
	var waiting []string
	for _, d := range deps.Items {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		want += replicas
		newReady := min(d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		ready += newReady
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				fatal = true
			}
		}
		if d.Status.ObservedGeneration < d.Generation || newReady < replicas || d.Status.Replicas > replicas {
			waiting = append(waiting, fmt.Sprintf("Deployment %s %d/%d new pods Ready", d.Name, newReady, replicas))
		}
	}
	for _, s := range sets.Items {
		replicas := int32(1)
		if s.Spec.Replicas != nil {
			replicas = *s.Spec.Replicas
		}
		want += replicas
		newReady := min(s.Status.UpdatedReplicas, s.Status.ReadyReplicas)
		ready += newReady
		if s.Status.ObservedGeneration < s.Generation || newReady < replicas || s.Status.CurrentRevision != s.Status.UpdateRevision {
			waiting = append(waiting, fmt.Sprintf("StatefulSet %s %d/%d new pods Ready", s.Name, newReady, replicas))
		}
	}
	if len(waiting) > 0 {
		return false, strings.Join(waiting, "; "), fatal, nil
	}
	return true, fmt.Sprintf("%d/%d Ready", ready, want), false, nil
}

// succeed ends the rollout: the revision is the last good one.
func (r *Reconciler) succeed(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	ro.Phase, ro.Message = PhaseSucceeded, "verified"
	if r.Snapshots != nil {
		if err := r.Snapshots.MarkGood(ctx, rel, ro.Revision, ro.Artifact); err != nil {
			// A rollback to it will re-render from git.
			log.Error(err, "snapshot not marked verified", "revision", ro.Revision)
		}
	}
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Rollout = &ro
		s.LastGoodRevision, s.FailedRevision = ro.Revision, ""
		s.Phase, s.Message = "Synced", fmt.Sprintf("revision %s verified", short(ro.Revision))
		updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) {
			l.Steps = append(l.Steps, steps...)
			l.Status, l.Finished = "SUCCESS", metav1.Now()
		})
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, "SUCCESS").Inc()
	r.event(rel, corev1.EventTypeNormal, "RolloutSucceeded", "revision %s verified", short(ro.Revision))
	log.Info("rollout succeeded", "revision", ro.Revision)
	return ctrl.Result{RequeueAfter: r.next(rel)}, err
}

func (r *Reconciler) saveRollout(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, requeue time.Duration, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Rollout = &ro
		s.Message = ro.Message
		if len(steps) > 0 {
			updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) { l.Steps = append(l.Steps, steps...) })
		}
	})
	if requeue == 0 {
		requeue = time.Second
	}
	return ctrl.Result{RequeueAfter: requeue}, err
}

// next is when to reconcile rel after its rollout ended: at once when a push or drift came in
// while it ran (those waited for it), else at the poll interval.
func (r *Reconciler) next(rel *v1alpha1.Release) time.Duration {
	if r.hasPending(types.NamespacedName{Namespace: rel.Namespace, Name: rel.Name}) {
		return 10 * time.Millisecond
	}
	return interval(rel)
}

// pushed reports a push that has not been reconciled yet.
func (r *Reconciler) pushed(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[key] == TriggerPush
}

// hasPending reports a push or drift that has not been reconciled yet.
func (r *Reconciler) hasPending(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[key] != "" || len(r.drift[key]) > 0
}

// interval is how often git is polled for rel.
func interval(rel *v1alpha1.Release) time.Duration {
	if rel.Spec.Interval.Duration > 0 {
		return rel.Spec.Interval.Duration
	}
	return 3 * time.Minute
}

func updateLog(s *v1alpha1.ReleaseStatus, id int64, change func(*v1alpha1.DeploymentLog)) {
	for i := range s.History {
		if s.History[i].ID == id {
			change(&s.History[i])
			return
		}
	}
}

func (r *Reconciler) syncTimeout() time.Duration {
	if r.SyncTimeout == 0 {
		return 5 * time.Minute
	}
	return r.SyncTimeout
}
