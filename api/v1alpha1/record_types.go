package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// DeploymentRecord is one finished Deployment Log kept as its own object, in the Release's
// namespace: the durable audit trail of a Release (status keeps only the change under way and a pointer to the newest record). The daemon
// writes it, as itself, when a change ends (SUCCESS, FAILED, REFUSED, ROLLED_BACK, HALTED,
// ROLLBACK_FAILED) and deletes the oldest beyond the Release's spec.recordRetention (default
// 100). It outlives its Release: deleting a Release leaves its records (delete them by the
// label bollard.dev/release).
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=drec
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.release`
// +kubebuilder:printcolumn:name="ID",type=integer,JSONPath=`.log.id`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.log.status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.log.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeploymentRecord struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Release is the name of the Release (in this namespace) the log is of — or of the
	// ChannelRelease, when ReleaseKind says so.
	Release string `json:"release"`
	// ReleaseKind is ChannelRelease for a ChannelRelease's log; empty for a Release's.
	// +optional
	ReleaseKind string `json:"releaseKind,omitempty"`
	// ReleaseUID tells apart Releases of the same name over time.
	ReleaseUID string `json:"releaseUID"`
	// Log is the Deployment Log as the Release's status held it when the change ended.
	Log DeploymentLog `json:"log"`
}

// DeploymentRecordList is a list of DeploymentRecords.
// +kubebuilder:object:root=true
type DeploymentRecordList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeploymentRecord `json:"items"`
}
