package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// gitops-engine applies through kubectl's packages: per object a kubeconfig file, a command
// factory, a client-side dry run that GETs the live object, then the apply — and the kubeconfig
// it writes drops impersonation's user extras, which bollard's webhook needs to tell the daemon
// acting as a Release from the Release's ServiceAccount itself. directKubectl keeps gitops-engine's
// sync (waves, hooks, health, pruning) and replaces those operations with calls of the dynamic
// client made from the sync's own rest.Config: server-side apply with bollard's field manager,
// conflicts forced (as kubectl --server-side --force-conflicts), and a dry run that checks the
// kind is served without a round trip per object.

// directKubectl is gitops-engine's Kubectl with direct resource operations.
type directKubectl struct {
	kube.Kubectl
	mapper meta.ResettableRESTMapper
	// mappings remembers the mapper's answers by kind (schema.GroupVersionKind →
	// *meta.RESTMapping): the mapper builds each anew from every served resource (with 1,000
	// Releases syncing, a tenth of what the daemon allocated).
	mappings *sync.Map
	slots    chan struct{}                    // bounds concurrent writes across all Releases
	urgent   chan struct{}                    // and those under Urgent, beyond slots
	applied  func(*unstructured.Unstructured) // told what each apply left
}

func (k *directKubectl) ManageResources(config *rest.Config) (kube.ResourceOperations, func(), error) {
	ops, err := k.ops(config)
	return ops, func() {}, err
}

// ops are the resource operations sent with config.
func (k *directKubectl) ops(config *rest.Config) (*directOps, error) {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &directOps{dyn: dyn, mapper: k.mapper, mappings: k.mappings, slots: k.slots, urgent: k.urgent, applied: k.applied}, nil
}

type directOps struct {
	dyn      dynamic.Interface
	mapper   meta.ResettableRESTMapper
	mappings *sync.Map
	slots    chan struct{}
	urgent   chan struct{}
	applied  func(*unstructured.Unstructured)
}

// resource is where obj lives; a kind the mapper does not know yet is looked up again once (a CRD
// installed since).
func (o *directOps) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	var m *meta.RESTMapping
	var err error
	if v, ok := o.mappings.Load(gvk); ok {
		m = v.(*meta.RESTMapping)
	} else {
		m, err = o.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			o.mapper.Reset()
			m, err = o.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk, obj.GetName(), err)
		}
		o.mappings.Store(gvk, m)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return o.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return o.dyn.Resource(m.Resource), nil
}

// run sends f in a free slot; urgent work also in one of its own.
func (o *directOps) run(ctx context.Context, f func() error) error {
	var urgent chan struct{} // nil: never ready
	if ctx.Value(urgentKey{}) != nil {
		urgent = o.urgent
	}
	var slot chan struct{}
	select {
	case o.slots <- struct{}{}:
		slot = o.slots
	case urgent <- struct{}{}:
		slot = urgent
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-slot }()
	return f()
}

func dryRun(s cmdutil.DryRunStrategy) []string {
	if s == cmdutil.DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func name(obj *unstructured.Unstructured) string {
	return strings.ToLower(obj.GetKind()) + "/" + obj.GetName()
}

func (o *directOps) ApplyResource(ctx context.Context, obj *unstructured.Unstructured, strategy cmdutil.DryRunStrategy, _, _, _ bool, manager string) (string, error) {
	ri, err := o.resource(obj)
	if err != nil || strategy == cmdutil.DryRunClient {
		return name(obj) + " configured (dry run)", err
	}
	err = o.run(ctx, func() error {
		out, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager, Force: true, DryRun: dryRun(strategy)})
		if err == nil && strategy == cmdutil.DryRunNone && o.applied != nil {
			o.applied(out)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return name(obj) + " serverside-applied", nil
}

func (o *directOps) CreateResource(ctx context.Context, obj *unstructured.Unstructured, strategy cmdutil.DryRunStrategy, _ bool) (string, error) {
	ri, err := o.resource(obj)
	if err != nil || strategy == cmdutil.DryRunClient {
		return name(obj) + " created (dry run)", err
	}
	var created *unstructured.Unstructured
	err = o.run(ctx, func() error {
		created, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager, DryRun: dryRun(strategy)})
		return err
	})
	if err != nil {
		return "", err
	}
	return strings.ToLower(obj.GetKind()) + "/" + created.GetName() + " created", nil
}

func (o *directOps) UpdateResource(ctx context.Context, obj *unstructured.Unstructured, strategy cmdutil.DryRunStrategy) (*unstructured.Unstructured, error) {
	ri, err := o.resource(obj)
	if err != nil || strategy == cmdutil.DryRunClient {
		return obj, err
	}
	var updated *unstructured.Unstructured
	err = o.run(ctx, func() error {
		updated, err = ri.Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager, DryRun: dryRun(strategy)})
		return err
	})
	return updated, err
}

// ReplaceResource is kubectl replace: an update of the whole object; with force, delete and
// create.
func (o *directOps) ReplaceResource(ctx context.Context, obj *unstructured.Unstructured, strategy cmdutil.DryRunStrategy, force bool) (string, error) {
	ri, err := o.resource(obj)
	if err != nil || strategy == cmdutil.DryRunClient {
		return name(obj) + " replaced (dry run)", err
	}
	err = o.run(ctx, func() error {
		live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager, DryRun: dryRun(strategy)})
			return err
		}
		if err != nil {
			return err
		}
		if force {
			if err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{DryRun: dryRun(strategy)}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			_, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager, DryRun: dryRun(strategy)})
			return err
		}
		update := obj.DeepCopy()
		update.SetResourceVersion(live.GetResourceVersion())
		_, err = ri.Update(ctx, update, metav1.UpdateOptions{FieldManager: FieldManager, DryRun: dryRun(strategy)})
		return err
	})
	if err != nil {
		return "", err
	}
	return name(obj) + " replaced", nil
}
