// Package engine applies a Release's objects through gitops-engine: one watch-based cluster cache
// for the daemon (only objects bollard labelled are listed and watched), sync operations with
// waves, hooks (PreSync migration Jobs) and pruning limited to the Release's own objects, and a
// drift feed — every change to a managed object is diffed against what git says.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/diff"
	gsync "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/tracing"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// Labels that mark an object as a Release's: only such objects are watched, and only they are
// ever pruned.
const (
	LabelRelease          = "bollard.dev/release"
	LabelReleaseNamespace = "bollard.dev/release-namespace"
)

// FieldManager is bollard's server-side apply field manager.
const FieldManager = "bollard"

// applyParallelism bounds concurrent writes across all Releases; urgentParallelism more are
// kept for writes under Urgent.
const (
	applyParallelism  = 32
	urgentParallelism = 8
)

type urgentKey struct{}

// Urgent marks the writes made under ctx as a push's, a drift's or a rollback's: they may also
// take a slot of their own, so with 1,000 Releases syncing they are not queued behind the
// backlog's writes.
func Urgent(ctx context.Context) context.Context { return context.WithValue(ctx, urgentKey{}, true) }

// Key names a Release.
type Key struct{ Namespace, Name string }

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Change is a managed object that now differs from what git says.
type Change struct {
	Release Key
	Object  kube.ResourceKey
	// Fields are the paths that differ ("deleted" when the object is gone). Paths only: values,
	// above all Secret data, are never carried.
	Fields []string
}

// Engine is gitops-engine's cluster cache and sync, for every Release of the daemon.
type Engine struct {
	cfg     *rest.Config
	cache   cache.ClusterCache
	kubectl *directKubectl
	disco   *discoveryCache
	log     logr.Logger

	namespaces []string // the cache's scope (empty: the whole cluster)

	mu      sync.Mutex
	desired map[Key]map[kube.ResourceKey]*unstructured.Unstructured // what git says, per Release
	applied map[kube.ResourceKey]appliedState                       // what each object's last apply left
	// Every object the cache holds (all carry bollard's labels), and each Release's keys: the
	// cache itself only offers scans, and GetManagedLiveObjs copies all of it on every call —
	// quadratic, with the cache locked, once a daemon manages thousands of objects.
	objects   map[kube.ResourceKey]cached
	byRelease map[Key]map[kube.ResourceKey]struct{}
	seeding   map[kube.ResourceKey]bool // changed while the index was seeded (nil afterwards)
	events    chan resourceEvent
	onDrift   func(Change)
}

// appliedState is what bollard's last apply of an object left: its watch event at rv is no drift;
// a cached copy older than generation has not seen the apply.
type appliedState struct {
	rv         string
	generation int64
}

// cached is an object of the cluster cache as the index keeps it.
type cached struct {
	owner     Key
	res       *cache.Resource
	ownerRefs int // owned by another object (a child): never a Release's top-level object
}

type resourceEvent struct {
	release Key
	key     kube.ResourceKey
	live    *unstructured.Unstructured // nil: deleted
	old     *unstructured.Unstructured // nil: created (or first seen)
}

// info is what the cache keeps per object: whose it is.
type info struct{ release Key }

// ownerOf is the Release whose object r is (false: r carries no bollard labels).
func ownerOf(r *cache.Resource) (Key, bool) {
	in, ok := r.Info.(*info)
	if !ok || in == nil {
		return Key{}, false
	}
	return in.release, true
}

// managedBy is the cache predicate of rel's objects.
func managedBy(rel Key) func(*cache.Resource) bool {
	return func(r *cache.Resource) bool {
		owner, ok := ownerOf(r)
		return ok && owner == rel
	}
}

// labelFilter makes the cache list and watch only objects that carry bollard's release label.
type labelFilter struct{}

func (labelFilter) IsExcludedResource(group, kind, _ string) bool {
	// Events and Endpoints churn and are never applied from git; DeploymentRecords are the
	// daemon's own audit trail (never watched).
	return (group == "" && (kind == "Event" || kind == "Endpoints")) || (group == "events.k8s.io" && kind == "Event") ||
		(group == "bollard.dev" && kind == "DeploymentRecord") ||
		(group == "discovery.k8s.io" && kind == "EndpointSlice") || (group == "coordination.k8s.io" && kind == "Lease")
}

func (labelFilter) GetLabelSelector(string, string, string) string { return LabelRelease }

// New starts the cluster cache over namespaces (empty: the whole cluster); it returns once the
// cache has synced. onDrift is called, from one goroutine, for each managed object that differs
// from its desired state after a change.
func New(ctx context.Context, cfg *rest.Config, log logr.Logger, namespaces []string, onDrift func(Change)) (*Engine, error) {
	e := &Engine{cfg: cfg, log: log, disco: &discoveryCache{ttl: 30 * time.Second}, namespaces: namespaces, desired: map[Key]map[kube.ResourceKey]*unstructured.Unstructured{},
		applied: map[kube.ResourceKey]appliedState{}, objects: map[kube.ResourceKey]cached{}, byRelease: map[Key]map[kube.ResourceKey]struct{}{},
		seeding: map[kube.ResourceKey]bool{}, events: make(chan resourceEvent, 4096), onDrift: onDrift}
	// gitops-engine applies every object of a wave at once: bound how many writes run together.
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	e.kubectl = &directKubectl{Kubectl: &kube.KubectlCmd{Log: log, Tracer: tracing.NopTracer{}},
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)), mappings: &sync.Map{}, slots: make(chan struct{}, applyParallelism), urgent: make(chan struct{}, urgentParallelism), applied: e.appliedAt}
	e.cache = cache.NewClusterCache(cfg,
		cache.SetClusterResources(false),
		cache.SetNamespaces(namespaces),
		cache.SetLogr(log),
		cache.SetRespectRBAC(cache.RespectRbacNormal),
		cache.SetSettings(cache.Settings{ResourcesFilter: labelFilter{}}),
		cache.SetPopulateResourceInfoHandler(func(un *unstructured.Unstructured, _ bool) (any, bool) {
			l := un.GetLabels()
			if l[LabelRelease] == "" {
				return nil, false
			}
			return &info{release: Key{Namespace: l[LabelReleaseNamespace], Name: l[LabelRelease]}}, true
		}),
	)
	// Runs under the cache's lock: hand the event over, never block.
	e.cache.OnResourceUpdated(func(newRes, oldRes *cache.Resource, _ map[kube.ResourceKey]*cache.Resource) {
		r := newRes
		if r == nil {
			r = oldRes
		}
		owner, ok := ownerOf(r)
		e.index(r.ResourceKey(), newRes)
		if !ok {
			return
		}
		ev := resourceEvent{release: owner, key: r.ResourceKey()}
		if newRes != nil {
			ev.live = newRes.Resource
		}
		if oldRes != nil {
			ev.old = oldRes.Resource
		}
		select {
		case e.events <- ev:
		default:
			e.log.Info("drift queue full: a change is checked at the next sync", "object", ev.key.String())
		}
	})
	if err := e.cache.EnsureSynced(); err != nil {
		return nil, fmt.Errorf("cluster cache: %w", err)
	}
	// The initial list fills the cache without events: seed the index from it, keeping what an
	// event already said (it is newer).
	all := e.cache.FindResources("")
	e.mu.Lock()
	for k, r := range all {
		if !e.seeding[k] {
			e.indexLocked(k, r)
		}
	}
	e.seeding = nil
	e.mu.Unlock()
	go e.watchDrift(ctx)
	return e, nil
}

// index records the cache's change of key (r nil: gone).
func (e *Engine) index(key kube.ResourceKey, r *cache.Resource) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seeding != nil {
		e.seeding[key] = true
	}
	e.indexLocked(key, r)
}

func (e *Engine) indexLocked(key kube.ResourceKey, r *cache.Resource) {
	if old, ok := e.objects[key]; ok {
		delete(e.byRelease[old.owner], key)
		if len(e.byRelease[old.owner]) == 0 {
			delete(e.byRelease, old.owner)
		}
		delete(e.objects, key)
	}
	owner, ok := Key{}, false
	if r != nil {
		owner, ok = ownerOf(r)
	}
	if !ok {
		return
	}
	e.objects[key] = cached{owner: owner, res: r, ownerRefs: len(r.OwnerRefs)}
	if e.byRelease[owner] == nil {
		e.byRelease[owner] = map[kube.ResourceKey]struct{}{}
	}
	e.byRelease[owner][key] = struct{}{}
}

// managedLive is gitops-engine's GetManagedLiveObjs from the index: rel's top-level objects, and
// each target that exists under another owner or is of a kind the cache does not watch (read
// from the API server), each in its target's version.
func (e *Engine) managedLive(ctx context.Context, rel Key, targets []*unstructured.Unstructured) (map[kube.ResourceKey]*unstructured.Unstructured, error) {
	if len(e.namespaces) > 0 {
		for _, o := range targets {
			switch {
			case o.GetNamespace() == "":
				return nil, fmt.Errorf("cluster level %s %q can not be managed when in namespaced mode", o.GetKind(), o.GetName())
			case !slices.Contains(e.namespaces, o.GetNamespace()):
				return nil, fmt.Errorf("namespace %q for %s %q is not managed", o.GetNamespace(), o.GetKind(), o.GetName())
			}
		}
	}
	found := map[kube.ResourceKey]*cache.Resource{}
	e.mu.Lock()
	for k := range e.byRelease[rel] {
		if c := e.objects[k]; c.ownerRefs == 0 {
			found[k] = c.res
		}
	}
	for _, t := range targets {
		k := kube.GetResourceKey(t)
		if c, ok := e.objects[k]; ok && found[k] == nil {
			found[k] = c.res
		}
	}
	e.mu.Unlock()
	live := make(map[kube.ResourceKey]*unstructured.Unstructured, len(found))
	for k, r := range found {
		m, err := r.GetManifest() // a copy
		if err != nil {
			return nil, fmt.Errorf("cached %s: %w", k, err)
		}
		if m != nil {
			live[k] = m
		}
	}
	watched := map[schema.GroupKind]bool{}
	for _, api := range e.cache.GetAPIResources() {
		watched[api.GroupKind] = true
	}
	for _, t := range targets {
		k := kube.GetResourceKey(t)
		gvk := t.GroupVersionKind()
		obj := live[k]
		if obj == nil && !watched[k.GroupKind()] {
			var err error
			if obj, err = e.kubectl.GetResource(ctx, e.cfg, gvk, t.GetName(), t.GetNamespace()); apierrors.IsNotFound(err) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("unexpected error getting managed object: %w", err)
			}
		}
		if obj == nil {
			continue
		}
		converted, err := e.kubectl.ConvertToVersion(obj, gvk.Group, gvk.Version)
		if err != nil { // as gitops-engine: read it in the target's version instead
			if converted, err = e.kubectl.GetResource(ctx, e.cfg, gvk, obj.GetName(), obj.GetNamespace()); apierrors.IsNotFound(err) {
				delete(live, k)
				continue
			} else if err != nil {
				return nil, fmt.Errorf("unexpected error getting managed object: %w", err)
			}
		}
		live[k] = converted
	}
	return live, nil
}

// Invalidate drops the cache (tests and shutdown).
func (e *Engine) Invalidate() { e.cache.Invalidate() }

func (e *Engine) watchDrift(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-e.events:
			e.mu.Lock()
			want := e.desired[ev.release][ev.key]
			own := ev.live != nil && e.applied[ev.key].rv == ev.live.GetResourceVersion()
			if ev.live == nil {
				delete(e.applied, ev.key)
			}
			e.mu.Unlock()
			if want == nil {
				e.log.V(1).Info("change to an object git does not hold", "object", ev.key.String())
				continue // not (or no longer) in git: pruning is the sync's business
			}
			// The object as bollard's own apply left it, or a change of its status only (a
			// controller at work — the object as it was is what the last check saw): no diff.
			if own || ev.live != nil && ev.old != nil && sameButStatus(ev.old, ev.live) {
				continue
			}
			var fields []string
			if ev.live == nil {
				fields = []string{"deleted"}
			} else {
				var err error
				if fields, err = Drift(ctx, want, ev.live); err != nil {
					e.log.Error(err, "diff", "object", ev.key.String())
					continue
				}
			}
			e.log.V(1).Info("change", "object", ev.key.String(), "drift", fields)
			if len(fields) > 0 && e.onDrift != nil {
				e.onDrift(Change{Release: ev.release, Object: ev.key, Fields: fields})
			}
		}
	}
}

// sameButStatus tells whether a and b differ at most in status and bookkeeping metadata
// (resourceVersion, managedFields, generation).
func sameButStatus(a, b *unstructured.Unstructured) bool {
	strip := func(o map[string]any) map[string]any {
		c := make(map[string]any, len(o))
		for k, v := range o {
			if k != "status" {
				c[k] = v
			}
		}
		if m, ok := o["metadata"].(map[string]any); ok {
			mc := make(map[string]any, len(m))
			for k, v := range m {
				if k != "resourceVersion" && k != "managedFields" && k != "generation" {
					mc[k] = v
				}
			}
			c["metadata"] = mc
		}
		return c
	}
	return reflect.DeepEqual(strip(a.Object), strip(b.Object))
}

// appliedAt records the resourceVersion bollard's apply left obj at: its watch event is no drift.
func (e *Engine) appliedAt(obj *unstructured.Unstructured) {
	e.mu.Lock()
	e.applied[kube.GetResourceKey(obj)] = appliedState{rv: obj.GetResourceVersion(), generation: obj.GetGeneration()}
	e.mu.Unlock()
}

// Workloads returns rel's Deployments and StatefulSets in namespace as the cache holds them — if
// the cache has seen each of them at least as new as bollard's last apply (its generation), and
// holds none the last sync did not apply (one pruned a moment ago). ok false: the cache may be
// behind (or the daemon restarted since the apply): read them from the API server.
func (e *Engine) Workloads(rel Key, namespace string) (objs []*unstructured.Unstructured, ok bool) {
	isWorkload := func(k kube.ResourceKey) bool {
		return k.Group == "apps" && (k.Kind == "Deployment" || k.Kind == "StatefulSet") && k.Namespace == namespace
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	desired := e.desired[rel]
	if desired == nil {
		return nil, false
	}
	for k := range desired {
		if !isWorkload(k) {
			continue
		}
		st, applied := e.applied[k]
		c, held := e.objects[k]
		if !applied || !held || c.owner != rel || c.res.Resource == nil || c.res.Resource.GetGeneration() < st.generation {
			return nil, false
		}
	}
	for k := range e.byRelease[rel] {
		if !isWorkload(k) || e.objects[k].ownerRefs > 0 {
			continue
		}
		if desired[k] == nil {
			return nil, false
		}
		objs = append(objs, e.objects[k].res.Resource)
	}
	return objs, true
}

// Owners says which Release manages each of keys that carries bollard's labels, from the cache.
func (e *Engine) Owners(keys map[kube.ResourceKey]*unstructured.Unstructured) map[kube.ResourceKey]Key {
	out := map[kube.ResourceKey]Key{}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range keys {
		if c, ok := e.objects[k]; ok {
			out[k] = c.owner
		}
	}
	return out
}

// Cached is a copy of the object at key as the cache holds it (false: the cache holds no such
// object — it does not exist, or carries no bollard labels).
func (e *Engine) Cached(key kube.ResourceKey) (*unstructured.Unstructured, bool) {
	e.mu.Lock()
	c, ok := e.objects[key]
	e.mu.Unlock()
	if !ok || c.res.Resource == nil {
		return nil, false
	}
	return c.res.Resource.DeepCopy(), true
}

// Label marks objects as the Release's.
func Label(objs []*unstructured.Unstructured, rel Key) {
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[LabelRelease], l[LabelReleaseNamespace] = rel.Name, rel.Namespace
		o.SetLabels(l)
	}
}

// Plan is what a sync would do: objects to create, to update (with the fields that differ) and to
// prune.
type Plan struct {
	Create, Prune []kube.ResourceKey
	Update        map[kube.ResourceKey][]string
}

// Options of a sync.
type Options struct {
	Prune    bool
	Revision string
	// Impersonate is whom the sync's requests are sent as (zero: the engine's own identity).
	Impersonate rest.ImpersonationConfig
}

// Result of a sync.
type Result struct {
	Plan    Plan
	Phase   common.OperationPhase
	Message string
	Results []common.ResourceSyncResult
}

// Sync applies targets (labelled with Label) for rel into namespace, prunes the Release's objects
// that are no longer targets (when opts.Prune), runs hooks and waves, and waits until the
// operation completes or ctx ends. A fresh sync context is built for every step from the cache,
// as Argo CD's controller does; state is carried over.
func (e *Engine) Sync(ctx context.Context, rel Key, targets []*unstructured.Unstructured, namespace string, opts Options) (Result, error) {
	desired := map[kube.ResourceKey]*unstructured.Unstructured{}
	for _, t := range targets {
		if t.GetNamespace() == "" {
			t.SetNamespace(namespace)
		}
		desired[kube.GetResourceKey(t)] = t
	}
	e.mu.Lock()
	e.desired[rel] = desired
	e.mu.Unlock()

	isManaged := managedBy(rel)
	res := Result{}
	wake := make(chan struct{}, 1)
	unsubscribe := e.cache.OnResourceUpdated(func(newRes, oldRes *cache.Resource, _ map[kube.ResourceKey]*cache.Resource) {
		r := newRes
		if r == nil {
			r = oldRes
		}
		if isManaged(r) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	defer unsubscribe()
	cfg := e.configAs(opts.Impersonate)
	started := metav1.Now() // constant: hooks with generateName are named from it
	var phase common.OperationPhase
	var message string
	var results []common.ResourceSyncResult
	first := true
	poll := 50 * time.Millisecond
	for {
		live, err := e.managedLive(ctx, rel, targets)
		if err != nil {
			return res, err
		}
		rr := gsync.Reconcile(targets, live, namespace, e.cache)
		if first {
			res.Plan = plan(ctx, rr)
			first = false
		}
		sc, cleanup, err := gsync.NewSyncContext(opts.Revision, rr, cfg, cfg, e.kubectl, namespace,
			gsync.WithLogr(e.log),
			gsync.WithOperationSettings(false, opts.Prune, false, false),
			gsync.WithPrune(opts.Prune),
			// The API server validates every object anyway; kubectl's client-side validation
			// would fetch and parse the OpenAPI schema for each apply.
			gsync.WithManifestValidation(false),
			// Server-side apply, forcing conflicts: git's fields are bollard's, whoever wrote them
			// since; fields other writers own and git never sets stay theirs.
			gsync.WithServerSideApply(true), gsync.WithServerSideApplyManager(FieldManager),
			gsync.WithInitialState(phase, message, results, started),
		)
		if err != nil {
			return res, err
		}
		sc.Sync(ctx)
		phase, message, results = sc.GetState()
		cleanup()
		res.Phase, res.Message, res.Results = phase, message, results
		if phase.Completed() {
			if !phase.Successful() {
				return res, fmt.Errorf("sync %s: %s", phase, message)
			}
			return res, nil
		}
		// The next step when a managed object changes, or soon: the operation may be waiting for
		// nothing but another look (a push's one Deployment is applied in one step, complete in
		// the next), so look again after 50 ms, backing off to 1 s.
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-wake:
		case <-time.After(poll):
		}
		poll = min(2*poll, time.Second)
	}
}

// Plan says what a sync of targets would do now, without doing it.
func (e *Engine) Plan(ctx context.Context, rel Key, targets []*unstructured.Unstructured, namespace string) (Plan, error) {
	live, err := e.managedLive(ctx, rel, targets)
	if err != nil {
		return Plan{}, err
	}
	return plan(ctx, gsync.Reconcile(targets, live, namespace, e.cache)), nil
}

// Finalize removes a deleted Release from the cluster: every object the cache holds as rel's is
// deleted, or with orphan left in place without bollard's labels (no longer managed, never
// pruned). Requests are sent as imp (the Release's ServiceAccount). It returns how many objects
// it changed; the Release's desired state is forgotten once all went.
func (e *Engine) Finalize(ctx context.Context, rel Key, orphan bool, imp rest.ImpersonationConfig) (int, error) {
	ops, err := e.kubectl.ops(e.configAs(imp))
	if err != nil {
		return 0, err
	}
	isManaged := managedBy(rel)
	owned := e.cache.FindResources("", func(r *cache.Resource) bool { return isManaged(r) && r.Resource != nil })
	var errs []error
	n := 0
	for _, r := range owned {
		ri, err := ops.resource(r.Resource)
		if err == nil {
			err = ops.run(ctx, func() error {
				if orphan {
					patch := []byte(`{"metadata":{"labels":{"` + LabelRelease + `":null,"` + LabelReleaseNamespace + `":null}}}`)
					_, err := ri.Patch(ctx, r.Ref.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
					return err
				}
				return ri.Delete(ctx, r.Ref.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
			})
		}
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", r.Ref.Kind, r.Ref.Namespace, r.Ref.Name, err))
		default:
			n++
		}
	}
	if len(errs) == 0 {
		e.Forget(rel)
	}
	return n, errors.Join(errs...)
}

// configAs is the engine's client configuration sending requests as imp (zero: as itself), with
// discovery documents cached.
func (e *Engine) configAs(imp rest.ImpersonationConfig) *rest.Config {
	cfg := rest.CopyConfig(e.cfg)
	cfg.Impersonate = imp
	cfg.Wrap(e.disco.wrap)
	return cfg
}

// Forget drops a Release's desired state (deleted Release): its objects are no longer diffed.
func (e *Engine) Forget(rel Key) {
	e.mu.Lock()
	delete(e.desired, rel)
	e.mu.Unlock()
}

func plan(ctx context.Context, rr gsync.ReconciliationResult) Plan {
	p := Plan{Update: map[kube.ResourceKey][]string{}}
	for i := range rr.Target {
		target, live := rr.Target[i], rr.Live[i]
		switch {
		case target == nil && live != nil:
			p.Prune = append(p.Prune, kube.GetResourceKey(live))
		case target != nil && live == nil:
			p.Create = append(p.Create, kube.GetResourceKey(target))
		case target != nil && live != nil:
			if fields, err := Drift(ctx, target, live); err == nil && len(fields) > 0 {
				p.Update[kube.GetResourceKey(target)] = fields
			}
		}
	}
	return p
}

// Drift returns the paths at which live differs from target (nil: in sync), with gitops-engine's
// diff: what git sets and live holds otherwise; fields other writers added and git never set are
// not drift.
func Drift(ctx context.Context, target, live *unstructured.Unstructured) ([]string, error) {
	// What git sets, live holds as is (the common case: a controller annotated or defaulted
	// something): in sync without the diff's JSON round trips.
	if contains(live.Object, target.Object) {
		return nil, nil
	}
	return diffDrift(ctx, target, live)
}

// diffDrift is Drift by gitops-engine's diff alone.
func diffDrift(ctx context.Context, target, live *unstructured.Unstructured) ([]string, error) {
	res, err := diff.Diff(ctx, target, live)
	if err != nil || !res.Modified {
		return nil, err
	}
	var want, got any
	if err := json.Unmarshal(res.PredictedLive, &want); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(res.NormalizedLive, &got); err != nil {
		return nil, err
	}
	var paths []string
	walk("", want, got, &paths)
	sort.Strings(paths)
	return paths, nil
}

// contains tells whether live holds every field of want with the same value: maps may hold more
// keys, lists must have as many items, each holding its counterpart. Values of other types
// compare exactly (2 and 2.0 do not match: the diff decides those).
func contains(live, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			lv, ok := l[k]
			if !ok || !contains(lv, wv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return false
		}
		for i := range w {
			if !contains(l[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(live, want)
	}
}

// walk collects the paths where a and b differ, down to map keys (lists are compared whole, named
// by their field).
func walk(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			if path == "" && (k == "status" || k == "metadata" && sameMetadata(am[k], bm[k])) {
				continue
			}
			walk(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	if !equalJSON(a, b) {
		*out = append(*out, strings.TrimPrefix(path, "."))
	}
}

// sameMetadata compares the metadata a user sets (labels, annotations) and ignores the rest.
func sameMetadata(a, b any) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	return equalJSON(am["labels"], bm["labels"]) && equalJSON(am["annotations"], bm["annotations"])
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
