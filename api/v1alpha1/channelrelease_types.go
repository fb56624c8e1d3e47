package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChannelRelease ships one signed artifact to a channel that is not Kubernetes — Google Play or
// bollard's own desktop update feed — with the launch button of a Release: the artifact's
// digest verified by the same ClusterImagePolicies as images, the same DeployPolicy freezes,
// break-glass and flags, a staged rollout held under the same SLO guard, the red button (halt)
// and one Deployment Log. The step it stands at is persisted in status: a restarted daemon
// resumes there.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=chrel
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.artifact.version`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Percent",type=integer,JSONPath=`.status.percent`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChannelRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChannelReleaseSpec   `json:"spec"`
	Status ChannelReleaseStatus `json:"status,omitempty"`
}

// ChannelReleaseSpec says what ships where, and how.
type ChannelReleaseSpec struct {
	Artifact ChannelArtifact `json:"artifact"`
	Target   ChannelTarget   `json:"target"`
	// Verify adds format checks of the artifact's files, offline, before anything is submitted.
	// +optional
	Verify *ChannelVerify `json:"verify,omitempty"`
	// ServiceAccountName is the ServiceAccount of the namespace the daemon acts as (the
	// pre-flight's writer, reading the store credentials): a Release's rule. Default: the
	// daemon's --default-service-account.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Steps are the shares of users (percent, rising, the last normally 100) offered the
	// version in turn, each held under spec.analysis. Default: [100].
	// +optional
	Steps []int32 `json:"steps,omitempty"`
	// Analysis is the SLO guard held at each step (a Release's canary guard): e.g. the crash
	// rate of the new version ≤ max; onNoData: pause suits small early steps.
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`
	// RollbackOnFailure: on a breach, after the halt, also go back where the channel allows it
	// (the feed points the channel at the earlier version; a store cannot un-install: halted).
	// +kubebuilder:default=true
	// +optional
	RollbackOnFailure *bool `json:"rollbackOnFailure,omitempty"`
}

// ChannelArtifact is what ships: an OCI artifact pinned by digest whose layers are the files
// (an Android App Bundle, installers), each named by its org.opencontainers.image.title
// annotation.
type ChannelArtifact struct {
	// Ref is repository@sha256:… (a tag is pinned to its digest by the gate).
	Ref     string `json:"ref"`
	Version string `json:"version"`
	// VersionCode is Play's integer version of the bundle.
	// +optional
	VersionCode int64 `json:"versionCode,omitempty"`
}

// ChannelType names a channel.
// +kubebuilder:validation:Enum=googlePlay;feed
type ChannelType string

const (
	ChannelGooglePlay ChannelType = "googlePlay"
	ChannelFeed       ChannelType = "feed"
)

// ChannelTarget is where the artifact ships.
type ChannelTarget struct {
	Type ChannelType `json:"type"`
	// +optional
	GooglePlay *GooglePlayTarget `json:"googlePlay,omitempty"`
	// +optional
	Feed *FeedTarget `json:"feed,omitempty"`
}

// GooglePlayTarget is an app's track on Google Play (the Android Publisher API v3).
type GooglePlayTarget struct {
	PackageName string `json:"packageName"`
	// +kubebuilder:default=production
	// +optional
	Track string `json:"track,omitempty"`
	// CredentialsSecretRef is a Secret of the ChannelRelease's namespace holding a service
	// account's JSON key (key "service-account.json" unless Key says otherwise).
	CredentialsSecretRef SecretKeyRef `json:"credentialsSecretRef"`
	// Endpoint overrides the API's root URL (default https://androidpublisher.googleapis.com/).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// ReleaseNotes by locale ("en-US"), each at most 500 characters (Play's limit).
	// +optional
	ReleaseNotes map[string]string `json:"releaseNotes,omitempty"`
	// Metadata is the app's store metadata in git, in fastlane supply's layout under Path
	// (default fastlane/metadata/android): <locale>/title.txt, short_description.txt,
	// full_description.txt and video.txt become the store listing, submitted in the same edit
	// as the release; <locale>/changelogs/<versionCode>.txt (else default.txt) the release
	// notes, which take the place of releaseNotes' for their locale. Read at the commit Ref
	// resolves to when the release is submitted (kept in status.metadataCommit), with the
	// credentials of SecretRef read as the release's ServiceAccount; texts over Play's limits
	// refuse the release, naming the file.
	// +optional
	Metadata *GitSource `json:"metadata,omitempty"`
}

// FeedTarget is a channel of a bollard update feed (a TUF repository the daemon keeps under
// its --feed-root).
type FeedTarget struct {
	// Repository is the feed's directory under the daemon's --feed-root/NAMESPACE: a namespace
	// publishes to its own feeds only.
	Repository string `json:"repository"`
	Channel    string `json:"channel"`
	// Platform the artifact's file is for ("linux-amd64"); the artifact's layer titled as the
	// file to publish is given by File.
	Platform string `json:"platform"`
	// File is the title of the artifact's layer to publish (default: its only layer).
	// +optional
	File string `json:"file,omitempty"`
}

// SecretKeyRef is a key of a Secret in the object's own namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	// +optional
	Key string `json:"key,omitempty"`
}

// ChannelVerify are format checks of the artifact's files.
type ChannelVerify struct {
	// AndroidUploadCertSHA256 pins the upload key: the bundle's JAR signature must verify
	// (every entry signed) and its certificate's SHA-256 fingerprint be one of these (hex as
	// keytool or the Play Console print it; colons and case ignored).
	// +optional
	AndroidUploadCertSHA256 []string `json:"androidUploadCertSHA256,omitempty"`
}

// ChannelPhase is where a ChannelRelease is.
type ChannelPhase string

const (
	ChannelRefused    ChannelPhase = "Refused"
	ChannelSubmitting ChannelPhase = "Submitting"
	ChannelInReview   ChannelPhase = "InReview"
	ChannelRejected   ChannelPhase = "Rejected"
	ChannelRolling    ChannelPhase = "Rolling"
	ChannelPaused     ChannelPhase = "Paused"
	// ChannelHalting: a breach was seen; the halt (and rollback) is under way. Persisted before
	// the channel is told, so a restarted daemon finishes it and never steps on.
	ChannelHalting    ChannelPhase = "Halting"
	ChannelHalted     ChannelPhase = "Halted"
	ChannelRolledBack ChannelPhase = "RolledBack"
	ChannelCompleted  ChannelPhase = "Completed"
	ChannelFailed     ChannelPhase = "Failed"
)

// ChannelReleaseStatus is the persisted state of the step engine.
type ChannelReleaseStatus struct {
	// ObservedGeneration is the spec generation this status is about; a new spec starts over.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase ChannelPhase `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Artifact is the verified reference, pinned by digest.
	// +optional
	Artifact string `json:"artifact,omitempty"`
	// Submitted is true once the provider took the artifact (a retry never uploads twice);
	// Version and VersionCode are what was submitted — what halt, resume and complete act on,
	// even after the spec names another version.
	// +optional
	Submitted bool `json:"submitted,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	VersionCode int64 `json:"versionCode,omitempty"`
	// Step is the index into spec.steps being held; Percent the share offered now.
	// +optional
	Step int32 `json:"step,omitempty"`
	// +optional
	Percent int32 `json:"percent,omitempty"`
	// StepStartedAt is when the hold of the current step started (reset when the guard has no
	// data and onNoData is pause).
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`
	// Achieved is what the channel made of the last step ("userFraction 0.1").
	// +optional
	Achieved string `json:"achieved,omitempty"`
	// StoreState is the store's review state of the submission.
	// +optional
	StoreState string `json:"storeState,omitempty"`
	// LastRequest is the bollard.dev/channel-request the daemon acted on last.
	// +optional
	LastRequest string `json:"lastRequest,omitempty"`
	// MetadataCommit is the commit of spec.target.googlePlay.metadata the submit read (a
	// retried submit reads the same).
	// +optional
	MetadataCommit string `json:"metadataCommit,omitempty"`
	// History holds the latest Deployment Logs of this ChannelRelease (newest last); every
	// finished one is also kept as a DeploymentRecord (releaseKind ChannelRelease).
	// +optional
	History []DeploymentLog `json:"history,omitempty"`
	// LastRecordID is the newest Deployment Log kept as a DeploymentRecord.
	// +optional
	LastRecordID int64 `json:"lastRecordID,omitempty"`
}

// ChannelReleaseList is a list of ChannelReleases.
// +kubebuilder:object:root=true
type ChannelReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChannelRelease `json:"items"`
}

// AnnotationChannelRequest on a ChannelRelease asks the daemon for the red button and its
// companions: "halt", "resume" or "resume:PERCENT", "complete", followed by "@" and a unique
// stamp (a timestamp) so the same request twice is two requests. The daemon acts once per
// stamp and records it in status.lastRequest. `bollard channel halt|resume|complete` set it.
const AnnotationChannelRequest = "bollard.dev/channel-request"

// RollingBack reports spec.rollbackOnFailure (default true).
func (c *ChannelRelease) RollingBack() bool {
	return c.Spec.RollbackOnFailure == nil || *c.Spec.RollbackOnFailure
}

// StepPercents are spec.steps, default [100].
func (c *ChannelRelease) StepPercents() []int32 {
	if len(c.Spec.Steps) == 0 {
		return []int32{100}
	}
	return c.Spec.Steps
}
