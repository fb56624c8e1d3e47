package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"bollard.dev/bollard/api/v1alpha1"
)

// A Release stays in its lane: it deploys into its own namespace, and elsewhere only where a
// DeployPolicy — cluster-scoped, an administrator's — allows it; its migration writes the schema
// version only where a DeployPolicy's schema source reads it, in that same namespace.

// policiesFor lists the DeployPolicies whose scope.namespaces cover namespace (an empty list
// covers every namespace).
func (r *Reconciler) policiesFor(ctx context.Context, namespace string) ([]v1alpha1.DeployPolicy, error) {
	var list v1alpha1.DeployPolicyList
	if err := r.reader().List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list DeployPolicies: %w", err)
	}
	var out []v1alpha1.DeployPolicy
	for _, p := range list.Items {
		if len(p.Spec.Scope.Namespaces) == 0 || slices.Contains(p.Spec.Scope.Namespaces, namespace) {
			out = append(out, p)
		}
	}
	return out, nil
}

// targetAllowed says why rel may not deploy into its target namespace ("" when it may).
func (r *Reconciler) targetAllowed(ctx context.Context, rel *v1alpha1.Release) (string, error) {
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, rel.Target()) {
		return fmt.Sprintf("spec.targetNamespace %s is outside the namespaces this daemon manages (%s)", rel.Target(), strings.Join(r.Namespaces, ", ")), nil
	}
	if rel.Target() == rel.Namespace {
		return "", nil
	}
	policies, err := r.policiesFor(ctx, rel.Namespace)
	if err != nil {
		return "", err
	}
	for _, p := range policies {
		if p.Spec.Releases != nil && slices.Contains(p.Spec.Releases.TargetNamespaces, rel.Target()) {
			return "", nil
		}
	}
	return fmt.Sprintf("spec.targetNamespace %s: a Release of namespace %s deploys into %s only, unless a DeployPolicy allows more (spec.releases.targetNamespaces)",
		rel.Target(), rel.Namespace, rel.Namespace), nil
}

// recordAllowed says why rel's migration may not write its schema version to ref ("" when it may).
func (r *Reconciler) recordAllowed(ctx context.Context, rel *v1alpha1.Release, ref v1alpha1.ConfigMapKeyRef) (string, error) {
	if ref.Namespace != rel.Target() {
		return fmt.Sprintf("the record ConfigMap %s/%s is outside the Release's namespace %s", ref.Namespace, ref.Name, rel.Target()), nil
	}
	policies, err := r.policiesFor(ctx, rel.Target())
	if err != nil {
		return "", err
	}
	for _, p := range policies {
		if s := p.Spec.Schema; s != nil && s.Source.Namespace == ref.Namespace && s.Source.Name == ref.Name && s.Source.Key == ref.Key {
			return "", nil
		}
	}
	return fmt.Sprintf("no DeployPolicy for namespace %s reads its schema version from ConfigMap %s/%s key %s", rel.Target(), ref.Namespace, ref.Name, ref.Key), nil
}
