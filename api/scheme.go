// Package api gathers bollard's API groups.
package api

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	policyv1beta1 "bollard.dev/bollard/api/policy/v1beta1"
	"bollard.dev/bollard/api/v1alpha1"
)

// NewScheme knows Kubernetes' built-in kinds, DeployPolicy (bollard.dev/v1alpha1) and
// ClusterImagePolicy (policy.sigstore.dev/v1beta1): what every bollard client reads.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(v1alpha1.AddToScheme(s))
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
