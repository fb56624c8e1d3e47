package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeployPolicy says when and how workloads may change: freeze windows with break-glass,
// feature-flag requirements, risky configuration changes and the database schema gate. Every
// DeployPolicy whose scope matches an object applies to it.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=dp
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeployPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DeployPolicySpec `json:"spec"`
}

// DeployPolicySpec is what a DeployPolicy enforces.
type DeployPolicySpec struct {
	// Scope limits the objects this policy applies to; empty means every checked object.
	// +optional
	Scope Scope `json:"scope,omitempty"`

	// FreezeWindows deny deploys while active (mode deny), or allow them only while active (mode allow).
	// +optional
	// +listType=map
	// +listMapKey=name
	FreezeWindows []FreezeWindow `json:"freezeWindows,omitempty"`

	// BreakGlass names who may deploy inside a freeze with the bollard.dev/break-glass annotation.
	// Without it nobody can.
	// +optional
	BreakGlass *BreakGlass `json:"breakGlass,omitempty"`

	// Deletes says whether deleting a workload in scope (Deployment, StatefulSet, DaemonSet,
	// CronJob, ReplicationController) is a change its freeze windows gate: Gate (the default)
	// denies it inside a deny window or outside the allow windows, unless the workload carries an
	// authorised bollard.dev/break-glass annotation; Allow lets deletes through.
	// +optional
	// +kubebuilder:validation:Enum=Gate;Allow
	Deletes DeletePolicy `json:"deletes,omitempty"`

	// Flags is where live feature-flag states come from, for bollard.dev/requires-flags and the
	// freeze switch.
	// +optional
	Flags *FlagPolicy `json:"flags,omitempty"`

	// RiskyChanges says which classes of change on UPDATE warn or are denied until approved.
	// +optional
	RiskyChanges *RiskyChangePolicy `json:"riskyChanges,omitempty"`

	// Schema is where the applied database schema version is recorded, for bollard.dev/schema-version.
	// A Release's migration writes its schema version only there.
	// +optional
	Schema *SchemaPolicy `json:"schema,omitempty"`

	// Releases widens what the Releases of the namespaces in scope.namespaces may do. Without a
	// policy that says so, a Release deploys into its own namespace only.
	// +optional
	Releases *ReleasePolicy `json:"releases,omitempty"`
}

// ReleasePolicy is what an administrator allows Releases beyond their own namespace.
type ReleasePolicy struct {
	// TargetNamespaces a Release may name in spec.targetNamespace.
	// +optional
	TargetNamespaces []string `json:"targetNamespaces,omitempty"`
}

// Scope selects objects. All the fields given must match.
type Scope struct {
	// Namespaces the object must be in.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Environments the object must belong to: the bollard.dev/environment label of the object, or
	// else of its namespace.
	// +optional
	Environments []string `json:"environments,omitempty"`
	// Selector on the object's labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// WindowMode says what an active window means.
// +kubebuilder:validation:Enum=deny;allow
type WindowMode string

const (
	// WindowDeny denies deploys while the window is active.
	WindowDeny WindowMode = "deny"
	// WindowAllow allows deploys only while one of the policy's allow windows is active.
	WindowAllow WindowMode = "allow"
)

// FreezeWindow recurs by a cron schedule or an RFC 5545 RRULE, in an IANA time zone, and lasts
// Duration of wall-clock time from each start (Fri 00:00 + 78h ends Mon 06:00 local, even when the
// clocks change in between).
// +kubebuilder:validation:XValidation:rule="has(self.schedule) != has(self.rrule)",message="give exactly one of schedule and rrule"
type FreezeWindow struct {
	// Name identifies the window in messages.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Schedule is a five-field cron expression ("0 0 * * FRI") or a descriptor (@daily).
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// RRule is an RFC 5545 recurrence rule ("FREQ=WEEKLY;BYDAY=FR;BYHOUR=0;BYMINUTE=0;BYSECOND=0").
	// Without DTSTART it starts on 2020-01-01 00:00 in TimeZone.
	// +optional
	RRule string `json:"rrule,omitempty"`
	// Duration of each occurrence, e.g. "78h".
	Duration metav1.Duration `json:"duration"`
	// TimeZone is an IANA name such as Europe/Berlin; default UTC.
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
	// Mode is deny (default) or allow.
	// +optional
	// +kubebuilder:default=deny
	Mode WindowMode `json:"mode,omitempty"`
	// Scope narrows the window within the policy's scope.
	// +optional
	Scope *Scope `json:"scope,omitempty"`
}

// DeletePolicy says whether freezes gate deletes.
type DeletePolicy string

const (
	DeletesGate  DeletePolicy = "Gate"
	DeletesAllow DeletePolicy = "Allow"
)

// BreakGlass names who may deploy inside a freeze.
type BreakGlass struct {
	// +optional
	Users []string `json:"users,omitempty"`
	// +optional
	Groups []string `json:"groups,omitempty"`
}

// ConfigMapKeyRef points at one key of a ConfigMap.
type ConfigMapKeyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// FlagPolicy says where flag states are and which flag freezes deploys.
type FlagPolicy struct {
	// Source holds an OpenFeature flagd flag-definition JSON document.
	Source ConfigMapKeyRef `json:"source"`
	// FreezeFlag, when set and on, denies deploys like an active deny window (break-glass applies).
	// +optional
	FreezeFlag string `json:"freezeFlag,omitempty"`
}

// ChangeClass is a kind of risky change the gate recognises.
// +kubebuilder:validation:Enum=DatabaseURL;SecretRef;Resources;ProbeRemoved;ScaleToZero;ImageTag
type ChangeClass string

const (
	ChangeDatabaseURL  ChangeClass = "DatabaseURL"
	ChangeSecretRef    ChangeClass = "SecretRef"
	ChangeResources    ChangeClass = "Resources"
	ChangeProbeRemoved ChangeClass = "ProbeRemoved"
	ChangeScaleToZero  ChangeClass = "ScaleToZero"
	ChangeImageTag     ChangeClass = "ImageTag"
)

// Action is what a rule does when it matches.
// +kubebuilder:validation:Enum=warn;deny
type Action string

const (
	ActionWarn Action = "warn"
	ActionDeny Action = "deny"
)

// RiskyChangePolicy classifies UPDATEs.
type RiskyChangePolicy struct {
	// Rules give an action per class; classes not listed warn.
	// +optional
	// +listType=map
	// +listMapKey=class
	Rules []RiskRule `json:"rules,omitempty"`
	// ResourceChangePercent is how far (in percent of the old value) a CPU or memory request or
	// limit may move before it counts as risky; default 50.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ResourceChangePercent *int32 `json:"resourceChangePercent,omitempty"`
	// DatabaseEnvNames are extra regular expressions for env var names that hold a database URL.
	// +optional
	DatabaseEnvNames []string `json:"databaseEnvNames,omitempty"`
}

// RiskRule sets the action for one class.
type RiskRule struct {
	Class  ChangeClass `json:"class"`
	Action Action      `json:"action"`
}

// SchemaPolicy says where the migration step records the applied schema version.
type SchemaPolicy struct {
	Source ConfigMapKeyRef `json:"source"`
}

// DeployPolicyList is a list of DeployPolicies.
// +kubebuilder:object:root=true
type DeployPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeployPolicy `json:"items"`
}
