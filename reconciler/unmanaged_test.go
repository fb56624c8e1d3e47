package reconciler

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"bollard.dev/bollard/reconciler/engine"
)

// stuckCache is a cache whose informers never sync (a kind the daemon may not watch).
type stuckCache struct {
	crcache.Cache
	lists, removed int
}

func (c *stuckCache) List(context.Context, client.ObjectList, ...client.ListOption) error {
	c.lists++
	return apierrors.NewTimeoutError("failed waiting for *v1.PartialObjectMetadata Informer to sync", 0)
}

func (c *stuckCache) RemoveInformer(context.Context, client.Object) error {
	c.removed++
	return nil
}

// TestUnmanagedFallsBackToList: a kind whose informer cannot sync is asked with a List of the
// unlabelled objects — once from the cache's side, then never again — and the answer is the same.
func TestUnmanagedFallsBackToList(t *testing.T) {
	byHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "by-hand"}}
	labelled := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "managed", Labels: map[string]string{engine.LabelRelease: "web"}}}
	reader := fake.NewClientBuilder().WithObjects(byHand, labelled).Build()
	stuck := &stuckCache{}
	u := &unmanaged{cache: stuck, unwatchable: map[schema.GroupVersionKind]bool{}}
	gvk := corev1.SchemeGroupVersion.WithKind("ConfigMap")
	for range 2 {
		names, err := u.names(context.Background(), reader, gvk, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if !names["by-hand"] || names["managed"] || len(names) != 1 {
			t.Errorf("unmanaged names %v, want by-hand only", names)
		}
	}
	if stuck.lists != 1 || stuck.removed != 1 {
		t.Errorf("the cache was asked %d times and its informer removed %d times, want once each", stuck.lists, stuck.removed)
	}
}
