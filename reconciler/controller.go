// Package reconciler is bollard's daemon: for each Release it fetches the revision (go-git),
// renders it, runs the gate's pre-flight decision on it, applies it through gitops-engine, reverts
// drift, and writes a Deployment Log for every change.
package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/egress"
	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/render"
	"bollard.dev/bollard/reconciler/rollout"
	"bollard.dev/bollard/reconciler/snapshot"
	"bollard.dev/bollard/reconciler/source"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/workload"
)

// triggerPriority is the queue priority of a push or drift (a Release's own changes: 0; Releases
// listed at start: low). A rollout under way (verification, canary steps) comes before Releases
// that have not started: 1,000 new Releases would otherwise hold every verification back until
// all of them were applied.
const (
	triggerPriority = 10
	rolloutPriority = 5
)

// historyLimit is how many Deployment Logs a Release keeps in its status while they are not
// kept as DeploymentRecords yet (the one under way, those whose record could not be written).
const historyLimit = 10

// Reconciler reconciles Releases.
type Reconciler struct {
	Client client.Client
	// Reader reads Releases uncached: a reconcile must see the status the last one wrote (the
	// rollout step), not a cache that has not caught up (getRelease uses the cache when it holds
	// exactly that). Nil: Client.
	Reader client.Reader
	Git    *source.Git
	// Snapshots keeps each revision as applied, for rollbacks without git or the registry; nil
	// renders every revision from git again.
	Snapshots *snapshot.Store
	// Gate is the webhook's decision, run as pre-flight on every new revision; nil skips it.
	Gate *admission.Gate
	// User is who the pre-flight decision sees as the writer (the daemon's service account).
	User     admission.User
	Recorder events.EventRecorder
	Log      logr.Logger
	// SyncTimeout bounds one sync operation (hooks included); zero is 5 minutes.
	SyncTimeout time.Duration
	// Concurrency is how many Releases reconcile at once; zero is 4.
	Concurrency int
	// FetchTimeout bounds one git fetch; zero is 2 minutes.
	FetchTimeout time.Duration
	// Cluster names this cluster in Deployment Logs' targets ("" leaves it out).
	Cluster string
	// Tracer sends a trace per change (nil: the global provider, a no-op unless set up).
	Tracer trace.TracerProvider
	// Notifier sends notifications of changes that end and of drift (nil: none).
	Notifier *notify.Notifier
	// Attester attaches the logs of Releases with spec.attest to their digests (nil: none).
	Attester *Attester
	// Namespaces the daemon watches (empty: all): a Release targeting another is refused.
	Namespaces []string
	// DefaultServiceAccount is the ServiceAccount a Release without spec.serviceAccountName acts
	// as, in its own namespace ("": the daemon's own identity).
	DefaultServiceAccount string

	// Egress lists where prove checks and Prometheus may be (--allowed-hosts); nil: in-cluster
	// Services.
	Egress *egress.Guard

	ids        *identities // impersonated clients; nil: every Release acts as the daemon
	unmanaged  *unmanaged  // objects without bollard's label; nil: asked of the API server
	egressOnce sync.Once
	egressRT   http.RoundTripper

	eng      atomic.Pointer[engine.Engine] // set once the cluster cache has synced
	engReady chan struct{}                 // closed then
	engOnce  sync.Once
	triggers chan event.GenericEvent
	mu       sync.Mutex
	pending  map[types.NamespacedName]string                 // why the next reconcile of a Release runs
	drift    map[types.NamespacedName][]v1alpha1.DriftRecord // drift seen since the last reconcile
	written  sync.Map                                        // each Release's resourceVersion as this daemon last wrote it
	// When each Release's waiting rollout last had its progress message written (progressOnly).
	progressWritten sync.Map
}

func (r *Reconciler) setEngine(e *engine.Engine) {
	r.eng.Store(e)
	r.engOnce.Do(func() { close(r.engReady) })
}

// waitEngine waits (a while) for the cluster cache: Releases listed at start reconcile the moment
// it has synced, not after a requeue.
func (r *Reconciler) waitEngine(ctx context.Context) *engine.Engine {
	if e := r.engine(); e != nil {
		return e
	}
	select {
	case <-r.engReady:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return r.engine()
}
func (r *Reconciler) engine() *engine.Engine { return r.eng.Load() }

// SetupWithManager registers the controller: Release changes, plus the triggers from the push
// receiver and the drift feed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.triggers = make(chan event.GenericEvent, 1024)
	r.engReady = make(chan struct{})
	r.pending = map[types.NamespacedName]string{}
	r.drift = map[types.NamespacedName][]v1alpha1.DriftRecord{}
	return ctrl.NewControllerManagedBy(mgr).
		// Spec changes, and annotations (a rollback request).
		For(&v1alpha1.Release{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Pushes and drift jump the queue: with 1,000 Releases syncing, a push is applied in
		// seconds, not after the others (controller-runtime's priority queue; a Release's
		// requeues keep its priority).
		WatchesRawSource(crsource.Channel(r.triggers, handler.TypedFuncs[client.Object, reconcile.Request]{
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(e.Object)}
				if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
					pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(triggerPriority)}, req)
					return
				}
				q.Add(req)
			}})).
		Named("release").
		// A test process runs more than one daemon; production runs one manager per process.
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: cmp.Or(r.Concurrency, 4), UsePriorityQueue: ptr.To(true)}).
		Complete(r)
}

// Reconcile brings one Release in step with git.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := r.Log.WithValues("release", req.String())
	eng := r.waitEngine(ctx)
	if eng == nil {
		return ctrl.Result{RequeueAfter: time.Second}, nil // the cluster cache is still syncing
	}
	var rel v1alpha1.Release
	t0 := time.Now()
	err := r.getRelease(ctx, req.NamespacedName, &rel)
	stage("get", t0)
	if err != nil {
		if apierrors.IsNotFound(err) {
			eng.Forget(engine.Key{Namespace: req.Namespace, Name: req.Name})
			r.written.Delete(req.NamespacedName)
			r.progressWritten.Delete(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !rel.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, eng, &rel, log)
	}
	t0 = time.Now()
	err = r.ensureFinalizer(ctx, &rel)
	stage("finalizer", t0)
	if err != nil {
		return ctrl.Result{}, err
	}
	if to, ok := rel.Annotations[v1alpha1.AnnotationRollbackTo]; ok {
		return r.manualRollback(ctx, eng, &rel, to, log)
	}
	if verifying(&rel) {
		if ph := rel.Status.Rollout.Phase; !((ph == PhasePaused || ph == PhaseRollbackFailed) && r.pushed(req.NamespacedName)) {
			// A rollout in progress (or resumed after a restart) goes on first; triggers wait.
			defer stage("verify", time.Now())
			return r.verify(ctx, eng, &rel, log)
		}
		// A push supersedes a paused rollout; if it brings nothing new, the pause goes on.
		res, err := r.reconcile(ctx, eng, &rel, req, log)
		if res.RequeueAfter > time.Second {
			res.RequeueAfter = time.Second
		}
		return res, err
	}
	return r.reconcile(ctx, eng, &rel, req, log)
}

// reconcile is one pass over a Release not in the middle of a rollout; a deploy request
// (bollard deploy) is acknowledged once the pass has recorded what it did.
func (r *Reconciler) reconcile(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, req ctrl.Request, log logr.Logger) (ctrl.Result, error) {
	request := rel.Annotations[v1alpha1.AnnotationDeployRequest]
	if request == "" || request == rel.Status.LastDeployRequest {
		return r.pass(ctx, eng, rel, req, log, "")
	}
	res, err := r.pass(ctx, eng, rel, req, log, "deploy")
	if aerr := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) { s.LastDeployRequest = request }); err == nil {
		err = aerr
	}
	return res, err
}

// pass is one reconcile of a Release not in the middle of a rollout, kustomize-controller style
// — a straight line with early exits: fetch (a failed revision stays held), the desired objects
// (a new revision rendered, the running one from its snapshot; nothing out of step: done),
// pre-flight (digests pinned, the snapshot kept), then the rollout starts: a canary or blue/green
// by its first phase, a rolling update applied and verified. trigger overrides why it runs.
func (r *Reconciler) pass(ctx context.Context, eng *engine.Engine, relp *v1alpha1.Release, req ctrl.Request, log logr.Logger, trigger string) (ctrl.Result, error) {
	p := &passState{rel: *relp, log: log, interval: interval(relp)}
	p.reason, p.drift = r.take(req.NamespacedName)
	if trigger != "" {
		p.reason = trigger
	}
	if p.reason == TriggerPush || p.reason == TriggerDrift {
		ctx = engine.Urgent(ctx) // applied before the backlog's writes
	}
	log.V(1).Info("reconcile", "trigger", p.reason, "drift", len(p.drift), "phase", p.rel.Status.Phase)
	p.rec = v1alpha1.DeploymentLog{Started: metav1.Now(), Trigger: p.reason, Strategy: "apply (no rollout)"}
	r.target(ctx, &p.rel, &p.rec)
	if p.rel.Generation != p.rel.Status.ObservedGeneration && p.reason == TriggerPoll {
		p.rec.Trigger = "spec"
	}
	for _, st := range []struct {
		name string
		run  func(context.Context, *engine.Engine, *passState) (bool, ctrl.Result, error)
	}{{"fetch", r.fetch}, {"render", r.desired}, {"preflight", r.gate}} {
		t0 := time.Now()
		stop, res, err := st.run(ctx, eng, p)
		stage(st.name, t0)
		if stop {
			return res, err
		}
	}
	// The revision a canary or blue/green starts from: the one that runs, or the last good one
	// when what runs is a halted failure.
	from := p.running
	if from == p.rel.Status.FailedRevision {
		from = p.rel.Status.LastGoodRevision
	}
	if p.rollout && from != "" && from != p.commit.Hash && strategyOf(&p.rel, v1alpha1.RolloutStatus{}).Type() != v1alpha1.StrategyRolling {
		return r.startRollout(ctx, eng, &p.rel, p.rec, from, p.commit.Hash, p.artifact, p.version, log)
	}
	return r.applyRevision(ctx, eng, p, req)
}

// passState is what a pass learns on its way.
type passState struct {
	rel      v1alpha1.Release
	log      logr.Logger
	interval time.Duration
	reason   string
	drift    []v1alpha1.DriftRecord
	rec      v1alpha1.DeploymentLog

	commit   source.Commit
	files    source.Files
	artifact string // the bollard.dev/artifact pin asked for
	promoted string // the bollard.dev/promoted-from record the pin rests on
	running  string // the revision that runs
	// failed: git points at the failed revision; held: it is not applied again (git has not
	// moved on, the spec is the same, nobody asked).
	failed, held bool
	// newRevision: something to apply beyond self-heal; rollout: a new commit or pin to verify.
	newRevision, rollout bool

	objs    []render.Object
	targets []*unstructured.Unstructured
	version string
}

// fetch reads the revision git points at; a failed revision is held.
func (r *Reconciler) fetch(ctx context.Context, eng *engine.Engine, p *passState) (bool, ctrl.Result, error) {
	rel := &p.rel
	creds, err := r.credentials(ctx, rel)
	if err != nil {
		res, err := r.fail(ctx, rel, p.log, "source", err, p.interval)
		return true, res, err
	}
	ref := rel.Spec.Source.Ref
	if pinned := rel.Annotations[v1alpha1.AnnotationRevision]; pinned != "" {
		ref = pinned // bollard deploy --revision: a one-off, the spec untouched
	}
	fctx, cancel := context.WithTimeout(ctx, r.fetchTimeout())
	p.commit, p.files, err = r.Git.Fetch(fctx, rel.Spec.Source.URL, ref, rel.Spec.Source.Path, creds)
	cancel()
	if err != nil {
		res, err := r.fail(ctx, rel, p.log, "fetch", err, p.interval)
		return true, res, err
	}
	p.artifact = rel.Annotations[v1alpha1.AnnotationArtifact]
	p.promoted = rel.Annotations[v1alpha1.AnnotationPromotedFrom]
	if pinned := rel.Annotations[v1alpha1.AnnotationRevision]; pinned != "" {
		follows := rel.Spec.Source.Ref
		if follows == "" {
			follows = "main"
		}
		p.rec.Gates = append(p.rec.Gates, v1alpha1.LogStep{Name: "revision", Result: v1alpha1.ResultOK,
			Detail: fmt.Sprintf("%s (%s) asked for by bollard deploy --revision: spec.source.ref %s is not followed until a deploy without it", pinned, short(p.commit.Hash), follows)})
	}
	p.running = rel.Status.ObservedRevision
	// A revision that failed is not applied again until git moves on, the spec changes or a
	// person asks (bollard deploy, bollard rollback).
	p.failed = rel.Status.FailedRevision != "" && p.commit.Hash == rel.Status.FailedRevision
	p.held = p.failed && p.reason != "deploy" && rel.Generation == rel.Status.ObservedGeneration
	if p.held && p.running == p.commit.Hash {
		res, err := r.holdFailed(ctx, rel, p.drift, p.interval) // halted, or failed with nothing to return to
		return true, res, err
	}
	if p.held {
		// git still points at a revision that was rolled back: the one that runs stays, from its
		// snapshot (self-heal included).
		p.commit, p.files = r.commitOf(ctx, rel, p.running), nil
	}
	p.rec.Revision, p.rec.Author, p.rec.Message = p.commit.Hash, p.commit.Author, p.commit.Message
	// A new commit, artifact pin or way of rendering it (values, path, target) rolls out, verified.
	rerender := rel.Status.ObservedRender != "" && rel.RenderDigest() != rel.Status.ObservedRender
	p.rollout = p.commit.Hash != p.running || p.artifact != rel.Status.Artifact || rerender || p.failed && !p.held
	p.newRevision = p.rollout || rel.Generation != rel.Status.ObservedGeneration
	if !p.rollout && verifying(rel) {
		// A push during a paused rollout that brings nothing new: the rollout goes on from where
		// it is. A pass would take the difference between the revision whole and the rollout's
		// phase (a canary's split, blue/green's two sides) for drift, and promote it unverified.
		res, err := r.verify(ctx, eng, rel, p.log)
		return true, res, err
	}
	return false, ctrl.Result{}, nil
}

// desired is what the revision is made of: a new revision rendered (refused when it does not
// render), the running one from its snapshot. When nothing new came and nothing is out of step,
// the pass ends here.
func (r *Reconciler) desired(ctx context.Context, eng *engine.Engine, p *passState) (bool, ctrl.Result, error) {
	rel := &p.rel
	// The lane first: nothing is written outside it.
	why, err := r.targetAllowed(ctx, rel)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	if why != "" {
		p.rec.Gates = append(p.rec.Gates, v1alpha1.LogStep{Name: "target", Result: v1alpha1.ResultFail, Detail: why})
		res, err := r.refuse(ctx, rel, p.log, p.rec, p.commit, "TargetNotAllowed", why, p.interval)
		return true, res, err
	}
	if !p.newRevision {
		// The revision that runs: its snapshot (its digests, no render), else a render from git.
		if p.targets, p.version, _, err = r.revisionTargets(ctx, rel, p.commit.Hash, rel.Status.Artifact, rel.Status.ObservedRender, false); err != nil {
			res, err := r.fail(ctx, rel, p.log, "render", err, p.interval)
			return true, res, err
		}
		p.targets = withoutHooks(p.targets) // they ran with the revision's first sync
	} else {
		// Render. A revision that does not render is not applied; the live state is untouched.
		p.objs, err = render.Within(0, p.files, rel.Spec.Source.Path, renderSpec(rel))
		if err == nil {
			err = r.scope(p.objs, rel)
		}
		if err != nil {
			p.rec.Gates = append(p.rec.Gates, v1alpha1.LogStep{Name: "render", Result: v1alpha1.ResultFail, Detail: err.Error()})
			res, err := r.refuse(ctx, rel, p.log, p.rec, p.commit, "RenderFailed", err.Error(), p.interval)
			return true, res, err
		}
		p.rec.Gates = append(p.rec.Gates, v1alpha1.LogStep{Name: "render", Result: v1alpha1.ResultOK, Detail: fmt.Sprintf("%d object(s)", len(p.objs))})
		if p.targets, p.version, err = r.prepare(ctx, rel, p.objs, p.artifact); err != nil {
			if pe := (pinError{}); errors.As(err, &pe) {
				p.rec.Gates = append(p.rec.Gates, v1alpha1.LogStep{Name: "artifact", Result: v1alpha1.ResultFail, Detail: err.Error()})
				res, err := r.refuse(ctx, rel, p.log, p.rec, p.commit, "ArtifactRefused", err.Error(), p.interval)
				return true, res, err
			}
			return true, ctrl.Result{}, err
		}
		if p.commit.Hash == p.running && !p.failed {
			p.targets = withoutHooks(p.targets) // a spec change: the revision's hooks ran already
		}
	}
	p.rec.Artifacts = images(p.targets)
	if !p.newRevision && (!rel.SelfHealing() || rel.Spec.Suspend) {
		// Nothing new from git, and drift is only to be reported.
		res, err := r.reportDrift(ctx, rel, p.drift, p.interval)
		return true, res, err
	}
	if !p.newRevision {
		// Nothing new from git: a cheap plan tells whether anything is out of step. Drift seen
		// again after an earlier sync reverted it (watch events of one edit) needs no new change.
		plan, err := eng.Plan(ctx, engine.Key{Namespace: rel.Namespace, Name: rel.Name}, p.targets, rel.Target())
		p.log.V(1).Info("plan", "trigger", p.reason, "create", len(plan.Create), "update", len(plan.Update), "prune", len(plan.Prune), "error", err)
		if err == nil && len(plan.Create)+len(plan.Update)+len(plan.Prune) == 0 {
			if c := meta.FindStatusCondition(rel.Status.Conditions, "Ready"); c != nil && c.Reason == "FetchFailed" {
				// In step again after a source failure: say so (nothing was applied, no log).
				msg := fmt.Sprintf("revision %s in sync", short(p.commit.Hash))
				if p.held {
					msg += fmt.Sprintf("; %s failed and is not applied again until git moves on", short(rel.Status.FailedRevision))
				}
				err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
					s.Phase, s.Message = "Synced", msg
					setCondition(s, metav1.ConditionTrue, "Synced", msg, rel.Generation)
				})
				return true, ctrl.Result{RequeueAfter: p.interval}, err
			}
			return true, ctrl.Result{RequeueAfter: p.interval}, nil
		}
	}
	if rel.Spec.Suspend {
		res, err := r.setPhase(ctx, rel, "Suspended", "spec.suspend: not applying "+short(p.commit.Hash), p.interval)
		return true, res, err
	}
	return false, ctrl.Result{}, nil
}

// gate is pre-flight for a new revision — the webhook's decision on every rendered object —
// then its images pinned to the digests it verified and its snapshot kept, before anything is
// applied: a rollback, and the canary's steps, need no git.
func (r *Reconciler) gate(ctx context.Context, eng *engine.Engine, p *passState) (bool, ctrl.Result, error) {
	if !p.newRevision {
		return false, ctrl.Result{}, nil
	}
	rel := &p.rel
	if p.promoted != "" {
		// A promotion: the record it rests on must verify every pinned digest. Once the pin ran
		// verified here, a new revision under it is not refused for a record pruned since.
		ref, step, why := r.checkPromotion(ctx, rel, p.promoted, p.artifact)
		if why != "" && p.artifact == rel.Status.Artifact {
			step.Result, step.Detail = v1alpha1.ResultWarn, why+" (the pin was verified when it was promoted, and runs)"
			why = ""
		}
		p.rec.Gates = append(p.rec.Gates, step)
		p.rec.PromotedFrom = ref
		if why != "" {
			res, err := r.refuse(ctx, rel, p.log, p.rec, p.commit, "PromotionRefused", why, p.interval)
			return true, res, err
		}
	}
	if r.Gate != nil {
		steps, denied, digests, evidence := r.preflight(ctx, eng, p.objs, p.targets, rel)
		p.rec.Gates = append(p.rec.Gates, steps...)
		p.rec.Evidence = evidence
		if denied != "" {
			res, err := r.refuse(ctx, rel, p.log, p.rec, p.commit, "PreflightDenied", denied, p.interval)
			return true, res, err
		}
		// What runs is what was verified: images by the digests pre-flight verified.
		if err := pinDigests(p.targets, digests); err != nil {
			return true, ctrl.Result{}, err
		}
		p.rec.Artifacts = images(p.targets)
	}
	if r.Snapshots != nil {
		defer stage("snapshot", time.Now())
		if err := r.Snapshots.Save(ctx, rel, snapshot.Snapshot{Revision: p.commit.Hash, Artifact: p.artifact, Render: rel.RenderDigest(), Version: p.version, Objects: p.targets}); err != nil {
			res, err := r.fail(ctx, rel, p.log, "snapshot", err, p.interval)
			return true, res, err
		}
	}
	return false, ctrl.Result{}, nil
}

// applyRevision syncs the desired objects (a self-heal, a spec change, or a rolling update that
// the rollout then verifies) and records what it did.
func (r *Reconciler) applyRevision(ctx context.Context, eng *engine.Engine, p *passState, req ctrl.Request) (ctrl.Result, error) {
	rel, rec, drift, commit, log := &p.rel, p.rec, p.drift, p.commit, p.log
	t0 := time.Now()
	res, syncErr := r.sync(ctx, eng, rel, p.targets, commit.Hash)
	metricSyncDuration.WithLabelValues(req.String()).Observe(time.Since(t0).Seconds())
	stage("apply", t0)
	rec.Created, rec.Updated, rec.Pruned = len(res.Plan.Create), len(res.Plan.Update), len(res.Plan.Prune)
	applyStep := v1alpha1.LogStep{Name: "apply", Result: v1alpha1.ResultOK, DurationMillis: time.Since(t0).Milliseconds(),
		Detail: fmt.Sprintf("%d created, %d updated, %d pruned (revision %s)", rec.Created, rec.Updated, rec.Pruned, short(commit.Hash))}
	if syncErr != nil {
		applyStep.Result, applyStep.Detail = v1alpha1.ResultFail, syncErr.Error()
	}
	if p.reason == TriggerDrift && len(drift) > 0 {
		for i := range drift {
			drift[i].Reverted = syncErr == nil
		}
		rec.Steps = append(rec.Steps, v1alpha1.LogStep{Name: "self-heal", Result: v1alpha1.ResultOK, Detail: describeDrift(drift)})
	}
	rec.Steps = append(rec.Steps, applyStep)
	rec.Finished = metav1.Now()
	rec.Status = v1alpha1.LogSuccess
	if syncErr != nil {
		rec.Status = v1alpha1.LogFailed
	}
	if syncErr == nil && rel.Spec.Migration != nil {
		if step, ok := r.recordMigration(ctx, rel, res.Results); ok {
			rec.Steps = append(rec.Steps, step)
		}
	}
	// A new revision is verified before it counts as good.
	verify := p.rollout && syncErr == nil
	if p.rollout {
		rec.Strategy = describeStrategy(strategyOf(rel, v1alpha1.RolloutStatus{Strategy: v1alpha1.StrategyRolling}))
	}
	if verify {
		rec.Status, rec.Finished = v1alpha1.LogVerifying, metav1.Time{}
	} else {
		metricSyncs.WithLabelValues(req.String(), string(rec.Status)).Inc()
	}
	t1 := time.Now()
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.ObservedGeneration = rel.Generation
		s.DesiredRevision, s.ObservedRevision = commit.Hash, commit.Hash
		if syncErr == nil {
			s.Artifact, s.ObservedRender = p.artifact, rel.RenderDigest()
		}
		s.Resources = resourceStatuses(res.Results)
		now := metav1.Now()
		s.LastSyncTime = &now
		s.Drift = appendDrift(s.Drift, drift)
		s.DriftCount += len(drift)
		if syncErr != nil {
			s.Phase, s.Message = "Failed", syncErr.Error()
			setCondition(s, metav1.ConditionFalse, "SyncFailed", syncErr.Error(), rel.Generation)
		} else {
			s.Phase, s.Message = "Synced", applyStep.Detail
			setCondition(s, metav1.ConditionTrue, "Synced", applyStep.Detail, rel.Generation)
		}
		pushHistory(s, rec)
		if verify {
			s.Phase, s.Message = string(PhaseVerifying), "verifying revision "+short(commit.Hash)
			ro := rollout.Start(strategyOf(rel, v1alpha1.RolloutStatus{Strategy: v1alpha1.StrategyRolling}),
				v1alpha1.RolloutStatus{Revision: commit.Hash, Artifact: p.artifact, Render: rel.RenderDigest(), Version: p.version, LogID: s.History[0].ID, Message: "waiting for the new pods"},
				time.Now(), initialDelay(rel))
			s.Rollout = &ro
		}
	})
	stage("status", t1)
	if syncErr != nil {
		r.event(rel, corev1.EventTypeWarning, "SyncFailed", "revision %s: %v", short(commit.Hash), syncErr)
		log.Error(syncErr, "sync", "revision", commit.Hash)
		return ctrl.Result{RequeueAfter: min(p.interval, 30*time.Second)}, err
	}
	if p.reason == TriggerDrift && len(drift) > 0 {
		r.event(rel, corev1.EventTypeNormal, "DriftReverted", "%s", describeDrift(drift))
	}
	if (rec.Created+rec.Updated+rec.Pruned > 0 || p.newRevision) && !verify {
		// A revision to verify has one Event, at its end (RolloutSucceeded names what was
		// applied, or RolloutFailed): each is a write the API server serves to every watcher.
		r.event(rel, corev1.EventTypeNormal, "Synced", "%s", applyStep.Detail)
	}
	log.Info("synced", "revision", commit.Hash, "trigger", p.reason, "created", rec.Created, "updated", rec.Updated, "pruned", rec.Pruned)
	if verify {
		return ctrl.Result{RequeueAfter: 500 * time.Millisecond, Priority: ptr.To(rolloutPriority)}, err
	}
	return ctrl.Result{RequeueAfter: p.interval}, err
}

// scope refuses objects outside the Release's target namespace and cluster-scoped objects: a
// Release cannot reach beyond its namespace.
func (r *Reconciler) scope(objs []render.Object, rel *v1alpha1.Release) error {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		mapping, err := r.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s: %s %s: unknown kind: %w", o.Source, gvk.Kind, o.GetName(), err)
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return fmt.Errorf("%s: %s %s is cluster-scoped: a Release only deploys into its namespace", o.Source, gvk.Kind, o.GetName())
		}
		if _, ok := o.GetAnnotations()[admission.AnnotationRollback]; ok {
			return fmt.Errorf("%s: %s %s carries %s, the daemon's own rollback marker: remove it from git", o.Source, gvk.Kind, o.GetName(), admission.AnnotationRollback)
		}
		if ns := o.GetNamespace(); ns != "" && ns != rel.Target() {
			return fmt.Errorf("%s: %s %s is in namespace %s: this Release deploys into %s only", o.Source, gvk.Kind, o.GetName(), ns, rel.Target())
		}
	}
	return nil
}

// ignoreOwnedFields removes from the targets what other controllers own: spec.replicas of a
// workload an HPA scales, and the Release's ignoreDifferences. Removed fields are neither applied
// nor drift.
func (r *Reconciler) ignoreOwnedFields(ctx context.Context, rel *v1alpha1.Release, targets []*unstructured.Unstructured) error {
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := r.Client.List(ctx, &hpas, client.InNamespace(rel.Target())); err != nil && !meta.IsNoMatchError(err) {
		return err
	}
	scaled := map[string]bool{}
	for _, h := range hpas.Items {
		scaled[h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name] = true
	}
	for _, t := range targets {
		if t.GetKind() == "HorizontalPodAutoscaler" {
			if kind, _, _ := unstructured.NestedString(t.Object, "spec", "scaleTargetRef", "kind"); kind != "" {
				name, _, _ := unstructured.NestedString(t.Object, "spec", "scaleTargetRef", "name")
				scaled[kind+"/"+name] = true
			}
		}
	}
	for _, t := range targets {
		if scaled[t.GetKind()+"/"+t.GetName()] {
			unstructured.RemoveNestedField(t.Object, "spec", "replicas")
		}
		for _, ig := range rel.Spec.IgnoreDifferences {
			if ig.Kind != t.GetKind() || ig.Group != t.GroupVersionKind().Group || ig.Name != "" && ig.Name != t.GetName() {
				continue
			}
			for _, p := range ig.JSONPointers {
				fields := strings.Split(strings.Trim(p, "/"), "/")
				for i := range fields {
					fields[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(fields[i])
				}
				unstructured.RemoveNestedField(t.Object, fields...)
			}
		}
	}
	return nil
}

// preflight runs the gate on every object of the revision, as the webhook would see it applied
// by the daemon. It returns the log lines, when denied why (object and reasons), and the
// digests it verified (image as written → pinned reference).
func (r *Reconciler) preflight(ctx context.Context, eng *engine.Engine, objs []render.Object, targets []*unstructured.Unstructured, rel *v1alpha1.Release) ([]v1alpha1.LogStep, string, map[string]string, []v1alpha1.ArtifactEvidence) {
	var steps []v1alpha1.LogStep
	var denials, warnings, images []string
	var evidence []v1alpha1.ArtifactEvidence
	digests := map[string]string{}
	// Each workload reviewed as the webhook would see it applied — 8 at a time (a revision of 100
	// workloads), folded in the revision's order.
	type review struct {
		d   admission.Decision
		err error
	}
	// The target of each object: what will be applied (namespace, version tags). Hooks that ran
	// already are not targets (a spec change of the running revision): not applied, not reviewed.
	applied := map[string]*unstructured.Unstructured{}
	for _, t := range targets {
		applied[t.GroupVersionKind().GroupKind().String()+"/"+t.GetName()] = t
	}
	// Ownership is looked up while the gate reviews: both wait on the API server.
	owners := make(chan []string, 1)
	go func() {
		defer func() { // off the reconcile's goroutine: controller-runtime's recovery is not here
			if v := recover(); v != nil {
				owners <- []string{fmt.Sprintf("the ownership check failed: panic: %v", v)}
			}
		}()
		owners <- r.preflightOwners(ctx, eng, targets, rel)
	}()
	writer := r.writer(rel)
	reviews := make([]*review, len(objs))
	var g errgroup.Group
	g.SetLimit(8)
	for i, o := range objs {
		target := applied[o.GroupVersionKind().GroupKind().String()+"/"+o.GetName()]
		if !workload.Supported(o.GetAPIVersion(), o.GetKind()) || target == nil {
			continue
		}
		reviews[i] = &review{}
		g.Go(func() error {
			defer func() { // off the reconcile's goroutine: controller-runtime's recovery is not here
				if v := recover(); v != nil {
					reviews[i].err = fmt.Errorf("panic: %v", v)
				}
			}()
			// Reviewed as the webhook would see it applied: an UPDATE of the object bollard's
			// cache holds, else a CREATE — unless the Release adopts objects, whose unlabelled
			// ones only the API server knows (without adopt, an unlabelled one is refused below).
			req := admission.Request{Operation: "CREATE", User: writer, Object: target.DeepCopy()}
			if cached, ok := eng.Cached(kube.GetResourceKey(target)); ok && cached.GetAPIVersion() == target.GetAPIVersion() {
				req.Operation, req.OldObject = "UPDATE", cached
			} else if ok || rel.Spec.Adopt {
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(o.GroupVersionKind())
				if err := r.Client.Get(ctx, client.ObjectKey{Namespace: target.GetNamespace(), Name: o.GetName()}, live); err == nil {
					req.Operation, req.OldObject = "UPDATE", live
				}
			}
			reviews[i].d, reviews[i].err = r.Gate.Review(ctx, req)
			return nil
		})
	}
	_ = g.Wait()
	checked := 0
	for i, o := range objs {
		if reviews[i] == nil {
			continue
		}
		checked++
		d, err := reviews[i].d, reviews[i].err
		if err != nil {
			denials = append(denials, fmt.Sprintf("%s %s (%s): the decision failed: %v", o.GetKind(), o.GetName(), o.Source, err))
			continue
		}
		for _, w := range d.Warnings {
			warnings = append(warnings, fmt.Sprintf("%s %s: %s", o.GetKind(), o.GetName(), w))
		}
		if !d.Allowed {
			denials = append(denials, fmt.Sprintf("%s %s (%s): %s", o.GetKind(), o.GetName(), o.Source, strings.Join(d.Reasons, "; ")))
		}
		maps.Copy(digests, d.Digests)
		for _, line := range d.Images {
			if !slices.Contains(images, line) {
				images = append(images, line)
			}
		}
		for _, e := range d.Evidence { // once per image and policy, in the revision's order
			if !slices.ContainsFunc(evidence, func(x v1alpha1.ArtifactEvidence) bool { return x.Image == e.Image && x.Policy == e.Policy }) {
				evidence = append(evidence, e)
			}
		}
	}
	denials = append(denials, r.preflightRemovals(ctx, targets, rel)...)
	denials = append(denials, <-owners...)
	result := "OK"
	switch {
	case len(denials) > 0:
		result = "FAIL"
	case len(warnings) > 0:
		result = "WARN"
	}
	concerns := "freeze, flags, risky changes, schema, signatures"
	if !r.Gate.VerifiesImages() {
		concerns = "freeze, flags, risky changes, schema; signatures NOT verified: verification is off"
	}
	detail := fmt.Sprintf("%d workloads checked (%s)", checked, concerns)
	if len(denials) > 0 {
		detail = strings.Join(denials, "; ")
	} else if len(warnings) > 0 {
		detail += ": " + strings.Join(warnings, "; ")
	}
	if len(images) > 0 {
		detail += "; images: " + strings.Join(images, "; ")
	}
	steps = append(steps, v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.StepResult(result), Detail: detail})
	return steps, strings.Join(denials, "; "), digests, evidence
}

// preflightOwners refuses to write an object another Release manages (naming it), or one that
// exists without an owner unless the Release says adopt: true. Only objects the Release does not
// record as its own yet are looked up: whose objects carry bollard's labels is in the engine's
// cache, unlabelled objects in the cache of unmanaged objects (neither makes a request).
func (r *Reconciler) preflightOwners(ctx context.Context, eng *engine.Engine, targets []*unstructured.Unstructured, rel *v1alpha1.Release) []string {
	own := map[string]bool{}
	for _, res := range rel.Status.Resources {
		own[res.Kind+"/"+res.Namespace+"/"+res.Name] = true
	}
	var denials []string
	var unknown []*unstructured.Unstructured
	keys := map[kube.ResourceKey]*unstructured.Unstructured{}
	for _, t := range targets {
		if !own[t.GetKind()+"/"+t.GetNamespace()+"/"+t.GetName()] {
			keys[kube.GetResourceKey(t)] = t
		}
	}
	owners := eng.Owners(keys)
	for k, t := range keys {
		switch owner, ok := owners[k]; {
		case !ok:
			unknown = append(unknown, t)
		case owner != engine.Key{Namespace: rel.Namespace, Name: rel.Name}:
			denials = append(denials, fmt.Sprintf("%s %s is managed by Release %s/%s: a Release never takes over another's objects", t.GetKind(), objectName(t), owner.Namespace, owner.Name))
		}
	}
	if !rel.Spec.Adopt {
		groups := map[schema.GroupVersionKind]map[string][]*unstructured.Unstructured{}
		for _, t := range unknown {
			gvk := t.GroupVersionKind()
			if groups[gvk] == nil {
				groups[gvk] = map[string][]*unstructured.Unstructured{}
			}
			groups[gvk][t.GetNamespace()] = append(groups[gvk][t.GetNamespace()], t)
		}
		// The kinds at once: a List (a kind the cache cannot watch) waits on the API server, not
		// on the others.
		var mu sync.Mutex
		var g errgroup.Group
		for gvk, byNS := range groups {
			for ns, ts := range byNS {
				g.Go(func() error {
					names, err := r.unmanaged.names(ctx, r.Reader, gvk, ns)
					if err != nil {
						return nil // not readable: the apply says why
					}
					mu.Lock()
					defer mu.Unlock()
					for _, t := range ts {
						if names[t.GetName()] {
							denials = append(denials, fmt.Sprintf("%s %s exists and no Release manages it: set spec.adopt: true to take it over", t.GetKind(), objectName(t)))
						}
					}
					return nil
				})
			}
		}
		_ = g.Wait()
	}
	sort.Strings(denials)
	return denials
}

func objectName(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// preflightRemovals reviews, as deletes, the workloads the Release manages that the revision no
// longer has (pruning would delete them): during a freeze that gates deletes, removing a workload
// from git is refused like deleting it by hand. The webhook admits the daemon's own deletes by its
// identity because of this check.
func (r *Reconciler) preflightRemovals(ctx context.Context, targets []*unstructured.Unstructured, rel *v1alpha1.Release) []string {
	if !rel.Pruning() {
		return nil
	}
	kept := map[string]bool{}
	for _, t := range targets {
		kept[t.GetKind()+"/"+t.GetName()] = true
	}
	var denials []string
	for _, res := range rel.Status.Resources {
		apiVersion, gated := admission.DeleteKinds[res.Kind]
		if !gated || kept[res.Kind+"/"+res.Name] || res.Status == "Pruned" {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetAPIVersion(apiVersion)
		live.SetKind(res.Kind)
		ns := res.Namespace
		if ns == "" {
			ns = rel.Target()
		}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: res.Name}, live); err != nil {
			continue // gone already: nothing to delete
		}
		d, err := r.Gate.Review(ctx, admission.Request{Operation: "DELETE", User: r.writer(rel), OldObject: live})
		switch {
		case err != nil:
			denials = append(denials, fmt.Sprintf("%s %s (removed from git): the decision failed: %v", res.Kind, res.Name, err))
		case !d.Allowed:
			denials = append(denials, fmt.Sprintf("%s %s (removed from git, so pruning would delete it): %s", res.Kind, res.Name, strings.Join(d.Reasons, "; ")))
		}
	}
	return denials
}

// credentials reads the Release's Secret.
func (r *Reconciler) credentials(ctx context.Context, rel *v1alpha1.Release) (source.Credentials, error) {
	ref := rel.Spec.Source.SecretRef
	if ref == nil {
		return source.Credentials{}, nil
	}
	c, err := r.clientFor(rel)
	if err != nil {
		return source.Credentials{}, err
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: ref.Name}, &s); err != nil {
		return source.Credentials{}, fmt.Errorf("credentials Secret %s: %w", ref.Name, err)
	}
	return source.Credentials{Username: string(s.Data["username"]), Password: string(s.Data["password"]),
		SSHPrivateKey: s.Data["sshPrivateKey"], KnownHosts: s.Data["knownHosts"]}, nil
}

// refuse records a revision that is not applied (render error, pre-flight denial): the live state
// is untouched, the status and the log say why.
func (r *Reconciler) refuse(ctx context.Context, rel *v1alpha1.Release, log logr.Logger, rec v1alpha1.DeploymentLog, commit source.Commit, reason, why string, interval time.Duration) (ctrl.Result, error) {
	rec.Status, rec.Finished = "REFUSED", metav1.Now()
	metricSyncs.WithLabelValues(rel.Namespace+"/"+rel.Name, string(rec.Status)).Inc()
	msg := fmt.Sprintf("revision %s not applied: %s", short(commit.Hash), why)
	r.event(rel, corev1.EventTypeWarning, reason, "%s", msg)
	log.Info("refused", "revision", commit.Hash, "reason", why)
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		if c := meta.FindStatusCondition(s.Conditions, "Ready"); rec.Trigger != "deploy" && s.DesiredRevision == commit.Hash && s.Phase == "Refused" &&
			c != nil && c.Reason == reason {
			return // already recorded: a poll of the same refused revision adds nothing (a freeze's message counts down)
		}
		s.DesiredRevision, s.Phase, s.Message = commit.Hash, "Refused", msg
		s.ObservedGeneration = rel.Generation
		setCondition(s, metav1.ConditionFalse, reason, msg, rel.Generation)
		pushHistory(s, rec)
	})
	return ctrl.Result{RequeueAfter: interval}, err
}

func (r *Reconciler) fail(ctx context.Context, rel *v1alpha1.Release, log logr.Logger, what string, cause error, interval time.Duration) (ctrl.Result, error) {
	log.Error(cause, what)
	r.event(rel, corev1.EventTypeWarning, "FetchFailed", "%s: %v", what, cause)
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Phase, s.Message = "Failed", fmt.Sprintf("%s: %v", what, cause)
		setCondition(s, metav1.ConditionFalse, "FetchFailed", s.Message, rel.Generation)
	})
	return ctrl.Result{RequeueAfter: min(interval, 30*time.Second)}, err
}

// reportDrift records drift without reverting it (selfHeal off).
func (r *Reconciler) reportDrift(ctx context.Context, rel *v1alpha1.Release, drift []v1alpha1.DriftRecord, interval time.Duration) (ctrl.Result, error) {
	if len(drift) == 0 {
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	r.event(rel, corev1.EventTypeWarning, "Drift", "%s (selfHeal is off: not reverted)", describeDrift(drift))
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Drift = appendDrift(s.Drift, drift)
		s.DriftCount += len(drift)
		s.Phase, s.Message = "OutOfSync", describeDrift(drift)+" (selfHeal is off: not reverted)"
	})
	return ctrl.Result{RequeueAfter: interval}, err
}

// holdFailed is a pass over a Release whose failed revision stays where it stopped (halted, or
// nothing to return to): nothing is applied until git moves on or a person asks; drift is only
// recorded.
func (r *Reconciler) holdFailed(ctx context.Context, rel *v1alpha1.Release, drift []v1alpha1.DriftRecord, interval time.Duration) (ctrl.Result, error) {
	if len(drift) == 0 {
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	why := fmt.Sprintf("revision %s failed: not applied again until git moves on or bollard deploy", short(rel.Status.FailedRevision))
	r.event(rel, corev1.EventTypeWarning, "Drift", "%s (%s: not reverted)", describeDrift(drift), why)
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) {
		s.Drift = appendDrift(s.Drift, drift)
		s.DriftCount += len(drift)
	})
	return ctrl.Result{RequeueAfter: interval}, err
}

// commitOf is what the Release's Deployment Logs say of revision (its hash alone when they say
// nothing, or cannot be read).
func (r *Reconciler) commitOf(ctx context.Context, rel *v1alpha1.Release, revision string) source.Commit {
	logs, err := r.logs(ctx, rel)
	if err != nil {
		logs = rel.Status.History
	}
	for _, l := range logs {
		if l.Revision == revision && l.Author != "" {
			return source.Commit{Hash: revision, Author: l.Author, Message: l.Message}
		}
	}
	return source.Commit{Hash: revision}
}

func (r *Reconciler) setPhase(ctx context.Context, rel *v1alpha1.Release, phase, msg string, interval time.Duration) (ctrl.Result, error) {
	err := r.updateStatus(ctx, rel, func(s *v1alpha1.ReleaseStatus) { s.Phase, s.Message = phase, msg })
	return ctrl.Result{RequeueAfter: interval}, err
}

func (r *Reconciler) updateStatus(ctx context.Context, rel *v1alpha1.Release, change func(*v1alpha1.ReleaseStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur v1alpha1.Release
		if err := r.getRelease(ctx, client.ObjectKeyFromObject(rel), &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		before := cur.Status.DeepCopy()
		change(&cur.Status)
		spans := r.traceLogs(ctx, &cur, before, &cur.Status) // a new log's trace IDs; spans of what the logs gained
		notes := r.notifyLogs(&cur, before, &cur.Status)
		r.record(ctx, &cur, before, &cur.Status) // finished logs kept as DeploymentRecords, and out of status; the pointer advanced
		if equality.Semantic.DeepEqual(before, &cur.Status) {
			return nil // nothing new: no write (a rollout waiting for its pods asks every 500 ms)
		}
		r.writing(&cur)
		err := r.Client.Status().Update(ctx, &cur)
		if err == nil {
			r.wrote(&cur)
			spans()
			notes()
		}
		return err
	})
}

// getRelease reads the Release for a reconcile, which must see the status the last one wrote:
// from the manager's cache when it holds exactly what this daemon wrote last (the
// resourceVersion its last write returned), else from the API server. A write by someone else
// since shows as another resourceVersion (read live); one the cache has not seen yet makes this
// daemon's next write conflict.
//
// A Release this daemon has not written since it started is read from the cache: it synced
// before the first reconcile, so it holds every earlier write (a previous daemon's included).
func (r *Reconciler) getRelease(ctx context.Context, key client.ObjectKey, rel *v1alpha1.Release) error {
	if rv, ok := r.written.Load(key); r.Reader != nil && (!ok || rv != "") {
		if err := r.Client.Get(ctx, key, rel); err == nil && (!ok || rel.ResourceVersion == rv) {
			return nil
		}
	}
	return r.reader().Get(ctx, key, rel)
}

// wrote notes the resourceVersion of a Release this daemon just wrote.
func (r *Reconciler) wrote(rel *v1alpha1.Release) {
	r.written.Store(client.ObjectKeyFromObject(rel), rel.ResourceVersion)
}

// writing forgets what this daemon wrote to rel last, before it writes again: until the write
// is known to have landed (wrote), the Release is read live — a write that fails on the client
// may still have been stored, and one this daemon does not record (an annotation cleared) must
// not leave the cache's older copy looking current.
func (r *Reconciler) writing(rel *v1alpha1.Release) {
	r.written.Store(client.ObjectKeyFromObject(rel), "")
}

func (r *Reconciler) event(rel *v1alpha1.Release, typ, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rel, nil, typ, reason, "Sync", format, args...)
	}
	switch reason {
	case "DriftReverted", "Drift":
		r.notifyDrift(rel, reason == "DriftReverted", fmt.Sprintf(format, args...))
	}
}

func setCondition(s *v1alpha1.ReleaseStatus, status metav1.ConditionStatus, reason, msg string, gen int64) {
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: "Ready", Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}

func pushHistory(s *v1alpha1.ReleaseStatus, rec v1alpha1.DeploymentLog) {
	rec.ID = s.LastRecordID + 1 // the logs kept as records are gone from status
	if len(s.History) > 0 && s.History[0].ID >= rec.ID {
		rec.ID = s.History[0].ID + 1
	}
	s.History = append([]v1alpha1.DeploymentLog{rec}, s.History...)
	if len(s.History) > historyLimit {
		s.History = s.History[:historyLimit]
	}
}

func appendDrift(list, more []v1alpha1.DriftRecord) []v1alpha1.DriftRecord {
	list = append(more, list...)
	if len(list) > 20 {
		list = list[:20]
	}
	return list
}

func describeDrift(drift []v1alpha1.DriftRecord) string {
	var parts []string
	for _, d := range drift {
		parts = append(parts, fmt.Sprintf("%s %s changed out of band: %s", d.Kind, d.Name, strings.Join(d.Fields, ", ")))
	}
	slices.Sort(parts)
	return strings.Join(slices.Compact(parts), "; ")
}

func resourceStatuses(results []common.ResourceSyncResult) []v1alpha1.ResourceStatus {
	var out []v1alpha1.ResourceStatus
	for _, r := range results {
		if r.HookType != "" {
			continue
		}
		rs := v1alpha1.ResourceStatus{Kind: r.ResourceKey.Kind, Namespace: r.ResourceKey.Namespace, Name: r.ResourceKey.Name, Status: string(r.Status)}
		if r.Status != common.ResultCodeSynced {
			// A plain apply's message repeats kind, name and status ("configmap/x
			// serverside-applied"): a tenth of a Release's size, in every status write.
			rs.Message = r.Message
		}
		out = append(out, rs)
	}
	return out
}

// images lists the container images of the targets' pod templates.
func images(targets []*unstructured.Unstructured) []string {
	var out []string
	for _, t := range targets {
		if !workload.Supported(t.GetAPIVersion(), t.GetKind()) {
			continue
		}
		w, err := workload.FromObject(t)
		if err != nil {
			continue
		}
		for _, c := range w.Containers() {
			if !slices.Contains(out, c.Image) {
				out = append(out, c.Image)
			}
		}
	}
	return out
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
