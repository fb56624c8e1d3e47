{{- define "bollard.name" -}}bollard{{- end -}}

{{- define "bollard.webhook.fullname" -}}{{ .Release.Name }}-webhook{{- end -}}

{{- define "bollard.labels" -}}
app.kubernetes.io/name: bollard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "bollard.webhook.selector" -}}
app.kubernetes.io/name: bollard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "bollard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* signedImages → the webhook's and the daemon's flags (one setting for both). */}}
{{- define "bollard.signedImages.flags" -}}
{{- $m := .Values.signedImages -}}
{{- if eq $m "enforce" -}}
- --verify-images=true
- --no-match-policy=deny
{{- else if eq $m "warn" -}}
- --verify-images=true
- --no-match-policy=warn
{{- else if eq $m "off" -}}
- --verify-images=false
{{- else -}}
{{- fail (printf "signedImages: %q: want enforce, warn or off" $m) -}}
{{- end -}}
{{- end -}}

{{/* workloadKinds → the --workload-kinds flag of the webhook and the daemon. */}}
{{- define "bollard.workloadKinds.flag" -}}
{{- $kinds := list -}}
{{- range .Values.workloadKinds -}}
{{- $kinds = append $kinds (printf "%s/%s/%s/%s=%s" .group .version .resource .kind .templatePath) -}}
{{- end -}}
- --workload-kinds={{ join "," $kinds }}
{{- end -}}

{{- define "bollard.daemon.fullname" -}}{{ .Release.Name }}-daemon{{- end -}}

{{- define "bollard.daemon.selector" -}}
app.kubernetes.io/name: bollard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: daemon
{{- end -}}

{{- define "bollard.release.clusterRole" -}}{{ .Release.Name }}-release{{- end -}}

{{/* scheduling: priorityClassName, nodeSelector, tolerations and affinity of a component
(values), spread across nodes by default (anti-affinity on its selector). */}}
{{- define "bollard.scheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if .values.affinity }}
  {{- toYaml .values.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- .selector | nindent 12 }}
{{- end }}
{{- end -}}

{{/*
The webhook's CA and serving certificate in certs.mode helm, as JSON (base64 values: ca, crt,
key, previous — the CA before a rotation —, and bundle — what the API server trusts). Generated at
install, kept across upgrades (read back with lookup); certs.rotate=true makes new ones and keeps
the old CA in the bundle beside the new one, so webhook pods still serving the old certificate
are trusted while they roll onto the new one; the next upgrade drops the old CA. Computed once
per render (kept in .Values): the Secret, the webhook configuration and the pods' checksum
annotation see the same certificate.
*/}}
{{- define "bollard.webhook.tls" -}}
{{- if not (hasKey .Values "__webhookTLS") }}
{{- $name := include "bollard.webhook.fullname" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $name) }}
{{- $tls := dict }}
{{- if and $existing (not .Values.certs.rotate) }}
{{- $tls = dict "ca" (index $existing.data "ca.crt") "crt" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key") "previous" "" }}
{{- $_ := set $tls "bundle" $tls.ca }}
{{- else }}
{{- $dns := list (printf "%s.%s.svc" $name .Release.Namespace) (printf "%s.%s.svc.cluster.local" $name .Release.Namespace) }}
{{- /* ECDSA P-256, not sprig's default RSA 2048: the API server opens connections to the webhook
     and an ECDSA handshake costs the webhook a tenth of an RSA one. */}}
{{- $ca := genCAWithKey "bollard-webhook-ca" (int .Values.certs.validityDays) (genPrivateKey "ecdsa") }}
{{- $cert := genSignedCertWithKey $name nil $dns (int .Values.certs.validityDays) $ca (genPrivateKey "ecdsa") }}
{{- $tls = dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "previous" "" }}
{{- $_ := set $tls "bundle" $tls.ca }}
{{- if $existing }}
{{- $old := index $existing.data "ca.crt" }}
{{- $_ := set $tls "previous" $old }}
{{- $_ := set $tls "bundle" (printf "%s%s" ($ca.Cert | trim | printf "%s\n") ($old | b64dec) | b64enc) }}
{{- end }}
{{- end }}
{{- $_ := set .Values "__webhookTLS" $tls }}
{{- end }}
{{- .Values.__webhookTLS | toJson }}
{{- end }}

{{/*
OpenTelemetry traces of the webhook and the daemon (off without tracing.endpoint).
*/}}
{{- define "bollard.tracing.flags" -}}
{{- with .Values.tracing.endpoint }}
- --otlp-endpoint={{ . }}
{{- if $.Values.tracing.insecure }}
- --otlp-insecure
{{- end }}
{{- end }}
{{- end }}

{{/*
Notifications (off without notifications.secretName): the Secret holds targets.yaml and the files
it names (secretFile: /etc/bollard/notifications/KEY), mounted in the webhook (break-glass) and
the daemon (refused, rolled back, rollback failed, drift, succeeded).
*/}}
{{- define "bollard.notifications.flag" -}}
{{- if .Values.notifications.secretName }}
- --notifications=/etc/bollard/notifications/targets.yaml
{{- end }}
{{- end }}
{{- define "bollard.notifications.mount" -}}
{{- if .Values.notifications.secretName }}
- {name: notifications, mountPath: /etc/bollard/notifications, readOnly: true}
{{- end }}
{{- end }}
{{- define "bollard.notifications.volume" -}}
{{- with .Values.notifications.secretName }}
- name: notifications
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}
