package admission

import (
	"context"
	"fmt"

	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// Cluster is what the gate reads besides the object: the DeployPolicies, namespace labels (for
// environments) and the ConfigMaps that policies name as flag and schema sources.
type Cluster interface {
	DeployPolicies(ctx context.Context) ([]v1alpha1.DeployPolicy, error)
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	// ImagePolicies and Secret serve the signature gate: ClusterImagePolicies and the Secrets
	// their key authorities name.
	ImagePolicies(ctx context.Context) ([]policyv1beta1.ClusterImagePolicy, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ReaderCluster reads through a controller-runtime client.Reader: a live client for `bollard
// check --kubeconfig`, or a cache.
type ReaderCluster struct {
	Reader client.Reader
}

func (c ReaderCluster) DeployPolicies(ctx context.Context) ([]v1alpha1.DeployPolicy, error) {
	var list v1alpha1.DeployPolicyList
	if err := c.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list DeployPolicies: %w", err)
	}
	return list.Items, nil
}

func (c ReaderCluster) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	if err := c.Reader.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	return ns.Labels, nil
}

func (c ReaderCluster) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := c.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cm); err != nil {
		return nil, err
	}
	return &cm, nil
}

func (c ReaderCluster) ImagePolicies(ctx context.Context) ([]policyv1beta1.ClusterImagePolicy, error) {
	var list policyv1beta1.ClusterImagePolicyList
	if err := c.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list ClusterImagePolicies: %w", err)
	}
	return list.Items, nil
}

func (c ReaderCluster) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := c.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Objects is a Cluster made of manifests, for offline checks: what `bollard check -f` reads.
type Objects struct {
	Policies        []v1alpha1.DeployPolicy
	ImagePolicyList []policyv1beta1.ClusterImagePolicy
	Secrets         map[types.NamespacedName]*corev1.Secret
	Namespaces      map[string]map[string]string
	ConfigMaps      map[types.NamespacedName]*corev1.ConfigMap
}

func (o *Objects) DeployPolicies(context.Context) ([]v1alpha1.DeployPolicy, error) {
	return o.Policies, nil
}

func (o *Objects) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return o.Namespaces[name], nil
}

func (o *Objects) ConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.ConfigMaps[types.NamespacedName{Namespace: namespace, Name: name}]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (o *Objects) ImagePolicies(context.Context) ([]policyv1beta1.ClusterImagePolicy, error) {
	return o.ImagePolicyList, nil
}

func (o *Objects) Secret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if s, ok := o.Secrets[types.NamespacedName{Namespace: namespace, Name: name}]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}
