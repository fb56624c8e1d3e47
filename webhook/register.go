package webhook

import (
	"fmt"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/workload"
)

// OptOutLabel on a namespace keeps the gate out of it.
const OptOutLabel = admission.OptOutLabel

// OptOutWebhookName is the entry that guards the opt-out label itself.
const OptOutWebhookName = "optout.bollard.dev"

// PolicyWebhookName is the entry that validates ClusterImagePolicies.
const PolicyWebhookName = "policies.bollard.dev"

// WebhookName is the name of bollard's validating webhook.
const WebhookName = "gate.bollard.dev"

// ChannelWebhookName is the entry that gates ChannelReleases.
const ChannelWebhookName = "channels.bollard.dev"

// ChannelSpecChanged is the match condition of ChannelWebhook: a create, or an update that
// changes the spec. A request to the daemon (halt, resume, complete: an annotation) or a
// break-glass annotation alone never reaches the gate, so the red button works in a freeze, with
// a revoked signature and while the webhook is down.
const ChannelSpecChanged = "request.operation == 'CREATE' || object.spec != oldObject.spec"

// ValidatingWebhook is the webhook entry for the gate at url: every pod-bearing kind on CREATE and
// UPDATE (with their scale subresources left out), never in kube-system, kube-node-lease, bollard's
// own namespace or a namespace labelled bollard.dev/ignore=true, so the gate cannot lock the
// cluster out of its own repair.
func ValidatingWebhook(url string, caBundle []byte, ownNamespace string, failurePolicy admissionregistrationv1.FailurePolicyType, timeoutSeconds int32, custom ...workload.Kind) admissionregistrationv1.ValidatingWebhook {
	sideEffects := admissionregistrationv1.SideEffectClassNoneOnDryRun
	excluded := []string{"kube-system", "kube-node-lease"}
	if ownNamespace != "" {
		excluded = append(excluded, ownNamespace)
	}
	rule := func(group string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources},
		}
	}
	var customRules []admissionregistrationv1.RuleWithOperations
	for _, k := range custom {
		r := rule(k.Group, k.Resource)
		r.APIVersions = []string{k.Version}
		customRules = append(customRules, r)
	}
	return admissionregistrationv1.ValidatingWebhook{
		Name:         WebhookName,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
		Rules: append([]admissionregistrationv1.RuleWithOperations{
			rule("", "pods", "replicationcontrollers"),
			rule("apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
			rule("batch", "jobs", "cronjobs"),
			// kubectl debug: an ephemeral container runs an image too.
			{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"}}},
			// Deleting a workload is a change a freeze gates (admission.DeleteKinds).
			deleteRule("", "replicationcontrollers"),
			deleteRule("apps", "deployments", "statefulsets", "daemonsets"),
			deleteRule("batch", "cronjobs"),
		}, customRules...),
		// What the built-in controllers make from objects the gate checked never reaches it.
		MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "not-made-by-a-built-in-controller", Expression: ControllerMatch()}},
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
			{Key: OptOutLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}},
		}},
		FailurePolicy:           &failurePolicy,
		SideEffects:             &sideEffects,
		TimeoutSeconds:          &timeoutSeconds,
		AdmissionReviewVersions: []string{"v1"},
	}
}

// ChannelWebhook is the gate's entry for ChannelReleases (bollard.dev/v1alpha1), with the gate's
// namespace scope and failure policy: what a ChannelRelease ships (spec.artifact.ref) is judged
// at admission like an image — signatures, attestations, freezes, flags — before the daemon ever
// sees it (its pre-flight judges it again, as the release's ServiceAccount). Only creates and
// spec changes are sent (ChannelSpecChanged); status is a subresource and never matches.
func ChannelWebhook(url string, caBundle []byte, ownNamespace string, failurePolicy admissionregistrationv1.FailurePolicyType, timeoutSeconds int32) admissionregistrationv1.ValidatingWebhook {
	w := ValidatingWebhook(url, caBundle, ownNamespace, failurePolicy, timeoutSeconds)
	w.Name = ChannelWebhookName
	w.Rules = []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"bollard.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"channelreleases"}},
	}}
	w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "spec-changed", Expression: ChannelSpecChanged}}
	return w
}

// OptOutWebhook guards the opt-out label: Namespace creates and updates, sent to the gate only
// when they set, change or remove bollard.dev/ignore (a CEL match condition), so namespaces stay
// writable while the webhook is down — except for that label, which stays as it is (fail closed).
// It has no namespaceSelector: a namespace being labelled must not escape its own check.
func OptOutWebhook(url string, caBundle []byte, timeoutSeconds int32) admissionregistrationv1.ValidatingWebhook {
	w := guard(OptOutWebhookName, url, caBundle, timeoutSeconds, admissionregistrationv1.SideEffectClassNoneOnDryRun,
		admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}})
	w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "opt-out-label-changes", Expression: OptOutMatch}}
	return w
}

// guard is a fail-closed webhook entry (no namespaceSelector) for creates and updates of rule.
func guard(name, url string, caBundle []byte, timeoutSeconds int32, sideEffects admissionregistrationv1.SideEffectClass, rule admissionregistrationv1.Rule) admissionregistrationv1.ValidatingWebhook {
	fail := admissionregistrationv1.Fail
	return admissionregistrationv1.ValidatingWebhook{
		Name:         name,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       rule,
		}},
		FailurePolicy:           &fail,
		SideEffects:             &sideEffects,
		TimeoutSeconds:          &timeoutSeconds,
		AdmissionReviewVersions: []string{"v1"},
	}
}

// PolicyWebhook validates ClusterImagePolicies (both versions policy-controller serves) with
// policy-controller's own validation before the API server stores them: an invalid glob or
// hashAlgorithm is refused with its field path, as policy-controller refuses it, instead of being
// stored and matching nothing. Fail closed: while the webhook is down, policies cannot be written.
func PolicyWebhook(url string, caBundle []byte, timeoutSeconds int32) admissionregistrationv1.ValidatingWebhook {
	return guard(PolicyWebhookName, url, caBundle, timeoutSeconds, admissionregistrationv1.SideEffectClassNone,
		admissionregistrationv1.Rule{APIGroups: []string{"policy.sigstore.dev"}, APIVersions: []string{"v1alpha1", "v1beta1"}, Resources: []string{"clusterimagepolicies"}})
}

func deleteRule(group string, resources ...string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources},
	}
}

// ControllerMatch is false for a write the gate exempts by identity: a built-in controller
// (admission.ControllerKinds) writing a kind it makes, not through a subresource, and the garbage
// collector's and namespace controller's deletes (admission.DeleteControllers).
func ControllerMatch() string {
	users := make([]string, 0, len(admission.ControllerKinds))
	for u := range admission.ControllerKinds {
		users = append(users, u)
	}
	sort.Strings(users)
	var made []string
	for _, u := range users {
		made = append(made, fmt.Sprintf("(request.userInfo.username == '%s' && request.kind.kind in ['%s'])", u, strings.Join(admission.ControllerKinds[u], "', '")))
	}
	return "!((!has(request.subResource) || request.subResource == '') && (" + strings.Join(made, " || ") + ")) && " +
		"!(request.operation == 'DELETE' && request.userInfo.username in ['" + strings.Join(admission.DeleteControllers, "', '") + "'])"
}

// OptOutMatch is true when a namespace write sets, changes or removes the opt-out label.
const OptOutMatch = `(has(object.metadata.labels) && '` + OptOutLabel + `' in object.metadata.labels ? object.metadata.labels['` + OptOutLabel + `'] : '<unset>') != ` +
	`(oldObject != null && has(oldObject.metadata.labels) && '` + OptOutLabel + `' in oldObject.metadata.labels ? oldObject.metadata.labels['` + OptOutLabel + `'] : '<unset>')`

// MutatingWebhook is the digest-pinning entry at url, with the same scope as ValidatingWebhook.
// It runs before the validating call; reinvocation lets it see images other mutating webhooks set.
func MutatingWebhook(url string, caBundle []byte, ownNamespace string, timeoutSeconds int32) admissionregistrationv1.MutatingWebhook {
	v := ValidatingWebhook(url, caBundle, ownNamespace, admissionregistrationv1.Ignore, timeoutSeconds)
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	return admissionregistrationv1.MutatingWebhook{
		// Not the ephemeral containers: that subresource takes no patch to the rest of the Pod.
		Name: "pin.bollard.dev", ClientConfig: v.ClientConfig, Rules: v.Rules[:3], NamespaceSelector: v.NamespaceSelector, MatchConditions: v.MatchConditions,
		// Ignore: a failed pin must not block a deploy; the validating webhook still decides.
		FailurePolicy: v.FailurePolicy, SideEffects: v.SideEffects, TimeoutSeconds: v.TimeoutSeconds,
		AdmissionReviewVersions: v.AdmissionReviewVersions, ReinvocationPolicy: &reinvoke,
	}
}
