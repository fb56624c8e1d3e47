package webhook

import (
	"context"
	"fmt"
	"sync"

	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"bollard.dev/bollard/webhook/admission"
)

// maxWatchedConfigMaps bounds the ConfigMaps the gate watches for policies' flag and schema sources.
const maxWatchedConfigMaps = 512

// cluster is the gate's view of the cluster in the webhook: DeployPolicies, ClusterImagePolicies
// and Namespaces from a controller-runtime cache, and each ConfigMap or key Secret a policy names
// from a watch of that one object, started on first use, so the webhook neither watches every
// ConfigMap nor calls the API server on the hot path.
type cluster struct {
	admission.ReaderCluster
	configMaps *objectWatches
	secrets    *objectWatches
	// namespace is bollard's own: the only one key Secrets are read from (as policy-controller
	// reads them only from its system namespace), so the webhook needs no cluster-wide Secret access.
	namespace string
	// noImagePolicies is set when the ClusterImagePolicy CRD was absent at start.
	noImagePolicies bool
}

func (c *cluster) ImagePolicies(ctx context.Context) ([]policyv1beta1.ClusterImagePolicy, error) {
	if c.noImagePolicies {
		return nil, nil
	}
	return c.ReaderCluster.ImagePolicies(ctx)
}

func (c *cluster) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	obj, err := c.configMaps.get(ctx, namespace, name, nil)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ConfigMap), nil
}

func (c *cluster) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if namespace != c.namespace {
		return nil, fmt.Errorf("key Secrets must be in bollard's namespace %s, not %s", c.namespace, namespace)
	}
	obj, err := c.secrets.get(ctx, namespace, name, nil)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

// objectWatches watch single objects of one resource (configmaps or secrets), each by name.
type objectWatches struct {
	ctx      context.Context // lives as long as the server
	client   kubernetes.Interface
	resource string // configmaps or secrets
	newObj   func() runtime.Object

	mu      sync.Mutex
	watches map[types.NamespacedName]*objectWatch
}

type objectWatch struct {
	store      cache.Store
	controller cache.Controller
}

func newConfigMapWatches(ctx context.Context, cs kubernetes.Interface) *objectWatches {
	return &objectWatches{ctx: ctx, client: cs, resource: "configmaps", newObj: func() runtime.Object { return &corev1.ConfigMap{} },
		watches: map[types.NamespacedName]*objectWatch{}}
}

func newSecretWatches(ctx context.Context, cs kubernetes.Interface) *objectWatches {
	return &objectWatches{ctx: ctx, client: cs, resource: "secrets", newObj: func() runtime.Object { return &corev1.Secret{} },
		watches: map[types.NamespacedName]*objectWatch{}}
}

// get returns the ConfigMap from its watch, starting the watch (and waiting for its first list)
// if needed. onChange, when given for a new watch, is called with every version of the object.
func (w *objectWatches) get(ctx context.Context, namespace, name string, onChange func(runtime.Object)) (runtime.Object, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	w.mu.Lock()
	watch, ok := w.watches[key]
	if !ok {
		if len(w.watches) >= maxWatchedConfigMaps {
			w.mu.Unlock()
			return nil, fmt.Errorf("%s %s: bollard watches %d already", w.resource, key, maxWatchedConfigMaps)
		}
		lw := cache.NewListWatchFromClient(w.client.CoreV1().RESTClient(), w.resource, namespace, fields.OneTermEqualSelector("metadata.name", name))
		handler := cache.ResourceEventHandlerFuncs{}
		if onChange != nil {
			handler.AddFunc = func(obj any) { onChange(obj.(runtime.Object)) }
			handler.UpdateFunc = func(_, obj any) { onChange(obj.(runtime.Object)) }
		}
		store, controller := cache.NewInformerWithOptions(cache.InformerOptions{ListerWatcher: lw, ObjectType: w.newObj(), Handler: handler})
		watch = &objectWatch{store: store, controller: controller}
		w.watches[key] = watch
		go controller.RunWithContext(w.ctx)
	}
	w.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), watch.controller.HasSynced) {
		return nil, fmt.Errorf("%s %s: not read from the API server in time", w.resource, key)
	}
	obj, exists, err := watch.store.GetByKey(key.String())
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, apierrors.NewNotFound(corev1.Resource(w.resource), name)
	}
	return obj.(runtime.Object), nil
}

var _ admission.Cluster = (*cluster)(nil)
