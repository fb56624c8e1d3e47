{{/* The ValidatingWebhookConfiguration; called with a dict: "root" (.) and "caBundle" (base64, or empty
when cert-manager injects it). */}}
{{- define "bollard.webhookConfiguration" -}}
{{- $ := .root -}}
# Keep in step with webhook.ValidatingWebhook (Go), which registers the same rules for development.
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ $.Release.Name }}-gate
  labels:
    {{- include "bollard.labels" $ | nindent 4 }}
  {{- if eq $.Values.certs.mode "cert-manager" }}
  annotations:
    cert-manager.io/inject-ca-from: {{ $.Release.Namespace }}/{{ include "bollard.webhook.fullname" $ }}
  {{- end }}
webhooks:
- name: gate.bollard.dev
  admissionReviewVersions: ["v1"]
  sideEffects: NoneOnDryRun
  failurePolicy: {{ $.Values.webhook.failurePolicy }}
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  clientConfig:
    service:
      name: {{ include "bollard.webhook.fullname" $ }}
      namespace: {{ $.Release.Namespace }}
      path: /validate
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods, replicationcontrollers]}
  - {operations: [CREATE, UPDATE], apiGroups: [apps], apiVersions: [v1], resources: [deployments, statefulsets, daemonsets, replicasets]}
  - {operations: [CREATE, UPDATE], apiGroups: [batch], apiVersions: [v1], resources: [jobs, cronjobs]}
  - {operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods/ephemeralcontainers]}
  # Deleting a workload is a change a freeze gates.
  - {operations: [DELETE], apiGroups: [""], apiVersions: [v1], resources: [replicationcontrollers]}
  - {operations: [DELETE], apiGroups: [apps], apiVersions: [v1], resources: [deployments, statefulsets, daemonsets]}
  - {operations: [DELETE], apiGroups: [batch], apiVersions: [v1], resources: [cronjobs]}
  {{- range $.Values.workloadKinds }}
  - {operations: [CREATE, UPDATE], apiGroups: [{{ .group }}], apiVersions: [{{ .version }}], resources: [{{ .resource }}]}
  {{- end }}
  # What the built-in controllers make from objects the gate checked, and the garbage collector's
  # and namespace controller's deletes, never reach it (by the writer's authenticated identity,
  # never by ownerReferences).
  matchConditions:
  - name: not-made-by-a-built-in-controller
    expression: {{ `!((!has(request.subResource) || request.subResource == '') && ((request.userInfo.username == 'system:kube-controller-manager' && request.kind.kind in ['Pod', 'ReplicaSet', 'Job']) || (request.userInfo.username == 'system:serviceaccount:kube-system:cronjob-controller' && request.kind.kind in ['Job']) || (request.userInfo.username == 'system:serviceaccount:kube-system:daemon-set-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:deployment-controller' && request.kind.kind in ['ReplicaSet']) || (request.userInfo.username == 'system:serviceaccount:kube-system:job-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:replicaset-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:replication-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:statefulset-controller' && request.kind.kind in ['Pod']))) && !(request.operation == 'DELETE' && request.userInfo.username in ['system:serviceaccount:kube-system:generic-garbage-collector', 'system:serviceaccount:kube-system:namespace-controller', 'system:kube-controller-manager'])` | quote }}
  namespaceSelector:
    matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat (list "kube-system" "kube-node-lease" $.Release.Namespace) $.Values.excludedNamespaces | toJson }}
    - key: bollard.dev/ignore
      operator: NotIn
      values: ["true"]
# Keep in step with webhook.OptOutWebhook (Go): the opt-out label itself is guarded, in every
# namespace, and only writes that touch it reach the webhook.
- name: optout.bollard.dev
  admissionReviewVersions: ["v1"]
  sideEffects: NoneOnDryRun
  failurePolicy: Fail
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  clientConfig:
    service:
      name: {{ include "bollard.webhook.fullname" $ }}
      namespace: {{ $.Release.Namespace }}
      path: /validate
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [namespaces]}
  matchConditions:
  - name: opt-out-label-changes
    expression: {{ `(has(object.metadata.labels) && 'bollard.dev/ignore' in object.metadata.labels ? object.metadata.labels['bollard.dev/ignore'] : '<unset>') != (oldObject != null && has(oldObject.metadata.labels) && 'bollard.dev/ignore' in oldObject.metadata.labels ? oldObject.metadata.labels['bollard.dev/ignore'] : '<unset>')` | quote }}
# Keep in step with webhook.PolicyWebhook (Go): ClusterImagePolicies are validated with
# policy-controller's own validation before they are stored.
- name: policies.bollard.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  clientConfig:
    service:
      name: {{ include "bollard.webhook.fullname" $ }}
      namespace: {{ $.Release.Namespace }}
      path: /validate
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [policy.sigstore.dev], apiVersions: [v1alpha1, v1beta1], resources: [clusterimagepolicies]}
# Keep in step with webhook.ChannelWebhook (Go): what a ChannelRelease ships is judged like an
# image (signatures, attestations, freezes, flags). Only creates and spec changes are sent: a halt,
# resume or complete request (an annotation) never waits on the gate, even while it is down.
- name: channels.bollard.dev
  admissionReviewVersions: ["v1"]
  sideEffects: NoneOnDryRun
  failurePolicy: {{ $.Values.webhook.failurePolicy }}
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  clientConfig:
    service:
      name: {{ include "bollard.webhook.fullname" $ }}
      namespace: {{ $.Release.Namespace }}
      path: /validate
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [bollard.dev], apiVersions: [v1alpha1], resources: [channelreleases]}
  matchConditions:
  - name: spec-changed
    expression: "request.operation == 'CREATE' || object.spec != oldObject.spec"
  namespaceSelector:
    matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat (list "kube-system" "kube-node-lease" $.Release.Namespace) $.Values.excludedNamespaces | toJson }}
    - key: bollard.dev/ignore
      operator: NotIn
      values: ["true"]
{{- if $.Values.webhook.pinDigests }}
---
# Keep in step with webhook.MutatingWebhook (Go). It runs before the validating webhook and never
# denies (failurePolicy Ignore): a verified tag is pinned to its digest, so what runs is what was verified.
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{ $.Release.Name }}-pin
  labels:
    {{- include "bollard.labels" $ | nindent 4 }}
  {{- if eq $.Values.certs.mode "cert-manager" }}
  annotations:
    cert-manager.io/inject-ca-from: {{ $.Release.Namespace }}/{{ include "bollard.webhook.fullname" $ }}
  {{- end }}
webhooks:
- name: pin.bollard.dev
  admissionReviewVersions: ["v1"]
  sideEffects: NoneOnDryRun
  failurePolicy: Ignore
  reinvocationPolicy: IfNeeded
  timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
  clientConfig:
    service:
      name: {{ include "bollard.webhook.fullname" $ }}
      namespace: {{ $.Release.Namespace }}
      path: /mutate
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods, replicationcontrollers]}
  - {operations: [CREATE, UPDATE], apiGroups: [apps], apiVersions: [v1], resources: [deployments, statefulsets, daemonsets, replicasets]}
  - {operations: [CREATE, UPDATE], apiGroups: [batch], apiVersions: [v1], resources: [jobs, cronjobs]}
  matchConditions:
  - name: not-made-by-a-built-in-controller
    expression: {{ `!((!has(request.subResource) || request.subResource == '') && ((request.userInfo.username == 'system:kube-controller-manager' && request.kind.kind in ['Pod', 'ReplicaSet', 'Job']) || (request.userInfo.username == 'system:serviceaccount:kube-system:cronjob-controller' && request.kind.kind in ['Job']) || (request.userInfo.username == 'system:serviceaccount:kube-system:daemon-set-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:deployment-controller' && request.kind.kind in ['ReplicaSet']) || (request.userInfo.username == 'system:serviceaccount:kube-system:job-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:replicaset-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:replication-controller' && request.kind.kind in ['Pod']) || (request.userInfo.username == 'system:serviceaccount:kube-system:statefulset-controller' && request.kind.kind in ['Pod']))) && !(request.operation == 'DELETE' && request.userInfo.username in ['system:serviceaccount:kube-system:generic-garbage-collector', 'system:serviceaccount:kube-system:namespace-controller', 'system:kube-controller-manager'])` | quote }}
  namespaceSelector:
    matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat (list "kube-system" "kube-node-lease" $.Release.Namespace) $.Values.excludedNamespaces | toJson }}
    - key: bollard.dev/ignore
      operator: NotIn
      values: ["true"]
{{- end }}
{{- end -}}
