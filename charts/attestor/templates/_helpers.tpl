{{- /*
Names and labels. Every object the chart creates is named after the release (attestor.fullname,
63 characters at most, like `helm create`'s), so that two releases, or a release not called
"attestor", do not collide. New templates: name objects `{{ include "attestor.fullname" . }}-<part>`
and label them with attestor.labels (plus app.kubernetes.io/component) and select with
attestor.selectorLabels.
*/ -}}
{{- define "attestor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "attestor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "attestor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The labels that select this release's pods (never change them: selectors are immutable). */ -}}
{{- define "attestor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attestor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* Helm owns what the chart renders: managed-by is Helm, never attestor (which marks what the operator creates). */ -}}
{{- define "attestor.labels" -}}
helm.sh/chart: {{ include "attestor.chart" . }}
{{ include "attestor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: attestor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- /* Object names the processes are told by flags (they must agree with the chart's objects). */ -}}
{{- define "attestor.leaseName" -}}{{ include "attestor.fullname" . }}-operator{{- end -}}
{{- define "attestor.operatorServiceAccount" -}}{{ include "attestor.fullname" . }}-operator{{- end -}}
{{- define "attestor.agentServiceAccount" -}}{{ include "attestor.fullname" . }}-agent{{- end -}}
{{- define "attestor.coordinatorService" -}}{{ include "attestor.fullname" . }}-coordinator{{- end -}}
{{- define "attestor.webhookService" -}}{{ include "attestor.fullname" . }}-webhook{{- end -}}
{{- define "attestor.caConfigMap" -}}{{ include "attestor.fullname" . }}-ca{{- end -}}
{{- define "attestor.servingSecret" -}}{{ default (printf "%s-serving-cert" (include "attestor.fullname" .)) .Values.tls.secretName }}{{- end -}}
{{- define "attestor.coordinatorUrl" -}}https://{{ include "attestor.coordinatorService" . }}.{{ .Release.Namespace }}.svc:8443{{- end -}}

{{- /* The DNS names the serving certificate must carry: the Coordinator's and the webhook's Services. */ -}}
{{- define "attestor.servingDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $domain := .Values.workload.clusterDomain -}}
{{- range $svc := list (include "attestor.coordinatorService" .) (include "attestor.webhookService" .) }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ $domain }}
{{- end }}
{{- with .Values.coordinator.externalHostnames }}
{{- range . }}
- {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "attestor.image" -}}
{{- $repository := required "image.repository is required: .ci/run builds no image; build and push the Dockerfile's image (charts/attestor/README.md, \"The image\") and set image.repository and image.digest (or image.tag)" .Values.image.repository -}}
{{- if .Values.image.digest -}}{{ $repository }}@{{ .Values.image.digest }}{{- else -}}{{ $repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{- /* attestor init's image in pod-CVM AI worker pods: pinned by digest (the webhook admits nothing else). Empty without one. */ -}}
{{- define "attestor.initImage" -}}
{{- if .Values.workload.initImage -}}{{ .Values.workload.initImage }}{{- else if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- end -}}
{{- end -}}

{{- /*
The CA that signed the serving certificate, as a volume source with the key ca.crt: the chart's
ConfigMap (certificates.mode=manual, from tls.caBundle) or the serving Secret's ca.crt
(certificates.mode=cert-manager, which writes it there).
*/ -}}
{{- define "attestor.caSource" -}}
{{- if eq .Values.certificates.mode "cert-manager" -}}
secret: { name: {{ include "attestor.servingSecret" . }}, items: [{ key: ca.crt, path: ca.crt }] }
{{- else -}}
configMap: { name: {{ include "attestor.caConfigMap" . }}, items: [{ key: ca.crt, path: ca.crt }] }
{{- end -}}
{{- end -}}

{{- /* The webhooks' caBundle: tls.caBundle in manual mode; cert-manager's CA injector fills it otherwise. */ -}}
{{- define "attestor.webhookCaBundle" -}}
{{- if eq .Values.certificates.mode "manual" -}}
{{- required "tls.caBundle (base64 PEM of the CA that signed the serving certificate) is required with certificates.mode=manual" .Values.tls.caBundle -}}
{{- end -}}
{{- end -}}

{{- /* Annotations of both webhook configurations (cert-manager's CA injection). */ -}}
{{- define "attestor.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "cert-manager" -}}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "attestor.fullname" . }}-serving-cert
{{- end -}}
{{- end -}}

