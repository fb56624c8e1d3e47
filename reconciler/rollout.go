package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
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
	ro = rollout.Resume(s, ro, now)
	out, err := r.checks().Run(ctx, rel, ro, now)
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
	if r.progressOnly(rel, t, now) {
		return ctrl.Result{RequeueAfter: t.Requeue}, nil
	}
	return r.saveRollout(ctx, rel, t.Status, t.Requeue, t.Log...)
}

// progressEvery is how often a check's changing progress message alone ("2/3 new pods Ready") is
// written to the Release's status while it waits.
const progressEvery = 5 * time.Second

// progressOnly tells whether t changes nothing but the rollout's message, and the status was
// written less than progressEvery ago: not worth a write (a Release's status write is one of the
// API server's most expensive requests; a transition, a log step or a new phase is always written
// at once). The first look after such a write starts the clock: a rollout whose pods are Ready
// within progressEvery writes no progress at all, only its start and its end.
func (r *Reconciler) progressOnly(rel *v1alpha1.Release, t rollout.Transition, now time.Time) bool {
	key := client.ObjectKeyFromObject(rel)
	before, after := *rel.Status.Rollout, t.Status
	before.Message, after.Message = "", ""
	if len(t.Log) > 0 || !equality.Semantic.DeepEqual(before, after) {
		r.progressWritten.Delete(key)
		return false
	}
	last, ok := r.progressWritten.LoadOrStore(key, now)
	if !ok || now.Sub(last.(time.Time)) < progressEvery {
		return true
	}
	r.progressWritten.Store(key, now)
	return false
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
	if rev.New, rev.NewVersion, _, err = r.revisionTargets(ctx, rel, ro.Revision, ro.Artifact, ro.Render, false); err != nil {
		return rev, err
	}
	if ro.From != "" {
		if rev.Old, rev.OldVersion, _, err = r.revisionTargets(ctx, rel, ro.From, "", "", true); err != nil {
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
	ro := rollout.Start(s, v1alpha1.RolloutStatus{Revision: revision, Artifact: artifact, Render: rel.RenderDigest(), Version: version, From: from}, time.Now(), initialDelay(rel))
	rec.Strategy = describeStrategy(s)
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
		pushHistory(st, rec)
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
		pushHistory(s, rec)
		s.Phase, s.Message = "Failed", msg
		setCondition(s, metav1.ConditionFalse, "RolloutFailed", msg, rel.Generation)
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, string(v1alpha1.LogFailed)).Inc()
	r.event(rel, corev1.EventTypeWarning, "RolloutFailed", "%s", msg)
	log.Info("rollout could not start", "revision", revision, "strategy", strategy, "reason", step.Detail)
	return ctrl.Result{RequeueAfter: interval(rel)}, uerr
}

// succeed ends the rollout: the revision is the last good one.
func (r *Reconciler) succeed(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, log logr.Logger, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	ro.Phase, ro.Message = PhaseSucceeded, "verified"
	if step, ok := r.drained(ctx, rel); ok {
		steps = append(steps, step)
	}
	if step, ok := r.attest(ctx, rel, ro.LogID, steps); ok {
		steps = append(steps, step)
	}
	// The snapshot is verified by the status written below (lastGood*): no write of its own.
	var applied string // what the change applied, for its one Event
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Rollout = &ro
		s.LastGoodRevision, s.LastGoodRender, s.FailedRevision = ro.Revision, ro.Render, ""
		s.LastGoodArtifact, s.LastGoodPromotedFrom = ro.Artifact, ""
		s.Phase, s.Message = "Synced", fmt.Sprintf("revision %s verified", short(ro.Revision))
		updateLog(s, ro.LogID, func(l *v1alpha1.DeploymentLog) {
			l.Steps = append(l.Steps, steps...)
			l.Status, l.Finished = v1alpha1.LogSuccess, metav1.Now()
			for _, st := range l.Steps {
				if st.Name == "apply" {
					applied = ": " + st.Detail
				}
			}
			if from := l.PromotedFrom; from != nil && ro.Artifact != "" {
				s.LastGoodPromotedFrom = from.Namespace + "/" + from.Name
			}
		})
	})
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, "SUCCESS").Inc()
	r.event(rel, corev1.EventTypeNormal, "RolloutSucceeded", "revision %s verified%s", short(ro.Revision), applied)
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

func updateLog(s *v1alpha1.ReleaseStatus, id int64, change func(*v1alpha1.DeploymentLog)) {
	for i := range s.History {
		if s.History[i].ID == id {
			change(&s.History[i])
			return
		}
	}
}

func (r *Reconciler) fetchTimeout() time.Duration { return cmp.Or(r.FetchTimeout, 2*time.Minute) }

func (r *Reconciler) syncTimeout() time.Duration {
	if r.SyncTimeout == 0 {
		return 5 * time.Minute
	}
	return r.SyncTimeout
}
