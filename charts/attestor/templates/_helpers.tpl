{{- define "attestor.image" -}}
{{- if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- else -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "attestor.labels" -}}
app.kubernetes.io/name: attestor
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- /* attestor init's image in pod-CVM AI worker pods: pinned by digest (the webhook admits nothing else). Empty without one. */ -}}
{{- define "attestor.initImage" -}}
{{- if .Values.workload.initImage -}}{{ .Values.workload.initImage }}{{- else if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- end -}}
{{- end -}}
