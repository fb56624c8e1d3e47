package reconciler

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
)

// Finalizer holds a deleted Release until the daemon has dealt with what it applied: with
// spec.prune (the default) every object it manages is deleted, as its ServiceAccount; without,
// they stay, unlabelled (nobody manages them any more). Its snapshots go either way. A Release
// whose namespace is being deleted lets go at once: what is in the namespace goes with it.
const Finalizer = "bollard.dev/release"

// ensureFinalizer adds the finalizer to a Release that lacks it.
func (r *Reconciler) ensureFinalizer(ctx context.Context, rel *v1alpha1.Release) error {
	if controllerutil.ContainsFinalizer(rel, Finalizer) {
		return nil
	}
	orig := rel.DeepCopy()
	controllerutil.AddFinalizer(rel, Finalizer)
	r.writing(rel)
	err := r.Client.Patch(ctx, rel, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	if err == nil {
		r.wrote(rel)
	}
	return err
}

// finalize deals with a deleted Release's objects, then lets it go.
func (r *Reconciler) finalize(ctx context.Context, eng *engine.Engine, rel *v1alpha1.Release, log logr.Logger) (ctrl.Result, error) {
	key := engine.Key{Namespace: rel.Namespace, Name: rel.Name}
	if !controllerutil.ContainsFinalizer(rel, Finalizer) {
		eng.Forget(key)
		return ctrl.Result{}, nil
	}
	var ns corev1.Namespace
	if err := r.reader().Get(ctx, client.ObjectKey{Name: rel.Namespace}, &ns); err != nil {
		return ctrl.Result{}, err
	}
	if ns.DeletionTimestamp.IsZero() {
		orphan := !rel.Pruning()
		n, err := eng.Finalize(ctx, key, orphan, r.impersonation(rel))
		if err != nil {
			r.event(rel, corev1.EventTypeWarning, "DeleteFailed", "the Release is kept until its objects are dealt with: %v", err)
			log.Error(err, "finalize")
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		if orphan {
			log.Info("deleted: objects left in place, unlabelled (spec.prune false)", "objects", n)
		} else {
			log.Info("deleted: its objects deleted (spec.prune)", "objects", n)
		}
	} else {
		eng.Forget(key)
	}
	if r.Snapshots != nil {
		if err := r.Snapshots.Delete(ctx, rel); err != nil {
			return ctrl.Result{}, err
		}
	}
	orig := rel.DeepCopy()
	controllerutil.RemoveFinalizer(rel, Finalizer)
	r.writing(rel)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, rel, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}

// reader reads uncached (Reader), else through the client.
func (r *Reconciler) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}
