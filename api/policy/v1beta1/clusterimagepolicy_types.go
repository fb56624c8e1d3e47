package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ClusterImagePolicy says which keys must have signed the images that match its globs.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cip
type ClusterImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterImagePolicySpec `json:"spec"`
}

// ClusterImagePolicySpec is policy-controller's spec.
type ClusterImagePolicySpec struct {
	Images      []ImagePattern `json:"images"`
	Authorities []Authority    `json:"authorities,omitempty"`
	// Mode is enforce (default) or warn.
	// +optional
	Mode string `json:"mode,omitempty"`
	// Policy, Match: kept for compatibility; not yet evaluated by bollard.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Policy *runtime.RawExtension `json:"policy,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Match *runtime.RawExtension `json:"match,omitempty"`
}

// ImagePattern selects images by glob: `*` within a path segment, `**` across segments.
type ImagePattern struct {
	Glob string `json:"glob"`
}

// Authority is one way an image may be trusted.
type Authority struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Key *KeyRef `json:"key,omitempty"`
	// Keyless, Static, Sources, CTLog, Attestations, RFC3161Timestamp: kept for compatibility;
	// a policy that relies on them is reported as not yet supported.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Keyless *runtime.RawExtension `json:"keyless,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Static *runtime.RawExtension `json:"static,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Sources *runtime.RawExtension `json:"source,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	CTLog *runtime.RawExtension `json:"ctlog,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Attestations *runtime.RawExtension `json:"attestations,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	RFC3161Timestamp *runtime.RawExtension `json:"rfc3161timestamp,omitempty"`
	// +optional
	SignatureFormat string `json:"signatureFormat,omitempty"`
}

// KeyRef is a public key: inline PEM, or a Secret holding it.
type KeyRef struct {
	// +optional
	Data string `json:"data,omitempty"`
	// SecretRef names a Secret whose one data value is the PEM (policy-controller's convention).
	// +optional
	SecretRef *corev1.SecretReference `json:"secretRef,omitempty"`
	// +optional
	KMS string `json:"kms,omitempty"`
	// +optional
	HashAlgorithm string `json:"hashAlgorithm,omitempty"`
}

// ClusterImagePolicyList is a list of ClusterImagePolicies.
// +kubebuilder:object:root=true
type ClusterImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterImagePolicy `json:"items"`
}
