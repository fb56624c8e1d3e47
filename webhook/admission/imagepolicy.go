package admission

import (
	"context"
	"fmt"

	"bollard.dev/bollard/webhook/imagesig"
)

// WithPolicyNamespace names bollard's own namespace: the only one a ClusterImagePolicy's key
// Secrets may be read from (as policy-controller's must be in its own).
func WithPolicyNamespace(ns string) GateOption {
	return func(g *Gate) { g.policyNamespace = ns }
}

// imagePolicy decides a ClusterImagePolicy write (policy.sigstore.dev v1alpha1 or v1beta1) with
// policy-controller's own validation — an invalid glob, hashAlgorithm, mode, key or identity is
// refused with its field path — and warns, field by field, about what bollard does not support
// yet (the images such a policy matches are denied until it changes).
func (g *Gate) imagePolicy(ctx context.Context, req Request) Decision {
	cip, err := imagesig.FromUnstructured(req.Object.Object)
	if err != nil {
		return Decision{Reasons: []string{err.Error()}}
	}
	warnings, err := imagesig.Validate(ctx, cip, g.policyNamespace)
	if err != nil {
		return Decision{Reasons: []string{fmt.Sprintf("ClusterImagePolicy %s is invalid: %v", cip.Name, err)}, Warnings: warnings}
	}
	for _, u := range imagesig.Unsupported(cip) {
		warnings = append(warnings, fmt.Sprintf("ClusterImagePolicy %s: %s — bollard denies the images it matches until this changes", cip.Name, u))
	}
	return Decision{Allowed: true, Warnings: warnings}
}
