// Package v1beta1 reads sigstore policy-controller's ClusterImagePolicy (policy.sigstore.dev/v1beta1)
// so that policies written for policy-controller work in bollard unchanged. bollard implements
// the key authorities today; the other fields are kept (not pruned) and a policy that uses them is
// reported as not yet supported rather than silently weakened.
// +kubebuilder:object:generate=true
// +groupName=policy.sigstore.dev
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is policy-controller's group and version.
	GroupVersion = schema.GroupVersion{Group: "policy.sigstore.dev", Version: "v1beta1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ClusterImagePolicy{}, &ClusterImagePolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
