package reconciler

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrl "sigs.k8s.io/controller-runtime/pkg/manager"

	"bollard.dev/bollard/reconciler/engine"
)

// Objects that exist without bollard's label, by kind: the ownership pre-flight refuses to create
// over one unless the Release adopts. A fresh Release asked the API server once per kind — a List
// of the namespace's unlabelled objects, which the server filters from every object of that kind
// in the namespace (with 1,000 Releases in one namespace: 8,000 ConfigMaps scanned per List).
// Instead, a metadata-only informer per kind a Release writes, watching only unlabelled objects
// and keeping only their names: a lookup is a read of memory. The informer's view is as fresh as
// the API server's watch cache the List read from.

// unmanaged is the cache of objects without bollard's label, and the kinds it could not watch.
type unmanaged struct {
	cache crcache.Cache
	mu    sync.Mutex
	// unwatchable kinds (not readable as the daemon, or not served): asked with a List.
	unwatchable map[schema.GroupVersionKind]bool
}

// unlabelled selects objects without bollard's release label, for the informers and the Lists.
var unlabelled = func() labels.Selector {
	req, err := labels.NewRequirement(engine.LabelRelease, selection.DoesNotExist, nil)
	if err != nil {
		panic(err) // a constant label key: cannot happen
	}
	return labels.NewSelector().Add(*req)
}()

// unmanagedSyncTimeout bounds the wait for a kind's informer to list what exists the first time.
const unmanagedSyncTimeout = 10 * time.Second

// newUnmanaged is the cache of unlabelled objects in namespaces (empty: all), added to mgr.
func newUnmanaged(cfg *rest.Config, mgr ctrl.Manager, namespaces []string) (*unmanaged, error) {
	o := cacheOptions(namespaces)
	o.Scheme, o.Mapper = mgr.GetScheme(), mgr.GetRESTMapper()
	o.DefaultLabelSelector = unlabelled
	// Only the name is used: annotations (a Secret's last-applied-configuration), labels and
	// managed fields are not kept.
	o.DefaultTransform = func(obj any) (any, error) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
				Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}}, nil
		}
		return obj, nil
	}
	c, err := crcache.New(cfg, o)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return &unmanaged{cache: c, unwatchable: map[schema.GroupVersionKind]bool{}}, nil
}

// names are the names of the objects of kind gvk in namespace ns that carry no bollard label:
// from the informer, else (no cache, or a kind it cannot watch) by a List of the API server's
// watch cache through reader.
func (u *unmanaged) names(ctx context.Context, reader client.Reader, gvk schema.GroupVersionKind, ns string) (map[string]bool, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if u != nil && !u.isUnwatchable(gvk) {
		wctx, cancel := context.WithTimeout(ctx, unmanagedSyncTimeout)
		err := u.cache.List(wctx, list, client.InNamespace(ns))
		cancel()
		if err == nil {
			return nameSet(list), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if apierrors.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			// The informer never synced (the kind is not readable as the daemon, or not served):
			// stop it, and ask this kind with a List from now on. Another error (a namespace the
			// cache does not cover) is asked with a List this once.
			u.mu.Lock()
			u.unwatchable[gvk] = true
			u.mu.Unlock()
			obj := &metav1.PartialObjectMetadata{}
			obj.SetGroupVersionKind(gvk)
			_ = u.cache.RemoveInformer(ctx, obj)
		}
	}
	if err := reader.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: unlabelled},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}}); err != nil {
		return nil, err
	}
	return nameSet(list), nil
}

func (u *unmanaged) isUnwatchable(gvk schema.GroupVersionKind) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.unwatchable[gvk]
}

func nameSet(list *metav1.PartialObjectMetadataList) map[string]bool {
	names := make(map[string]bool, len(list.Items))
	for _, it := range list.Items {
		names[it.Name] = true
	}
	return names
}
