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
	// Keyless trusts certificates issued by a Fulcio-style CA (give its chain in ca-cert: the public
	// Sigstore is not reachable from air-gapped clusters) to the identities listed.
	// +optional
	Keyless *KeylessRef `json:"keyless,omitempty"`
	// Attestations, when listed, are what this authority checks instead of the signature: each
	// must be attached to the digest, signed by the authority, and pass its policy.
	// +optional
	Attestations []Attestation `json:"attestations,omitempty"`
	// Static, Sources, CTLog, RFC3161Timestamp: kept for compatibility; a policy that relies on
	// them is reported as not yet supported.
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

// KeylessRef is policy-controller's keyless authority.
type KeylessRef struct {
	// URL of the Fulcio instance; informational (verification is offline).
	// +optional
	URL string `json:"url,omitempty"`
	// CACert is the PEM chain (root and intermediates) of the CA that issues signing certificates.
	// +optional
	CACert *KeyRef `json:"ca-cert,omitempty"`
	// TrustRootRef names a policy-controller TrustRoot; not yet supported by bollard (use ca-cert).
	// +optional
	TrustRootRef string `json:"trustRootRef,omitempty"`
	// Identities the signing certificate must carry (any one).
	// +optional
	Identities []Identity `json:"identities,omitempty"`
	// InsecureIgnoreSCT skips the certificate transparency check (private CAs without a CT log).
	// +optional
	InsecureIgnoreSCT *bool `json:"insecureIgnoreSCT,omitempty"`
}

// Identity is an OIDC issuer and subject, exact or by regular expression.
type Identity struct {
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// +optional
	Subject string `json:"subject,omitempty"`
	// +optional
	IssuerRegExp string `json:"issuerRegExp,omitempty"`
	// +optional
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// Attestation is an in-toto attestation an image must carry.
type Attestation struct {
	Name string `json:"name"`
	// PredicateType is a URI, or one of cosign's short names (slsaprovenance, slsaprovenance1,
	// spdx, spdxjson, cyclonedx, vuln, openvex, custom, link).
	PredicateType string `json:"predicateType"`
	// +optional
	Policy *AttestationPolicy `json:"policy,omitempty"`
}

// AttestationPolicy is evaluated against each attestation's in-toto statement.
type AttestationPolicy struct {
	// Type is rego (package sigstore, rule isCompliant, as policy-controller) or cue (not yet
	// supported by bollard).
	Type string `json:"type"`
	// +optional
	Data string `json:"data,omitempty"`
	// URL and ConfigMapRef (policy-controller's remote policies) are not yet supported.
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	ConfigMapRef *runtime.RawExtension `json:"configMapRef,omitempty"`
}

// ClusterImagePolicyList is a list of ClusterImagePolicies.
// +kubebuilder:object:root=true
type ClusterImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterImagePolicy `json:"items"`
}
