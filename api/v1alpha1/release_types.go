package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Release is one application that bollard's daemon keeps in step with a git repository: it
// fetches the revision, renders it, runs the gate's pre-flight decision on it, applies it through
// gitops-engine, reverts drift, and records every change in a Deployment Log.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rel
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.observedRevision`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Drift",type=integer,JSONPath=`.status.driftCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Release struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReleaseSpec   `json:"spec"`
	Status ReleaseStatus `json:"status,omitempty"`
}

// ReleaseSpec says where the desired state comes from and how it is applied.
type ReleaseSpec struct {
	Source GitSource `json:"source"`
	// +optional
	Render Render `json:"render,omitempty"`
	// TargetNamespace is where namespaced objects without a namespace go; default: the
	// Release's own namespace. Another namespace is refused unless a DeployPolicy whose
	// scope.namespaces covers the Release's namespace lists it in spec.releases.targetNamespaces.
	// Objects naming a namespace other than the target are refused (a Release stays in its lane).
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// ServiceAccountName is the ServiceAccount of the Release's namespace the daemon acts as
	// (impersonation) to apply, prune, run hooks and the prove Job, write the migration record
	// and read the git credentials: Kubernetes RBAC bounds what the Release can touch. Default:
	// the daemon's --default-service-account (the chart's "bollard-release").
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Receiver gives the Release a push endpoint of its own, /hooks/git/<namespace>/<name>,
	// authenticated with a Secret of its namespace (key "secret": the HMAC key, or GitLab's
	// token) instead of the daemon's shared one; a push there reconciles this Release only.
	// +optional
	Receiver *ReleaseReceiver `json:"receiver,omitempty"`
	// SelfHeal reverts out-of-band changes to managed objects at once; without it drift is only
	// reported.
	// +kubebuilder:default=true
	// +optional
	SelfHeal *bool `json:"selfHeal,omitempty"`
	// Prune deletes managed objects that are no longer in git (never objects bollard does not own).
	// +kubebuilder:default=true
	// +optional
	Prune *bool `json:"prune,omitempty"`
	// Adopt lets the Release take over objects that exist without an owner (created by hand or by
	// another tool). Without it such an object is refused, naming it; an object another Release
	// manages is always refused, naming that Release.
	// +optional
	Adopt bool `json:"adopt,omitempty"`
	// Interval is how often git is polled when no push arrives.
	// +kubebuilder:default="3m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
	// IgnoreDifferences lists fields other controllers own: they are neither drift nor applied.
	// spec.replicas of a workload an HPA scales is ignored without being listed.
	// +optional
	IgnoreDifferences []IgnoreDifference `json:"ignoreDifferences,omitempty"`
	// Suspend stops applying (drift is still reported).
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Strategy is how a new revision rolls out: rolling (the default: the workloads' own update,
	// then verified), canary or blueGreen.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`
	// Attest attaches the Deployment Log of every revision that succeeds to each image digest it
	// deployed, in the image's registry, as an in-toto attestation (predicate type
	// https://bollard.dev/deployment-log/v1) signed with the daemon's --attest-key: `cosign
	// verify-attestation` then proves where and when the digest ran and what it passed. A
	// registry error is a warning in the log, never a failed deploy.
	// +optional
	Attest bool `json:"attest,omitempty"`
	// RecordRetention is how many DeploymentRecords (finished Deployment Logs kept as objects)
	// the Release keeps; the oldest beyond it are deleted. Default 100.
	// +kubebuilder:validation:Minimum=1
	// +optional
	RecordRetention *int32 `json:"recordRetention,omitempty"`
	// HealthTimeout bounds how long the new revision's workloads may take to become healthy
	// (every new pod Ready); default 60s. Not healthy in time: rolled back.
	// +optional
	HealthTimeout *metav1.Duration `json:"healthTimeout,omitempty"`
	// Health asks the application itself: once the new revision's pods are Ready, the daemon GETs
	// Path on Port of every new pod (by its address, as Argo Rollouts' and Flagger's analyses
	// poll a service) and needs a 2xx answer from each — kubelet's readiness probe may look
	// elsewhere, or only ask whether the process listens. An answer missing at the health timeout
	// rolls the revision back, naming the pod and what it answered.
	// +optional
	Health *HealthCheck `json:"health,omitempty"`
	// Prove is the post-deploy proof, run once the new revision is healthy and before the SLO
	// guard: an HTTP check, or a Job, that must succeed within its timeout.
	// +optional
	Prove *Prove `json:"prove,omitempty"`
	// Analysis is the SLO guard run on the new revision once it is healthy (and proven).
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`
	// Migration names the revision's database migration: a Job in git annotated as a PreSync hook
	// (argocd.argoproj.io/hook: PreSync), which runs before the workloads change. When it
	// succeeds, SchemaVersion is recorded in Record — the ConfigMap key a DeployPolicy's schema
	// source reads, so the gate admits workloads that need that version.
	// +optional
	Migration *Migration `json:"migration,omitempty"`
	// RollbackOnFailure puts the last good revision back when health or an SLO fails (default
	// true: the red button). Off: the Release stops at Failed and nothing is undone.
	// +optional
	RollbackOnFailure *bool `json:"rollbackOnFailure,omitempty"`
}

// HealthCheck is an HTTP endpoint every new pod of the Release answers about itself.
type HealthCheck struct {
	// Path is requested with GET; default /health.
	// +optional
	Path string `json:"path,omitempty"`
	// Port is the pod's port number it is served on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// Prove is an HTTP check or a Job; give one.
type Prove struct {
	// HTTP: GET URL ({{version}} is replaced) until it answers ExpectStatus (default 200).
	// +optional
	HTTP *HTTPProve `json:"http,omitempty"`
	// Job runs this template in the target namespace; it must succeed.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Job *batchv1.JobTemplateSpec `json:"job,omitempty"`
	// Timeout for the proof; default 60s.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// HTTPProve is a URL that must answer with the expected status.
type HTTPProve struct {
	URL string `json:"url"`
	// +optional
	ExpectStatus int32 `json:"expectStatus,omitempty"`
}

// Migration is a migration hook and the schema version it applies.
type Migration struct {
	// Job is the name of the PreSync hook Job in the revision.
	Job string `json:"job"`
	// SchemaVersion the Job applies.
	SchemaVersion string `json:"schemaVersion"`
	// Record is where the applied version is written (namespace defaults to the target): only
	// in the target namespace, and only where a DeployPolicy's schema source reads it.
	Record ConfigMapKeyRef `json:"record"`
}

// Analysis is the SLO guard: Prometheus queries evaluated every interval for the hold period.
type Analysis struct {
	// Prometheus is the server's URL (http://prometheus.monitoring:9090).
	// +kubebuilder:validation:MinLength=1
	Prometheus string `json:"prometheus"`
	// Interval between evaluations; default 10s.
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Hold is how long every SLO must hold; default 1m.
	// +optional
	Hold *metav1.Duration `json:"hold,omitempty"`
	// InitialDelay waits before the first evaluation, so the new version has served traffic
	// (a rate over an empty window is no data); default 0. It does not count toward Hold.
	// +optional
	InitialDelay *metav1.Duration `json:"initialDelay,omitempty"`
	// +kubebuilder:validation:MinItems=1
	Metrics []SLOMetric `json:"metrics"`
	// OnNoData says what an empty result or an unreachable Prometheus means: fail (default: roll
	// back) or pause (wait, and say so, until data returns or a person decides).
	// +kubebuilder:validation:Enum=fail;pause
	// +optional
	OnNoData string `json:"onNoData,omitempty"`
}

// SLOMetric is one query whose value must stay at or below Max.
type SLOMetric struct {
	Name string `json:"name"`
	// Query is PromQL; {{version}} is replaced by the new revision's version (the
	// app.kubernetes.io/version bollard sets on its pods), so the query selects the new instances.
	Query string `json:"query"`
	// Max is the threshold, a decimal number in the query's unit ("300", "0.5").
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?$`
	Max string `json:"max"`
	// Unit is for display (ms, %).
	// +optional
	Unit string `json:"unit,omitempty"`
}

// GitSource is a path at a ref of a git repository.
type GitSource struct {
	// URL of the repository: https://, ssh:// or git@host:org/repo, or file:// (a repository on
	// the daemon's disk).
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`
	// Ref is a branch, tag or commit; default main.
	// +optional
	Ref string `json:"ref,omitempty"`
	// Path inside the repository; default its root.
	// +optional
	Path string `json:"path,omitempty"`
	// SecretRef names a Secret in the Release's namespace with the credentials: keys
	// username+password (or password alone: a token) for HTTPS, or sshPrivateKey (and
	// optionally knownHosts) for SSH.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
}

// RenderMode is how files become objects.
// +kubebuilder:validation:Enum=directory;kustomize;helm
type RenderMode string

const (
	RenderDirectory RenderMode = "directory"
	RenderKustomize RenderMode = "kustomize"
	RenderHelm      RenderMode = "helm"
)

// Render turns the files at the path into objects.
type Render struct {
	// Mode: directory (every .yaml/.yml/.json, recursively), kustomize (a kustomization.yaml at
	// the path) or helm (a chart at the path). Default: kustomize when a kustomization file is
	// there, else directory.
	// +optional
	Mode RenderMode `json:"mode,omitempty"`
	// Helm: values files (relative to the chart) and inline values on top.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
	// ReleaseName is Helm's .Release.Name; default: the Release's name.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
}

// IgnoreDifference names fields of matching objects that are not bollard's to set.
type IgnoreDifference struct {
	// +optional
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	// +optional
	Name string `json:"name,omitempty"`
	// JSONPointers such as /spec/replicas.
	JSONPointers []string `json:"jsonPointers"`
}

// StrategyType is how a new revision of a workload is rolled out.
// +kubebuilder:validation:Enum=rolling;blueGreen;canary
type StrategyType string

const (
	StrategyRolling   StrategyType = "rolling"
	StrategyCanary    StrategyType = "canary"
	StrategyBlueGreen StrategyType = "blueGreen"
)

// Strategy is the rollout strategy, executed as one state machine persisted in status.rollout.
type Strategy struct {
	// +kubebuilder:default=rolling
	Type StrategyType `json:"type"`
	// Canary steps in percent of traffic; default 1, 10, 50, 100. Without a Gateway API route the
	// weight is approximated by replicas: each step's log says which weight was achievable.
	// +optional
	Steps []int32 `json:"steps,omitempty"`
	// HTTPRoute names a Gateway API HTTPRoute of the revision: the canary's traffic share is
	// then set exactly by backend weights (stable Service pinned to the running version, a
	// "<service>-canary" Service for the new one) instead of approximated by replicas.
	// +optional
	HTTPRoute string `json:"httpRoute,omitempty"`
	// ActiveService and PreviewService for blue/green.
	// +optional
	ActiveService string `json:"activeService,omitempty"`
	// +optional
	PreviewService string `json:"previewService,omitempty"`
}

// ReleaseStatus is what the daemon observed and did.
type ReleaseStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase: Synced, OutOfSync, Syncing, Failed, Refused (pre-flight or render), Suspended.
	// +optional
	Phase string `json:"phase,omitempty"`
	// DesiredRevision is the commit the ref points at; ObservedRevision the one applied last;
	// LastGoodRevision the last one applied successfully.
	// +optional
	DesiredRevision string `json:"desiredRevision,omitempty"`
	// +optional
	ObservedRevision string `json:"observedRevision,omitempty"`
	// ObservedRender is RenderDigest of the spec the running revision was rendered with: a
	// change of how it renders (values, path, target) is a new revision, verified like a commit.
	// +optional
	ObservedRender string `json:"observedRender,omitempty"`
	// +optional
	LastGoodRevision string `json:"lastGoodRevision,omitempty"`
	// LastGoodRender is the RenderDigest the last good revision was verified with.
	// +optional
	LastGoodRender string `json:"lastGoodRender,omitempty"`
	// LastGoodArtifact is the bollard.dev/artifact pin the last good revision was verified with
	// ("" for git's images), and LastGoodPromotedFrom the record that pin was promoted from: a
	// failed pin or promotion rolls back to them.
	// +optional
	LastGoodArtifact string `json:"lastGoodArtifact,omitempty"`
	// +optional
	LastGoodPromotedFrom string `json:"lastGoodPromotedFrom,omitempty"`
	// Message says what went wrong, or what was done last.
	// +optional
	Message string `json:"message,omitempty"`
	// Resources are the managed objects and their sync state.
	// +optional
	Resources []ResourceStatus `json:"resources,omitempty"`
	// Drift lists managed objects found changed out of band (values never shown).
	// +optional
	Drift []DriftRecord `json:"drift,omitempty"`
	// +optional
	DriftCount int `json:"driftCount,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// History holds the Deployment Logs not kept as DeploymentRecords yet, newest first: the
	// change under way, a ROLLBACK_FAILED one whose rollback is retried, any whose record could
	// not be written yet (at most 10). A finished log lives in its DeploymentRecord, which
	// lastRecordID points at; `bollard log` reads both.
	// +optional
	History []DeploymentLog `json:"history,omitempty"`
	// LastRecordID is the ID of the newest Deployment Log kept as a DeploymentRecord (named
	// RELEASE-UID8-ID, labelled bollard.dev/release): the pointer to the latest finished change.
	// +optional
	LastRecordID int64 `json:"lastRecordID,omitempty"`
	// LastSyncTime is when the last sync finished.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// Rollout is the verification of the revision applied last: persisted step by step, so a
	// restarted daemon resumes it (or rolls back) where it was.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// FailedRevision was rolled back: it is not applied again until git moves on.
	// +optional
	FailedRevision string `json:"failedRevision,omitempty"`
	// Artifact is the bollard.dev/artifact pin applied last ("" for git's images).
	// +optional
	Artifact string `json:"artifact,omitempty"`
	// LastDeployRequest is the bollard.dev/deploy-request the daemon acted on last.
	// +optional
	LastDeployRequest string `json:"lastDeployRequest,omitempty"`
}

// RolloutPhase is where a rollout is (status.rollout.phase).
type RolloutPhase string

const (
	// RolloutVerifying: a phase of the strategy is being checked.
	RolloutVerifying RolloutPhase = "Verifying"
	// RolloutPaused: the SLO guard has no data and onNoData is pause.
	RolloutPaused RolloutPhase = "Paused"
	// RolloutSucceeded: verified; the revision is the last good one.
	RolloutSucceeded RolloutPhase = "Succeeded"
	// RolloutFailing: a check failed; the rollback (or halt) is under way. Persisted before it
	// starts, so a restarted daemon finishes it.
	RolloutFailing RolloutPhase = "Failing"
	// RolloutRolledBack: failed, and the last good revision runs again.
	RolloutRolledBack RolloutPhase = "RolledBack"
	// RolloutRollbackFailed: failed, and so did the rollback; retried with backoff.
	RolloutRollbackFailed RolloutPhase = "RollbackFailed"
	// RolloutHalted: failed with rollbackOnFailure off, stopped at a safe state (a canary at
	// 0 %, a blue/green on blue).
	RolloutHalted RolloutPhase = "Halted"
	// RolloutFailed: failed, and nothing was undone (rollbackOnFailure off on a rolling update,
	// or no earlier good revision).
	RolloutFailed RolloutPhase = "Failed"
)

// RolloutCheck is a check that verifies a phase of a rollout.
type RolloutCheck string

const (
	CheckHealth   RolloutCheck = "health"
	CheckProve    RolloutCheck = "prove"
	CheckAnalysis RolloutCheck = "analysis"
)

// RolloutStatus is one revision's rollout: the strategy's phase it is in and the check running,
// persisted at every transition so a restarted daemon resumes it (or rolls it back) where it was.
type RolloutStatus struct {
	Revision string `json:"revision"`
	// Artifact is the bollard.dev/artifact pin the rollout applies ("" for git's images).
	// +optional
	Artifact string `json:"artifact,omitempty"`
	// Render is the RenderDigest the revision was rendered with (its values, path, target).
	// +optional
	Render string `json:"render,omitempty"`
	// Strategy the rollout runs.
	// +optional
	Strategy StrategyType `json:"strategy,omitempty"`
	Phase    RolloutPhase `json:"phase"`
	// Index is the strategy's phase: rolling 0; canary the step (an index into the steps), then
	// one past the last below 100 % for the promoted revision; blue/green 0 green beside blue,
	// 1 switched, 2 blue on the new template, 3 git's state.
	// +optional
	Index int32 `json:"index,omitempty"`
	// Check is the check of the phase running now.
	// +optional
	Check RolloutCheck `json:"check,omitempty"`
	// CanaryWeight is the share of traffic the canary phase asks for, in percent.
	// +optional
	CanaryWeight int32 `json:"canaryWeight,omitempty"`
	// Achieved is what the phase achieved, as a person reads it ("10% asked: 1/10 replicas on
	// the new version = 10%").
	// +optional
	Achieved string `json:"achieved,omitempty"`
	// Attempts counts failed rollback attempts (RollbackFailed); the next one is at NextAttempt.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	NextAttempt *metav1.Time `json:"nextAttempt,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Version the SLO queries select.
	// +optional
	Version   string      `json:"version,omitempty"`
	StartedAt metav1.Time `json:"startedAt"`
	// CheckStartedAt is when the running check started (an initial delay puts it in the
	// future: the SLO guard's hold starts then).
	CheckStartedAt metav1.Time `json:"checkStartedAt"`
	// LogID is the Deployment Log this rollout writes into.
	LogID int64 `json:"logID"`
	// From is the revision running beside the new one (canary, blue/green): the last good one.
	// +optional
	From string `json:"from,omitempty"`
}

// ResourceStatus is one managed object.
type ResourceStatus struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Status: Synced, SyncFailed, Pruned, PruneSkipped.
	Status string `json:"status"`
	// Message says what went wrong, or what was done instead of applying (empty for an object
	// applied).
	// +optional
	Message string `json:"message,omitempty"`
}

// DriftRecord is one object changed out of band.
type DriftRecord struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Fields that differ from git (paths only: values, and above all Secret data, are never shown),
	// or "deleted".
	Fields     []string    `json:"fields"`
	DetectedAt metav1.Time `json:"detectedAt"`
	// Reverted is true when self-heal put git's state back.
	Reverted bool `json:"reverted"`
}

// DeploymentLog is one change: what was applied, what the gates said, what each step saw, and
// how it ended. `bollard log` prints it.
type DeploymentLog struct {
	// ID increases by one per change of this Release.
	ID       int64       `json:"id"`
	Started  metav1.Time `json:"started"`
	Finished metav1.Time `json:"finished,omitempty"`
	// Trigger: push, poll, drift, create, manual.
	Trigger  string `json:"trigger"`
	Revision string `json:"revision"`
	// +optional
	Author string `json:"author,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Target string `json:"target,omitempty"`
	// Environment is the target namespace's bollard.dev/environment label (staging, production).
	// +optional
	Environment string `json:"environment,omitempty"`
	// Namespace is where the revision was applied.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Strategy is how the revision was rolled out (rolling, canary 10% → 50% → 100%,
	// blue/green), as it ran — not read from today's spec.
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// Artifacts are the images (with digests where known) the revision deploys.
	// +optional
	Artifacts []string `json:"artifacts,omitempty"`
	// Evidence is, per image, what the gate established: the digest that runs, the policy and
	// authority whose cosign signature verified on it, and each attestation it required — or why
	// it was not verified.
	// +optional
	Evidence []ArtifactEvidence `json:"evidence,omitempty"`
	// Gates are the pre-flight results.
	// +optional
	Gates []LogStep `json:"gates,omitempty"`
	// Steps are what was done, in order.
	// +optional
	Steps []LogStep `json:"steps,omitempty"`
	// PromotedFrom is the record of the source environment whose verified digests this change
	// deploys (bollard promote): the evidence the promotion rests on.
	// +optional
	PromotedFrom *RecordRef `json:"promotedFrom,omitempty"`
	// TraceID is the OpenTelemetry trace of this change (a span per gate and step), when the
	// daemon sends traces; SpanID its root span.
	// +optional
	TraceID string `json:"traceID,omitempty"`
	// +optional
	SpanID string `json:"spanID,omitempty"`
	// Created, Updated, Pruned count objects.
	Created int       `json:"created"`
	Updated int       `json:"updated"`
	Pruned  int       `json:"pruned"`
	Status  LogStatus `json:"status"`
}

// RecordRef points at a DeploymentRecord: where it is, and what it says in short.
type RecordRef struct {
	Namespace string `json:"namespace"`
	// Name of the DeploymentRecord.
	Name string `json:"name"`
	// Release the record is of.
	Release string `json:"release"`
	// ID of its Deployment Log.
	ID int64 `json:"id"`
	// +optional
	Environment string `json:"environment,omitempty"`
	// Revision the source deployed.
	// +optional
	Revision string `json:"revision,omitempty"`
}

// ArtifactEvidence is what the gate established about one image of a revision.
type ArtifactEvidence struct {
	// Image as the revision names it (a tag, or already pinned by digest).
	Image string `json:"image"`
	// Digest the image resolved to — what runs (sha256:…); empty when it was not resolved.
	// +optional
	Digest string `json:"digest,omitempty"`
	// Verified is true only when a ClusterImagePolicy's authority verified a cosign signature
	// (or every attestation it requires) on Digest.
	Verified bool `json:"verified"`
	// Policy is the ClusterImagePolicy that matched the image.
	// +optional
	Policy string `json:"policy,omitempty"`
	// Authority that verified: its name and kind (key, keyless).
	// +optional
	Authority string `json:"authority,omitempty"`
	// Format of what verified: classic (the .sig/.att tags) or bundle (Sigstore bundles).
	// +optional
	Format string `json:"format,omitempty"`
	// Attestations are the in-toto attestations the authority required, each verified.
	// +optional
	Attestations []AttestationEvidence `json:"attestations,omitempty"`
	// Reason says why the image was not verified (verification off, no policy matched it, no
	// signature, a signature of another key, …).
	// +optional
	Reason string `json:"reason,omitempty"`
}

// AttestationEvidence is one verified in-toto attestation on an image digest.
type AttestationEvidence struct {
	// Name is the policy's name for the attestation.
	Name          string `json:"name"`
	PredicateType string `json:"predicateType"`
	// Digest is the sha256 of the verified in-toto statement.
	Digest string `json:"digest"`
	// Signer is the authority whose signature on the statement verified.
	Signer string `json:"signer"`
}

// LogStatus is how a change ended (or that it is still being verified).
type LogStatus string

const (
	LogVerifying      LogStatus = "VERIFYING"
	LogSuccess        LogStatus = "SUCCESS"
	LogFailed         LogStatus = "FAILED"
	LogRefused        LogStatus = "REFUSED"
	LogRolledBack     LogStatus = "ROLLED_BACK"
	LogHalted         LogStatus = "HALTED"
	LogRollbackFailed LogStatus = "ROLLBACK_FAILED"
)

// StepResult is the result of one line of a Deployment Log.
type StepResult string

const (
	ResultOK   StepResult = "OK"
	ResultWarn StepResult = "WARN"
	ResultFail StepResult = "FAIL"
	ResultSkip StepResult = "SKIP"
)

// LogStep is one line of a Deployment Log.
type LogStep struct {
	Name   string     `json:"name"`
	Result StepResult `json:"result"`
	// +optional
	Detail string `json:"detail,omitempty"`
	// +optional
	DurationMillis int64 `json:"durationMillis,omitempty"`
}

// ReleaseList is a list of Releases.
// +kubebuilder:object:root=true
type ReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Release `json:"items"`
}

// AnnotationRollbackTo on a Release asks the daemon to roll back now: to the revision it names
// (a commit hash or its start, from the Release's history), or to the last good revision when
// empty or "last-good". The daemon removes it once done. `bollard rollback` sets it.
const AnnotationRollbackTo = "bollard.dev/rollback-to"

// AnnotationDeployRequest on a Release asks the daemon to reconcile now (bollard deploy); its
// value (a timestamp) comes back in status.lastDeployRequest once the daemon has acted on it.
const AnnotationDeployRequest = "bollard.dev/deploy-request"

// AnnotationArtifact on a Release pins the image of its workloads' containers of a repository to
// the reference it names (repository@sha256:…), whatever tag git gives; several pins are
// separated by commas: `bollard deploy --artifact`, `bollard promote`. It goes through pre-flight
// (the signature of each digest) like any revision.
const AnnotationArtifact = "bollard.dev/artifact"

// AnnotationPromotedFrom on a Release names the DeploymentRecord (NAMESPACE/NAME) whose verified
// digests its bollard.dev/artifact pin holds: `bollard promote`. Before pre-flight the daemon
// checks the record still says so — it ended SUCCESS and verified every pinned digest — and the
// Deployment Log links it; otherwise the change is refused.
const AnnotationPromotedFrom = "bollard.dev/promoted-from"

// AnnotationRevision on a Release deploys that revision (a branch, tag or commit) instead of the
// head of spec.source.ref, until a deploy without it: `bollard deploy --revision`. The spec is
// not changed; the Deployment Log records the request.
const AnnotationRevision = "bollard.dev/revision"

// SelfHealing reports spec.selfHeal (default true).
func (r *Release) SelfHealing() bool { return r.Spec.SelfHeal == nil || *r.Spec.SelfHeal }

// Pruning reports spec.prune (default true).
func (r *Release) Pruning() bool { return r.Spec.Prune == nil || *r.Spec.Prune }

// ReleaseReceiver is a Release's own push endpoint.
type ReleaseReceiver struct {
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// RenderDigest identifies what, beside the commit, decides the objects a revision renders to:
// spec.source.path, spec.render (values, values files, mode, release name) and the target
// namespace.
func (r *Release) RenderDigest() string {
	b, _ := json.Marshal(struct {
		Path, Target string
		Render       Render
	}{r.Spec.Source.Path, r.Target(), r.Spec.Render})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Target is the namespace the Release deploys into.
func (r *Release) Target() string {
	if r.Spec.TargetNamespace != "" {
		return r.Spec.TargetNamespace
	}
	return r.Namespace
}
