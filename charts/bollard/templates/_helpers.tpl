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
