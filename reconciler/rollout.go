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
	"bollard.dev/bollard/reconciler/rollout"
)

// Rollout phases (status.rollout.phase), as the reconciler names them.
const (
	PhaseVerifying      = v1alpha1.RolloutVerifying
	PhaseSucceeded      = v1alpha1.RolloutSucceeded
	PhaseRolledBack     = v1alpha1.RolloutRolledBack
	PhaseFailed         = v1alpha1.RolloutFailed
	PhasePaused         = v1alpha1.RolloutPaused
	PhaseHalted         = v1alpha1.RolloutHalted
	PhaseRollbackFailed = v1alpha1.RolloutRollbackFailed
	PhaseFailing        = v1alpha1.RolloutFailing
)

// verifying reports a rollout the daemon must carry on with (after a restart too).
func verifying(rel *v1alpha1.Release) bool {
	ro := rel.Status.Rollout
	if ro == nil || ro.Revision != rel.Status.ObservedRevision {
		return false
	}
	switch ro.Phase {
	case PhaseVerifying, PhasePaused, PhaseRollbackFailed, PhaseFailing:
		return true
	}
	return false
}

func healthTimeout(rel *v1alpha1.Release) time.Duration {
	if rel.Spec.HealthTimeout != nil && rel.Spec.HealthTimeout.Duration > 0 {
		return rel.Spec.HealthTimeout.Duration
	}
	return 60 * time.Second
}

func initialDelay(rel *v1alpha1.Release) time.Duration {
	if a := rel.Spec.Analysis; a != nil && a.InitialDelay != nil {
		return a.InitialDelay.Duration
	}
	return 0
}

// strategyOf is the strategy a rollout runs: the one it started with (a first revision rolls
// out as a rolling update whatever the spec says: there is nothing to split from).
func strategyOf(rel *v1alpha1.Release, ro v1alpha1.RolloutStatus) rollout.Strategy {
	return rollout.For(rel, ro.Strategy)
}

// verify carries the rollout of the revision applied last one transition further: it runs the
// check the status names and does what rollout.Next says — check again, apply the next phase,
// end verified, or fail (roll back or halt). Each transition is persisted.
func (r *Reconciler) verify(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, log logr.Logger) (ctrl.Result, error) {
	ro := *rel.Status.Rollout
	switch ro.Phase {
	case PhaseRollbackFailed:
		return r.retryRollback(ctx, eng, rel, ro, log)
	case PhaseFailing: // interrupted while it rolled back or halted: again
		return r.failRollout(ctx, eng, rel, ro, log, v1alpha1.LogStep{})
	}
	s := strategyOf(rel, ro)
	now := time.Now()
	out, err := r.check(ctx, rel, &ro, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	t := rollout.Next(s, ro, out, now, initialDelay(rel))
	switch t.Action {
	case rollout.Failed:
		return r.failRollout(ctx, eng, rel, t.Status, log, t.Failed)
	case rollout.Complete:
		return r.succeed(ctx, rel, t.Status, log, t.Log...)
	case rollout.Apply:
		phase, _ := s.Phase(t.Status.Index)
		t0 := time.Now()
		achieved, err := r.applyPhase(ctx, eng, rel, s, t.Status, false)
		if err != nil {
			if len(t.Log) > 0 {
				if _, err := r.saveRollout(ctx, rel, ro, 0, t.Log...); err != nil {
					return ctrl.Result{}, err
				}
			}
			return r.failRollout(ctx, eng, rel, t.Status, log, v1alpha1.LogStep{Name: phase.Name, Result: v1alpha1.ResultFail, Detail: err.Error()})
		}
		t.Status.Achieved, t.Status.Message = achieved, phase.Name+": "+achieved
		if phase.Prefix == "" {
			t.Log = append(t.Log, v1alpha1.LogStep{Name: phase.Name, Result: v1alpha1.ResultOK, Detail: achieved, DurationMillis: time.Since(t0).Milliseconds()})
		}
		if len(phase.Checks) == 0 {
			return r.succeed(ctx, rel, t.Status, log, t.Log...)
		}
	}
	return r.saveRollout(ctx, rel, t.Status, t.Requeue, t.Log...)
}

// check runs the rollout's current check once.
func (r *Reconciler) check(ctx context.Context, rel *v1alpha1.Release, ro *v1alpha1.RolloutStatus, now time.Time) (rollout.Outcome, error) {
	elapsed := now.Sub(ro.CheckStartedAt.Time)
	switch ro.Check {
	case v1alpha1.CheckHealth:
		ok, detail, fatal, err := r.healthy(ctx, rel)
		switch {
		case err != nil:
			return rollout.Outcome{}, err
		case ok:
			return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: "health", Result: v1alpha1.ResultOK,
				Detail: fmt.Sprintf("%s in %.1f s", detail, elapsed.Seconds()), DurationMillis: elapsed.Milliseconds()}}, nil
		case fatal || elapsed > healthTimeout(rel):
			return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: "health", Result: v1alpha1.ResultFail, DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s after %.0f s (health timeout %s)", detail, elapsed.Seconds(), healthTimeout(rel))}}, nil
		}
		return rollout.Outcome{Result: rollout.Wait, Message: detail, Wait: time.Second}, nil
	case v1alpha1.CheckProve:
		if rel.Spec.Prove == nil { // removed while running: nothing to prove
			return rollout.Outcome{Result: rollout.Pass}, nil
		}
		ok, detail, fatal, err := r.prove(ctx, rel, *ro)
		switch {
		case err != nil:
			return rollout.Outcome{}, err
		case ok:
			return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: "prove", Result: v1alpha1.ResultOK, Detail: detail, DurationMillis: elapsed.Milliseconds()}}, nil
		case fatal || elapsed > proveTimeout(rel):
			return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: "prove", Result: v1alpha1.ResultFail, DurationMillis: elapsed.Milliseconds(),
				Detail: fmt.Sprintf("%s after %.0f s (timeout %s)", detail, elapsed.Seconds(), proveTimeout(rel))}}, nil
		}
		return rollout.Outcome{Result: rollout.Wait, Message: "proving: " + detail, Wait: time.Second}, nil
	case v1alpha1.CheckAnalysis:
		if rel.Spec.Analysis == nil { // removed while running: nothing left to check
			return rollout.Outcome{Result: rollout.Pass}, nil
		}
		return r.slo(ctx, rel, *ro, now), nil
	}
	return rollout.Outcome{Result: rollout.Pass}, nil
}

// applyPhase applies the rollout's phase ro.Index: the strategy's objects for it, made from the
// new revision (its snapshot) and the one it started from (its verified snapshot); hooks only
// with a revision's first phase. It returns what the phase achieved.
func (r *Reconciler) applyPhase(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, s rollout.Strategy, ro v1alpha1.RolloutStatus, hooks bool) (string, error) {
	rev, err := r.revisions(ctx, rel, ro)
	if err != nil {
		return "", err
	}
	targets, achieved, err := s.Targets(ro.Index, rev)
	if err != nil {
		return "", err
	}
	if !hooks {
		targets = withoutHooks(targets)
	}
	_, err = r.sync(ctx, eng, rel, targets, ro.Revision)
	return achieved, err
}

// revisions are the new revision's and the running one's targets, for a phase.
func (r *Reconciler) revisions(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus) (rollout.Revisions, error) {
	var rev rollout.Revisions
	var err error
	if rev.New, rev.NewVersion, _, err = r.revisionTargets(ctx, rel, ro.Revision, ro.Artifact, false); err != nil {
		return rev, err
	}
	if ro.From != "" {
		if rev.Old, rev.OldVersion, _, err = r.revisionTargets(ctx, rel, ro.From, "", true); err != nil {
			return rev, err
		}
	}
	return rev, nil
}

// startRollout applies the first phase of revision's canary or blue/green beside from (the
// revision that runs) and records the rollout (its Deployment Log goes on phase by phase). One
// that cannot start is a failed revision: one log, from put back, nothing retried until git
// moves on.
func (r *Reconciler) startRollout(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog, from, revision, artifact, version string, log logr.Logger) (ctrl.Result, error) {
	s := rollout.For(rel, "")
	ro := rollout.Start(s, v1alpha1.RolloutStatus{Revision: revision, Artifact: artifact, Version: version, From: from}, time.Now(), initialDelay(rel))
	phase, _ := s.Phase(0)
	t0 := time.Now()
	achieved, err := r.applyPhase(ctx, eng, rel, s, ro, true)
	step := v1alpha1.LogStep{Name: "apply", Result: v1alpha1.ResultOK, Detail: phase.Name + ": " + achieved, DurationMillis: time.Since(t0).Milliseconds()}
	if err != nil {
		step.Result, step.Detail = v1alpha1.ResultFail, fmt.Sprintf("%s: %v", phase.Name, err)
		return r.startFailed(ctx, eng, rel, rec, from, revision, string(s.Type()), step, log)
	}
	ro.Achieved, ro.Message = achieved, phase.Name+": "+achieved
	rec.Status = v1alpha1.LogVerifying
	rec.Steps = append(rec.Steps, step)
	uerr := r.updateStatus(ctx, rel, func(st *v1alpha1.ReleaseStatus) {
		st.ObservedGeneration = rel.Generation
		st.History = pushHistory(st.History, rec)
		st.DesiredRevision, st.ObservedRevision = revision, revision
		st.Phase, st.Message = string(PhaseVerifying), ro.Message
		ro.LogID = st.History[0].ID
		st.Rollout = &ro
	})
	r.event(rel, corev1.EventTypeNormal, "RolloutStarted", "revision %s (%s): %s", short(revision), s.Type(), ro.Message)
	log.Info("rollout started", "revision", revision, "from", from, "strategy", s.Type(), "phase", ro.Message)
	return ctrl.Result{RequeueAfter: time.Second}, uerr
}

// startFailed records a canary or blue/green that could not start: one FAILED Deployment Log
// with the reason, from put back as it ran (from its snapshot), and the revision held — the
// Release waits for git, its spec or a person, instead of retrying.
func (r *Reconciler) startFailed(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog, from, revision, strategy string, step v1alpha1.LogStep, log logr.Logger) (ctrl.Result, error) {
	rec.Steps = append(rec.Steps, step)
	t0 := time.Now()
	restore := v1alpha1.LogStep{Name: "restore", Result: v1alpha1.ResultOK, Detail: "back to " + short(from)}
	src, err := r.apply(asRollback(ctx, rel, from), eng, rel, from, rel.Status.Artifact, true)
	restore.Detail += sourceNote(src)
	restore.DurationMillis = time.Since(t0).Milliseconds()
	if err != nil {
		restore.Result, restore.Detail = v1alpha1.ResultFail, restore.Detail+": "+err.Error()
	}
	rec.Steps = append(rec.Steps, restore)
	rec.Status, rec.Finished = v1alpha1.LogFailed, metav1.Now()
	msg := fmt.Sprintf("revision %s: the %s rollout could not start: %s", short(revision), strategy, step.Detail)
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
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, string(v1alpha1.LogFailed)).Inc()
	r.event(rel, corev1.EventTypeWarning, "RolloutFailed", "%s", msg)
	log.Info("rollout could not start", "revision", revision, "strategy", strategy, "reason", step.Detail)
	return ctrl.Result{RequeueAfter: interval(rel)}, uerr
}

// slo evaluates the SLO guard once for the running check (started at ro.CheckStartedAt, which
// an initial delay puts in the future): pass once every metric held for the hold period, fail on
// a breach (or no data, unless onNoData is pause), else wait (saying what it sees).
func (r *Reconciler) slo(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) rollout.Outcome {
	a := rel.Spec.Analysis
	interval, hold := 10*time.Second, time.Minute
	if a.Interval != nil && a.Interval.Duration > 0 {
		interval = a.Interval.Duration
	}
	if a.Hold != nil && a.Hold.Duration > 0 {
		hold = a.Hold.Duration
	}
	name := fmt.Sprintf("SLO guard (%s)", hold)
	if wait := ro.CheckStartedAt.Sub(now); wait > 0 { // the initial delay: the hold starts after it
		return rollout.Outcome{Result: rollout.Wait, Message: "SLO guard from " + ro.CheckStartedAt.UTC().Format(time.TimeOnly), Wait: wait}
	}
	fail := func(detail string, elapsed time.Duration) rollout.Outcome {
		return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: name, Result: v1alpha1.ResultFail, Detail: detail, DurationMillis: elapsed.Milliseconds()}}
	}
	prom, err := analysis.New(a.Prometheus)
	if err != nil {
		return fail(err.Error(), 0)
	}
	results := prom.Evaluate(ctx, a.Metrics, ro.Version, now)
	values := describe(results)
	elapsed := now.Sub(ro.CheckStartedAt.Time)
	for _, res := range results {
		if res.Breached() {
			return fail(fmt.Sprintf("%s after %.0f s: query %s", values, elapsed.Seconds(), res.Query), elapsed)
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
			return rollout.Outcome{Result: rollout.Wait, Paused: true, Message: "paused: " + values + " (onNoData: pause)", Wait: interval}
		}
		return fail(fmt.Sprintf("%s after %.0f s: no data counts as a failure (onNoData: fail)", values, elapsed.Seconds()), elapsed)
	}
	if elapsed >= hold {
		return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: name, Result: v1alpha1.ResultOK, Detail: values + ": PASS", DurationMillis: elapsed.Milliseconds()}}
	}
	return rollout.Outcome{Result: rollout.Wait, Message: fmt.Sprintf("SLO guard %.0f/%.0f s: %s", elapsed.Seconds(), hold.Seconds(), values), Wait: min(interval, hold-elapsed)}
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
		if ro.Strategy == v1alpha1.StrategyCanary { // one proof per canary step
			name += fmt.Sprintf("-%d", ro.Index)
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
			l.Status, l.Finished = v1alpha1.LogSuccess, metav1.Now()
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
