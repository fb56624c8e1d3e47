// Package v1alpha1 holds bollard's API types (group bollard.dev, version v1alpha1).
// +kubebuilder:object:generate=true
// +groupName=bollard.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "bollard.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Annotations on workloads that the gate reads.
const (
	// AnnotationBreakGlass carries the reason for deploying inside a freeze; honoured only for the
	// users and groups a DeployPolicy names.
	AnnotationBreakGlass = "bollard.dev/break-glass"
	// AnnotationApprovedChange carries the ticket that approves a risky change.
	AnnotationApprovedChange = "bollard.dev/approved-change"
	// AnnotationRequiresFlags lists required feature-flag states: "new-checkout=off,payments-v2=on".
	AnnotationRequiresFlags = "bollard.dev/requires-flags"
	// AnnotationSchemaVersion is the database schema version a workload needs applied.
	AnnotationSchemaVersion = "bollard.dev/schema-version"
	// LabelEnvironment names a workload's (or its namespace's) environment: staging, production, …
	LabelEnvironment = "bollard.dev/environment"
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DeployPolicy{}, &DeployPolicyList{}, &Release{}, &ReleaseList{}, &DeploymentRecord{}, &DeploymentRecordList{}, &ChannelRelease{}, &ChannelReleaseList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
