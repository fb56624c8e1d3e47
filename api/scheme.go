// Package api gathers bollard's API groups.
package api

import (
	policyv1alpha1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1alpha1"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"bollard.dev/bollard/api/v1alpha1"
)

// NewScheme knows Kubernetes' built-in kinds, bollard.dev/v1alpha1 (DeployPolicy, Release) and
// sigstore policy-controller's ClusterImagePolicy in both versions it serves
// (policy.sigstore.dev/v1alpha1 and v1beta1), as policy-controller's own packages define them.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(v1alpha1.AddToScheme(s))
	must(policyv1alpha1.AddToScheme(s))
	must(policyv1beta1.AddToScheme(s))
	return s
}

// must panics on an error that only a programming mistake (a type registered twice
// under different names) can cause.
func must(err error) {
	if err != nil {
		panic(err)
	}
}
