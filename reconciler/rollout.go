package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/analysis"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/render"
)

// Rollout phases and steps (status.rollout).
const (
	PhaseVerifying  = "Verifying"
	PhaseSucceeded  = "Succeeded"
	PhaseRolledBack = "RolledBack"
	PhaseFailed     = "Failed"
	PhasePaused     = "Paused"

	stepHealth   = "health"
	stepProve    = "prove"
	stepAnalysis = "analysis"
	stepCanary   = "canary"
)

// verifying reports a rollout the daemon must carry on with (after a restart too).
func verifying(rel *v1alpha1.Release) bool {
	ro := rel.Status.Rollout
	return ro != nil && (ro.Phase == PhaseVerifying || ro.Phase == PhasePaused) && ro.Revision == rel.Status.ObservedRevision
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
		p := rel.Spec.Prove
		if p == nil {
			return r.toAnalysis(ctx, eng, rel, ro, log)
		}
		timeout := time.Minute
		if p.Timeout != nil && p.Timeout.Duration > 0 {
			timeout = p.Timeout.Duration
		}
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

// failRollout ends the rollout with the failed check and, by default, rolls back to the last good
// revision at once — without analysis: it was verified before.
func (r *Reconciler) failRollout(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, failed v1alpha1.LogStep) (ctrl.Result, error) {
	steps := []v1alpha1.LogStep{failed}
	lastGood := rel.Status.LastGoodRevision
	rollback := rel.Spec.RollbackOnFailure == nil || *rel.Spec.RollbackOnFailure
	phase, status := PhaseFailed, "FAILED"
	var rollbackErr error
	switch {
	case !rollback:
		steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: "SKIP", Detail: "rollbackOnFailure is off: the revision stays as it is"})
	case lastGood == ro.Revision && rel.Annotations[v1alpha1.AnnotationArtifact] != "":
		// A pinned artifact failed: back to the revision's own images, and the pin removed.
		t0 := time.Now()
		pinned := rel.Annotations[v1alpha1.AnnotationArtifact]
		delete(rel.Annotations, v1alpha1.AnnotationArtifact)
		rollbackErr = r.apply(ctx, eng, rel, lastGood)
		if rollbackErr == nil {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+v1alpha1.AnnotationArtifact+`":null}}}`))
			rollbackErr = r.Client.Patch(ctx, rel, patch)
		}
		step := v1alpha1.LogStep{Name: "rollback", Result: "OK", Detail: "artifact " + pinned + " unpinned: back to the images of " + short(lastGood), DurationMillis: time.Since(t0).Milliseconds()}
		if rollbackErr != nil {
			step.Result, step.Detail = "FAIL", step.Detail+": "+rollbackErr.Error()
		} else {
			phase, status = PhaseRolledBack, "ROLLED_BACK"
		}
		steps = append(steps, step)
	case lastGood == "" || lastGood == ro.Revision:
		steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: "SKIP", Detail: "no earlier good revision to return to"})
	default:
		t0 := time.Now()
		rollbackErr = r.apply(ctx, eng, rel, lastGood)
		detail := "to " + short(lastGood)
		switch blueGreenPhase(rel, ro) {
		case bgGreen:
			detail += ": green deleted, the active Service never left blue"
		case bgSwitch, bgPromote:
			detail += ": switched back to blue, green deleted"
		}
		step := v1alpha1.LogStep{Name: "rollback", Result: "OK", Detail: detail, DurationMillis: time.Since(t0).Milliseconds()}
		if rollbackErr != nil {
			step.Result, step.Detail = "FAIL", fmt.Sprintf("to %s: %v", short(lastGood), rollbackErr)
		} else {
			phase, status = PhaseRolledBack, "ROLLED_BACK"
		}
		steps = append(steps, step)
	}
	ro.Phase, ro.Message = phase, failed.Name+": "+failed.Detail
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Rollout = &ro
		if phase == PhaseRolledBack && lastGood == ro.Revision {
			s.Artifact = "" // the pinned artifact was the failure
			s.Phase, s.Message = "Synced", fmt.Sprintf("artifact rolled back: %s", ro.Message)
		} else if phase == PhaseRolledBack {
			s.ObservedRevision, s.FailedRevision = lastGood, ro.Revision
			s.Phase, s.Message = "Synced", fmt.Sprintf("revision %s rolled back to %s: %s", short(ro.Revision), short(lastGood), ro.Message)
		} else {
			s.Phase, s.Message = "Failed", fmt.Sprintf("revision %s failed: %s", short(ro.Revision), ro.Message)
		}
		setCondition(s, metav1.ConditionFalse, "Rollout"+phase, s.Message, rel.Generation)
		updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) {
			l.Steps = append(l.Steps, steps...)
			l.Status, l.Finished = status, metav1.Now()
		})
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, status).Inc()
	r.event(rel, corev1.EventTypeWarning, "Rollout"+phase, "revision %s: %s", short(ro.Revision), ro.Message)
	log.Info("rollout failed", "revision", ro.Revision, "phase", phase, "check", failed.Detail)
	if err == nil {
		err = rollbackErr
	}
	return ctrl.Result{RequeueAfter: r.next(rel)}, err
}

// apply renders revision and syncs it (the rollback path: what was verified before goes back
// as it was, no pre-flight, no analysis).
func (r *Reconciler) apply(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, revision string) error {
	targets, _, err := r.targets(ctx, rel, revision)
	if err != nil {
		return err
	}
	_, err = r.sync(ctx, eng, rel, targets, revision)
	return err
}

// sync applies targets as rel's revision, within the sync timeout, pruning as rel says.
func (r *Reconciler) sync(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, targets []*unstructured.Unstructured, revision string) (engine.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.syncTimeout())
	defer cancel()
	return eng.Sync(ctx, engine.Key{Namespace: rel.Namespace, Name: rel.Name}, targets, rel.Target(), engine.Options{Prune: rel.Pruning(), Revision: revision})
}

// targets fetches, renders and prepares (ignored fields, version tags, labels) revision.
func (r *Reconciler) targets(ctx context.Context, rel *v1alpha1.Release, revision string) ([]*unstructured.Unstructured, string, error) {
	creds, err := r.credentials(ctx, rel)
	if err != nil {
		return nil, "", err
	}
	_, files, err := r.Git.Fetch(ctx, rel.Spec.Source.URL, revision, rel.Spec.Source.Path, creds)
	if err != nil {
		return nil, "", err
	}
	objs, err := render.Render(files, rel.Spec.Source.Path, rel.Spec.Render)
	if err != nil {
		return nil, "", err
	}
	return r.prepare(ctx, rel, objs)
}

// prepare turns rendered objects into sync targets.
func (r *Reconciler) prepare(ctx context.Context, rel *v1alpha1.Release, objs []render.Object) ([]*unstructured.Unstructured, string, error) {
	targets := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		targets[i] = o.Unstructured.DeepCopy()
		if targets[i].GetNamespace() == "" {
			targets[i].SetNamespace(rel.Target())
		}
	}
	if err := r.ignoreOwnedFields(ctx, rel, targets); err != nil {
		return nil, "", err
	}
	if artifact := rel.Annotations[v1alpha1.AnnotationArtifact]; artifact != "" {
		if err := pinArtifact(targets, artifact); err != nil {
			return nil, "", err
		}
	}
	version, err := tagVersions(targets)
	if err != nil {
		return nil, "", err
	}
	engine.Label(targets, engine.Key{Namespace: rel.Namespace, Name: rel.Name})
	return targets, version, nil
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

// manualRollback is `bollard rollback`: put revision to (or the last good one) back at once,
// without analysis, keep the revision it replaces from coming back until git moves on, record it,
// and clear the request.
func (r *Reconciler) manualRollback(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, to string, log logr.Logger) (ctrl.Result, error) {
	target, err := rollbackTarget(rel, to)
	started := metav1.Now()
	step := v1alpha1.LogStep{Name: "rollback", Result: "OK"}
	if err == nil {
		t0 := time.Now()
		err = r.apply(ctx, eng, rel, target)
		step.DurationMillis = time.Since(t0).Milliseconds()
	}
	from := rel.Status.ObservedRevision
	if err != nil {
		step.Result, step.Detail = "FAIL", err.Error()
	} else {
		step.Detail = fmt.Sprintf("from %s to %s, by request (%s)", short(from), short(target), v1alpha1.AnnotationRollbackTo)
	}
	rec := v1alpha1.DeploymentLog{Started: started, Finished: metav1.Now(), Trigger: "manual", Revision: target,
		Target: "namespace " + rel.Target(), Steps: []v1alpha1.LogStep{step}, Status: "ROLLED_BACK"}
	if err != nil {
		rec.Status = "FAILED"
	}
	if serr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		if err == nil {
			if s.DesiredRevision != "" && s.DesiredRevision != target {
				s.FailedRevision = s.DesiredRevision
			}
			s.ObservedRevision, s.LastGoodRevision = target, target
			s.Phase, s.Message = "Synced", "rolled back by request: "+step.Detail
			now := metav1.Now()
			s.Rollout = &v1alpha1.RolloutStatus{Revision: target, Phase: PhaseRolledBack, Message: step.Detail, StartedAt: started, StepStartedAt: now}
		} else {
			s.Message = "rollback requested, not done: " + err.Error()
		}
		s.History = pushHistory(s.History, rec)
	}); serr != nil {
		return ctrl.Result{}, serr
	}
	// The request is done (or refused, with the reason in the status): clear it.
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+v1alpha1.AnnotationRollbackTo+`":null}}}`))
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
// history, or the last good revision.
func rollbackTarget(rel *v1alpha1.Release, to string) (string, error) {
	if to == "" || to == "last-good" {
		// The newest verified revision other than the one running now.
		for _, l := range rel.Status.History {
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
	for _, l := range rel.Status.History {
		if strings.HasPrefix(l.Revision, to) {
			return l.Revision, nil
		}
	}
	return "", fmt.Errorf("revision %q is not in the Release's history: give the full commit hash", to)
}

// recordMigration writes the schema version the Release's migration Job applied, when the Job ran
// as a hook of this sync and succeeded. It reports the log line and whether there was one.
func (r *Reconciler) recordMigration(ctx context.Context, rel *v1alpha1.Release, results []common.ResourceSyncResult) (v1alpha1.LogStep, bool) {
	m := rel.Spec.Migration
	for _, res := range results {
		if res.HookType == "" || res.ResourceKey.Kind != "Job" || res.ResourceKey.Name != m.Job {
			continue
		}
		step := v1alpha1.LogStep{Name: "migration", Result: "OK", Detail: fmt.Sprintf("Job %s applied schema version %s", m.Job, m.SchemaVersion)}
		if res.HookPhase != common.OperationSucceeded {
			step.Result, step.Detail = "FAIL", fmt.Sprintf("Job %s: %s %s", m.Job, res.HookPhase, res.Message)
			return step, true
		}
		ns := m.Record.Namespace
		if ns == "" {
			ns = rel.Target()
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: m.Record.Name}}
		_, err := controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[m.Record.Key] = m.SchemaVersion
			return nil
		})
		if err != nil {
			step.Result, step.Detail = "FAIL", fmt.Sprintf("record schema version %s in ConfigMap %s/%s: %v", m.SchemaVersion, ns, m.Record.Name, err)
		} else {
			step.Detail += fmt.Sprintf(" (recorded in ConfigMap %s/%s key %s)", ns, m.Record.Name, m.Record.Key)
		}
		return step, true
	}
	return v1alpha1.LogStep{}, false
}

// pinArtifact sets every container image of artifact's repository to artifact (repo@sha256:…).
func pinArtifact(targets []*unstructured.Unstructured, artifact string) error {
	repo, digest, ok := strings.Cut(artifact, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		return fmt.Errorf("%s %q: want repository@sha256:<digest>", v1alpha1.AnnotationArtifact, artifact)
	}
	pinned := 0
	for _, t := range targets {
		path := podTemplatePath(t.GetKind())
		if path == nil {
			continue
		}
		containers, found, _ := unstructured.NestedSlice(t.Object, append(append([]string{}, path...), "spec", "containers")...)
		if !found {
			continue
		}
		for i, c := range containers {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			image, _ := m["image"].(string)
			if imageRepository(image) == repo {
				m["image"] = artifact
				containers[i] = m
				pinned++
			}
		}
		_ = unstructured.SetNestedSlice(t.Object, containers, append(append([]string{}, path...), "spec", "containers")...)
	}
	if pinned == 0 {
		return fmt.Errorf("%s %s: no container of the revision runs an image of %s", v1alpha1.AnnotationArtifact, artifact, repo)
	}
	return nil
}

// imageRepository is an image reference without tag or digest.
func imageRepository(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
